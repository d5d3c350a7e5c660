"""Reductions (dp/ops/reductions.py): NumPy's values, shapes and dtypes; gradients against PyTorch
and finite differences; forward mode against reverse mode; second order against PyTorch's double
backward; ties, zeros and kinks as PyTorch treats them; errors.

Each case draws a shape and the reduction's parameters (axis None, an int, negative, a tuple,
keepdims, ddof, ord, ...) with hypothesis, and gives the reduction as a NumPy call (run on arrays
for the expected value, on Nodes and Duals for dp's) and PyTorch's equivalent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import dp
from dp import Dual, Node, backpropagate, jvp
from oracles import assert_same, finite_difference_gradients


@dataclass
class Case:
    numpy: Callable[..., Any]  # the NumPy call, on arrays, Nodes and Duals
    x: np.ndarray
    torch: Callable[..., Any]
    ops: Callable[..., Any] | None = None  # the same through dp.ops (run on arrays too)
    reference: Callable[..., Any] | None = None  # the plain value, where NumPy has no such function
    linear: bool = False  # f(x + v) - f(x) = J v exactly
    second_order: bool = True  # dp differentiates its gradient again


def _values(draw: st.DrawFn, shape: tuple[int, ...], kind: str = "normal") -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "distinct":  # no ties: max's derivative is unique, finite differences apply
        return (rng.permutation(math.prod(shape)) * 0.37 - 2).reshape(shape)
    if kind == "unit":  # magnitudes near 1: products of many stay of order 1
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.6, 1.4, shape)
    return rng.standard_normal(shape)


def _shape(draw: st.DrawFn, min_dims: int = 0, max_dims: int = 3, min_side: int = 1) -> tuple[int, ...]:
    return draw(array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=4))


def _axis(draw: st.DrawFn, ndim: int, tuples: bool = True, empty: bool = True) -> Any:
    """None, one axis or a tuple of distinct axes, each maybe negative."""
    kinds = ["none"] + (["int"] if ndim else []) + (["tuple"] if tuples and (ndim or empty) else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        axis = draw(st.integers(0, ndim - 1))
        return axis - ndim if draw(st.booleans()) else axis
    chosen = (
        draw(st.lists(st.integers(0, ndim - 1), min_size=0 if empty else 1, max_size=ndim, unique=True)) if ndim else []
    )
    return tuple(a - ndim if draw(st.booleans()) else a for a in chosen)


def _dims(axis: Any, t: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(t.ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)


def _torch_reduce(function: Callable[..., torch.Tensor], axis: Any, keepdims: bool) -> Callable[..., torch.Tensor]:
    """NumPy's reduction as PyTorch's: axis=() reduces nothing (PyTorch's dim=() would mean all)."""
    return lambda t: t if axis == () else function(t, dim=_dims(axis, t), keepdim=keepdims)


def _torch_prod(axis: Any, keepdims: bool) -> Callable[..., torch.Tensor]:
    """np.prod: torch.prod reduces one dim at a time."""

    def prod(t):
        axes = sorted({d % t.ndim for d in _dims(axis, t)}) if t.ndim else []
        out = t
        for d in axes:
            out = out.prod(dim=d, keepdim=True)
        return out if keepdims else out.reshape([s for d, s in enumerate(t.shape) if d not in axes])

    return prod


# --------------------------------------------------------------------------------------------
# The cases


def _extreme(name: str, spelling: str):
    @st.composite
    def extreme(draw):
        shape = _shape(draw)
        axis, keepdims = _axis(draw, len(shape)), draw(st.booleans())
        numpy_function, torch_function = getattr(np, name), torch.amax if name.endswith("max") else torch.amin
        if spelling == "method":
            return Case(
                lambda x: getattr(x, name)(axis, None, keepdims),
                _values(draw, shape, "distinct"),
                _torch_reduce(torch_function, axis, keepdims),
            )
        return Case(
            lambda x: numpy_function(x, axis=axis, keepdims=keepdims),
            _values(draw, shape, "distinct"),
            _torch_reduce(torch_function, axis, keepdims),
            lambda x: getattr(dp.ops, name)(x, axis, keepdims=keepdims),
        )

    return extreme


@st.composite
def prod(draw):
    shape = _shape(draw)
    axis, keepdims = _axis(draw, len(shape)), draw(st.booleans())
    x = _values(draw, shape, "unit")
    if draw(st.booleans()) and x.size:  # zeros: one, or several in one reduction
        x.flat[draw(st.lists(st.integers(0, x.size - 1), min_size=1, max_size=3))] = 0.0
    return Case(
        lambda a: np.prod(a, axis=axis, keepdims=keepdims),
        x,
        _torch_prod(axis, keepdims),
        lambda a: dp.ops.prod(a, axis, keepdims=keepdims),
    )


def _moment(name: str):
    @st.composite
    def moment(draw):
        shape = _shape(draw, 1, 3, min_side=2)  # two elements in every reduction: ddof=1 is defined
        axis, keepdims, ddof = _axis(draw, len(shape), empty=False), draw(st.booleans()), draw(st.sampled_from([0, 1]))
        torch_function = getattr(torch, name)
        return Case(
            lambda x: getattr(np, name)(x, axis=axis, ddof=ddof, keepdims=keepdims),
            _values(draw, shape),
            lambda t: torch_function(t, dim=_dims(axis, t), correction=ddof, keepdim=keepdims),
            lambda x: getattr(dp.ops, name)(x, axis, ddof=ddof, keepdims=keepdims),
        )

    return moment


@st.composite
def moment_methods(draw):
    shape = _shape(draw, 1, 3, min_side=2)
    axis = _axis(draw, len(shape), tuples=False)
    name, ddof = draw(st.sampled_from(["var", "std"])), draw(st.sampled_from([0, 1]))
    torch_function = getattr(torch, name)
    return Case(
        lambda x: getattr(x, name)(axis, None, None, ddof),
        _values(draw, shape),
        lambda t: torch_function(t, dim=_dims(axis, t), correction=ddof),
    )


def _cumulative(name: str):
    @st.composite
    def cumulative(draw):
        shape = _shape(draw)
        axis = draw(st.sampled_from([None] + list(range(-max(len(shape), 1), max(len(shape), 1)))))
        x = _values(draw, shape, "unit")
        if name == "cumprod" and draw(st.booleans()) and x.size:
            x.flat[draw(st.lists(st.integers(0, x.size - 1), min_size=1, max_size=3))] = 0.0
        torch_function = getattr(torch, name)
        flat = axis is None or not shape
        as_method = draw(st.booleans())
        return Case(
            (lambda a: getattr(a, name)(axis)) if as_method else (lambda a: getattr(np, name)(a, axis)),
            x,
            lambda t: torch_function(t.reshape(-1) if flat else t, 0 if flat else axis),
            lambda a: getattr(dp.ops, name)(a, axis),
            linear=name == "cumsum",
        )

    return cumulative


@st.composite
def logsumexp(draw):
    shape = _shape(draw)
    axis, keepdims = _axis(draw, len(shape)), draw(st.booleans())
    scale = draw(st.sampled_from([1.0, 1000.0]))  # at +-1000, exp alone overflows

    def reference(x):
        top = np.max(x, axis=axis, keepdims=True)
        out = top + np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True))
        return out if keepdims else np.reshape(out, np.shape(np.sum(x, axis=axis)))

    return Case(
        lambda x: dp.ops.logsumexp(x, axis, keepdims),
        _values(draw, shape) * scale,
        _torch_reduce(torch.logsumexp, axis, keepdims),
        reference=reference,
    )


