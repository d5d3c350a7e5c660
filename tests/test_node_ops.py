"""Every operation's value and gradient against PyTorch and central finite differences.

Hypothesis draws the shapes (broadcasting ones for binary operations) and a seed for the values;
each operation says which values it is defined and smooth on (`domain`).
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import dp
from dp import Node
from oracles import assert_matches_oracles


def real(rng, shape):
    return rng.uniform(-2, 2, shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2, shape)


def nonzero(rng, shape):
    """Away from 0, where abs, relu and friends have a kink."""
    return rng.choice([-1, 1], shape) * rng.uniform(0.2, 2, shape)


def distinct(rng, shape):
    """Well-separated values, so maxima have no ties."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.25 - size * 0.1).reshape(shape)


def distinct_from_distinct(rng, shape):
    """Values that never equal those of `distinct` (they sit between its grid points)."""
    return distinct(rng, shape) + 0.125


# name: (dp function, torch function, domain)
ELEMENTWISE = {
    "neg": (lambda x: -x, torch.neg, real),
    "abs": (abs, torch.abs, nonzero),
    "exp": (Node.exp, torch.exp, real),
    "log": (Node.log, torch.log, positive),
    "sin": (Node.sin, torch.sin, real),
    "cos": (Node.cos, torch.cos, real),
    "tanh": (Node.tanh, torch.tanh, real),
    "sigmoid": (Node.sigmoid, torch.sigmoid, real),
    "relu": (Node.relu, torch.relu, nonzero),
    "leaky_relu": (lambda x: x.leaky_relu(0.1), lambda t: F.leaky_relu(t, 0.1), nonzero),
    "leaky_relu default": (Node.leaky_relu, F.leaky_relu, nonzero),
    "sqrt": (Node.sqrt, torch.sqrt, positive),
    "square by pow": (lambda x: x**2, lambda t: t**2, real),
    "pow 2.5": (lambda x: x**2.5, lambda t: t**2.5, positive),
    "2 ** x": (lambda x: 2**x, lambda t: 2**t, real),
    "2 - x": (lambda x: 2 - x, lambda t: 2 - t, real),
    "-1 * x": (lambda x: -1 * x, lambda t: -1 * t, real),
    "1 / x": (lambda x: 1 / x, lambda t: 1 / t, nonzero),
    "x / 4 + 3": (lambda x: x / 4 + 3, lambda t: t / 4 + 3, real),
    "np.exp(node)": (np.exp, torch.exp, real),
    "np.cos(node)": (np.cos, torch.cos, real),
    "array * node": (lambda x: np.full(x.shape, 3.0, dtype=x.dtype) * x, lambda t: 3.0 * t, real),
}

# name: (dp function, torch function, domain); x has at least two dimensions
SHAPED = {
    "sum": (Node.sum, torch.sum, real),
    "sum axis 0": (lambda x: x.sum(axis=0), lambda t: t.sum(dim=0), real),
    "sum axis -1 keepdims": (lambda x: x.sum(axis=-1, keepdims=True), lambda t: t.sum(dim=-1, keepdim=True), real),
    "sum axes (0, 1)": (lambda x: x.sum(axis=(0, 1)), lambda t: t.sum(dim=(0, 1)), real),
    "mean": (Node.mean, torch.mean, real),
    "mean axis 1": (lambda x: x.mean(axis=1), lambda t: t.mean(dim=1), real),
    "mean axis 0 keepdims": (lambda x: x.mean(axis=0, keepdims=True), lambda t: t.mean(dim=0, keepdim=True), real),
    "max": (Node.max, torch.amax, distinct),
    "max axis 0": (lambda x: x.max(axis=0), lambda t: t.amax(dim=0), distinct),
    "max axis -1 keepdims": (lambda x: x.max(axis=-1, keepdims=True), lambda t: t.amax(dim=-1, keepdim=True), distinct),
    "softmax": (Node.softmax, lambda t: torch.softmax(t, -1), real),
    "softmax axis 0": (lambda x: x.softmax(axis=0), lambda t: torch.softmax(t, 0), real),
    "log_softmax": (Node.log_softmax, lambda t: torch.log_softmax(t, -1), real),
    "log_softmax axis 0": (lambda x: x.log_softmax(axis=0), lambda t: torch.log_softmax(t, 0), real),
    "reshape -1": (lambda x: x.reshape(-1), lambda t: t.reshape(-1), real),
    "reshape tuple": (lambda x: x.reshape((x.shape[0], -1)), lambda t: t.reshape(t.shape[0], -1), real),
    "transpose": (lambda x: x.T, lambda t: t.permute(*reversed(range(t.ndim))), real),
    "swapaxes": (lambda x: x.swapaxes(0, 1), lambda t: t.transpose(0, 1), real),
    "slices": (lambda x: x[1:, ::2], lambda t: t[1:, ::2], real),
    "first row": (lambda x: x[0], lambda t: t[0], real),
    "new axis": (lambda x: x[:, None], lambda t: t[:, None], real),
    "integer array, repeated": (lambda x: x[np.array([0, 1, 0, 0])], lambda t: t[torch.tensor([0, 1, 0, 0])], real),
    "boolean mask": (lambda x: x[x.value > 0], lambda t: t[t > 0], real),
    "broadcast_to": (lambda x: np.broadcast_to(x, (3,) + x.shape), lambda t: t.expand((3,) + t.shape), real),
}

