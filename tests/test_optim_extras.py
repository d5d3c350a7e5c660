"""The training extras against PyTorch: weight decay (random hyper-parameters), gradient clipping,
learning-rate schedules, parameter groups, models without labels and the empty parameter list.

Every comparison starts dp and torch.optim from the same parameters, feeds both the same gradients
for several steps and asks for the same parameters (and learning rates) after each, in float64 to
1e-10."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dp import Node
from dp.data import minibatches
from dp.nn import SGD, Adam, BatchNorm, Linear, Model, Momentum, RMSProp, Sequential, cross_entropy, relu
from dp.nn.optim import AdamW, clip_grad_norm
from dp.nn.schedules import CosineAnnealingLR, LambdaLR, LinearLR, Schedule, SequentialLR, StepLR
from _models import Recorder

lr_scheduler = torch.optim.lr_scheduler
TIGHT = dict(rtol=1e-10, atol=1e-12)


def gradient(p, noise):
    """A bounded gradient that depends on where the parameters are, so that any difference grows."""
    return np.sin(3 * p) + noise


def start(shapes, seed=0):
    rng = np.random.default_rng(seed)
    params = {name: rng.standard_normal(shape) for name, shape in shapes.items()}
    tensors = {name: torch.tensor(value.copy(), requires_grad=True) for name, value in params.items()}
    return params, tensors, rng


def same_steps(ours, params, theirs, tensors, rng, steps, scheduler=None, clip=None):
    """Take `steps` steps with dp's optimizer and torch's on the same gradients; compare the
    learning rates before every step and the parameters after it."""
    for step in range(steps):
        if scheduler is not None:
            assert ours.learning_rates() == pytest.approx(scheduler.get_last_lr(), rel=1e-12, abs=1e-15), step
        noise = {name: rng.standard_normal(value.shape) for name, value in params.items()}
        ours.step(params, {name: gradient(value, noise[name]) for name, value in params.items()})
        for name, tensor in tensors.items():
            tensor.grad = torch.tensor(gradient(tensor.detach().numpy(), noise[name]))
        if clip is not None:
            total = torch.nn.utils.clip_grad_norm_(list(tensors.values()), clip)
            assert ours.last_grad_norm == pytest.approx(total.item(), rel=1e-12)
        theirs.step()
        if scheduler is not None:
            scheduler.step()
        for name, value in params.items():
            np.testing.assert_allclose(value, tensors[name].detach().numpy(), **TIGHT, err_msg=f"{name} step {step}")
    assert ours.steps_taken == steps


# --------------------------------------------------------------------------------------------
# Weight decay, over random hyper-parameters and shapes

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)
rates = st.floats(1e-3, 0.3)
decays = st.floats(0.0, 0.5)
fractions = st.floats(0.0, 0.95)


@st.composite
def rules(draw):
    """(dp optimizer, torch optimizer factory) with the same random hyper-parameters."""
    kind = draw(st.sampled_from(["SGD", "RMSProp", "Adam", "AdamW"]))
    lr, wd = draw(rates), draw(decays)
    if kind == "SGD":
        momentum = draw(fractions)
        nesterov = momentum > 0 and draw(st.booleans())
        return (
            SGD(learning_rate=lr, momentum=momentum, nesterov=nesterov, weight_decay=wd),
            lambda p: torch.optim.SGD(p, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=wd),
        )
    eps = draw(st.floats(1e-8, 1e-3))
    if kind == "RMSProp":
        decay = draw(st.floats(0.5, 0.99))
        return (
            RMSProp(learning_rate=lr, decay=decay, eps=eps, weight_decay=wd),
            lambda p: torch.optim.RMSprop(p, lr=lr, alpha=decay, eps=eps, weight_decay=wd),
        )
    beta1, beta2 = draw(fractions), draw(st.floats(0.5, 0.999))
    ours, theirs = (Adam, torch.optim.Adam) if kind == "Adam" else (AdamW, torch.optim.AdamW)
    return (
        ours(learning_rate=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=wd),
        lambda p: theirs(p, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd),
    )


@given(rule=rules(), shape_w=shapes, shape_b=shapes, seed=st.integers(0, 2**16))
def test_weight_decay_matches_pytorch_for_random_hyper_parameters(rule, shape_w, shape_b, seed):
    ours, make_theirs = rule
    params, tensors, rng = start({"w": shape_w, "b": shape_b}, seed)
    same_steps(ours, params, make_theirs(list(tensors.values())), tensors, rng, steps=8)


def test_float32_parameters_stay_float32_and_agree_with_pytorch():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    tensor = torch.tensor(w.copy(), requires_grad=True)
    ours, theirs = (
        AdamW(learning_rate=0.05, weight_decay=0.1, clip_grad_norm=0.5),
        torch.optim.AdamW([tensor], lr=0.05, weight_decay=0.1),
    )
    for _ in range(10):
        g = (np.cos(w) + rng.standard_normal(w.shape)).astype(np.float32)
        tensor.grad = torch.tensor(g.copy())  # the same gradient: the parameters agree only to float32 rounding
        ours.step({"w": w}, {"w": g})
        torch.nn.utils.clip_grad_norm_([tensor], 0.5)
        theirs.step()
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, tensor.detach().numpy(), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------------
# clip_grad_norm


@given(
    shapes=st.lists(shapes, min_size=1, max_size=4),
    norm_type=st.sampled_from([0.5, 1.0, 2.0, 3.0, math.inf]),
    ratio=st.sampled_from([0.01, 0.5, 0.999, 1.0, 2.0]),
    seed=st.integers(0, 2**16),
)
def test_clip_grad_norm_matches_pytorch(shapes, norm_type, ratio, seed):
    rng = np.random.default_rng(seed)
    grads = {f"g{index}": rng.standard_normal(shape) * 3 for index, shape in enumerate(shapes)}
    given, copies = dict(grads), {name: value.copy() for name, value in grads.items()}
    tensors = [torch.zeros(value.shape, dtype=torch.float64, requires_grad=True) for value in grads.values()]
    for tensor, value in zip(tensors, grads.values()):
        tensor.grad = torch.tensor(value.copy())
    exact = np.linalg.norm(np.concatenate([value.ravel() for value in grads.values()]), norm_type)
    max_norm = max(ratio * exact, 1e-3)
    expected = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type=norm_type).item()
    total = clip_grad_norm(grads, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(expected, rel=1e-12, abs=1e-300)
    for (name, value), tensor in zip(grads.items(), tensors):
        np.testing.assert_allclose(value, tensor.grad.numpy(), **TIGHT, err_msg=name)
        np.testing.assert_array_equal(given[name], copies[name])  # the arrays given are never written to
    clipped = np.linalg.norm(np.concatenate([value.ravel() for value in grads.values()]), norm_type)
    assert clipped <= max_norm * (1 + 1e-12)


def test_clip_grad_norm_scales_exactly_when_pytorch_does_and_replaces_the_entries():
    g = np.array([3.0, 4.0])  # norm 5
    # PyTorch's factor max_norm / (total + 1e-6) is below 1 for a total a hair under max_norm too
    for max_norm, scales in ((5.0 + 5e-7, True), (10.0, False), (5.0, True), (1.0, True)):
        grads = {"g": g}
        tensor = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        tensor.grad = torch.tensor(g)
        torch.nn.utils.clip_grad_norm_([tensor], max_norm)
        assert clip_grad_norm(grads, max_norm) == 5.0
        np.testing.assert_allclose(grads["g"], tensor.grad.numpy(), **TIGHT)
        assert (not np.array_equal(tensor.grad.numpy(), g)) == scales
        assert (grads["g"] is not g) == scales  # a new array only when scaled
    np.testing.assert_array_equal(g, [3.0, 4.0])  # the array given is never written to


def test_clip_grad_norm_takes_read_only_views_integers_nodes_and_keeps_float32():
    frozen = np.arange(4.0)
    frozen.flags.writeable = False
    grads = {"frozen": frozen[::2], "ints": np.array([3, 4]), "node": Node(np.ones(2, dtype=np.float32))}
    total = clip_grad_norm(grads, 1.0)
    np.testing.assert_allclose(total, math.sqrt(0 + 4 + 9 + 16 + 2))
    factor = 1.0 / (total + 1e-6)
    np.testing.assert_allclose(grads["frozen"], [0.0, 2 * factor], **TIGHT)
    np.testing.assert_allclose(grads["ints"], [3 * factor, 4 * factor], **TIGHT)
    assert grads["node"].dtype == np.float32
    np.testing.assert_allclose(grads["node"], factor, rtol=1e-6)


def test_clip_grad_norm_of_non_finite_gradients_as_pytorch_or_an_error():
    for bad in (np.nan, np.inf):
        grads = {"a": np.array([1.0, bad]), "b": np.array([2.0])}
        tensors = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in grads.values()]
        for tensor, value in zip(tensors, grads.values()):
            tensor.grad = torch.tensor(value)
        torch.nn.utils.clip_grad_norm_(tensors, 1.0)
        with pytest.raises(ValueError, match="non-finite|cannot be clipped"):
            clip_grad_norm(dict(grads), 1.0, error_if_nonfinite=True)
        clip_grad_norm(grads, 1.0)
        for value, tensor in zip(grads.values(), tensors):
            np.testing.assert_array_equal(value, tensor.grad.numpy())


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda g: clip_grad_norm(g, 0.0), ValueError, "max_norm must be a positive number, got 0.0"),
        (lambda g: clip_grad_norm(g, -1.0), ValueError, "max_norm"),
        (lambda g: clip_grad_norm(g, math.nan), ValueError, "max_norm"),
        (lambda g: clip_grad_norm(g, "1"), ValueError, "max_norm"),
        (lambda g: clip_grad_norm(g, 1.0, norm_type=0), ValueError, "norm_type"),
        (lambda g: clip_grad_norm(g, 1.0, norm_type=True), ValueError, "norm_type"),
        (lambda g: clip_grad_norm(list(g.values()), 1.0), TypeError, "dict name -> gradient"),
        (lambda g: clip_grad_norm({**g, "z": np.array(["a"])}, 1.0), TypeError, "'z' must be numbers"),
    ],
)
def test_clip_grad_norm_refuses_bad_input_and_changes_nothing(call, error, message):
    big = np.full(3, 10.0)
    grads = {"a": big}
    with pytest.raises(error, match=message):
        call(grads)
    assert grads["a"] is big
    np.testing.assert_array_equal(big, 10.0)


@pytest.mark.parametrize(
    "max_norm, make_ours, make_theirs",
    [
        (
            0.7,
            lambda m: SGD(learning_rate=0.1, momentum=0.5, weight_decay=0.2, clip_grad_norm=m),
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5, weight_decay=0.2),
        ),
        (
            0.3,
            lambda m: Adam(learning_rate=0.05, weight_decay=0.1, clip_grad_norm=m),
            lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.1),
        ),
        (
            100.0,
            lambda m: RMSProp(learning_rate=0.01, clip_grad_norm=m),  # a max_norm that never clips
            lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9),
        ),  # dp's default decay
    ],
)
def test_the_clip_option_clips_before_the_update_as_clip_grad_norm_then_step(max_norm, make_ours, make_theirs):
    """The clipping comes before the L2 term, as PyTorch's clip_grad_norm_ before optimizer.step()."""
    params, tensors, rng = start({"W": (4, 3), "b": (3,)})
    same_steps(make_ours(max_norm), params, make_theirs(list(tensors.values())), tensors, rng, steps=10, clip=max_norm)