@st.composite
def vector_norm(draw):
    shape = _shape(draw, 1, 3)
    axis = draw(st.sampled_from([None, 0, -1])) if len(shape) == 1 else draw(st.integers(-len(shape), len(shape) - 1))
    ord, keepdims = draw(st.sampled_from([None, 1, 2, np.inf, -np.inf, 3, 0.5, 0])), draw(st.booleans())
    return Case(
        lambda x: np.linalg.norm(x, ord, axis, keepdims),
        _values(draw, shape, "distinct") + 0.05,
        lambda t: torch.linalg.norm(t, ord, axis, keepdims),
        lambda x: dp.ops.norm(x, ord, axis, keepdims),
        second_order=ord != 0,
    )  # the 0-norm counts: a constant


@st.composite
def matrix_norm(draw):
    shape = _shape(draw, 2, 3)
    ndim = len(shape)
    if ndim == 2 and draw(st.booleans()):
        axis = None
    else:
        first, second = draw(st.lists(st.integers(0, ndim - 1), min_size=2, max_size=2, unique=True))
        axis = (draw(st.sampled_from([first, first - ndim])), draw(st.sampled_from([second, second - ndim])))
    ord = draw(st.sampled_from([None, "fro", 1, -1, np.inf, -np.inf, 2, -2, "nuc"]))
    keepdims = draw(st.booleans())
    return Case(
        lambda x: np.linalg.norm(x, ord, axis, keepdims),
        _values(draw, shape),  # no tied row sums
        lambda t: torch.linalg.norm(t, ord, (0, 1) if axis is None else axis, keepdims),
        lambda x: dp.ops.norm(x, ord, axis, keepdims),
        second_order=ord not in (2, -2, "nuc"),
    )


