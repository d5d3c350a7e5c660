"""Training through a trace: `Opt(..., compile=True).train(...)` and `model.get_grad(..., compile=True)`
give the dynamic engine's losses, gradients and parameters (float64, 1e-12 relative over 20 steps),
full batch and in minibatches whose last one is smaller; and the models a trace would get wrong
(Dropout, BatchNorm in training mode) are refused, with errors that say why."""

from __future__ import annotations

import numpy as np
import pytest

from dp import Node
from dp.nn import SGD, AdamW, BatchNorm, Dropout, Linear, Model, Momentum, RMSProp, Sequential, cross_entropy, mse, relu
from dp.nn import Adam

OPTIMIZERS = {
    "SGD": lambda *data, **options: SGD(*data, learning_rate=0.01, **options),
    "Momentum": lambda *data, **options: Momentum(*data, learning_rate=0.01, **options),
    "RMSProp": lambda *data, **options: RMSProp(*data, learning_rate=0.01, **options),
    "Adam": lambda *data, **options: Adam(*data, learning_rate=0.01, **options),
    "AdamW": lambda *data, **options: AdamW(*data, learning_rate=0.01, clip_grad_norm=5.0, **options),
}
N_EXAMPLES, N_IN, N_CLASSES = 45, 7, 3  # 45 = 2 batches of 16, then one of 13


class PaperNetwork(Model):
    """The paper's way of writing a network: ReLu_Layer, Linear_Layer, softmax, summed loss."""

    def __init__(self, dtype: type = np.float64) -> None:
        super().__init__(rng=3, dtype=dtype)
        self.h1 = self.ReLu_Layer(N_IN, 9, "h1")
        self.h2 = self.ReLu_Layer(9, 6, "h2")
        self.h3 = self.Linear_Layer(6, N_CLASSES, "h3")

    def forward(self, x):
        return self.h3(self.h2(self.h1(x))).softmax()

    def loss(self, x, y):
        return (-1 * (y * self.forward(x).log())).sum()


def sequential() -> Sequential:
    return Sequential([Linear(N_IN, 8, rng=4), relu, Linear(8, N_CLASSES, rng=5)], loss=cross_entropy)


def data(one_hot: bool, dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N_EXAMPLES, N_IN)).astype(dtype)
    labels = rng.integers(0, N_CLASSES, N_EXAMPLES)
    return x, (np.eye(N_CLASSES, dtype=dtype)[labels] if one_hot else labels)


def train(make_model, optimizer: str, one_hot: bool, compile, batch_size: int | None, steps: int = 20):
    model = make_model()
    x, y = data(one_hot)
    opt = OPTIMIZERS[optimizer](model, x, y, batch_size=batch_size, rng=0, compile=compile)
    _, losses, params = opt.train(steps, print_each=None, progress=False, err_hist=True)
    return np.array(losses), params


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("batch_size", [None, 16], ids=["full batch", "minibatches"])
@pytest.mark.parametrize(
    "make_model, one_hot",
    [(PaperNetwork, True), (sequential, False)],
    ids=["paper Model", "Sequential + cross_entropy"],
)
def test_traced_training_gives_the_dynamic_losses_and_parameters(make_model, one_hot, optimizer, batch_size):
    dynamic_losses, dynamic_params = train(make_model, optimizer, one_hot, False, batch_size)
    traced_losses, traced_params = train(make_model, optimizer, one_hot, True, batch_size)
    assert len(traced_losses) == 20 and np.all(np.diff(dynamic_losses) != 0)  # the runs really move
    np.testing.assert_allclose(traced_losses, dynamic_losses, rtol=1e-12, atol=0)
    for dynamic, traced in zip(dynamic_params, traced_params):
        assert dynamic.keys() == traced.keys()
        for name in dynamic:
            np.testing.assert_allclose(traced[name], dynamic[name], rtol=1e-12, atol=1e-14)


