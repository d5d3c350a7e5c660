"""Higher order: second derivatives of every operation against PyTorch's double backward, five
ways (the engine's create_graph, and every nesting of the two modes); analytic derivatives up to
third order; the Hessian of a small network against torch.autograd.functional.hessian."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dp
from _oracle_ad import OPS, tanh_mlp, torch_first_and_second
from dp import Node, backpropagate, jvp

seeds = st.integers(0, 2**32 - 1)


def hessian_vector_products(loss, inputs, ws):
    """(H w)_i for the scalar loss, each way dp can compute it; and <w, H w> forward over forward."""
    every = tuple(range(len(inputs)))

    def gradient(*xs):
        return dp.grad(loss, every)(*xs)

    def inner(parts, ws):
        return sum(np.sum(part * w) for part, w in zip(parts, ws))

    leaves = [Node(x, requires_grad=True) for x in inputs]
    firsts = backpropagate(loss(*leaves), create_graph=True)
    found = backpropagate(inner([firsts[leaf] for leaf in leaves], ws))
    ways = {
        "node create_graph": [found.get(leaf, np.zeros_like(x)) for leaf, x in zip(leaves, inputs)],
        "reverse over reverse": dp.grad(lambda *xs: inner(gradient(*xs), ws), every)(*inputs),
        "forward over reverse": jvp(gradient, tuple(inputs), tuple(ws))[1],
        "reverse over forward": dp.grad(lambda *xs: jvp(loss, xs, tuple(ws))[1], every)(*inputs),
    }
    w_h_w = jvp(lambda *xs: jvp(loss, xs, tuple(ws))[1], tuple(inputs), tuple(ws))[1]
    return ways, w_h_w


@pytest.mark.parametrize("name", OPS)
@settings(max_examples=8)
@given(seed=seeds)
def test_second_derivatives_match_pytorch_double_backward(name, seed):
    """Each op composed with sin, so the first derivative depends on x even for linear ops and
    the op's derivative rule itself is differentiated (it is fed Nodes on the create_graph pass)."""
    op = OPS[name]
    rng = np.random.default_rng(seed)
    inputs = op.sample(rng)
    u = rng.standard_normal(np.shape(op.dp(*(Node(x) for x in inputs)).value))
    ws = [rng.standard_normal(x.shape) for x in inputs]

    def loss(*xs):
        return np.sum(np.sin(op.dp(*xs)) * u)

    expected_first, expected_second = torch_first_and_second(lambda *ts: torch.sin(op.torch(*ts)), inputs, u, ws)
    for got, expected in zip(dp.grad(loss, tuple(range(len(inputs))))(*inputs), expected_first):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    ways, w_h_w = hessian_vector_products(loss, inputs, ws)
    for way, second in ways.items():
        for got, expected in zip(second, expected_second):
            assert isinstance(got, np.ndarray), way
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11, err_msg=way)
    assert float(w_h_w) == pytest.approx(sum(np.sum(h * w) for h, w in zip(expected_second, ws)), rel=1e-9, abs=1e-11)


# name: (function of a scalar, its second derivative, its third derivative or None)
ANALYTIC = {
    "sin": (np.sin, lambda x: -np.sin(x), lambda x: -np.cos(x)),
    "cos": (np.cos, lambda x: -np.cos(x), lambda x: np.sin(x)),
    "exp": (np.exp, np.exp, np.exp),
    "log": (np.log, lambda x: -1 / x**2, lambda x: 2 / x**3),
    "tanh": (np.tanh, lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2), None),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s), None),
    "sqrt": (np.sqrt, lambda x: -0.25 * x**-1.5, lambda x: 0.375 * x**-2.5),
    "x ** 3": (lambda x: x**3, lambda x: 6 * x, lambda x: 6.0),
    "1 / x": (lambda x: 1 / x, lambda x: 2 / x**3, lambda x: -6 / x**4),
    "2 ** x": (lambda x: 2**x, lambda x: np.log(2) ** 2 * 2**x, lambda x: np.log(2) ** 3 * 2**x),
    "x * exp(-x)": (lambda x: x * np.exp(-x), lambda x: (x - 2) * np.exp(-x), lambda x: (3 - x) * np.exp(-x)),
}