@st.composite
def flattened_norm(draw):
    shape = _shape(draw, 0, 4)
    keepdims = draw(st.booleans())
    return Case(
        lambda x: np.linalg.norm(x, keepdims=keepdims),
        _values(draw, shape),
        lambda t: torch.linalg.norm(t.reshape(-1), keepdim=False).reshape((1,) * t.ndim if keepdims else ()),
    )


@st.composite
def trace(draw):
    shape = _shape(draw, 2, 3)
    ndim = len(shape)
    axis1, axis2 = draw(st.lists(st.integers(0, ndim - 1), min_size=2, max_size=2, unique=True))
    offset = draw(st.integers(-4, 4))
    axis1, axis2 = draw(st.sampled_from([axis1, axis1 - ndim])), draw(st.sampled_from([axis2, axis2 - ndim]))
    return Case(
        lambda x: np.trace(x, offset, axis1, axis2),
        _values(draw, shape),
        lambda t: torch.diagonal(t, offset, axis1, axis2).sum(-1),
        lambda x: dp.ops.trace(x, offset, axis1, axis2),
        linear=True,
    )


@st.composite
def average(draw):
    shape = _shape(draw, 1, 3)
    axis, keepdims = _axis(draw, len(shape), empty=False), draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    along = draw(st.booleans()) and axis is not None
    axes = tuple(range(len(shape))) if axis is None else tuple(np.atleast_1d(axis) % len(shape))
    weights = rng.uniform(0.5, 2, tuple(shape[a] for a in np.atleast_1d(axis)) if along else shape)
    full = weights
    if weights.shape != shape:  # weights along the axes only: NumPy lines them up with those axes, in axis' order
        full = np.moveaxis(
            weights.reshape(weights.shape + (1,) * (len(shape) - weights.ndim)),
            tuple(range(weights.ndim)),
            tuple(np.atleast_1d(axis) % len(shape)),
        )
    w = torch.tensor(np.broadcast_to(full, shape).copy())
    return Case(
        lambda x: np.average(x, axis, weights, keepdims=keepdims),
        _values(draw, shape),
        lambda t: (t * w).sum(dim=axes, keepdim=keepdims) / w.sum(dim=axes, keepdim=keepdims),
        lambda x: dp.ops.average(x, axis, weights, keepdims=keepdims),
        linear=True,
    )


@st.composite
def mean(draw):
    shape = _shape(draw)
    axis = _axis(draw, len(shape))
    keepdims = draw(st.booleans())
    return Case(
        lambda x: x.mean(axis, None, None, keepdims),
        _values(draw, shape),
        _torch_reduce(torch.mean, axis, keepdims),
        lambda x: dp.ops.mean(x, axis, keepdims=keepdims),
        linear=True,
    )


CASES: dict[str, Any] = {
    "np.max": _extreme("max", "numpy")(),
    "np.amax": _extreme("amax", "numpy")(),
    "np.min": _extreme("min", "numpy")(),
    "np.amin": _extreme("amin", "numpy")(),
    "x.max": _extreme("max", "method")(),
    "x.min": _extreme("min", "method")(),
    "np.prod": prod(),
    "np.var": _moment("var")(),
    "np.std": _moment("std")(),
    "x.var / x.std": moment_methods(),
    "cumsum": _cumulative("cumsum")(),
    "cumprod": _cumulative("cumprod")(),
    "logsumexp": logsumexp(),
    "vector norm": vector_norm(),
    "matrix norm": matrix_norm(),
    "flattened norm": flattened_norm(),
    "trace": trace(),
    "average": average(),
    "x.mean": mean(),
}


# --------------------------------------------------------------------------------------------
# The checks


