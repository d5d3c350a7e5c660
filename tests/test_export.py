"""dp.export's bridge to PyTorch: every supported layer dp -> torch -> dp, with PyTorch as the oracle.

For each layer: the torch module's outputs and gradients (with respect to the input and to every
parameter) equal dp's to 1e-12 in float64, the way back gives the same weights and outputs, and
train and eval modes carry over. Then whole models (the paper's MLP, a CNN, an LSTM classifier,
a Model with lists, dicts and tied weights), float32, PyTorch's own modules into dp, state dicts,
dp's operations beyond the layers' (ties, a root at 0), and every refusal, dp.trace's included:
each names what it refuses, and nothing is half-made or half-written.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

torch = pytest.importorskip("torch")

import dp  # noqa: E402
from dp import Node  # noqa: E402
from dp import nn as dnn  # noqa: E402
from dp.export import Replayed, Unsupported, from_torch, load_torch_state_dict, to_torch  # noqa: E402

RNG = np.random.default_rng(0)


def normal(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


#: name -> (the dp layer, its inputs): every layer dp.export converts
LAYERS = {
    "Linear": (lambda: dnn.Linear(5, 3, rng=1), lambda: [normal(4, 5)]),
    "ReLu_Layer": (lambda: dnn.Model(rng=1).ReLu_Layer(5, 3), lambda: [normal(4, 5)]),
    "Linear_Layer": (lambda: dnn.Model(rng=1).Linear_Layer(5, 3), lambda: [normal(4, 5)]),
    "Linear tanh": (lambda: dnn.Linear(5, 3, activation=dnn.tanh, rng=1), lambda: [normal(4, 5)]),
    "Linear no bias": (lambda: dnn.Linear(5, 3, bias=False, rng=1), lambda: [normal(4, 5)]),
    "Conv2d": (lambda: dnn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, rng=1), lambda: [normal(2, 2, 7, 6)]),
    "MaxPool2d": (lambda: dnn.MaxPool2d(3, stride=2, padding=1), lambda: [normal(2, 2, 7, 6)]),
    "AvgPool2d": (lambda: dnn.AvgPool2d(2, padding=1), lambda: [normal(2, 2, 5, 6)]),
    "Flatten": (lambda: dnn.Flatten(), lambda: [normal(2, 3, 2, 2)]),
    "Dropout eval": (lambda: dnn.Dropout(0.5).eval(), lambda: [normal(4, 5)]),
    "BatchNorm (N, C)": (lambda: _trained_batchnorm(), lambda: [normal(6, 3)]),
    "BatchNorm (N, C, H, W)": (lambda: _trained_batchnorm(), lambda: [normal(4, 3, 2, 2)]),
    "BatchNorm eval": (lambda: _trained_batchnorm().eval(), lambda: [normal(4, 3, 2, 2)]),
    "Embedding": (lambda: dnn.Embedding(7, 3, rng=1), lambda: [np.array([[1, 2, 6], [0, 2, 2]])]),
    "LayerNorm": (lambda: dnn.LayerNorm((2, 3)), lambda: [normal(4, 2, 3)]),
    "RNN": (lambda: dnn.RNN(3, 4, rng=1), lambda: [normal(2, 5, 3), normal(2, 4)]),
    "RNN relu": (lambda: dnn.RNN(3, 4, nonlinearity="relu", rng=1), lambda: [normal(2, 5, 3)]),
    "LSTM": (lambda: dnn.LSTM(3, 4, rng=1), lambda: [normal(2, 5, 3), (normal(2, 4), normal(2, 4))]),
    "GRU": (lambda: dnn.GRU(3, 4, rng=1), lambda: [normal(2, 5, 3), normal(2, 4)]),
    "RNNCell": (lambda: dnn.RNNCell(3, 4, rng=1), lambda: [normal(2, 3), normal(2, 4)]),
    "LSTMCell": (lambda: dnn.LSTMCell(3, 4, rng=1), lambda: [normal(2, 3), (normal(2, 4), normal(2, 4))]),
    "GRUCell": (lambda: dnn.GRUCell(3, 4, rng=1), lambda: [normal(2, 3), normal(2, 4)]),
    "MultiheadAttention": (
        lambda: dnn.MultiheadAttention(4, 2, rng=1),
        lambda: [normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 4)],
    ),
    "MultiheadAttention masked": (
        lambda: dnn.MultiheadAttention(4, 2, rng=1),
        lambda: [normal(2, 3, 4)] * 3 + [np.triu(np.ones((3, 3), bool), 1)],
    ),
    "MultiheadAttention a mask per example": (
        lambda: dnn.MultiheadAttention(4, 2, rng=1),
        lambda: [
            normal(2, 3, 4),
            normal(2, 5, 4),
            normal(2, 5, 4),
            (RNG.random((2, 3, 5)) < 0.5) & ~np.eye(3, 5, dtype=bool),
        ],
    ),
    **{
        type(layer).__name__: ((lambda layer=layer: copy.deepcopy(layer)), lambda: [normal(4, 5) * 3])
        for layer in (
            dnn.ReLU(),
            dnn.LeakyReLU(0.2),
            dnn.Sigmoid(),
            dnn.Tanh(),
            dnn.Softmax(),
            dnn.LogSoftmax(),
            dnn.Softplus(2.0),
            dnn.ELU(0.7),
            dnn.GELU(),
            dnn.GELU("tanh"),
            dnn.SiLU(),
        )
    },
}


def _trained_batchnorm():
    layer = dnn.BatchNorm(3, momentum=0.3)
    layer(normal(8, 3) * 2 + 1)  # running statistics other than 0 and 1
    return layer


def _differentiable(inputs):
    """The inputs as dp Nodes (named, so that grad reports them) and as torch tensors."""
    nodes, tensors = [], []
    for index, x in enumerate(inputs):
        if isinstance(x, tuple):
            inner = _differentiable(x)
            nodes.append(tuple(inner[0]))
            tensors.append(tuple(inner[1]))
        elif x.dtype.kind == "f":
            nodes.append(Node(x, f"input{index}.{id(x)}"))
            tensors.append(torch.tensor(x, requires_grad=True))
        else:
            nodes.append(x)
            tensors.append(torch.as_tensor(x))
    return nodes, tensors


def _flat(x):
    if isinstance(x, tuple | list):
        return [leaf for item in x for leaf in _flat(item)]
    return [x]


def compare(layer, inputs, tolerance=1e-12):
    """Outputs and gradients of `layer` and `to_torch(layer)` on `inputs`; the largest difference."""
    module = to_torch(layer)
    nodes, tensors = _differentiable(inputs)
    torch_out = _flat(module(*tensors))
    dp_out = _flat(layer(*nodes))
    weights = [normal(*np.shape(out.value)) for out in dp_out]
    loss = sum((out * w).sum() for out, w in zip(dp_out, weights))
    torch_loss = sum((out * torch.as_tensor(w, dtype=out.dtype)).sum() for out, w in zip(torch_out, weights))
    torch_loss.backward()
    grads = loss.grad(1)
    worst = 0.0
    for mine, theirs in zip(dp_out, torch_out):
        worst = max(worst, _difference(mine.value, theirs))
    for node, t in zip(_flat(nodes), _flat(tensors)):
        if isinstance(node, Node):
            worst = max(worst, _difference(grads.get(node.name, 0 * node.value), t.grad))
    # The parameters' gradients, in torch's layout: the dp layer made of the gradients, converted.
    layout = copy.deepcopy(layer)
    for name, parameter in layout.parameters().items():
        parameter.value[...] = grads.get(name, 0)
    expected = to_torch(layout).state_dict()
    for name, parameter in module.named_parameters():
        reference = expected[name.replace("bias_hh", "bias_ih") if _one_bias(module, name) else name]
        worst = max(worst, _difference(reference.numpy(), parameter.grad))
    assert worst <= tolerance, f"{layer!r}: largest difference {worst:.2e}"
    return module, worst


def _one_bias(module, name):
    """dp's RNN and LSTM keep one bias: torch's two get the same gradient, that of dp's."""
    return "bias_hh" in name and not isinstance(module, torch.nn.GRU | torch.nn.GRUCell)


