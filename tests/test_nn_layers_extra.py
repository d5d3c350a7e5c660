"""The layers and functions beside convolution, against PyTorch: Flatten, embedding / Embedding,
layer_norm / LayerNorm, BatchNorm on (N, C, L) and (N, C, H, W) (as BatchNorm1d / BatchNorm2d),
softplus / elu / gelu / silu and their layers, `differentiable`, the initialisers' fans and
variances on kernels, and binary_cross_entropy_with_logits at the extremes.

Each with the same weights copied in through the documented layout, outputs and gradients for
the input and every parameter, float64 to 1e-10 and float32 to 1e-4; dp.gradcheck in both modes
for the functional forms; the errors for bad input (a rejected call changes nothing); parameters
by name, trained in a Sequential, saved and loaded. gelu and softplus are also checked against
mpmath (arbitrary precision; installed with PyTorch, through SymPy), where PyTorch is not exact.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dp
from dp import Dual, Node
from dp.node import plain
from dp.nn import (
    ELU,
    GELU,
    Adam,
    BatchNorm,
    Conv2d,
    Embedding,
    Flatten,
    LayerNorm,
    Linear,
    Sequential,
    SiLU,
    Softplus,
    binary_cross_entropy_with_logits,
    cross_entropy,
    elu,
    embedding,
    gelu,
    init,
    layer_norm,
    silu,
    softplus,
)
from dp.nn.layers import differentiable
from oracles import dp_value_and_gradients, torch_value_and_gradients

# The tolerances: float64 to 1e-10, float32 to 1e-4.
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-4)}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
DTYPES = [np.float64, np.float32]


def assert_close(got, expected, dtype, what):
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    np.testing.assert_allclose(got, expected, **TOLERANCE[dtype], err_msg=what)


def assert_matches_torch(function, torch_function, inputs, dtype, seed=0):
    """Values and vector-Jacobian products for every input (one random seed), dp vs PyTorch."""
    inputs = [np.asarray(x, dtype=dtype) for x in inputs]
    value, gradients, out_seed = dp_value_and_gradients(function, inputs, None, np.random.default_rng(seed))
    expected, expected_gradients = torch_value_and_gradients(torch_function, inputs, out_seed)
    assert_close(value, expected, dtype, "output")
    for index, (gradient, expected_gradient) in enumerate(zip(gradients, expected_gradients)):
        assert_close(gradient, expected_gradient, dtype, f"gradient for input {index}")


def layer_gradients(layer, x, seed):
    """The layer's output and the gradients of sum(seed * output), for x (named "x") and by name."""
    out = layer(Node(x, "x"))
    return out.value, out.grad(seed)


def torch_layer_gradients(torch_layer, x, seed):
    xt = torch.tensor(x, requires_grad=True)
    torch_layer.zero_grad()
    out = torch_layer(xt)
    out.backward(torch.tensor(seed))
    return out.detach().numpy(), xt.grad.numpy()


def copy_into_torch(torch_layer, values):
    """Copy dp's parameter values into the torch module's parameters of the given names."""
    with torch.no_grad():
        for torch_name, value in values.items():
            getattr(torch_layer, torch_name).copy_(torch.tensor(value))


# --------------------------------------------------------------------------------------------
# Flatten


@pytest.mark.parametrize(
    "shape, start_dim", [((2, 3, 4, 5), 1), ((2, 3, 4, 5), 2), ((1, 3, 1, 5), 1), ((4, 6), 1), ((3, 2, 2), 0)]
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_matches_pytorch(shape, start_dim, dtype):
    x = np.random.default_rng(0).standard_normal(shape)
    assert_matches_torch(Flatten(start_dim), torch.nn.Flatten(start_dim), [x], dtype)
    assert Flatten(start_dim)(x).shape == tuple(torch.nn.Flatten(start_dim)(torch.tensor(x)).shape)


def test_flatten_of_an_empty_batch():
    """(0, C, H, W) -> (0, C * H * W), as torch.nn.Flatten: a batch may be empty."""
    assert Flatten()(np.zeros((0, 3, 4))).shape == (0, 12) == tuple(torch.nn.Flatten()(torch.zeros(0, 3, 4)).shape)


def test_flatten_refuses_bad_input():
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=2\).*more than 2 axes.*\(4, 6\)"):
        Flatten(2)(np.ones((4, 6)))
    for start_dim in (-1, 1.0, True):
        with pytest.raises(ValueError, match="Flatten: start_dim"):
            Flatten(start_dim)
    assert Flatten().parameters() == {}