def check_case(case: Case, dtype: type, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = case.x.astype(dtype)
    expected = (case.reference or case.numpy)(x)
    leaf = Node(x, requires_grad=True)
    out = case.numpy(leaf)
    assert isinstance(out, Node)
    if case.reference is None:
        assert_same(out.value, expected, "the value on Nodes")
        if case.ops is not None:
            assert_same(case.ops(x), expected, "dp.ops on arrays")
            assert_same(case.ops(leaf).value, expected, "dp.ops on Nodes")
    else:
        assert out.shape == np.shape(expected) and out.dtype == dtype
        np.testing.assert_allclose(out.value, expected, rtol=1e-6 if dtype is np.float32 else 1e-13, atol=1e-12)
    seed_out = rng.standard_normal(out.shape).astype(dtype)
    gradient = backpropagate(out, seed_out).get(leaf, np.zeros_like(x))  # none: a constant (the 0-norm)
    assert gradient.shape == x.shape and gradient.dtype == dtype, (gradient.shape, gradient.dtype)
    v = rng.standard_normal(x.shape).astype(dtype)
    value, tangent = jvp(case.numpy, x, v)
    np.testing.assert_array_equal(value, out.value, err_msg="the value on Duals")
    assert np.asarray(tangent).dtype == out.dtype and np.shape(tangent) == out.shape
    if dtype is np.float32:
        return
    # forward mode against reverse mode: <u, J v> = <J^T u, v>
    np.testing.assert_allclose(np.sum(seed_out * tangent), np.sum(gradient * v), rtol=1e-9, atol=1e-9)
    if case.linear:
        np.testing.assert_allclose(tangent, case.numpy(x + v) - expected, rtol=1e-9, atol=1e-9)
    (numerical,) = finite_difference_gradients(case.numpy, [x], seed_out)
    np.testing.assert_allclose(gradient, numerical, rtol=1e-5, atol=1e-5, err_msg="against finite differences")
    t = torch.tensor(x, requires_grad=True)
    torch_out = case.torch(t)
    np.testing.assert_allclose(out.value, torch_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    (torch_gradient,) = torch.autograd.grad(torch_out, t, torch.tensor(seed_out), allow_unused=True)
    torch_gradient = np.zeros_like(x) if torch_gradient is None else torch_gradient.numpy()
    np.testing.assert_allclose(gradient, torch_gradient, rtol=1e-10, atol=1e-12, err_msg="against PyTorch")


@pytest.mark.parametrize("name", CASES)
@given(data=st.data())
def test_values_gradients_and_modes(name, data):
    case = data.draw(CASES[name])
    check_case(case, data.draw(st.sampled_from([np.float64, np.float64, np.float32])), data.draw(st.integers(0, 99)))


def second_derivatives(loss: Callable[..., Any], x: np.ndarray, w: np.ndarray):
    """H w three ways (create_graph, reverse over reverse, forward over reverse), and by central
    differences of dp's (first-order, already checked) gradient."""
    leaf = Node(x, requires_grad=True)
    first = backpropagate(loss(leaf), create_graph=True)[leaf]
    found = backpropagate(np.sum(first * w))
    gradient = dp.grad(loss)
    eps = 1e-5
    return {
        "create_graph": found.get(leaf, np.zeros_like(x)),
        "reverse over reverse": dp.grad(lambda a: np.sum(gradient(a) * w))(x),
        "forward over reverse": jvp(gradient, x, w)[1],
    }, (gradient(x + eps * w) - gradient(x - eps * w)) / (2 * eps)


def torch_second(torch_loss: Callable[..., Any], x: np.ndarray, w: np.ndarray) -> np.ndarray:
    t = torch.tensor(x, requires_grad=True)
    (first,) = torch.autograd.grad(torch_loss(t), t, create_graph=True)
    total = (first * torch.tensor(w)).sum()
    if not total.requires_grad:
        return np.zeros_like(x)
    (second,) = torch.autograd.grad(total, t, allow_unused=True)
    return np.zeros_like(x) if second is None else second.numpy()


@pytest.mark.parametrize("name", CASES)
@settings(max_examples=8)
@given(data=st.data())
def test_second_order(name, data):
    """Each reduction inside sin(.)^2, so its VJP rule is differentiated again (fed Nodes, Duals)."""
    case = data.draw(CASES[name])
    if not case.second_order:
        return
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    u = rng.standard_normal(np.shape((case.reference or case.numpy)(case.x)))
    w = rng.standard_normal(case.x.shape)
    ways, numerical = second_derivatives(lambda a: np.sum(np.sin(case.numpy(a)) ** 2 * u), case.x, w)
    expected = torch_second(lambda t: (torch.sin(case.torch(t)) ** 2 * torch.tensor(u)).sum(), case.x, w)
    for way, second in ways.items():
        np.testing.assert_allclose(second, expected, rtol=1e-9, atol=1e-10, err_msg=f"{way} against PyTorch")
        np.testing.assert_allclose(second, numerical, rtol=1e-5, atol=1e-5, err_msg=f"{way} against differences")


# --------------------------------------------------------------------------------------------
# Zeros, ties, kinks, overflow: as PyTorch


def _against_torch(f: Callable[..., Any], torch_f: Callable[..., Any], x: np.ndarray, second: bool = True) -> None:
    """First and second derivatives of sum(f(x) * u) and sum(sin(f(x))^2 * u) against PyTorch's."""
    rng = np.random.default_rng(0)
    u = rng.standard_normal(np.shape(f(x)))
    gradient = dp.grad(lambda a: np.sum(f(a) * u))(x)
    t = torch.tensor(x, requires_grad=True)
    (expected,) = torch.autograd.grad((torch_f(t) * torch.tensor(u)).sum(), t)
    np.testing.assert_allclose(gradient, expected.numpy(), rtol=1e-12, atol=1e-14)
    if second:
        w = rng.standard_normal(x.shape)
        ways, _ = second_derivatives(lambda a: np.sum(np.sin(f(a)) ** 2 * u), x, w)
        expected = torch_second(lambda t: (torch.sin(torch_f(t)) ** 2 * torch.tensor(u)).sum(), x, w)
        for way, got in ways.items():
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=way)


@pytest.mark.parametrize("zeros", [[1], [0, 4], [2, 3, 5], [0, 1, 2, 3, 4, 5]])
def test_prod_with_zeros_matches_torch_to_second_order(zeros):
    x = np.array([[1.5, -0.7, 2.0], [0.9, -1.2, 1.1]])
    x.flat[zeros] = 0.0
    _against_torch(np.prod, torch.prod, x)
    _against_torch(lambda a: np.prod(a, axis=1), lambda t: torch.prod(t, 1), x)
    _against_torch(lambda a: np.prod(a, axis=0, keepdims=True), lambda t: torch.prod(t, 0, keepdim=True), x)
    _against_torch(lambda a: a.prod(axis=(1, 0)), torch.prod, x)


def test_prod_gradient_with_one_zero_is_the_product_of_the_others():
    x = Node(np.array([2.0, 0.0, 3.0, 0.5]), "x")
    np.testing.assert_array_equal(np.prod(x).grad(1)["x"], [0, 3, 0, 0])
    np.testing.assert_array_equal(np.prod(Node(np.array([2.0, 0.0, 0.0]), "x")).grad(1)["x"], [0, 0, 0])
    assert float(np.prod(Node(0.0, "s")).grad(1)["s"]) == 1.0  # a 0-d product is the element itself


@pytest.mark.parametrize("zeros", [[0], [2], [1, 3], [0, 1, 2, 3]])
def test_cumprod_with_zeros_matches_torch_to_second_order(zeros):
    x = np.array([[1.5, -0.7, 2.0, 0.8], [0.9, -1.2, 1.1, -1.3]])
    x[:, zeros] = 0.0
    _against_torch(lambda a: np.cumprod(a, axis=1), lambda t: torch.cumprod(t, 1), x)
    _against_torch(lambda a: np.cumprod(a, axis=0), lambda t: torch.cumprod(t, 0), x)
    _against_torch(np.cumprod, lambda t: torch.cumprod(t.reshape(-1), 0), x)
    value, tangent = jvp(lambda a: np.cumprod(a, axis=1), x, np.ones_like(x))
    gradient_rows = [dp.grad(lambda a, j=j: np.cumprod(a, axis=1)[:, j].sum())(x) for j in range(4)]
    np.testing.assert_allclose(tangent, np.stack([g.sum(axis=1) for g in gradient_rows], axis=1), rtol=1e-13)


def test_ties_share_the_gradient_as_torch_amax_and_amin():
    x = np.array([[3.0, 1.0, 3.0, 3.0], [-2.0, -2.0, 5.0, 0.0]])
    for f, torch_f in [
        (lambda a: np.max(a, axis=1), lambda t: torch.amax(t, 1)),
        (lambda a: a.min(1), lambda t: torch.amin(t, 1)),
        (np.max, torch.amax),
        (lambda a: np.amin(a, axis=(0, 1)), torch.amin),
        (lambda a: np.linalg.norm(a, np.inf, axis=1), lambda t: torch.linalg.norm(t, np.inf, 1)),
        (lambda a: np.linalg.norm(a, 1), lambda t: torch.linalg.norm(t, 1)),
    ]:
        _against_torch(f, torch_f, x, second=False)
    gradient = Node(x, "x").min(axis=1).grad(np.ones(2))["x"]
    np.testing.assert_array_equal(gradient, [[0, 1, 0, 0], [0.5, 0.5, 0, 0]])
    _, tangent = jvp(lambda a: np.max(a, axis=1), x, np.ones_like(x) * [[1, 0, 2, 4], [0, 0, 7, 0]])
    np.testing.assert_allclose(tangent, [7 / 3, 7.0], rtol=1e-15)  # forward mode shares ties the same way


def test_std_and_norms_at_zero_have_torch_gradient_zero():
    flat = np.full((2, 3), 1.5)
    _against_torch(lambda a: np.std(a, axis=1), lambda t: torch.std(t, 1, correction=0), flat, second=False)
    zero = np.zeros((2, 3))
    _against_torch(lambda a: np.linalg.norm(a, axis=1), lambda t: torch.linalg.norm(t, dim=1), zero, second=False)
    _against_torch(np.linalg.norm, torch.linalg.norm, zero, second=False)
    _against_torch(lambda a: np.linalg.norm(a, 3, axis=0), lambda t: torch.linalg.norm(t, 3, 0), zero, second=False)
    _, tangent = jvp(lambda a: np.std(a, axis=1), flat, np.ones_like(flat))
    np.testing.assert_array_equal(tangent, [0.0, 0.0])


def test_logsumexp_is_finite_at_plus_and_minus_1000():
    x = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
    value = dp.ops.logsumexp(Node(x, "x"), axis=1)
    np.testing.assert_allclose(value.value, torch.logsumexp(torch.tensor(x), 1).numpy(), rtol=1e-15)
    _against_torch(lambda a: dp.ops.logsumexp(a, axis=1), lambda t: torch.logsumexp(t, 1), x)
    _against_torch(lambda a: dp.ops.logsumexp(a, keepdims=True), lambda t: torch.logsumexp(t, (0, 1), True), x)
    infinite = dp.ops.logsumexp(np.array([[-np.inf, -np.inf], [np.inf, 0.0]]), axis=1)
    np.testing.assert_array_equal(infinite, [-np.inf, np.inf])


def test_matrix_norms_from_singular_values_match_torch_and_refuse_second_order():
    x = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -2.0]])
    for ord in (2, -2, "nuc"):
        _against_torch(lambda a: np.linalg.norm(a, ord), lambda t: torch.linalg.norm(t, ord), x, second=False)
        _, tangent = jvp(lambda a: np.linalg.norm(a, ord), x, np.ones_like(x))
        np.testing.assert_allclose(tangent, np.sum(dp.grad(lambda a: np.linalg.norm(a, ord))(x)), rtol=1e-12)
        with pytest.raises(NotImplementedError, match=r"norm: .*ord=2, -2, 'nuc'.*first derivatives only"):
            dp.hessian(lambda a: np.linalg.norm(a.reshape(2, 3), ord))(x.ravel())
    tied = np.diag([3.0, 3.0, 1.0])  # two largest singular values: they share, as torch's amax of svdvals
    _against_torch(lambda a: np.linalg.norm(a, 2), lambda t: torch.linalg.norm(t, 2), tied, second=False)