# --------------------------------------------------------------------------------------------
# Learning-rate schedules

SCHEDULES = {  # dp's schedule, the same in PyTorch, on an optimizer
    "StepLR": (lambda: StepLR(3, gamma=0.5), lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5)),
    "StepLR default gamma": (lambda: StepLR(4), lambda o: lr_scheduler.StepLR(o, 4)),
    "cosine past T_max": (
        lambda: CosineAnnealingLR(7, eta_min=0.01),
        lambda o: lr_scheduler.CosineAnnealingLR(o, 7, eta_min=0.01),
    ),
    "cosine to 0": (lambda: CosineAnnealingLR(20), lambda o: lr_scheduler.CosineAnnealingLR(o, 20)),
    "linear warm-up": (lambda: LinearLR(0.1, total_iters=4), lambda o: lr_scheduler.LinearLR(o, 0.1, total_iters=4)),
    "linear defaults": (lambda: LinearLR(), lambda o: lr_scheduler.LinearLR(o)),
    "linear decay": (lambda: LinearLR(1.0, 0.2, total_iters=6), lambda o: lr_scheduler.LinearLR(o, 1.0, 0.2, 6)),
    "lambda": (lambda: LambdaLR(lambda t: 0.9**t), lambda o: lr_scheduler.LambdaLR(o, lambda t: 0.9**t)),
    "warm-up then cosine": (
        lambda: SequentialLR([LinearLR(0.01, total_iters=5), CosineAnnealingLR(T_max=15)], milestones=[5]),
        lambda o: lr_scheduler.SequentialLR(
            o,
            [lr_scheduler.LinearLR(o, 0.01, total_iters=5), lr_scheduler.CosineAnnealingLR(o, T_max=15)],
            milestones=[5],
        ),
    ),
    "three in a row": (
        lambda: SequentialLR([LinearLR(0.5, total_iters=3), StepLR(2, 0.7), CosineAnnealingLR(6, 0.001)], [3, 9]),
        lambda o: lr_scheduler.SequentialLR(
            o,
            [
                lr_scheduler.LinearLR(o, 0.5, total_iters=3),
                lr_scheduler.StepLR(o, 2, 0.7),
                lr_scheduler.CosineAnnealingLR(o, 6, 0.001),
            ],
            milestones=[3, 9],
        ),
    ),
}


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("rule", ["SGD momentum", "AdamW"])
def test_schedules_match_pytorch_step_for_step(schedule, rule):
    make_ours, make_theirs = SCHEDULES[schedule]
    params, tensors, rng = start({"W": (3, 2), "b": (2,)})
    if rule == "SGD momentum":
        ours = SGD(learning_rate=0.1, momentum=0.9, schedule=make_ours())
        optimizer = torch.optim.SGD(list(tensors.values()), lr=0.1, momentum=0.9)
    else:
        ours = AdamW(learning_rate=0.05, weight_decay=0.3, schedule=make_ours())  # the decay follows the rate too
        optimizer = torch.optim.AdamW(list(tensors.values()), lr=0.05, weight_decay=0.3)
    scheduler = make_theirs(optimizer)
    same_steps(ours, params, optimizer, tensors, rng, steps=20, scheduler=scheduler)