# name: (dp function, torch function, domain of a, domain of b)
BINARY = {
    "add": (lambda a, b: a + b, torch.add, real, real),
    "sub": (lambda a, b: a - b, torch.sub, real, real),
    "mul": (lambda a, b: a * b, torch.mul, real, real),
    "div": (lambda a, b: a / b, torch.div, real, nonzero),
    "pow": (lambda a, b: a**b, torch.pow, positive, real),
    "maximum": (dp.maximum, torch.maximum, distinct, distinct_from_distinct),
    "where": (lambda a, b: dp.where(a.value > b.value, a, b), lambda a, b: torch.where(a > b, a, b), real, real),
}

BROADCASTING_PAIRS = [
    ((4, 3), (1, 3)),
    ((4, 3), (4, 1)),
    ((4, 3), (3,)),
    ((1, 3), (4, 1)),
    ((2, 1, 3), (4, 1)),
    ((), (2, 3)),
    ((3,), ()),
]
DTYPES = [np.float64, np.float32]

seeds = st.integers(0, 2**32 - 1)


# Element-wise operations take any shape; the others need at least two axes of at least 2.
UNARY = {
    **{
        name: (*spec, array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
        for name, spec in ELEMENTWISE.items()
    },
    **{name: (*spec, array_shapes(min_dims=2, max_dims=3, min_side=2, max_side=4)) for name, spec in SHAPED.items()},
}


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data(), seed=seeds, dtype=st.sampled_from(DTYPES))
def test_one_operand(name, data, seed, dtype):
    function, torch_function, domain, shapes = UNARY[name]
    x = domain(np.random.default_rng(seed), data.draw(shapes, label="shape"))
    assert_matches_oracles(function, torch_function, [x], dtype, seed)


@pytest.mark.parametrize("name", BINARY)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
    seed=seeds,
    dtype=st.sampled_from(DTYPES),
)
def test_binary_on_broadcasting_shapes(name, shapes, seed, dtype):
    function, torch_function, domain_a, domain_b = BINARY[name]
    rng = np.random.default_rng(seed)
    a, b = domain_a(rng, shapes.input_shapes[0]), domain_b(rng, shapes.input_shapes[1])
    assert_matches_oracles(function, torch_function, [a, b], dtype, seed)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BROADCASTING_PAIRS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_on_the_issue_shapes(name, shapes, dtype):
    function, torch_function, domain_a, domain_b = BINARY[name]
    rng = np.random.default_rng(1)
    a, b = domain_a(rng, shapes[0]), domain_b(rng, shapes[1])
    assert_matches_oracles(function, torch_function, [a, b], dtype)
    assert_matches_oracles(lambda x, y: function(y, x), lambda x, y: torch_function(y, x), [b, a], dtype)