# --------------------------------------------------------------------------------------------
# NumPy's spellings: methods, lists of Nodes, 0-d, dtypes


def test_ndarray_method_spellings_with_numpy_signatures():
    x = np.arange(24.0).reshape(2, 3, 4) / 7 - 1.5
    calls = {
        "max": lambda a: a.max(1, None, True),
        "min": lambda a: a.min(axis=(0, 2)),
        "mean": lambda a: a.mean(-1, None, None, True),
        "prod": lambda a: a.prod(0, None, None, True),
        "var": lambda a: a.var(1, None, None, 1, True),
        "std": lambda a: a.std(ddof=1),
        "cumsum": lambda a: a.cumsum(-2),
        "cumprod": lambda a: a.cumprod(),
        "trace": lambda a: a.trace(1, 2, 0),
        "np.var correction": lambda a: np.var(a, axis=2, correction=1),
    }
    for name, call in calls.items():
        expected = call(x)
        assert_same(call(Node(x, "x")).value, expected, name)
        dual = call(Dual(x, np.ones_like(x)))
        assert_same(dual.value, expected, name)
    for name, call in {
        "argmax": lambda a: a.argmax(),
        "argmin": lambda a: a.argmin(1, keepdims=True),
        "argsort": lambda a: a.argsort(axis=0),
        "np.argmax": lambda a: np.argmax(a, axis=-1),
        "np.argsort": lambda a: np.argsort(a, None),
        "np.argmin": lambda a: np.argmin(a),
    }.items():
        for wrapped in (Node(x, "x"), Dual(x, np.ones_like(x))):
            got = call(wrapped)
            assert isinstance(got, np.ndarray | np.integer), name
            assert_same(got, call(x), name)


