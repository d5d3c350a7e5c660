"""numerical_grad and gradcheck: every operation passes in both modes; a planted wrong derivative
is caught in each mode, with a message that names the argument, the element, both values and the
tolerance."""

from __future__ import annotations

import re

import numpy as np
import pytest

import dp
from _oracle_ad import OPS
from dp import Dual, Node


@pytest.mark.parametrize("name", OPS)
def test_every_operation_passes_gradcheck_in_both_modes(name):
    op = OPS[name]
    assert dp.gradcheck(op.dp, *op.sample(np.random.default_rng(6))) is True


def test_numerical_grad_gradient_and_jacobian():
    x = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(dp.numerical_grad(lambda t: np.sum(np.sin(t)), x), np.cos(x), rtol=1e-9)
    np.testing.assert_allclose(dp.numerical_grad(lambda t: t**2, x), np.diag(2 * x), atol=1e-8)
    np.testing.assert_allclose(dp.numerical_grad(lambda t: Node(t).exp().sum(), x), np.exp(x), rtol=1e-9)
    assert dp.numerical_grad(lambda t: t * t, 3) == pytest.approx(6.0)
    x_before = x.copy()
    dp.numerical_grad(lambda t: np.sum(t), x)
    np.testing.assert_array_equal(x, x_before)  # the caller's array is left alone


def wrong_sin(x):
    """sin with a planted wrong derivative, sin(x) where cos(x) belongs: in the node's reverse
    rule and in the dual's tangent."""
    y = np.sin(x)
    if isinstance(y, Node):
        y.vjps = (lambda g, out, x: g * np.sin(x),)
    if isinstance(y, Dual):
        y.tangent = x.tangent * np.sin(x.value)
    return y


def planted(x, w):
    return np.sum(wrong_sin(x) * w, axis=0)


X = np.array([[0.5, 1.0, -2.0], [0.3, 0.2, 1.5]])
W = np.array([[1.0, -1.0, 2.0], [0.5, 3.0, 1.0]])


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_gradcheck_catches_a_planted_wrong_derivative(mode):
    with pytest.raises(AssertionError) as caught:
        dp.gradcheck(planted, X, W, modes=(mode,))
    message = str(caught.value)
    assert f"{mode} mode is wrong for argument 0 ('x')" in message
    worst = re.search(r"element \((\d+), (\d+)\)", message)
    assert worst, message
    index = (int(worst[1]), int(worst[2]))
    assert "central differences give" in message and "atol + rtol * |numerical|" in message
    # The two values printed are the planted and the true derivative at that element.
    u = np.random.default_rng(0).standard_normal(3)  # gradcheck's fixed random cotangent
    planted_value = float(re.search(r"mode gives\s+(\S+)", message)[1])
    numerical = float(re.search(r"central differences give\s+(\S+)", message)[1])
    assert planted_value == pytest.approx(np.sin(X[index]) * W[index] * u[index[1]], rel=1e-12)
    assert numerical == pytest.approx(np.cos(X[index]) * W[index] * u[index[1]], rel=1e-6)
    assert "out of tolerance" in message


def test_gradcheck_leaves_the_correct_argument_alone():
    """w's derivative is right (it does not go through the planted rule): argnums=(1,) passes."""
    assert dp.gradcheck(planted, X, W, argnums=(1,))


def test_gradcheck_on_structures_names_the_part():
    def f(params):
        a, b = params
        return np.sum(wrong_sin(a) * b)

    with pytest.raises(AssertionError, match=r"reverse mode is wrong for argument 0 \('params'\)\[0\]"):
        dp.gradcheck(f, [np.array([0.4, 1.2]), np.array([1.0, 2.0])])
    assert dp.gradcheck(lambda p: np.sum(np.sin(p[0]) * p[1]), [np.array([0.4, 1.2]), np.array([1.0, 2.0])])


def test_gradcheck_of_the_blogs_neuron():
    def neuron(parameters):
        a, b, c, x, y = parameters
        return 1 / (1 + np.exp(-(a * x + b * y + c)))

    assert dp.gradcheck(neuron, [1, 2, -3, -1, 3])
    assert dp.gradcheck(neuron, np.array([1, 2, -3, -1, 3]))


def planted_rule(rule):
    """sum(exp(x)) with reverse rule `rule` in place of exp's own."""

    def f(x):
        y = np.exp(x)
        if isinstance(y, Node):
            y.vjps = (rule,)
        return np.sum(y)

    return f


def test_a_nan_on_one_side_fails_and_tolerances_are_honoured():
    with pytest.raises(AssertionError, match=r"element \(1,\)"):
        dp.gradcheck(
            planted_rule(lambda g, out, x: g * out * np.array([1.0, np.nan])), np.array([0.1, 0.2]), modes=("reverse",)
        )
    slightly_off = planted_rule(lambda g, out, x: g * out * 1.01)
    with pytest.raises(AssertionError, match="2 of 2 elements out of tolerance"):
        dp.gradcheck(slightly_off, np.array([0.1, 0.2]), modes=("reverse",))
    assert dp.gradcheck(slightly_off, np.array([0.1, 0.2]), rtol=0.02, modes=("reverse",))


def test_bad_input():
    with pytest.raises(ValueError, match="modes must be"):
        dp.gradcheck(np.sin, np.ones(2), modes=("sideways",))
    with pytest.raises(TypeError, match="returned a Dual"):
        dp.gradcheck(lambda x: Dual(x, x), np.ones(2))


def test_argnums_out_of_range_and_a_single_mode_as_a_string():
    with pytest.raises(IndexError, match="gradcheck: argnum 5 is out of range: f was called with 2"):
        dp.gradcheck(lambda x, y: x * y, np.ones(2), np.ones(2), argnums=[5])
    with pytest.raises(ValueError, match="names an argument twice"):
        dp.gradcheck(lambda x, y: x * y, np.ones(2), np.ones(2), argnums=[0, -2])
    assert dp.gradcheck(lambda x, y: x * y, np.ones(2), np.ones(2), argnums=[-1])
    assert dp.gradcheck(lambda x, y: x * y, np.ones(2), np.ones(2), argnums=1)
    assert dp.gradcheck(np.sin, np.ones(2), modes="forward")  # one mode, not the letters of its name
    with pytest.raises(ValueError, match="got 'sideways'"):
        dp.gradcheck(np.sin, np.ones(2), modes="sideways")