def _difference(mine, theirs):
    theirs = theirs.detach().numpy() if torch.is_tensor(theirs) else np.asarray(theirs)
    mine = np.asarray(mine)
    assert mine.shape == theirs.shape
    return float(np.max(np.abs(mine - theirs), initial=0) / max(1.0, np.max(np.abs(mine), initial=0)))


@pytest.mark.parametrize("name", LAYERS)
def test_every_layer_agrees_with_pytorch_and_comes_back(name):
    make, inputs = LAYERS[name]
    layer, xs = make(), inputs()
    module, _ = compare(layer, xs)
    back = from_torch(module)
    assert type(back) is type(layer) and back.training == module.training == layer.training
    if isinstance(layer, dnn.Linear):
        assert back.activation is layer.activation  # relu itself, for the paper's ReLu_Layer
    assert back._state().keys() == layer._state().keys()
    for key, mine in layer._state().items():  # BatchNorm's statistics: updated by both, rounded each its way
        np.testing.assert_allclose(back._state()[key], mine, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(_flat_values(back(*xs)), _flat_values(layer(*xs)), rtol=1e-14, atol=1e-14)


def _flat_values(out):
    return np.concatenate([np.ravel(node.value) for node in _flat(out)])


def test_batchnorm_in_training_mode_updates_the_same_running_statistics():
    layer = _trained_batchnorm()
    module = to_torch(layer)
    x = normal(5, 3, 2, 2)
    module(torch.tensor(x))
    layer(x)
    np.testing.assert_allclose(module.running_mean.numpy(), layer.running_mean, rtol=0, atol=1e-15)
    np.testing.assert_allclose(module.running_var.numpy(), layer.running_var, rtol=0, atol=1e-15)


def test_dropout_drops_in_training_mode_and_passes_through_in_evaluation():
    module = to_torch(dnn.Dropout(0.5))
    x = torch.ones(2000, dtype=torch.float64)
    out = module(x)
    assert module.training and set(out.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(module.eval()(x), x) and not from_torch(module).training


class PaperNetwork(dnn.Model):
    """The DP paper's MNIST network, its forward ending in softmax."""

    def __init__(self, dtype=np.float64):
        super().__init__(rng=0, dtype=dtype)
        self.h1 = self.ReLu_Layer(12, 10, "h1")
        self.h2 = self.ReLu_Layer(10, 8, "h2")
        self.h3 = self.Linear_Layer(8, 4, "h3")

    def forward(self, x):
        return self.h3(self.h2(self.h1(x))).softmax()

    def loss(self, x, y):
        return dnn.cross_entropy_from_probs(self.forward(x), y)


class Tangled(dnn.Model):
    """Layers in a list and a dict, an own parameter, tied weights and glue of its own."""

    def __init__(self):
        super().__init__(rng=3)
        self.embed = dnn.Embedding(9, 6, rng=3)
        self.blocks = [dnn.Linear(6, 6, activation=dnn.gelu, rng=4), dnn.LayerNorm(6)]
        self.heads = {"gate": dnn.Linear(6, 1, rng=5)}
        self.scale = Node(np.array(0.5), "scale")

    def forward(self, tokens):
        h = self.embed(tokens)
        for block in self.blocks:
            h = h + block(h)  # residual
        h = h * self.heads["gate"](h).sigmoid() * self.scale
        return h @ self.embed.W.T  # logits over the vocabulary, through the embedding's own table


class Recurrent(dnn.Model):
    def __init__(self):
        super().__init__(rng=2)
        self.lstm = dnn.LSTM(3, 5, rng=2)
        self.head = dnn.Sequential([dnn.Dropout(0.3), dnn.Linear(5, 2, rng=2)])

    def forward(self, x):
        outputs, (h, c) = self.lstm(x)
        return self.head(h + outputs.mean(axis=1))


class Nested(dnn.Model):
    """A model inside a model: each forward replayed by its own module."""

    def __init__(self):
        super().__init__()
        self.inner = PaperNetwork()
        self.extra = dnn.Linear(4, 2, rng=6)

    def forward(self, x):
        return self.extra(self.inner(x) * 2.0 - 1.0)


def cnn(dtype=np.float64):
    return dnn.Sequential(
        [
            dnn.Conv2d(1, 4, 3, padding=1, rng=0, dtype=dtype),
            dnn.relu,
            dnn.MaxPool2d(2),
            dnn.Conv2d(4, 4, 3, rng=1, dtype=dtype),
            dnn.BatchNorm(4, dtype=dtype),
            dnn.ReLU(),
            dnn.Flatten(),
            dnn.Dropout(0.2),
            dnn.Linear(16, 10, rng=2, dtype=dtype),
        ]
    )


MODELS = {
    "paper": (PaperNetwork, lambda: [normal(6, 12)]),
    "cnn eval": (lambda: cnn().eval(), lambda: [normal(3, 1, 8, 8)]),
    "tangled": (Tangled, lambda: [np.array([[1, 2, 8], [0, 3, 3]])]),
    "recurrent eval": (lambda: Recurrent().eval(), lambda: [normal(2, 4, 3)]),
    "nested": (Nested, lambda: [normal(5, 12)]),
}


@pytest.mark.parametrize("name", MODELS)
def test_whole_models_agree_and_come_back(name):
    make, inputs = MODELS[name]
    model, xs = make(), inputs()
    module, _ = compare(model, xs)
    assert module.state_dict().keys() == to_torch(model).state_dict().keys()
    back = from_torch(module)
    assert type(back) is type(model) and back is not model
    assert back.get_param().keys() == model.get_param().keys()
    np.testing.assert_array_equal(_flat_values(back(*xs)), _flat_values(model(*xs)))


def test_a_sequential_keeps_its_loss_across():
    model = dnn.Sequential([dnn.Linear(3, 4, rng=0), dnn.relu, dnn.Linear(4, 2, rng=1)], loss=dnn.cross_entropy)
    back = from_torch(to_torch(model))
    x, y = normal(5, 3), np.array([0, 1, 1, 0, 1])
    assert back.loss_function is dnn.cross_entropy and isinstance(back[1], dnn.ReLU)
    assert back.get_grad(x, y)[1] == model.get_grad(x, y)[1]


@settings(max_examples=15, deadline=None)
@given(
    st.sampled_from([dnn.RNN, dnn.LSTM, dnn.GRU]),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(1, 5),
)
def test_recurrent_layers_agree_for_random_shapes(kind, batch, steps, inputs, hidden):
    compare(kind(inputs, hidden, rng=steps), [normal(batch, steps, inputs)])


def test_the_names_are_pytorch_s():
    names = list(to_torch(Tangled()).state_dict())
    assert names == [
        "scale",
        "embed.weight",
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.1.weight",
        "blocks.1.bias",
        "heads.gate.weight",
        "heads.gate.bias",
    ]
    assert list(to_torch(cnn()).state_dict())[:2] == ["0.weight", "0.bias"]


def test_training_continues_in_pytorch_and_comes_back():
    """Trained in torch with torch.optim, the model comes back to dp with torch's weights."""
    model = PaperNetwork()
    module = to_torch(model)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    x, labels = normal(16, 12), RNG.integers(0, 4, 16)
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.nll_loss(module(torch.tensor(x)).log(), torch.as_tensor(labels)).backward()
        optimizer.step()
    back = from_torch(module)
    np.testing.assert_allclose(back.h1.W.value, module.h1.weight.detach().numpy().T, rtol=0, atol=0)
    assert not np.allclose(back.h1.W.value, model.h1.W.value)
    np.testing.assert_allclose(back.forward(x).value, module(torch.tensor(x)).detach().numpy(), rtol=0, atol=1e-12)


def test_a_replayed_model_follows_new_shapes_and_modes():
    model = Recurrent()
    module = to_torch(model)
    for shape in ((2, 4, 3), (5, 2, 3)):
        x = normal(*shape)
        module.eval()
        model.eval()
        np.testing.assert_allclose(module(torch.tensor(x)).detach().numpy(), model(x).value, atol=1e-12, rtol=0)
    module.train()
    assert not np.allclose(module(torch.tensor(x)).detach().numpy(), model(x).value)  # torch's dropout masks


def test_a_deep_copy_of_a_converted_model_is_a_model_of_its_own():
    module = to_torch(Tangled())
    twin = copy.deepcopy(module)
    with torch.no_grad():
        twin.embed.weight.mul_(2)
    tokens = np.array([[1, 4], [7, 7]])
    mine, theirs = module(torch.as_tensor(tokens)), twin(torch.as_tensor(tokens))
    assert not torch.allclose(mine, theirs)
    np.testing.assert_allclose(from_torch(twin)(tokens).value, theirs.detach().numpy(), rtol=0, atol=1e-12)


def test_float32_agrees_to_1e_5():
    model = cnn(np.float32).eval()
    module, worst = compare(model, [normal(3, 1, 8, 8, dtype=np.float32)], tolerance=1e-5)
    assert next(module.parameters()).dtype == torch.float32
    paper = PaperNetwork(np.float32)
    compare(paper, [normal(6, 12, dtype=np.float32)], tolerance=1e-5)


@settings(max_examples=15, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(0, 1),
    st.integers(1, 2),
    st.integers(3, 6),
    st.integers(1, 3),
)
def test_convolution_agrees_for_random_shapes(batch, channels, out_channels, padding, stride, size, kernel):
    layer = dnn.Conv2d(channels, out_channels, kernel, stride, padding, rng=batch)
    compare(layer, [normal(batch, channels, size, size + 1)])


# ------------------------------------------------------------------------------------------------
# PyTorch's own modules


def test_pytorch_s_own_modules_come_to_dp():
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, dtype=torch.float64),
        torch.nn.BatchNorm2d(2, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3, dtype=torch.float64),
        torch.nn.LogSoftmax(dim=1),
    ).eval()
    model = from_torch(module)
    x = normal(2, 1, 4, 3)
    np.testing.assert_allclose(model(x).value, module(torch.tensor(x)).detach().numpy(), rtol=0, atol=1e-12)
    lstm = torch.nn.LSTM(3, 4, batch_first=True, dtype=torch.float64)
    x = normal(2, 5, 3)
    outputs, (h, c) = from_torch(lstm)(x)
    expected, (h_t, c_t) = lstm(torch.tensor(x))
    np.testing.assert_allclose(outputs.value, expected.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.value, c_t[0].detach().numpy(), rtol=0, atol=1e-12)
    mha = torch.nn.MultiheadAttention(4, 2, batch_first=True, dtype=torch.float64)
    x = normal(2, 3, 4)
    np.testing.assert_allclose(
        from_torch(mha)(x, x, x).value, mha(*[torch.tensor(x)] * 3)[0].detach().numpy(), rtol=0, atol=1e-12
    )


