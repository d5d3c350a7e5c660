"""The table of NumPy-API cases that judges dp's operation table (tests/test_numpy_api.py runs it).

Each `Case` is one row: a function written with ordinary NumPy calls, operators or ndarray methods
(`lambda x, y: np.hypot(x, y)`, `lambda x, axis, ddof: x.var(axis=axis, ddof=ddof)`), the same
function in PyTorch (the gradient oracle, on float64 tensors), a hypothesis strategy that draws the
operands' shapes together with the row's parameters (axis, keepdims, ddof, k, indices, ...), and
each operand's value domain: where the function is defined and smooth (away from kinks, ties and
singular matrices), so that finite differences are a fair witness too.

A row also names the public NumPy spellings it exercises (`api`, checked against the list of
everything dp must support) and the primitives of `dp.node.PRIMITIVES` it reaches (`primitives`,
checked against the engine's table), so that no operation can silently go untested.

The functions run unchanged on NumPy arrays (the reference), on `dp.Node` (reverse mode) and on
`dp.Dual` (forward mode). Rows that need dp's own functions (`dp.ops.softplus`, ...) give a NumPy
`reference` for the plain-array value; they reach `dp.ops` only when called, so this module imports
whatever state the engine is in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import dp
from _oracle_ad import nonzero, positive, real

Shape = tuple[int, ...]
Domain = Callable[[np.random.Generator, Shape], np.ndarray]
Example = tuple[tuple[Shape, ...], dict[str, Any]]


@dataclass(frozen=True, repr=False)
class Case:
    """One row of the table. See the module docstring."""

    name: str
    #: the function under test: f(*operands, **params), written with NumPy
    f: Callable[..., Any]
    #: the same in PyTorch: torch(*tensors, **params); None where PyTorch has no equivalent
    torch: Callable[..., Any] | None
    #: draws (one shape per operand, params)
    examples: st.SearchStrategy[Example]
    #: each operand's values: domain(rng, shape) -> float64 array
    domains: tuple[Domain, ...]
    #: the NumPy spellings the row exercises: "np.log1p", "np.linalg.norm", "ndarray.var",
    #: "operator.mod", "dp.ops.softplus"
    api: tuple[str, ...]
    #: names of dp.node.PRIMITIVES the row reaches
    primitives: tuple[str, ...]
    #: f on plain arrays, where f itself needs dp (dp.ops rows); None: f is its own reference
    reference: Callable[..., Any] | None = None
    #: why the gradient is 0 by design (piecewise-constant functions). Such rows are checked for an
    #: exact zero gradient, and only they skip the second-order property (nothing to differentiate).
    zero_gradient: str = ""
    #: why dp stops at first derivatives for this row (a documented limitation: dp raises
    #: NotImplementedError for the second derivative, it never gives a wrong one)
    first_order_only: str = ""
    #: why central differences do not apply to this row ("" : they do)
    no_finite_differences: str = ""
    #: also checked with float32 inputs (values and gradients stay float32)
    float32: bool = False
    #: gradient tolerances against PyTorch (float64)
    rtol: float = 1e-9
    atol: float = 1e-10

    def __repr__(self) -> str:  # hypothesis prints the row of a failing example
        return f"Case({self.name!r})"

    @property
    def numpy(self) -> Callable[..., Any]:
        """The plain-array (NumPy) version of f."""
        return self.reference or self.f

    @property
    def arity(self) -> int:
        return len(self.domains)


# --------------------------------------------------------------------------------------------
# Value domains (real, positive, nonzero come from _oracle_ad)


def uniform(low: float, high: float) -> Domain:
    def domain(rng: np.random.Generator, shape: Shape) -> np.ndarray:
        return rng.uniform(low, high, shape)

    domain.__name__ = f"uniform({low}, {high})"
    return domain


def unit_nonzero(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Magnitudes near 1, either sign: products of many of them stay of order 1."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.6, 1.4, shape)


def well_conditioned(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Square matrices (or stacks of them), diagonally dominant with diagonal entries of either
    sign: invertible, condition number below about 5, determinants of both signs."""
    n = shape[-1]
    signs = rng.choice([-1.0, 1.0], shape[:-1])
    return rng.uniform(-0.5, 0.5, shape) + (n + 1.0) * signs[..., None] * np.eye(n)


small = uniform(-0.3, 0.3)


# --------------------------------------------------------------------------------------------
# Shape and parameter strategies

ANY = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)  # 0-d and size-1 axes included


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy[Shape]:
    return array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def one(shape: st.SearchStrategy[Shape] = ANY,
        params: Callable[[Shape], st.SearchStrategy[dict[str, Any]]] | None = None) -> st.SearchStrategy[Example]:
    """One operand of a drawn shape, with parameters drawn to fit that shape."""
    if params is None:
        return shape.map(lambda s: ((s,), {}))
    return shape.flatmap(lambda s: params(s).map(lambda p: ((s,), p)))


def broadcasting(count: int, max_dims: int = 3) -> st.SearchStrategy[Example]:
    """`count` mutually broadcastable shapes (0-d and size-1 axes included), no parameters."""
    return mutually_broadcastable_shapes(num_shapes=count, min_dims=0, max_dims=max_dims, min_side=1,
                                         max_side=4).map(lambda b: (tuple(b.input_shapes), {}))


def fixed(*examples: Example) -> st.SearchStrategy[Example]:
    """A row whose shapes must fit together in ways simpler listed than generated."""
    return st.sampled_from(examples)


def axis_int(ndim: int, extra: int = 0) -> st.SearchStrategy[int]:
    """One axis, positive or negative; `extra=1` for functions that insert an axis."""
    return st.integers(-(ndim + extra), ndim + extra - 1)


def axis_any(ndim: int) -> st.SearchStrategy[Any]:
    """None, one axis, or a tuple of distinct axes (each positive or negative)."""
    options = [st.none()]
    if ndim:
        options.append(axis_int(ndim))
        options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
            lambda axes: st.tuples(*[st.sampled_from([a, a - ndim]) for a in axes])))
    return st.one_of(*options)


def axis_or_none(ndim: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), axis_int(ndim)) if ndim else st.none()


def reduction(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"axis": axis_any(len(shape)), "keepdims": st.booleans()})


def seeded(make: Callable[[np.random.Generator], Any]) -> st.SearchStrategy[Any]:
    """A constant parameter (indices, a condition) built from a drawn seed."""
    return st.integers(0, 2**32 - 1).map(lambda seed: make(np.random.default_rng(seed)))


# --------------------------------------------------------------------------------------------
# PyTorch spellings of NumPy's conventions


def dims(axis: Any, t: torch.Tensor) -> tuple[int, ...]:
    """NumPy's axis (None, int or tuple) as PyTorch's dim tuple. Never pass dim=() for "no axes":
    for torch.sum and friends an empty dim means *all* axes, where NumPy's axis=() means none."""
    if axis is None:
        return tuple(range(t.ndim))
    return tuple(axis) if isinstance(axis, tuple) else (axis,)


