"""Reverse mode as a whole: the seeds' worked examples, graph shapes, dtypes, seeds and bad input."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dp
from dp import Node, backpropagate

# ---------------------------------------------------------------------------------------------
# The worked examples of the seed documents


def test_paper_figure_1():
    a = Node(np.array([[1, 1, 1], [2, 2, 2]]), "A")
    b = Node(np.array([[1, 2, 3]]), "B")
    c = a * b
    d = c.exp()
    e = d.sum()
    grads = e.grad(1)
    assert set(grads) == {"A", "B"}
    # The numbers printed in the paper (rounded there to two decimals)
    np.testing.assert_allclose(grads["A"], [[2.7, 14.78, 60.26], [7.39, 109.20, 1210.29]], atol=0.02)
    np.testing.assert_allclose(grads["B"], [[17.50, 116.59, 826.94]], atol=0.01)
    # and exactly: dE/dA = B exp(A B), dE/dB = sum over rows of A exp(A B)
    np.testing.assert_allclose(grads["A"], b.value * np.exp(a.value * b.value), rtol=1e-15)
    np.testing.assert_allclose(grads["B"], (a.value * np.exp(a.value * b.value)).sum(0, keepdims=True), rtol=1e-15)
    assert grads["A"].shape == (2, 3) and grads["B"].shape == (1, 3)


def test_slides_example_by_hand():
    """y = x1 x2 + sin(x1) at (2, 3): dy/dx1 = x2 + cos(x1) = 2.58, dy/dx2 = x1 = 2."""
    x1, x2 = Node(2.0, "x1"), Node(3.0, "x2")
    y = x1 * x2 + x1.sin()
    assert y.value == pytest.approx(6 + math.sin(2))
    grads = y.grad(1)
    assert grads["x1"] == pytest.approx(3 + math.cos(2))
    assert round(float(grads["x1"]), 2) == 2.58
    assert grads["x2"] == 2


BLOG_GRADIENTS = [-0.1049935854035065, 0.3149807562105195, 0.1049935854035065, 0.1049935854035065, 0.209987170807013]


@pytest.mark.parametrize("sigmoid", [lambda z: 1 / (1 + (-z).exp()), Node.sigmoid], ids=["1/(1+exp(-z))", "sigmoid"])
def test_blog_neuron(sigmoid):
    a, b, c, x, y = (Node(v, n) for v, n in zip([1, 2, -3, -1, 3], "abcxy"))
    out = sigmoid(a * x + b * y + c)
    assert out.value == pytest.approx(0.8807970779778823, rel=1e-15)
    grads = out.grad(1)
    np.testing.assert_allclose([grads[n] for n in "abcxy"], BLOG_GRADIENTS, rtol=1e-14)


def test_backward_is_grad_under_pytorchs_name():
    x = Node(np.arange(3.0), "x")
    out = (x * x).sum()
    np.testing.assert_array_equal(out.backward()["x"], out.grad(1)["x"])
    np.testing.assert_array_equal(out.backward(seed=2)["x"], 2 * out.grad(1)["x"])


# ---------------------------------------------------------------------------------------------
# Graph shapes: shared sub-expressions, deep chains, constants


def test_shared_subexpressions_are_visited_once():
    """y = x doubled 200 times: 2^200 paths, which a recursive walk would follow one by one."""
    x = Node(1.0, "x")
    y = x
    for _ in range(200):
        y = y + y
    assert y.grad(1)["x"] == 2.0**200


def test_gradients_arriving_by_several_paths_are_summed():
    x = Node(np.array([1.0, 2.0]), "x")
    y = x * x + x.exp() + 3 * x  # x used four times
    np.testing.assert_allclose(y.sum().grad(1)["x"], 2 * x.value + np.exp(x.value) + 3)


@pytest.mark.parametrize("length", [100_000])
def test_a_100_000_node_chain(length):
    x = Node(np.array([0.5, -0.25]), "x")
    y = x
    for _ in range(length):
        y = y * 1.00001 + 0.0
    assert len(dp.topological_order(y)) == 2 * length + 1
    np.testing.assert_allclose(y.sum().grad(1)["x"], [1.00001**length] * 2, rtol=1e-9)
    del y  # tearing the chain down must not overflow the C stack either


def test_unnamed_leaves_are_constants_and_get_no_work():
    def refuse(*_):
        raise AssertionError("a derivative rule ran for a constant")

    x, w = Node(np.ones((2, 3))), Node(np.ones((3, 4)), "W")
    product = dp.node._make("spy", x.value @ w.value, (x, w), (refuse, lambda g, out, a, b: a.T @ g), {})
    grads = product.sum().grad(1)
    assert set(grads) == {"W"}
    np.testing.assert_array_equal(grads["W"], np.full((3, 4), 2.0))
    assert set(backpropagate(product.sum())) == {w}


def test_a_graph_of_constants_keeps_no_parents():
    x = Node(np.ones(3))
    y = (x * 2).exp().sum()
    assert not y.requires_grad and y.parents == ()
    with pytest.warns(UserWarning, match="no named leaf"):
        assert y.grad(1) == {}


def test_intermediate_gradients_are_freed_during_the_backward_pass():
    n, depth = 250_000, 40  # 2 MB a gradient: 80 MB if every intermediate gradient were kept
    x = Node(np.ones(n), "x")
    y = x
    for _ in range(depth):
        y = y.sin()
    loss = y.sum()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        loss.grad(1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < 8 * n * 8, f"backward pass peaked at {(peak - before) / 1e6:.1f} MB"


# ---------------------------------------------------------------------------------------------
# Values and dtypes


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=6))
def test_integers_become_float64(values):
    x = Node(values, "x")
    assert x.value.dtype == np.float64
    assert x.sum().grad(1)["x"].dtype == np.float64


def test_float32_stays_float32_through_a_network():
    rng = np.random.default_rng(0)
    x = Node(rng.standard_normal((5, 4)).astype(np.float32))
    w = Node(rng.standard_normal((4, 3)).astype(np.float32), "W")
    b = Node(np.zeros(3, np.float32), "b")
    labels = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]]
    h = ((x @ w + b).tanh() * 2 - 1 + np.arange(3)).sigmoid() / 3  # numbers and an int array on the way
    loss = -(Node(labels) * h.log_softmax()).sum() / 5 + (w**2).mean()
    assert h.value.dtype == np.float32 and loss.value.dtype == np.float32
    grads = loss.grad(1)
    assert grads["W"].dtype == np.float32 and grads["b"].dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_at_plus_minus_1000(dtype):
    x = Node(np.array([[-1000.0, 0.0, 1000.0], [1000.0, 1000.0, -1000.0]], dtype), "x")
    np.testing.assert_array_equal(x.sigmoid().value, [[0, 0.5, 1], [1, 1, 0]])
    np.testing.assert_allclose(x.softmax().value, [[0, 0, 1], [0.5, 0.5, 0]])
    np.testing.assert_allclose(
        x.log_softmax().value, [[-2000, -1000, 0], [-np.log(2), -np.log(2), -2000 - np.log(2)]], rtol=1e-6
    )
    for out in (x.sigmoid(), x.softmax(), x.log_softmax()):
        assert np.all(np.isfinite(out.value))
        assert np.all(np.isfinite((out * np.arange(3)).sum().grad(1)["x"]))


def test_sigmoid_keeps_small_outputs_accurate():
    x = np.array([-30.0, -100.0, -700.0])
    np.testing.assert_allclose(Node(x).sigmoid().value, np.exp(x) / (1 + np.exp(x)), rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# Seeds and the results handed back


def test_a_vector_seed_gives_a_vector_jacobian_product():
    x = Node(np.array([1.0, 2.0, 3.0]), "x")
    y = x * x  # Jacobian diag(2x)
    np.testing.assert_array_equal(y.grad(np.array([1.0, 0.0, 2.0]))["x"], [2.0, 0.0, 12.0])


def test_gradients_are_independent_buffers():
    a, b = Node(np.ones(3), "a"), Node(np.ones(3), "b")
    seed = np.ones(3)
    grads = (a + b).grad(seed)
    grads["a"] += 10
    np.testing.assert_array_equal(grads["b"], np.ones(3))
    np.testing.assert_array_equal(seed, np.ones(3))
    summed = a.sum().grad(1)["a"]  # a broadcast of the seed: must come back writeable
    summed[0] = 5.0


def test_grad_leaves_the_graph_unchanged_and_repeatable():
    x = Node(np.array([0.3, 0.7]), "x")
    y = (x.exp() * x).sum()
    first = y.grad(1)["x"]
    np.testing.assert_array_equal(y.grad(1)["x"], first)
    np.testing.assert_array_equal(x.value, [0.3, 0.7])


# ---------------------------------------------------------------------------------------------
# Bad input: a clear error, never a wrong answer


@pytest.mark.parametrize("value", ["abc", None, [1, "a"], {"a": 1}, 1 + 2j, object()])
def test_non_numeric_values_are_refused(value):
    with pytest.raises(TypeError, match="number"):
        Node(value)


@pytest.mark.parametrize("name", [3, ("a",), b"A"])
def test_names_must_be_strings(name):
    with pytest.raises(TypeError, match="name must be a string"):
        Node(1.0, name)


def test_a_node_is_not_wrapped_twice():
    with pytest.raises(TypeError, match="detach"):
        Node(Node(1.0))


@pytest.mark.parametrize(
    "operation, op_name",
    [
        (lambda a, b: a + b, "add"),
        (lambda a, b: a - b, "subtract"),
        (lambda a, b: a * b, "multiply"),
        (lambda a, b: a / b, "divide"),
        (lambda a, b: a**b, "power"),
        (dp.maximum, "maximum"),
    ],
)
def test_shapes_that_do_not_broadcast(operation, op_name):
    with pytest.raises(ValueError, match=rf"{op_name}: shapes \(2, 3\) and \(4,\) do not broadcast"):
        operation(Node(np.ones((2, 3)), "a"), Node(np.ones(4)))


def test_shapes_that_do_not_multiply():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not multiply"):
        Node(np.ones((2, 3))) @ np.ones((4, 5))


@pytest.mark.parametrize("bad", ["abc", None, object()])
def test_operands_must_be_numeric(bad):
    # foreign types get Python's own "unsupported operand" error (Node returns NotImplemented)
    with pytest.raises(TypeError, match="number|unsupported operand"):
        Node(1.0) + bad


def test_a_seed_of_the_wrong_shape():
    y = Node(np.ones((2, 3)), "x") * 2
    with pytest.raises(ValueError, match=r"the output's gradient has shape \(3,\), but the output has shape \(2, 3\)"):
        y.grad(np.ones(3))
    with pytest.raises(ValueError, match=r"the output has shape \(2, 3\), not one number: reduce it first"):
        y.grad()  # a non-scalar output needs a seed of its shape


def test_two_leaves_with_one_name():
    a, b = Node(1.0, "w"), Node(2.0, "w")
    with pytest.raises(ValueError, match="two different leaves are named 'w'"):
        (a * b).grad(1)
    assert (a * a).grad(1)["w"] == 2.0  # one leaf used twice is fine


@pytest.mark.parametrize(
    "operation, message",
    [
        (lambda x: x.reshape(4, 2), r"reshape: cannot reshape shape \(2, 3\)"),
        (lambda x: x.sum(axis=2), r"sum: cannot reduce shape \(2, 3\) over axis 2"),
        (lambda x: x.transpose(0, 0), r"transpose: axes \(0, 0\) do not fit shape \(2, 3\)"),
        (lambda x: x[5], r"getitem: index 5 does not fit shape \(2, 3\)"),
        (lambda x: dp.concatenate([x, np.ones((3, 3))], axis=1), r"concatenate: shapes \(2, 3\), \(3, 3\)"),
        (lambda x: np.broadcast_to(x, (4, 3)), r"broadcast_to: shape \(2, 3\) does not broadcast to \(4, 3\)"),
    ],
)
def test_shape_errors_name_the_operation_and_shapes(operation, message):
    with pytest.raises((ValueError, IndexError), match=message):
        operation(Node(np.ones((2, 3)), "x"))


def test_unsupported_numpy_functions_say_so():
    with pytest.raises(TypeError, match=r"cannot differentiate through numpy.linalg.qr"):
        np.linalg.qr(Node(np.eye(2)))
    with pytest.raises(TypeError, match="cannot differentiate through numpy.fft.fft"):
        np.fft.fft(Node(np.ones(3)))


def test_comparisons_give_plain_boolean_arrays():
    x = Node(np.array([-1.0, 0.0, 2.0]), "x")
    np.testing.assert_array_equal(x > 0, [False, False, True])
    np.testing.assert_array_equal(0 < x, [False, False, True])
    np.testing.assert_array_equal(x == 0, [False, True, False])
    np.testing.assert_array_equal(x != 0, [True, False, True])
    sign = np.sign(x)  # zero derivative: a constant Node
    np.testing.assert_array_equal(sign.value, [-1, 0, 1])
    assert not sign.requires_grad


# ---------------------------------------------------------------------------------------------
# Random graphs: shared sub-expressions in every arrangement

GRAPH_STEPS = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "sub": lambda a, b: a - b,
    "tanh of sum": lambda a, b: (a + b).tanh(),
    "sin": lambda a, b: a.sin(),
    "div": lambda a, b: a / (1 + b * b),
}


@given(
    program=st.lists(
        st.tuples(st.sampled_from(sorted(GRAPH_STEPS)), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=25,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_graphs_with_shared_subexpressions_match_pytorch(program, seed):
    """Each step combines two earlier results, picked at random: nodes get reused in every
    arrangement (a parent used again by a later child, diamonds, chains) and all gradients
    must still equal PyTorch's."""
    import torch

    rng = np.random.default_rng(seed)
    values = [rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (3,)), rng.uniform(-1, 1, (2, 1))]

    def run(leaves, tanh, sin):
        results = list(leaves)
        for step, first, second in program:
            a, b = results[first % len(results)], results[second % len(results)]
            if step == "tanh of sum":
                results.append(tanh(a + b))
            elif step == "sin":
                results.append(sin(a))
            else:
                results.append(GRAPH_STEPS[step](a, b))
        # newest first, so that the walk meets a node's children before the node's older parents
        return sum(result.sum() for result in reversed(results[len(leaves) :]))

    leaves = [Node(v, f"x{i}") for i, v in enumerate(values)]
    grads = run(leaves, Node.tanh, Node.sin).grad(1)
    tensors = [torch.tensor(v, requires_grad=True) for v in values]
    run(tensors, torch.tanh, torch.sin).backward()
    for i, tensor in enumerate(tensors):
        expected = tensor.grad.numpy() if tensor.grad is not None else np.zeros_like(values[i])
        np.testing.assert_allclose(grads.get(f"x{i}", np.zeros_like(values[i])), expected, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Found in review: powers at zero, dtypes of second derivatives, errors of axis arguments


def test_powers_at_zero_take_pytorchs_gradients():
    """d/dx x^0 = 0 at x = 0 (not 0 * inf), d/dy 0^y = 0 (not 0 * log 0), as PyTorch."""
    import torch

    base, exponent = np.array([0.0, 2.0, 0.0]), np.array([0.0, 3.0, 2.0])
    grads = (Node(base, "x") ** Node(exponent, "y")).sum().grad(1)
    x, y = torch.tensor(base, requires_grad=True), torch.tensor(exponent, requires_grad=True)
    (x**y).sum().backward()
    np.testing.assert_array_equal(grads["x"], x.grad.numpy())
    np.testing.assert_array_equal(grads["y"], y.grad.numpy())
    np.testing.assert_array_equal((Node(base, "x") ** 0).sum().grad(1)["x"], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("power", [lambda x: x**2, lambda x: 2**x, lambda x: x**0.5, lambda x: (x / 3 - 1) * x])
def test_second_derivatives_keep_float32(power):
    x = Node(np.array([1.0, 2.0], np.float32), "x")
    first = power(x).sum().grad(1, create_graph=True)["x"]
    assert first.dtype == np.float32
    assert first.sum().grad(1)["x"].dtype == np.float32


@pytest.mark.parametrize(
    "operation, message",
    [
        (lambda x: x.softmax(axis=5), r"softmax: cannot reduce shape \(2, 3\) over axis 5"),
        (lambda x: x.log_softmax(axis=-3), r"log_softmax: cannot reduce shape \(2, 3\) over axis -3"),
        (lambda x: x.swapaxes(0, 5), r"swapaxes: axes \(0, 5\) do not fit shape \(2, 3\)"),
        (lambda x: x.max(axis=(0, 7)), r"max: cannot reduce shape \(2, 3\)"),
    ],
)
def test_axis_errors_name_the_operation_and_shape(operation, message):
    with pytest.raises(ValueError, match=message):
        operation(Node(np.ones((2, 3)), "x"))


def test_a_condition_must_be_booleans_or_numbers():
    with pytest.raises(TypeError, match="where: the condition must be booleans or numbers, got str"):
        dp.where("no", Node(1.0, "x"), 0.0)
