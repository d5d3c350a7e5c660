"""Layers, activations and initialisers against PyTorch: Linear, the activation functions and
layers, Dropout and BatchNorm in training and evaluation mode, Xavier / He initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dp import Node
from dp.nn import (
    BatchNorm,
    Dropout,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    init,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from oracles import assert_matches_oracles


def nonzero(shape, seed=0):
    """Values away from 0, where relu and leaky_relu have their kink."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1, 1], shape) * rng.uniform(0.2, 2, shape)


def dp_gradients(layer, x, seed):
    """The layer's output and the gradients of sum(seed * output) for x ("x") and its parameters."""
    out = layer(Node(x, "x"))
    return out.value, out.grad(seed)


# --------------------------------------------------------------------------------------------
# Activations, as functions and as layers


ACTIVATIONS = [
    (relu, ReLU(), torch.relu),
    (leaky_relu, LeakyReLU(), F.leaky_relu),
    (lambda x: leaky_relu(x, 0.2), LeakyReLU(0.2), lambda t: F.leaky_relu(t, 0.2)),
    (sigmoid, Sigmoid(), torch.sigmoid),
    (tanh, Tanh(), torch.tanh),
    (softmax, Softmax(), lambda t: torch.softmax(t, -1)),
    (lambda x: softmax(x, 0), Softmax(axis=0), lambda t: torch.softmax(t, 0)),
    (log_softmax, LogSoftmax(), lambda t: torch.log_softmax(t, -1)),
]


@pytest.mark.parametrize("function, layer, torch_function", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activations_match_pytorch(function, layer, torch_function, dtype):
    x = nonzero((4, 5))
    assert_matches_oracles(function, torch_function, [x], dtype=dtype)
    assert_matches_oracles(layer, torch_function, [x], dtype=dtype)


def test_activation_functions_take_plain_arrays():
    np.testing.assert_array_equal(relu(np.array([-1.0, 2.0])).value, [0.0, 2.0])


# --------------------------------------------------------------------------------------------
# Linear


@pytest.mark.parametrize("activation, torch_activation", [(None, lambda t: t), (relu, torch.relu), (tanh, torch.tanh)])
def test_linear_matches_pytorch(activation, torch_activation):
    rng = np.random.default_rng(0)
    layer = Linear(5, 3, "fc", activation=activation, rng=1)
    layer.b.value[...] = rng.standard_normal(3)
    x = rng.standard_normal((7, 5))
    seed = rng.standard_normal((7, 3))
    value, grads = dp_gradients(layer, x, seed)

    xt = torch.tensor(x, requires_grad=True)
    W = torch.tensor(layer.W.value, requires_grad=True)
    b = torch.tensor(layer.b.value, requires_grad=True)
    out = torch_activation(F.linear(xt, W.T, b))  # PyTorch stores W as (n_out, n_in)
    out.backward(torch.tensor(seed))
    np.testing.assert_allclose(value, out.detach().numpy(), rtol=1e-12)
    assert set(grads) == {"x", "fc.W", "fc.b"}
    for name, tensor in (("x", xt), ("fc.W", W), ("fc.b", b)):
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_linear_without_bias_and_in_float32():
    layer = Linear(4, 2, bias=False, dtype=np.float32, rng=0)
    assert list(layer.parameters()) == ["W"] and layer.W.dtype == np.float32
    out = layer(np.ones((3, 4), dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.value, np.ones((3, 4)) @ layer.W.value, rtol=1e-6)


def test_linear_checks_its_sizes():
    with pytest.raises(ValueError, match="n_out"):
        Linear(3, 0)
    with pytest.raises(TypeError, match="name"):
        Linear(3, 2, 7)


# --------------------------------------------------------------------------------------------
# Initialisers


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (init.xavier_uniform, torch.nn.init.xavier_uniform_),
        (init.xavier_normal, torch.nn.init.xavier_normal_),
        (init.he_uniform, lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="relu")),
        (init.he_normal, lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu")),
    ],
)
def test_initialisers_have_pytorchs_scale(ours, theirs):
    n_in, n_out = 300, 200
    W = ours((n_in, n_out), rng=0)
    torch.manual_seed(0)
    reference = theirs(torch.empty(n_out, n_in, dtype=torch.float64)).numpy()  # PyTorch: (n_out, n_in)
    assert W.shape == (n_in, n_out) and W.dtype == np.float64
    assert abs(W.mean()) < 0.01 * W.std()
    np.testing.assert_allclose(W.std(), reference.std(), rtol=0.02)
    if "uniform" in ours.__name__:  # the same bounds, and nothing beyond them
        np.testing.assert_allclose(np.abs(W).max(), np.abs(reference).max(), rtol=0.01)


def test_initialisers_are_reproducible_and_keep_the_dtype():
    np.testing.assert_array_equal(init.he_normal((3, 4), rng=5), init.he_normal((3, 4), rng=5))
    assert init.xavier_uniform((3, 4), dtype=np.float32).dtype == np.float32
    assert init.glorot_uniform is init.xavier_uniform
    with pytest.raises(ValueError, match="n_in, n_out"):
        init.he_normal((3,))