def test_a_schedule_is_a_function_of_the_step_and_the_base_rate():
    warm_up = LinearLR(0.25, total_iters=4)
    assert [warm_up(t, 0.4) for t in range(6)] == pytest.approx([0.1, 0.175, 0.25, 0.325, 0.4, 0.4])
    cosine = CosineAnnealingLR(T_max=4, eta_min=0.1)
    assert [cosine(t, 1.0) for t in (0, 2, 4, 8)] == pytest.approx([1.0, 0.55, 0.1, 1.0])
    assert [StepLR(2, 0.5)(t, 8.0) for t in range(6)] == [8.0, 8.0, 4.0, 4.0, 2.0, 2.0]
    both = SequentialLR([warm_up, cosine], milestones=[4])
    assert both(3, 0.4) == warm_up(3, 0.4) and both(4, 1.0) == 1.0 and both(6, 1.0) == cosine(2, 1.0)
    assert "LinearLR(start_factor=0.25" in repr(both)


def test_train_advances_the_schedule_once_a_step_and_goes_on_at_the_next_call():
    x, y = np.ones((8, 1)), np.ones(8)
    asked = []  # the steps the optimizer asks the schedule for

    class Logged(StepLR):
        def __call__(self, step, base_lr):
            asked.append(step)
            return super().__call__(step, base_lr)

    optimizer = SGD(Recorder(), x, y, learning_rate=0.1, batch_size=3, rng=0, schedule=Logged(2))
    optimizer.train(steps=3, print_each=None, progress=False)
    assert asked == [0, 1, 2] and optimizer.steps_taken == 3
    optimizer.train(steps=2, print_each=None, progress=False)
    assert asked == [0, 1, 2, 3, 4] and optimizer.steps_taken == 5
    assert optimizer.learning_rates() == pytest.approx([0.1 * 0.1**2])  # step 5 of StepLR(2)