# ------------------------------------------------------------------------------------------------
# State dicts


def test_a_state_dict_saved_by_torch_loads_into_dp(tmp_path):
    source, target = PaperNetwork(), PaperNetwork()
    for node in target.parameters().values():
        node.value[...] = 0
    path = tmp_path / "weights.pt"
    torch.save(to_torch(source).state_dict(), path)
    assert load_torch_state_dict(target, path) is target
    for name, value in source.get_param().items():
        np.testing.assert_array_equal(target.get_param()[name], value)


def test_a_state_dict_that_does_not_fit_changes_nothing():
    model = PaperNetwork()
    before = {name: value.copy() for name, value in model.get_param().items()}
    state = to_torch(model).state_dict()
    state["h1.weight"] = torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="h1.weight"):
        load_torch_state_dict(model, state)
    del state["h1.weight"]
    with pytest.raises(ValueError, match="h1.weight"):
        load_torch_state_dict(model, state)
    assert all(np.array_equal(model.get_param()[name], value) for name, value in before.items())


# ------------------------------------------------------------------------------------------------
# Refusals


class Counting(dnn.Layer):
    """A layer whose forward updates a buffer: its Python side effect cannot be replayed."""

    _buffer_keys = ("count",)

    def __init__(self):
        super().__init__()
        self.count = np.zeros(1)

    def forward(self, x):
        self.count += 1
        return x