# --------------------------------------------------------------------------------------------
# Embedding


INDICES = [
    np.array([[0, 2, 2], [9, 0, 4]]),  # rows looked up twice add their gradients
    np.array([3]),  # a batch of 1
    np.array(7),  # a single index: one row
    np.arange(10).reshape(2, 1, 5).astype(np.uint8),
]  # three axes, unsigned


@pytest.mark.parametrize("indices", INDICES, ids=["repeats", "batch of 1", "scalar", "3-d uint8"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_matches_pytorch(indices, dtype):
    layer = Embedding(10, 4, rng=0, dtype=dtype)
    theirs = torch.nn.Embedding(10, 4, dtype=TORCH_DTYPE[dtype])
    copy_into_torch(theirs, {"weight": layer.W.value})  # the same layout: (num_embeddings, embedding_dim)
    out = layer(indices)
    seed = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    gradient = out.grad(seed)
    expected = theirs(torch.tensor(indices.astype(np.int64)))
    expected.backward(torch.tensor(seed))
    assert out.shape == indices.shape + (4,)
    assert_close(out.value, expected.detach().numpy(), dtype, "output")
    assert list(gradient) == ["W"]
    assert_close(gradient["W"], theirs.weight.grad.numpy(), dtype, "gradient for W")
    # the function is the layer
    np.testing.assert_array_equal(embedding(indices, layer.W.value).value, out.value)


def test_embedding_gradcheck_in_both_modes():
    W = np.random.default_rng(2).standard_normal((5, 3))
    indices = np.array([[0, 4, 4], [1, 0, 2]])
    for mode in ("reverse", "forward"):
        assert dp.gradcheck(lambda W: embedding(indices, W), W, modes=mode)


EMBEDDING_ERRORS = [
    ("a float array", np.array([1.0, 2.0]), TypeError, r"(?i)embedding.*integers.*float64"),
    ("a Node", Node(np.array([1.0])), TypeError, r"(?i)embedding.*integers.*float64"),
    ("booleans", np.array([True, False]), TypeError, r"(?i)embedding.*integers.*bool"),
    ("an index past the end", np.array([[0, 10]]), IndexError, r"(?i)embedding.*0\.\.9.*got 0\.\.10"),
    ("a negative index", np.array([-1, 3]), IndexError, r"(?i)embedding.*0\.\.9.*got -1\.\.3"),
    ("a string", "3", TypeError, r"(?i)embedding.*indices"),
]


@pytest.mark.parametrize("what, indices, error, message", EMBEDDING_ERRORS, ids=[e[0] for e in EMBEDDING_ERRORS])
def test_embedding_refuses_bad_indices_and_changes_nothing(what, indices, error, message):
    layer = Embedding(10, 4, rng=0)
    before = layer.W.value.copy()
    with pytest.raises(error, match=message):
        layer(indices)
    np.testing.assert_array_equal(layer.W.value, before)


def test_embedding_refuses_a_table_that_is_not_a_matrix():
    with pytest.raises(ValueError, match=r"embedding.*\(num_embeddings, embedding_dim\).*\(6,\)"):
        embedding(np.array([0]), np.ones(6))
    with pytest.raises(ValueError, match="Embedding: num_embeddings"):
        Embedding(0, 3)


def test_embedding_parameters_and_initialisation():
    layer = Embedding(2000, 50, rng=0)
    assert list(layer.parameters()) == ["W"] and layer.W.shape == (2000, 50)
    assert list(Embedding(3, 2, name="words").parameters()) == ["words.W"]
    # N(0, 1), as torch.nn.Embedding: 100 000 draws put the sample std within 0.5% of 1
    np.testing.assert_allclose(layer.W.value.std(), 1.0, rtol=0.02)
    assert abs(layer.W.value.mean()) < 0.02
    np.testing.assert_array_equal(Embedding(5, 3, rng=4).W.value, Embedding(5, 3, rng=4).W.value)
    assert Embedding(5, 3, dtype=np.float32).W.dtype == np.float32


# --------------------------------------------------------------------------------------------
# LayerNorm


LAYER_NORM_CASES = [
    ((4, 6), 6),
    ((2, 3, 5), (5,)),
    ((2, 3, 4, 5), (4, 5)),
    ((1, 7), [7]),
    ((7,), 7),
    ((2, 3, 4), (2, 3, 4)),
]


@pytest.mark.parametrize("shape, normalized_shape", LAYER_NORM_CASES)
@pytest.mark.parametrize("eps", [1e-5, 0.1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_layer_matches_pytorch(shape, normalized_shape, eps, dtype):
    rng = np.random.default_rng(3)
    layer = LayerNorm(normalized_shape, eps, dtype=dtype)
    assert layer.gamma.dtype == dtype and np.all(layer.gamma.value == 1) and np.all(layer.beta.value == 0)
    # gamma and beta start at 1 and 0, which would hide a misplaced scale or shift
    layer.gamma.value[...] = rng.uniform(0.5, 1.5, layer.gamma.shape)
    layer.beta.value[...] = rng.standard_normal(layer.beta.shape)
    theirs = torch.nn.LayerNorm(normalized_shape, eps, dtype=TORCH_DTYPE[dtype])
    copy_into_torch(theirs, {"weight": layer.gamma.value, "bias": layer.beta.value})
    x = (rng.normal(2.0, 3.0, shape)).astype(dtype)
    seed = rng.standard_normal(shape).astype(dtype)
    value, grads = layer_gradients(layer, x, seed)
    expected, expected_x_grad = torch_layer_gradients(theirs, x, seed)
    assert set(grads) == {"x", "gamma", "beta"}
    assert_close(value, expected, dtype, "output")
    assert_close(grads["x"], expected_x_grad, dtype, "gradient for x")
    assert_close(grads["gamma"], theirs.weight.grad.numpy(), dtype, "gradient for gamma")
    assert_close(grads["beta"], theirs.bias.grad.numpy(), dtype, "gradient for beta")


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_function_with_and_without_gamma_and_beta(dtype):
    rng = np.random.default_rng(4)
    x, gamma, beta = rng.standard_normal((3, 2, 5)), rng.standard_normal(5), rng.standard_normal(5)
    assert_matches_torch(lambda x: layer_norm(x, 5), lambda x: F.layer_norm(x, (5,)), [x], dtype)
    assert_matches_torch(lambda x, g: layer_norm(x, 5, g), lambda x, g: F.layer_norm(x, (5,), g), [x, gamma], dtype)
    assert_matches_torch(
        lambda x, g, b: layer_norm(x, (5,), gamma=g, beta=b, eps=1e-3),
        lambda x, g, b: F.layer_norm(x, (5,), g, b, eps=1e-3),
        [x, gamma, beta],
        dtype,
    )
    assert_matches_torch(
        lambda x, b: layer_norm(x, (2, 5), beta=b),
        lambda x, b: F.layer_norm(x, (2, 5), None, b),
        [x, rng.standard_normal((2, 5))],
        dtype,
    )


def test_layer_norm_gradcheck_in_both_modes():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4))
    for mode in ("reverse", "forward"):
        assert dp.gradcheck(
            lambda x, g, b: layer_norm(x, 4, g, b), x, rng.standard_normal(4), rng.standard_normal(4), modes=mode
        )
        assert dp.gradcheck(lambda x: layer_norm(x, (3, 4), eps=1e-2), x, modes=mode)


LAYER_NORM_ERRORS = [
    (
        "wrong normalized_shape",
        lambda: LayerNorm(4)(np.ones((2, 3))),
        r"(?i)layer_?norm.*normalized_shape \(4,\).*\(2, 3\)",
    ),
    (
        "normalized_shape longer than the input",
        lambda: layer_norm(np.ones(3), (2, 3)),
        r"layer_norm.*normalized_shape \(2, 3\).*\(3,\)",
    ),
    ("wrong gamma shape", lambda: layer_norm(np.ones((2, 3)), 3, np.ones(4)), r"layer_norm.*gamma.*\(3,\).*\(4,\)"),
    (
        "wrong beta shape",
        lambda: layer_norm(np.ones((2, 3)), 3, np.ones(3), np.ones((1, 3))),
        r"layer_norm.*beta.*\(3,\).*\(1, 3\)",
    ),
    ("normalized_shape 0", lambda: LayerNorm(0), r"LayerNorm.*normalized_shape.*0"),
    ("an empty normalized_shape", lambda: layer_norm(np.ones(3), ()), r"layer_norm.*normalized_shape"),
    ("a bool normalized_shape", lambda: LayerNorm((True,)), r"LayerNorm.*normalized_shape"),
    ("a float normalized_shape", lambda: LayerNorm((2.0,)), r"LayerNorm.*normalized_shape"),
]


@pytest.mark.parametrize("what, call, message", LAYER_NORM_ERRORS, ids=[e[0] for e in LAYER_NORM_ERRORS])
def test_layer_norm_refuses_bad_input(what, call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_layer_norm_parameters():
    assert list(LayerNorm((3, 4)).parameters()) == ["gamma", "beta"]
    assert LayerNorm((3, 4)).gamma.shape == (3, 4) == LayerNorm([3, 4]).beta.shape
    assert list(LayerNorm(5, name="ln").parameters()) == ["ln.gamma", "ln.beta"]
    assert LayerNorm(5, dtype=np.float32)(np.ones((2, 5), dtype=np.float32)).dtype == np.float32


# --------------------------------------------------------------------------------------------
# BatchNorm on sequences (N, C, L) and images (N, C, H, W)


BATCHNORM_CASES = [
    ((4, 3, 5), torch.nn.BatchNorm1d),
    ((2, 3, 5, 4), torch.nn.BatchNorm2d),
    ((1, 3, 3, 5), torch.nn.BatchNorm2d),
    ((1, 3, 2), torch.nn.BatchNorm1d),
]


@pytest.mark.parametrize("shape, torch_batchnorm", BATCHNORM_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_matches_pytorch_over_training_steps_then_in_evaluation(shape, torch_batchnorm, dtype):
    rng = np.random.default_rng(6)
    ours = BatchNorm(3, momentum=0.2, eps=1e-3, dtype=dtype)
    ours.gamma.value[...] = rng.uniform(0.5, 1.5, 3)
    ours.beta.value[...] = rng.standard_normal(3)
    theirs = torch_batchnorm(3, momentum=0.2, eps=1e-3, dtype=TORCH_DTYPE[dtype])
    copy_into_torch(theirs, {"weight": ours.gamma.value, "bias": ours.beta.value})
    for step in range(4):  # batch statistics; running statistics move, with the unbiased variance
        x = rng.normal(2.0, 3.0, shape).astype(dtype)
        seed = rng.standard_normal(shape).astype(dtype)
        value, grads = layer_gradients(ours, x, seed)
        expected, expected_x_grad = torch_layer_gradients(theirs, x, seed)
        assert_close(value, expected, dtype, f"output, step {step}")
        assert_close(grads["x"], expected_x_grad, dtype, f"gradient for x, step {step}")
        assert_close(grads["gamma"], theirs.weight.grad.numpy(), dtype, f"gradient for gamma, step {step}")
        assert_close(grads["beta"], theirs.bias.grad.numpy(), dtype, f"gradient for beta, step {step}")
        assert_close(ours.running_mean, theirs.running_mean.numpy(), dtype, f"running mean, step {step}")
        assert_close(ours.running_var, theirs.running_var.numpy(), dtype, f"running var, step {step}")
    ours.eval(), theirs.eval()
    frozen = ours.running_mean.copy(), ours.running_var.copy()
    x = rng.normal(2.0, 3.0, shape).astype(dtype)
    seed = rng.standard_normal(shape).astype(dtype)
    value, grads = layer_gradients(ours, x, seed)
    expected, expected_x_grad = torch_layer_gradients(theirs, x, seed)
    assert_close(value, expected, dtype, "output in evaluation mode")
    assert_close(grads["x"], expected_x_grad, dtype, "gradient for x in evaluation mode")
    assert_close(grads["gamma"], theirs.weight.grad.numpy(), dtype, "gradient for gamma in evaluation mode")
    np.testing.assert_array_equal(ours.running_mean, frozen[0])
    np.testing.assert_array_equal(ours.running_var, frozen[1])


@pytest.mark.parametrize(
    "x, message",
    [
        (np.ones((1, 3, 1, 1)), r"BatchNorm.*more than one value.*\(1, 3, 1, 1\)"),  # PyTorch refuses it too
        (np.ones((2, 4, 5, 5)), r"BatchNorm\(3\).*\(N, 3, H, W\).*\(2, 4, 5, 5\)"),
        (np.ones((2, 3, 2, 2, 2)), r"BatchNorm\(3\).*\(N, 3, H, W\).*\(2, 3, 2, 2, 2\)"),
        (np.ones(3), r"BatchNorm\(3\).*\(N, 3\).*\(3,\)"),
    ],
)
def test_batchnorm_refuses_bad_input_and_changes_nothing(x, message):
    layer = BatchNorm(3)
    layer(np.random.default_rng(7).normal(1.0, 2.0, (4, 3, 2, 2)))  # running statistics away from 0 and 1
    before = layer.running_mean.copy(), layer.running_var.copy(), layer.gamma.value.copy()
    with pytest.raises(ValueError, match=message):
        layer(x)
    for after, saved in zip((layer.running_mean, layer.running_var, layer.gamma.value), before):
        np.testing.assert_array_equal(after, saved)


def test_batchnorm_on_images_saves_its_running_statistics(tmp_path):
    rng = np.random.default_rng(8)
    model = Sequential([Conv2d(1, 2, 3, rng=0), BatchNorm(2)])
    for _ in range(3):
        model(rng.normal(1.0, 2.0, (4, 1, 6, 6)))
    model.save(tmp_path / "bn.npz")
    copy = Sequential([Conv2d(1, 2, 3, rng=1), BatchNorm(2)]).load(tmp_path / "bn.npz")
    np.testing.assert_array_equal(copy[1].running_var, model[1].running_var)
    x = rng.standard_normal((2, 1, 6, 6))
    np.testing.assert_array_equal(copy.eval()(x).value, model.eval()(x).value)


# --------------------------------------------------------------------------------------------
# Activations: softplus, elu, gelu, silu


GRID = np.concatenate([np.linspace(-8, 8, 161)[1::2], [-30.0, -19.5, 19.5, 0.25]])  # 0 and kinks left out

ACTIVATIONS = [
    ("softplus", softplus, Softplus(), F.softplus),
    ("softplus beta=2", lambda x: softplus(x, 2.0), Softplus(2.0), lambda t: F.softplus(t, 2.0)),
    ("softplus beta=0.5", lambda x: softplus(x, beta=0.5), Softplus(0.5), lambda t: F.softplus(t, 0.5)),
    ("elu", elu, ELU(), F.elu),
    ("elu alpha=0.3", lambda x: elu(x, 0.3), ELU(0.3), lambda t: F.elu(t, 0.3)),
    ("gelu", gelu, GELU(), F.gelu),
    ("gelu tanh", lambda x: gelu(x, "tanh"), GELU("tanh"), lambda t: F.gelu(t, approximate="tanh")),
    ("silu", silu, SiLU(), F.silu),
]


@pytest.mark.parametrize("what, function, layer, torch_function", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_match_pytorch_as_functions_and_layers(what, function, layer, torch_function, dtype):
    # softplus's grid keeps beta x <= 20, PyTorch's threshold beyond which it returns x itself
    # (dp stays exact there: see test_softplus_is_exact_where_pytorch_switches_to_x).
    x = GRID[np.abs(GRID) < 10] if what.startswith("softplus") else GRID
    assert_matches_torch(function, torch_function, [x], dtype)
    assert_matches_torch(layer, torch_function, [x[None, :]], dtype)  # a batch of 1
    assert layer.parameters() == {}


def test_activations_at_their_kinks_have_pytorchs_derivative():
    x = np.array([0.0, -0.0])
    for function, torch_function in [
        (elu, F.elu),
        (lambda v: elu(v, 0.3), lambda t: F.elu(t, 0.3)),
        (softplus, F.softplus),
        (gelu, F.gelu),
        (silu, F.silu),
    ]:
        assert_matches_torch(function, torch_function, [x], np.float64)


@pytest.mark.parametrize("what, function", [(a[0], a[1]) for a in ACTIVATIONS], ids=[a[0] for a in ACTIVATIONS])
def test_activations_gradcheck_in_both_modes(what, function):
    x = np.random.default_rng(9).standard_normal(7) * 2
    for mode in ("reverse", "forward"):
        assert dp.gradcheck(function, x, modes=mode)


def exact(function, x):
    """function (of an mpmath number) at each float64 x, rounded once to float64."""
    with mpmath.workdps(60):
        return np.array([float(function(mpmath.mpf(float(v)))) for v in np.ravel(x)]).reshape(np.shape(x))


def test_gelu_is_exact_to_float64_precision():
    """x Phi(x) over [-40, 40] and down to the smallest numbers: within an ulp or two of the scale of
    x (PyTorch's and the exact value), and relative to the value itself to a few ulps where x >= -1
    and to a few x^2 ulps in the negative tail (x^2 is gelu's condition number there: rounding x / sqrt 2
    alone moves the value that much), where the erf form PyTorch uses cancels to nothing."""
    tiny = np.logspace(-300, 0, 301)
    x = np.concatenate([np.linspace(-40, 40, 8001), tiny, -tiny, [0.0, 5e-324, -5e-324]])
    ours = gelu(x).value
    scale = np.spacing(np.abs(x))  # an ulp of x: gelu(x) is x times a number in [0, 1]
    theirs = F.gelu(torch.tensor(x)).numpy()
    assert np.max(np.abs(ours - theirs) / scale) <= 2, "gelu differs from PyTorch's by more than 2 ulps of x"
    reference = exact(lambda v: v * mpmath.ncdf(v), x)
    assert np.max(np.abs(ours - reference) / scale) <= 2, "gelu is more than 2 ulps of x from the exact value"
    near = x >= -1
    relative = np.abs(ours[near] - reference[near]) / np.maximum(np.spacing(np.abs(reference[near])), 5e-324)
    assert relative.max() <= 4, f"gelu is {relative.max()} ulps from the exact value"
    tail = (x < -1) & (np.abs(reference) >= np.finfo(np.float64).tiny)  # down to -37.5, where it is 1e-306
    ulps = np.abs(ours[tail] - reference[tail]) / np.spacing(np.abs(reference[tail]))
    assert np.all(ulps <= 4 * x[tail] ** 2), f"gelu's tail is {np.max(ulps / x[tail] ** 2)} x^2 ulps off"
    # the derivative, Phi(x) + x phi(x), to float64 precision too
    grid = np.linspace(-12, 12, 1201)
    derivative = dp.grad(lambda v: gelu(v).sum())(grid)
    np.testing.assert_allclose(
        derivative, exact(lambda v: mpmath.ncdf(v) + v * mpmath.npdf(v), grid), rtol=0, atol=4e-16
    )
    t = torch.tensor(grid, requires_grad=True)
    F.gelu(t).sum().backward()
    np.testing.assert_allclose(derivative, t.grad.numpy(), rtol=0, atol=4e-16)


def test_gelu_in_float32_and_its_argument_check():
    x = np.linspace(-10, 10, 2001, dtype=np.float32)
    out = gelu(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.value, F.gelu(torch.tensor(x)).numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        GELU("sigmoid")(x)


def test_softplus_is_exact_where_pytorch_switches_to_x():
    """PyTorch returns x once beta x > 20 (1e-9 off near 20); dp keeps log(1 + exp(beta x)) / beta."""
    x = np.concatenate([np.linspace(15, 45, 301), [-1000.0, -745.0, 709.0, 1000.0]])
    for beta in (1.0, 2.0):
        reference = exact(lambda v: mpmath.log1p(mpmath.exp(beta * v)) / beta, x)
        np.testing.assert_allclose(softplus(x, beta).value, reference, rtol=4e-16, atol=0)
        # sigmoid(beta x), softplus's own rule: within an ulp or two (a subnormal slope, at -745,
        # may round to 0), where PyTorch's is 1 beyond 20
        slope = exact(lambda v: 1 / (1 + mpmath.exp(-beta * v)), x)
        np.testing.assert_allclose(dp.grad(lambda v: softplus(v, beta).sum())(x), slope, rtol=5e-16, atol=1e-307)


# --------------------------------------------------------------------------------------------
# differentiable: what the functional forms make of their input


def test_differentiable_passes_nodes_and_duals_and_makes_constants_of_the_rest():
    node = Node(np.ones(3), "x")
    assert differentiable(node) is node
    dual = Dual(np.ones(3), np.zeros(3))
    assert differentiable(dual) is dual
    for value, dtype in [
        (np.ones(3, dtype=np.float32), np.float32),
        (np.arange(3), np.float64),
        ([1, 2, 3], np.float64),
        (2.5, np.float64),
    ]:
        constant = differentiable(value)
        assert isinstance(constant, Node) and not constant.requires_grad and constant.dtype == dtype
        np.testing.assert_array_equal(constant.value, value)


# --------------------------------------------------------------------------------------------
# Initialisers: PyTorch's fans for kernels, dp's (n_in, n_out) for matrices


KERNELS = [(8, 3, 5, 5), (16, 4, 3), (6, 2, 3, 3, 3), (1, 1, 1, 1), (4, 7, 2, 9), (5, 2)]


@pytest.mark.parametrize("shape", KERNELS)
def test_fans_are_pytorchs(shape):
    if len(shape) == 2:  # dp's matrix (n_in, n_out) is PyTorch's (n_out, n_in) transposed
        torch_shape = shape[::-1]
    else:  # a kernel (out, in, *k): PyTorch's layout
        torch_shape = shape
    assert init._fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(torch_shape))


INITIALISERS = [
    (init.xavier_uniform, torch.nn.init.xavier_uniform_, lambda fan_in, fan_out: 2 / (fan_in + fan_out)),
    (init.xavier_normal, torch.nn.init.xavier_normal_, lambda fan_in, fan_out: 2 / (fan_in + fan_out)),
    (init.he_uniform, lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="relu"), lambda fan_in, _: 2 / fan_in),
    (init.he_normal, lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu"), lambda fan_in, _: 2 / fan_in),
]


@pytest.mark.parametrize("ours, theirs, variance", INITIALISERS, ids=[i[0].__name__ for i in INITIALISERS])
@pytest.mark.parametrize("shape", [(64, 16, 5, 5), (128, 32, 3), (600, 100)])
def test_initialiser_variance_on_big_kernels(ours, theirs, variance, shape):
    """At least 19 200 draws with a fixed rng: the sample variance lies within 2% of the true one
    (its relative standard error is at most 1.5%, for uniform draws 0.6%); in/out differ 4x or more,
    so fans read from the wrong axes would be far off."""
    torch_shape = shape[::-1] if len(shape) == 2 else shape
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(torch_shape))
    W = ours(shape, rng=0)
    assert W.shape == shape and W.dtype == np.float64
    np.testing.assert_allclose(W.var(), variance(fan_in, fan_out), rtol=0.02)
    assert abs(W.mean()) < 0.02 * W.std()
    torch.manual_seed(0)
    reference = theirs(torch.empty(torch_shape, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(W.std(), reference.std(), rtol=0.02)
    if "uniform" in ours.__name__:  # the same bound, never crossed, and nearly reached
        bound = math.sqrt(3 * variance(fan_in, fan_out))
        assert np.abs(W).max() <= bound and np.abs(reference).max() <= bound * (1 + 1e-12)
        assert np.abs(W).max() > 0.999 * bound


def test_initialisers_refuse_shapes_without_fans():
    for shape in [(3,), (), (0, 3), (4, 0, 3, 3)]:
        with pytest.raises(ValueError, match=r"initialisers expect.*\(n_in, n_out\).*kernel"):
            init.he_normal(shape)
    assert init.xavier_uniform((4, 3, 2, 2), dtype=np.float32).dtype == np.float32


# --------------------------------------------------------------------------------------------
# binary_cross_entropy_with_logits: one primitive, exact at +-1000


LOGITS = np.array([[-1000.0, 1000.0, -1000.0, 1000.0, 0.0, 30.0, -30.0, 1e-8, -40.0, 2.5]])
TARGETS = np.array([[0.0, 0.0, 1.0, 1.0, 0.5, 0.3, 0.7, 1.0, 0.0, 0.9]])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_at_the_extremes_matches_pytorch(reduction, dtype):
    """Loss and gradients for the logits and for the targets (d/dy = -z), finite at +-1000."""
    assert_matches_torch(
        lambda z, y: binary_cross_entropy_with_logits(z, y, reduction),
        lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction=reduction),
        [LOGITS, TARGETS],
        dtype,
    )
    loss = binary_cross_entropy_with_logits(LOGITS.astype(dtype), TARGETS.astype(dtype), "none").value
    assert np.all(np.isfinite(loss)) and loss[0, 1] == 1000 and loss[0, 2] == 1000 and loss[0, 0] == 0


def test_bce_with_logits_on_a_batch_of_images_and_at_second_order():
    rng = np.random.default_rng(10)
    z, y = rng.standard_normal((100, 784)) * 4, rng.uniform(size=(100, 784))
    assert_matches_torch(binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, [z, y], np.float64)
    small = z[:2, :5], y[:2, :5]
    zs, ys = Node(small[0], "z"), Node(small[1], "y")
    first = binary_cross_entropy_with_logits(zs, ys, "sum").grad(1, create_graph=True)
    second = ((first["z"] ** 2).sum() + (first["y"] ** 2).sum()).grad(1)
    zt, yt = (torch.tensor(v, requires_grad=True) for v in small)
    t_first = torch.autograd.grad(
        F.binary_cross_entropy_with_logits(zt, yt, reduction="sum"), (zt, yt), create_graph=True
    )
    ((t_first[0] ** 2).sum() + (t_first[1] ** 2).sum()).backward()
    np.testing.assert_allclose(second["z"], zt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(second["y"], yt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for mode in ("reverse", "forward"):
        assert dp.gradcheck(lambda z, y: binary_cross_entropy_with_logits(z, y, "none"), *small, modes=mode)


# --------------------------------------------------------------------------------------------
# Embedding and LayerNorm in a network: trained by an optimizer, saved and loaded


def text_classifier(seed):
    return Sequential(
        [Embedding(12, 4, rng=seed), LayerNorm(4), Flatten(), Linear(3 * 4, 2, rng=seed + 1)], loss=cross_entropy
    )


def test_embedding_and_layer_norm_train_in_a_sequential_and_survive_save_and_load(tmp_path):
    rng = np.random.default_rng(11)
    tokens, labels = rng.integers(0, 12, (16, 3)), rng.integers(0, 2, 16)
    model = text_classifier(0)
    assert list(model.parameters()) == ["0.W", "1.gamma", "1.beta", "3.W", "3.b"]
    start = model.loss(tokens, labels).item()
    final = Adam(model, tokens, labels, learning_rate=0.05).train(steps=40, print_each=None, progress=False)
    assert final < 0.5 * start, f"loss {start} -> {final}"
    assert not np.all(model[1].gamma.value == 1), "LayerNorm's gamma was not trained"
    model.save(tmp_path / "text.npz")
    copy = text_classifier(3).load(tmp_path / "text.npz")
    for name, node in model.parameters().items():
        np.testing.assert_array_equal(copy.parameters()[name].value, node.value, err_msg=name)
    np.testing.assert_array_equal(copy(tokens).value, model(tokens).value)


@pytest.mark.parametrize("beta", [0, -1.0, True, "2"])
def test_softplus_refuses_a_beta_that_is_not_positive(beta):
    with pytest.raises(ValueError, match="softplus: beta must be a positive number"):
        softplus(np.ones(3), beta=beta)


def test_embedding_and_layer_norm_layers_name_themselves_in_errors():
    with pytest.raises(TypeError, match=r"Embedding\(4, 2\): indices must be integers"):
        Embedding(4, 2, rng=0)(np.zeros(3))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(3,\).*normalized_shape \(3,\), got shape \(2, 4\)"):
        LayerNorm(3)(np.zeros((2, 4)))


def test_batch_norm_inside_nested_modes_and_a_failed_call_leaves_its_statistics():
    """Forward over reverse mode: the statistics are plain numbers even where values are Nodes in Duals."""
    rng = np.random.default_rng(12)
    x, tangent = rng.standard_normal((2, 2, 3, 3)), rng.standard_normal((2, 2, 3, 3))
    ours, theirs = BatchNorm(2), torch.nn.BatchNorm2d(2, dtype=torch.float64)
    _, hessian_times_tangent = dp.jvp(dp.grad(lambda x: (ours(x) ** 3).sum()), x, tangent)
    t = torch.tensor(x, requires_grad=True)
    (first,) = torch.autograd.grad((theirs(t) ** 3).sum(), t, create_graph=True)
    (expected,) = torch.autograd.grad(first, t, torch.tensor(tangent))
    # (a Node: the layer's gamma and beta are variables too, so dp.grad hands back a graph of them)
    np.testing.assert_allclose(plain(hessian_times_tangent), expected.numpy(), rtol=1e-10, atol=1e-12)
    statistics = ours.running_mean.copy(), ours.running_var.copy()
    with pytest.raises(ValueError, match=r"BatchNorm\(2\)"):
        ours(np.zeros((2, 3, 3, 3)))
    np.testing.assert_array_equal(ours.running_mean, statistics[0])
    np.testing.assert_array_equal(ours.running_var, statistics[1])


def test_softplus_slope_at_infinity_and_argument_errors():
    np.testing.assert_array_equal(dp.grad(lambda v: softplus(v).sum())(np.array([np.inf, -np.inf])), [1.0, 0.0])
    with pytest.raises(ValueError, match="LayerNorm: normalized_shape must be"):
        LayerNorm(2.5)
    with pytest.raises(TypeError, match="elu: alpha must be a number"):
        elu(np.ones(2), "a")
    assert list(Embedding(5, 3, "emb", rng=0).parameters()) == ["emb.W"]