def test_the_schedule_follows_a_learning_rate_changed_by_hand():
    optimizer = SGD(learning_rate=0.1, schedule=StepLR(1, 0.5))
    w = np.zeros(1)
    optimizer.step({"w": w}, {"w": np.ones(1)})
    optimizer.learning_rate = 1.0  # as the demo does for its own schedule
    assert optimizer.learning_rates() == [0.5]
    optimizer.step({"w": w}, {"w": np.ones(1)})
    np.testing.assert_allclose(w, [-0.1 - 0.5])


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: StepLR(0), ValueError, "StepLR: step_size must be a positive integer, got 0"),
        (lambda: StepLR(2.5), ValueError, "step_size"),
        (lambda: StepLR(2, gamma=0.0), ValueError, "StepLR: gamma must be a positive number"),
        (lambda: CosineAnnealingLR(0), ValueError, "T_max"),
        (lambda: CosineAnnealingLR(5, eta_min=-1e-3), ValueError, "eta_min must be a number >= 0"),
        (lambda: LinearLR(start_factor=0.0), ValueError, r"start_factor must lie in \(0, 1\]"),
        (lambda: LinearLR(start_factor=1.5), ValueError, "start_factor"),
        (lambda: LinearLR(end_factor=1.5), ValueError, r"end_factor must lie in \[0, 1\]"),
        (lambda: LinearLR(total_iters=0), ValueError, "total_iters"),
        (lambda: LinearLR(start_factor=True), ValueError, "start_factor must be a finite number"),
        (lambda: LambdaLR(0.5), TypeError, "lr_lambda must be a function"),
        (lambda: SequentialLR([], []), TypeError, "non-empty list of schedules"),
        (lambda: SequentialLR(StepLR(2), []), TypeError, "list of schedules"),
        (lambda: SequentialLR([StepLR(2), "cosine"], [3]), TypeError, r"schedules\[1\] is a str"),
        (lambda: SequentialLR([StepLR(2), StepLR(3)], []), ValueError, "2 schedules need 1 milestone"),
        (lambda: SequentialLR([StepLR(2)] * 3, [5, 5]), ValueError, "milestones must increase"),
        (lambda: SequentialLR([StepLR(2)] * 2, [0]), ValueError, "milestone must be a positive integer"),
        (lambda: SGD(schedule=lambda step, lr: lr), TypeError, "LambdaLR"),
        (lambda: Schedule()(0, 0.1), NotImplementedError, "__call__"),
    ],
)
def test_bad_schedules_are_explained(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_step_whose_schedule_fails_changes_nothing():
    optimizer = Adam(learning_rate=0.1, schedule=LambdaLR(lambda t: 1.0 if t == 0 else -1.0))
    w = np.ones(2)
    optimizer.step({"w": w}, {"w": np.ones(2)})
    before, state = w.copy(), {key: np.copy(value) for key, value in optimizer.state["w"].items()}
    with pytest.raises(ValueError, match=r"lr_lambda\(1\) must be a finite number >= 0, got -1.0"):
        optimizer.step({"w": w}, {"w": np.ones(2)})
    np.testing.assert_array_equal(w, before)
    assert optimizer.steps_taken == 1
    for key, value in optimizer.state["w"].items():
        np.testing.assert_array_equal(value, state[key])


# --------------------------------------------------------------------------------------------
# Parameter groups

SHAPES = {"W1": (4, 3), "b1": (3,), "W2": (3, 2), "b2": (2,), "gamma": (2,)}


def torch_groups(tensors, groups):
    """torch's param groups: each dp group's tensors with its settings, then the rest."""
    used, result = set(), []
    for names, settings in groups:
        result.append({"params": [tensors[name] for name in names], **settings})
        used.update(names)
    result.append({"params": [tensor for name, tensor in tensors.items() if name not in used]})
    return result


GROUPS = {  # dp's optimizer (with groups), torch's optimizer, the groups in torch's terms
    "SGD: no decay on biases and norms": (
        lambda: SGD(
            learning_rate=0.1,
            momentum=0.9,
            weight_decay=0.3,
            groups=[{"params": lambda name: name.startswith("b") or name == "gamma", "weight_decay": 0.0}],
        ),
        lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9, weight_decay=0.3),
        [(["b1", "b2", "gamma"], {"weight_decay": 0.0})],
    ),
    "SGD: own rates, momentum and Nesterov": (
        lambda: SGD(
            learning_rate=0.1,
            weight_decay=0.1,
            groups=[
                {"params": ["W2"], "learning_rate": 0.02, "momentum": 0.5, "nesterov": True},
                {"params": ("b1", "b2"), "weight_decay": 0.0},
            ],
        ),
        lambda g: torch.optim.SGD(g, lr=0.1, weight_decay=0.1),
        [(["W2"], {"lr": 0.02, "momentum": 0.5, "nesterov": True}), (["b1", "b2"], {"weight_decay": 0.0})],
    ),
    "RMSProp": (
        lambda: RMSProp(learning_rate=0.01, weight_decay=0.2, groups=[{"params": "gamma", "decay": 0.5, "eps": 1e-4}]),
        lambda g: torch.optim.RMSprop(g, lr=0.01, alpha=0.9, weight_decay=0.2),  # dp's default decay is 0.9
        [(["gamma"], {"alpha": 0.5, "eps": 1e-4})],
    ),
    "Adam": (
        lambda: Adam(
            learning_rate=0.03, weight_decay=0.1, groups=[{"params": ["W1", "W2"], "beta1": 0.5, "learning_rate": 0.01}]
        ),
        lambda g: torch.optim.Adam(g, lr=0.03, weight_decay=0.1),
        [(["W1", "W2"], {"betas": (0.5, 0.999), "lr": 0.01})],
    ),
    "AdamW with a schedule": (
        lambda: AdamW(
            learning_rate=0.03,
            weight_decay=0.2,
            schedule=CosineAnnealingLR(8),
            groups=[{"params": ["b1", "b2", "gamma"], "weight_decay": 0.0, "learning_rate": 0.1}],
        ),
        lambda g: torch.optim.AdamW(g, lr=0.03, weight_decay=0.2),
        [(["b1", "b2", "gamma"], {"weight_decay": 0.0, "lr": 0.1})],
    ),
}


