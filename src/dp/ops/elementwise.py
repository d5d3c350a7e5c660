"""Element-wise operations: functions of one or two arrays, applied element by element.

Each is one primitive with tangent="elementwise": the Jacobian is diagonal, so forward mode
reuses the VJP rule. Broadcasting is NumPy's; `unbroadcast` in node.py undoes it. Piecewise-constant
functions (floor, sign, round, //) are primitives with differentiable=False: their results are
constants. Activations NumPy lacks (softplus, gelu, ...) are composites of these primitives.

Constants in the rules are Python floats, never np.float64 scalars: NumPy treats Python numbers as
weak, so float32 stays float32. Subgradients at kinks and ties are PyTorch's.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from dp.node import NOT_DIFFERENTIABLE, Primitive, _one_where_zero, implements, method, plain, primitive

# The names as a paragraph (ruff format would put each on its own line).
# fmt: off
__all__ = ["abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "ceil", "clip", "cos",
           "cosh", "divmod", "elu", "erf", "erfc", "exp2", "expm1", "fix", "floor", "floor_divide", "fmax", "fmin",
           "fmod", "gelu", "hypot", "leaky_relu", "log10", "log1p", "log2", "log_sigmoid", "logaddexp", "maximum",
           "minimum", "reciprocal", "relu", "remainder", "rint", "round", "sigmoid", "sign", "silu", "sin", "sinh",
           "softplus", "sqrt", "square", "swish", "tan", "trunc", "where"]
# fmt: on


def elementwise(
    name: str, forward: Any, vjp: Any, *numpy_functions: Any, methods: tuple[str, ...] = (), **options: Any
) -> Primitive:
    """An element-wise primitive, registered as the NumPy functions and methods it stands for."""
    operation = primitive(name, forward, vjp=vjp, tangent="elementwise", **options)
    implements(*numpy_functions)(operation)
    if methods:
        method(*methods)(operation)
    return operation


def piecewise_constant(name: str, forward: Any, *numpy_functions: Any, **options: Any) -> Primitive:
    """A primitive whose derivative is 0 wherever it exists (as PyTorch's): its result is a constant."""
    operation = primitive(name, forward, differentiable=False, **options)
    implements(*numpy_functions)(operation)
    return operation


def _reflected(operation: Callable[..., Any]) -> Callable[..., Any]:
    """The reflected operator (`2 % x` calls x.__rmod__(2)): the operation on (other, self)."""

    def reflected(self: Any, other: Any) -> Any:
        return operation(other, self)

    return reflected


_LN2, _LN10 = math.log(2), math.log(10)

# --------------------------------------------------------------------------------------------
# One operand

#: sin(x).   d/dx = cos(x).
sin = elementwise("sin", np.sin, lambda g, out, x: g * np.cos(x), np.sin, methods=("sin",))
#: cos(x).   d/dx = -sin(x).
cos = elementwise("cos", np.cos, lambda g, out, x: -g * np.sin(x), np.cos, methods=("cos",))
#: tan(x).   d/dx = 1 + tan(x)^2.
tan = elementwise("tan", np.tan, lambda g, out, x: g * (1 + out * out), np.tan)
#: sqrt(x).   d/dx = 1 / (2 sqrt(x)) = 0.5 / out.
sqrt = elementwise("sqrt", np.sqrt, lambda g, out, x: g * 0.5 / out, np.sqrt, methods=("sqrt",))
#: x^2.   d/dx = 2x.
square = elementwise("square", np.square, lambda g, out, x: g * 2 * x, np.square)
#: 1 / x.   d/dx = -1/x^2 = -out^2.
reciprocal = elementwise("reciprocal", np.reciprocal, lambda g, out, x: -g * out * out, np.reciprocal)
#: |x|.   d/dx = sign(x) (0 at x = 0, as PyTorch).
abs = elementwise(
    "abs", np.abs, lambda g, out, x: g * np.sign(plain(x)), np.absolute, np.fabs, methods=("abs", "__abs__")
)
#: exp(x) - 1, accurate near 0.   d/dx = exp(x) (not out + 1, which loses exp(x) to rounding for x << 0).
expm1 = elementwise("expm1", np.expm1, lambda g, out, x: g * np.exp(x), np.expm1)
#: 2^x.   d/dx = 2^x log(2).
exp2 = elementwise("exp2", np.exp2, lambda g, out, x: g * out * _LN2, np.exp2)
#: log(1 + x), accurate near 0.   d/dx = 1 / (1 + x).
log1p = elementwise("log1p", np.log1p, lambda g, out, x: g / (1 + x), np.log1p)
#: log2(x).   d/dx = 1 / (x log(2)).
log2 = elementwise("log2", np.log2, lambda g, out, x: g / (x * _LN2), np.log2)
#: log10(x).   d/dx = 1 / (x log(10)).
log10 = elementwise("log10", np.log10, lambda g, out, x: g / (x * _LN10), np.log10)
#: sinh(x).   d/dx = cosh(x).
sinh = elementwise("sinh", np.sinh, lambda g, out, x: g * np.cosh(x), np.sinh)
#: cosh(x).   d/dx = sinh(x).
cosh = elementwise("cosh", np.cosh, lambda g, out, x: g * np.sinh(x), np.cosh)
#: arcsin(x).   d/dx = 1 / sqrt(1 - x^2).
arcsin = elementwise("arcsin", np.arcsin, lambda g, out, x: g / np.sqrt(1 - x * x), np.arcsin)
#: arccos(x).   d/dx = -1 / sqrt(1 - x^2).
arccos = elementwise("arccos", np.arccos, lambda g, out, x: -g / np.sqrt(1 - x * x), np.arccos)
#: arctan(x).   d/dx = 1 / (1 + x^2).
arctan = elementwise("arctan", np.arctan, lambda g, out, x: g / (1 + x * x), np.arctan)
#: arcsinh(x).   d/dx = 1 / sqrt(x^2 + 1).
arcsinh = elementwise("arcsinh", np.arcsinh, lambda g, out, x: g / np.sqrt(x * x + 1), np.arcsinh)
#: arccosh(x).   d/dx = 1 / sqrt(x^2 - 1), as sqrt((x - 1)(x + 1)): no cancellation near x = 1.
arccosh = elementwise("arccosh", np.arccosh, lambda g, out, x: g / np.sqrt((x - 1) * (x + 1)), np.arccosh)
#: arctanh(x).   d/dx = 1 / (1 - x^2).
arctanh = elementwise("arctanh", np.arctanh, lambda g, out, x: g / (1 - x * x), np.arctanh)


def _stable_sigmoid(x: Any) -> Any:
    # 1 / (1 + exp(-x)) is accurate to the last bit everywhere; where exp(-x) overflows (x < -709
    # in float64, x < -88 in float32) it gives 1 / inf = 0, the correctly rounded answer, so the
    # overflow warning is noise. Silencing it costs about 1.5 us, as much as a scalar sigmoid
    # itself: scalars that cannot overflow (the blog's neuron, say) skip it.
    if isinstance(x, np.generic) and x > -80:  # type: ignore[operator]  # a NumPy scalar here is a float (Node and Dual refuse others)
        return 1 / (1 + np.exp(-x))  # type: ignore[operator]  # a NumPy scalar here is a float (Node and Dual refuse others)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


#: 1 / (1 + exp(-x)), exact and finite for any x.   d/dx = out (1 - out).
sigmoid = elementwise("sigmoid", _stable_sigmoid, lambda g, out, x: g * out * (1 - out), methods=("sigmoid",))
#: max(x, 0).   d/dx = 1 where x > 0, else 0.
relu = elementwise("relu", lambda x: np.maximum(x, 0), lambda g, out, x: g * (plain(x) > 0), methods=("relu",))
_leaky_relu = primitive(
    "leaky_relu",
    lambda x, alpha: np.where(x > 0, x, alpha * x),
    vjp=lambda g, out, x, alpha: np.where(plain(x) > 0, g, alpha * g),
    tangent="elementwise",
)


@method("leaky_relu")
def leaky_relu(x: Any, alpha: float = 0.01) -> Any:
    """x where x > 0, else alpha x.   d/dx = 1 where x > 0, else alpha."""
    return _leaky_relu(x, alpha=alpha)


# --------------------------------------------------------------------------------------------
# erf: NumPy has none, and dp's core needs nothing but NumPy.
#
# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969)
# 631-637, as in his SPECFUN routine CALERF (netlib.org/specfun/erf): erf(x) = x R1(x^2) for
# |x| <= 0.46875; erfc(x) = exp(-x^2) R2(x) up to 4; erfc(x) = exp(-x^2) (1/sqrt(pi) - z R3(z)) / x
# with z = 1/x^2 beyond. Each rational function is good to about 1e-18 on its interval; the
# coefficients are Cody's, listed highest power first, for np.polyval. Beyond 0.46875 erf = 1 - erfc
# with erfc < 0.52, which scales the rounding error of exp(-x^2) down: Cody's split of x^2 for an
# exact exp matters for erfc itself, not for erf. Accurate to about 3 ulps (see the tests).

# The coefficients as rows, as Cody prints them.
# fmt: off
_ERF_R1 = ((1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
            3.20937758913846947e03),
           (1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03))
_ERFC_R2 = ((2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
             2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03,
             1.23033935479799725e03),
            (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
             3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03))
_ERFC_R3 = ((1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
             1.60837851487422766e-2, 6.58749161529837803e-4),
            (1.0, 2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
             2.33520497626869185e-3))
# fmt: on
_ONE_OVER_SQRT_PI = 1 / math.sqrt(math.pi)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def _rational(coefficients: tuple[tuple[float, ...], tuple[float, ...]], t: np.ndarray) -> np.ndarray:
    numerator, denominator = coefficients
    return np.polyval(numerator, t) / np.polyval(denominator, t)


def _erf_tail(y: np.ndarray) -> np.ndarray:
    """erf(y) for y > 4, and NaN (kept). Beyond 6, erfc(y) < 3e-17 and erf(y) is 1 in float64: capping
    y there keeps y^2 from overflowing."""
    y = np.minimum(y, 6.0)
    z = 1 / (y * y)
    return 1 - np.exp(-y * y) * (_ONE_OVER_SQRT_PI - z * _rational(_ERFC_R3, z)) / y


def _erf_of_magnitude(y: np.ndarray) -> np.ndarray:
    """erf(y) for y = |x| >= 0, in float64."""
    return np.piecewise(
        y,
        [y <= 0.46875, (y > 0.46875) & (y <= 4.0)],
        [lambda y: y * _rational(_ERF_R1, y * y), lambda y: 1 - np.exp(-y * y) * _rational(_ERFC_R2, y), _erf_tail],
    )


def _erf(x: Any) -> Any:
    """erf(x), computed in float64 and given in x's float dtype (float64 for integers), as a ufunc would."""
    value = np.asarray(x)
    dtype = value.dtype if value.dtype.kind == "f" else np.dtype(np.float64)
    return np.copysign(_erf_of_magnitude(np.abs(value.astype(np.float64))), value).astype(dtype)


#: The error function erf(x) = 2/sqrt(pi) integral_0^x exp(-t^2) dt.   d/dx = 2/sqrt(pi) exp(-x^2).
erf = elementwise("erf", _erf, lambda g, out, x: g * _TWO_OVER_SQRT_PI * np.exp(-x * x))


def _exp_minus_square(y: np.ndarray) -> np.ndarray:
    """exp(-y^2) without the rounding of y^2 (which exp would magnify y^2 times): Cody's split,
    y^2 = r^2 + (y - r)(y + r) with r = y rounded down to 1/16, whose square is exact."""
    r = np.trunc(y * 16) / 16
    return np.exp(-r * r) * np.exp(-(y - r) * (y + r))


def _erfc_of_positive(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y > 0.46875, in float64, to a few ulps relative even where it is tiny. Beyond
    27.3 it is below the smallest float64 and 0; capping y there keeps y^2 finite."""
    y = np.minimum(y, 27.3)
    z = 1 / (y * y)
    return _exp_minus_square(y) * np.where(
        y <= 4.0, _rational(_ERFC_R2, np.minimum(y, 4.0)), (_ONE_OVER_SQRT_PI - z * _rational(_ERFC_R3, z)) / y
    )


def _erfc(x: Any) -> Any:
    """erfc(x) = 1 - erf(x), computed in float64 and given in x's float dtype: relative accuracy for
    large x, where 1 - erf(x) would be 0 (erf rounds to 1)."""
    value = np.asarray(x)
    dtype = value.dtype if value.dtype.kind == "f" else np.dtype(np.float64)
    v = value.astype(np.float64)
    y = np.abs(v)
    with np.errstate(invalid="ignore"):  # NaN passes through every branch
        tail = _erfc_of_positive(np.maximum(y, 0.46875))
        result = np.where(y <= 0.46875, 1 - _erf(v), np.where(v > 0, tail, 2 - tail))
    return result.astype(dtype)[()] if result.ndim == 0 else result.astype(dtype)


#: The complementary error function erfc(x) = 1 - erf(x).   d/dx = -2/sqrt(pi) exp(-x^2).
erfc = elementwise("erfc", _erfc, lambda g, out, x: g * -_TWO_OVER_SQRT_PI * np.exp(-x * x))

# --------------------------------------------------------------------------------------------
# Two operands (NumPy's broadcasting)


def _share_of_larger(g: Any, first: Any, second: Any) -> Any:
    """g where `first` is the larger, half of g where they tie (as PyTorch), else 0."""
    first, second = plain(first), plain(second)
    return np.where(first > second, g, np.where(first == second, g * 0.5, 0))


#: Element-wise maximum.   d/da = 1 where a > b, d/db = 1 where b > a; ties share it.
maximum = elementwise(
    "maximum",
    np.maximum,
    (lambda g, out, a, b: _share_of_larger(g, a, b), lambda g, out, a, b: _share_of_larger(g, b, a)),
    np.maximum,
    error="do not broadcast",
)
#: Element-wise minimum.   d/da = 1 where a < b, d/db = 1 where b < a; ties share it.
minimum = elementwise(
    "minimum",
    np.minimum,
    (lambda g, out, a, b: _share_of_larger(g, b, a), lambda g, out, a, b: _share_of_larger(g, a, b)),
    np.minimum,
    error="do not broadcast",
)


def _nan_ignoring_rules(keeps_first: np.ufunc) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """fmax's and fmin's VJPs: all of g to a where the result is a (ties, and NaN in b, included:
    PyTorch's choice), else all of it to b."""

    def first(a: Any, b: Any) -> Any:
        a, b = plain(a), plain(b)
        return keeps_first(a, b) | np.isnan(b)

    return (lambda g, out, a, b: np.where(first(a, b), g, 0), lambda g, out, a, b: np.where(first(a, b), 0, g))


#: Element-wise maximum ignoring NaNs.   d/da = 1 where a >= b or b is NaN, else d/db = 1.
fmax = elementwise("fmax", np.fmax, _nan_ignoring_rules(np.greater_equal), np.fmax, error="do not broadcast")
#: Element-wise minimum ignoring NaNs.   d/da = 1 where a <= b or b is NaN, else d/db = 1.
fmin = elementwise("fmin", np.fmin, _nan_ignoring_rules(np.less_equal), np.fmin, error="do not broadcast")


def _squared_radius(a: Any, b: Any) -> Any:
    """a^2 + b^2, with 1 where it is 0: there a = b = 0, so arctan2's gradient is 0 (PyTorch's), not 0/0."""
    radius = a * a + b * b
    return _one_where_zero(radius, radius)


#: arctan2(a, b), the angle of the point (b, a).   d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2).
arctan2 = elementwise(
    "arctan2",
    np.arctan2,
    (lambda g, out, a, b: g * b / _squared_radius(a, b), lambda g, out, a, b: -g * a / _squared_radius(a, b)),
    np.arctan2,
    error="do not broadcast",
)
#: sqrt(a^2 + b^2), without overflow.   d/da = a / out, d/db = b / out.
hypot = elementwise(
    "hypot",
    np.hypot,
    (lambda g, out, a, b: g * a / out, lambda g, out, a, b: g * b / out),
    np.hypot,
    error="do not broadcast",
)
#: log(exp(a) + exp(b)), NumPy's stable formula.   d/da = exp(a - out), d/db = exp(b - out): both
#: exponents are <= 0, so nothing overflows.
logaddexp = elementwise(
    "logaddexp",
    np.logaddexp,
    (lambda g, out, a, b: g * np.exp(a - out), lambda g, out, a, b: g * np.exp(b - out)),
    np.logaddexp,
    error="do not broadcast",
)


# The quotients in the d/db rules are piecewise constant (their own derivative is 0), so they are
# computed on the plain values; NumPy's floor_divide is exactly PyTorch's div(rounding_mode="floor").
#: a mod b, with the sign of b (Python's %).   d/da = 1, d/db = -floor(a / b) (as torch.remainder).
remainder = elementwise(
    "remainder",
    np.remainder,
    (lambda g, out, a, b: g, lambda g, out, a, b: -g * np.floor_divide(plain(a), plain(b))),
    np.remainder,
    error="do not broadcast",
)
#: a mod b, with the sign of a (C's fmod).   d/da = 1, d/db = -trunc(a / b) (as torch.fmod).
fmod = elementwise(
    "fmod",
    np.fmod,
    (lambda g, out, a, b: g, lambda g, out, a, b: -g * np.trunc(plain(a) / plain(b))),
    np.fmod,
    error="do not broadcast",
)

# --------------------------------------------------------------------------------------------
# Piecewise constant: derivative 0 (where it exists), as in PyTorch

#: -1, 0 or 1.
sign = piecewise_constant("sign", np.sign, np.sign)
#: The largest integer <= x.
floor = piecewise_constant("floor", np.floor, np.floor)
#: The smallest integer >= x.
ceil = piecewise_constant("ceil", np.ceil, np.ceil)
#: x rounded towards 0.
trunc = piecewise_constant("trunc", np.trunc, np.trunc)
#: The nearest integer, halves to even.
rint = piecewise_constant("rint", np.rint, np.rint)
#: floor(a / b), Python's //.
floor_divide = piecewise_constant("floor_divide", np.floor_divide, np.floor_divide, error="do not broadcast")
_round = piecewise_constant("round", lambda x, decimals: np.round(x, decimals))


@implements(np.round, np.around)
@method("round")
def round(a: Any, decimals: int = 0, out: Any = None) -> Any:
    """a rounded to `decimals` decimals (negative: to tens, hundreds...), halves to even, as np.round."""
    if out is not None:
        raise TypeError("round on Nodes/Duals: out= is not supported (dp makes new arrays)")
    if not isinstance(decimals, numbers.Integral):
        raise TypeError(f"round: decimals must be an integer, got {type(decimals).__name__}")
    return _round(a, decimals=int(decimals))


@implements(np.fix)
def fix(x: Any, out: Any = None) -> Any:
    """x rounded towards 0 (np.fix, the same as np.trunc)."""
    if out is not None:
        raise TypeError("fix on Nodes/Duals: out= is not supported (dp makes new arrays)")
    return trunc(x)


@implements(np.divmod)
def divmod(a: Any, b: Any) -> tuple[Any, Any]:
    """(a // b, a % b), as np.divmod and Python's divmod."""
    return floor_divide(a, b), remainder(a, b)


method("__mod__")(remainder)
method("__rmod__")(_reflected(remainder))
method("__floordiv__")(floor_divide)
method("__rfloordiv__")(_reflected(floor_divide))
method("__divmod__")(divmod)
method("__rdivmod__")(_reflected(divmod))

# --------------------------------------------------------------------------------------------
# clip


#: x limited to [low, high]: min(max(x, low), high).   As torch.clamp: d/dx = 1 where low <= x <= high
#: (the bounds included), d/dlow = 1 where x < low < high, d/dhigh = 1 where x > high or high < low
#: (when low > high the result is high everywhere).
_clip = elementwise(
    "clip",
    np.clip,
    (
        lambda g, out, x, low, high: np.where((plain(x) >= plain(low)) & (plain(x) <= plain(high)), g, 0),
        lambda g, out, x, low, high: np.where((plain(x) < plain(low)) & (plain(low) < plain(high)), g, 0),
        lambda g, out, x, low, high: np.where((plain(x) > plain(high)) | (plain(high) < plain(low)), g, 0),
    ),
    error="do not broadcast",
)


def clip(a: Any, a_min: Any = None, a_max: Any = None) -> Any:
    """a limited to [a_min, a_max] element-wise, as np.clip; a bound of None is no bound. The bounds
    may be arrays, Nodes or Duals (then they get gradients too)."""
    if all(plain(x) is x for x in (a, a_min, a_max)):
        return np.clip(a, a_min, a_max)  # plain values: NumPy's own (integers stay integers)
    return _clip(a, -math.inf if a_min is None else a_min, math.inf if a_max is None else a_max)


_MISSING = object()


@implements(np.clip)
def _numpy_clip(
    a: Any,
    a_min: Any = _MISSING,
    a_max: Any = _MISSING,
    out: Any = None,
    *,
    min: Any = _MISSING,
    max: Any = _MISSING,
    **options: Any,
) -> Any:
    """np.clip(a, a_min, a_max) or np.clip(a, min=..., max=...), NumPy's rules for which may be given."""
    refused = (["out="] if out is not None else []) + [f"{name}=" for name in sorted(options)]
    if refused:
        raise TypeError(f"clip on Nodes/Duals: {', '.join(refused)} not supported (dp makes new arrays)")
    if a_min is _MISSING and a_max is _MISSING:
        return clip(a, None if min is _MISSING else min, None if max is _MISSING else max)
    if a_min is _MISSING or a_max is _MISSING:
        raise TypeError("numpy.clip: give both a_min and a_max, or neither (and min=, max=)")
    if min is not _MISSING or max is not _MISSING:
        raise ValueError("numpy.clip: min= and max= cannot be given with a_min and a_max")
    return clip(a, a_min, a_max)


@method("clip")
def _method_clip(self: Any, min: Any = None, max: Any = None, out: Any = None, **options: Any) -> Any:
    """x.clip(min, max): x limited to [min, max] (None: no bound), as ndarray.clip."""
    return _numpy_clip(self, min=min, max=max, out=out, **options)


# --------------------------------------------------------------------------------------------
# Activations (dp.ops.softplus(x) and x.softplus(), ...)


def _array_like(x: Any) -> Any:
    """Lists and numbers as arrays (the composites below use operators, which lists lack)."""
    return x if hasattr(x, "shape") else np.asarray(x)


#: log(1 + exp(x)), as logaddexp(0, x).   d/dx = sigmoid(x): exact, and 1 at x = inf (logaddexp's
#: own rule, exp(x - out), is inf - inf there).
_softplus = primitive(
    "softplus", lambda x: np.logaddexp(0, x), vjp=lambda g, out, x: g * sigmoid(x), tangent="elementwise"
)


@method("softplus")
def softplus(x: Any) -> Any:
    """log(1 + exp(x)), finite and exact for any x, as logaddexp(0, x).   d/dx = sigmoid(x)."""
    return _softplus(x)


@method("log_sigmoid")
def log_sigmoid(x: Any) -> Any:
    """log(sigmoid(x)) = -softplus(-x), finite and exact for any x.   d/dx = sigmoid(-x)."""
    return -softplus(-_array_like(x))


def _elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))  # minimum: no overflow in the unused branch


def _elu_vjp(g, out, x, alpha):
    # alpha exp(x), not out + alpha, which cancels to 0 at x = -50 (where it is 4e-22). exp of x's
    # non-positive part: exp(x) would overflow where unused, and second order would meet 0 * inf.
    positive = plain(x) > 0
    return g * np.where(positive, 1, alpha * np.exp(np.where(positive, 0, x)))


# A primitive (one node, one rule) rather than the composite where(x > 0, x, alpha * expm1(x)),
# which would need a second where to keep exp's overflow in its unused branch out of the gradient.
#: x where x > 0, else alpha (exp(x) - 1).   d/dx = 1 where x > 0, else alpha exp(x) (alpha at 0, as PyTorch).
_elu_primitive = primitive("elu", _elu, vjp=_elu_vjp, tangent="elementwise")


@method("elu")
def elu(x: Any, alpha: float = 1.0) -> Any:
    """x where x > 0, else alpha (exp(x) - 1), as torch.nn.functional.elu."""
    return _elu_primitive(x, alpha=float(alpha))


_SQRT_HALF = math.sqrt(0.5)
_SQRT_TWO_OVER_PI = math.sqrt(2 / math.pi)


@method("gelu")
def gelu(x: Any, approximate: str = "none") -> Any:
    """x Phi(x), Phi the standard normal CDF, as torch.nn.functional.gelu: exactly, 0.5 x (1 + erf(x / sqrt 2)),
    computed as 0.5 x erfc(-x / sqrt 2), accurate relative to the value even in the negative tail;
    with approximate="tanh", 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = _array_like(x)
    if approximate == "none":  # erfc(-x / sqrt 2) = 1 + erf(x / sqrt 2), without its cancellation for x < 0
        return 0.5 * x * erfc(-x * _SQRT_HALF)
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_SQRT_TWO_OVER_PI * (x + 0.044715 * (x * x * x))))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


@method("silu")
def silu(x: Any) -> Any:
    """x sigmoid(x) (also called swish), as torch.nn.functional.silu."""
    x = _array_like(x)
    return x * sigmoid(x)


swish = silu

# --------------------------------------------------------------------------------------------
# where


_where = primitive(
    "where",
    lambda x, y, condition: np.where(condition, x, y),
    vjp=(
        lambda g, out, x, y, condition: np.where(condition, g, 0),
        lambda g, out, x, y, condition: np.where(condition, 0, g),
    ),
    tangent="linear",
    error="do not broadcast",
)


@implements(np.where)
def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """x where `condition` holds, else y.   d/dx = condition, d/dy = not condition."""
    if x is None and y is None:
        return np.where(plain(condition))  # the indices where it holds: not differentiable
    if x is None or y is None:
        raise ValueError("where: give both x and y, or neither (then the indices where the condition holds)")
    mask = np.asanyarray(plain(condition))  # the very array given: dp.trace knows a comparison's mask by it
    if mask.dtype.kind not in "biuf":
        raise TypeError(
            f"where: the condition must be booleans or numbers, got {type(condition).__name__} of dtype {mask.dtype}"
        )
    mask = mask.astype(bool, copy=False)
    try:
        np.broadcast_shapes(mask.shape, np.shape(plain(x)), np.shape(plain(y)))
    except ValueError:
        raise ValueError(
            f"where: shapes {mask.shape}, {np.shape(plain(x))} and {np.shape(plain(y))} do not broadcast"
        ) from None
    return _where(x, y, condition=mask)


# Comparisons and tests give booleans: they run on the plain values (np.sign is a primitive above).
NOT_DIFFERENTIABLE.update(
    {
        np.less,
        np.less_equal,
        np.greater,
        np.greater_equal,
        np.equal,
        np.not_equal,
        np.isfinite,
        np.isnan,
        np.isinf,
        np.signbit,
    }
)
