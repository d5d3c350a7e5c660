"""Forward mode: every operation's J·v against reverse mode and finite differences; dual numbers
as the blog writes them; one function on arrays, Nodes and Duals; nesting; bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dp
from _oracle_ad import OPS, constant_call, directional_difference
from dp import Dual, Node, jvp

seeds = st.integers(0, 2**32 - 1)


@pytest.mark.parametrize("name", OPS)
@settings(max_examples=15)
@given(seed=seeds)
def test_jvp_agrees_with_reverse_mode_and_finite_differences(name, seed):
    """<u, J v> three ways: forward mode, reverse mode (<J^T u, v>) and central differences."""
    op = OPS[name]
    rng = np.random.default_rng(seed)
    inputs = op.sample(rng)
    directions = [rng.standard_normal(x.shape) for x in inputs]
    value, tangent = jvp(op.dp, tuple(inputs), tuple(directions))
    np.testing.assert_array_equal(value, constant_call(op.dp, inputs))  # Node's own forward, to the bit
    assert np.shape(tangent) == np.shape(value)
    np.testing.assert_allclose(tangent, directional_difference(op.dp, inputs, directions), rtol=1e-6, atol=1e-7)
    u = rng.standard_normal(np.shape(value))
    _, pullback = dp.vjp(op.dp, *inputs)
    reverse = sum(np.sum(g * v) for g, v in zip(pullback(u), directions))
    np.testing.assert_allclose(np.sum(u * tangent), reverse, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", OPS)
def test_float32_stays_float32(name):
    op = OPS[name]
    rng = np.random.default_rng(0)
    inputs = op.sample(rng, np.float32)
    value, tangent = jvp(op.dp, tuple(inputs), tuple(np.ones_like(x) for x in inputs))
    assert value.dtype == np.float32 and tangent.dtype == np.float32, (value.dtype, tangent.dtype)


@pytest.mark.parametrize("name", ["matmul", "softmax", "sum axis 0 keepdims", "where", "concatenate"])
def test_seeding_one_input_element_gives_one_jacobian_column(name):
    """The project sheet: tangent 1 on one element, 0 elsewhere, gives the column for that element."""
    op = OPS[name]
    inputs = op.sample(np.random.default_rng(1))
    jacobian = dp.jacobian(op.dp, argnum=0)(*inputs)  # reverse mode, row by row
    for index in np.ndindex(inputs[0].shape):
        seed = np.zeros_like(inputs[0])
        seed[index] = 1
        _, column = jvp(op.dp, tuple(inputs), (seed,) + tuple(np.zeros_like(x) for x in inputs[1:]))
        np.testing.assert_allclose(column, jacobian[(...,) + index], rtol=1e-12, atol=1e-14)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def neuron(parameters):
    a, b, c, x, y = parameters
    return sigmoid(a * x + b * y + c)


BLOG_POINT = [1, 2, -3, -1, 3]
BLOG_VALUE = 0.8807970779778823
BLOG_GRADIENT = [-0.1049935854035065, 0.3149807562105195, 0.1049935854035065, 0.1049935854035065, 0.209987170807013]


def blog(number):
    """The blog's printed digits (here they match to the last bit; a few ulps allow other libms)."""
    return pytest.approx(number, rel=1e-15, abs=0)


def test_the_blogs_neuron_seeded_one_input_at_a_time():
    """The blog post: neuron1 [(1, 1), (2, 0), (-3, 0), (-1, 0), (3, 0)] = (0.8807970779778823, -0.1049935854035065)."""
    for position, expected in enumerate(BLOG_GRADIENT):
        seeds = [1.0 if index == position else 0.0 for index in range(5)]
        value, tangent = jvp(neuron, BLOG_POINT, seeds)
        assert float(value) == blog(BLOG_VALUE)
        assert float(tangent) == blog(expected)


def test_the_blogs_neuron_on_dual_numbers_directly():
    value = neuron([Dual(1, 1), Dual(2, 0), Dual(-3, 0), Dual(-1, 0), Dual(3, 0)])
    assert (float(value.value), float(value.tangent)) == (blog(BLOG_VALUE), blog(BLOG_GRADIENT[0]))