def t_prod(t: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    """np.prod: torch.prod reduces one dim at a time."""
    axes = sorted({d % t.ndim for d in dims(axis, t)}) if t.ndim else []
    out = t
    for d in axes:
        out = out.prod(dim=d, keepdim=True)
    if not keepdims:
        out = out.reshape([side for d, side in enumerate(t.shape) if d not in axes])
    return out


def t_cum(function: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """np.cumsum / np.cumprod: axis None runs over the flattened array."""
    return lambda t, axis=None: function(t.reshape(-1), 0) if axis is None else function(t, axis)


def t_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """np.dot: a product with scalars; else a sum over a's last axis and b's second-to-last."""
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return torch.tensordot(a, b, dims=([-1], [-2 if b.ndim >= 2 else 0]))


def t_inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a * b if a.ndim == 0 or b.ndim == 0 else torch.tensordot(a, b, dims=([-1], [-1]))


def t_sort(t: torch.Tensor, axis: Any = -1) -> torch.Tensor:
    return torch.sort(t.reshape(-1) if axis is None else t, dim=0 if axis is None else axis, stable=True).values


def t_take(t: torch.Tensor, indices: Any, axis: Any = None) -> torch.Tensor:
    """np.take: negative indices count from the end; axis None takes from the flattened array."""
    source = t.reshape(-1) if axis is None else t
    dim = 0 if axis is None else axis
    side = source.shape[dim]
    if isinstance(indices, int):
        return source.select(dim, indices % side)
    return torch.index_select(source, dim, torch.as_tensor(np.asarray(indices) % side))


def t_pad(t: torch.Tensor, pad_width: Any, constant_values: float = 0.0) -> torch.Tensor:
    """np.pad (constant mode): F.pad lists (before, after) from the last axis backwards."""
    pairs = np.broadcast_to(np.asarray(pad_width), (t.ndim, 2))
    return F.pad(t, [int(side) for pair in pairs[::-1] for side in pair], value=constant_values)


def t_roll(t: torch.Tensor, shift: Any, axis: Any = None) -> torch.Tensor:
    """np.roll: one shift may go with several axes (torch.roll wants one shift per axis)."""
    if isinstance(axis, tuple) and isinstance(shift, int):
        shift = (shift,) * len(axis)
    return torch.roll(t, shift, dims=axis)


def t_repeat(t: torch.Tensor, repeats: Any, axis: Any = None) -> torch.Tensor:
    if not isinstance(repeats, int):
        repeats = torch.as_tensor(repeats)
    return torch.repeat_interleave(t, repeats, dim=axis)


def t_tile(t: torch.Tensor, reps: Any) -> torch.Tensor:
    return torch.tile(t, (reps,) if isinstance(reps, int) else tuple(reps))


def t_trace(t: torch.Tensor, offset: int = 0, axis1: int = 0, axis2: int = 1) -> torch.Tensor:
    return torch.diagonal(t, offset, axis1, axis2).sum(-1)


def t_concatenate(ts: Sequence[torch.Tensor], axis: Any = 0) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in ts]) if axis is None else torch.cat(list(ts), dim=axis)


def weighted(pieces: Sequence[Any]) -> Any:
    """Every piece of a split used, each with its own weight (a wrong piece order shows), as one
    number: written with methods, so it runs on arrays, Nodes, Duals and tensors alike."""
    return sum((index + 1) * (piece * piece).sum() for index, piece in enumerate(pieces))


# Reference formulas for dp.ops rows (plain NumPy; the row's f calls dp.ops)

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def np_gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * _erfc(-x / math.sqrt(2))).astype(x.dtype)


def np_logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    top = np.max(x, axis=axis, keepdims=True)
    out = top + np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def symmetric(a: Any) -> Any:
    """A symmetric matrix with well-separated eigenvalues (gaps of at least 1.6 for |a| <= 0.3,
    n <= 4): the perturbation (a + a^T) / 2 of diag(0, 4, 8, ...)."""
    n = a.shape[-1]
    return (a + np.swapaxes(a, -1, -2)) / 2 + np.diag(np.arange(n, dtype=a.dtype) * 4)


def t_symmetric(t: torch.Tensor) -> torch.Tensor:
    n = t.shape[-1]
    return (t + t.mT) / 2 + torch.diag(torch.arange(n, dtype=t.dtype) * 4)


def spd(a: Any) -> Any:
    """A A^T + n I: symmetric positive definite, eigenvalues at least n."""
    n = a.shape[-1]
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n, dtype=a.dtype)


def t_spd(t: torch.Tensor) -> torch.Tensor:
    n = t.shape[-1]
    return t @ t.mT + n * torch.eye(n, dtype=t.dtype)


# --------------------------------------------------------------------------------------------
# The rows

CASES: list[Case] = []


def case(name: str, f: Callable[..., Any], torch_f: Callable[..., Any] | None, examples: st.SearchStrategy[Example],
         *domains: Domain, api: Sequence[str], primitives: Sequence[str], **options: Any) -> Case:
    row = Case(name, f, torch_f, examples, tuple(domains), tuple(api), tuple(primitives), **options)
    CASES.append(row)
    return row


def unary(name: str, f: Callable[..., Any], torch_f: Callable[..., Any], domain: Domain = real, **options: Any) -> Case:
    """An element-wise function of one operand of any shape (0-d included)."""
    return case(name, f, torch_f, one(ANY), domain, **options)


def binary(name: str, f: Callable[..., Any], torch_f: Callable[..., Any], first: Domain = real,
           second: Domain = real, **options: Any) -> Case:
    """An element-wise function of two mutually broadcastable operands."""
    return case(name, f, torch_f, broadcasting(2), first, second, **options)


# Element-wise, one operand ------------------------------------------------------------------

unary("np.log1p", np.log1p, torch.log1p, uniform(-0.5, 3), api=["np.log1p"], primitives=["log1p"], float32=True)
unary("np.expm1", np.expm1, torch.expm1, api=["np.expm1"], primitives=["expm1"])
unary("np.square", np.square, torch.square, api=["np.square"], primitives=["square"])
unary("np.reciprocal", np.reciprocal, torch.reciprocal, nonzero, api=["np.reciprocal"], primitives=["reciprocal"])
unary("np.exp2", np.exp2, torch.exp2, api=["np.exp2"], primitives=["exp2"])
unary("np.log2", np.log2, torch.log2, positive, api=["np.log2"], primitives=["log2"])
unary("np.log10", np.log10, torch.log10, positive, api=["np.log10"], primitives=["log10"])
unary("np.tan", np.tan, torch.tan, uniform(-1.2, 1.2), api=["np.tan"], primitives=["tan"])
unary("np.sinh", np.sinh, torch.sinh, api=["np.sinh"], primitives=["sinh"])
unary("np.cosh", np.cosh, torch.cosh, api=["np.cosh"], primitives=["cosh"])
unary("np.arcsin", np.arcsin, torch.asin, uniform(-0.9, 0.9), api=["np.arcsin"], primitives=["arcsin"])
unary("np.arccos", np.arccos, torch.acos, uniform(-0.9, 0.9), api=["np.arccos"], primitives=["arccos"])
unary("np.arctan", np.arctan, torch.atan, api=["np.arctan"], primitives=["arctan"])
unary("np.arcsinh", np.arcsinh, torch.asinh, api=["np.arcsinh"], primitives=["arcsinh"])
unary("np.arccosh", np.arccosh, torch.acosh, uniform(1.1, 3), api=["np.arccosh"], primitives=["arccosh"])
unary("np.arctanh", np.arctanh, torch.atanh, uniform(-0.9, 0.9), api=["np.arctanh"], primitives=["arctanh"])
unary("np.exp", np.exp, torch.exp, api=["np.exp"], primitives=["exp"], float32=True)
unary("np.log", np.log, torch.log, uniform(0.1, 3), api=["np.log"], primitives=["log"])
unary("np.sin", np.sin, torch.sin, api=["np.sin"], primitives=["sin"])
unary("np.cos", np.cos, torch.cos, api=["np.cos"], primitives=["cos"])
unary("np.tanh", np.tanh, torch.tanh, api=["np.tanh"], primitives=["tanh"], float32=True)
unary("np.sqrt", np.sqrt, torch.sqrt, positive, api=["np.sqrt"], primitives=["sqrt"])
unary("np.abs", np.abs, torch.abs, nonzero, api=["np.abs"], primitives=["abs"])
unary("abs(x)", abs, torch.abs, nonzero, api=["builtins.abs"], primitives=["abs"])
unary("np.fabs", np.fabs, torch.abs, nonzero, api=["np.fabs"], primitives=["abs"])
unary("np.negative", np.negative, torch.neg, api=["np.negative"], primitives=["negative"])
unary("-x", lambda x: -x, torch.neg, api=["operator.neg"], primitives=["negative"])
unary("x ** 3", lambda x: x ** 3, lambda t: t ** 3, api=["operator.pow"], primitives=["power"])
unary("2 ** x", lambda x: 2 ** x, lambda t: 2 ** t, api=["operator.pow"], primitives=["power"])
unary("np.power(x, 2.5)", lambda x: np.power(x, 2.5), lambda t: t ** 2.5, positive, api=["np.power"],
      primitives=["power"])

_STEP = "piecewise constant: the derivative is 0 wherever it exists, as in PyTorch"
unary("np.sign", np.sign, torch.sign, nonzero, api=["np.sign"], primitives=["sign"], zero_gradient=_STEP)
unary("np.floor", np.floor, torch.floor, api=["np.floor"], primitives=["floor"], zero_gradient=_STEP)
unary("np.ceil", np.ceil, torch.ceil, api=["np.ceil"], primitives=["ceil"], zero_gradient=_STEP)
unary("np.round", np.round, torch.round, api=["np.round"], primitives=["round"], zero_gradient=_STEP)
unary("np.rint", np.rint, torch.round, api=["np.rint"], primitives=["rint"], zero_gradient=_STEP)
unary("np.trunc", np.trunc, torch.trunc, api=["np.trunc"], primitives=["trunc"], zero_gradient=_STEP)
unary("np.round decimals=1", lambda x: np.round(x, 1), lambda t: torch.round(t, decimals=1), api=["np.round"],
      primitives=["round"], zero_gradient=_STEP)
