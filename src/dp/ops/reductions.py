"""Reductions: operations that combine the elements along some axes (sum is in node.py).

Linear reductions (mean, cumsum) apply themselves to the tangent. The others (max, min, prod,
logsumexp, the singular-value norms) are written with one factory, `_reduction`: the operation's
partial derivatives d out / d x_i, one per element of x, give both rules at once. The VJP spreads
the gradient back over the reduced axes (`_keep_dims` puts them back as size 1 so that it
broadcasts) and multiplies it by the partials; the tangent sums dx times the partials over them.
var, std, norm, trace and average are composites of those.
"""

from __future__ import annotations

import builtins
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from dp.node import (
    NOT_DIFFERENTIABLE,
    Primitive,
    _keep_dims,
    _one_where_zero,
    _plain_options,
    _stacked,
    implements,
    matmul,
    method,
    plain,
    primitive,
    reduction_axis,
    reshape_,
    sum_,
)
from dp.ops.elementwise import abs as absolute
from dp.ops.shape import concatenate, diagonal, expand_dims, transpose

# The names as a paragraph (ruff format would put each on its own line).
# fmt: off
__all__ = ["amax", "amin", "argmax", "argmin", "argsort", "average", "cumprod", "cumsum", "log_softmax", "logsumexp",
           "max", "mean", "min", "norm", "prod", "softmax", "std", "trace", "var"]
# fmt: on

NOT_DIFFERENTIABLE.update({np.argmax, np.argmin, np.argsort})


# --------------------------------------------------------------------------------------------
# Arguments


def _ufunc_axis(op: str, x: Any, axis: Any) -> int | tuple[int, ...] | None:
    """`axis` as NumPy's ufunc reductions (sum, prod, max, min) take it: as `reduction_axis`, and
    also 0 or -1 on a 0-d array (which mean and var refuse)."""
    if isinstance(axis, numbers.Integral) and axis in (0, -1) and np.ndim(plain(x)) == 0:
        return None
    return reduction_axis(op, x, axis)


def _reduced_count(shape: tuple[int, ...], axis: Any) -> int:
    """How many elements each result of a reduction over `axis` combines."""
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if np.ndim(axis) == 0 else axis
    return math.prod(shape[a] for a in axes)


def _shape(x: Any) -> tuple[int, ...]:
    return np.shape(plain(x))


# --------------------------------------------------------------------------------------------
# mean: linear


def _mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=axis, keepdims=keepdims)


#: Mean over `axis` (all axes if None).   d/dx = 1/n for each of the n elements averaged.
_mean_primitive = primitive(
    "mean",
    _mean,
    tangent="linear",
    vjp=lambda g, out, x, axis, keepdims: np.broadcast_to(
        _keep_dims(g, x.shape, axis, keepdims) / _reduced_count(x.shape, axis), x.shape
    ),
)


@implements(np.mean)
@method("mean")
def mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **options: Any) -> Any:
    """Mean over `axis` (all axes if None)."""
    a = _stacked(a)
    _plain_options("mean", dtype, out, options)
    return _mean_primitive(a, axis=reduction_axis("mean", a, axis), keepdims=bool(keepdims))


# --------------------------------------------------------------------------------------------
# Reductions given by their partial derivatives: max, min, prod, logsumexp


def _reduction(name: str, forward: Callable[..., Any], partials: Callable[..., Any], doc: str) -> Primitive:
    """A reduction over `axis` whose Jacobian is `partials(out, x, axis, keepdims, **params)`:
    d out / d x_i, in x's shape. VJP: g (spread back over the reduced axes) times the partials;
    tangent: the sum of dx times the partials over the reduced axes."""

    def vjp(g, out, x, axis, keepdims, **params):
        return _keep_dims(g, _shape(x), axis, keepdims) * partials(out, x, axis=axis, keepdims=keepdims, **params)

    def tangent(dx, out, x, axis, keepdims, **params):
        return sum_(dx * partials(out, x, axis=axis, keepdims=keepdims, **params), axis=axis, keepdims=keepdims)

    return primitive(name, forward, vjp=vjp, tangent=tangent, doc=doc)