MATMUL_SHAPES = [
    ((4, 3), (3, 5)),
    ((3,), (3, 5)),
    ((4, 3), (3,)),
    ((3,), (3,)),
    ((2, 4, 3), (3, 5)),
    ((2, 4, 3), (1, 3, 5)),
    ((3,), (2, 3, 5)),
    ((2, 4, 3), (3,)),
]


# NumPy's dot is matmul unless b has more than two axes (tests/test_numpy_api.py checks those)
@pytest.mark.parametrize(
    "spelling, shapes",
    [
        (spelling, shapes)
        for spelling in ("@", "dot", "np.matmul")
        for shapes in MATMUL_SHAPES
        if spelling != "dot" or len(shapes[1]) <= 2
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul(shapes, dtype, spelling):
    functions = {"@": lambda a, b: a @ b, "dot": lambda a, b: a.dot(b), "np.matmul": np.matmul}
    rng = np.random.default_rng(2)
    assert_matches_oracles(functions[spelling], torch.matmul, [real(rng, shapes[0]), real(rng, shapes[1])], dtype)


@pytest.mark.parametrize(
    "apply",
    [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow, operator.matmul],
    ids=lambda f: f.__name__,
)
def test_an_array_on_the_left_gives_a_node(apply):
    """NumPy tries the array's operator first; Node's protocols make it defer to Node."""
    array = np.random.default_rng(5).uniform(0.5, 2, (3, 3))
    x = Node(np.random.default_rng(6).uniform(0.5, 2, (3, 3)), "x")
    result = apply(array, x)
    assert isinstance(result, Node)
    gradient = result.sum().grad(1)["x"]
    t = torch.tensor(x.value, requires_grad=True)
    apply(torch.tensor(array), t).sum().backward()
    np.testing.assert_allclose(result.value, apply(array, x.value))
    np.testing.assert_allclose(gradient, t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(dtype, axis):
    rng = np.random.default_rng(3)
    a, b, c = real(rng, (2, 3)), real(rng, (2, 3)), real(rng, (2, 3))
    assert_matches_oracles(
        lambda *xs: dp.concatenate(xs, axis=axis), lambda *ts: torch.cat(ts, dim=axis), [a, b, c], dtype
    )
    assert_matches_oracles(lambda *xs: dp.stack(xs, axis=axis), lambda *ts: torch.stack(ts, dim=axis), [a, b, c], dtype)
    assert_matches_oracles(
        lambda *xs: np.concatenate(xs, axis=axis), lambda *ts: torch.cat(ts, dim=axis), [a, b, c], dtype
    )


def test_concatenate_of_different_lengths():
    rng = np.random.default_rng(4)
    assert_matches_oracles(
        lambda a, b: dp.concatenate([a, b], axis=1),
        lambda a, b: torch.cat([a, b], dim=1),
        [real(rng, (2, 3)), real(rng, (2, 5))],
    )


def test_ties_share_the_gradient_like_pytorch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    # Finite differences are one-sided at a tie, so PyTorch is the only oracle here.
    assert_matches_oracles(lambda v: v.max(axis=1), lambda t: t.amax(dim=1), [x], finite_differences=False)
    assert_matches_oracles(lambda v: v.max(), lambda t: t.amax(), [x], finite_differences=False)
    same = np.array([1.0, 2.0, 3.0])
    gradients = (dp.maximum(Node(same, "a"), Node(same.copy(), "b"))).sum().grad(1)
    np.testing.assert_array_equal(gradients["a"], [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(gradients["b"], [0.5, 0.5, 0.5])


def test_kinks_take_pytorchs_subgradient():
    """At 0: |x|' = 0, relu' = 0, leaky_relu' = alpha."""
    x = np.array([0.0, 1.0, -1.0])
    for function, torch_function in [
        (abs, torch.abs),
        (Node.relu, torch.relu),
        (lambda v: v.leaky_relu(0.2), lambda t: F.leaky_relu(t, 0.2)),
    ]:
        gradient = function(Node(x, "x")).sum().grad(1)["x"]
        expected = torch.tensor(x, requires_grad=True)
        torch_function(expected).sum().backward()
        np.testing.assert_array_equal(gradient, expected.grad.numpy())
