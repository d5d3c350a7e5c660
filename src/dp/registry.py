"""The indexes of the table of operations, and NumPy's protocols reading them.

Every primitive is listed by name (`PRIMITIVES`); the NumPy ufuncs and functions it stands for
(`implements`) and its ndarray method spellings (`method`) are recorded here, so that Node and
Dual (each an `array_type`) answer `np.exp(x)`, `np.linalg.det(x)` and `x.var()` from the one
table. A NumPy function that is not in it is refused by name: dp never silently leaves the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Every primitive by name: dp's own catalogue and the user's.
PRIMITIVES: dict[str, Any] = {}
#: NumPy's ufuncs and functions that dp differentiates, and what they become on Nodes and Duals.
NUMPY_UFUNCS: dict[np.ufunc, Callable[..., Any]] = {}
NUMPY_FUNCTIONS: dict[Callable, Callable[..., Any]] = {}
#: NumPy functions whose result has no useful derivative (comparisons, argmax, shape queries):
#: they run on the plain values and return plain arrays.
NOT_DIFFERENTIABLE: set[Callable] = {
    np.shape,
    np.ndim,
    np.size,
    np.zeros_like,
    np.ones_like,
    np.empty_like,
    np.full_like,
    np.array_equal,
    np.array_equiv,
    np.allclose,
    np.isclose,
    np.any,
    np.all,
    np.count_nonzero,
    np.nonzero,
    np.argwhere,
    np.flatnonzero,
    np.isscalar,
    np.iscomplexobj,
    np.isrealobj,
    np.result_type,
    np.shares_memory,
    np.may_share_memory,
}
#: The ndarray method spellings (`x.var()`, `x.clip(0, 1)`) given to Node and Dual alike.
METHODS: dict[str, Any] = {}
_ARRAY_TYPES: list[type] = []
_WRAPPERS: tuple[type, ...] = ()


def implements(*numpy_functions: Callable) -> Callable[[Callable], Callable]:
    """Register a function as what NumPy's `numpy_functions` do on Nodes and Duals."""

    def register(function: Callable) -> Callable:
        for numpy_function in numpy_functions:
            table: dict[Any, Callable] = NUMPY_UFUNCS if isinstance(numpy_function, np.ufunc) else NUMPY_FUNCTIONS
            table[numpy_function] = function
        return function

    return register


def method(*names: str, as_property: bool = False) -> Callable[[Callable], Callable]:
    """Give Node and Dual a method (or property) spelled `names` that calls this function on self."""

    def register(function: Callable) -> Callable:
        as_method = getattr(function, "as_method", None)  # a Primitive knows how to bind itself
        bound = as_method(names[0]) if as_method is not None else function
        for name in names:
            METHODS[name] = property(bound) if as_property else bound
            for cls in _ARRAY_TYPES:
                setattr(cls, name, METHODS[name])
        return function

    return register


def array_type(cls: type) -> type:
    """Give a class (Node, Dual) every method registered with `method`, now and later. Its
    instances must have `.value` (what `plain` unwraps) and may take over primitives applied to
    them by defining `__dp_apply__(primitive, operands, params)` (Dual does: forward mode)."""
    global _WRAPPERS
    _ARRAY_TYPES.append(cls)
    _WRAPPERS = tuple(_ARRAY_TYPES)
    for name, function in METHODS.items():
        setattr(cls, name, function)
    return cls


def plain(x: Any) -> Any:
    """The plain array inside Nodes and Duals (for masks and conditions, which are not differentiated)."""
    while isinstance(x, _WRAPPERS):
        x = x.value  # type: ignore[attr-defined]  # _WRAPPERS are Node and Dual, which both have .value
    return x


def numpy_ufunc(who: str, ufunc: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What a NumPy ufunc does on Nodes and Duals: the catalogue's operation, or a clear refusal."""
    if method == "__call__" and not kwargs:
        if ufunc in NOT_DIFFERENTIABLE:
            return ufunc(*(plain(x) for x in inputs))
        operation = NUMPY_UFUNCS.get(ufunc)
        if operation is not None:
            return operation(*inputs)
    if kwargs and method == "__call__" and ufunc in NUMPY_UFUNCS:
        raise TypeError(
            f"dp.{who}: numpy.{ufunc.__name__} with {sorted(kwargs)} is not supported "
            "(dp makes new arrays: no out=, where=, dtype=)"
        )
    raise _refusal(who, f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}"))


def numpy_function(who: str, func: Callable, args: Any, kwargs: Any) -> Any:
    """What a NumPy function does on Nodes and Duals: the catalogue's operation, or a clear refusal."""
    if func in NOT_DIFFERENTIABLE:
        return func(*_plain_tree(args), **_plain_tree(kwargs))
    operation = NUMPY_FUNCTIONS.get(func)
    if operation is None:
        module = getattr(func, "__module__", None) or "numpy"
        module = "numpy" if module.startswith("numpy._core") else module.replace("._linalg", "")
        raise _refusal(who, f"{module}.{func.__name__}")
    return operation(*args, **kwargs)


def _refusal(who: str, name: str) -> TypeError:
    return TypeError(
        f"dp.{who}: dp cannot differentiate through {name}. Write it with operations dp has "
        "(see dp.ops), or define it with dp.primitive; x.value is the plain array, but taking it "
        "stops the gradient"
    )


def _plain_tree(x: Any) -> Any:
    if isinstance(x, dict):
        return {key: _plain_tree(value) for key, value in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_plain_tree(item) for item in x)
    return plain(x)


def plain_options(name: str, dtype: Any, out: Any, options: dict[str, Any]) -> None:
    """Refuse NumPy's options that dp cannot honour: out=, another dtype, where=, and any other
    (initial=, mean=, ...), which would otherwise be silently ignored."""
    if out is not None or dtype is not None or options.get("where", True) is not True:
        raise TypeError(f"numpy.{name} on Nodes/Duals: out=, dtype= and where= are not supported")
    others = sorted(set(options) - {"where"})
    if others:
        raise TypeError(f"numpy.{name} on Nodes/Duals: {', '.join(others)} not supported")