def _share_of_extremes(out: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """1/k at each of the k elements equal to the extreme, 0 elsewhere (ties share, as torch.amax).
    A constant: the derivative of max is piecewise constant."""
    values = plain(x)
    is_extreme = values == _keep_dims(plain(out), np.shape(values), axis, keepdims)
    return (is_extreme / is_extreme.sum(axis=axis, keepdims=True)).astype(values.dtype)


#: Maximum over `axis`.   d/dx = 1 at the maximum; ties share the gradient equally.
_max_primitive = _reduction(
    "max",
    lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
    _share_of_extremes,
    "Maximum over `axis`; ties share the gradient.",
)
#: Minimum over `axis`.   d/dx = 1 at the minimum; ties share the gradient equally.
_min_primitive = _reduction(
    "min",
    lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
    _share_of_extremes,
    "Minimum over `axis`; ties share the gradient.",
)


@implements(np.max)
@method("max")
def max(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **options: Any) -> Any:
    """Maximum over `axis` (all axes if None); tied elements share the gradient equally."""
    a = _stacked(a)
    _plain_options("max", None, out, options)
    return _max_primitive(a, axis=_ufunc_axis("max", a, axis), keepdims=bool(keepdims))


@implements(np.min)
@method("min")
def min(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **options: Any) -> Any:
    """Minimum over `axis` (all axes if None); tied elements share the gradient equally."""
    a = _stacked(a)
    _plain_options("min", None, out, options)
    return _min_primitive(a, axis=_ufunc_axis("min", a, axis), keepdims=bool(keepdims))


amax = implements(np.amax)(max)
amin = implements(np.amin)(min)


def _exclusive_cumprod(lanes: Any) -> Any:
    """For each element along the last axis, the product of the elements before it."""
    ones = np.ones(_shape(lanes)[:-1] + (1,), plain(lanes).dtype)
    return concatenate([ones, _cumprod(lanes[..., :-1], axis=np.ndim(plain(lanes)) - 1)], axis=-1)


def _product_of_others(out: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """d prod / d x_i: the product of the other reduced elements, out / x_i where x has no zeros."""
    shape = _shape(x)
    if not np.any(plain(x) == 0):
        return _keep_dims(out, shape, axis, keepdims) / x
    # out / x would be 0/0: multiply the products before and after each element instead (as
    # torch.prod; exact, and differentiable again), with the reduced axes as one last axis.
    reduced = tuple(range(len(shape))) if axis is None else normalize_axis_tuple(axis, len(shape))
    order = tuple(a for a in range(len(shape)) if a not in reduced) + reduced
    moved = x if order == tuple(range(len(shape))) else transpose(x, order)
    lanes = reshape_(
        moved,
        shape=tuple(shape[a] for a in order[: len(shape) - len(reduced)]) + (math.prod(shape[a] for a in reduced),),
    )
    others = reshape_(
        _exclusive_cumprod(lanes) * _exclusive_cumprod(lanes[..., ::-1])[..., ::-1],
        shape=tuple(shape[a] for a in order),
    )
    return others if moved is x else transpose(others, tuple(np.argsort(order)))


#: Product over `axis`.   d/dx_i = the product of the other elements (also where some are 0).
_prod_primitive = _reduction(
    "prod",
    lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
    _product_of_others,
    "Product over `axis`.",
)


@implements(np.prod)
@method("prod")
def prod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **options: Any) -> Any:
    """Product over `axis` (all axes if None); exact gradients where elements are 0, as torch.prod."""
    a = _stacked(a)
    _plain_options("prod", dtype, out, options)
    return _prod_primitive(a, axis=_ufunc_axis("prod", a, axis), keepdims=bool(keepdims))


def _logsumexp(x, axis, keepdims):
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)  # all -inf (or an inf): shifting by it would give nan
    total = np.sum(np.exp(x - top), axis=axis, keepdims=keepdims)
    with np.errstate(divide="ignore"):  # log(0) = -inf is the answer where every x is -inf
        return np.log(total) + np.reshape(top, np.shape(total))


