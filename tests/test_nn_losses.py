"""Every loss against PyTorch (values and gradients, float64 and float32, each reduction) and
finite differences, and their behaviour at the extremes where naive formulas give inf or nan."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dp import Node
from dp.nn import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_from_probs,
    mean_squared_error,
    mse,
)
from oracles import assert_matches_oracles

RNG = np.random.default_rng(0)
N, C = 6, 4
LOGITS = RNG.standard_normal((N, C)) * 2
LABELS = RNG.integers(0, C, N)
ONE_HOT = np.eye(C)[LABELS]
SOFT = np.exp(RNG.standard_normal((N, C)))
SOFT /= SOFT.sum(axis=1, keepdims=True)
PROBS = RNG.uniform(0.05, 0.95, (N, 3))
BINARY = RNG.integers(0, 2, (N, 3)).astype(np.float64)


def probabilities(t):
    return torch.softmax(t, -1)


# name: (dp loss of a Node, torch loss of a tensor (for one reduction), input)
CASES = {
    "cross_entropy, class indices": (
        lambda x, r: cross_entropy(x, LABELS, r),
        lambda t, r: F.cross_entropy(t, torch.tensor(LABELS), reduction=r),
        LOGITS,
    ),
    "cross_entropy, one-hot": (
        lambda x, r: cross_entropy(x, ONE_HOT, r),
        lambda t, r: F.cross_entropy(t, torch.tensor(ONE_HOT, dtype=t.dtype), reduction=r),
        LOGITS,
    ),
    "cross_entropy, probabilities": (
        lambda x, r: cross_entropy(x, SOFT, r),
        lambda t, r: F.cross_entropy(t, torch.tensor(SOFT, dtype=t.dtype), reduction=r),
        LOGITS,
    ),
    "cross_entropy_from_probs (the paper's)": (
        lambda x, r: cross_entropy_from_probs(x.softmax(), ONE_HOT, r),
        lambda t, r: F.nll_loss(torch.log(probabilities(t)), torch.tensor(LABELS), reduction=r),
        LOGITS,
    ),
    "binary_cross_entropy": (
        lambda x, r: binary_cross_entropy(x, BINARY, r),
        lambda t, r: F.binary_cross_entropy(t, torch.tensor(BINARY, dtype=t.dtype), reduction=r),
        PROBS,
    ),
    "binary_cross_entropy_with_logits": (
        lambda x, r: binary_cross_entropy_with_logits(x, BINARY, r),
        lambda t, r: F.binary_cross_entropy_with_logits(t, torch.tensor(BINARY, dtype=t.dtype), reduction=r),
        LOGITS[:, :3],
    ),
    "mean_squared_error": (
        lambda x, r: mean_squared_error(x, SOFT, r),
        lambda t, r: F.mse_loss(t, torch.tensor(SOFT, dtype=t.dtype), reduction=r),
        LOGITS,
    ),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_losses_match_pytorch(name, reduction, dtype):
    ours, theirs, x = CASES[name]
    assert_matches_oracles(lambda node: ours(node, reduction), lambda t: theirs(t, reduction), [x], dtype=dtype)


def test_the_papers_summed_loss_is_cross_entropy_from_probs_with_sum():
    p = Node(LOGITS).softmax()
    paper = (-1 * (Node(ONE_HOT) * p.log())).sum()
    np.testing.assert_allclose(cross_entropy_from_probs(p, ONE_HOT, "sum").value, paper.value, rtol=1e-12)
    np.testing.assert_allclose(cross_entropy(LOGITS, LABELS, "sum").value, paper.value, rtol=1e-12)
    assert mse is mean_squared_error


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_from_logits_is_exact_for_huge_logits(dtype):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=dtype)
    labels = np.array([1, 2])
    x = Node(logits, "x")
    loss = cross_entropy(x, labels)
    grad = loss.grad(1)["x"]
    t = torch.tensor(logits, requires_grad=True)
    expected = F.cross_entropy(t, torch.tensor(labels))
    expected.backward()
    assert np.isfinite(loss.value) and np.isfinite(grad).all()
    np.testing.assert_allclose(loss.value, expected.item(), rtol=1e-6)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_the_papers_loss_stays_finite_when_a_probability_underflows():
    x = Node(np.array([[800.0, 0.0, -800.0]]), "x")
    loss = cross_entropy_from_probs(x.softmax(), np.array([[1.0, 0.0, 0.0]]))
    assert loss.value == 0.0  # no 0 * log(0) = nan from the underflowed class
    assert np.isfinite(loss.grad(1)["x"]).all()


@pytest.mark.parametrize("dtype, floor", [(np.float64, 100.0), (np.float32, -np.log(np.finfo(np.float32).tiny))])
def test_binary_cross_entropy_is_finite_at_zero_and_one(dtype, floor):
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0], dtype=dtype)
    x = Node(p, "p")
    loss = binary_cross_entropy(x, y, reduction="none")
    np.testing.assert_allclose(loss.value, [0, 0, floor, floor, np.log(2)], rtol=1e-6)
    assert np.isfinite(loss.sum().grad(1)["p"]).all()
    if dtype is np.float64:  # PyTorch's clamp of each log at -100, exactly
        expected = F.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction="none").numpy()
        np.testing.assert_allclose(loss.value, expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_with_logits_is_exact_at_extremes(dtype):
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype=dtype)
    y = np.array([1.0, 1.0, 1.0, 0.0, 0.0], dtype=dtype)
    x = Node(z, "z")
    loss = binary_cross_entropy_with_logits(x, y, reduction="sum")
    t = torch.tensor(z, requires_grad=True)
    expected = F.binary_cross_entropy_with_logits(t, torch.tensor(y), reduction="sum")
    expected.backward()
    np.testing.assert_allclose(loss.value, expected.item(), rtol=1e-6)
    np.testing.assert_allclose(loss.grad(1)["z"], t.grad.numpy(), rtol=1e-6)  # sigmoid(z) - y, also at z = 0


def test_labels_must_match_the_predictions_shape():
    with pytest.raises(ValueError, match="do not match"):
        mean_squared_error(np.zeros((4, 1)), np.zeros(4))  # would silently broadcast to (4, 4)
    with pytest.raises(ValueError, match="class indices"):
        cross_entropy(LOGITS, LABELS[:3])
    with pytest.raises(ValueError, match="0..3"):
        cross_entropy(LOGITS, LABELS + C)
    with pytest.raises(ValueError, match="reduction"):
        mean_squared_error(LOGITS, LOGITS, reduction="max")


def test_labels_that_are_not_numbers_are_refused_by_name():
    with pytest.raises(TypeError, match="binary_cross_entropy: labels must be an array of numbers, got list of dtype"):
        binary_cross_entropy(np.full(3, 0.5), ["a", "b", "c"])
    with pytest.raises(TypeError, match="mean_squared_error: labels must be an array of numbers, got NoneType"):
        mean_squared_error(np.array(1.0), None)  # np.asarray(None, float) would be a silent NaN
    with pytest.raises(TypeError, match="complex"):
        mean_squared_error(np.ones(2), np.array([1 + 1j, 2]))  # the imaginary part would be dropped


def test_constant_node_labels_take_the_predictions_dtype_too():
    logits = Node(LOGITS.astype(np.float32), "x")
    for loss in (cross_entropy(logits, Node(ONE_HOT)), mse(logits, Node(LOGITS))):
        assert loss.dtype == np.float32
        assert loss.grad(1)["x"].dtype == np.float32


def test_labels_take_the_predictions_dtype():
    logits = Node(LOGITS.astype(np.float32), "x")
    for loss in (cross_entropy(logits, ONE_HOT), cross_entropy(logits, LABELS), mse(logits, LOGITS)):
        assert loss.dtype == np.float32
        assert loss.grad(1)["x"].dtype == np.float32


def test_cross_entropy_takes_sequences_of_logits_as_pytorch_does_flattened():
    rng = np.random.default_rng(11)
    logits, labels = rng.standard_normal((2, 3, 5)), rng.integers(0, 5, (2, 3))
    for reduction in ("mean", "sum", "none"):
        z = Node(logits, "z")
        loss = cross_entropy(z, labels, reduction=reduction)
        t = torch.tensor(logits, requires_grad=True)
        expected = F.cross_entropy(t.reshape(-1, 5), torch.tensor(labels).reshape(-1), reduction=reduction)
        expected = expected.reshape(2, 3) if reduction == "none" else expected
        np.testing.assert_allclose(loss.value, expected.detach().numpy(), rtol=1e-12)
        expected.sum().backward()
        np.testing.assert_allclose(loss.sum().grad(1)["z"], t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_says_float_class_indices_must_be_integers():
    with pytest.raises(TypeError, match="class indices must be integers"):
        cross_entropy(np.zeros((3, 5)), np.array([1.0, 2.0, 0.0]))


def test_binary_cross_entropy_with_logits_of_numbers():
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    expected = F.binary_cross_entropy_with_logits(t, torch.tensor(1.0, dtype=torch.float64))
    expected.backward()
    z = Node(0.5, "z")
    loss = binary_cross_entropy_with_logits(z, 1.0)
    np.testing.assert_allclose(loss.value, expected.item(), rtol=1e-15)
    np.testing.assert_allclose(loss.grad(1)["z"], t.grad.item(), rtol=1e-15)
