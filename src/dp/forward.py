"""Forward mode: dual numbers, which carry a value and its derivative along one direction.

A `Dual(value, tangent)` is a value `x` together with `x'`, how fast it changes when the inputs
move along a chosen direction (the project sheet "Algorithmic differentiation for machine
learning": the seed tangents pick the direction). The blog post's

    (x, x') *. (y, y') = (x * y, x * y' + x' * y)

is not written here at all: every operation is a primitive of the one table (node.py and
dp/ops/), and its tangent rule is part of its definition there, mostly derived (element-wise
operations reuse their VJP, linear ones apply themselves to the tangent, products are
multilinear). A Dual only has to say what to do with a primitive applied to it: `__dp_apply__`
computes the value with the primitive itself and the tangent with the primitive's tangent rule.
So the values of both modes are the same computation, to the last bit, stable formulas included.
`jvp(f, primals, tangents)` runs f once on duals and returns (f(x), J·v).

Design choices, each for a reason:

* One idiom for arrays, Nodes and Duals: Dual takes part in NumPy's protocols exactly as Node
  does, so a function written with NumPy's functions, operators, indexing and methods runs
  unchanged on plain arrays, on Nodes (reverse mode) and on Duals (forward mode). Node and Dual
  mix in any order (`node * dual` is a Dual whose parts are Nodes).
* The rules are NumPy expressions, so a dual's value and tangent may themselves be Nodes (reverse
  over forward) or Duals of an enclosing `jvp` (forward over forward). Each `jvp` gives its duals
  a fresh nesting `level`; an operation works at the innermost (highest) level among its operands
  and treats the others as constants. That avoids "perturbation confusion" (Siskind &
  Pearlmutter): in d/dx [x * d/dy (x + y)] the inner derivative must not see the outer x's tangent.

    >>> y, dy = jvp(lambda x: x * x, 3.0, 1.0)
    >>> float(y), float(dy)
    (9.0, 6.0)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import dp.ops  # noqa: F401  (the catalogue: every operation a Dual can take part in)
from dp import node as _node
from dp.node import Node, Primitive, array_type, numpy_function, numpy_ufunc, plain
from dp.trees import flatten, leaves_like
from dp.types import Operand

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
    you rarely set it. Comparisons (`==`, `<`, ...) compare values element-wise, as for Node.
    """

    __slots__ = ("value", "tangent", "level")

    if TYPE_CHECKING:  # for mypy only: the catalogue's methods, which dp/ops/ installs at import
        # (indexing gives a Dual; comparisons give plain boolean arrays, never differentiated)

        def __getattr__(self, name: str) -> Any: ...
        def __getitem__(self, key: Any) -> Dual: ...
        def __lt__(self, other: Any) -> np.ndarray: ...
        def __le__(self, other: Any) -> np.ndarray: ...
        def __gt__(self, other: Any) -> np.ndarray: ...
        def __ge__(self, other: Any) -> np.ndarray: ...

    __array_priority__ = 200

    def __init__(self, value: Operand, tangent: Operand = 0.0, *, level: int = 0):
        value = _component(value, "Dual(value)")
        tangent = _component(tangent, "Dual(tangent)", like=_dtype(value))
        value_shape, tangent_shape = _shape(value), _shape(tangent)
        if tangent_shape != value_shape:
            if tangent_shape != ():
                raise ValueError(
                    f"Dual: the tangent's shape {tangent_shape} differs from the value's shape {value_shape}"
                )
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
        return float(plain(self))

    def __int__(self) -> int:
        return int(plain(self))

    def __bool__(self) -> bool:
        return bool(plain(self))

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError("a Dual is immutable: build a new one, e.g. with np.where(mask, new, x) or dp.concatenate")

    def item(self) -> float:
        return plain(self).item()

    def __repr__(self) -> str:
        level = f", level={self.level}" if self.level else ""
        return f"Dual({_show(self.value)}, {_show(self.tangent)}{level})"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            "a Dual cannot become a plain array without losing its tangent: np.array of a "
            "list of Duals is dp.stack(list); dual.value is the plain value, but taking it "
            "stops the derivative"
        )

    # ----------------------------------------------------------------------------------------
    # Forward mode: what a primitive does on duals

    @staticmethod
    def __dp_apply__(operation: Primitive, operands: Sequence[Any], params: dict[str, Any]) -> Dual:
        """The value by the operation itself, the tangent by its tangent rule, at the innermost level."""
        level, values, tangents = _split(operands)
        out = operation(*values, **params)
        if not operation.differentiable:
            return Dual._make(out, np.zeros(_shape(out), _float_dtype(out)), level)
        return Dual._make(out, _fit(_tangent(operation, tangents, out, values, params), _shape(out)), level)

    # Operators: each is the primitive applied to both operands (reflected ones swap them).
    def __add__(self, other: Any) -> Dual:
        return _node.add(self, other)

    def __radd__(self, other: Any) -> Dual:
        return _node.add(other, self)

    def __sub__(self, other: Any) -> Dual:
        return _node.subtract(self, other)

    def __rsub__(self, other: Any) -> Dual:
        return _node.subtract(other, self)

    def __mul__(self, other: Any) -> Dual:
        return _node.multiply(self, other)

    def __rmul__(self, other: Any) -> Dual:
        return _node.multiply(other, self)

    def __truediv__(self, other: Any) -> Dual:
        return _node.divide(self, other)

    def __rtruediv__(self, other: Any) -> Dual:
        return _node.divide(other, self)

    def __pow__(self, other: Any) -> Dual:
        return _node.power(self, other)

    def __rpow__(self, other: Any) -> Dual:
        return _node.power(other, self)

    def __matmul__(self, other: Any) -> Dual:
        return _node.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Dual:
        return _node.matmul(other, self)

    def __neg__(self) -> Dual:
        return _node.negative(self)

    def __pos__(self) -> Dual:
        return self

    # Comparisons: element-wise on the values, given to Node and Dual alike by node.py.
    __hash__ = object.__hash__

    # NumPy interoperability: np.exp(dual), array * dual, np.where(c, dual, 0) give Duals.
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return numpy_ufunc("Dual", ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Callable, types: Any, args: Any, kwargs: Any) -> Any:
        return numpy_function("Dual", func, args, kwargs)