unary("x.round()", lambda x: x.round(), torch.round, api=["ndarray.round"], primitives=["round"],
      zero_gradient=_STEP)

# Clip: values on both sides of the bounds, never at them (see the kink tests for the bounds)
unary("np.clip", lambda x: np.clip(x, -1.0, 1.0), lambda t: torch.clamp(t, -1.0, 1.0), api=["np.clip"],
      primitives=["clip"], float32=True)
unary("np.clip, upper bound only", lambda x: np.clip(x, None, 0.5), lambda t: torch.clamp(t, max=0.5),
      api=["np.clip"], primitives=["clip"])
unary("x.clip(a, b)", lambda x: x.clip(-1, 1.5), lambda t: torch.clamp(t, -1, 1.5), api=["ndarray.clip"],
      primitives=["clip"])
case("np.clip, bounds are operands", np.clip,
     lambda t, low, high: torch.clamp(*torch.broadcast_tensors(t, low, high)),
     broadcasting(3), real, uniform(-1.5, -0.5), uniform(0.5, 1.5), api=["np.clip"], primitives=["clip"])

# Element-wise, two operands (broadcasting) ------------------------------------------------

binary("np.arctan2", np.arctan2, torch.atan2, real, nonzero, api=["np.arctan2"], primitives=["arctan2"],
       float32=True)
binary("np.hypot", np.hypot, torch.hypot, nonzero, nonzero, api=["np.hypot"], primitives=["hypot"])
binary("np.logaddexp", np.logaddexp, torch.logaddexp, api=["np.logaddexp"], primitives=["logaddexp"],
       float32=True)
binary("np.minimum", np.minimum, torch.minimum, api=["np.minimum"], primitives=["minimum"])
binary("np.maximum", np.maximum, torch.maximum, api=["np.maximum"], primitives=["maximum"], float32=True)
binary("np.fmax", np.fmax, torch.fmax, api=["np.fmax"], primitives=["fmax"])
binary("np.fmin", np.fmin, torch.fmin, api=["np.fmin"], primitives=["fmin"])
binary("np.add", np.add, torch.add, api=["np.add"], primitives=["add"])
binary("np.subtract", np.subtract, torch.sub, api=["np.subtract"], primitives=["subtract"])
binary("np.multiply", np.multiply, torch.mul, api=["np.multiply"], primitives=["multiply"])
binary("np.divide", np.divide, torch.div, real, nonzero, api=["np.divide"], primitives=["divide"])
binary("np.power", np.power, torch.pow, positive, real, api=["np.power"], primitives=["power"])
binary("a + b", lambda a, b: a + b, torch.add, api=["operator.add"], primitives=["add"])
binary("a - b", lambda a, b: a - b, torch.sub, api=["operator.sub"], primitives=["subtract"])
binary("a * b", lambda a, b: a * b, torch.mul, api=["operator.mul"], primitives=["multiply"])
binary("a / b", lambda a, b: a / b, torch.div, real, nonzero, api=["operator.truediv"], primitives=["divide"])
binary("a ** b", lambda a, b: a ** b, torch.pow, positive, real, api=["operator.pow"], primitives=["power"])
binary("a % b", lambda a, b: a % b, torch.remainder, real, nonzero, api=["operator.mod"], primitives=["remainder"])
binary("np.remainder", np.remainder, torch.remainder, real, nonzero, api=["np.remainder"],
       primitives=["remainder"])
binary("np.fmod", np.fmod, torch.fmod, real, nonzero, api=["np.fmod"], primitives=["fmod"])
_FLOOR_DIV = "floor(a / b) is piecewise constant in a and b; PyTorch: torch.div(rounding_mode='floor')"
binary("a // b", lambda a, b: a // b, lambda a, b: torch.div(a, b, rounding_mode="floor"), real, nonzero,
       api=["operator.floordiv"], primitives=["floor_divide"], zero_gradient=_FLOOR_DIV)
binary("np.floor_divide", np.floor_divide, lambda a, b: torch.div(a, b, rounding_mode="floor"), real, nonzero,
       api=["np.floor_divide"], primitives=["floor_divide"], zero_gradient=_FLOOR_DIV)

# dp-level activations (dp.ops), against torch.nn.functional ------------------------------

unary("dp.ops.softplus", lambda x: dp.ops.softplus(x), F.softplus, reference=lambda x: np.logaddexp(0, x),
      api=["dp.ops.softplus"], primitives=["softplus"], float32=True)
unary("dp.ops.log_sigmoid", lambda x: dp.ops.log_sigmoid(x), F.logsigmoid,
      reference=lambda x: -np.logaddexp(0, -x), api=["dp.ops.log_sigmoid"], primitives=["log_sigmoid"])
unary("dp.ops.elu", lambda x: dp.ops.elu(x), F.elu, nonzero, reference=lambda x: np.where(x > 0, x, np.expm1(x)),
      api=["dp.ops.elu"], primitives=["elu"])
unary("dp.ops.gelu (exact, erfc)", lambda x: dp.ops.gelu(x), F.gelu, reference=np_gelu, api=["dp.ops.gelu"],
      primitives=["erfc"], float32=True)
unary("dp.ops.erf", lambda x: dp.ops.erf(x), torch.erf, reference=lambda x: _erf(x).astype(x.dtype),
      api=["dp.ops.erf"], primitives=["erf"], float32=True)
unary("dp.ops.erfc", lambda x: dp.ops.erfc(x), torch.erfc, reference=lambda x: _erfc(x).astype(x.dtype),
      api=["dp.ops.erfc"], primitives=["erfc"], float32=True)

# Reductions -------------------------------------------------------------------------------

_sum = lambda t, axis, keepdims: torch.sum(t, dim=dims(axis, t), keepdim=keepdims)  # noqa: E731
case("np.sum", lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims), _sum, one(ANY, reduction), real,
     api=["np.sum"], primitives=["sum"], float32=True)
case("x.sum(axis, keepdims)", lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims), _sum,
     one(ANY, reduction), real, api=["ndarray.sum"], primitives=["sum"])
unary("x.sum()", lambda x: x.sum(), torch.sum, api=["ndarray.sum"], primitives=["sum"])

_mean = lambda t, axis, keepdims: torch.mean(t, dim=dims(axis, t), keepdim=keepdims)  # noqa: E731
case("np.mean", lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims), _mean, one(ANY, reduction),
     real, api=["np.mean"], primitives=["mean"], float32=True)
unary("x.mean()", lambda x: x.mean(), torch.mean, api=["ndarray.mean"], primitives=["mean"])

_amax = lambda t, axis, keepdims: torch.amax(t, dim=dims(axis, t), keepdim=keepdims)  # noqa: E731
_amin = lambda t, axis, keepdims: torch.amin(t, dim=dims(axis, t), keepdim=keepdims)  # noqa: E731
case("np.max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims), _amax, one(ANY, reduction), real,
     api=["np.max"], primitives=["max"], float32=True)
case("np.amax", lambda x, axis, keepdims: np.amax(x, axis=axis, keepdims=keepdims), _amax, one(ANY, reduction),
     real, api=["np.amax"], primitives=["max"])
case("np.min", lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims), _amin, one(ANY, reduction), real,
     api=["np.min"], primitives=["min"])
case("np.amin", lambda x, axis, keepdims: np.amin(x, axis=axis, keepdims=keepdims), _amin, one(ANY, reduction),
     real, api=["np.amin"], primitives=["min"])
case("x.max(axis)", lambda x, axis: x.max(axis), lambda t, axis: _amax(t, axis, False),
     one(ANY, lambda s: st.fixed_dictionaries({"axis": axis_any(len(s))})), real, api=["ndarray.max"],
     primitives=["max"])
case("x.min(axis)", lambda x, axis: x.min(axis), lambda t, axis: _amin(t, axis, False),
     one(ANY, lambda s: st.fixed_dictionaries({"axis": axis_any(len(s))})), real, api=["ndarray.min"],
     primitives=["min"])

case("np.prod", lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims), t_prod, one(ANY, reduction),
     unit_nonzero, api=["np.prod"], primitives=["prod"], float32=True)
