"""Optimizers: each update rule against PyTorch's for 20 steps on the same parameters and
gradients, the ways to call `step`, and `train` (minibatches, histories, modes, messages)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dp import Node
from dp.data import make_moons
from dp.nn import SGD, SGD_Momentum, Adam, Linear, Model, Momentum, RMSProp, Sequential, cross_entropy, relu
from dp.nn.optim import AdamW

# dp optimizer, the same rule in PyTorch (hyper-parameters spelled both ways)
RULES = {
    "SGD": (lambda: SGD(learning_rate=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    "SGD momentum": (
        lambda: SGD(learning_rate=0.05, momentum=0.8),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8),
    ),
    "SGD Nesterov": (
        lambda: SGD(learning_rate=0.05, momentum=0.8, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    ),
    "SGD_Momentum": (lambda: SGD_Momentum(learning_rate=0.05), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "RMSProp": (
        lambda: RMSProp(learning_rate=0.01, decay=0.95, eps=1e-6),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.95, eps=1e-6),
    ),
    "Adam": (
        lambda: Adam(learning_rate=0.02, beta1=0.8, beta2=0.99, eps=1e-7),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-7),
    ),
    "Adam defaults": (lambda: Adam(), lambda p: torch.optim.Adam(p)),
    # weight decay: L2 added to the gradient, and AdamW's decoupled decay
    "SGD L2": (
        lambda: SGD(learning_rate=0.05, weight_decay=0.3),
        lambda p: torch.optim.SGD(p, lr=0.05, weight_decay=0.3),
    ),
    "SGD momentum L2": (
        lambda: SGD(learning_rate=0.05, momentum=0.8, weight_decay=0.3),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, weight_decay=0.3),
    ),
    "SGD Nesterov L2": (
        lambda: SGD(learning_rate=0.05, momentum=0.8, nesterov=True, weight_decay=0.3),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.3),
    ),
    "Momentum L2": (
        lambda: Momentum(learning_rate=0.05, weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1),
    ),
    "RMSProp L2": (
        lambda: RMSProp(learning_rate=0.01, decay=0.95, eps=1e-6, weight_decay=0.2),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.95, eps=1e-6, weight_decay=0.2),
    ),
    "Adam L2": (
        lambda: Adam(learning_rate=0.02, beta1=0.8, beta2=0.99, weight_decay=0.2),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), weight_decay=0.2),
    ),
    "AdamW defaults": (lambda: AdamW(), lambda p: torch.optim.AdamW(p)),
    "AdamW": (
        lambda: AdamW(learning_rate=0.02, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.5),
        lambda p: torch.optim.AdamW(p, lr=0.02, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.5),
    ),
}


def gradient(p, noise):
    """A gradient that depends on where the parameters are, so that any difference would grow."""
    return p**3 - p + noise


@pytest.mark.parametrize("rule", RULES)
def test_update_rules_match_pytorch_for_20_steps(rule):
    make_ours, make_theirs = RULES[rule]
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((5, 3)), "b": rng.standard_normal(3)}
    tensors = {name: torch.tensor(value.copy(), requires_grad=True) for name, value in params.items()}
    ours, theirs = make_ours(), make_theirs(list(tensors.values()))
    for _ in range(20):
        noise = {name: rng.standard_normal(value.shape) for name, value in params.items()}
        ours.step(params, {name: gradient(value, noise[name]) for name, value in params.items()})
        for name, tensor in tensors.items():
            tensor.grad = torch.tensor(gradient(tensor.detach().numpy(), noise[name]))
        theirs.step()
    for name, value in params.items():
        np.testing.assert_allclose(value, tensors[name].detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_step_takes_a_model_a_dict_of_nodes_or_a_dict_of_arrays():
    grads = {"0.W": np.ones((2, 1)), "0.b": np.ones(1)}
    models = [Sequential([Linear(2, 1)]) for _ in range(3)]
    for model in models:
        model.set_param({"0.W": np.zeros((2, 1)), "0.b": np.zeros(1)})
    SGD(learning_rate=0.5).step(models[0], grads)
    SGD(learning_rate=0.5)(models[1].variables, grads)  # the project sheet's spelling
    SGD(learning_rate=0.5).step(models[2].get_param(), grads)
    for model in models:
        np.testing.assert_array_equal(model.get_param()["0.W"], [[-0.5], [-0.5]])


def test_step_leaves_parameters_without_a_gradient_and_refuses_unknown_names():
    params = {"a": np.ones(2), "b": np.ones(2)}
    optimizer = Adam()
    optimizer.step(params, {"a": np.ones(2)})
    np.testing.assert_array_equal(params["b"], 1)
    assert set(optimizer.state) == {"a"}
    with pytest.raises(KeyError, match="'c'"):
        optimizer.step(params, {"c": np.ones(2)})
    with pytest.raises(TypeError, match="in place"):
        optimizer.step({"a": 1.0}, {"a": 1.0})


def test_a_rejected_step_changes_nothing_and_a_broadcastable_gradient_is_rejected():
    params = {"W": np.ones((3, 2)), "b": np.ones(2)}
    optimizer = Adam()
    optimizer.step(params, {"W": np.ones((3, 2)), "b": np.ones(2)})
    W, b = params["W"].copy(), params["b"].copy()
    state = {name: {key: np.copy(value) for key, value in part.items()} for name, part in optimizer.state.items()}

    def unchanged():
        np.testing.assert_array_equal(params["W"], W)
        np.testing.assert_array_equal(params["b"], b)
        for name, part in optimizer.state.items():
            for key, value in part.items():
                np.testing.assert_array_equal(value, state[name][key], err_msg=f"{name} {key}")

    # (2,) and () broadcast onto W (3, 2): applying them would be a wrong answer, not an update
    for bad in (np.ones(2), 1.0, np.ones((5, 5))):
        with pytest.raises(
            ValueError,
            match=r"Adam.step: the gradient for 'W' has shape .* but the parameter has "
            r"shape \(3, 2\)",
        ):
            optimizer.step(params, {"W": bad})
        unchanged()
    with pytest.raises(KeyError, match="'nope'"):  # b comes first and must not be updated either
        optimizer.step(params, {"b": np.ones(2), "nope": np.ones(2)})
    unchanged()
    with pytest.raises(TypeError, match="must be numbers"):
        optimizer.step(params, {"b": np.ones(2), "W": np.array([["a", "b"]] * 3)})
    unchanged()
    with pytest.raises(TypeError, match="writable NumPy float array"):
        SGD(learning_rate=0.1).step({"w": np.ones(2, dtype=int)}, {"w": np.ones(2)})
    with pytest.raises(TypeError, match="dict name -> gradient"):
        optimizer.step(params, [np.ones(2)])


def test_step_takes_node_gradients_and_scalar_node_parameters():
    w = Node(1.0, "w")
    SGD(learning_rate=0.5).step({"w": w}, {"w": Node(2.0)})
    assert float(w.value) == 0.0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD(0.1), "first argument is the model"),
        (lambda: SGD(learning_rate=-1), "learning_rate"),
        (lambda: SGD(batch_size=0), "batch_size"),
        (lambda: SGD(momentum=1.0), "momentum"),
        (lambda: SGD(nesterov=True), "nesterov"),
        (lambda: Adam(beta2=1.0), "beta2"),
        (lambda: RMSProp(decay=-0.1), "decay"),
        (lambda: SGD(Sequential([Linear(2, 1)], loss=cross_entropy), np.zeros((3, 2))), "needs labels"),
        (lambda: SGD(Sequential([Linear(2, 1)]), None, np.zeros(3)), "y_train without x_train"),
        (lambda: SGD(Sequential([Linear(2, 1)]), np.zeros((3, 2)), np.zeros(2)), "3 examples"),
        (lambda: SGD(Sequential([Linear(2, 1)])).train(steps=1), "training data"),
        (lambda: SGD(Sequential([Linear(2, 1)]), np.zeros((3, 2)), np.zeros(3)).train(steps=0), "steps"),
    ],
)
def test_bad_arguments_are_explained(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def test_names_and_defaults():
    assert Momentum is SGD_Momentum
    assert SGD_Momentum().momentum == 0.9 and SGD().momentum == 0
    assert SGD().learning_rate == 1e-5 and Adam().learning_rate == 1e-3
    # weight decay is off except in AdamW, whose default is PyTorch's
    assert SGD().weight_decay == RMSProp().weight_decay == Adam().weight_decay == 0.0
    assert AdamW().weight_decay == torch.optim.AdamW([torch.zeros(1)]).defaults["weight_decay"] == 0.01


# --------------------------------------------------------------------------------------------
# train()


class Recorder(Model):
    """A one-parameter model whose loss remembers the batches it was given and the mode it was in."""

    def __init__(self):
        super().__init__()
        self.w = Node(np.zeros(1), "w")
        self.batches, self.modes = [], []

    def loss(self, x, y):
        self.batches.append(np.asarray(y).copy())
        self.modes.append(self.training)
        error = x @ self.w - y
        return (error * error).mean()


def test_minibatches_cover_the_data_each_pass_and_follow_the_rng():
    x, y = np.arange(10.0)[:, None], np.arange(10.0)
    model = Recorder()
    SGD(model, x, y, learning_rate=1e-3, batch_size=4, rng=0).train(steps=6, print_each=None, progress=False)
    sizes = [len(batch) for batch in model.batches]
    assert sizes == [4, 4, 2, 4, 4, 2]
    for epoch in (model.batches[:3], model.batches[3:]):
        assert sorted(np.concatenate(epoch)) == list(range(10))
    assert not np.array_equal(model.batches[0], [0, 1, 2, 3])  # shuffled

    again = Recorder()
    SGD(again, x, y, learning_rate=1e-3, batch_size=4, rng=0).train(steps=6, print_each=None, progress=False)
    for a, b in zip(model.batches, again.batches):
        np.testing.assert_array_equal(a, b)


def test_full_batch_by_default_and_training_mode_while_training():
    x, y = np.ones((5, 1)), np.ones(5)
    model = Recorder().eval()
    SGD(model, x, y).train(steps=2, print_each=None, progress=False)
    assert [len(batch) for batch in model.batches] == [5, 5]
    assert model.modes == [True, True] and not model.training  # the mode it had is restored


def test_err_hist_returns_the_loss_and_parameter_copies_of_every_step():
    x, y = np.ones((5, 1)), np.full(5, 2.0)
    model = Recorder()
    loss, loss_hist, para_hist = SGD(model, x, y, learning_rate=0.1).train(
        steps=3, print_each=None, err_hist=True, progress=False
    )
    np.testing.assert_allclose(loss_hist, [4.0, 2.56, 1.6384])  # w: 0 -> 0.4 -> 0.72 -> 0.976
    assert loss == loss_hist[-1]
    np.testing.assert_allclose([p["w"][0] for p in para_hist], [0.4, 0.72, 0.976])


def test_messages_and_progress_bar(capsys):
    x, y = np.ones((5, 1)), np.ones(5)
    Adam(Recorder(), x, y).train(steps=4, print_each=2)
    out, err = capsys.readouterr()
    assert out.splitlines() == ["step 2/4: loss 0.998001", "step 4/4: loss 0.994009"]  # w = 0.001, 0.003
    assert "Adam" in err and "4/4" in err  # tqdm draws on stderr
    Adam(Recorder(), x, y).train(steps=4, print_each=0, progress=False)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "make",
    [
        lambda m, x, y: SGD(m, x, y, learning_rate=0.1, batch_size=32, rng=0),
        lambda m, x, y: SGD_Momentum(m, x, y, learning_rate=0.02, batch_size=32, rng=0),
        lambda m, x, y: RMSProp(m, x, y, learning_rate=3e-3, batch_size=32, rng=0),
        lambda m, x, y: Adam(m, x, y, learning_rate=1e-2, batch_size=32, rng=0),
    ],
)
def test_each_optimizer_trains_a_small_network(make):
    x, y = make_moons(200, noise=0.1, rng=0)
    model = Sequential([Linear(2, 16, activation=relu, rng=0), Linear(16, 2, rng=1)], loss=cross_entropy)
    first = model.loss(x, y).value.item()
    make(model, x, y).train(steps=300, print_each=None, progress=False)
    assert model.loss(x, y).value.item() < 0.6 * first


@pytest.mark.parametrize(
    "make, attribute, bad, message",
    [
        (lambda: Adam(learning_rate=0.01), "learning_rate", -0.1, "learning_rate must be a number >= 0"),
        (lambda: Adam(learning_rate=0.01), "learning_rate", float("nan"), "learning_rate must be a finite number"),
        (lambda: Adam(learning_rate=0.01), "learning_rate", "0.1", "learning_rate must be a finite number"),
        (lambda: Adam(learning_rate=0.01), "beta1", 1.5, r"beta1 must lie in \[0, 1\)"),
        (lambda: Adam(learning_rate=0.01), "weight_decay", -5.0, "weight_decay"),
        (lambda: RMSProp(learning_rate=0.01), "decay", 2.0, r"decay must lie in \[0, 1\)"),
        (lambda: SGD(learning_rate=0.01, momentum=0.5), "momentum", -1.0, r"momentum must lie in \[0, 1\)"),
    ],
)
def test_a_hyper_parameter_set_as_an_attribute_is_checked_before_the_step_changes_anything(
    make, attribute, bad, message
):
    """`opt.learning_rate = ...` takes effect at the next step; a value the constructor refuses is
    refused there too, and the parameters, the state and the step count stay as they were."""
    rng = np.random.default_rng(0)
    params = {"w": Node(rng.normal(size=(3, 2)), "w")}
    grads = {"w": rng.normal(size=(3, 2))}
    opt = make()
    opt.step(params, grads)
    value, state, steps = params["w"].value.copy(), {k: np.copy(v) for k, v in opt.state["w"].items()}, opt.steps_taken
    setattr(opt, attribute, bad)
    with pytest.raises(ValueError, match=message):
        opt.step(params, grads)
    assert np.array_equal(params["w"].value, value) and opt.steps_taken == steps
    assert all(np.array_equal(opt.state["w"][key], kept) for key, kept in state.items())


def test_a_refused_step_leaves_a_number_parameter_a_number():
    p = Node(np.float64(1.0), "p")
    with pytest.raises(ValueError, match="has shape"):
        SGD(learning_rate=0.1).step({"p": p}, {"p": np.ones(2)})
    assert type(p.value) is np.float64
    SGD(learning_rate=0.1).step({"p": p}, {"p": 1.0})
    assert p.value.shape == () and p.value == 0.9


def test_a_training_step_checks_the_settings_before_it_draws_a_batch_or_runs_the_model():
    """A refused train() leaves the model (BatchNorm's running statistics), the optimizer and the
    order of the minibatches as they were: after the fix, training goes on as if never refused."""
    from dp.nn import BatchNorm, ReLU, mean_squared_error

    def make():
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
        layers = [Linear(3, 4, rng=1), BatchNorm(4), ReLU(), Linear(4, 1, rng=2)]
        net = Sequential(layers, loss=mean_squared_error)
        return net, Adam(net, x, y, learning_rate=0.01, batch_size=8, rng=0)

    net, opt = make()
    opt.train(2, progress=False)
    running = np.copy(net.layers[1].running_mean)
    opt.learning_rate = -1.0
    with pytest.raises(ValueError, match="learning_rate must be a number >= 0"):
        opt.train(1, progress=False)
    assert np.array_equal(net.layers[1].running_mean, running) and opt.steps_taken == 2
    opt.learning_rate = 0.01
    interrupted = opt.train(2, progress=False, err_hist=True)[1]

    net, opt = make()
    opt.train(2, progress=False)
    assert opt.train(2, progress=False, err_hist=True)[1] == interrupted


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda opt: opt.groups[0].update(learning_rate="0.2"), "group 0: learning_rate must be a finite number"),
        (lambda opt: opt.groups[0].update(learning_rate=-5.0), "group 0: learning_rate must be a number >= 0"),
        (lambda opt: setattr(opt, "clip_grad_norm", -1.0), "clip_grad_norm must be a positive number"),
        (lambda opt: setattr(opt, "schedule", "cosine"), "schedule must be a dp.nn schedule"),
    ],
)
def test_groups_clipping_and_the_schedule_are_checked_again_at_each_step(change, message):
    params = {"p": Node(np.float64(1.0), "p"), "q": Node(np.ones(2), "q")}
    opt = SGD(learning_rate=0.1, groups=[{"params": ["q"], "learning_rate": 0.2}])
    change(opt)
    with pytest.raises((ValueError, TypeError), match=message):
        opt.step(params, {"p": 1.0, "q": np.ones(2)})
    assert type(params["p"].value) is np.float64 and params["p"].value == 1.0  # nothing moved, nothing converted
    assert np.array_equal(params["q"].value, np.ones(2)) and opt.steps_taken == 0


def test_a_learning_rate_of_zero_freezes_as_in_pytorch():
    p = Node(np.ones(2), "p")
    opt = SGD(learning_rate=0.0)
    opt.step({"p": p}, {"p": np.ones(2)})
    assert np.array_equal(p.value, np.ones(2))
    opt = SGD(learning_rate=0.1, groups=[{"params": ["p"], "learning_rate": 0.0}])
    opt.step({"p": p}, {"p": np.ones(2)})
    assert np.array_equal(p.value, np.ones(2))


def test_pytorchs_attribute_names_and_a_seed_set_later_are_taken_as_the_constructor_takes_them():
    opt = Adam(learning_rate=0.01)
    for torch_name, ours in [("lr", "learning_rate"), ("betas", "beta1 and beta2"), ("alpha", "decay")]:
        with pytest.raises(AttributeError, match=f"PyTorch's '{torch_name}' is '{ours}' in dp"):
            setattr(opt, torch_name, 0.5)
    opt.rng = 7  # a seed becomes a Generator, so that each pass shuffles anew
    assert isinstance(opt.rng, np.random.Generator)
    with pytest.raises(TypeError, match="Adam: rng must be a numpy.random.Generator"):
        opt.rng = "seven"


def test_groups_set_later_are_checked_and_assigned_as_when_the_optimizer_is_made():
    from dp.nn import mean_squared_error

    x, y = np.ones((4, 2)), np.zeros((4, 1))
    net = Sequential([Linear(2, 1, rng=0)], loss=mean_squared_error)
    opt = SGD(net, x, y, learning_rate=0.1)
    opt.groups = [{"params": ["0.W"], "learning_rate": 0.0}]  # freeze W only
    w, b = net.parameters()["0.W"].value.copy(), net.parameters()["0.b"].value.copy()
    opt.train(1, progress=False)
    assert np.array_equal(net.parameters()["0.W"].value, w) and not np.array_equal(net.parameters()["0.b"].value, b)
    for groups, message in [
        ([{"params": ["nope"], "weight_decay": 0.0}], r"group 0 names \['nope'\], which are not among"),
        ([{"params": ["0.W"], "lr": 0.0}], "PyTorch's 'lr' is 'learning_rate' here"),
    ]:
        opt.groups = groups
        with pytest.raises(ValueError, match=message):
            opt.train(1, progress=False)
    assert opt.steps_taken == 1


def test_a_schedules_bad_value_is_refused_before_the_training_step_draws_its_batch():
    from dp.nn import LambdaLR, mean_squared_error

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 2)), rng.normal(size=(8, 1))

    def run(refuse: bool) -> float:
        net = Sequential([Linear(2, 1, rng=0)], loss=mean_squared_error)
        opt = SGD(net, x, y, learning_rate=0.1, batch_size=2, rng=0)
        opt.train(1, progress=False)
        if refuse:
            opt.schedule = LambdaLR(lambda step: -1.0)
            with pytest.raises(ValueError, match="must be a finite number >= 0"):
                opt.train(1, progress=False)
            opt.schedule = None
        return opt.train(1, progress=False)

    assert run(refuse=True) == run(refuse=False)  # the refused call drew no minibatch


def test_a_users_optimizer_may_name_a_hyper_parameter_as_pytorch_does():
    from dp.nn import Optimizer

    class Scaled(Optimizer):
        hyper_parameters = (*Optimizer.hyper_parameters, "alpha")

        def __init__(self, learning_rate=0.1, *, alpha=0.5):
            self.alpha = alpha
            super().__init__(learning_rate=learning_rate)

        def _check_hyper(self, hyper, who):
            return super()._check_hyper(hyper, who) | {"alpha": float(hyper["alpha"])}

        def _update(self, param, grad, state, hyper):
            param -= hyper["learning_rate"] * hyper["alpha"] * grad

    p = Node(np.ones(2), "p")
    Scaled().step({"p": p}, {"p": np.ones(2)})
    assert np.allclose(p.value, 0.95)
