"""The operations under convolution and pooling: sliding_windows (and its adjoint,
sliding_windows_adjoint, which is its VJP and whose VJP it is), window_max,
and correlate2d with its two derivative maps, correlate2d_transpose and correlate2d_weight.

Each against NumPy's sliding_window_view or PyTorch (values, gradients, second derivatives), the
adjoint identity <A x, y> = <x, A^T y> for the linear ones, and dp.gradcheck in both modes, over
random shapes, kernels and strides drawn by hypothesis.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import dp
from dp import Dual, Node
from dp.ops import correlate2d, sliding_windows, window_max

examples = settings(max_examples=25, deadline=None, derandomize=True, database=None)


@st.composite
def windowed(draw, k=2):
    """(input shape, window shape, strides): at least one window fits."""
    window = tuple(draw(st.integers(1, 4)) for _ in range(k))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(k))
    trailing = tuple(draw(st.integers(size, size + 5)) for size in window)
    leading = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return leading + trailing, window, strides


@examples
@given(windowed(), st.integers(0, 2**32 - 1))
def test_sliding_windows_equal_numpy_and_their_vjp_is_the_adjoint(case, seed):
    shape, window, strides = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    axes = tuple(range(len(shape) - 2, len(shape)))
    expected = np.lib.stride_tricks.sliding_window_view(x, window, axis=axes)[..., :: strides[0], :: strides[1], :, :]
    out = sliding_windows(Node(x, "x"), window, strides)
    np.testing.assert_array_equal(out.value, expected)
    # <windows(x), y> = <x, windows^T(y)>: the gradient is the adjoint, overlapping windows summed.
    y = rng.standard_normal(out.shape)
    gradient = (out * y).sum().grad(1)["x"]
    np.testing.assert_allclose(np.sum(x * gradient), np.sum(expected * y), rtol=1e-12)
    # ... and every element's gradient is the sum of y over the windows that hold it
    np.testing.assert_allclose(gradient, _windows_adjoint_by_hand(y, shape, window, strides), rtol=1e-12, atol=1e-12)


def _windows_adjoint_by_hand(y, shape, window, strides):
    result = np.zeros(shape)
    for i in range(y.shape[-4]):
        for j in range(y.shape[-3]):
            rows, columns = (
                slice(i * strides[0], i * strides[0] + window[0]),
                slice(j * strides[1], j * strides[1] + window[1]),
            )
            result[..., rows, columns] += y[..., i, j, :, :]
    return result


def test_sliding_windows_in_one_dimension_and_at_second_order():
    x = np.arange(6.0)
    np.testing.assert_array_equal(sliding_windows(x, (3,), (2,)), [[0, 1, 2], [2, 3, 4]])
    np.testing.assert_array_equal(sliding_windows(x, 3, 2), [[0, 1, 2], [2, 3, 4]])  # an int: one axis
    # second order: d/dx of sum(windows(x)^2)'s gradient, through the adjoint's own VJP
    xs = Node(np.random.default_rng(1).standard_normal((2, 5, 4)), "x")
    inner = lambda x: (sliding_windows(x * x, (2, 3), (1, 1)) ** 2).sum()  # noqa: E731
    first = inner(xs).grad(1, create_graph=True)["x"]
    hessian_row_sums = first.sum().grad(1)["x"]
    t = torch.tensor(xs.value, requires_grad=True)
    (t_first,) = torch.autograd.grad((t.unfold(1, 2, 1).unfold(2, 3, 1).square() ** 2).sum(), t, create_graph=True)
    t_first.sum().backward()
    np.testing.assert_allclose(first.value, t_first.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(hessian_row_sums, t.grad.numpy(), rtol=1e-11)


def test_sliding_windows_gradcheck_in_both_modes():
    x = np.random.default_rng(2).standard_normal((2, 5, 6))
    assert dp.gradcheck(lambda x: sliding_windows(x, (3, 2), (2, 1)) ** 2, x)
    tangent = np.random.default_rng(3).standard_normal(x.shape)
    np.testing.assert_array_equal(
        sliding_windows(Dual(x, tangent), (2, 2), (2, 1)).tangent, sliding_windows(tangent, (2, 2), (2, 1))
    )


@pytest.mark.parametrize(
    "window, strides, shape, message",
    [
        ((3, 3), (1, 1), (2, 2, 2), "larger than the input"),
        ((0, 2), (1, 1), (4, 4), "window_shape must be"),
        ((2, 2), (1, 0), (4, 4), "strides must be"),
        ((2, 2, 2), (1, 1, 1), (4, 4), "at least 3 dimensions"),
    ],
)
def test_sliding_windows_refuse_bad_arguments(window, strides, shape, message):
    with pytest.raises(ValueError, match=message):
        sliding_windows(np.zeros(shape), window, strides)


# --------------------------------------------------------------------------------------------
# window_max: max-pooling's reduction


@examples
@given(windowed(), st.integers(0, 2**32 - 1), st.booleans())
def test_window_max_is_pytorch_max_pool_ties_included(case, seed, ties):
    shape, window, strides = case
    rng = np.random.default_rng(seed)
    # small integers make many ties: the gradient goes to the first maximum, as PyTorch's
    x = rng.integers(-2, 3, shape).astype(float) if ties else rng.standard_normal(shape)
    batch = x.reshape((-1, 1) + shape[-2:])
    out = window_max(sliding_windows(Node(batch, "x"), window, strides), 2)
    y = rng.standard_normal(out.shape)
    gradient = (out * y).sum().grad(1)["x"]
    t = torch.tensor(batch, requires_grad=True)
    expected = F.max_pool2d(t, window, strides)
    (expected * torch.tensor(y)).sum().backward()
    np.testing.assert_array_equal(out.value, expected.detach().numpy())
    np.testing.assert_allclose(gradient, t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_window_max_takes_nan_as_the_maximum_and_checks_k():
    windows = np.array([[1.0, np.nan], [3.0, 2.0]])
    out = window_max(Node(windows, "w"), 1)
    assert np.isnan(out.value[0]) and out.value[1] == 3.0
    np.testing.assert_array_equal(out.sum().grad(1)["w"], [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="k must be"):
        window_max(windows, 3)
    with pytest.raises(ValueError, match="empty windows"):
        window_max(np.zeros((2, 0)), 1)


def test_window_max_gradcheck_in_both_modes_and_second_order():
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 4))
    assert dp.gradcheck(lambda x: window_max(sliding_windows(x, (2, 2), (1, 1)), 2) ** 3, x)
    xs = Node(x, "x")
    first = (window_max(sliding_windows(xs, (2, 2), (2, 2)), 2) ** 3).sum().grad(1, create_graph=True)["x"]
    t = torch.tensor(x, requires_grad=True)
    (t_first,) = torch.autograd.grad((F.max_pool2d(t, 2) ** 3).sum(), t, create_graph=True)
    t_first.sum().backward()
    np.testing.assert_allclose(first.sum().grad(1)["x"], t.grad.numpy(), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# correlate2d and its derivatives


@st.composite
def convolutions(draw):
    """(x shape, W shape, stride) of a valid convolution without padding."""
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    height, width = draw(st.integers(kh, kh + 5)), draw(st.integers(kw, kw + 5))
    return (n, c, height, width), (o, c, kh, kw), stride


@examples
@given(convolutions(), st.integers(0, 2**32 - 1), st.sampled_from([np.float64, np.float32]))
def test_correlate2d_equals_pytorch_conv2d(case, seed, dtype):
    x_shape, w_shape, stride = case
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    out = correlate2d(Node(x, "x"), Node(W, "W"), stride)
    y = rng.standard_normal(out.shape).astype(dtype)
    gradients = (out * y).sum().grad(1)
    tx, tW = torch.tensor(x, requires_grad=True), torch.tensor(W, requires_grad=True)
    expected = F.conv2d(tx, tW, stride=stride)
    (expected * torch.tensor(y)).sum().backward()
    tolerance = dict(rtol=1e-10, atol=1e-10) if dtype is np.float64 else dict(rtol=1e-4, atol=1e-4)
    assert out.dtype == dtype and gradients["x"].dtype == dtype and gradients["W"].dtype == dtype
    np.testing.assert_allclose(out.value, expected.detach().numpy(), **tolerance)
    np.testing.assert_allclose(gradients["x"], tx.grad.numpy(), **tolerance)
    np.testing.assert_allclose(gradients["W"], tW.grad.numpy(), **tolerance)


@pytest.mark.parametrize("stride", [(1, 1), (2, 1)])
def test_correlate2d_second_derivatives_equal_pytorch(stride):
    rng = np.random.default_rng(5)
    x, W = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((3, 2, 3, 2))
    xs, Ws = Node(x, "x"), Node(W, "W")
    loss = lambda x, W, conv: (conv(x * x, W * W) ** 2).sum()  # noqa: E731  (non-linear in both)
    first = loss(xs, Ws, lambda a, b: correlate2d(a, b, stride)).grad(1, create_graph=True)
    second = (first["x"].sum() + (first["W"] ** 2).sum()).grad(1)
    tx, tW = torch.tensor(x, requires_grad=True), torch.tensor(W, requires_grad=True)
    tx_first, tW_first = torch.autograd.grad(
        loss(tx, tW, lambda a, b: F.conv2d(a, b, stride=stride)), (tx, tW), create_graph=True
    )
    (tx_first.sum() + (tW_first**2).sum()).backward()
    np.testing.assert_allclose(second["x"], tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(second["W"], tW.grad.numpy(), rtol=1e-10)


def test_correlate2d_and_its_derivative_maps_gradcheck_in_both_modes():
    """The transpose and weight maps are primitives in their own right: check each directly."""
    from dp.ops.convolution import _correlate2d_transpose, _correlate2d_weight

    rng = np.random.default_rng(6)
    x, W = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 2, 3))
    g = rng.standard_normal(correlate2d(x, W, (2, 1)).shape)
    assert dp.gradcheck(lambda x, W: correlate2d(x, W, (2, 1)), x, W)
    assert dp.gradcheck(lambda g, W: _correlate2d_transpose(g, W, shape=x.shape, stride=(2, 1)), g, W)
    assert dp.gradcheck(lambda x, g: _correlate2d_weight(x, g, kernel=(2, 3), stride=(2, 1)), x, g)
    # and they are the adjoints they claim to be: <conv(x, W), g> = <x, T(g, W)> = <W, weight(x, g)>
    inner = np.sum(correlate2d(x, W, (2, 1)) * g)
    np.testing.assert_allclose(np.sum(x * _correlate2d_transpose(g, W, shape=x.shape, stride=(2, 1))), inner)
    np.testing.assert_allclose(np.sum(W * _correlate2d_weight(x, g, kernel=(2, 3), stride=(2, 1))), inner)


def test_window_max_candidates_take_the_gradient_first_else_the_first_maximum_does():
    w = sliding_windows(Node(np.array([0.0, 1.0, 5.0, 3.0, 4.0, 4.0]), "x"), (2,), (2,))
    candidates = np.array([[True, False], [False, True], [True, True]])
    out = window_max(w, 1, candidates=candidates)
    np.testing.assert_array_equal(out.value, [1.0, 5.0, 4.0])
    # window 0: its maximum (1.0) is no candidate's, so it falls back to the maximum itself; window 1:
    # the same; window 2: a tie, both candidates, the first takes it
    np.testing.assert_array_equal(out.sum().grad(1)["x"], [0, 1, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="candidates"):
        window_max(w, 1, candidates=np.ones((2, 2), bool))