class Determinant(dnn.Model):
    def __init__(self):
        super().__init__(rng=0)
        self.fc = dnn.Linear(3, 3, rng=0)

    def forward(self, x):
        return np.linalg.det(self.fc(x).reshape(-1, 3, 3))


def test_a_dp_layer_without_a_torch_counterpart_is_refused_by_name():
    with pytest.raises(Unsupported, match="Counting has buffers"):
        to_torch(dnn.Sequential([dnn.Linear(2, 2), Counting()]))
    with pytest.raises(Unsupported, match="Determinant.*'det'"):
        to_torch(Determinant(), normal(3, 3))


class Custom(torch.nn.Module):
    def forward(self, x):
        return x


@pytest.mark.parametrize(
    "module, message",
    [
        (torch.nn.Conv1d(2, 2, 3), "Conv1d has no dp counterpart"),
        (Custom(), "Custom has no dp counterpart"),
        (torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GroupNorm(1, 2)), "GroupNorm has no dp counterpart"),
        (torch.nn.LSTM(3, 4), "batch_first=False"),
        (torch.nn.LSTM(3, 4, num_layers=2, batch_first=True), "num_layers=2"),
        (torch.nn.Conv2d(2, 2, 3, dilation=2), "dilation=\\(2, 2\\)"),
        (torch.nn.MultiheadAttention(4, 2, kdim=3, vdim=3, batch_first=True), "kdim = vdim = embed_dim"),
        (torch.nn.BatchNorm1d(3, affine=False), "affine=False"),
        (torch.nn.Embedding(5, 2, padding_idx=0), "padding_idx=0"),
    ],
)
def test_a_torch_module_dp_lacks_is_refused_by_name(module, message):
    with pytest.raises(Unsupported, match=message):
        from_torch(module)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_a_torch_module_with_shapes_dp_rejects_is_refused():
    with pytest.raises(ValueError, match="positive integer"):
        from_torch(torch.nn.Linear(0, 3))


