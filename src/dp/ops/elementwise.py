"""Element-wise operations: functions of one or two arrays, applied element by element.

Each is one primitive with tangent="elementwise": the Jacobian is diagonal, so forward mode
reuses the VJP rule. Broadcasting is NumPy's; `unbroadcast` in node.py undoes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dp.node import NOT_DIFFERENTIABLE, Primitive, implements, method, plain, primitive

__all__ = ["abs", "cos", "leaky_relu", "maximum", "relu", "sigmoid", "sin", "sqrt", "where"]


def elementwise(name: str, forward: Any, vjp: Any, *numpy_functions: Any, methods: tuple[str, ...] = (),
                **options: Any) -> Primitive:
    """An element-wise primitive, registered as the NumPy functions and methods it stands for."""
    operation = primitive(name, forward, vjp=vjp, tangent="elementwise", **options)
    implements(*numpy_functions)(operation)
    if methods:
        method(*methods)(operation)
    return operation


#: sin(x).   d/dx = cos(x).
sin = elementwise("sin", np.sin, lambda g, out, x: g * np.cos(x), np.sin, methods=("sin",))
#: cos(x).   d/dx = -sin(x).
cos = elementwise("cos", np.cos, lambda g, out, x: -g * np.sin(x), np.cos, methods=("cos",))
#: sqrt(x).   d/dx = 1 / (2 sqrt(x)) = 0.5 / out.
sqrt = elementwise("sqrt", np.sqrt, lambda g, out, x: g * 0.5 / out, np.sqrt, methods=("sqrt",))
#: |x|.   d/dx = sign(x) (0 at x = 0, as PyTorch).
abs = elementwise("abs", np.abs, lambda g, out, x: g * np.sign(plain(x)), np.absolute, np.fabs,
                  methods=("abs", "__abs__"))


def _stable_sigmoid(x: Any) -> Any:
    # 1 / (1 + exp(-x)) is accurate to the last bit everywhere; where exp(-x) overflows (x < -709
    # in float64, x < -88 in float32) it gives 1 / inf = 0, the correctly rounded answer, so the
    # overflow warning is noise. Silencing it costs about 1.5 us, as much as a scalar sigmoid
    # itself: scalars that cannot overflow (the blog's neuron, say) skip it.
    if isinstance(x, np.generic) and x > -80:
        return 1 / (1 + np.exp(-x))
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


#: 1 / (1 + exp(-x)), exact and finite for any x.   d/dx = out (1 - out).
sigmoid = elementwise("sigmoid", _stable_sigmoid, lambda g, out, x: g * out * (1 - out), methods=("sigmoid",))
#: max(x, 0).   d/dx = 1 where x > 0, else 0.
relu = elementwise("relu", lambda x: np.maximum(x, 0), lambda g, out, x: g * (plain(x) > 0), methods=("relu",))
_leaky_relu = primitive("leaky_relu", lambda x, alpha: np.where(x > 0, x, alpha * x),
                        vjp=lambda g, out, x, alpha: np.where(plain(x) > 0, g, alpha * g), tangent="elementwise")


@method("leaky_relu")
def leaky_relu(x: Any, alpha: float = 0.01) -> Any:
    """x where x > 0, else alpha x.   d/dx = 1 where x > 0, else alpha."""
    return _leaky_relu(x, alpha=alpha)


def _share_of_larger(g: Any, first: Any, second: Any) -> Any:
    """g where `first` is the larger, half of g where they tie (as PyTorch), else 0."""
    first, second = plain(first), plain(second)
    return np.where(first > second, g, np.where(first == second, g * 0.5, 0))


#: Element-wise maximum.   d/da = 1 where a > b, d/db = 1 where b > a; ties share it.
maximum = elementwise("maximum", np.maximum,
                      (lambda g, out, a, b: _share_of_larger(g, a, b),
                       lambda g, out, a, b: _share_of_larger(g, b, a)), np.maximum, error="do not broadcast")

_where = primitive("where", lambda x, y, condition: np.where(condition, x, y),
                   vjp=(lambda g, out, x, y, condition: np.where(condition, g, 0),
                        lambda g, out, x, y, condition: np.where(condition, 0, g)), tangent="linear",
                   error="do not broadcast")


@implements(np.where)
def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """x where `condition` holds, else y.   d/dx = condition, d/dy = not condition."""
    if x is None or y is None:
        return np.where(plain(condition))  # the indices where it holds: not differentiable
    mask = np.asarray(plain(condition))
    if mask.dtype.kind not in "biuf":
        raise TypeError(f"where: the condition must be booleans or numbers, got {type(condition).__name__}"
                        f" of dtype {mask.dtype}")
    mask = mask.astype(bool, copy=False)
    try:
        np.broadcast_shapes(mask.shape, np.shape(plain(x)), np.shape(plain(y)))
    except ValueError:
        raise ValueError(f"where: shapes {mask.shape}, {np.shape(plain(x))} and {np.shape(plain(y))} "
                         "do not broadcast") from None
    return _where(x, y, condition=mask)


NOT_DIFFERENTIABLE.update({np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
                           np.sign, np.isfinite, np.isnan, np.isinf, np.signbit})
