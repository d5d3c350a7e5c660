"""The recurrent layers against PyTorch: RNN (tanh, relu), LSTM and GRU, their cells, with the same
weights copied through the documented layout; outputs, final states and the gradients for the
input, the initial state and every parameter. Also gradcheck in both modes, random sizes, the
parameter layout and initialisation, and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dp
from dp import Node
from dp.nn import Model
from dp.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}

#: dp's layer, PyTorch's, and the options both take.
KINDS = {
    "rnn-tanh": (RNN, torch.nn.RNN, dict(nonlinearity="tanh")),
    "rnn-relu": (RNN, torch.nn.RNN, dict(nonlinearity="relu")),
    "lstm": (LSTM, torch.nn.LSTM, {}),
    "gru": (GRU, torch.nn.GRU, {}),
}
CELLS = {
    "rnn-tanh": (RNNCell, torch.nn.RNNCell, dict(nonlinearity="tanh")),
    "rnn-relu": (RNNCell, torch.nn.RNNCell, dict(nonlinearity="relu")),
    "lstm": (LSTMCell, torch.nn.LSTMCell, {}),
    "gru": (GRUCell, torch.nn.GRUCell, {}),
}


def is_lstm(layer):
    return isinstance(layer, LSTM | LSTMCell)


def torch_twin(layer, torch_type, options, sequence, rng):
    """PyTorch's layer with dp's weights, copied in through the documented layout: W = weight.T;
    the RNN's and the LSTM's one bias b split at random into bias_ih + bias_hh (only their sum
    counts); the GRU's bx = bias_ih, bh = bias_hh."""
    extra = dict(batch_first=True) if sequence else {}
    twin = torch_type(layer.input_size, layer.hidden_size, **options, **extra).double()
    suffix = "_l0" if sequence else ""
    with torch.no_grad():
        getattr(twin, "weight_ih" + suffix).copy_(torch.tensor(layer.Wx.value.T))
        getattr(twin, "weight_hh" + suffix).copy_(torch.tensor(layer.Wh.value.T))
        if isinstance(layer, GRU | GRUCell):
            bias_ih, bias_hh = layer.bx.value, layer.bh.value
        else:
            bias_hh = rng.standard_normal(layer.b.shape)
            bias_ih = layer.b.value - bias_hh
        getattr(twin, "bias_ih" + suffix).copy_(torch.tensor(bias_ih))
        getattr(twin, "bias_hh" + suffix).copy_(torch.tensor(bias_hh))
    return twin.to(torch.float64 if layer.Wx.dtype == np.float64 else torch.float32), suffix


def torch_parameter_gradients(layer, twin, suffix):
    """PyTorch's gradients under dp's names and in dp's layout."""
    grad = {
        name: getattr(twin, name + suffix).grad.numpy() for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    }
    found = {"Wx": grad["weight_ih"].T, "Wh": grad["weight_hh"].T}
    if isinstance(layer, GRU | GRUCell):
        found.update(bx=grad["bias_ih"], bh=grad["bias_hh"])
    else:
        found["b"] = grad["bias_ih"]  # b = bias_ih + bias_hh: its gradient is each one's
    return found