@pytest.mark.parametrize("name", ANALYTIC)
@pytest.mark.parametrize("x", [0.3, 1.7])
def test_second_and_third_derivatives_against_the_formulas(name, x):
    f, second, third = ANALYTIC[name]
    assert dp.grad(dp.grad(f))(x) == pytest.approx(second(x), rel=1e-12)
    ones = np.ones(())
    forward_twice = jvp(lambda t: jvp(f, t, ones)[1], np.array(x), ones)[1]
    assert float(forward_twice) == pytest.approx(second(x), rel=1e-12)
    if third is not None:
        assert dp.grad(dp.grad(dp.grad(f)))(x) == pytest.approx(third(x), rel=1e-10)
        assert float(jvp(dp.grad(dp.grad(f)), np.array(x), ones)[1]) == pytest.approx(third(x), rel=1e-10)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_hessian_of_a_small_tanh_network_matches_pytorch(mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    loss_dp, loss_torch, count = tanh_mlp([3, 4, 3], x, rng.integers(0, 3, 5))
    theta = rng.standard_normal(count) * 0.5
    expected = torch.autograd.functional.hessian(loss_torch, torch.tensor(theta)).numpy()
    hessian = dp.hessian(loss_dp, mode=mode)(theta)
    assert hessian.shape == (count, count)
    np.testing.assert_allclose(hessian, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)


def test_hessian_reverse_over_forward_and_forward_over_forward():
    rng = np.random.default_rng(1)
    loss_dp, loss_torch, count = tanh_mlp([2, 3, 2], rng.standard_normal((4, 2)), rng.integers(0, 2, 4))
    theta = rng.standard_normal(count)
    expected = torch.autograd.functional.hessian(loss_torch, torch.tensor(theta)).numpy()
    forward_gradient = dp.jacobian(loss_dp, mode="forward")
    np.testing.assert_allclose(dp.jacobian(forward_gradient)(theta), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dp.jacobian(forward_gradient, mode="forward")(theta), expected, rtol=1e-9, atol=1e-12)


def test_node_grad_with_create_graph_gives_nodes_to_differentiate_again():
    x = Node(np.array([0.5, 1.5]), "x")
    gradient = (x**3).sum().grad(create_graph=True)["x"]
    assert isinstance(gradient, Node)
    np.testing.assert_allclose(gradient.value, 3 * x.value**2)
    np.testing.assert_allclose(gradient.sum().grad()["x"], 6 * x.value)


def test_nesting_sees_a_node_closed_over_from_an_enclosing_grad():
    """d/dx [d/dy (x * y)] = 1: the inner gradient is x, which the outer pass must see."""
    assert dp.grad(lambda x: dp.grad(lambda y: x * y)(1.0))(2.0) == 1.0
    assert dp.grad(lambda x: dp.grad(lambda y: x * y * y)(3.0))(2.0) == 6.0


def test_first_order_gradients_stay_plain_arrays():
    """No graph of the gradient is built when nothing will differentiate it again."""
    gradient = dp.grad(lambda x: np.sum(np.tanh(x)))(np.ones(3))
    assert type(gradient) is np.ndarray
    x = Node(np.ones(3), "x")
    inner = dp.grad(lambda t: np.sum(t * x))(np.ones(3))  # depends on the differentiable x
    assert isinstance(inner, Node)


def test_float32_second_derivatives_stay_float32():
    x = np.float32([0.5, 1.0])
    second = dp.grad(lambda t: np.sum(dp.grad(lambda s: np.sum(np.sin(s)))(t)))(x)
    assert second.dtype == np.float32
    np.testing.assert_allclose(second, -np.sin(x), rtol=1e-6)
    assert dp.hessian(lambda t: np.sum(t**3))(x).dtype == np.float32


def test_a_scalar_reached_by_three_paths_sums_all_three():
    """Found by the third derivative of 1/x: the sum of two 0-d gradients is an immutable NumPy
    scalar, so adding a third one in place was lost (node.py now only adds in place to arrays)."""
    x = Node(2.0, "x")
    assert (x + x + x).grad()["x"] == 3.0
    assert (x * x * x).grad()["x"] == 12.0
    assert dp.grad(dp.grad(dp.grad(lambda t: 1 / t)))(2.0) == pytest.approx(-6 / 2.0**4, rel=1e-14)


def test_vjp_and_jacobian_nest_inside_grad():
    x = np.array([0.3, 1.1, 2.0])
    pulled = dp.grad(lambda t: np.sum(dp.vjp(np.sin, t)[1](np.ones(3))[0]))(x)  # d/dx sum(cos x)
    np.testing.assert_allclose(pulled, -np.sin(x), rtol=1e-14)
    traced = dp.grad(lambda t: np.sum(dp.jacobian(lambda s: s**3)(t)))(x)  # d/dx sum(diag(3x^2))
    np.testing.assert_allclose(traced, 6 * x, rtol=1e-14)