def test_seeding_all_ones_gives_the_directional_derivative():
    """The project sheet's third case: both seeds 1 give the sum of the partial derivatives."""
    _, tangent = jvp(neuron, BLOG_POINT, [1.0] * 5)
    assert float(tangent) == pytest.approx(sum(BLOG_GRADIENT), rel=1e-15)


def test_one_function_runs_on_arrays_nodes_and_duals():
    """NumPy functions, operators and sum/reshape/T: the idiom that runs on all three."""

    def f(x, w):
        h = np.tanh(x @ w)
        return np.where(h > 0, h, 0.1 * h).sum(axis=0).reshape(1, -1).T * np.exp(-np.maximum(x.sum(), 0.0))

    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    plain = f(x, w)
    assert type(plain) is np.ndarray
    on_nodes = f(Node(x, "x"), Node(w, "w"))
    assert isinstance(on_nodes, Node)
    value, tangent = jvp(f, (x, w), (np.ones_like(x), np.zeros_like(w)))
    np.testing.assert_allclose(on_nodes.value, plain, rtol=1e-15)
    np.testing.assert_allclose(value, plain, rtol=1e-15)
    gradient = on_nodes.grad(np.ones_like(plain))["x"]
    assert np.sum(tangent) == pytest.approx(np.sum(gradient), rel=1e-12)


def test_the_blogs_rules_by_hand():
    x, y = Dual(3.0, 1.0), Dual(2.0, 5.0)
    assert (x * y).value == 6 and (x * y).tangent == 3 * 5 + 1 * 2
    assert (x / y).tangent == pytest.approx((2 * 1 - 3 * 5) / 4)
    assert (x - y).tangent == -4 and (-x).tangent == -1
    assert x.exp().tangent == pytest.approx(np.exp(3.0))
    assert (2 - x).tangent == -1 and (1 / x).tangent == pytest.approx(-1 / 9)


def test_numpy_protocols_and_array_properties():
    d = Dual(np.arange(6.0).reshape(2, 3), np.ones((2, 3)))
    assert isinstance(np.exp(d), Dual) and isinstance(np.ones(3) * d, Dual) and isinstance(np.sum(d), Dual)
    assert isinstance(np.stack([d, d]), Dual) and isinstance(np.concatenate([d, np.zeros((1, 3))]), Dual)
    assert d.shape == (2, 3) and d.ndim == 2 and d.size == 6 and len(d) == 2 and d.dtype == np.float64
    assert [row.shape for row in d] == [(3,), (3,)]
    np.testing.assert_array_equal(d > 2, d.value > 2)
    sign = np.sign(d - 2)  # zero derivative: a Dual whose tangent is exactly 0
    np.testing.assert_array_equal(sign.value, np.sign(d.value - 2))
    np.testing.assert_array_equal(sign.tangent, np.zeros_like(d.value))
    assert float(Dual(2.0, 1.0)) == 2.0 and Dual(2.0, 1.0).item() == 2.0
    assert "Dual(" in repr(d)


def test_a_number_tangent_fills_the_value_and_dtypes_follow_the_value():
    d = Dual(np.float32([1, 2, 3]), 1)
    assert d.tangent.dtype == np.float32 and d.tangent.tolist() == [1, 1, 1]
    d.tangent[0] = 5  # its own, writable buffer
    assert Dual([1, 2], [0, 1]).value.dtype == np.float64


def test_nested_jvp_has_no_perturbation_confusion():
    """d/dx [x * d/dy (x + y)] = 1: the inner derivative must not see the outer x's tangent."""

    def outer(x):
        return x * jvp(lambda y: x + y, 1.0, 1.0)[1]

    assert float(jvp(outer, 3.0, 1.0)[1]) == 1.0


def test_forward_over_forward_second_derivative():
    """jvp of a jvp: d^2/dx^2 sin(x) = -sin(x), each level seeded with 1."""

    def derivative(x):
        return jvp(np.sin, x, np.ones(x.shape))[1]

    x = np.linspace(-2, 2, 5)
    np.testing.assert_allclose(jvp(derivative, x, np.ones_like(x))[1], -np.sin(x), rtol=1e-14)


