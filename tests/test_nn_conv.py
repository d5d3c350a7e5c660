"""Convolution and pooling layers against PyTorch: conv2d / Conv2d, max_pool2d / MaxPool2d and
avg_pool2d / AvgPool2d.

Each is compared with torch.nn.functional and torch.nn, with the same weights copied in through
the documented layout (W (out, in, kh, kw), b (out,): PyTorch's own), over random shapes,
kernels, strides and paddings (int and pair forms, odd sizes, a batch of 1) drawn by hypothesis:
the output and the gradients for the input and every parameter, float64 to 1e-10 and float32 to
1e-4. Then dp.gradcheck in both modes, the errors for bad input, the parameters' names, and a tiny
CNN (Conv2d -> ReLU -> MaxPool2d -> Flatten -> Linear) in a Sequential: equal to PyTorch's,
trained by an optimizer, saved and loaded. The operations underneath are tested in
test_ops_windows.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

import dp
from dp import Node
from dp.nn import (
    Adam,
    AvgPool2d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    avg_pool2d,
    conv2d,
    cross_entropy,
    max_pool2d,
)

examples = settings(max_examples=20, deadline=None, derandomize=True, database=None)

# The tolerances: float64 to 1e-10, float32 to 1e-4.
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-4)}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def int_or_pair(draw, pair):
    """`pair` as it may be written: an int where both sides are equal (sometimes), else the pair."""
    return pair[0] if pair[0] == pair[1] and draw(st.booleans()) else pair


@st.composite
def convolutions(draw):
    """A convolution's sizes: (N, C, H, W), out_channels, kernel, stride, padding (each an int or
    a pair), with the kernel no larger than the padded input."""
    n, c, out = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    size = tuple(draw(st.integers(max(1, k - 2 * p), k - 2 * p + 6)) for k, p in zip(kernel, padding))
    return ((n, c) + size, out, int_or_pair(draw, kernel), int_or_pair(draw, stride), int_or_pair(draw, padding))


@st.composite
def poolings(draw):
    """A pooling's sizes: (N, C, H, W), kernel, stride (None: the kernel's), padding (at most
    half the kernel, PyTorch's rule), each an int or a pair."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(draw(st.integers(max(1, k - 2 * p), k - 2 * p + 6)) for k, p in zip(kernel, padding))
    stride = None if stride is None else int_or_pair(draw, stride)
    return (n, c) + size, int_or_pair(draw, kernel), stride, int_or_pair(draw, padding)


def assert_close(got, expected, dtype, what):
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    np.testing.assert_allclose(got, expected, **TOLERANCE[dtype], err_msg=what)


def dp_gradients(function, named_inputs, seed):
    """function's output and the gradients of sum(seed * output), for named leaves of the inputs."""
    out = function(**{name: Node(value, name) for name, value in named_inputs.items()})
    return out.value, out.grad(seed)


def torch_gradients(function, named_inputs, seed):
    tensors = {name: torch.tensor(value, requires_grad=True) for name, value in named_inputs.items()}
    out = function(**tensors)
    out.backward(torch.tensor(seed))
    return out.detach().numpy(), {name: tensor.grad.numpy() for name, tensor in tensors.items()}


def assert_function_matches_torch(function, torch_function, named_inputs, dtype, rng):
    named_inputs = {name: value.astype(dtype) for name, value in named_inputs.items()}
    out_shape = function(**named_inputs).shape
    seed = rng.standard_normal(out_shape).astype(dtype)
    value, grads = dp_gradients(function, named_inputs, seed)
    expected, expected_grads = torch_gradients(torch_function, named_inputs, seed)
    assert value.shape == expected.shape, f"output shape {value.shape}, PyTorch's {expected.shape}"
    assert_close(value, expected, dtype, "output")
    assert set(grads) == set(named_inputs)
    for name in named_inputs:
        assert_close(grads[name], expected_grads[name], dtype, f"gradient for {name}")


def assert_layer_matches_torch(layer, torch_layer, x, rng):
    """Layer and torch module hold the same weights: equal outputs and gradients for the input
    ("x") and for each parameter, dp's by name and PyTorch's by the module's attribute."""
    dtype = x.dtype.type
    out = layer(Node(x, "x"))
    seed = rng.standard_normal(out.shape).astype(dtype)
    grads = out.grad(seed)
    xt = torch.tensor(x, requires_grad=True)
    expected = torch_layer(xt)
    expected.backward(torch.tensor(seed))
    assert_close(out.value, expected.detach().numpy(), dtype, "output")
    assert_close(grads["x"], xt.grad.numpy(), dtype, "gradient for x")
    torch_params = dict(torch_layer.named_parameters())
    for name, torch_name in (("W", "weight"), ("b", "bias")):
        if name in layer.parameters():
            assert_close(grads[name], torch_params[torch_name].grad.numpy(), dtype, f"gradient for {name}")
    assert set(grads) == {"x"} | set(layer.parameters())


# --------------------------------------------------------------------------------------------
# Convolution


@examples
@given(convolutions(), st.booleans(), st.sampled_from([np.float64, np.float32]), st.integers(0, 2**32 - 1))
@example(((1, 3, 7, 5), 2, (3, 2), (2, 1), (1, 0)), True, np.float64, 0)  # batch of 1, odd sizes, pairs
@example(((1, 1, 1, 1), 1, 3, 1, 1), True, np.float32, 1)  # a 1x1 image, a kernel that fits only padded
def test_conv2d_matches_pytorch(case, bias, dtype, seed):
    shape, out_channels, kernel, stride, padding = case
    rng = np.random.default_rng(seed)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    inputs = dict(x=rng.standard_normal(shape), W=rng.standard_normal((out_channels, shape[1], kh, kw)))
    if bias:
        inputs["b"] = rng.standard_normal(out_channels)
    assert_function_matches_torch(
        lambda x, W, b=None: conv2d(x, W, b, stride=stride, padding=padding),
        lambda x, W, b=None: F.conv2d(x, W, b, stride=stride, padding=padding),
        inputs,
        dtype,
        rng,
    )


@examples
@given(convolutions(), st.booleans(), st.sampled_from([np.float64, np.float32]), st.integers(0, 2**32 - 1))
@example(((1, 2, 5, 9), 3, (1, 3), 2, (2, 1)), False, np.float32, 2)
def test_conv2d_layer_matches_torch_nn_conv2d(case, bias, dtype, seed):
    shape, out_channels, kernel, stride, padding = case
    rng = np.random.default_rng(seed)
    layer = Conv2d(shape[1], out_channels, kernel, stride, padding, bias=bias, rng=seed, dtype=dtype)
    if bias:  # b starts at zero, which would not show a bias that went astray
        layer.b.value[...] = rng.standard_normal(out_channels)
    theirs = torch.nn.Conv2d(shape[1], out_channels, kernel, stride, padding, bias=bias, dtype=TORCH_DTYPE[dtype])
    with torch.no_grad():  # the documented layout is PyTorch's: copied as it is
        theirs.weight.copy_(torch.tensor(layer.W.value))
        if bias:
            theirs.bias.copy_(torch.tensor(layer.b.value))
    assert layer.W.dtype == dtype and layer.W.shape == tuple(theirs.weight.shape)
    assert_layer_matches_torch(layer, theirs, rng.standard_normal(shape).astype(dtype), rng)


def test_conv2d_takes_keyword_arguments_and_lists():
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    expected = F.conv2d(torch.tensor(x), torch.tensor(W), torch.tensor(b), stride=(2, 1), padding=(1, 2)).numpy()
    np.testing.assert_allclose(conv2d(x, W, b=b, stride=[2, 1], padding=[1, 2]).value, expected, rtol=1e-12)
    np.testing.assert_allclose(conv2d(Node(x), Node(W), Node(b), (2, 1), (1, 2)).value, expected, rtol=1e-12)


def test_conv2d_and_pooling_gradcheck_in_both_modes():
    rng = np.random.default_rng(4)
    x, W, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    functions = [
        (lambda x, W, b: conv2d(x, W, b, stride=(2, 1), padding=(1, 2)), (x, W, b)),
        (lambda x, W: conv2d(x, W, padding=1), (x, W)),
        (lambda x: max_pool2d(x, (2, 3), stride=(1, 2), padding=1), (x,)),
        (lambda x: max_pool2d(x, 2), (x,)),
        (lambda x: avg_pool2d(x, 3, stride=2, padding=1), (x,)),
        (lambda x: avg_pool2d(x, (1, 2)), (x,)),
    ]
    for function, args in functions:
        for mode in ("reverse", "forward"):  # one at a time: a missing forward rule would raise, not be skipped
            assert dp.gradcheck(function, *args, modes=mode)


def test_conv2d_at_second_order_equals_pytorch():
    """Through the padding, the bias and a non-linearity: d/dx of a function of the gradient."""
    rng = np.random.default_rng(5)
    x, W, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    xs, Ws, bs = Node(x, "x"), Node(W, "W"), Node(b, "b")
    first = (conv2d(xs, Ws, bs, 2, 1) ** 2).sum().grad(1, create_graph=True)
    second = ((first["x"] ** 2).sum() + (first["W"] * first["W"]).sum() + first["b"].sum()).grad(1)
    tensors = [torch.tensor(v, requires_grad=True) for v in (x, W, b)]
    t_first = torch.autograd.grad((F.conv2d(*tensors, stride=2, padding=1) ** 2).sum(), tensors, create_graph=True)
    ((t_first[0] ** 2).sum() + (t_first[1] * t_first[1]).sum() + t_first[2].sum()).backward()
    for name, tensor in zip("xWb", tensors):
        np.testing.assert_allclose(second[name], tensor.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


# --------------------------------------------------------------------------------------------
# Pooling


POOLS = [
    (max_pool2d, MaxPool2d, F.max_pool2d, torch.nn.MaxPool2d),
    (avg_pool2d, AvgPool2d, F.avg_pool2d, torch.nn.AvgPool2d),
]


@examples
@given(poolings(), st.sampled_from(POOLS), st.sampled_from([np.float64, np.float32]), st.integers(0, 2**32 - 1))
@example(((1, 1, 7, 5), (3, 2), (2, 1), (1, 0)), POOLS[0], np.float64, 0)  # batch of 1, odd sizes, pairs
@example(((1, 2, 5, 5), 2, None, 1), POOLS[1], np.float32, 1)  # stride = kernel, the default
def test_pooling_matches_pytorch_as_function_and_layer(case, pools, dtype, seed):
    shape, kernel, stride, padding = case
    function, layer, torch_function, torch_layer = pools
    rng = np.random.default_rng(seed)
    assert_function_matches_torch(
        lambda x: function(x, kernel, stride, padding),
        lambda x: torch_function(x, kernel, stride, padding),
        dict(x=rng.standard_normal(shape)),
        dtype,
        rng,
    )
    arguments = (kernel,) if stride is None else (kernel, stride)  # the layers' default stride too
    assert_layer_matches_torch(
        layer(*arguments, padding=padding),
        torch_layer(*arguments, padding=padding),
        rng.standard_normal(shape).astype(dtype),
        rng,
    )


@examples
@given(poolings(), st.integers(0, 2**32 - 1))
def test_max_pool2d_gives_ties_to_the_first_maximum_as_pytorch(case, seed):
    shape, kernel, stride, padding = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, shape).astype(float)  # small integers: many ties
    assert_function_matches_torch(
        lambda x: max_pool2d(x, kernel, stride, padding),
        lambda x: F.max_pool2d(x, kernel, stride, padding),
        dict(x=x),
        np.float64,
        rng,
    )


def test_max_pool2d_pads_with_minus_infinity():
    """Padding never wins a window, however negative the image."""
    x = -1e300 * np.ones((1, 1, 3, 3))
    np.testing.assert_array_equal(max_pool2d(x, 3, 1, 1).value, F.max_pool2d(torch.tensor(x), 3, 1, 1).numpy())
    assert np.all(max_pool2d(x, 3, 1, 1).value == -1e300)


def test_max_pool2d_never_gives_the_gradient_to_padding():
    """A window whose maximum is -inf (a masked image, say): PyTorch gives its gradient to the
    window's first position inside the image; none may vanish into the padding."""
    x = np.array([[[[-np.inf, 1.0], [3.0, 2.0]], [[-np.inf, -np.inf], [-np.inf, -np.inf]]]])
    assert_function_matches_torch(
        lambda x: max_pool2d(x, 2, 1, 1),
        lambda x: F.max_pool2d(x, 2, 1, 1),
        dict(x=x),
        np.float64,
        np.random.default_rng(0),
    )


def test_pooling_of_an_integer_image_is_that_of_the_float_image():
    """Integers become float64, as everywhere in dp: padding with -inf must not fail on them."""
    image = np.arange(25).reshape(1, 1, 5, 5)
    for function in (max_pool2d, avg_pool2d):
        for padding in (0, 1):
            np.testing.assert_array_equal(
                dp.node.plain(function(image, 3, 2, padding)),
                dp.node.plain(function(image.astype(float), 3, 2, padding)),
            )


# --------------------------------------------------------------------------------------------
# Bad input: a clear error naming the layer and the shapes; nothing changes


CONV_ERRORS = [
    (
        "wrong channel count",
        lambda: Conv2d(3, 2, 3)(np.ones((1, 4, 5, 5))),
        r"(?i)conv2d.*4 channels.*\(1, 4, 5, 5\).*\(2, 3, 3, 3\).*expects 3",
    ),
    (
        "kernel larger than the padded input",
        lambda: Conv2d(3, 2, 7, padding=1)(np.ones((1, 3, 4, 4))),
        r"(?i)conv2d.*kernel 7x7.*larger than the padded input 6x6.*input 4x4",
    ),
    (
        "kernel larger along one axis",
        lambda: conv2d(np.ones((1, 1, 5, 2)), np.ones((1, 1, 1, 3))),
        r"conv2d.*kernel 1x3.*larger than the padded input 5x2",
    ),
    ("non-4-d input", lambda: Conv2d(3, 2, 3)(np.ones((3, 5, 5))), r"(?i)conv2d.*\(N, C, H, W\).*\(3, 5, 5\)"),
    (
        "5-d input",
        lambda: conv2d(np.ones((1, 1, 1, 5, 5)), np.ones((1, 1, 3, 3))),
        r"conv2d.*\(N, C, H, W\).*\(1, 1, 1, 5, 5\)",
    ),
    (
        "wrong bias shape",
        lambda: conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), np.ones(3)),
        r"conv2d.*bias.*\(2,\).*\(3,\)",
    ),
    (
        "a kernel that is not 4-d",
        lambda: conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3))),
        r"conv2d.*\(out_channels, in_channels, kh, kw\).*\(2, 3, 3\)",
    ),
    ("stride 0", lambda: conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), stride=0), r"conv2d.*stride.*0"),
    (
        "negative padding",
        lambda: conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=-1),
        r"conv2d.*padding.*-1",
    ),
    ("a padding of three numbers", lambda: Conv2d(1, 1, 3, padding=(1, 1, 1)), r"Conv2d.*padding.*\(1, 1, 1\)"),
    ("a float kernel size", lambda: Conv2d(1, 1, 3.0), r"Conv2d.*kernel_size.*3\.0"),
    ("a bool kernel size", lambda: Conv2d(1, 1, True), r"Conv2d.*kernel_size.*True"),
    ("no channels", lambda: Conv2d(0, 1, 3), r"Conv2d.*in_channels.*0"),
]
POOL_ERRORS = [
    ("non-4-d input", lambda: MaxPool2d(2)(np.ones((3, 5, 5))), r"(?i)max_?pool2d.*\(N, C, H, W\).*\(3, 5, 5\)"),
    ("non-4-d input", lambda: avg_pool2d(np.ones((5, 5)), 2), r"avg_pool2d.*\(N, C, H, W\).*\(5, 5\)"),
    (
        "kernel larger than the padded input",
        lambda: MaxPool2d(3)(np.ones((1, 3, 2, 2))),
        r"(?i)max_?pool2d.*kernel 3x3.*larger than the padded input 2x2",
    ),
    (
        "kernel larger than the padded input",
        lambda: AvgPool2d((2, 5), padding=(0, 1))(np.ones((1, 1, 4, 2))),
        r"(?i)avg_?pool2d.*kernel 2x5.*larger than the padded input 4x4",
    ),
    (
        "padding more than half the kernel",
        lambda: max_pool2d(np.ones((1, 1, 6, 6)), 2, padding=2),
        r"max_pool2d.*padding \(2, 2\).*half the kernel \(2, 2\)",
    ),
    ("stride 0", lambda: AvgPool2d(2, 0), r"AvgPool2d.*stride.*0"),
]