def test_layer_defaults_he_after_relu_xavier_otherwise():
    n_in, n_out = 400, 300
    relu_layer = Linear(n_in, n_out, activation=relu, rng=0)
    relu_layer_too = Linear(n_in, n_out, activation=ReLU(), rng=0)
    plain = Linear(n_in, n_out, rng=0)
    np.testing.assert_allclose(relu_layer.W.value.std(), np.sqrt(2 / n_in), rtol=0.02)  # He normal
    np.testing.assert_array_equal(relu_layer_too.W.value, relu_layer.W.value)
    bound = np.sqrt(6 / (n_in + n_out))  # Xavier uniform
    assert np.abs(plain.W.value).max() <= bound and np.abs(plain.W.value).max() > 0.99 * bound
    np.testing.assert_array_equal(plain.b.value, 0)


# --------------------------------------------------------------------------------------------
# Dropout


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_in_training_mode_matches_pytorchs_convention(p):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, (200, 500))
    layer = Dropout(p, rng=1)
    seed = rng.standard_normal(x.shape)
    value, grads = dp_gradients(layer, x, seed)
    mask = layer.mask
    kept = mask != 0

    # PyTorch's own dropout: zeros, and survivors scaled by 1 / (1 - p); the fraction dropped is p.
    torch.manual_seed(0)
    theirs = F.dropout(torch.tensor(x), p, training=True).numpy()
    for out in (value, theirs):
        survivors = out != 0
        np.testing.assert_allclose(out[survivors], x[survivors] / (1 - p), rtol=1e-12)
        assert abs((~survivors).mean() - p) < 0.01

    # With dp's mask, PyTorch gives the same value and the same gradient through the mask.
    xt = torch.tensor(x, requires_grad=True)
    out = xt * torch.tensor(kept) / (1 - p)
    out.backward(torch.tensor(seed))
    np.testing.assert_allclose(value, out.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), rtol=1e-12)


def test_dropout_in_evaluation_mode_is_the_identity_as_pytorchs():
    x = np.random.default_rng(0).standard_normal((4, 6))
    layer = Dropout(0.5).eval()
    theirs = torch.nn.Dropout(0.5).eval()(torch.tensor(x)).numpy()
    value, grads = dp_gradients(layer, x, np.ones_like(x))
    np.testing.assert_array_equal(value, x)
    np.testing.assert_array_equal(theirs, x)
    np.testing.assert_array_equal(grads["x"], np.ones_like(x))


def test_dropout_edge_probabilities_and_seeds():
    x = np.ones((10, 10))
    np.testing.assert_array_equal(Dropout(0.0)(x).value, x)
    np.testing.assert_array_equal(Dropout(1.0)(x).value, np.zeros_like(x))
    np.testing.assert_array_equal(F.dropout(torch.tensor(x), 1.0).numpy(), np.zeros_like(x))
    np.testing.assert_array_equal(Dropout(0.5, rng=3)(x).value, Dropout(0.5, rng=3)(x).value)
    assert Dropout(0.5)(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="probability"):
        Dropout(1.5)
    for p in ("0.5", None, True):  # "0.5" was a bare "'<=' not supported", True a silent p = 1
        with pytest.raises(TypeError, match="Dropout: p must be a probability"):
            Dropout(p)


# --------------------------------------------------------------------------------------------
# BatchNorm


def batchnorm_pair(n_features, seed=0):
    rng = np.random.default_rng(seed)
    ours = BatchNorm(n_features, "bn")
    ours.gamma.value[...] = rng.uniform(0.5, 1.5, n_features)
    ours.beta.value[...] = rng.standard_normal(n_features)
    theirs = torch.nn.BatchNorm1d(n_features, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.gamma.value))
        theirs.bias.copy_(torch.tensor(ours.beta.value))
    return ours, theirs


def compare_batchnorm(ours, theirs, x, seed):
    value, grads = dp_gradients(ours, x, seed)
    theirs.zero_grad()
    xt = torch.tensor(x, requires_grad=True)
    out = theirs(xt)
    out.backward(torch.tensor(seed))
    np.testing.assert_allclose(value, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for name, tensor in (("x", xt), ("bn.gamma", theirs.weight), ("bn.beta", theirs.bias)):
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)


def test_batchnorm_matches_pytorch_in_training_then_evaluation_mode():
    rng = np.random.default_rng(1)
    ours, theirs = batchnorm_pair(6)
    for _ in range(5):  # training: batch statistics, running statistics updated each step
        x = rng.normal(3.0, 2.0, (16, 6))
        compare_batchnorm(ours, theirs, x, rng.standard_normal(x.shape))
    assert not np.allclose(ours.running_mean, 0)
    ours.eval(), theirs.eval()
    for _ in range(2):  # evaluation: running statistics, which no longer move
        x = rng.normal(3.0, 2.0, (5, 6))
        before = ours.running_mean.copy()
        compare_batchnorm(ours, theirs, x, rng.standard_normal(x.shape))
        np.testing.assert_array_equal(ours.running_mean, before)


def test_batchnorm_in_a_batch_of_one_and_other_shapes():
    ours = BatchNorm(3)
    with pytest.raises(ValueError, match="more than one"):
        ours(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        ours(np.ones((4, 2)))
    ours.eval()
    np.testing.assert_allclose(ours(np.ones((1, 3))).value, np.ones((1, 3)) / np.sqrt(1 + 1e-5))
    assert sorted(ours.parameters()) == ["beta", "gamma"]


def test_linear_names_itself_when_the_input_has_the_wrong_width():
    with pytest.raises(
        ValueError, match=r"Linear\(5 -> 3, name='h1'\): expected an input \(\.\.\., 5\), got shape \(2, 4\)"
    ):
        Linear(5, 3, "h1", rng=0)(np.ones((2, 4)))