@given(shape=array_shapes(min_dims=0, max_dims=3, max_side=4), data=st.data())
def test_positions_are_numpy_integer_arrays(shape, data):
    x = _values(data.draw, shape, "distinct")
    x.flat[: x.size // 2] = 0.0  # ties: the first one wins, as NumPy
    axis = data.draw(st.sampled_from([None] + list(range(-max(len(shape), 1), max(len(shape), 1)))))
    keepdims = data.draw(st.booleans())
    for name in ("argmax", "argmin"):
        expected = getattr(np, name)(x, axis, keepdims=keepdims)
        assert_same(getattr(np, name)(Node(x, "x"), axis, keepdims=keepdims), expected, name)
        assert_same(getattr(Node(x, "x"), name)(axis, keepdims=keepdims), expected, name)
        assert_same(getattr(dp.ops, name)(x, axis, keepdims=keepdims), expected, name)
    assert_same(Node(x, "x").argsort(axis, stable=True), np.argsort(x, axis, stable=True), "argsort")


def test_reductions_of_lists_of_nodes_give_nodes():
    """dp.ops' reductions stack a list of Nodes, as NumPy stacks a list of arrays. (NumPy's own
    np.sum([a, b]) converts the list to an array before any dispatch: Node says to stack it.)"""
    a, b = Node(np.array([1.0, -2.0, 3.0]), "a"), Node(np.array([4.0, 0.5, -1.0]), "b")
    for name, f in {
        "max": dp.ops.max,
        "amin": dp.ops.amin,
        "min axis": lambda xs: dp.ops.min(xs, axis=0),
        "prod": dp.ops.prod,
        "mean": dp.ops.mean,
        "var": dp.ops.var,
        "std ddof": lambda xs: dp.ops.std(xs, 0, ddof=1),
        "cumsum": lambda xs: dp.ops.cumsum(xs, axis=1),
        "cumprod": dp.ops.cumprod,
        "norm": dp.ops.norm,
        "trace": dp.ops.trace,
        "average": dp.ops.average,
        "logsumexp": dp.ops.logsumexp,
    }.items():
        out = f([a, b])
        assert isinstance(out, Node), name
        np.testing.assert_allclose(out.value, f(np.stack([a.value, b.value])), rtol=1e-15, err_msg=name)
        gradients = backpropagate(out, np.ones(out.shape))
        assert gradients[a].shape == (3,) and gradients[b].shape == (3,), name
    with pytest.raises(TypeError, match=r"dp.stack\(list\)"):
        np.sum([a, b])


def test_zero_d_inputs_follow_numpy():
    s = Node(np.float64(-2.5), "s")
    for f in (
        np.max,
        np.min,
        np.prod,
        np.mean,
        np.var,
        np.std,
        np.cumsum,
        np.cumprod,
        np.linalg.norm,
        lambda x: np.max(x, axis=0),
        lambda x: np.prod(x, axis=-1),
        lambda x: np.min(x, axis=(), keepdims=True),
        lambda x: np.cumsum(x, axis=0),
        lambda x: np.cumprod(x, -1),
        lambda x: np.sum(x, axis=()),
        lambda x: dp.ops.logsumexp(x, axis=0),
    ):
        reference = f(s.value)
        out = f(s)
        assert out.shape == np.shape(reference), f
        assert out.grad(np.ones(out.shape))["s"].shape == ()
    assert float(np.prod(s).grad(1)["s"]) == 1.0 and float(np.std(s).grad(1)["s"]) == 0.0
    for f in (lambda x: np.mean(x, axis=0), lambda x: np.var(x, axis=-1), lambda x: np.max(x, axis=1)):
        with pytest.raises(ValueError):
            f(s.value)  # NumPy refuses these: so does dp
        with pytest.raises(ValueError, match=r"shape \(\)"):
            f(s)


@pytest.mark.parametrize(
    "f",
    [
        np.max,
        np.min,
        np.prod,
        np.mean,
        np.var,
        np.std,
        np.cumsum,
        np.cumprod,
        np.linalg.norm,
        np.trace,
        np.average,
        lambda x: np.min(x, axis=0, keepdims=True),
        lambda x: np.prod(x, axis=(0, 1)),
        lambda x: np.var(x, axis=1, ddof=1),
        lambda x: np.linalg.norm(x, 1, axis=0),
        lambda x: np.linalg.norm(x, np.inf),
        lambda x: np.linalg.norm(x, 2),
        lambda x: np.linalg.norm(x, "nuc"),
        lambda x: np.linalg.norm(x, 3, axis=1),
        lambda x: dp.ops.logsumexp(x, axis=1),
        lambda x: np.average(x, 0, np.array([1, 2], np.float32)),
        lambda x: np.cumprod(x, 1),
    ],
)
def test_float32_stays_float32(f):
    x = np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.25]], np.float32)
    out = f(Node(x, "x"))
    assert out.dtype == np.float32
    if f is not dp.ops.logsumexp:
        assert_same(out.value, f(x), "float32 value")
    assert out.grad(np.ones(out.shape, np.float32))["x"].dtype == np.float32
    value, tangent = jvp(f, x, np.ones_like(x))
    assert value.dtype == tangent.dtype == np.float32