def test_the_replayed_module_is_the_one_for_custom_forwards():
    module = to_torch(PaperNetwork())
    assert isinstance(module, Replayed) and "dp: PaperNetwork" in repr(module)


class Applies(dnn.Model):
    """A model whose forward is one operation on its input and its parameter `a`."""

    def __init__(self, operation, a):
        super().__init__(rng=0)
        self.operation = operation
        self.a = Node(a, "a")

    def forward(self, x):
        return self.operation(x, self.a)


#: name -> (dp's primitive, operation, the input, the parameter): dp's operations torch has, beyond the layers'
OPERATIONS = {
    "min": ("min", lambda x, a: (x * a).min(axis=1), normal(4, 5), normal(5)),
    "max with ties": ("max", lambda x, a: (x * a).max(axis=1), np.ones((2, 4)), np.ones(4)),
    "min with ties": ("min", lambda x, a: (x * a).min(axis=(0, 1)), np.ones((2, 4)), np.ones(4)),
    "tan": ("tan", lambda x, a: np.tan(x * a), normal(4, 5), normal(5) * 0.3),
    "sign": ("sign", lambda x, a: np.sign(x * a) + x * a, normal(4, 5), normal(5)),  # + x a: torch gives sign no grad
    "logaddexp": ("logaddexp", lambda x, a: np.logaddexp(x, a), normal(4, 5), normal(5)),
    "std": ("root", lambda x, a: (x * a).std(axis=0), normal(4, 5), normal(5)),
    "std of no spread": ("root", lambda x, a: (x * a).std(axis=0), np.ones((4, 5)), normal(5)),
    "norm": ("root", lambda x, a: np.linalg.norm(x - a, axis=1), normal(4, 5), normal(5)),
    "einsum": ("einsum", lambda x, a: np.einsum("ij,kj->ik", x, a), normal(4, 5), normal(3, 5)),
    "binary_cross_entropy_with_logits": (
        "binary_cross_entropy_with_logits",
        lambda x, a: dnn.binary_cross_entropy_with_logits(x * a, a / 4 + 0.5, "none"),
        normal(4, 5),
        normal(4, 5),
    ),
}


