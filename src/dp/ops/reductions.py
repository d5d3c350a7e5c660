"""Reductions: operations that combine the elements along some axes (sum is in node.py).

Each reduction's VJP spreads the gradient back over the reduced axes (`_keep_dims` puts them back
as size 1 so that it broadcasts); reductions that are linear (mean) apply themselves to the tangent.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from dp.node import reduction_axis, _keep_dims, _plain_options, _stacked, implements, method, plain, primitive

__all__ = ["log_softmax", "max", "mean", "softmax"]


def _reduced_count(shape: tuple[int, ...], axis: Any) -> int:
    """How many elements each result of a reduction over `axis` combines."""
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if np.ndim(axis) == 0 else axis
    return int(np.prod([shape[a] for a in axes]))


def _mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=axis, keepdims=keepdims)


#: Mean over `axis` (all axes if None).   d/dx = 1/n for each of the n elements averaged.
_mean_primitive = primitive("mean", _mean, tangent="linear",
                            vjp=lambda g, out, x, axis, keepdims: np.broadcast_to(
                                _keep_dims(g, x.shape, axis, keepdims) / _reduced_count(x.shape, axis), x.shape))


@method("mean")
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over `axis` (all axes if None)."""
    return _mean_primitive(x, axis=reduction_axis("mean", x, axis), keepdims=bool(keepdims))


def _share_of_extremes(x: Any, out: Any, axis: Any, keepdims: bool) -> Any:
    """1/k at each of the k elements equal to the extreme, 0 elsewhere (ties share, as torch.amax)."""
    values = plain(x)
    is_extreme = values == _keep_dims(plain(out), values.shape, axis, keepdims)
    return (is_extreme / is_extreme.sum(axis=axis, keepdims=True)).astype(values.dtype)


def _vjp_extreme(g, out, x, axis, keepdims):
    return np.broadcast_to(_keep_dims(g, x.shape, axis, keepdims), x.shape) * _share_of_extremes(x, out, axis, keepdims)


def _tangent_extreme(dx, out, x, axis, keepdims):
    return (dx * _share_of_extremes(x, out, axis, keepdims)).sum(axis=axis, keepdims=keepdims)


#: Maximum over `axis`.   d/dx = 1 at the maximum; ties share the gradient equally.
_max_primitive = primitive("max", lambda x, axis=None, keepdims=False: np.max(x, axis=axis, keepdims=keepdims),
                           vjp=_vjp_extreme, tangent=_tangent_extreme)


@method("max")
def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Maximum over `axis` (all axes if None)."""
    return _max_primitive(x, axis=reduction_axis("max", x, axis), keepdims=bool(keepdims))


@implements(np.mean)
def _numpy_mean(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **options: Any) -> Any:
    _plain_options("mean", dtype, out, options)
    return mean(_stacked(x), axis, keepdims)


@implements(np.max, np.amax)
def _numpy_max(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **options: Any) -> Any:
    _plain_options("max", None, out, options)
    return max(_stacked(x), axis, keepdims)


def _check_axis(name: str, x: Any, axis: int) -> None:
    ndim = np.ndim(plain(x))
    if not isinstance(axis, int | np.integer) or not -builtins.max(ndim, 1) <= axis < builtins.max(ndim, 1):
        raise ValueError(f"{name}: cannot reduce shape {np.shape(plain(x))} over axis {axis}")


def _softmax(x, axis):
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


#: exp(x) / sum(exp(x)) along `axis`, shifted by the maximum so it never overflows.
#: VJP: out * (g - sum(g * out)); tangent: the same with the tangent for g (the Jacobian is symmetric).
_softmax_primitive = primitive("softmax", _softmax,
                               vjp=lambda g, out, x, axis: out * (g - (g * out).sum(axis=axis, keepdims=True)),
                               tangent=lambda dx, out, x, axis: out * (dx - (dx * out).sum(axis=axis, keepdims=True)))
#: x - log(sum(exp(x))) along `axis`, computed without overflow.
#: VJP: g - exp(out) sum(g); tangent: dx - sum(dx exp(out)).
_log_softmax_primitive = primitive("log_softmax", _log_softmax,
                                   vjp=lambda g, out, x, axis: g - np.exp(out) * g.sum(axis=axis, keepdims=True),
                                   tangent=lambda dx, out, x, axis: dx - (dx * np.exp(out)).sum(axis=axis, keepdims=True))


@method("softmax")
def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along `axis`, exact and finite at any x."""
    _check_axis("softmax", x, axis)
    return _softmax_primitive(x, axis=int(axis))


@method("log_softmax")
def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - log(sum(exp(x))) along `axis`, computed without overflow."""
    _check_axis("log_softmax", x, axis)
    return _log_softmax_primitive(x, axis=int(axis))