def test_the_last_smaller_minibatch_is_traced_again_and_trained_right():
    # 45 examples in batches of 16: steps 3, 6, 9, ... run on 13 examples, a program of their own.
    dynamic, _ = train(PaperNetwork, "Adam", True, False, 16, steps=9)
    checked, _ = train(PaperNetwork, "Adam", True, "check", 16, steps=9)  # replays, and compares each step
    np.testing.assert_allclose(checked, dynamic, rtol=1e-12, atol=0)


def test_float32_training_through_a_trace_matches_the_dynamic_engine():
    def run(compile):
        model = PaperNetwork(np.float32)
        x, y = data(True, np.float32)
        return np.array(
            Adam(model, x, y, batch_size=16, rng=1, compile=compile).train(
                20, print_each=None, progress=False, err_hist=True
            )[1]
        )

    np.testing.assert_allclose(run(True), run(False), rtol=1e-5)


# -- get_grad(compile=True) ------------------------------------------------------------------------


class Partly(Model):
    """A labelled model with a parameter the loss never uses, and an unlabelled twin."""

    def __init__(self) -> None:
        super().__init__(rng=0)
        self.used = Linear(N_IN, 2, "used", rng=1)
        self.unused = Linear(2, 2, "unused", rng=2)

    def loss(self, x, y):
        return mse(self.used(x), y)


class Autoencoder(Model):
    def __init__(self) -> None:
        super().__init__()
        self.encode = Linear(N_IN, 3, "encode", activation=relu, rng=1)
        self.decode = Linear(3, N_IN, "decode", rng=2)

    def loss(self, x):
        return mse(self.decode(self.encode(x)), x)


def assert_same_grads(a, b):
    (grads_a, loss_a), (grads_b, loss_b) = a, b
    assert loss_a == pytest.approx(loss_b, rel=1e-12) and isinstance(loss_a, float)
    assert list(grads_a) == list(grads_b)
    for name in grads_a:
        assert grads_a[name].dtype == grads_b[name].dtype
        np.testing.assert_allclose(grads_a[name], grads_b[name], rtol=1e-12, atol=1e-15)


def test_get_grad_compiled_equals_dynamic_with_zeros_for_unused_parameters():
    model = Partly()
    x, y = data(False)[0], np.random.default_rng(2).standard_normal((N_EXAMPLES, 2))
    for rows in (slice(0, 10), slice(10, 20), slice(0, 4)):  # new data, new shapes
        assert_same_grads(model.get_grad(x[rows], y[rows], compile=True), model.get_grad(x[rows], y[rows]))
    grads, _ = model.get_grad(x, y, compile=True)
    assert not np.any(grads["unused.W"]) and grads["unused.W"].shape == (2, 2)


def test_get_grad_compiled_for_a_model_without_labels():
    model = Autoencoder()
    x = data(False)[0]
    assert_same_grads(model.get_grad(x[:9], compile=True), model.get_grad(x[:9]))
    assert_same_grads(model.get_grad(x[9:18], compile=True), model.get_grad(x[9:18]))
    with pytest.raises(TypeError, match="takes no labels"):
        model.get_grad(x, x, compile=True)


def test_get_grad_compiled_sees_parameters_changed_in_place_and_replaced():
    model = PaperNetwork()
    x, y = data(True)
    model.get_grad(x, y, compile=True)
    model.set_param({name: value * 0.5 for name, value in model.get_param().items()})  # in place
    assert_same_grads(model.get_grad(x, y, compile=True), model.get_grad(x, y))
    model.h2.W = Node(np.full((9, 6), 0.1))  # a new parameter Node: traced again
    assert_same_grads(model.get_grad(x, y, compile=True), model.get_grad(x, y))


def test_compile_check_catches_a_loss_that_draws_random_numbers_itself():
    class Noisy(Model):
        def __init__(self):
            super().__init__()
            self.fc = Linear(N_IN, 2, "fc", rng=0)
            self.noise = np.random.default_rng(0)

        def loss(self, x):
            return ((self.fc(x) + self.noise.standard_normal(2)) ** 2).sum()

    model, x = Noisy(), data(False)[0]
    model.get_grad(x, compile=True)  # without the check, the trace's noise is replayed at every call
    with pytest.raises(RuntimeError, match="different values"):  # the engine draws new noise: caught
        model.get_grad(x, compile="check")