@pytest.mark.parametrize("case", GROUPS)
def test_groups_match_pytorch_param_groups(case):
    make_ours, make_theirs, groups = GROUPS[case]
    params, tensors, rng = start(SHAPES)
    ours, theirs = make_ours(), make_theirs(torch_groups(tensors, groups))
    scheduler = lr_scheduler.CosineAnnealingLR(theirs, 8) if ours.schedule is not None else None
    if scheduler is None:
        assert ours.learning_rates() == [group["lr"] for group in theirs.param_groups]
    same_steps(ours, params, theirs, tensors, rng, steps=12, scheduler=scheduler)


def test_groups_take_named_nodes_and_follow_defaults_changed_by_hand():
    model = Sequential([Linear(2, 2, rng=0), BatchNorm(2)])
    bias, norm = model[0].b, model[1].gamma
    optimizer = SGD(model, learning_rate=0.1, weight_decay=1.0, groups=[{"params": [bias, norm], "learning_rate": 0.5}])
    assert optimizer.groups[0]["params"] == ("0.b", "1.gamma")
    optimizer.weight_decay = 0.0  # a group without its own weight_decay follows the optimizer's
    before = {name: value.copy() for name, value in model.get_param().items()}
    optimizer.step(model, {name: np.ones_like(value) for name, value in before.items()})
    after = model.get_param()
    np.testing.assert_allclose(after["0.b"], before["0.b"] - 0.5)
    np.testing.assert_allclose(after["1.gamma"], before["1.gamma"] - 0.5)
    np.testing.assert_allclose(after["0.W"], before["0.W"] - 0.1)


