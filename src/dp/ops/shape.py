"""Shape operations: the same numbers moved around (transpose, broadcast, join, split, index).

All of them are linear, so their tangent is the operation applied to the tangent; their VJP
moves the gradient back where each number came from.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from dp.node import implements, method, plain, primitive

__all__ = ["broadcast_to", "concatenate", "stack", "swapaxes", "transpose"]

#: Permute the axes.   The gradient is permuted back.
_transpose = primitive("transpose", lambda x, axes: np.transpose(x, axes), tangent="linear",
                       vjp=lambda g, out, x, axes: g.transpose(tuple(np.argsort(axes))))


@method("transpose")
def transpose(x: Any, *axes: Any) -> Any:
    """Permute the axes (reverse them if none are given): x.transpose(1, 0) or x.transpose((1, 0))."""
    order = axes[0] if len(axes) == 1 and not isinstance(axes[0], numbers.Integral) else axes
    ndim = np.ndim(plain(x))
    order = tuple(range(ndim))[::-1] if order is None or len(order) == 0 else tuple(int(a) for a in order)
    if sorted(a % max(ndim, 1) for a in order) != list(range(ndim)) or len(order) != ndim:
        raise ValueError(f"transpose: axes {order} do not fit shape {np.shape(plain(x))}")
    return _transpose(x, axes=tuple(a % ndim for a in order))


method("T", as_property=True)(lambda x: transpose(x))
implements(np.transpose)(lambda x, axes=None: transpose(x, axes))


@method("swapaxes")
def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """Exchange two axes."""
    ndim = np.ndim(plain(x))
    if not all(-ndim <= axis < ndim for axis in (axis1, axis2)):
        raise ValueError(f"swapaxes: axes ({axis1}, {axis2}) do not fit shape {np.shape(plain(x))}")
    order = list(range(ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return _transpose(x, axes=tuple(order))


implements(np.swapaxes)(swapaxes)


def _unbroadcast_rule(g, out, x, shape):
    from dp.node import unbroadcast
    return unbroadcast(g, np.shape(x), "broadcast_to")


#: The value repeated to `shape` by broadcasting.   d/dx: sum over the repeated axes.
_broadcast_to = primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape), vjp=_unbroadcast_rule,
                          tangent="linear", error="do not broadcast")


@method("broadcast_to")
def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """The value repeated to `shape` by broadcasting."""
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(size) for size in shape)
    try:
        np.broadcast_shapes(np.shape(plain(x)), shape)
        np.broadcast_to(np.empty(np.shape(plain(x)), dtype=np.bool_), shape)
    except ValueError:
        raise ValueError(f"broadcast_to: shape {np.shape(plain(x))} does not broadcast to {shape}") from None
    return _broadcast_to(x, shape=shape)


implements(np.broadcast_to)(lambda x, shape, subok=False: broadcast_to(x, shape))


def _vjp_concatenate(g, out, *operands, axis, index):
    start = sum(np.shape(operand)[axis] for operand in operands[:index])
    stop = start + np.shape(operands[index])[axis]
    return g[(slice(None),) * axis + (slice(start, stop),)]


def _vjp_stack(g, out, *operands, axis, index):
    return g[(slice(None),) * axis + (index,)]


#: Join along an existing axis.   Each gradient is its own slice of g.
_concatenate = primitive("concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis), vjp=_vjp_concatenate,
                         tangent="linear", variadic=True)
#: Join along a new axis.   Each gradient is its own slice of g.
_stack = primitive("stack", lambda *xs, axis: np.stack(xs, axis=axis), vjp=_vjp_stack, tangent="linear",
                   variadic=True)


def _joined(op: str, join: Any, arrays: Sequence[Any], axis: int, new_axis: bool) -> Any:
    arrays = list(arrays)
    values = [plain(x) for x in arrays]
    try:
        out = join([np.empty(np.shape(value), dtype=np.bool_) for value in values], axis=axis)
    except (ValueError, np.exceptions.AxisError) as error:
        shapes = ", ".join(str(np.shape(value)) for value in values)
        raise ValueError(f"{op}: shapes {shapes} do not fit together along axis {axis}: {error}") from None
    return int(axis) % out.ndim


@implements(np.concatenate)
def concatenate(arrays: Sequence[Any], axis: int = 0, out: Any = None, **options: Any) -> Any:
    """Join along an existing axis."""
    if axis is None:
        arrays, axis = [np.ravel(x) if not hasattr(x, "ravel") else x.ravel() for x in arrays], 0
    axis = _joined("concatenate", np.concatenate, arrays, axis, False)
    return _concatenate(*arrays, axis=axis)


@implements(np.stack)
def stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, **options: Any) -> Any:
    """Join along a new axis."""
    axis = _joined("stack", np.stack, arrays, axis, True)
    return _stack(*arrays, axis=axis)
