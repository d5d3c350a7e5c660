"""Forward mode: dual numbers, which carry a value and its derivative along one direction.

A `Dual(value, tangent)` is a value `x` together with `x'`, how fast it changes when the inputs
move along a chosen direction (seed 002: the seed tangents pick the direction). Every operation
computes its value and, beside it, each operand's share of the output's tangent, so the blog's

    (x, x') *. (y, y') = (x * y, x * y' + x' * y)

reads here as

    _apply("mul", operator.mul, (x, y), (lambda dx, out, x, y: dx * y,
                                         lambda dy, out, x, y: x * dy))

The shares of the operands are summed; an operand that is a constant (an array, a number) has no
tangent and contributes nothing, so no arrays of zeros are built for it. `jvp(f, primals,
tangents)` runs f once on duals and returns (f(x), J·v).

Design choices, each for a reason:

* One idiom for arrays, Nodes and Duals. Dual takes part in NumPy's `__array_ufunc__` and
  `__array_function__` protocols exactly as Node does, so a function written with NumPy's
  functions (`np.exp`, `np.tanh`, `np.where`, `np.concatenate`, `np.stack`, `np.maximum`, ...),
  operators, indexing and the methods `sum`, `mean`, `max`, `reshape`, `transpose`, `.T` runs
  unchanged on plain arrays (giving arrays), on Nodes (reverse mode) and on Duals (forward mode):

      sigmoid = lambda z: 1 / (1 + np.exp(-z))
      neuron = lambda p: sigmoid(p[0] * p[3] + p[1] * p[4] + p[2])

  dp's own methods (`x.sigmoid()`, `x.softmax()`, `x.relu()`) exist on Nodes and Duals but not on
  arrays. `dp.where`, `dp.concatenate`, `dp.stack` and `dp.maximum` (defined here) send Duals to
  forward mode and everything else to `dp.node`, so they always return a Node or a Dual.

* The value of every operation is Node's own forward computation (`_primal`), so forward and
  reverse mode agree to the last bit, stable formulas included (sigmoid, softmax at ±1000).

* The tangent rules are NumPy expressions, so a dual's value and tangent may themselves be Nodes
  (reverse over forward: `dp.grad` of a function that calls `jvp`) or Duals of an enclosing `jvp`
  (forward over forward). Each `jvp` gives its duals a fresh nesting `level`; an operation works
  at the innermost (highest) level among its operands and treats the others as constants. That
  avoids "perturbation confusion" (Siskind & Pearlmutter): in d/dx [x * d/dy (x + y)] the inner
  derivative must not see the outer x's tangent. The other order, a Node holding a Dual, cannot
  exist (a Node holds an array); forward over reverse is done in `dp.functional.grad` instead.
  Put a Dual before a Node in a binary operation (`dual * node`, not `node * dual`): Node's own
  operators only know arrays and raise a clear TypeError.

    >>> y, dy = jvp(lambda x: x * x, 3.0, 1.0)
    >>> float(y), float(dy)
    (9.0, 6.0)
"""

from __future__ import annotations

import itertools
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dp import node as _node
from dp.node import Node, as_node

#: A tangent rule: (the operand's tangent, the output, *operand values) -> its share of the
#: output's tangent. Everything in it may be an array, a Node or a Dual of an enclosing level.
JVP = Callable[..., Any]

#: Each jvp takes the next level; user-made Duals are level 0.
_levels = itertools.count(1)