def compare(layer, twin, suffix, x, state, dtype, seed=0):
    """dp's and PyTorch's outputs, final states and gradients (input, initial state, parameters)
    agree; the seeds on every output make every one of them count."""
    rng = np.random.default_rng(seed)
    sequence = x.ndim == 3
    x_node = Node(x, "x")
    state_nodes = (
        None
        if state is None
        else (tuple(Node(s, name) for s, name in zip(state, ("h0", "c0"))) if is_lstm(layer) else Node(state, "h0"))
    )
    result = layer(x_node, state_nodes)
    outputs, final = result if sequence else (None, result)
    finals = list(final) if is_lstm(layer) else [final]
    seeds = [rng.standard_normal(f.shape).astype(dtype) for f in finals]
    loss = sum((f * s).sum() for f, s in zip(finals, seeds))
    if sequence:
        out_seed = rng.standard_normal(outputs.shape).astype(dtype)
        loss = loss + (outputs * out_seed).sum()
    grads = loss.grad(1)

    xt = torch.tensor(x, requires_grad=True)
    if state is None:
        tstate = None
    else:
        tstate = [
            torch.tensor(s[None] if sequence else s, requires_grad=True)
            for s in (state if is_lstm(layer) else (state,))
        ]
    tresult = twin(xt, None if tstate is None else tuple(tstate) if is_lstm(layer) else tstate[0])
    if sequence:
        toutputs, tfinal = tresult
        tfinals = [f[0] for f in (tfinal if is_lstm(layer) else (tfinal,))]
    else:
        tfinals = list(tresult) if is_lstm(layer) else [tresult]
    tloss = sum((f * torch.tensor(s)).sum() for f, s in zip(tfinals, seeds))
    if sequence:
        tloss = tloss + (toutputs * torch.tensor(out_seed)).sum()
    tloss.backward()

    tolerance = TOLERANCE[dtype]
    if sequence:
        assert outputs.dtype == dtype
        np.testing.assert_allclose(outputs.value, toutputs.detach().numpy(), **tolerance, err_msg="outputs")
    for f, tf in zip(finals, tfinals):
        assert f.shape == (x.shape[0], layer.hidden_size) and f.dtype == dtype
        np.testing.assert_allclose(f.value, tf.detach().numpy(), **tolerance, err_msg="final state")
    expected = {"x": xt.grad.numpy(), **torch_parameter_gradients(layer, twin, suffix)}
    if tstate is not None:
        expected.update(zip(("h0", "c0"), (t.grad.numpy()[0] if sequence else t.grad.numpy() for t in tstate)))
    assert set(grads) == set(expected)
    for name, gradient in grads.items():
        assert gradient.dtype == dtype, name
        np.testing.assert_allclose(gradient, expected[name], **tolerance, err_msg=name)


def random_state(layer, batch, rng, dtype):
    shape = (batch, layer.hidden_size)
    if is_lstm(layer):
        return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------------------------
# Against PyTorch


SIZES = [(3, 5, 4, 6), (1, 1, 3, 2), (2, 7, 1, 5), (1, 4, 5, 1)]  # (N, T, input_size, H): odd, batch 1, T = 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("with_state", [False, True])
def test_sequence_layers_match_pytorch(kind, dtype, sizes, with_state):
    N, T, n_in, H = sizes
    layer_type, torch_type, options = KINDS[kind]
    rng = np.random.default_rng(1)
    layer = layer_type(n_in, H, rng=2, dtype=dtype, **options)
    twin, suffix = torch_twin(layer, torch_type, options, sequence=True, rng=rng)
    x = rng.standard_normal((N, T, n_in)).astype(dtype)
    state = random_state(layer, N, rng, dtype) if with_state else None
    compare(layer, twin, suffix, x, state, dtype)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", [(3, 4, 6), (1, 1, 1), (2, 5, 3)])  # (N, input_size, H)
@pytest.mark.parametrize("with_state", [False, True])
def test_cells_match_pytorch(kind, dtype, sizes, with_state):
    N, n_in, H = sizes
    cell_type, torch_type, options = CELLS[kind]
    rng = np.random.default_rng(3)
    cell = cell_type(n_in, H, rng=4, dtype=dtype, **options)
    twin, suffix = torch_twin(cell, torch_type, options, sequence=False, rng=rng)
    x = rng.standard_normal((N, n_in)).astype(dtype)
    state = random_state(cell, N, rng, dtype) if with_state else None
    compare(cell, twin, suffix, x, state, dtype)