def test_average_returned_and_weights_along_an_axis():
    x = np.arange(6.0).reshape(2, 3)
    avg, total = np.average(Node(x, "x"), axis=1, weights=[3, 0, 1], returned=True)
    expected_avg, expected_total = np.average(x, axis=1, weights=[3, 0, 1], returned=True)
    assert_same(avg.value, expected_avg, "average")
    assert_same(total, expected_total, "sum of weights")
    np.testing.assert_array_equal(avg.grad(np.ones(2))["x"], [[0.75, 0, 0.25]] * 2)
    avg, count = np.average(Node(x, "x"), returned=True)
    assert_same(count, np.average(x, returned=True)[1], "count")


# --------------------------------------------------------------------------------------------
# Bad input: errors that name the operation and the shape


def _node(*shape: int) -> Node:
    return Node(np.ones(shape), "x")


BAD = [
    (lambda: np.max(_node(2, 3), axis=2), ValueError, r"max: cannot reduce shape \(2, 3\) over axis 2"),
    (lambda: _node(2, 3).min(axis=-3), ValueError, r"min: cannot reduce shape \(2, 3\) over axis -3"),
    (lambda: np.prod(_node(2, 3), axis=(0, 0)), ValueError, r"prod: cannot reduce shape \(2, 3\) over axis \(0, 0\)"),
    (lambda: np.mean(_node(2, 3), axis=1.5), ValueError, r"mean: cannot reduce shape \(2, 3\) over axis 1.5"),
    (lambda: np.var(_node(2, 3), axis=5), ValueError, r"var: cannot reduce shape \(2, 3\) over axis 5"),
    (lambda: np.std(_node(2), axis=(1,)), ValueError, r"std: cannot reduce shape \(2,\) over axis \(1,\)"),
    (lambda: dp.ops.logsumexp(_node(2, 3), axis=2), ValueError, r"logsumexp: cannot reduce shape \(2, 3\) over axis 2"),
    (lambda: np.cumsum(_node(2, 3), axis=2), np.exceptions.AxisError, r"cumsum: axis 2 does not fit shape \(2, 3\)"),
    (lambda: _node(2, 3).cumprod(axis=(0,)), TypeError, r"cumprod: axis \(0,\) does not fit shape \(2, 3\)"),
    (lambda: np.cumsum(Node(1.0, "x"), axis=1), np.exceptions.AxisError, r"cumsum: axis 1 does not fit shape \(\)"),
    (lambda: np.max(_node(2), out=np.zeros(())), TypeError, r"numpy.max on Nodes/Duals: out="),
    (lambda: np.min(_node(2), initial=0.0), TypeError, r"numpy.min on Nodes/Duals: initial not supported"),
    (lambda: np.prod(_node(2), dtype=np.float64), TypeError, r"numpy.prod on Nodes/Duals: .*dtype="),
    (lambda: np.var(_node(2), where=np.array([True, False])), TypeError, r"numpy.var on Nodes/Duals: .*where="),
    (lambda: np.std(_node(2), mean=np.ones(())), TypeError, r"numpy.std on Nodes/Duals: mean not supported"),
    (lambda: np.var(_node(2, 2), ddof=1, correction=1), ValueError, r"var: ddof and correction"),
    (lambda: np.cumsum(_node(2), out=np.zeros(2)), TypeError, r"numpy.cumsum on Nodes/Duals: out="),
    (lambda: np.trace(_node(3)), np.exceptions.AxisError, r"trace: diagonal: axis \(0, 1\) does not fit shape \(3,\)"),
    (lambda: np.trace(_node(2, 2), out=np.zeros(())), TypeError, r"numpy.trace on Nodes/Duals: out="),
    (
        lambda: np.linalg.norm(_node(2, 3), "fro", axis=1),
        ValueError,
        r"norm: invalid norm order 'fro' for vectors \(shape \(2, 3\), axis 1\)",
    ),
    (lambda: np.linalg.norm(_node(2, 3), 3), ValueError, r"norm: invalid norm order 3 for matrices \(shape \(2, 3\)"),
    (lambda: np.linalg.norm(_node(2, 3, 4), 1), ValueError, r"norm: shape \(2, 3, 4\) .*one axis .* or two"),
    (lambda: np.linalg.norm(_node(2, 3), axis=(0, 0)), ValueError, r"norm: axis \(0, 0\) does not fit shape \(2, 3\)"),
    (lambda: np.linalg.norm(_node(2, 3), axis=2), np.exceptions.AxisError, r"norm: axis 2 does not fit shape \(2, 3\)"),
    (
        lambda: np.average(_node(2, 3), weights=[1, 2, 3]),
        ValueError,
        r"average: weights of shape \(3,\) fit neither shape \(2, 3\)",
    ),
    (
        lambda: np.average(_node(2, 3), axis=1, weights=[1, -1, 0]),
        ZeroDivisionError,
        r"average: the weights sum to zero",
    ),
    (lambda: _node(2, 3).argmax(axis=2), np.exceptions.AxisError, r"argmax: shape \(2, 3\): axis 2"),
    (lambda: _node(2, 3).argsort(axis=-3), np.exceptions.AxisError, r"argsort: shape \(2, 3\): axis -3"),
]


@pytest.mark.parametrize("call, error, message", BAD)
def test_bad_input_names_the_operation_and_the_shape(call, error, message):
    with pytest.raises(error, match=message):
        call()
