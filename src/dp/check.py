"""Checking derivatives: central finite differences, and gradcheck against both modes of AD.

Finite differences need nothing but f's values, so they are the independent witness for a
derivative rule: (f(x + eps) - f(x - eps)) / (2 eps) is off by about eps^2 f''' / 6 plus rounding
of about 1e-16 / eps, so eps = 1e-6 in float64 agrees with an exact derivative to ~1e-9.

`gradcheck(f, *args)` compares, for every element of every argument,

* reverse mode: the gradient of <u, f(x)> from `dp.grad` (u random, or 1 for a scalar f), and
* forward mode: the same number as <u, J e_i>, one `jvp` per element,

with central differences of <u, f(x)>, and returns True or raises an AssertionError that names
the argument, the worst element, both values and the tolerance: what a student needs to find a
wrong derivative rule. An operation defined with a reverse rule only (`dp.primitive(...,
tangent=None)`) has no forward mode: gradcheck then checks reverse mode alone, and warns so.

    >>> gradcheck(lambda x: np.sin(x) * x, np.array([0.5, 1.0, 2.0]))
    True
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dp.forward import Dual, jvp
from dp.functional import _argnums, grad
from dp.node import Node, plain
from dp.trees import flatten, paths
from dp.types import ArrayLike


def numerical_grad(f: Callable[[np.ndarray], ArrayLike], x: ArrayLike, eps: float = 1e-6) -> np.ndarray:
    """Central differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for every element i of x.

    A scalar f gives the gradient (x's shape); any other f the Jacobian (f(x).shape + x.shape).
    x is taken in float64; f gets plain arrays and may return a number, an array or a Node.

        >>> numerical_grad(lambda x: (x ** 2).sum(), np.array([1.0, 2.0])).round(6)
        array([2., 4.])
    """
    x = np.array(x, dtype=np.float64)  # a copy of our own: we shift its elements in place
    out_shape = np.shape(_value(f(x.copy()), "numerical_grad"))
    jacobian = np.zeros(out_shape + x.shape)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        plus = _value(f(x.copy()), "numerical_grad")
        x[index] = original - eps
        minus = _value(f(x.copy()), "numerical_grad")
        x[index] = original
        jacobian[(...,) + index] = (plus - minus) / (2 * eps)
    return jacobian


def gradcheck(
    f: Callable[..., Any],
    *args: Any,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    eps: float = 1e-6,
    argnums: Sequence[int] | None = None,
    modes: Sequence[str] = ("reverse", "forward"),
) -> bool:
    """Check f's derivatives by reverse and forward mode against central differences.

    Every argument (or those in `argnums`) is checked; arguments are numbers, arrays or
    dicts/lists/tuples of them, taken in float64. An element passes when
    |ad - numerical| <= atol + rtol * |numerical| (PyTorch's gradcheck defaults). A non-scalar f is
    checked through <u, f(x)> with a fixed random u, so every output element counts.

    Returns True, or raises AssertionError naming the mode, argument, worst element, both values
    and the tolerance. Where f uses an operation without a forward-mode rule, forward mode is
    left out with a warning (and if it was the only mode asked for, its NotImplementedError is raised).
    """
    if isinstance(modes, str):  # modes="forward": one mode, not the letters f, o, r, ...
        modes = (modes,)
    for mode in modes:
        if mode not in ("reverse", "forward"):
            raise ValueError(f"gradcheck: modes must be 'reverse' and/or 'forward', got {mode!r}")
    args = tuple(_in_float64(arg) for arg in args)
    positions = (
        range(len(args))
        if argnums is None
        else _argnums(argnums if isinstance(argnums, int) else tuple(argnums), len(args), "gradcheck")
    )
    # Every argument goes in as a Node (constant, or dp's variable) or a Dual, never as a plain
    # array, so f may use dp's methods (x.exp(), x.softmax()) on any of them.
    constants = tuple(_as_constants(arg) for arg in args)
    out = _value(f(*constants), "gradcheck")
    u = np.random.default_rng(0).standard_normal(np.shape(out)) if np.ndim(out) else 1.0
    names = _parameter_names(f, len(args))

    def scalar(*xs: Any) -> Any:  # <u, f(x)>: one number, so one gradient per argument
        return np.sum(f(*xs) * u)

    everything = tuple(range(len(args)))
    if "forward" in modes and not _has_forward_mode(scalar, args, modes):
        modes = tuple(mode for mode in modes if mode != "forward")
    reverse = grad(scalar, everything)(*args) if "reverse" in modes else None
    for position in positions:
        leaves, _ = flatten(args[position])
        for part, (leaf, path) in enumerate(zip(leaves, paths(args[position]))):
            where = names[position] + path

            def scalar_of_leaf(value: np.ndarray, part: int = part, position: int = position) -> Any:
                return scalar(*_replace(constants, position, part, Node(value)))

            numerical = numerical_grad(scalar_of_leaf, leaf, eps)
            if reverse is not None:
                analytic = flatten(reverse[position])[0][part]
                _compare("reverse mode", where, _plain_array(analytic, "reverse mode"), numerical, rtol, atol, eps)
            if "forward" in modes:
                forward = np.zeros(np.shape(leaf))
                for index in np.ndindex(forward.shape):
                    direction = np.zeros(np.shape(leaf))
                    direction[index] = 1
                    tangents = tuple(_zeros_like(arg) for arg in args)
                    tangents = tuple(_replace(tangents, position, part, direction))
                    _, slope = jvp(scalar, args, tangents)
                    forward[index] = _plain_array(slope, "forward mode")
                _compare("forward mode", where, forward, numerical, rtol, atol, eps)
    return True


def _has_forward_mode(scalar: Callable[..., Any], args: tuple[Any, ...], modes: Sequence[str]) -> bool:
    """Whether forward mode runs through f; if not, say so (or raise, when it is all that was asked)."""
    try:
        jvp(scalar, args, tuple(_zeros_like(arg) for arg in args))
    except NotImplementedError as error:
        if "no forward-mode" not in str(error) or "reverse" not in modes:
            raise
        warnings.warn(f"gradcheck: forward mode not checked, reverse mode alone: {error}", stacklevel=3)
        return False
    return True


def _compare(
    mode: str, where: str, analytic: np.ndarray, numerical: np.ndarray, rtol: float, atol: float, eps: float
) -> None:
    """Raise an AssertionError about the worst element, if any element is out of tolerance."""
    if analytic.shape != numerical.shape:
        raise AssertionError(
            f"gradcheck: {mode} gives a gradient of shape {analytic.shape} for {where}, expected {numerical.shape}"
        )
    allowed = atol + rtol * np.abs(numerical)
    with np.errstate(invalid="ignore"):
        excess = np.abs(analytic - numerical) - allowed
    excess = np.where(np.isnan(excess), np.inf, excess)  # a NaN on one side only is always wrong
    excess = np.where(np.isnan(analytic) & np.isnan(numerical), -np.inf, excess)
    if excess.size == 0 or excess.max() <= 0:
        return
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape))
    element = f"element {worst}" if worst else "its only element"
    got, expected = float(analytic[worst]), float(numerical[worst])
    raise AssertionError(
        f"gradcheck: {mode} is wrong for {where}, {element}:\n"
        f"  {mode + ' gives':<26}{got!r}\n"
        f"  {'central differences give':<26}{expected!r}  (eps={eps:g})\n"
        f"  |difference| = {abs(got - expected):.3g} > atol + rtol * |numerical| = "
        f"{atol:g} + {rtol:g} * {abs(expected):.3g} = {allowed[worst]:.3g}\n"
        f"  ({int((excess > 0).sum())} of {excess.size} elements out of tolerance)"
    )


# --------------------------------------------------------------------------------------------
# Helpers


def _value(out: Any, who: str) -> np.ndarray:
    """f's output as a float64 array (f may build Nodes internally)."""
    if isinstance(out, Dual):
        raise TypeError(f"{who}: f returned a Dual on plain inputs; it must return a number, an array or a Node")
    return np.asarray(plain(out), dtype=np.float64)


def _plain_array(x: Any, mode: str) -> np.ndarray:
    if isinstance(x, Dual):
        raise TypeError(f"gradcheck: {mode} returned a Dual; check functions of plain arrays")
    return np.asarray(plain(x), dtype=np.float64)


def _in_float64(arg: Any) -> Any:
    leaves, rebuild = flatten(arg)
    return rebuild([np.array(plain(leaf), dtype=np.float64) for leaf in leaves])


def _as_constants(arg: Any) -> Any:
    leaves, rebuild = flatten(arg)
    return rebuild([Node(leaf) for leaf in leaves])


def _zeros_like(arg: Any) -> Any:
    leaves, rebuild = flatten(arg)
    return rebuild([np.zeros(np.shape(leaf)) for leaf in leaves])


def _replace(args: tuple[Any, ...], position: int, part: int, value: Any) -> list[Any]:
    """args with leaf `part` of argument `position` replaced by `value`."""
    leaves, rebuild = flatten(args[position])
    leaves[part] = value
    new_args = list(args)
    new_args[position] = rebuild(leaves)
    return new_args


def _parameter_names(f: Callable[..., Any], count: int) -> list[str]:
    """'argument 0 (x)' for each position, with the parameter's name where f's signature has it."""
    names = [f"argument {position}" for position in range(count)]
    try:
        parameters = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return names
    for position, parameter in enumerate(parameters[:count]):
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            names[position] += f" ({parameter.name!r})"
        else:
            break
    return names