@pytest.mark.parametrize(
    "what, call, message", CONV_ERRORS + POOL_ERRORS, ids=[what for what, _, _ in CONV_ERRORS + POOL_ERRORS]
)
def test_bad_input_gets_a_clear_error(what, call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_rejected_call_changes_nothing():
    layer = Conv2d(3, 2, 3, rng=0)
    layer.b.value[...] = [1.0, -1.0]
    before = {name: node.value.copy() for name, node in layer.parameters().items()}
    x = np.ones((1, 4, 5, 5))
    with pytest.raises(ValueError):
        layer(Node(x, "x"))
    for name, node in layer.parameters().items():
        np.testing.assert_array_equal(node.value, before[name], err_msg=name)
    np.testing.assert_array_equal(x, 1.0)
    # ... and the layer still works
    assert layer(np.ones((1, 3, 5, 5))).shape == (1, 2, 3, 3)


# --------------------------------------------------------------------------------------------
# Parameters: names, dtype, initialisation


def test_conv2d_parameters_are_named_and_shaped_as_documented():
    layer = Conv2d(3, 5, (3, 2), rng=0)
    assert list(layer.parameters()) == ["W", "b"]
    assert layer.W.shape == (5, 3, 3, 2) and layer.b.shape == (5,)
    np.testing.assert_array_equal(layer.b.value, 0)
    assert list(Conv2d(3, 5, 3, bias=False).parameters()) == ["W"]
    assert list(Conv2d(3, 5, 3, name="conv1").parameters()) == ["conv1.W", "conv1.b"]
    model = Sequential([Conv2d(1, 2, 3), ReLU(), MaxPool2d(2), Flatten(), Linear(8, 3)])
    assert list(model.parameters()) == ["0.W", "0.b", "4.W", "4.b"]
    assert MaxPool2d(2).parameters() == {} and AvgPool2d(2).parameters() == {}
    np.testing.assert_array_equal(Conv2d(3, 5, 3, rng=7).W.value, Conv2d(3, 5, 3, rng=7).W.value)
    float32 = Conv2d(3, 5, 3, dtype=np.float32, rng=0)
    assert float32.W.dtype == np.float32 and float32.b.dtype == np.float32
    assert float32(np.ones((1, 3, 4, 4), dtype=np.float32)).dtype == np.float32


def test_conv2d_starts_he_normal_with_pytorchs_fan_in():
    """std = sqrt(2 / fan_in), fan_in = in_channels * kh * kw (PyTorch's), not out_channels * kh * kw."""
    layer = Conv2d(32, 96, (3, 5), rng=0)  # 46 080 weights: the sample std is within 0.4% of the true one
    fan_in = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(96, 32, 3, 5))[0]
    assert fan_in == 32 * 15
    np.testing.assert_allclose(layer.W.value.std(), np.sqrt(2 / fan_in), rtol=0.02)
    assert abs(layer.W.value.mean()) < 0.02 * layer.W.value.std()