unary("x.prod()", lambda x: x.prod(), torch.prod, unit_nonzero, api=["ndarray.prod"], primitives=["prod"])


def _moments(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"axis": axis_any(len(shape)), "ddof": st.sampled_from([0, 1]),
                                  "keepdims": st.booleans()})


# At least two elements in every reduction, so that ddof=1 is defined and std is never sqrt(0).
_MOMENT_SHAPES = shapes(min_dims=1, min_side=2, max_side=4)
_var = lambda t, axis, ddof, keepdims: torch.var(t, dim=dims(axis, t), correction=ddof, keepdim=keepdims)  # noqa: E731
_std = lambda t, axis, ddof, keepdims: torch.std(t, dim=dims(axis, t), correction=ddof, keepdim=keepdims)  # noqa: E731
case("np.var", lambda x, axis, ddof, keepdims: np.var(x, axis=axis, ddof=ddof, keepdims=keepdims), _var,
     one(_MOMENT_SHAPES, _moments), real, api=["np.var"], primitives=["var"], float32=True)
case("np.std", lambda x, axis, ddof, keepdims: np.std(x, axis=axis, ddof=ddof, keepdims=keepdims), _std,
     one(_MOMENT_SHAPES, _moments), real, api=["np.std"], primitives=["std", "root"], float32=True)
case("x.var()", lambda x: x.var(), lambda t: torch.var(t, correction=0), one(_MOMENT_SHAPES), real,
     api=["ndarray.var"], primitives=["var"])
case("x.var(axis=1, ddof=1)", lambda x: x.var(axis=1, ddof=1), lambda t: torch.var(t, dim=1, correction=1),
     one(shapes(min_dims=2, min_side=2)), real, api=["ndarray.var"], primitives=["var"])
case("x.std(ddof=1)", lambda x: x.std(ddof=1), lambda t: torch.std(t, correction=1), one(_MOMENT_SHAPES), real,
     api=["ndarray.std"], primitives=["std"])

_cumulative = lambda s: st.fixed_dictionaries({"axis": axis_or_none(len(s))})  # noqa: E731
case("np.cumsum", lambda x, axis: np.cumsum(x, axis=axis), t_cum(torch.cumsum), one(ANY, _cumulative), real,
     api=["np.cumsum"], primitives=["cumsum"], float32=True)
case("x.cumsum(axis)", lambda x, axis: x.cumsum(axis), t_cum(torch.cumsum),
     one(shapes(min_dims=1), lambda s: st.fixed_dictionaries({"axis": axis_int(len(s))})), real,
     api=["ndarray.cumsum"], primitives=["cumsum"])
case("np.cumprod", lambda x, axis: np.cumprod(x, axis=axis), t_cum(torch.cumprod), one(ANY, _cumulative),
     unit_nonzero, api=["np.cumprod"], primitives=["cumprod"])
unary("x.cumprod()", lambda x: x.cumprod(), t_cum(torch.cumprod), unit_nonzero, api=["ndarray.cumprod"],
      primitives=["cumprod"])

case("dp.ops.logsumexp", lambda x, axis, keepdims: dp.ops.logsumexp(x, axis=axis, keepdims=keepdims),
     lambda t, axis, keepdims: torch.logsumexp(t, dim=dims(axis, t), keepdim=keepdims), one(ANY, reduction), real,
     reference=np_logsumexp, api=["dp.ops.logsumexp"], primitives=["logsumexp"], float32=True)


@st.composite
def _vector_norms(draw: Any) -> Example:
    shape = draw(shapes(min_dims=1, max_dims=3))
    axis = draw(st.sampled_from([None, 0, -1])) if len(shape) == 1 else draw(axis_int(len(shape)))
    return (shape,), {"ord": draw(st.sampled_from([None, 2, 1, np.inf, -np.inf, 0])), "axis": axis,
                      "keepdims": draw(st.booleans())}


@st.composite
def _matrix_norms(draw: Any, ords: tuple[Any, ...] = (None, "fro", 1, np.inf, -1, -np.inf)) -> Example:
    shape = draw(shapes(min_dims=2, max_dims=3))
    ndim = len(shape)
    if ndim == 2 and draw(st.booleans()):
        axis = None
    else:
        first = draw(st.integers(0, ndim - 1))
        second = draw(st.integers(0, ndim - 1).filter(lambda a: a != first))
        axis = (draw(st.sampled_from([first, first - ndim])), draw(st.sampled_from([second, second - ndim])))
    return (shape,), {"ord": draw(st.sampled_from(ords)), "axis": axis, "keepdims": draw(st.booleans())}


_norm = lambda x, ord, axis, keepdims: np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)  # noqa: E731
_t_norm = lambda t, ord, axis, keepdims: torch.linalg.norm(t, ord=ord, dim=axis, keepdim=keepdims)  # noqa: E731
case("np.linalg.norm, vectors", _norm, _t_norm, _vector_norms(), nonzero, api=["np.linalg.norm"],
     primitives=["norm", "root", "count_nonzero"], float32=True)
case("np.linalg.norm, matrices", _norm, _t_norm, _matrix_norms(), nonzero, api=["np.linalg.norm"],
     primitives=["norm", "root"], rtol=1e-8, atol=1e-9)
case("np.linalg.norm, matrices, singular-value ords", _norm, _t_norm, _matrix_norms(ords=(2, -2, "nuc")), nonzero,
     api=["np.linalg.norm"], primitives=["singular_value_norm", "singular_directions"], rtol=1e-8, atol=1e-9,
     first_order_only="the second derivative of the singular values needs the SVD's own derivative")
unary("np.linalg.norm, flattened (any ndim)", np.linalg.norm, torch.linalg.norm, nonzero, api=["np.linalg.norm"],
      primitives=["norm"])


@st.composite
def _traces(draw: Any) -> Example:
    shape = draw(shapes(min_dims=2, max_dims=3))
    ndim = len(shape)
    axis1 = draw(st.integers(0, ndim - 1))
    axis2 = draw(st.integers(0, ndim - 1).filter(lambda a: a != axis1))
    offset = draw(st.integers(-(shape[axis1] - 1), shape[axis2] - 1))  # a diagonal that is not empty
    return (shape,), {"offset": offset, "axis1": draw(st.sampled_from([axis1, axis1 - ndim])),
                      "axis2": draw(st.sampled_from([axis2, axis2 - ndim]))}


case("np.trace", lambda x, offset, axis1, axis2: np.trace(x, offset, axis1, axis2), t_trace, _traces(), real,
     api=["np.trace"], primitives=["trace", "diagonal", "sum"])
case("x.trace()", lambda x: x.trace(), t_trace, one(shapes(min_dims=2, max_dims=2)), real, api=["ndarray.trace"],
     primitives=["trace", "diagonal", "sum"])

# Products ---------------------------------------------------------------------------------

_DOT_SHAPES = [((), (3,)), ((3,), ()), ((), ()), ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((3, 4), (4, 2)),
               ((2, 2, 3), (2, 3, 4)), ((2, 3), (4, 3, 2)), ((2, 2, 3), (3,)), ((3,), (2, 3, 4)),
               ((1, 3), (2, 3, 1))]
case("np.dot", np.dot, t_dot, fixed(*[(pair, {}) for pair in _DOT_SHAPES]), real, real, api=["np.dot"],
     primitives=["dot"], float32=True)
case("x.dot(y)", lambda a, b: a.dot(b), t_dot, fixed(*[(pair, {}) for pair in _DOT_SHAPES]), real, real,
     api=["ndarray.dot"], primitives=["dot"])
_MATMUL_SHAPES = [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 2)),
                  ((2, 1, 3, 4), (3, 4, 2)), ((3,), (2, 3, 2)), ((2, 3, 4), (4,)), ((1, 4), (4, 1))]
case("np.matmul", np.matmul, torch.matmul, fixed(*[(pair, {}) for pair in _MATMUL_SHAPES]), real, real,
     api=["np.matmul"], primitives=["matmul"], float32=True)
case("a @ b", lambda a, b: a @ b, torch.matmul, fixed(*[(pair, {}) for pair in _MATMUL_SHAPES]), real, real,
     api=["operator.matmul"], primitives=["matmul"])
case("np.inner", np.inner, t_inner,
     fixed(*[(pair, {}) for pair in [((), (3,)), ((3,), (3,)), ((2, 3), (3,)), ((2, 3), (4, 3)), ((2, 2, 3), (4, 3))]]),
     real, real, api=["np.inner"], primitives=["inner"])