def test_jvp_on_structures_and_outputs_that_ignore_the_input():
    value, tangent = jvp(lambda p: (p[0] * p[1], 3.0), ([2.0, 5.0],), ([1.0, 0.0],))
    assert float(value[0]) == 10 and float(tangent[0]) == 5
    assert value[1] == 3.0 and tangent[1] == 0.0


def test_jvp_with_nodes_as_primals_is_differentiable_in_reverse_mode():
    x = Node(np.array([1.0, 2.0]), "x")
    _, tangent = jvp(lambda t: t**3, x, np.ones(2))
    assert isinstance(tangent, Node)  # 3 x^2, a graph of x
    np.testing.assert_allclose(tangent.sum().grad()["x"], 6 * x.value)


def test_module_functions_dispatch():
    d, a = Dual(np.ones(3), np.ones(3)), np.arange(3.0)
    assert isinstance(dp.where(a > 0, d, a), Dual) and isinstance(dp.where(a > 0, Node(a), a), Node)
    assert isinstance(dp.maximum(a, d), Dual) and isinstance(dp.stack([a, d]), Dual)
    # on plain arrays the table's operations are plain NumPy
    assert type(dp.concatenate([a, a])) is np.ndarray and type(dp.where(a > 0, a, a)) is np.ndarray


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match=r"tangent for argument 0 has shape \(2,\), but its primal has shape \(3,\)"):
        jvp(np.sin, np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"tangent's shape \(2,\) differs from the value's shape \(3,\)"):
        Dual(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="2 primal argument"):
        jvp(lambda a, b: a * b, (1.0, 2.0), (1.0,))
    with pytest.raises(ValueError, match="structure"):
        jvp(lambda p: p[0], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) do not multiply"):
        Dual(np.ones((2, 3))) @ np.ones((2, 3))
    with pytest.raises(TypeError, match="without losing its tangent"):
        np.asarray(Dual(1.0, 1.0))
    with pytest.raises(TypeError, match="cannot differentiate through numpy.fft.fft"):
        np.fft.fft(Dual(np.ones(3)))
    with pytest.raises(TypeError, match="expected a number or an array"):
        Dual("text")


def test_power_with_exponent_zero_has_zero_tangent_at_zero():
    # d/dx x^0 = 0 everywhere, x = 0 included: not 0 * 0^(-1) = 0 * inf = NaN (PyTorch gives 0).
    x = np.array([0.0, 1.0, 2.0])
    assert np.array_equal((Dual(x, 1.0) ** 0).tangent, np.zeros(3))
    assert np.array_equal(jvp(lambda x: x**0.0, x, np.ones(3))[1], np.zeros(3))
    d = Dual(np.array([0.0, 0.0, 2.0]), 1.0) ** Dual(np.array([0.0, 2.0, 2.0]), np.array([0.0, 0.0, 1.0]))
    assert np.array_equal(d.tangent, [0.0, 0.0, 4.0 + 4.0 * np.log(2.0)])
    assert (Dual(np.zeros(2, np.float32), 1.0) ** 0).tangent.dtype == np.float32


def test_swapaxes_with_an_axis_out_of_range_names_the_operation():
    with pytest.raises(ValueError, match=r"swapaxes: axes \(0, 5\) do not fit shape \(2, 3\)"):
        Dual(np.ones((2, 3))).swapaxes(0, 5)


def test_a_float_tangent_takes_the_values_dtype():
    # A Python float (or float64 array) tangent must not make a float32 dual's tangent float64.
    assert Dual(np.float32([1, 2]), 1.0).tangent.dtype == np.float32
    assert Dual(np.float32(2), np.float64(1)).tangent.dtype == np.float32
    assert Dual(np.float32([1, 2]), np.ones(2)).tangent.dtype == np.float32
    assert jvp(lambda x: x * x, np.float32(3), 1.0)[1].dtype == np.float32