# --------------------------------------------------------------------------------------------
# A tiny CNN: Conv2d -> ReLU -> MaxPool2d -> Flatten -> Linear


def tiny_cnn(seed):
    return Sequential(
        [Conv2d(1, 4, 3, padding=1, rng=seed), ReLU(), MaxPool2d(2), Flatten(), Linear(4 * 4 * 4, 3, rng=seed + 1)],
        loss=cross_entropy,
    )


def batch_of_images():
    rng = np.random.default_rng(10)
    return rng.standard_normal((8, 1, 8, 8)), rng.integers(0, 3, 8)


def test_tiny_cnn_equals_the_same_network_in_pytorch():
    """Flatten's order (C, H, W) must be PyTorch's, or the Linear weights would not line up."""
    model = tiny_cnn(0)
    model[0].b.value[...] = np.random.default_rng(1).standard_normal(4)
    x, labels = batch_of_images()
    loss = model.loss(x, labels)
    grads = loss.grad(1)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 3, dtype=torch.float64),
    )
    with torch.no_grad():
        theirs[0].weight.copy_(torch.tensor(model[0].W.value))
        theirs[0].bias.copy_(torch.tensor(model[0].b.value))
        theirs[4].weight.copy_(torch.tensor(model[4].W.value.T))  # dp's Linear W is (n_in, n_out)
        theirs[4].bias.copy_(torch.tensor(model[4].b.value))
    expected = F.cross_entropy(theirs(torch.tensor(x)), torch.tensor(labels))
    expected.backward()
    np.testing.assert_allclose(loss.value, expected.item(), rtol=1e-12)
    torch_grads = {
        "0.W": theirs[0].weight.grad,
        "0.b": theirs[0].bias.grad,
        "4.W": theirs[4].weight.grad.T,
        "4.b": theirs[4].bias.grad,
    }
    assert set(grads) == set(torch_grads)
    for name, expected_grad in torch_grads.items():
        np.testing.assert_allclose(grads[name], expected_grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_tiny_cnn_trains_and_survives_save_and_load(tmp_path):
    model = tiny_cnn(0)
    x, labels = batch_of_images()
    start = model.loss(x, labels).item()
    final, history, _ = Adam(model, x, labels, learning_rate=0.01).train(
        steps=40, print_each=None, err_hist=True, progress=False
    )
    assert history[0] == pytest.approx(start, rel=1e-12)
    assert final < 0.5 * start, f"loss {start} -> {final}"
    path = tmp_path / "cnn.npz"
    model.save(path)
    copy = tiny_cnn(5).load(path)  # other random weights, replaced by the saved ones
    for name, node in model.parameters().items():
        np.testing.assert_array_equal(copy.parameters()[name].value, node.value, err_msg=name)
    np.testing.assert_array_equal(copy(x).value, model(x).value)


def test_layer_errors_name_the_layer_and_a_list_bias_works():
    layer = Conv2d(3, 2, 3, rng=0)
    with pytest.raises(ValueError, match=r"Conv2d\(3 -> 2.*the input has 1 channels"):
        layer(np.zeros((1, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=\(3, 3\).*larger than the padded input"):
        MaxPool2d(3)(np.zeros((1, 1, 2, 2)))
    x, W = np.ones((1, 1, 3, 3)), np.ones((2, 1, 3, 3))
    np.testing.assert_array_equal(conv2d(x, W, [1.0, -1.0]).value.ravel(), [10.0, 8.0])