case("np.outer", np.outer, lambda a, b: torch.outer(a.reshape(-1), b.reshape(-1)),
     fixed(*[(pair, {}) for pair in [((3,), (4,)), ((2, 2), (3,)), ((), (3,)), ((1,), (1,))]]), real, real,
     api=["np.outer"], primitives=["outer"])
case("np.tensordot", lambda a, b, axes: np.tensordot(a, b, axes=axes),
     lambda a, b, axes: torch.tensordot(a, b, dims=axes),
     fixed((((2, 3, 4), (3, 4, 5)), {"axes": 2}), (((3, 4), (4, 5)), {"axes": 1}), (((3,), (4,)), {"axes": 0}),
           (((2, 3), (2, 3)), {"axes": 2}), (((2, 3, 4), (4, 3, 5)), {"axes": ([1, 2], [1, 0])}),
           (((3, 4, 2), (2, 3)), {"axes": ([0, 2], [1, 0])}), (((2, 3), (3, 2)), {"axes": ([0], [1])})),
     real, real, api=["np.tensordot"], primitives=["tensordot"])
case("np.kron", np.kron, torch.kron,
     fixed(*[(pair, {}) for pair in [((2, 3), (2, 2)), ((3,), (2,)), ((2, 2), (3,)), ((2,), (2, 3))]]), real, real,
     api=["np.kron"], primitives=["kron"])

_einsum = lambda *xs, subscripts: np.einsum(subscripts, *xs)  # noqa: E731
_t_einsum = lambda *ts, subscripts: torch.einsum(subscripts, *ts)  # noqa: E731
case("np.einsum, one operand", _einsum, _t_einsum,
     fixed((((3, 3),), {"subscripts": "ii->"}), (((3, 4),), {"subscripts": "ij->ji"}),
           (((3, 3),), {"subscripts": "ii->i"}), (((3, 4),), {"subscripts": "ij->"}),
           (((2, 3, 4),), {"subscripts": "ijk->kj"})),
     real, api=["np.einsum"], primitives=["einsum"])
case("np.einsum, two operands", _einsum, _t_einsum,
     fixed((((3, 4), (4, 2)), {"subscripts": "ij,jk->ik"}), (((2, 3, 4), (2, 4, 2)), {"subscripts": "bij,bjk->bik"}),
           (((4,), (4,)), {"subscripts": "i,i->"}), (((3, 4), (3, 4)), {"subscripts": "ij,ij->i"}),
           (((3,), (4,)), {"subscripts": "i,j->ij"}), (((3, 4), (4,)), {"subscripts": "ij,j->i"}),
           (((3, 4), (4, 2)), {"subscripts": "ij,jk"})),
     real, real, api=["np.einsum"], primitives=["einsum"], float32=True)
case("np.einsum, ellipsis", _einsum, _t_einsum,
     fixed((((2, 3, 4), (2, 4, 2)), {"subscripts": "...ij,...jk->...ik"}),
           (((2, 3, 4), (4, 2)), {"subscripts": "...ij,...jk->...ik"}),
           (((3, 4), (4, 2)), {"subscripts": "...ij,...jk->...ik"})),
     real, real, api=["np.einsum"], primitives=["einsum"])
case("np.einsum, three operands", _einsum, _t_einsum,
     fixed((((2, 3), (3, 4), (4, 2)), {"subscripts": "ij,jk,kl->il"})), real, real, real, api=["np.einsum"],
     primitives=["einsum"])

# Linear algebra ---------------------------------------------------------------------------

_SQUARE = st.sampled_from([(1, 1), (2, 2), (3, 3), (4, 4), (2, 3, 3), (3, 2, 2)])
case("np.linalg.inv", np.linalg.inv, torch.linalg.inv, one(_SQUARE), well_conditioned, api=["np.linalg.inv"],
     primitives=["inv"], float32=True, rtol=1e-8, atol=1e-10)
case("np.linalg.solve", np.linalg.solve, torch.linalg.solve,
     fixed(*[(pair, {}) for pair in [((3, 3), (3,)), ((3, 3), (3, 2)), ((1, 1), (1,)), ((2, 3, 3), (2, 3, 2)),
                                     ((4, 4), (4, 1))]]),
     well_conditioned, real, api=["np.linalg.solve"], primitives=["solve"], float32=True, rtol=1e-8, atol=1e-10)
case("np.linalg.det", np.linalg.det, torch.linalg.det, one(_SQUARE), well_conditioned, api=["np.linalg.det"],
     primitives=["det"], float32=True, rtol=1e-8, atol=1e-9)
case("np.linalg.slogdet: logabsdet", lambda a: np.linalg.slogdet(a)[1], lambda t: torch.linalg.slogdet(t)[1],
     one(_SQUARE), well_conditioned, api=["np.linalg.slogdet"], primitives=["slogdet"], rtol=1e-8)
def _signed_logdet(a: Any) -> Any:
    sign, logabsdet = np.linalg.slogdet(a)  # both outputs
    return sign * logabsdet


case("np.linalg.slogdet: sign * logabsdet", _signed_logdet,
     lambda t: torch.linalg.slogdet(t)[0] * torch.linalg.slogdet(t)[1],
     one(_SQUARE), well_conditioned, api=["np.linalg.slogdet"], primitives=["slogdet"], rtol=1e-8)
case("np.linalg.slogdet: sign (no derivative) times a", lambda a: np.linalg.slogdet(a)[0][..., None, None] * a,
     lambda t: torch.linalg.slogdet(t)[0][..., None, None] * t,
     one(_SQUARE), well_conditioned, api=["np.linalg.slogdet"], primitives=["slogdet"])
case("np.linalg.cholesky of A A^T + n I", lambda a: np.linalg.cholesky(spd(a)),
     lambda t: torch.linalg.cholesky(t_spd(t)), one(_SQUARE), real, api=["np.linalg.cholesky"],
     primitives=["cholesky"], float32=True, rtol=1e-8, atol=1e-10)
case("np.linalg.eigh: eigenvalues", lambda a: np.linalg.eigh(symmetric(a))[0],
     lambda t: torch.linalg.eigh(t_symmetric(t))[0], one(_SQUARE), small, api=["np.linalg.eigh"],
     primitives=["eigh"], float32=True, rtol=1e-8, atol=1e-10)
case("np.linalg.eigh: eigenvectors squared (sign-invariant)", lambda a: np.linalg.eigh(symmetric(a))[1] ** 2,
     lambda t: torch.linalg.eigh(t_symmetric(t))[1] ** 2, one(_SQUARE), small, api=["np.linalg.eigh"],
     primitives=["eigh"], rtol=1e-8, atol=1e-10)


def _reconstruct(a: Any) -> Any:
    w, v = np.linalg.eigh(symmetric(a))
    return (v * w[..., None, :]) @ np.swapaxes(v, -1, -2)