TWO = Sequential([Linear(2, 2, rng=0), Linear(2, 1, rng=1)])  # parameters 0.W, 0.b, 1.W, 1.b


@pytest.mark.parametrize(
    "groups, error, message",
    [
        ({"params": ["0.b"]}, TypeError, "groups must be a list of dicts"),
        ([["0.b"]], TypeError, "group 0 must be a dict"),
        (
            [{"params": ["0.b"], "lr": 0.1}],
            ValueError,
            r"group 0 has unknown key\(s\) \['lr'\].*PyTorch's 'lr' is "
            "'learning_rate' here",
        ),
        ([{"params": ["0.b"], "betas": (0.9, 0.99)}], ValueError, "'betas' is 'beta1 and beta2'"),
        ([{"weight_decay": 0.0}], ValueError, "group 0 has no 'params'"),
        ([{"params": 3}], TypeError, "'params' must be a list of parameter names or a predicate"),
        ([{"params": [3]}], TypeError, "not a parameter name"),
        ([{"params": [Node(1.0)]}], TypeError, "not a parameter name"),
        ([{"params": []}], ValueError, "'params' is empty"),
        ([{"params": ["0.b", "0.b"]}], ValueError, "lists '0.b' twice"),
        (
            [{"params": ["0.bias"]}],
            ValueError,
            r"group 0 names \['0.bias'\], which are not among the parameters "
            r"\['0.W', '0.b', '1.W', '1.b'\]",
        ),
        ([{"params": lambda name: name.endswith(".bias")}], ValueError, "group 0's predicate matches none"),
        (
            [{"params": ["0.b"]}, {"params": lambda name: name.endswith(".b")}],
            ValueError,
            "parameter '0.b' is in group 0 and in group 1",
        ),
        ([{"params": ["0.b"], "weight_decay": -0.1}], ValueError, "SGD: group 0: weight_decay must be a number >= 0"),
        ([{"params": ["0.b"], "learning_rate": -1}], ValueError, "group 0: learning_rate must be a number >= 0"),
        (
            [{"params": ["0.b"]}, {"params": ["1.b"], "momentum": 1.5}],
            ValueError,
            r"group 1: momentum must lie in \[0, 1\)",
        ),
        ([{"params": ["0.b"], "nesterov": True}], ValueError, "group 0: nesterov=True needs a momentum > 0"),
        ([{"params": ["0.b"], "nesterov": "yes"}], TypeError, "nesterov must be True or False"),
    ],
)
def test_bad_groups_are_explained_when_the_optimizer_is_made(groups, error, message):
    with pytest.raises(error, match=message):
        SGD(TWO, learning_rate=0.1, groups=groups)