#: log(sum(exp(x))) over `axis`, shifted by the maximum so that it never overflows.
#: d/dx_i = exp(x_i - out), the softmax.
_logsumexp_primitive = _reduction(
    "logsumexp",
    _logsumexp,
    lambda out, x, axis, keepdims: np.exp(x - _keep_dims(out, _shape(x), axis, keepdims)),
    "log(sum(exp(x))) over `axis`, finite for any x.",
)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) over `axis` (all axes if None), exact and finite at any x (torch.logsumexp)."""
    x = _stacked(x)
    return _logsumexp_primitive(x, axis=_ufunc_axis("logsumexp", x, axis), keepdims=bool(keepdims))


# --------------------------------------------------------------------------------------------
# var and std: composites of mean and sum


#: x^(1/degree), with derivative out / (degree x), taken as 0 where x = 0 (where it is infinite).
#: A primitive rather than sqrt or power because at x = 0 the chain rule would give inf * 0 = nan
#: where PyTorch's std and norms give 0: their gradient at zero spread or zero norm.
_root = primitive(
    "root",
    lambda x, degree: np.sqrt(x) if degree == 2 else np.power(x, np.reciprocal(degree, dtype=np.result_type(x))),
    tangent="elementwise",
    vjp=lambda g, out, x, degree: g * out / (degree * _one_where_zero(x, x)),
)


def _variance(
    name: str,
    a: Any,
    axis: Any,
    dtype: Any,
    out: Any,
    ddof: float,
    keepdims: bool,
    correction: float | None,
    options: dict[str, Any],
) -> Any:
    """sum((x - mean)^2) / (n - ddof) over `axis`, as NumPy computes it (so its values, to the bit)."""
    a = _stacked(a)
    _plain_options(name, dtype, out, options)
    if correction is not None:  # the Array API's name for ddof
        if ddof != 0:
            raise ValueError(f"{name}: ddof and correction are the same option; give one of them")
        ddof = correction
    axis = reduction_axis(name, a, axis)
    deviation = a - _mean_primitive(a, axis=axis, keepdims=True)
    count = builtins.max(_reduced_count(_shape(a), axis) - ddof, 0)  # 0: inf or nan, with NumPy's warning
    return sum_(deviation * deviation, axis=axis, keepdims=bool(keepdims)) / count


@implements(np.var)
@method("var")
def var(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    ddof: float = 0,
    keepdims: bool = False,
    *,
    correction: float | None = None,
    **options: Any,
) -> Any:
    """Variance over `axis` (all axes if None): the mean squared deviation, divided by n - ddof."""
    return _variance("var", a, axis, dtype, out, ddof, keepdims, correction, options)


@implements(np.std)
@method("std")
def std(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    ddof: float = 0,
    keepdims: bool = False,
    *,
    correction: float | None = None,
    **options: Any,
) -> Any:
    """Standard deviation over `axis`: sqrt(var); its gradient is 0 where var is 0, as torch.std."""
    return _root(_variance("std", a, axis, dtype, out, ddof, keepdims, correction, options), degree=2)


# --------------------------------------------------------------------------------------------
# Cumulative sums and products, along one axis


def _reversed(x: Any, axis: int) -> Any:
    return x[(slice(None),) * axis + (slice(None, None, -1),)]


def _reverse_cumsum(g: Any, axis: int) -> Any:
    """sum_{j >= i} g_j along `axis`."""
    return _reversed(_cumsum(_reversed(g, axis), axis=axis), axis)


#: Running sums along `axis`.   d out_j / d x_i = 1 for i <= j: the gradient is g summed from the end.
_cumsum = primitive(
    "cumsum",
    lambda x, axis: np.cumsum(x, axis=axis),
    tangent="linear",
    vjp=lambda g, out, x, axis: _reverse_cumsum(g, axis),
)


def _omitted_products(x: Any, axis: int) -> Any:
    """d out_j / d x_i of cumprod = prod_{k <= j, k != i} x_k for j >= i, else 0: i along `axis`,
    j along axis + 1. O(n^2) products per lane, used only where x has zeros, since then out_j / x_i
    is 0/0 (PyTorch's double-backward formula)."""
    n, ndim = _shape(x)[axis], np.ndim(plain(x))
    pair = (1,) * axis + (n, n) + (1,) * (ndim - axis - 1)
    x_i_omitted = np.where(np.eye(n, dtype=bool).reshape(pair), 1, expand_dims(x, axis))
    return _cumprod(x_i_omitted, axis=axis + 1) * np.triu(np.ones((n, n), plain(x).dtype)).reshape(pair)


def _vjp_cumprod(g, out, x, axis):
    if not np.any(plain(x) == 0):
        return _reverse_cumsum(g * out, axis) / x
    return sum_(_omitted_products(x, axis) * expand_dims(g, axis), axis=axis + 1, keepdims=False)


def _tangent_cumprod(dx, out, x, axis):
    if not np.any(plain(x) == 0):
        return out * _cumsum(dx / x, axis=axis)
    return sum_(_omitted_products(x, axis) * expand_dims(dx, axis + 1), axis=axis, keepdims=False)


#: Running products along `axis`.   d out_j / d x_i = out_j / x_i for i <= j (products of the
#: others where x has zeros).
_cumprod = primitive("cumprod", lambda x, axis: np.cumprod(x, axis=axis), vjp=_vjp_cumprod, tangent=_tangent_cumprod)


def _cumulative(name: str, operation: Primitive, a: Any, axis: Any, dtype: Any, out: Any) -> Any:
    """Along `axis`, or along the flattened array if None, as NumPy (a 0-d array counts as 1-d)."""
    a = _stacked(a)
    _plain_options(name, dtype, out, {})
    shape = _shape(a)
    try:
        index = normalize_axis_index(0 if axis is None else axis, 1 if axis is None else builtins.max(len(shape), 1))
    except (TypeError, ValueError) as error:
        raise type(error)(f"{name}: axis {axis!r} does not fit shape {shape}: {error}") from None
    return operation(reshape_(a, shape=(-1,)) if axis is None or not shape else a, axis=index)


@implements(np.cumsum)
@method("cumsum")
def cumsum(a: Any, axis: int | None = None, dtype: Any = None, out: Any = None) -> Any:
    """Running sums along `axis` (along the flattened array if None)."""
    return _cumulative("cumsum", _cumsum, a, axis, dtype, out)


@implements(np.cumprod)
@method("cumprod")
def cumprod(a: Any, axis: int | None = None, dtype: Any = None, out: Any = None) -> Any:
    """Running products along `axis` (along the flattened array if None); exact gradients with zeros."""
    return _cumulative("cumprod", _cumprod, a, axis, dtype, out)


# --------------------------------------------------------------------------------------------
# Norms


def _singular_values(x, axis, which):
    return _SINGULAR[which](np.linalg.svd(np.moveaxis(x, axis, (-2, -1)), compute_uv=False), axis=-1)


def _singular_directions_forward(x, axis, which):
    u, s, vh = np.linalg.svd(np.moveaxis(x, axis, (-2, -1)), full_matrices=False)
    weights = np.ones_like(s) if which == "sum" else _share_of_extremes(_SINGULAR[which](s, axis=-1), s, -1, False)
    return np.moveaxis((u * weights[..., None, :]) @ vh, (-2, -1), axis)


def _first_order_only(*args: Any, **params: Any) -> Any:
    raise NotImplementedError(
        "norm: the matrix norms made of singular values (ord=2, -2, 'nuc') have first "
        "derivatives only in dp; their second derivatives need the SVD's derivative"
    )


_SINGULAR = {"max": np.amax, "min": np.amin, "sum": np.sum}
#: d sigma / dX for the largest or smallest singular value (u v^T; tied values share), or for
#: their sum (U V^T). Differentiating it again needs the SVD's derivative, which dp does not have.
_singular_directions = primitive(
    "singular_directions", _singular_directions_forward, vjp=_first_order_only, tangent=_first_order_only
)
#: The largest or smallest singular value, or their sum, of the matrices on the axes `axis`.
_singular_norm = _reduction(
    "singular_value_norm",
    lambda x, axis, keepdims, which: _singular_values(x, axis, which),
    lambda out, x, axis, keepdims, which: _singular_directions(x, axis=axis, which=which),
    "Matrix 2-norm, its smallest counterpart, or the nuclear norm.",
)
#: How many elements are not 0 (the vector "0-norm"): piecewise constant.
_count_nonzero = primitive(
    "count_nonzero",
    lambda x, axis, keepdims: np.sum((x != 0).astype(np.result_type(x)), axis=axis, keepdims=keepdims),
    differentiable=False,
)


def _euclidean(x: Any, axis: Any, keepdims: bool) -> Any:
    return _root(sum_(x * x, axis=axis, keepdims=keepdims), degree=2)


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:
    if ord is None or ord == 2:
        return _euclidean(x, axis, keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors (shape {_shape(x)}, axis {axis})")
    if ord == np.inf:
        return _max_primitive(absolute(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return _min_primitive(absolute(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return _count_nonzero(x, axis=axis, keepdims=keepdims)
    if ord == 1:
        return sum_(absolute(x), axis=axis, keepdims=keepdims)
    return _root(sum_(absolute(x) ** ord, axis=axis, keepdims=keepdims), degree=ord)


def _matrix_norm(x: Any, ord: Any, rows: int, columns: int) -> Any:
    if ord in (2, -2, "nuc"):
        return _singular_norm(x, axis=(rows, columns), keepdims=False, which={2: "max", -2: "min"}.get(ord, "sum"))
    if ord in (None, "fro", "f"):
        return _euclidean(x, (rows, columns), False)
    if ord in (1, -1, np.inf, -np.inf):
        # 1: the largest column sum of |x|; inf: the largest row sum (-1, -inf: the smallest).
        summed, other = (rows, columns) if ord in (1, -1) else (columns, rows)
        sums = sum_(absolute(x), axis=summed, keepdims=False)
        extreme = _max_primitive if ord > 0 else _min_primitive
        return extreme(sums, axis=other - (other > summed), keepdims=False)
    raise ValueError(f"norm: invalid norm order {ord!r} for matrices (shape {_shape(x)}, axis {(rows, columns)})")


@implements(np.linalg.norm)
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """np.linalg.norm: vector norms over one axis, matrix norms over two (ord 2, -2 and 'nuc' from
    singular values, first derivatives only), and the 2-norm of everything if ord and axis are None.
    Gradients at 0 follow PyTorch (0 for the 2-norm)."""
    x = _stacked(x)
    shape = _shape(x)
    ndim = len(shape)
    if axis is None and (ord is None or (ord in ("f", "fro") and ndim == 2) or (ord == 2 and ndim == 1)):
        flat = reshape_(x, shape=(-1,))
        result = _root(matmul(flat, flat), degree=2)  # NumPy's x.dot(x), to the last bit
        return reshape_(result, shape=(1,) * ndim) if keepdims else result
    try:
        axes = normalize_axis_tuple(tuple(range(ndim)) if axis is None else axis, ndim)
    except (TypeError, ValueError) as error:
        raise type(error)(f"norm: axis {axis!r} does not fit shape {shape}: {error}") from None
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], bool(keepdims))
    if len(axes) != 2:
        raise ValueError(f"norm: shape {shape} with axis {axis!r}: a norm is over one axis (vectors) or two (matrices)")
    result = _matrix_norm(x, ord, *axes)
    if keepdims:
        result = reshape_(result, shape=tuple(1 if a in axes else size for a, size in enumerate(shape)))
    return result


# --------------------------------------------------------------------------------------------
# trace, average


@implements(np.trace)
@method("trace")
def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None, out: Any = None) -> Any:
    """The sum of the diagonal `offset` of the axes axis1 and axis2."""
    a = _stacked(a)
    _plain_options("trace", dtype, out, {})
    try:
        return sum_(diagonal(a, offset, axis1, axis2), axis=-1, keepdims=False)
    except (TypeError, ValueError) as error:
        raise type(error)(f"trace: {error}") from None


@implements(np.average)
def average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False, *, keepdims: bool = False) -> Any:
    """The mean over `axis`, weighted by constant `weights` (of a's shape, or of its shape along axis)."""
    a = _stacked(a)
    shape = _shape(a)
    axis = reduction_axis("average", a, axis)
    if weights is None:
        result = mean(a, axis, keepdims=keepdims)
        total = np.result_type(plain(result)).type(math.prod(shape) / builtins.max(np.size(plain(result)), 1))
    else:
        weights = np.asarray(plain(weights))
        weights = weights.astype(np.result_type(plain(a), weights), copy=False)
        if weights.shape != shape:
            axes = None if axis is None else normalize_axis_tuple(axis, len(shape))
            if axes is None or weights.shape != tuple(shape[a] for a in axes):
                raise ValueError(
                    f"average: weights of shape {weights.shape} fit neither shape {shape} nor its "
                    f"axes {axis} (give axis when the shapes differ)"
                )
            weights = weights.transpose(np.argsort(axes)).reshape(
                tuple(size if a in axes else 1 for a, size in enumerate(shape))
            )
        total = weights.sum(axis=axis, keepdims=bool(keepdims))
        if np.any(total == 0):
            raise ZeroDivisionError(f"average: the weights sum to zero (shape {shape}, axis {axis})")
        result = sum_(a * weights, axis=axis, keepdims=bool(keepdims)) / total
    if not returned:
        return result
    return result, np.broadcast_to(total, _shape(result)).copy()


# --------------------------------------------------------------------------------------------
# Positions (plain integer arrays: not differentiable)


def _on_values(name: str) -> Callable[..., Any]:
    function = getattr(np, name)

    def on_values(a: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(plain(a), *args, **kwargs)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{name}: shape {_shape(a)}: {error}") from None

    on_values.__name__ = name
    on_values.__doc__ = f"NumPy's {name} of the values: a plain integer array (no gradient flows through positions)."
    return on_values


argmax = method("argmax")(_on_values("argmax"))
argmin = method("argmin")(_on_values("argmin"))
argsort = method("argsort")(_on_values("argsort"))


# --------------------------------------------------------------------------------------------
# softmax and log_softmax along one axis


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
_softmax_primitive = primitive(
    "softmax",
    _softmax,
    vjp=lambda g, out, x, axis: out * (g - (g * out).sum(axis=axis, keepdims=True)),
    tangent=lambda dx, out, x, axis: out * (dx - (dx * out).sum(axis=axis, keepdims=True)),
)
#: x - log(sum(exp(x))) along `axis`, computed without overflow.
#: VJP: g - exp(out) sum(g); tangent: dx - sum(dx exp(out)).
_log_softmax_primitive = primitive(
    "log_softmax",
    _log_softmax,
    vjp=lambda g, out, x, axis: g - np.exp(out) * g.sum(axis=axis, keepdims=True),
    tangent=lambda dx, out, x, axis: dx - (dx * np.exp(out)).sum(axis=axis, keepdims=True),
)


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