def _t_reconstruct(t: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(t_symmetric(t))
    return (v * w[..., None, :]) @ v.mT


def _reconstruct_2d(a: Any) -> Any:
    w, v = np.linalg.eigh(symmetric(a))
    return np.sin(v @ np.diag(w) @ v.T)


case("np.linalg.eigh: v diag(w) v^T", _reconstruct, _t_reconstruct, one(_SQUARE), small, api=["np.linalg.eigh"],
     primitives=["eigh"], rtol=1e-8, atol=1e-10)
case("np.linalg.eigh: sin(v @ np.diag(w) @ v.T)", _reconstruct_2d,
     lambda t: torch.sin(_t_reconstruct(t)), one(st.sampled_from([(2, 2), (3, 3), (4, 4)])), small,
     api=["np.linalg.eigh", "np.diag"], primitives=["eigh", "diag"], rtol=1e-8, atol=1e-10)

# Shapes -----------------------------------------------------------------------------------

case("np.reshape(x, -1)", lambda x: np.reshape(x, -1), lambda t: t.reshape(-1), one(ANY), real,
     api=["np.reshape"], primitives=["reshape"])
case("x.reshape(shape reversed)", lambda x: x.reshape(x.shape[::-1]), lambda t: t.reshape(t.shape[::-1]), one(ANY),
     real, api=["ndarray.reshape"], primitives=["reshape"])
case("x.reshape(n, -1)", lambda x: x.reshape(x.shape[0], -1), lambda t: t.reshape(t.shape[0], -1),
     one(shapes(min_dims=1)), real, api=["ndarray.reshape"], primitives=["reshape"])
case("x.T", lambda x: x.T, lambda t: t.permute(tuple(reversed(range(t.ndim)))), one(ANY), real, api=["ndarray.T"],
     primitives=["transpose"])
case("np.transpose(x)", np.transpose, lambda t: t.permute(tuple(reversed(range(t.ndim)))), one(ANY), real,
     api=["np.transpose"], primitives=["transpose"])
_permutations = lambda s: st.fixed_dictionaries({"axes": st.permutations(range(len(s))).map(tuple)})  # noqa: E731
case("np.transpose(x, axes)", lambda x, axes: np.transpose(x, axes), lambda t, axes: t.permute(*axes),
     one(shapes(min_dims=1), _permutations), real, api=["np.transpose"], primitives=["transpose"])
case("x.transpose(*axes)", lambda x, axes: x.transpose(*axes), lambda t, axes: t.permute(*axes),
     one(shapes(min_dims=1), _permutations), real, api=["ndarray.transpose"], primitives=["transpose"])
_two_axes = lambda s: st.fixed_dictionaries({"a": axis_int(len(s)), "b": axis_int(len(s))})  # noqa: E731
case("np.swapaxes", lambda x, a, b: np.swapaxes(x, a, b), lambda t, a, b: t.swapaxes(a, b),
     one(shapes(min_dims=1), _two_axes), real, api=["np.swapaxes"], primitives=["transpose"])
case("x.swapaxes", lambda x, a, b: x.swapaxes(a, b), lambda t, a, b: t.swapaxes(a, b),
     one(shapes(min_dims=1), _two_axes), real, api=["ndarray.swapaxes"], primitives=["transpose"])
case("np.moveaxis", lambda x, a, b: np.moveaxis(x, a, b), lambda t, a, b: torch.movedim(t, a, b),
     one(shapes(min_dims=1, max_dims=4, max_side=3), _two_axes), real, api=["np.moveaxis"], primitives=["transpose"])
case("np.expand_dims", lambda x, axis: np.expand_dims(x, axis), lambda t, axis: t.unsqueeze(axis),
     one(ANY, lambda s: st.fixed_dictionaries({"axis": axis_int(len(s), extra=1)})), real,
     api=["np.expand_dims"], primitives=["reshape"])

_WITH_ONES = st.lists(st.sampled_from([1, 1, 2, 3]), min_size=0, max_size=4).map(tuple)


@st.composite
def _squeezable(draw: Any) -> Example:
    shape = list(draw(st.lists(st.sampled_from([1, 2, 3]), min_size=0, max_size=3)))
    shape.insert(draw(st.integers(0, len(shape))), 1)  # at least one axis of size 1
    ones = [axis for axis, side in enumerate(shape) if side == 1]
    chosen = draw(st.lists(st.sampled_from(ones), min_size=1, max_size=len(ones), unique=True))
    signed = [draw(st.sampled_from([a, a - len(shape)])) for a in chosen]
    axis = signed[0] if len(signed) == 1 and draw(st.booleans()) else tuple(signed)
    return (tuple(shape),), {"axis": axis}


case("np.squeeze(x)", np.squeeze, torch.squeeze, one(_WITH_ONES), real, api=["np.squeeze"], primitives=["reshape"])
case("x.squeeze()", lambda x: x.squeeze(), torch.squeeze, one(_WITH_ONES), real, api=["ndarray.squeeze"],
     primitives=["reshape"])
case("np.squeeze(x, axis)", lambda x, axis: np.squeeze(x, axis=axis), lambda t, axis: torch.squeeze(t, axis),
     _squeezable(), real, api=["np.squeeze"], primitives=["reshape"])
case("np.ravel", np.ravel, lambda t: t.reshape(-1), one(ANY), real, api=["np.ravel"], primitives=["reshape"])
case("x.ravel()", lambda x: x.ravel(), lambda t: t.reshape(-1), one(ANY), real, api=["ndarray.ravel"],
     primitives=["reshape"])
case("x.flatten()", lambda x: x.flatten(), lambda t: t.reshape(-1), one(ANY), real, api=["ndarray.flatten"],
     primitives=["reshape"])
case("np.atleast_1d", np.atleast_1d, torch.atleast_1d, one(ANY), real, api=["np.atleast_1d"], primitives=["reshape"])
case("np.atleast_2d", np.atleast_2d, torch.atleast_2d, one(ANY), real, api=["np.atleast_2d"], primitives=["reshape"])
case("np.atleast_3d", np.atleast_3d, torch.atleast_3d, one(ANY), real, api=["np.atleast_3d"], primitives=["reshape"])
case("np.broadcast_to", lambda x: np.broadcast_to(x, (3,) + x.shape), lambda t: t.expand((3,) + tuple(t.shape)),
     one(ANY), real, api=["np.broadcast_to"], primitives=["broadcast_to"])
case("x.astype(np.float32) from float64", lambda x: x.astype(np.float32), lambda t: t.to(torch.float32), one(ANY),
     real, api=["ndarray.astype"], primitives=["astype"], rtol=1e-6, atol=1e-7,  # forward mode rounds the tangent
     no_finite_differences="the output is float32: central differences at eps=1e-6 are below its resolution")
case("x.astype(np.float64)", lambda x: x.astype(np.float64) * x, lambda t: t.to(torch.float64) * t, one(ANY), real,
     api=["ndarray.astype"], primitives=["astype"], float32=True)


@st.composite
def _repeats(draw: Any) -> Example:
    shape = draw(ANY)
    if not shape or draw(st.booleans()):
        return (shape,), {"repeats": draw(st.integers(1, 3)), "axis": draw(axis_or_none(len(shape)))}
    axis = draw(axis_int(len(shape)))
    counts = draw(st.lists(st.integers(0, 3), min_size=shape[axis], max_size=shape[axis]))  # 0 drops an element
    return (shape,), {"repeats": counts, "axis": axis}


case("np.repeat", lambda x, repeats, axis: np.repeat(x, repeats, axis=axis), t_repeat, _repeats(), real,
     api=["np.repeat"], primitives=["repeat", "repeat_adjoint"])
case("x.repeat", lambda x, repeats, axis: x.repeat(repeats, axis=axis), t_repeat, _repeats(), real,
     api=["ndarray.repeat"], primitives=["repeat", "repeat_adjoint"])
case("np.tile", lambda x, reps: np.tile(x, reps), t_tile,
     one(ANY, lambda s: st.fixed_dictionaries({"reps": st.one_of(
         st.integers(1, 3), st.lists(st.integers(1, 2), min_size=1, max_size=len(s) + 1).map(tuple))})),
     real, api=["np.tile"], primitives=["tile"])
case("np.flip", lambda x, axis: np.flip(x, axis=axis), lambda t, axis: torch.flip(t, dims(axis, t)),
     one(shapes(min_dims=1), lambda s: st.fixed_dictionaries({"axis": axis_any(len(s))})), real,
     api=["np.flip"], primitives=["flip"])
case("np.fliplr", np.fliplr, torch.fliplr, one(shapes(min_dims=2)), real, api=["np.fliplr"], primitives=["flip"])
case("np.flipud", np.flipud, torch.flipud, one(shapes(min_dims=1)), real, api=["np.flipud"], primitives=["flip"])


@st.composite
def _rotations(draw: Any) -> Example:
    shape = draw(shapes(min_dims=2, max_dims=3))
    ndim = len(shape)
    first = draw(st.integers(0, ndim - 1))
    second = draw(st.integers(0, ndim - 1).filter(lambda a: a != first))
    axes = (draw(st.sampled_from([first, first - ndim])), draw(st.sampled_from([second, second - ndim])))
    return (shape,), {"k": draw(st.integers(-2, 3)), "axes": axes}


case("np.rot90", lambda x, k, axes: np.rot90(x, k, axes), lambda t, k, axes: torch.rot90(t, k, list(axes)),
     _rotations(), real, api=["np.rot90"], primitives=["flip", "transpose"])


@st.composite
def _rolls(draw: Any) -> Example:
    shape = draw(shapes(min_dims=1))
    axis = draw(axis_any(len(shape)))
    if isinstance(axis, tuple) and draw(st.booleans()):
        shift = tuple(draw(st.integers(-4, 4)) for _ in axis)
    else:
        shift = draw(st.integers(-4, 4))  # one shift for every axis named (or the flattened array)
    return (shape,), {"shift": shift, "axis": axis}


case("np.roll", lambda x, shift, axis: np.roll(x, shift, axis=axis), t_roll, _rolls(), real, api=["np.roll"],
     primitives=["roll"])
case("np.roll without axis", lambda x: np.roll(x, 2), lambda t: torch.roll(t, 2), one(shapes(min_dims=1)), real,
     api=["np.roll"], primitives=["roll"])


@st.composite
def _pads(draw: Any) -> Example:
    shape = draw(shapes(min_dims=1))
    ndim = len(shape)
    width = st.integers(0, 2)
    kind = draw(st.sampled_from(["int", "pair", "one pair", "per axis"]))
    pad_width = {"int": width, "pair": st.tuples(width, width), "one pair": st.tuples(st.tuples(width, width)),
                 "per axis": st.tuples(*[st.tuples(width, width)] * ndim)}[kind]
    return (shape,), {"pad_width": draw(pad_width), "constant_values": draw(st.sampled_from([0.0, 1.5]))}


case("np.pad (constant)", lambda x, pad_width, constant_values: np.pad(x, pad_width, constant_values=constant_values),
     t_pad, _pads(), real, api=["np.pad"], primitives=["pad"], float32=True)


def _pad_modes(x: Any, pad_width: Any, mode: str) -> Any:
    return np.sin(np.pad(x, pad_width, mode=mode))


def _t_pad_modes(t: torch.Tensor, pad_width: Any, mode: str) -> torch.Tensor:
    """np.pad's other modes gather elements: NumPy pads the indices 0..n-1 of each axis the same
    way, and PyTorch selects along each axis with them (F.pad's modes need batch axes)."""
    pairs = np.broadcast_to(np.asarray(pad_width), (t.ndim, 2))
    for axis, pair in enumerate(pairs):
        source = np.pad(np.arange(t.shape[axis]), tuple(int(side) for side in pair), mode=mode)
        t = torch.index_select(t, axis, torch.as_tensor(source))
    return torch.sin(t)


@st.composite
def _pad_other_modes(draw: Any) -> Example:
    (shape,), params = draw(_pads())
    return (shape,), {"pad_width": params["pad_width"],
                      "mode": draw(st.sampled_from(["edge", "reflect", "symmetric", "wrap"]))}


case("np.pad (edge, reflect, symmetric, wrap)", _pad_modes, _t_pad_modes, _pad_other_modes(), real, api=["np.pad"],
     primitives=["pad", "pad_copy", "pad_copy_adjoint"])


@st.composite
def _triangles(draw: Any) -> Example:
    return (draw(shapes(min_dims=2, max_dims=3)),), {"k": draw(st.integers(-2, 2))}


case("np.tril", lambda x, k: np.tril(x, k), lambda t, k: torch.tril(t, k), _triangles(), real, api=["np.tril"],
     primitives=["tril"])
case("np.triu", lambda x, k: np.triu(x, k), lambda t, k: torch.triu(t, k), _triangles(), real, api=["np.triu"],
     primitives=["triu"])
case("np.diag of a vector", lambda x, k: np.diag(x, k), lambda t, k: torch.diag(t, k),
     one(shapes(min_dims=1, max_dims=1), lambda s: st.fixed_dictionaries({"k": st.integers(-2, 2)})), real,
     api=["np.diag"], primitives=["diag"])
case("np.diag of a matrix", lambda x, k: np.diag(x, k), lambda t, k: torch.diag(t, k),
     one(shapes(min_dims=2, max_dims=2),
         lambda s: st.fixed_dictionaries({"k": st.integers(-(s[0] - 1), s[1] - 1)})), real,
     api=["np.diag"], primitives=["diagonal"])
case("np.diagonal", lambda x, offset, axis1, axis2: np.diagonal(x, offset, axis1, axis2),
     lambda t, offset, axis1, axis2: torch.diagonal(t, offset, axis1, axis2), _traces(), real,
     api=["np.diagonal"], primitives=["diagonal", "diag"])
case("x.diagonal()", lambda x: x.diagonal(), torch.diagonal, one(shapes(min_dims=2)), real,
     api=["ndarray.diagonal"], primitives=["diagonal"])

# Splitting and joining --------------------------------------------------------------------


@st.composite
def _splits(draw: Any, min_dims: int = 1, axis: int | None = None, even: bool = True) -> Example:
    """A shape, an axis, and sections that divide it (even) or indices (sorted, may repeat)."""
    shape = list(draw(shapes(min_dims=min_dims, max_side=3)))
    ndim = len(shape)
    chosen = draw(axis_int(ndim)) if axis is None else axis
    if even and draw(st.booleans()):
        sections = draw(st.integers(1, 3))
        shape[chosen] = sections * draw(st.integers(1, 2))
        return (tuple(shape),), {"sections": sections, "axis": chosen}
    if even:  # indices
        side = shape[chosen]
        indices = sorted(draw(st.lists(st.integers(0, side), min_size=1, max_size=3)))
        return (tuple(shape),), {"sections": indices, "axis": chosen}
    return (tuple(shape),), {"sections": draw(st.integers(1, 4)), "axis": chosen}  # need not divide


case("np.split", lambda x, sections, axis: weighted(np.split(x, sections, axis=axis)),
     lambda t, sections, axis: weighted(torch.tensor_split(t, sections, dim=axis)), _splits(), real,
     api=["np.split"], primitives=["getitem", "scatter_add"])
case("np.array_split", lambda x, sections, axis: weighted(np.array_split(x, sections, axis=axis)),
     lambda t, sections, axis: weighted(torch.tensor_split(t, sections, dim=axis)), _splits(even=False), real,
     api=["np.array_split"], primitives=["getitem", "scatter_add"])
case("np.hsplit", lambda x, sections, axis: weighted(np.hsplit(x, sections)),
     lambda t, sections, axis: weighted(torch.hsplit(t, sections)),
     st.one_of(_splits(min_dims=2, axis=1), _splits(min_dims=1).filter(lambda e: len(e[0][0]) == 1)), real,
     api=["np.hsplit"], primitives=["getitem", "scatter_add"])
case("np.vsplit", lambda x, sections, axis: weighted(np.vsplit(x, sections)),
     lambda t, sections, axis: weighted(torch.vsplit(t, sections)), _splits(min_dims=2, axis=0), real,
     api=["np.vsplit"], primitives=["getitem", "scatter_add"])


@st.composite
def _joinable(draw: Any, count: int) -> Example:
    """`count` shapes equal except along `axis` (or any shapes for axis=None)."""
    if draw(st.integers(0, 4)) == 0:
        return tuple(draw(ANY) for _ in range(count)), {"axis": None}
    base = list(draw(shapes(min_dims=1)))
    axis = draw(axis_int(len(base)))
    result = []
    for _ in range(count):
        shape = list(base)
        shape[axis] = draw(st.integers(1, 3))
        result.append(tuple(shape))
    return tuple(result), {"axis": axis}


case("np.concatenate", lambda a, b, c, axis: np.concatenate([a, b, c], axis=axis),
     lambda a, b, c, axis: t_concatenate([a, b, c], axis), _joinable(3), real, real, real,
     api=["np.concatenate"], primitives=["concatenate"], float32=True)
case("np.append", lambda a, b, axis: np.append(a, b, axis=axis), lambda a, b, axis: t_concatenate([a, b], axis),
     _joinable(2), real, real, api=["np.append"], primitives=["concatenate", "reshape"])
case("np.append without axis", lambda a, b: np.append(a, b), lambda a, b: t_concatenate([a, b], None),
     st.tuples(ANY, ANY).map(lambda pair: (pair, {})), real, real, api=["np.append"],
     primitives=["concatenate", "reshape"])


@st.composite
def _stackable(draw: Any) -> Example:
    shape = draw(ANY)
    return (shape, shape, shape), {"axis": draw(axis_int(len(shape), extra=1))}


case("np.stack", lambda a, b, c, axis: np.stack([a, b, c], axis=axis),
     lambda a, b, c, axis: torch.stack([a, b, c], dim=axis), _stackable(), real, real, real, api=["np.stack"],
     primitives=["stack"])


@st.composite
def _stacked_along(draw: Any, axis_for_ndim: Callable[[int], int | None], min_dims: int = 0) -> Example:
    """Two shapes for vstack/hstack/dstack: equal except along the axis they are joined on (which
    depends on the number of dimensions; None: the shapes must be equal)."""
    base = list(draw(shapes(min_dims=min_dims)))
    axis = axis_for_ndim(len(base))
    first, second = list(base), list(base)
    if axis is not None:
        first[axis], second[axis] = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (tuple(first), tuple(second)), {}


case("np.vstack", lambda a, b: np.vstack([a, b]), lambda a, b: torch.vstack([a, b]),
     _stacked_along(lambda ndim: 0 if ndim >= 2 else None), real, real, api=["np.vstack"],
     primitives=["concatenate", "reshape"])
case("np.hstack", lambda a, b: np.hstack([a, b]), lambda a, b: torch.hstack([a, b]),
     _stacked_along(lambda ndim: {0: None, 1: 0}.get(ndim, 1)), real, real, api=["np.hstack"],
     primitives=["concatenate", "reshape"])
case("np.dstack", lambda a, b: np.dstack([a, b]), lambda a, b: torch.dstack([a, b]),
     _stacked_along(lambda ndim: 2 if ndim >= 3 else None), real, real, api=["np.dstack"],
     primitives=["concatenate", "reshape"])
case("np.column_stack", lambda a, b: np.column_stack([a, b]), lambda a, b: torch.column_stack([a, b]),
     fixed(*[(pair, {}) for pair in [((3,), (3,)), ((3,), (3, 2)), ((2, 2), (2, 3)), ((1,), (1, 1)),
                                     ((4, 1), (4,))]]),
     real, real, api=["np.column_stack"], primitives=["concatenate", "reshape"])

# Indexing, selecting, sorting -------------------------------------------------------------


@st.composite
def _takes(draw: Any) -> Example:
    shape = draw(shapes(min_dims=1))
    axis = draw(axis_or_none(len(shape)))
    side = int(np.prod(shape)) if axis is None else shape[axis]
    index = st.integers(-side, side - 1)  # negative indices count from the end
    indices = draw(st.one_of(index, st.lists(index, min_size=1, max_size=5)))  # repeats sum their gradients
    return (shape,), {"indices": indices, "axis": axis}


case("np.take", lambda x, indices, axis: np.take(x, indices, axis=axis), t_take, _takes(), real, api=["np.take"],
     primitives=["take", "take_adjoint"], float32=True)
case("x.take", lambda x, indices, axis: x.take(indices, axis=axis), t_take, _takes(), real, api=["ndarray.take"],
     primitives=["take", "take_adjoint"])


@st.composite
def _takes_along(draw: Any) -> Example:
    shape = draw(shapes(min_dims=1))
    if draw(st.integers(0, 3)) == 0:
        size = int(np.prod(shape))
        indices = np.array(draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=5)))
        return (shape,), {"indices": indices, "axis": None}
    axis = draw(axis_int(len(shape)))
    index_shape = list(shape)
    index_shape[axis] = draw(st.integers(1, 4))
    indices = draw(seeded(lambda rng: rng.integers(0, shape[axis], index_shape)))
    return (shape,), {"indices": indices, "axis": axis}