@settings(max_examples=12)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    N=st.integers(1, 4),
    T=st.integers(1, 5),
    n_in=st.integers(1, 5),
    H=st.integers(1, 5),
    with_state=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_sizes_match_pytorch(kind, N, T, n_in, H, with_state, seed):
    layer_type, torch_type, options = KINDS[kind]
    rng = np.random.default_rng(seed)
    layer = layer_type(n_in, H, rng=seed, **options)
    twin, suffix = torch_twin(layer, torch_type, options, sequence=True, rng=rng)
    x = rng.standard_normal((N, T, n_in))
    compare(layer, twin, suffix, x, random_state(layer, N, rng, np.float64) if with_state else None, np.float64)


def test_large_inputs_saturate_without_overflow():
    """Gates at +-1000 saturate to 0 and 1 exactly, as PyTorch's, with finite gradients."""
    rng = np.random.default_rng(5)
    layer = LSTM(2, 3, rng=6)
    twin, suffix = torch_twin(layer, torch.nn.LSTM, {}, sequence=True, rng=rng)
    x = 1000 * rng.choice([-1.0, 1.0], (2, 3, 2))
    compare(layer, twin, suffix, x, None, np.float64)


# --------------------------------------------------------------------------------------------
# gradcheck, both modes, and a sequence layer as its cell in a loop


def as_function(layer):
    """f(x, state, *parameters) -> every output, flattened: the layer with those parameters."""
    keys = list(layer.parameters())  # a layer on its own: the names are the attribute names

    def f(x, state, *parameters):
        originals = [getattr(layer, key) for key in keys]
        try:
            for key, value in zip(keys, parameters):
                setattr(layer, key, value)
            outputs, final = layer(x, state)
        finally:
            for key, value in zip(keys, originals):
                setattr(layer, key, value)
        parts = [outputs, *(final if is_lstm(layer) else (final,))]
        return dp.concatenate([part.reshape(-1) for part in parts])

    return f, [getattr(layer, key).value for key in keys]


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_both_modes(kind):
    layer_type, _, options = KINDS[kind]
    layer = layer_type(2, 3, rng=7, **options)
    rng = np.random.default_rng(8)
    f, parameters = as_function(layer)
    x = rng.standard_normal((2, 3, 2))
    state = random_state(layer, 2, rng, np.float64)
    assert dp.gradcheck(f, x, state, *parameters)


@pytest.mark.parametrize("kind", KINDS)
def test_sequence_layer_is_its_cell_in_a_loop(kind):
    layer_type, _, options = KINDS[kind]
    layer = layer_type(3, 4, rng=9, **options)
    x = np.random.default_rng(10).standard_normal((2, 5, 3))
    outputs, final = layer(x)
    state = None
    for t in range(5):
        state = layer.cell(x[:, t], state)
        np.testing.assert_array_equal(outputs.value[:, t], (state[0] if is_lstm(layer) else state).value)
    for got, expected in zip(final if is_lstm(layer) else (final,), state if is_lstm(layer) else (state,)):
        np.testing.assert_array_equal(got.value, expected.value)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn-tanh"])