class Dual:
    """A dual number: `value` with `tangent`, its derivative along one direction.

    `Dual(value, tangent)` takes numbers or arrays (lists too); the tangent has the value's shape
    (a number is repeated to fill it) and dtype. It has the same operators and methods as Node:

        >>> d = Dual(2.0, 1.0)
        >>> e = (d * d).exp()              # (exp(x^2), 2x exp(x^2) x')
        >>> round(float(e.tangent), 3)
        218.393

    `level` is the nesting level of forward mode the dual belongs to; `jvp` picks a fresh one, so
    you rarely set it. `==` compares identity, as for Node; `<`, `<=`, `>`, `>=` compare values.
    """

    __slots__ = ("value", "tangent", "level")

    def __init__(self, value: Any, tangent: Any = 0.0, *, level: int = 0):
        value = _component(value, "Dual(value)")
        tangent = _component(tangent, "Dual(tangent)", like=_dtype(value))
        value_shape, tangent_shape = _shape(value), _shape(tangent)
        if tangent_shape != value_shape:
            if tangent_shape != ():
                raise ValueError(f"Dual: the tangent's shape {tangent_shape} differs from the value's "
                                 f"shape {value_shape}")
            tangent = np.broadcast_to(tangent, value_shape)  # a number fills the value's shape
            if isinstance(tangent, np.ndarray):
                tangent = tangent.copy()  # a writable array of its own, not a read-only view
        self.value = value
        self.tangent = tangent
        self.level = level

    @staticmethod
    def _make(value: Any, tangent: Any, level: int) -> Dual:
        """A dual from parts already checked (the operations' fast path)."""
        dual = object.__new__(Dual)
        dual.value = value
        dual.tangent = tangent
        dual.level = level
        return dual

    # ----------------------------------------------------------------------------------------
    # Array-like properties, as Node has them

    @property
    def shape(self) -> tuple[int, ...]:
        return _shape(self.value)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def dtype(self) -> np.dtype:
        return _dtype(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d Dual")
        return (self[index] for index in range(len(self)))

    def __float__(self) -> float:
        return float(_plain(self))

    def item(self) -> float:
        return _plain(self).item()

    def __repr__(self) -> str:
        level = f", level={self.level}" if self.level else ""
        return f"Dual({_show(self.value)}, {_show(self.tangent)}{level})"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("a Dual cannot become a plain array without losing its tangent: use dual.value, "
                        "or put the Dual first (dual * node, not node * dual)")

    # ----------------------------------------------------------------------------------------
    # Arithmetic: (x, x') op (y, y'). Broadcasting is NumPy's; `_apply` gives the tangent the
    # output's shape.

    def __add__(self, other: Any) -> Dual:
        """(x, x') + (y, y') = (x + y, x' + y')."""
        return _apply("add", operator.add, (self, other), (_jvp_identity, _jvp_identity))

    def __sub__(self, other: Any) -> Dual:
        """(x, x') - (y, y') = (x - y, x' - y')."""
        return _apply("sub", operator.sub, (self, other), (_jvp_identity, _jvp_negate))

    def __mul__(self, other: Any) -> Dual:
        """(x, x') * (y, y') = (x y, x' y + x y')."""
        return _apply("mul", operator.mul, (self, other),
                      (lambda dx, out, x, y: dx * y,
                       lambda dy, out, x, y: x * dy))

    def __truediv__(self, other: Any) -> Dual:
        """(x, x') / (y, y') = (x / y, (y x' - x y') / y^2) = (x / y, x' / y - x y' / y^2)."""
        return _apply("div", operator.truediv, (self, other),
                      (lambda dx, out, x, y: dx / y,
                       lambda dy, out, x, y: -dy * x / (y * y)))

    def __pow__(self, other: Any) -> Dual:
        """(x, x') ** (y, y') = (x^y, x' y x^(y-1) + y' x^y log x), log x taken as 0 where x = 0.

        Where y = 0 the first share is 0 (x^0 = 1 is constant): x is replaced by 1 there, so that
        0 * 0^(-1) = 0 * inf never makes a NaN (PyTorch does the same)."""
        return _apply("pow", operator.pow, (self, other),
                      (lambda dx, out, x, y: dx * y * _base_for_power(x, y) ** (y - 1),
                       lambda dy, out, x, y: dy * out * np.log(np.where(_plain(x) == 0, 1, x))))

    def __matmul__(self, other: Any) -> Dual:
        """(x, x') @ (y, y') = (x @ y, x' @ y + x @ y'): the product rule, for matrices too."""
        return _apply("matmul", operator.matmul, (self, other),
                      (lambda dx, out, x, y: dx @ y,
                       lambda dy, out, x, y: x @ dy))

    dot = __matmul__

    # Reflected operators: `2 - d` is `Dual.__sub__(2, d)`; `_apply` finds the dual wherever it is.
    def __radd__(self, other: Any) -> Dual:
        return Dual.__add__(other, self)

    def __rsub__(self, other: Any) -> Dual:
        return Dual.__sub__(other, self)

    def __rmul__(self, other: Any) -> Dual:
        return Dual.__mul__(other, self)

    def __rtruediv__(self, other: Any) -> Dual:
        return Dual.__truediv__(other, self)

    def __rpow__(self, other: Any) -> Dual:
        return Dual.__pow__(other, self)

    def __rmatmul__(self, other: Any) -> Dual:
        return Dual.__matmul__(other, self)

    def __neg__(self) -> Dual:
        """-(x, x') = (-x, -x')."""
        return _apply("neg", operator.neg, (self,), (_jvp_negate,))

    def __pos__(self) -> Dual:
        return self

    def __abs__(self) -> Dual:
        """|(x, x')| = (|x|, x' sign(x)), with sign(0) = 0 as in reverse mode."""
        return _apply("abs", abs, (self,), (lambda dx, out, x: dx * np.sign(_plain(x)),))

    abs = __abs__

    # Comparisons give plain boolean arrays: they are not differentiable.
    def __lt__(self, other: Any) -> np.ndarray:
        return _plain(self) < _plain(other)

    def __le__(self, other: Any) -> np.ndarray:
        return _plain(self) <= _plain(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return _plain(self) > _plain(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return _plain(self) >= _plain(other)

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    # ----------------------------------------------------------------------------------------
    # Element-wise functions

    def exp(self) -> Dual:
        """exp(x, x') = (exp x, x' exp x) = (out, x' out)."""
        return _apply("exp", np.exp, (self,), (lambda dx, out, x: dx * out,))

    def log(self) -> Dual:
        """log(x, x') = (log x, x' / x)."""
        return _apply("log", np.log, (self,), (lambda dx, out, x: dx / x,))

    def sin(self) -> Dual:
        """sin(x, x') = (sin x, x' cos x)."""
        return _apply("sin", np.sin, (self,), (lambda dx, out, x: dx * np.cos(x),))

    def cos(self) -> Dual:
        """cos(x, x') = (cos x, -x' sin x)."""
        return _apply("cos", np.cos, (self,), (lambda dx, out, x: -dx * np.sin(x),))

    def tanh(self) -> Dual:
        """tanh(x, x') = (tanh x, x' (1 - tanh^2 x))."""
        return _apply("tanh", np.tanh, (self,), (lambda dx, out, x: dx * (1 - out * out),))

    def sigmoid(self) -> Dual:
        """sigmoid(x, x') = (s, x' s (1 - s)) with s = 1 / (1 + exp(-x)), finite for any x."""
        return _apply("sigmoid", _primal("sigmoid"), (self,), (lambda dx, out, x: dx * out * (1 - out),))

    def relu(self) -> Dual:
        """relu(x, x') = (max(x, 0), x' where x > 0, else 0)."""
        return _apply("relu", _primal("relu"), (self,), (lambda dx, out, x: dx * (_plain(x) > 0),))

    def leaky_relu(self, alpha: float = 0.01) -> Dual:
        """leaky_relu(x, x') = (x or alpha x, x' or alpha x'), by the sign of x."""
        return _apply("leaky_relu", _primal("leaky_relu", alpha), (self,),
                      (lambda dx, out, x: np.where(_plain(x) > 0, dx, alpha * dx),))

    def sqrt(self) -> Dual:
        """sqrt(x, x') = (sqrt x, x' / (2 sqrt x))."""
        return _apply("sqrt", np.sqrt, (self,), (lambda dx, out, x: dx * 0.5 / out,))

    def softmax(self, axis: int = -1) -> Dual:
        """softmax(x, x') = (s, s (x' - sum(x' s))) along `axis`."""
        return _apply("softmax", _primal("softmax", axis), (self,),
                      (lambda dx, out, x: out * (dx - (dx * out).sum(axis=axis, keepdims=True)),))

    def log_softmax(self, axis: int = -1) -> Dual:
        """log_softmax(x, x') = (l, x' - sum(x' exp(l))) along `axis` (exp(l) is the softmax)."""
        return _apply("log_softmax", _primal("log_softmax", axis), (self,),
                      (lambda dx, out, x: dx - (dx * np.exp(out)).sum(axis=axis, keepdims=True),))

    # ----------------------------------------------------------------------------------------
    # Reductions

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Dual:
        """sum(x, x') = (sum x, sum x') over `axis`."""
        return _apply("sum", _primal("sum", axis, keepdims), (self,),
                      (lambda dx, out, x: dx.sum(axis=axis, keepdims=keepdims),))

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Dual:
        """mean(x, x') = (mean x, mean x') over `axis`."""
        return _apply("mean", _primal("mean", axis, keepdims), (self,),
                      (lambda dx, out, x: dx.mean(axis=axis, keepdims=keepdims),))

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Dual:
        """max(x, x') = (max x, x' at the maximum); tied maxima share it equally, as in reverse mode."""
        def tangent(dx, out, x):
            values = _plain(x)
            is_max = values == values.max(axis=axis, keepdims=True)
            share = (is_max / is_max.sum(axis=axis, keepdims=True)).astype(values.dtype)
            return (dx * share).sum(axis=axis, keepdims=keepdims)

        return _apply("max", _primal("max", axis, keepdims), (self,), (tangent,))

    # ----------------------------------------------------------------------------------------
    # Shape operations: the tangent moves with the value.

    def reshape(self, *shape: int | Sequence[int]) -> Dual:
        """reshape(x, x') = (reshape x, reshape x')."""
        new_shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) else shape
        new_shape = tuple(new_shape)
        return _apply("reshape", _primal("reshape", new_shape), (self,),
                      (lambda dx, out, x: dx.reshape(_shape(out)),))

    def transpose(self, *axes: int | Sequence[int]) -> Dual:
        """transpose(x, x') = (transpose x, transpose x') (axes reversed if none are given)."""
        order = axes[0] if len(axes) == 1 and not isinstance(axes[0], numbers.Integral) else axes
        order = tuple(range(self.ndim))[::-1] if not order else tuple(order)
        return _apply("transpose", _primal("transpose", order), (self,),
                      (lambda dx, out, x: dx.transpose(order),))

    @property
    def T(self) -> Dual:
        """The transpose (axes reversed)."""
        return self.transpose()

    def swapaxes(self, axis1: int, axis2: int) -> Dual:
        """Exchange two axes."""
        order = list(range(self.ndim))
        try:
            order[axis1], order[axis2] = order[axis2], order[axis1]
        except (IndexError, TypeError):
            raise ValueError(f"swapaxes: axes {axis1} and {axis2} do not fit shape {self.shape}") from None
        return self.transpose(order)

    def __getitem__(self, key: Any) -> Dual:
        """(x, x')[key] = (x[key], x'[key])."""
        key = _plain_index(key)
        return _apply("getitem", _primal("__getitem__", key), (self,), (lambda dx, out, x: dx[key],))

    def broadcast_to(self, shape: tuple[int, ...]) -> Dual:
        """broadcast_to((x, x'), shape) = (broadcast x, broadcast x')."""
        shape = tuple(shape)
        return _apply("broadcast_to", _primal("broadcast_to", shape), (self,),
                      (lambda dx, out, x: np.broadcast_to(dx, shape),))

    # ----------------------------------------------------------------------------------------
    # NumPy interoperability: np.exp(dual), array * dual, np.where(c, dual, 0) give Duals.

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "__call__" and not kwargs:
            if ufunc in _NOT_DIFFERENTIABLE:
                return ufunc(*(_plain(x) for x in inputs))
            operation = _UFUNCS.get(ufunc)
            if operation is not None:
                return operation(*inputs)
        raise TypeError(f"dp.Dual does not support numpy.{ufunc.__name__}.{method} with {kwargs or 'these arguments'}")

    def __array_function__(self, func: Callable, types: Any, args: Any, kwargs: Any) -> Any:
        operation = _FUNCTIONS.get(func)
        if operation is None:
            raise TypeError(f"dp.Dual does not support numpy.{func.__name__}; use dual.value and dual.tangent")
        return operation(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# One operation on duals


def _apply(op: str, forward: Callable[..., Any], operands: Sequence[Any], rules: Sequence[JVP]) -> Dual:
    """Apply `forward` to the operands' values and sum the tangent shares of those that have one.

    The operation works at the innermost level among its dual operands; duals of other (outer)
    levels, Nodes and arrays are constants there. The tangent is broadcast to the output's shape.
    """
    level, values, tangents = _split(operands)
    try:
        out = forward(*values)
    except ValueError as error:
        if len(values) < 2:
            raise  # Node's own message already names the shape
        shapes = " and ".join(str(_shape(value)) for value in values)
        raise ValueError(f"{op}: operands of shapes {shapes}: {error}") from None
    tangent = None
    for rule, dx in zip(rules, tangents):
        if dx is not None:
            share = rule(dx, out, *values)
            tangent = share if tangent is None else tangent + share
    return Dual._make(out, _fit(tangent, _shape(out)), level)


def _split(operands: Sequence[Any]) -> tuple[int, list[Any], list[Any]]:
    """The innermost level, each operand's value at that level, and its tangent (None: constant)."""
    level = max(x.level for x in operands if isinstance(x, Dual))
    like = next(_dtype(x.value) for x in operands if isinstance(x, Dual) and x.level == level)
    values, tangents = [], []
    for x in operands:
        if isinstance(x, Dual) and x.level == level:
            values.append(x.value)
            tangents.append(x.tangent)
        else:
            values.append(_constant(x, like))
            tangents.append(None)
    return level, values, tangents


def _primal(method: str, *args: Any) -> Callable[[Any], Any]:
    """The forward value of Node's operation `method`: on a Node or a Dual, its own method; on an
    array, Node's method on a constant (so the numerics, stable formulas included, are Node's)."""
    def forward(x: Any) -> Any:
        if isinstance(x, Node | Dual):
            return getattr(x, method)(*args)
        return getattr(as_node(x), method)(*args).value
    return forward


def _base_for_power(x: Any, y: Any) -> Any:
    """x, with 1 in its place where the exponent y is 0 (see `Dual.__pow__`)."""
    zero = _plain(y) == 0
    if not np.any(zero):
        return x
    return np.where(zero, np.ones((), _dtype(x)), x)  # a one of x's dtype: float32 stays float32


def _jvp_identity(dx, out, *values):
    return dx


def _jvp_negate(dx, out, *values):
    return -dx


# --------------------------------------------------------------------------------------------
# Module-level operations on several operands: Duals here, anything else in dp.node


def concatenate(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Join along an existing axis.   concatenate((x, x'), (y, y')) = (concatenate(x, y), concatenate(x', y'))."""
    arrays = list(arrays)
    if not any(isinstance(x, Dual) for x in arrays):
        return _node.concatenate(arrays, axis)
    return _joining("concatenate", np.concatenate, arrays, axis)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Join along a new axis.   stack((x, x'), (y, y')) = (stack(x, y), stack(x', y'))."""
    arrays = list(arrays)
    if not any(isinstance(x, Dual) for x in arrays):
        return _node.stack(arrays, axis)
    return _joining("stack", np.stack, arrays, axis)


def where(condition: Any, x: Any, y: Any) -> Any:
    """x where `condition` holds, else y.   where(c, (x, x'), (y, y')) = (where(c, x, y), where(c, x', y'))."""
    if not (isinstance(x, Dual) or isinstance(y, Dual)):
        return _node.where(condition, x, y)
    condition = np.asarray(_plain(condition), dtype=bool)
    return _apply("where", lambda a, b: np.where(condition, a, b), (x, y),
                  (lambda dx, out, a, b: np.where(condition, dx, 0),
                   lambda dy, out, a, b: np.where(condition, 0, dy)))


def maximum(a: Any, b: Any) -> Any:
    """Element-wise maximum.   The tangent of the larger operand; ties take the mean of both, as in reverse mode."""
    if not (isinstance(a, Dual) or isinstance(b, Dual)):
        return _node.maximum(a, b)

    def share(dx, first, second):
        first, second = _plain(first), _plain(second)
        return np.where(first > second, dx, np.where(first == second, dx * 0.5, 0))

    return _apply("maximum", np.maximum, (a, b),
                  (lambda da, out, a, b: share(da, a, b),
                   lambda db, out, a, b: share(db, b, a)))


def _joining(op: str, join: Callable[..., Any], arrays: list[Any], axis: int) -> Dual:
    """concatenate or stack: the values joined, and the tangents joined (zeros for constants)."""
    level, values, tangents = _split(arrays)
    try:
        out = join(values, axis=axis)
    except ValueError as error:
        shapes = ", ".join(str(_shape(value)) for value in values)
        raise ValueError(f"{op}: shapes {shapes}: {error}") from None
    dtype = _dtype(out)
    tangents = [np.zeros(_shape(value), dtype) if dx is None else dx for value, dx in zip(values, tangents)]
    return Dual._make(out, join(tangents, axis=axis), level)


# --------------------------------------------------------------------------------------------
# jvp: forward mode on a function


def jvp(f: Callable[..., Any], primals: Any, tangents: Any) -> tuple[Any, Any]:
    """Forward mode: (f(primals), J·tangents), in one forward pass.

    `primals` is a tuple of f's positional arguments, or anything else for f's only argument (a
    list is one argument: `jvp(neuron, [1, 2, -3, -1, 3], [1, 0, 0, 0, 0])`). Each argument is a
    number, an array, a Node, a Dual, or a list/tuple of them; `tangents` has the same structure,
    each tangent its primal's shape. Seeding one input element with 1 and the rest with 0 gives
    one column of the Jacobian; a tangent of all ones gives the sum of the columns (the
    directional derivative along (1, ..., 1)).

        >>> value, slope = jvp(np.sin, 0.0, 1.0)
        >>> float(value), float(slope)
        (0.0, 1.0)

    The result has f's output structure: arrays (a Node or Dual where the primals held one).
    """
    arguments, directions = ((primals, tangents) if isinstance(primals, tuple)
                             else ((primals,), (tangents,)))
    if not isinstance(directions, tuple | list) or len(directions) != len(arguments):
        raise ValueError(f"jvp: {len(arguments)} primal argument(s) but tangents {_describe(directions)}")
    level = next(_levels)
    duals = tuple(_seed_duals(argument, direction, level, index)
                  for index, (argument, direction) in enumerate(zip(arguments, directions)))
    leaves, rebuild = flatten(f(*duals))
    values, slopes = [], []
    for leaf in leaves:
        if isinstance(leaf, Dual) and leaf.level == level:
            values.append(leaf.value)
            slopes.append(_writable(leaf.tangent))
        else:  # an output that does not depend on the primals
            values.append(leaf)
            slopes.append(np.zeros(_shape(leaf), _float_dtype(leaf)))
    return rebuild(values), rebuild(slopes)


def _seed_duals(argument: Any, direction: Any, level: int, index: int) -> Any:
    primal_leaves, rebuild = flatten(argument)
    tangent_leaves, _ = flatten(direction)
    if len(tangent_leaves) != len(primal_leaves):
        raise ValueError(f"jvp: argument {index} has {len(primal_leaves)} array(s) but its tangent has "
                         f"{len(tangent_leaves)}; tangents must have the primals' structure")
    duals = []
    for primal, tangent in zip(primal_leaves, tangent_leaves):
        value = _component(primal, f"jvp(primals) argument {index}")
        tangent = _component(tangent, f"jvp(tangents) argument {index}", like=_dtype(value))
        if _shape(tangent) != _shape(value):
            raise ValueError(f"jvp: the tangent for argument {index} has shape {_shape(tangent)}, "
                             f"but its primal has shape {_shape(value)}")
        duals.append(Dual._make(value, tangent, level))
    return rebuild(duals)


# --------------------------------------------------------------------------------------------
# Argument structures: lists and tuples of arrays, as the blog's neuron [a, b, c, x, y]


def flatten(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """The leaves of nested lists/tuples, and a function that builds the same structure from new
    leaves. Anything that is not a list or a tuple (a number, an array, a Node, a Dual) is a leaf."""
    if not isinstance(tree, list | tuple):
        return [tree], lambda leaves: leaves[0]
    parts = [flatten(item) for item in tree]
    sizes = [len(leaves) for leaves, _ in parts]

    def rebuild(leaves: list[Any]) -> Any:
        items, start = [], 0
        for (_, build), size in zip(parts, sizes):
            items.append(build(leaves[start:start + size]))
            start += size
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)  # namedtuples too

    return [leaf for leaves, _ in parts for leaf in leaves], rebuild


# --------------------------------------------------------------------------------------------
# Helpers


def _component(x: Any, where: str, like: np.dtype | None = None) -> Any:
    """A dual's value or tangent: a Node or Dual as it is, anything else as a float array."""
    if isinstance(x, Node | Dual):
        return x
    array = _node._as_float_array(x, where, like=like)
    if like is not None and like.kind == "f" and array.dtype != like:
        array = array.astype(like)  # a float tangent (1.0, a float64 array) takes the value's dtype
    return array


def _constant(x: Any, like: np.dtype) -> Any:
    """An operand without a tangent at this level: Nodes and Duals as they are; numbers and
    integer arrays in the dual's dtype, so that float32 stays float32 in the tangent rules too
    (log(2) of a Python 2 would be a float64 array)."""
    if isinstance(x, Node | Dual):
        return x
    if type(x) in (float, int):
        return np.asarray(x, dtype=like if like.kind == "f" else np.float64)
    return _node._as_float_array(x, "operand", like=like)


def _fit(tangent: Any, shape: tuple[int, ...]) -> Any:
    """The tangent broadcast to the output's shape (an operand may have been broadcast)."""
    return tangent if _shape(tangent) == shape else np.broadcast_to(tangent, shape)


def _plain(x: Any) -> Any:
    """The plain array inside Duals and Nodes (for masks and comparisons, never differentiated)."""
    while isinstance(x, Dual | Node):
        x = x.value
    return x


def _plain_index(key: Any) -> Any:
    """An index with any Duals or Nodes in it replaced by their values."""
    if isinstance(key, tuple):
        return tuple(_plain(part) for part in key)
    return _plain(key)


def _shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Node | Dual | np.ndarray | np.generic) else np.shape(x)


def _dtype(x: Any) -> np.dtype:
    return np.asarray(_plain(x)).dtype


def _float_dtype(x: Any) -> np.dtype:
    dtype = _dtype(x)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _writable(x: Any) -> Any:
    """A broadcast tangent is a read-only view; hand the caller an array of its own."""
    return x.copy() if isinstance(x, np.ndarray) and not x.flags.writeable else x


def _show(x: Any) -> str:
    return repr(x) if isinstance(x, Node | Dual) else np.array2string(np.asarray(x), separator=", ")


def _describe(x: Any) -> str:
    return f"has {len(x)}" if isinstance(x, tuple | list) else f"is one {type(x).__name__}"


_UFUNCS: dict[np.ufunc, Callable[..., Dual]] = {
    np.add: Dual.__add__,
    np.subtract: Dual.__sub__,
    np.multiply: Dual.__mul__,
    np.true_divide: Dual.__truediv__,
    np.power: Dual.__pow__,
    np.matmul: Dual.__matmul__,
    np.maximum: maximum,
    np.negative: Dual.__neg__,
    np.absolute: Dual.__abs__,
    np.exp: Dual.exp,
    np.log: Dual.log,
    np.sin: Dual.sin,
    np.cos: Dual.cos,
    np.tanh: Dual.tanh,
    np.sqrt: Dual.sqrt,
}
# Comparisons and sign have zero derivative almost everywhere: they act on plain values.
_NOT_DIFFERENTIABLE = {np.less, np.less_equal, np.greater, np.greater_equal, np.sign}
_FUNCTIONS: dict[Callable, Callable[..., Dual]] = {
    np.sum: lambda x, axis=None, keepdims=False: x.sum(axis, keepdims),
    np.mean: lambda x, axis=None, keepdims=False: x.mean(axis, keepdims),
    np.max: lambda x, axis=None, keepdims=False: x.max(axis, keepdims),
    np.amax: lambda x, axis=None, keepdims=False: x.max(axis, keepdims),
    np.reshape: lambda x, shape: x.reshape(shape),
    np.transpose: lambda x, axes=None: x.transpose(axes or ()),
    np.swapaxes: lambda x, axis1, axis2: x.swapaxes(axis1, axis2),
    np.broadcast_to: lambda x, shape: Dual.broadcast_to(x, shape),
    np.dot: Dual.__matmul__,
    np.where: where,
    np.concatenate: concatenate,
    np.stack: stack,
}