case("np.take_along_axis", lambda x, indices, axis: np.take_along_axis(x, indices, axis=axis),
     lambda t, indices, axis: torch.take_along_dim(t, torch.as_tensor(indices), dim=axis), _takes_along(), real,
     api=["np.take_along_axis"], primitives=["take_along_axis", "take_along_axis_adjoint"])
case("np.sort", lambda x, axis: np.sort(x, axis=axis), t_sort,
     st.one_of(one(ANY, lambda s: st.just({"axis": None})),
               one(shapes(min_dims=1), lambda s: st.fixed_dictionaries({"axis": axis_int(len(s))}))),
     real, api=["np.sort"], primitives=["sort", "sort_adjoint"], float32=True)
case("np.sort, default axis", np.sort, t_sort, one(shapes(min_dims=1)), real, api=["np.sort"],
     primitives=["sort", "sort_adjoint"])


@st.composite
def _wheres(draw: Any) -> Example:
    drawn = draw(mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=1, max_side=4))
    condition_shape, x_shape, y_shape = drawn.input_shapes
    condition = draw(seeded(lambda rng: rng.random(condition_shape) < 0.5))
    return (x_shape, y_shape), {"condition": condition}


case("np.where(cond, x, y)", lambda x, y, condition: np.where(condition, x, y),
     lambda x, y, condition: torch.where(torch.as_tensor(condition), x, y), _wheres(), real, real,
     api=["np.where"], primitives=["where"], float32=True)