def test_second_order_matches_pytorch(kind):
    """A Hessian-vector product (d/dparams of <grad of the loss wrt Wh, v>) against PyTorch's double backward."""
    layer_type, torch_type, options = KINDS[kind]
    rng = np.random.default_rng(13)
    layer = layer_type(2, 3, rng=14, **options)
    twin, suffix = torch_twin(layer, torch_type, options, sequence=True, rng=rng)
    x = rng.standard_normal((2, 4, 2))
    v = rng.standard_normal(layer.Wh.shape)
    outputs, _ = layer(x)
    first = (outputs * outputs).sum().grad(1, create_graph=True)
    second = (first["Wh"] * v).sum().grad(1)

    toutputs, _ = twin(torch.tensor(x))
    weight_hh = getattr(twin, "weight_hh" + suffix)
    (tfirst,) = torch.autograd.grad((toutputs * toutputs).sum(), weight_hh, create_graph=True)
    (tfirst * torch.tensor(v.T)).sum().backward()
    expected = torch_parameter_gradients(layer, twin, suffix)
    assert set(second) == set(expected)
    for name, gradient in second.items():
        np.testing.assert_allclose(gradient, expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_the_docstring_example_runs():
    import doctest

    import dp.nn.recurrent

    results = doctest.testmod(dp.nn.recurrent)
    assert results.attempted > 0 and results.failed == 0


# --------------------------------------------------------------------------------------------
# Parameters: names, layout, initialisation, dtype


@pytest.mark.parametrize(
    "layer_type, gates, biases",
    [
        (RNN, 1, ["b"]),
        (LSTM, 4, ["b"]),
        (GRU, 3, ["bx", "bh"]),
        (RNNCell, 1, ["b"]),
        (LSTMCell, 4, ["b"]),
        (GRUCell, 3, ["bx", "bh"]),
    ],
)
def test_parameter_layout_and_initialisation(layer_type, gates, biases):
    layer = layer_type(30, 40, rng=11)
    params = layer.parameters()
    assert list(params) == ["Wx", "Wh", *biases]
    expected_shapes = {"Wx": (30, 40 * gates), "Wh": (40, 40 * gates), **{b: (40 * gates,) for b in biases}}
    bound = 1 / np.sqrt(40)
    for name, node in params.items():
        assert node.shape == expected_shapes[name]
        assert node.dtype == np.float64
        assert np.all(np.abs(node.value) <= bound)  # PyTorch's U(-1/sqrt(H), 1/sqrt(H))
        assert np.abs(node.value).max() > 0.9 * bound and abs(node.value.mean()) < 0.1 * bound
    np.testing.assert_array_equal(layer_type(30, 40, rng=11).Wh.value, layer.Wh.value)  # one seed, one layer
    assert not np.array_equal(layer_type(30, 40, rng=12).Wh.value, layer.Wh.value)


def test_names_in_a_model_and_given_names():
    class Encoder(Model):
        def __init__(self):
            super().__init__()
            self.rnn = LSTM(3, 4, rng=0)
            self.gru = GRU(4, 2, "decoder", rng=1)

        def loss(self, x, y):
            outputs, _ = self.gru(self.rnn(x)[0])
            return ((outputs - y) ** 2).mean()

    model = Encoder()
    assert list(model.parameters()) == [
        "rnn.Wx",
        "rnn.Wh",
        "rnn.b",
        "decoder.Wx",
        "decoder.Wh",
        "decoder.bx",
        "decoder.bh",
    ]
    rng = np.random.default_rng(2)
    grads, loss = model.get_grad(rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 2)))
    assert set(grads) == set(model.parameters()) and loss > 0
    assert all(np.any(g != 0) for g in grads.values())


def test_a_parameter_set_on_the_layer_is_the_cells():
    layer = LSTM(2, 3, rng=0)
    assert layer.Wx is layer.cell.Wx
    replacement = Node(np.zeros((2, 12)), "Wx")
    layer.Wx = replacement
    assert layer.cell.Wx is replacement and layer.parameters()["Wx"] is replacement


@pytest.mark.parametrize("layer_type", [RNN, LSTM, GRU])
def test_float32_stays_float32(layer_type):
    layer = layer_type(3, 4, rng=0, dtype=np.float32)
    outputs, final = layer(np.ones((2, 3, 3), np.float32))
    assert outputs.dtype == np.float32
    assert all(g.dtype == np.float32 for g in outputs.sum().grad(1).values())
    outputs, _ = layer(np.ones((2, 3, 3), np.int64))  # integers take the parameters' dtype
    assert outputs.dtype == np.float32


def test_repr_names_the_sizes():
    assert repr(LSTM(3, 4)) == "LSTM(3, 4)"
    assert repr(RNN(3, 4, "enc", nonlinearity="relu")) == "RNN(3, 4, nonlinearity='relu', name='enc')"
    assert repr(GRUCell(2, 5)) == "GRUCell(2, 5)"


