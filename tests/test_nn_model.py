"""Model and Sequential: finding layers and naming parameters, get_grad / get_param / set_param,
training and evaluation mode, the project sheet's style, and saving / loading to .npz."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from dp import Node
from dp.nn import (
    SGD,
    BatchNorm,
    Dropout,
    Linear,
    LinearLayer,
    Model,
    ReLU,
    Sequential,
    binary_cross_entropy,
    cross_entropy,
    relu,
    softmax,
)


class TwoLayers(Model):
    """Unnamed layers: named after their attributes. Also a list of layers and a raw parameter."""

    def __init__(self):
        super().__init__(rng=0)
        self.first = Linear(4, 3, activation=relu, rng=1)
        self.blocks = [Linear(3, 3, rng=2), BatchNorm(3)]
        self.scale = Node(np.ones(3), "scale")
        self.last = self.Linear_Layer(3, 2, "out")
        self.history = [0.5, 0.25]  # a list of data, not of layers

    def forward(self, x):
        h = self.first(x)
        for block in self.blocks:
            h = block(h)
        return self.last(h * self.scale)

    def loss(self, x, y):
        return cross_entropy(self.forward(x), y)


def data(n=8, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)  # labels a small network can learn


# --------------------------------------------------------------------------------------------
# Finding the layers and naming the parameters


def test_parameters_are_found_in_definition_order_with_readable_names():
    model = TwoLayers()
    assert list(model.get_param()) == [
        "first.W",
        "first.b",
        "blocks.0.W",
        "blocks.0.b",
        "blocks.1.gamma",
        "blocks.1.beta",
        "scale",
        "out.W",
        "out.b",
    ]
    assert all(node.name == name for name, node in model.parameters().items())
    assert model.variables.keys() == model.parameters().keys()


def test_sequential_names_by_index_and_nests():
    seq = Sequential([Linear(2, 3), relu, Linear(3, 1, "head")])
    assert list(seq.get_param()) == ["0.W", "0.b", "head.W", "head.b"]

    class Outer(Model):
        def __init__(self):
            super().__init__()
            self.body = seq

    assert list(Outer().get_param()) == ["body.0.W", "body.0.b", "head.W", "head.b"]
    assert list(seq.get_param()) == ["body.0.W", "body.0.b", "head.W", "head.b"]  # it now lives in Outer
    assert "(1) relu" in repr(seq)


def test_a_standalone_layer_owns_plain_names():
    layer = Linear(3, 2)
    grads = layer(np.ones((1, 3))).sum().grad(1)
    assert sorted(grads) == ["W", "b"]


def test_duplicate_names_are_refused():
    class Clash(Model):
        def __init__(self):
            super().__init__()
            self.a = self.ReLu_Layer(2, 2, "h")
            self.b = self.ReLu_Layer(2, 2, "h")

    with pytest.raises(ValueError, match="'h.W'"):
        Clash().get_param()


def test_a_layer_used_twice_is_one_set_of_parameters():
    shared = Linear(2, 2)
    model = Sequential([shared, relu, shared])
    assert list(model.get_param()) == ["0.W", "0.b"]


def test_forgetting_super_init_is_explained():
    class Forgetful(Model):
        def __init__(self):
            self.h = Linear(2, 2)

    with pytest.raises(TypeError, match="super"):
        Forgetful()


def test_layers_are_reproducible_from_the_models_rng():
    a, b = TwoLayers(), TwoLayers()
    for name, value in a.get_param().items():
        np.testing.assert_array_equal(value, b.get_param()[name])


def test_float32_models_stay_float32():
    class Small(Model):
        def __init__(self):
            super().__init__(rng=0, dtype=np.float32)
            self.h = self.ReLu_Layer(4, 3, "h")
            self.o = self.Linear_Layer(3, 2, "o")

        def forward(self, x):
            return self.o(self.h(x))

        def loss(self, x, y):
            return cross_entropy(self.forward(x), y)

    x, y = data()
    grads, loss = Small().get_grad(x.astype(np.float32), y)
    assert all(g.dtype == np.float32 for g in grads.values())


# --------------------------------------------------------------------------------------------
# get_grad, get_param, set_param


def test_get_grad_matches_pytorch():
    model = TwoLayers()
    x, y = data()
    grads, loss = model.get_grad(x, y)
    p = {name: torch.tensor(value, requires_grad=True) for name, value in model.get_param().items()}
    h = torch.relu(torch.tensor(x) @ p["first.W"] + p["first.b"])
    h = h @ p["blocks.0.W"] + p["blocks.0.b"]
    h = torch.nn.functional.batch_norm(h, None, None, p["blocks.1.gamma"], p["blocks.1.beta"], training=True)
    out = (h * p["scale"]) @ p["out.W"] + p["out.b"]
    expected = torch.nn.functional.cross_entropy(out, torch.tensor(y))
    expected.backward()
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, expected.item(), rtol=1e-10)
    assert list(grads) == list(p)
    for name, tensor in p.items():
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=name)


def test_get_grad_gives_zeros_for_parameters_the_loss_ignores():
    class Unused(Model):
        def __init__(self):
            super().__init__()
            self.used, self.spare = Linear(2, 1), Linear(2, 1)

        def loss(self, x, y):
            return self.used(x).sum()

    grads, _ = Unused().get_grad(np.ones((3, 2)), None)
    np.testing.assert_array_equal(grads["spare.W"], np.zeros((2, 1)))
    np.testing.assert_array_equal(grads["used.W"], np.full((2, 1), 3.0))


def test_get_grad_wants_a_scalar_loss_and_a_defined_loss():
    class Vector(Model):
        def __init__(self):
            super().__init__()
            self.h = Linear(2, 2)

        def loss(self, x, y):
            return self.h(x)

    with pytest.raises(TypeError, match="one number"):
        Vector().get_grad(np.ones((3, 2)), None)
    with pytest.raises(NotImplementedError, match="loss"):
        Sequential([Linear(2, 2)]).get_grad(np.ones((3, 2)), None)


class AutoEncoder(Model):
    """A model without labels: loss(self, x)."""

    def __init__(self):
        super().__init__()
        self.down, self.norm, self.up = Linear(4, 2, rng=0), BatchNorm(2), Linear(2, 4, rng=1)

    def loss(self, x):
        error = self.up(self.norm(self.down(x))) - x
        return (error * error).mean()


def test_get_grad_of_a_model_without_labels_takes_x_alone_and_matches_pytorch():
    x, _ = data()
    model = AutoEncoder()
    grads, loss = model.get_grad(x)
    p = {name: torch.tensor(value, requires_grad=True) for name, value in model.get_param().items()}
    h = torch.tensor(x) @ p["down.W"] + p["down.b"]
    h = torch.nn.functional.batch_norm(h, None, None, p["norm.gamma"], p["norm.beta"], training=True)
    expected = ((h @ p["up.W"] + p["up.b"] - torch.tensor(x)) ** 2).mean()
    expected.backward()
    np.testing.assert_allclose(loss, expected.item(), rtol=1e-12)
    for name, tensor in p.items():
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_labels_are_passed_exactly_when_the_loss_takes_them():
    class Optional(Model):
        def __init__(self):
            super().__init__()
            self.w = Node(np.ones(2), "w")
            self.calls = []

        def loss(self, x, y=None):
            self.calls.append(y)
            return (x @ self.w).sum()

    model = Optional()
    model.get_grad(np.ones((3, 2)))
    model.get_grad(np.ones((3, 2)), None)  # None is a label like any other
    model.get_grad(np.ones((3, 2)), "labels")
    assert model.calls == [None, None, "labels"]


def test_labels_for_a_loss_without_them_and_none_for_a_loss_that_needs_them_are_refused_before_any_work():
    x, y = data()
    model = AutoEncoder()
    before = model.norm.running_mean.copy()
    with pytest.raises(TypeError, match=r"AutoEncoder.loss\(x\) takes no labels, but y was given: call get_grad\(x\)"):
        model.get_grad(x, y)
    with pytest.raises(TypeError, match=r"TwoLayers.loss\(x, y\) needs labels, but no y was given"):
        TwoLayers().get_grad(x)
    np.testing.assert_array_equal(model.norm.running_mean, before)  # no forward pass happened
    with pytest.raises(NotImplementedError, match=r"loss\(self, x\) for a model without labels"):
        Model().get_grad(x)


def test_get_param_returns_the_live_arrays_and_layers_read_them():
    model = Sequential([Linear(2, 1)])
    params = model.get_param()
    params["0.W"][...] = 2.0
    params["0.b"][...] = 1.0
    np.testing.assert_array_equal(model(np.ones((1, 2))).value, [[5.0]])


def test_set_param_copies_values_in():
    model = TwoLayers()
    new = {name: np.full(value.shape, 0.5) for name, value in model.get_param().items()}
    model.set_param(new)
    for name, value in model.get_param().items():
        np.testing.assert_array_equal(value, 0.5)
        assert value is not new[name]  # copied: changing `new` later cannot change the model
    live = model.get_param()["out.W"]
    model.set_param(model.get_param())
    assert model.get_param()["out.W"] is live


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda p: p.pop("out.b"), ValueError, "missing \\['out.b'\\]"),
        (lambda p: p.update(extra=np.zeros(1)), ValueError, "unknown \\['extra'\\]"),
        (lambda p: p.update({"out.W": np.zeros((2, 3))}), ValueError, "shape \\(2, 3\\), expected \\(3, 2\\)"),
        (lambda p: p.update({"out.W": np.full((3, 2), "a")}), TypeError, "numbers"),
    ],
)
def test_set_param_rejects_a_bad_dict_without_changing_anything(change, error, message):
    model = TwoLayers()
    before = {name: value.copy() for name, value in model.get_param().items()}
    bad = {name: np.zeros_like(value) for name, value in before.items()}
    change(bad)
    with pytest.raises(error, match=message):
        model.set_param(bad)
    for name, value in model.get_param().items():
        np.testing.assert_array_equal(value, before[name])


# --------------------------------------------------------------------------------------------
# Modes, Sequential and the project sheet's style


def test_train_and_eval_switch_every_layer():
    drop = Dropout(0.5)
    model = Sequential([Linear(3, 3), BatchNorm(3), Sequential([drop])])
    assert model.eval() is model
    assert not drop.training and not model[1].training
    np.testing.assert_array_equal(drop(np.ones(4)).value, np.ones(4))
    model.train()
    assert drop.training and model[1].training


def test_sequential_with_a_loss_trains_with_an_optimizer():
    x, y = data(n=32)
    model = Sequential([Linear(4, 8, rng=0), ReLU(), Linear(8, 2, rng=1)], loss=cross_entropy)
    first = model.loss(x, y).value.item()
    last = SGD(model, x, y, learning_rate=0.1).train(steps=50, print_each=None, progress=False)
    assert last < 0.7 * first


def test_seed_002_style_with_sequential_and_backward():
    in_size, hidden_size, out_size = 4, 8, 2
    model = Sequential(
        [
            LinearLayer(in_size, hidden_size),
            relu,
            LinearLayer(hidden_size, out_size),
        ]
    )
    optimizer = SGD(learning_rate=0.5)
    feature, labels = data(n=16)
    label = np.eye(out_size)[labels]
    losses = []
    for _ in range(30):
        log_posterior = model(feature)
        posterior = softmax(log_posterior)
        loss = binary_cross_entropy(posterior, label)

        gradients = loss.backward()
        optimizer(model.variables, gradients)
        losses.append(loss.value.item())
    assert losses[-1] < 0.8 * losses[0]


def test_a_model_of_raw_nodes():
    """A low-level model: a parameter Node kept as an attribute, no layer classes."""

    class LinearRegression(Model):
        def __init__(self):
            super().__init__()
            self.w = Node(np.zeros(2), "w")

        def loss(self, x, y):
            error = x @ self.w - y
            return (error * error).mean()

    x = np.random.default_rng(0).standard_normal((50, 2))
    model = LinearRegression()
    SGD(model, x, x @ np.array([2.0, -1.0]), learning_rate=0.3).train(steps=100, print_each=0, progress=False)
    np.testing.assert_allclose(model.get_param()["w"], [2.0, -1.0], atol=1e-6)


def test_a_model_with_a_scalar_parameter_can_be_set_trained_saved_and_loaded(tmp_path):
    """A parameter holding one number (Node(0.5, "w")): a Node keeps a number as an immutable
    NumPy scalar, which set_param, load and the optimizers could not update in place."""

    class Scale(Model):
        def __init__(self):
            super().__init__()
            self.w = Node(0.5, "w")

        def loss(self, x, y):
            error = x * self.w - y
            return (error * error).mean()

    model = Scale()
    model.set_param({"w": 3.0})
    assert float(model.w.value) == 3.0
    params = model.get_param()
    x = np.linspace(-1.0, 1.0, 20)
    SGD(model, x, 2.0 * x, learning_rate=0.5).train(steps=50, print_each=0, progress=False)
    np.testing.assert_allclose(model.w.value, 2.0, atol=1e-6)
    assert params["w"] is model.get_param()["w"]  # still the live array
    model.save(tmp_path / "scale.npz")
    other = Scale()
    other.load(tmp_path / "scale.npz")
    np.testing.assert_allclose(other.w.value, 2.0, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Saving and loading


def test_save_load_round_trip_with_buffers(tmp_path):
    x, y = data()
    model = TwoLayers()
    model.get_grad(x, y)  # a training-mode pass moves the BatchNorm running statistics
    path = tmp_path / "model.npz"
    model.save(path)
    assert path.exists()  # exactly the name given

    other = TwoLayers()
    other.set_param({name: np.zeros_like(value) for name, value in other.get_param().items()})
    assert other.load(path) is other
    for name, value in model.get_param().items():
        np.testing.assert_array_equal(other.get_param()[name], value)
    np.testing.assert_array_equal(other.blocks[1].running_mean, model.blocks[1].running_mean)
    np.testing.assert_array_equal(other.blocks[1].running_var, model.blocks[1].running_var)
    model.eval(), other.eval()
    np.testing.assert_array_equal(other.forward(x).value, model.forward(x).value)


@pytest.mark.parametrize("name", ["file", "allow_pickle"])
def test_save_keeps_parameters_whose_names_are_np_savez_arguments(tmp_path, name):
    """np.savez(file, allow_pickle=..., **arrays) would take these names as its own arguments:
    "file" was a TypeError, "allow_pickle" silently left the parameter out of the file."""

    class Named(Model):
        def __init__(self):
            super().__init__()
            self.p = Node(np.arange(3.0), name)

    Named().save(tmp_path / "named.npz")
    with np.load(tmp_path / "named.npz", allow_pickle=False) as archive:
        assert archive.files == [name]
    other = Named()
    other.p.value[...] = 0.0
    other.load(tmp_path / "named.npz")
    np.testing.assert_array_equal(other.p.value, [0.0, 1.0, 2.0])


def test_load_refuses_pickled_objects(tmp_path):
    model = TwoLayers()
    state = dict(model.get_param())
    state["out.W"] = np.array([{"evil": "payload"}] * 6, dtype=object).reshape(3, 2)
    with open(tmp_path / "objects.npz", "wb") as file:
        np.savez(file, **state)
    with open(tmp_path / "pickle.npz", "wb") as file:
        pickle.dump(model.get_param(), file)
    before = model.get_param()["out.W"].copy()
    for name in ("objects.npz", "pickle.npz"):
        with pytest.raises(ValueError, match="pickled|Python objects"):
            model.load(tmp_path / name)
    np.testing.assert_array_equal(model.get_param()["out.W"], before)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("blocks.1.running_var"), "missing"),
        (lambda s: s.update(surplus=np.zeros(2)), "unknown"),
        (lambda s: s.update({"first.W": np.zeros((3, 4))}), "shape"),
    ],
)
def test_load_refuses_missing_extra_or_misshaped_parameters(tmp_path, change, message):
    model = TwoLayers()
    state = {name: np.zeros_like(value) for name, value in model._state().items()}
    change(state)
    with open(tmp_path / "bad.npz", "wb") as file:
        np.savez(file, **state)
    before = {name: value.copy() for name, value in model._state().items()}
    with pytest.raises(ValueError, match=message):
        model.load(tmp_path / "bad.npz")
    for name, value in model._state().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_refuses_a_plain_npy_file(tmp_path):
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="npz"):
        TwoLayers().load(tmp_path / "array.npy")


def test_the_paper_layer_factories_say_when_super_init_was_forgotten():
    class Forgetful(Model):
        def __init__(self):
            self.h1 = self.ReLu_Layer(4, 3, "h1")

    with pytest.raises(AttributeError, match=r"Forgetful: call super\(\).__init__\(\) at the start of __init__"):
        Forgetful()


def test_layers_in_a_dict_attribute_are_the_models_own():
    class Heads(Model):
        def __init__(self):
            super().__init__()
            self.body = Linear(4, 3, rng=0)
            self.heads = {"cls": Linear(3, 2, rng=1), "reg": Linear(3, 1, rng=2), "note": "not a layer"}

        def loss(self, x, y):
            h = self.body(x)
            return (self.heads["cls"](h) ** 2).sum() + self.heads["reg"](h).sum()

    model = Heads()
    assert list(model.parameters()) == ["body.W", "body.b", "heads.cls.W", "heads.cls.b", "heads.reg.W", "heads.reg.b"]
    before = model.heads["cls"].W.value.copy()
    SGD(model, np.ones((5, 4)), np.zeros(5), learning_rate=0.1).train(steps=2, print_each=None, progress=False)
    assert not np.array_equal(model.heads["cls"].W.value, before), "a layer in a dict was not trained"