case("np.where(x > 0, x, 1.5)", lambda x: np.where(x > 0, x, 1.5),
     lambda t: torch.where(t > 0, t, torch.tensor(1.5, dtype=t.dtype)), one(ANY), real, api=["np.where"],
     primitives=["where"])

_MASK = np.array([[True, False, True], [False, False, True]])
case("x[1:, ::2]", lambda x: x[1:, ::2], lambda t: t[1:, ::2], one(shapes(min_dims=2, min_side=2)), real,
     api=["ndarray.__getitem__"], primitives=["getitem", "scatter_add"], float32=True)
case("x[..., 0] and x[None, :, -1]", lambda x: x[..., 0] * x[None, :, -1].sum(),
     lambda t: t[..., 0] * t[None, :, -1].sum(), one(shapes(min_dims=2)), real, api=["ndarray.__getitem__"],
     primitives=["getitem", "scatter_add"])
case("x[integer array with repeats]", lambda x: x[np.array([0, -1, 0])], lambda t: t[torch.tensor([0, -1, 0])],
     one(shapes(min_dims=1)), real, api=["ndarray.__getitem__"], primitives=["getitem", "scatter_add"])
case("x[[0, 1], [1, 0]]", lambda x: x[[0, 1], [1, 0]], lambda t: t[[0, 1], [1, 0]],
     one(shapes(min_dims=2, min_side=2)), real, api=["ndarray.__getitem__"], primitives=["getitem", "scatter_add"])
case("x[boolean mask]", lambda x: x[_MASK], lambda t: t[torch.tensor(_MASK)], one(st.just((2, 3))), real,
     api=["ndarray.__getitem__"], primitives=["getitem", "scatter_add"])
case("x[x > 0]", lambda x: x[x > 0], lambda t: t[t > 0], one(ANY), real, api=["ndarray.__getitem__"],
     primitives=["getitem", "scatter_add"])


# --------------------------------------------------------------------------------------------
# Functions whose result is a plain integer array (not differentiable, not a Node)


@dataclass(frozen=True, repr=False)
class IntegerCase:
    name: str
    f: Callable[..., Any]
    examples: st.SearchStrategy[Example]
    api: tuple[str, ...]

    def __repr__(self) -> str:
        return f"IntegerCase({self.name!r})"


_axis_or_none = one(ANY, lambda s: st.fixed_dictionaries({"axis": axis_or_none(len(s))}))
INTEGER_CASES: list[IntegerCase] = [
    IntegerCase("np.argmax", lambda x, axis: np.argmax(x, axis=axis), _axis_or_none, ("np.argmax",)),
    IntegerCase("np.argmin", lambda x, axis: np.argmin(x, axis=axis), _axis_or_none, ("np.argmin",)),
    IntegerCase("np.argsort", lambda x, axis: np.argsort(x, axis=axis),
                one(shapes(min_dims=1), lambda s: st.fixed_dictionaries({"axis": axis_or_none(len(s))})),
                ("np.argsort",)),
    IntegerCase("x.argmax()", lambda x: x.argmax(), one(ANY), ("ndarray.argmax",)),
    IntegerCase("x.argmin(axis)", lambda x, axis: x.argmin(axis),
                one(shapes(min_dims=1), lambda s: st.fixed_dictionaries({"axis": axis_int(len(s))})),
                ("ndarray.argmin",)),
]

#: dp.node.PRIMITIVES covered by other test files (not NumPy functions): name -> the test file
COVERED_ELSEWHERE: dict[str, str] = {
    "sigmoid": "tests/test_node_ops.py",
    "relu": "tests/test_node_ops.py",
    "leaky_relu": "tests/test_node_ops.py",
    "softmax": "tests/test_node_ops.py",
    "log_softmax": "tests/test_node_ops.py",
    "sliding_windows": "tests/test_ops_windows.py",
    "sliding_windows_adjoint": "tests/test_ops_windows.py",
    "window_max": "tests/test_ops_windows.py",
    "correlate2d": "tests/test_ops_windows.py",
    "correlate2d_transpose": "tests/test_ops_windows.py",
    "correlate2d_weight": "tests/test_ops_windows.py",
    "binary_cross_entropy_with_logits": "tests/test_nn_losses.py",
}