def test_without_a_model_groups_are_checked_at_the_first_step_and_a_rejected_step_changes_nothing():
    params = {"w": np.ones(2), "b": np.ones(2)}
    optimizer = Adam(learning_rate=0.1, groups=[{"params": ["w", "bias"], "weight_decay": 0.1}])
    with pytest.raises(ValueError, match=r"names \['bias'\], which are not among the parameters \['w', 'b'\]"):
        optimizer.step(params, {"w": np.ones(2), "b": np.ones(2)})
    np.testing.assert_array_equal(params["w"], 1.0)
    np.testing.assert_array_equal(params["b"], 1.0)
    assert optimizer.state == {} and optimizer.steps_taken == 0


# --------------------------------------------------------------------------------------------
# Models without labels


class TinyVAE(Model):
    """A variational autoencoder of 4-d data with a 2-d code: loss(self, x), no labels. The noise
    of the reparametrisation is drawn by the model's rng (the same draws go into PyTorch)."""

    def __init__(self):
        super().__init__(rng=0)
        self.encoder = Linear(4, 4, rng=1)  # mean and log-variance of the code
        self.decoder = Linear(2, 4, rng=2)
        self.noises = []

    def loss(self, x):
        h = self.encoder(x)
        mean, log_var = h[:, :2], h[:, 2:]
        noise = self.rng.standard_normal(mean.shape)
        self.noises.append(noise)
        z = mean + (0.5 * log_var).exp() * noise
        error = self.decoder(z) - x
        kl = -0.5 * (1 + log_var - mean * mean - log_var.exp()).sum()
        return (error * error).sum() + kl


def test_a_model_without_labels_trains_with_x_alone():
    x = np.random.default_rng(3).standard_normal((40, 4))
    model = TinyVAE()
    optimizer = Adam(model, x, learning_rate=0.01, batch_size=16, rng=0)
    loss, losses, _ = optimizer.train(steps=150, print_each=None, progress=False, err_hist=True)
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    assert [len(noise) for noise in model.noises[:4]] == [16, 16, 8, 16]  # minibatches of x alone


def test_the_gradient_of_a_model_without_labels_matches_pytorch():
    x = np.random.default_rng(4).standard_normal((5, 4))
    model = TinyVAE()
    grads, loss = model.get_grad(x)
    p = {name: torch.tensor(value, requires_grad=True) for name, value in model.get_param().items()}
    h = torch.tensor(x) @ p["encoder.W"] + p["encoder.b"]
    mean, log_var = h[:, :2], h[:, 2:]
    z = mean + torch.exp(0.5 * log_var) * torch.tensor(model.noises[-1])
    error = z @ p["decoder.W"] + p["decoder.b"] - torch.tensor(x)
    expected = (error**2).sum() - 0.5 * (1 + log_var - mean**2 - log_var.exp()).sum()
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    for name, tensor in p.items():
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), **TIGHT, err_msg=name)