@pytest.mark.parametrize("name", OPERATIONS)
def test_dp_s_operations_agree_with_torch_s(name):
    """Outputs and gradients, ties shared as dp shares them (max, min) and a root's zero gradient at
    0 (std of a column with no spread) included."""
    primitive, operation, x, a = OPERATIONS[name]
    module, _ = compare(Applies(operation, a), [x])
    (program,) = module._programs.values()
    assert primitive in {app.primitive.name for app in program.applications}


class Gated(dnn.Model):
    def __init__(self, gate):
        super().__init__(rng=0)
        self.fc = dnn.Linear(3, 3, rng=0)
        self.gate = gate

    def forward(self, x):
        return self.gate(self.fc(x))


@pytest.mark.parametrize(
    "gate, message",
    [
        (lambda h: h * (h > 0), "comparison's mask .* is used as numbers"),
        (lambda h: dp.where(h.value > 0, h, 0.0), "where condition that is neither a comparison of Nodes"),
    ],
)
def test_what_dp_trace_refuses_is_refused_in_a_replayed_forward(gate, message):
    """The recording would answer every later input with this input's mask: refused, with dp.trace's error."""
    model = Gated(gate)
    with pytest.raises(TypeError, match=message):
        dp.trace(lambda x: model(x).sum(), normal(2, 3))
    module = to_torch(model)
    with pytest.raises(Unsupported, match=f"^to_torch: the forward of Gated: .*{message}"):
        module(torch.tensor(normal(2, 3)))
    with pytest.raises(Unsupported, match=message):
        to_torch(model, normal(2, 3))