# --------------------------------------------------------------------------------------------
# Bad input: a clear error naming the layer and the expected and actual shapes


@pytest.mark.parametrize("layer_type", [RNN, LSTM, GRU])
def test_sequence_layers_refuse_wrong_inputs(layer_type):
    layer = layer_type(3, 4)
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"{name}\(3, 4.*expected an input of shape \(N, T, 3\).*got \(2, 5, 2\)"):
        layer(np.ones((2, 5, 2)))
    with pytest.raises(ValueError, match=rf"{name}\(3, 4.*\(N, T, 3\) \(batch first\), got \(5, 3\)"):
        layer(np.ones((5, 3)))  # one sequence without its batch axis
    with pytest.raises(ValueError, match=rf"{name}\(3, 4.*empty.*\(2, 0, 3\)"):
        layer(np.ones((2, 0, 3)))
    with pytest.raises(TypeError, match=rf"{name}\(3, 4.*array of numbers.*dtype <U1"):
        layer(np.array([[["a", "b", "c"]]]))


@pytest.mark.parametrize("layer_type", [RNN, GRU])
def test_wrong_initial_state(layer_type):
    layer = layer_type(3, 4)
    with pytest.raises(ValueError, match=r"expected the state h of shape \(N, hidden_size\) = \(2, 4\), got \(2, 5\)"):
        layer(np.ones((2, 5, 3)), np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"= \(2, 4\), got \(1, 2, 4\)"):
        layer(np.ones((2, 5, 3)), np.zeros((1, 2, 4)))  # PyTorch's (num_layers, N, H): dp's state is (N, H)


def test_wrong_lstm_state():
    layer = LSTM(3, 4)
    x = np.ones((2, 5, 3))
    with pytest.raises(TypeError, match=r"LSTM\(3, 4\): the state must be a pair \(h, c\), got ndarray"):
        layer(x, np.zeros((2, 4)))
    with pytest.raises(TypeError, match="pair"):
        layer(x, (np.zeros((2, 4)),))
    with pytest.raises(ValueError, match=r"LSTM\(3, 4\): expected the state c of shape .* = \(2, 4\), got \(3, 4\)"):
        layer(x, (np.zeros((2, 4)), np.zeros((3, 4))))


@pytest.mark.parametrize("cell_type", [RNNCell, LSTMCell, GRUCell])
def test_cells_refuse_wrong_inputs(cell_type):
    cell = cell_type(3, 4)
    name = type(cell).__name__
    with pytest.raises(ValueError, match=rf"{name}\(3, 4.*expected an input of shape \(N, 3\), got \(2, 5, 3\)"):
        cell(np.ones((2, 5, 3)))  # a sequence: the sequence layers take those
    with pytest.raises(ValueError, match=r"\(N, 3\), got \(2, 2\)"):
        cell(np.ones((2, 2)))
    state = (np.zeros((2, 5)), np.zeros((2, 4))) if cell_type is LSTMCell else np.zeros((2, 5))
    with pytest.raises(ValueError, match=r"state h of shape \(N, hidden_size\) = \(2, 4\), got \(2, 5\)"):
        cell(np.ones((2, 3)), state)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((0, 4), "input_size must be a positive integer, got 0"),
        ((3, 2.5), "hidden_size must be a positive integer, got 2.5"),
        ((3, True), "hidden_size must be a positive integer, got True"),
    ],
)
def test_sizes_must_be_positive_integers(arguments, message):
    for layer_type in (RNN, LSTM, GRU, RNNCell):
        with pytest.raises(ValueError, match=message):
            layer_type(*arguments)


def test_unknown_nonlinearity():
    with pytest.raises(ValueError, match=r"RNN: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"RNNCell: nonlinearity"):
        RNNCell(3, 4, nonlinearity="gelu")