def test_labels_where_none_are_taken_and_none_where_they_are_needed_are_refused_at_once():
    x = np.zeros((6, 4))
    with pytest.raises(TypeError, match=r"TinyVAE.loss\(x\) takes no labels, but y was given"):
        Adam(TinyVAE(), x, np.zeros(6))
    labelled = Sequential([Linear(4, 2)], loss=cross_entropy)
    with pytest.raises(TypeError, match=r"needs labels, but no y was given.*define loss\(self, x\)"):
        SGD(labelled, x)


def test_minibatches_of_x_alone_cover_the_data_in_the_order_of_the_pairs():
    x, y = np.arange(10.0)[:, None], np.arange(10)
    alone = list(minibatches(x, None, 4, rng=7))
    pairs = list(minibatches(x, y, 4, rng=7))
    assert [len(batch) for batch in alone] == [4, 4, 2]
    for batch, (xb, _) in zip(alone, pairs):
        assert isinstance(batch, np.ndarray)
        np.testing.assert_array_equal(batch, xb)
    with pytest.raises(ValueError, match="batch_size"):
        minibatches(x, None, 0)


# --------------------------------------------------------------------------------------------
# A model with no parameters


class Unnamed(Model):
    """The mistake PyTorch reports as "an empty parameter list": every Node left unnamed."""

    def __init__(self):
        super().__init__()
        self.w = Node(np.zeros(2))

    def loss(self, x, y):
        return ((x @ self.w - y) ** 2).sum()


@pytest.mark.parametrize("make", [SGD, Momentum, RMSProp, Adam, AdamW])
def test_an_optimizer_refuses_a_model_without_parameters(make):
    x, y = np.ones((3, 2)), np.ones(3)
    with pytest.raises(ValueError, match=r"empty parameter list.*Node\(w, \"w\"\).*every Node was left unnamed"):
        make(Unnamed(), x, y)
    with pytest.raises(ValueError, match="empty parameter list"):
        make().step(Unnamed(), {})


# --------------------------------------------------------------------------------------------
# Rejected calls, and everything at once


def test_a_rejected_step_does_not_advance_or_clip():
    optimizer = SGD(learning_rate=0.1, clip_grad_norm=1.0, schedule=StepLR(1))
    params = {"w": np.ones(2)}
    with pytest.raises(ValueError, match="shape"):
        optimizer.step(params, {"w": np.ones(3)})
    assert optimizer.steps_taken == 0 and optimizer.last_grad_norm is None
    np.testing.assert_array_equal(params["w"], 1.0)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD(weight_decay=-1e-4), "SGD: weight_decay must be a number >= 0, got -0.0001"),
        (lambda: AdamW(weight_decay=math.inf), "AdamW: weight_decay must be a finite number"),
        (lambda: Adam(weight_decay="0.1"), "weight_decay"),
        (lambda: RMSProp(clip_grad_norm=0), "RMSProp: clip_grad_norm must be a positive number, got 0"),
        (lambda: SGD(clip_grad_norm=-1.0), "clip_grad_norm"),
        (lambda: SGD(learning_rate=math.nan), "learning_rate"),
    ],
)
def test_bad_training_options_are_explained(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_momentum_weight_decay_and_clipping_together_still_train_a_network():
    from dp.data import make_moons

    x, y = make_moons(200, noise=0.1, rng=0)
    model = Sequential([Linear(2, 16, activation=relu, rng=0), Linear(16, 2, rng=1)], loss=cross_entropy)
    first = model.loss(x, y).value.item()
    warm_up_then_cosine = SequentialLR([LinearLR(0.1, total_iters=20), CosineAnnealingLR(280)], [20])
    AdamW(
        model,
        x,
        y,
        learning_rate=0.02,
        batch_size=32,
        rng=0,
        clip_grad_norm=1.0,
        schedule=warm_up_then_cosine,
        groups=[{"params": lambda name: name.endswith(".b"), "weight_decay": 0.0}],
    ).train(steps=300, print_each=None, progress=False)
    assert model.loss(x, y).value.item() < 0.6 * first