# -- what a trace would get wrong: refused, or handled -----------------------------------------------


def with_dropout() -> Sequential:
    return Sequential([Linear(N_IN, 8, rng=0), Dropout(0.5, rng=0), Linear(8, N_CLASSES, rng=1)], loss=cross_entropy)


def with_batchnorm() -> Sequential:
    return Sequential([Linear(N_IN, 8, rng=0), BatchNorm(8), relu, Linear(8, N_CLASSES, rng=1)], loss=cross_entropy)


@pytest.mark.parametrize(
    "make_model, reason",
    [(with_dropout, "random mask"), (with_batchnorm, "side effects")],
    ids=["Dropout", "BatchNorm"],
)
def test_layers_a_trace_would_get_wrong_in_training_mode_are_refused(make_model, reason):
    model = make_model().eval()  # the optimizer refuses anyway: train() puts the model in training mode
    x, y = data(False)
    before = {name: value.copy() for name, value in model.get_param().items()}
    with pytest.raises(ValueError, match=f"Adam\\(compile=True\\): .*{reason}"):
        Adam(model, x, y, compile=True)
    model.train()
    with pytest.raises(ValueError, match=f"get_grad\\(compile=True\\): .*at '1'.*{reason}"):
        model.get_grad(x, y, compile=True)
    assert all(np.array_equal(value, before[name]) for name, value in model.get_param().items())
    Adam(model, x, y).train(2, print_each=None, progress=False)  # the dynamic engine trains them


def test_dropout_in_evaluation_mode_and_p_zero_compile():
    x, y = data(False)
    model = with_dropout().eval()
    assert_same_grads(model.get_grad(x, y, compile=True), model.get_grad(x, y))
    model = with_dropout()
    model[1].p = 0.0
    assert_same_grads(model.get_grad(x, y, compile=True), model.get_grad(x, y))


def test_batchnorm_in_evaluation_mode_follows_its_running_statistics():
    x, y = data(False)
    model = with_batchnorm()
    model.get_grad(x, y)  # training mode: the running statistics move away from their start
    model.eval()
    assert_same_grads(model.get_grad(x, y, compile=True), model.get_grad(x, y))
    model[1].running_mean[...] += 0.5  # read as constants by the trace: it is traced again
    model[1].running_var[...] *= 2.0
    assert_same_grads(model.get_grad(x, y, compile=True), model.get_grad(x, y))


def test_bad_compile_values_and_losses_get_clear_errors():
    model = PaperNetwork()
    x, y = data(True)
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match='compile must be False, True or "check"'):
            Adam(model, x, y, compile=bad)
        with pytest.raises(ValueError, match="PaperNetwork.get_grad: compile must be"):
            model.get_grad(x, y, compile=bad)

    class Vector(Model):
        def __init__(self):
            super().__init__()
            self.fc = Linear(N_IN, 2, "fc", rng=0)

        def loss(self, x):
            return self.fc(x).sum(axis=0)

    with pytest.raises(TypeError, match=r"Vector.loss\(x\) must return a Node holding one number, got shape \(2,\)"):
        Vector().get_grad(x, compile=True)


def test_a_changed_layer_setting_traces_again_and_dropout_is_still_refused():
    from dp.nn import Dropout, LeakyReLU

    rng = np.random.default_rng(21)
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    net = Sequential([Linear(3, 4, rng=0), LeakyReLU(0.1), Dropout(0.0), Linear(4, 2, rng=1)], loss=cross_entropy)
    net.get_grad(x, y, compile=True)
    for change in (lambda: net.layers[1].options.update(alpha=0.5), lambda: net.layers.__setitem__(1, LeakyReLU(2.0))):
        change()  # a setting the trace took as fixed, changed in place, then a layer swapped
        grads, loss = net.get_grad(x, y, compile=True)
        expected, expected_loss = net.get_grad(x, y)
        assert loss == expected_loss
        for name in expected:
            np.testing.assert_array_equal(grads[name], expected[name])
    net.layers[2].p = 0.5
    with pytest.raises(ValueError, match="random mask"):
        net.get_grad(x, y, compile=True)