def test_a_mask_inside_dp_where_follows_each_input():
    model = Gated(lambda h: dp.where(h > 0, h, 0.0))
    module = to_torch(model, normal(2, 3))
    for _ in range(3):
        x = normal(2, 3)
        np.testing.assert_allclose(module(torch.tensor(x)).detach().numpy(), model(x).value, rtol=0, atol=1e-15)


def test_an_integer_argument_made_floats_is_refused():
    with pytest.raises(Unsupported, match="x is an array of int64 .* pass floats"):
        to_torch(Applies(lambda x, a: Node(x) * a, np.ones(3)), np.arange(6).reshape(2, 3))


def test_attention_takes_one_mask_for_the_batch():
    mha = dnn.MultiheadAttention(4, 2, rng=1)
    compare(mha, [normal(3, 5, 4)] * 3 + [np.triu(np.ones((1, 5, 5), bool), 1)])


class Normalised(dnn.Model):
    def __init__(self):
        super().__init__(rng=0)
        self.fc = dnn.Linear(3, 3, rng=0)
        self.bn = dnn.BatchNorm(3)
        self.drop = dnn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.bn(self.fc(x)))


@pytest.mark.parametrize("make", [Normalised, lambda: dnn.Sequential([dnn.BatchNorm(3), dnn.Dropout(0.5)])])
def test_example_inputs_take_no_step_of_training(make):
    """The check run on example_inputs leaves BatchNorm's statistics and torch's random state as they were."""
    model = make()
    before = torch.random.get_rng_state()
    expected = to_torch(model).state_dict()
    after = torch.random.get_rng_state()  # the modules' own initialisation draws, before their weights are copied
    torch.random.set_rng_state(before)
    module = to_torch(model, normal(8, 3) * 5 + 3)
    assert torch.equal(torch.random.get_rng_state(), after)
    assert module.state_dict().keys() == expected.keys()
    for name, value in module.state_dict().items():
        assert torch.equal(value, expected[name]), name


def test_softplus_with_a_threshold_that_changes_it_is_refused():
    with pytest.raises(Unsupported, match="threshold below PyTorch's default 20"):
        from_torch(torch.nn.Softplus(threshold=3))
    x = normal(4, 5) * 10
    layer = from_torch(torch.nn.Softplus(beta=2.0))  # the default threshold, 20: off by 1e-9 at most
    np.testing.assert_allclose(layer(x).value, torch.nn.Softplus(beta=2.0)(torch.tensor(x)).numpy(), rtol=1e-9)


def test_bfloat16_is_refused_by_name():
    with pytest.raises(Unsupported, match="'0.weight' is torch.bfloat16"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2)).to(torch.bfloat16))


def test_in_place_modules_come_as_the_others():
    """inplace= saves memory in torch only: Dropout takes it as the activations do."""
    layers = from_torch(torch.nn.Sequential(torch.nn.ReLU(inplace=True), torch.nn.Dropout(0.3, inplace=True)))
    assert isinstance(layers.layers[1], dnn.Dropout) and layers.layers[1].p == 0.3


def test_a_missing_directory_is_named_as_the_user_gave_it(tmp_path):
    pytest.importorskip("safetensors")
    from dp.export import save_safetensors

    target = tmp_path / "no such folder" / "net.safetensors"
    with pytest.raises(FileNotFoundError, match="no such folder") as error:
        save_safetensors(dnn.Linear(2, 2, rng=0), target)
    assert error.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
