"""The functional API: grad, value_and_grad, vjp, jacobian (both modes), hessian; argument
structures, shapes and dtypes; the blog's gradBP; bad input."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dp
from _oracle_ad import OPS
from dp import Node


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def neuron(parameters):
    a, b, c, x, y = parameters
    return sigmoid(a * x + b * y + c)


BLOG_GRADIENT = [-0.1049935854035065, 0.3149807562105195, 0.1049935854035065, 0.1049935854035065, 0.209987170807013]


def test_the_blogs_gradBP_and_evalBP():
    """backwardNeuron [1, 2, -3, -1, 3] as the blog prints it: a list, because the argument is one."""
    printed = pytest.approx(BLOG_GRADIENT, rel=1e-15, abs=0)  # equal to the bit here; ulps elsewhere
    gradient = dp.grad(neuron)([1, 2, -3, -1, 3])
    assert isinstance(gradient, list) and gradient == printed
    assert all(type(g) is float for g in gradient)
    value, same = dp.value_and_grad(neuron)([1, 2, -3, -1, 3])
    assert float(value) == pytest.approx(0.8807970779778823, rel=1e-15, abs=0) and same == printed
    as_array = dp.grad(neuron)(np.array([1.0, 2, -3, -1, 3]))
    assert as_array.shape == (5,) and as_array.tolist() == printed


def test_gradients_have_each_arguments_structure_shape_and_dtype():
    Pair = namedtuple("Pair", "w b")

    def f(params, x, scale):
        return np.sum(np.tanh(x @ params.w + params.b) * scale[0]) + scale[1][0] ** 2

    rng = np.random.default_rng(0)
    params = Pair(rng.standard_normal((3, 2)).astype(np.float32), np.zeros(2, np.float32))
    x = rng.standard_normal((4, 3)).astype(np.float32)
    g_params, g_x, g_scale = dp.grad(f, (0, 1, 2))(params, x, [2.0, [3]])
    assert isinstance(g_params, Pair) and g_params.w.shape == (3, 2) and g_params.w.dtype == np.float32
    assert g_x.shape == (4, 3) and g_x.dtype == np.float32
    assert isinstance(g_scale, list) and isinstance(g_scale[1], list) and g_scale[1][0] == 6.0
    assert dp.grad(lambda x: np.sum(x * x))(np.arange(3)).dtype == np.float64  # integers: float64


@pytest.mark.parametrize("name", ["matmul", "softmax", "concatenate", "where", "log_softmax", "max axis 1"])
@pytest.mark.parametrize("argnum", [0, -1])
def test_grad_and_vjp_match_pytorch(name, argnum):
    op = OPS[name]
    rng = np.random.default_rng(4)
    inputs = op.sample(rng)
    u = rng.standard_normal(np.shape(op.dp(*(Node(x) for x in inputs)).value))
    tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
    (op.torch(*tensors) * torch.tensor(u)).sum().backward()
    expected = tensors[argnum].grad.numpy()
    gradient = dp.grad(lambda *xs: np.sum(op.dp(*xs) * u), argnum)(*inputs)
    np.testing.assert_allclose(gradient, expected, rtol=1e-12, atol=1e-14)
    _, pullback = dp.vjp(op.dp, *inputs)
    np.testing.assert_allclose(pullback(u)[argnum], expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pullback(2 * u)[argnum], 2 * expected, rtol=1e-12, atol=1e-14)  # called again


@pytest.mark.parametrize("name", ["mul", "matmul", "softmax axis 0", "slices", "stack", "pow", "broadcast_to"])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobian_matches_pytorch(name, mode):
    op = OPS[name]
    inputs = op.sample(np.random.default_rng(5))
    argnums = tuple(range(len(inputs)))
    expected = torch.autograd.functional.jacobian(op.torch, tuple(torch.tensor(x) for x in inputs))
    jacobians = dp.jacobian(op.dp, argnums, mode=mode)(*inputs)
    for got, want in zip(jacobians, expected):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-14)


@settings(max_examples=10)
@given(seed=st.integers(0, 2**32 - 1), shape=st.sampled_from([(), (3,), (2, 3)]))
def test_forward_and_reverse_jacobians_agree(seed, shape):
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(0.5, 2, shape), rng.standard_normal((4,) + shape)

    def f(x, w):
        return np.exp(w * np.sin(x)).sum(axis=tuple(range(1, w.ndim))) if shape else np.exp(w * np.sin(x))

    for argnum in (0, 1):
        reverse = dp.jacobian(f, argnum)(x, w)
        forward = dp.jacobian(f, argnum, mode="forward")(x, w)
        np.testing.assert_allclose(forward, reverse, rtol=1e-13, atol=1e-14)


def test_jacobian_and_hessian_shapes():
    x = np.ones((2, 3))
    assert dp.jacobian(lambda x: x.sum(axis=0))(x).shape == (3, 2, 3)
    assert dp.jacobian(lambda x: x.sum(axis=0), mode="forward")(x).shape == (3, 2, 3)
    hessian = dp.hessian(lambda x: np.sum(x**3))(x)
    assert hessian.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(hessian.reshape(6, 6), np.diag(6 * x.reshape(-1)))
    assert dp.jacobian(lambda x: x * 2)(3.0) == 2.0
    assert dp.jacobian(lambda x: x[:0])(np.ones(3)).shape == (0, 3)


def test_functions_that_ignore_an_argument_get_zeros():
    grads = dp.grad(lambda a, b: np.sum(a * 2), (0, 1))(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(grads[1], np.zeros(3))
    with pytest.warns(UserWarning, match="does not depend on its inputs"):  # a constant: said, then 0
        assert dp.grad(lambda a: 5.0)(np.ones(2)).tolist() == [0.0, 0.0]
    assert dp.grad(lambda a: a)(3.0) == 1.0


def test_names_inside_f_never_clash_with_dps_variables():
    """The variables are unnamed: f may use named Nodes of its own. A gradient that depends on a
    Node needing a gradient is itself a Node, so it can be differentiated again."""
    w = Node(np.array([2.0, 3.0]), "x")
    gradient = dp.grad(lambda x: np.sum(w * x))(np.ones(2))
    assert isinstance(gradient, Node) and gradient.value.tolist() == [2.0, 3.0]
    assert gradient.sum().grad()["x"].tolist() == [1.0, 1.0]
    assert dp.grad(lambda x: np.sum(w.detach() * x))(np.ones(2)).tolist() == [2.0, 3.0]


def test_the_returned_functions_are_named_and_keep_fs_signature():
    import inspect

    def loss(weights, inputs):
        return np.sum(weights * inputs)

    assert dp.grad(loss).__name__ == "grad(loss)"
    assert list(inspect.signature(dp.value_and_grad(loss)).parameters) == ["weights", "inputs"]


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match=r"must return a scalar, but its output has shape \(3,\)"):
        dp.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(IndexError, match="argnum 2 is out of range: f was called with 2 positional"):
        dp.grad(lambda a, b: a * b, 2)(1.0, 2.0)
    with pytest.raises(IndexError, match="argnum 0 is out of range"):
        dp.grad(lambda: 1.0)()
    with pytest.raises(TypeError, match="argnum must be an int or a tuple of ints"):
        dp.grad(lambda a: a, "a")(1.0)
    with pytest.raises(ValueError, match="names an argument twice"):
        dp.grad(lambda a, b: a * b, (0, -2))(1.0, 2.0)
    with pytest.raises(TypeError, match="f must return a number, an array, a Node or a Dual, got str"):
        dp.grad(lambda a: "loss")(1.0)
    with pytest.raises(TypeError, match="argument 0"):
        dp.grad(lambda a: a)("one")
    _, pullback = dp.vjp(lambda x: x * 2, np.ones(3))
    with pytest.raises(ValueError, match=r"cotangent has shape \(2,\), but f's output has shape \(3,\)"):
        pullback(np.ones(2))
    with pytest.raises(ValueError, match="mode must be 'reverse' or 'forward'"):
        dp.jacobian(np.sin, mode="sideways")
    with pytest.raises(TypeError, match="must return one array"):
        dp.jacobian(lambda x: (x, x))(np.ones(2))
    with pytest.raises(TypeError, match="hessian: argnum must be one int"):
        dp.hessian(lambda a, b: a * b, (0, 1))


@pytest.mark.parametrize("module", ["dp", "dp.forward", "dp.functional", "dp.check", "dp.graph"])
def test_the_docstring_examples_run(module):
    import doctest
    import importlib

    results = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted > 0 and results.failed == 0


def test_a_function_that_leaves_the_graph_is_flagged_not_silently_zero():
    """math.exp(x) or float(x) turn a Node into a plain float: the gradient is then 0, and dp says why."""
    import math

    with pytest.warns(UserWarning, match=r"does not depend on its inputs .*math.exp"):
        assert dp.grad(lambda x: math.exp(x))(1.0) == 0.0