array_type(Dual)


def _tangent(operation: Primitive, tangents: list[Any], out: Any, values: list[Any], params: dict[str, Any]) -> Any:
    """The output's tangent from the operands' (None for a constant), by the operation's tangent rule."""
    rule = operation.tangent
    if rule is None:
        raise NotImplementedError(
            f"{operation.name}: this operation has no forward-mode (tangent) rule, only "
            "a reverse-mode (vjp) rule; use reverse mode (dp.grad, dp.vjp), or define it "
            "with a tangent= rule"
        )
    if rule == "linear":  # the operation applied to the tangents, zeros for constants
        return operation(
            *[
                np.zeros(_shape(value), _float_dtype(value)) if dx is None else dx
                for dx, value in zip(tangents, values)
            ],
            **params,
        )
    total = None
    for index, dx in enumerate(tangents):
        if dx is None:
            continue
        if rule == "multilinear":  # the product rule: this operand replaced by its tangent
            share = operation(*values[:index], dx, *values[index + 1 :], **params)
        elif rule == "elementwise":  # a diagonal Jacobian: the VJP rule applied to the tangent
            share = (
                operation.vjps[0](dx, out, *values, index=index, **params)
                if operation.variadic
                else operation.vjps[index](dx, out, *values, **params)
            )
        elif callable(rule):
            share = rule(dx, out, *values, **params)
        else:
            share = rule[index](dx, out, *values, **params)  # type: ignore[operator]  # the one case left: a sequence of rules, one per operand
        if getattr(share, "shape", None) is None:
            raise TypeError(f"{operation.name}: a tangent rule returned {type(share).__name__}, not an array")
        total = share if total is None else total + share
    return total


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


# --------------------------------------------------------------------------------------------
# jvp: forward mode on a function


def jvp(f: Callable[..., Any], primals: Any, tangents: Any) -> tuple[Any, Any]:
    """Forward mode: (f(primals), J·tangents), in one forward pass.

    `primals` is a tuple of f's positional arguments, or anything else for f's only argument (a
    list is one argument: `jvp(neuron, [1, 2, -3, -1, 3], [1, 0, 0, 0, 0])`). Each argument is a
    number, an array, a Node, a Dual, or a dict/list/tuple of them, nested (`dp.trees`);
    `tangents` has the same structure (dict keys matched by name), each tangent its primal's
    shape. Keyword arguments for f: `jvp(functools.partial(f, scale=2), primals, tangents)`.
    Seeding one input element with 1 and the rest with 0 gives one column of the Jacobian; a
    tangent of all ones gives the sum of the columns (the directional derivative along (1, ..., 1)).

        >>> value, slope = jvp(np.sin, 0.0, 1.0)
        >>> float(value), float(slope)
        (0.0, 1.0)

    Both results have f's output structure (a dict, tuple, ... of arrays; a Node or Dual where
    the primals held one).
    """
    arguments, directions = (primals, tangents) if isinstance(primals, tuple) else ((primals,), (tangents,))
    if not isinstance(directions, tuple | list) or len(directions) != len(arguments):
        raise ValueError(f"jvp: {len(arguments)} primal argument(s) but tangents {_describe(directions)}")
    level = next(_levels)
    duals = tuple(
        _seed_duals(argument, direction, level, index)
        for index, (argument, direction) in enumerate(zip(arguments, directions))
    )
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
    tangent_leaves = leaves_like(direction, argument, f"jvp: the tangent of argument {index}")
    duals = []
    for primal, tangent in zip(primal_leaves, tangent_leaves):
        value = _component(primal, f"jvp(primals) argument {index}")
        tangent = _component(tangent, f"jvp(tangents) argument {index}", like=_dtype(value))
        if _shape(tangent) != _shape(value):
            raise ValueError(
                f"jvp: the tangent for argument {index} has shape {_shape(tangent)}, "
                f"but its primal has shape {_shape(value)}"
            )
        duals.append(Dual._make(value, tangent, level))
    return rebuild(duals)


# --------------------------------------------------------------------------------------------
# Argument structures: lists and tuples of arrays, as the blog's neuron [a, b, c, x, y]


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


def _shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Node | Dual | np.ndarray | np.generic) else np.shape(x)


def _dtype(x: Any) -> np.dtype:
    return np.asarray(plain(x)).dtype


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
