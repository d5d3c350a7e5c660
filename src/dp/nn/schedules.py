"""Learning-rate schedules: the learning rate as a function of how many steps the optimizer took.

A schedule is given to an optimizer, which asks it for the learning rate of every step:

    Adam(model, x, y, learning_rate=1e-3, schedule=CosineAnnealingLR(T_max=1000)).train(steps=1000)

    warm_up_then_cosine = SequentialLR([LinearLR(start_factor=0.01, total_iters=100),
                                        CosineAnnealingLR(T_max=900)], milestones=[100])

How it advances. `schedule(t, base_lr)` is the learning rate of the optimizer's step number t,
counted from 0: the first `step()` (or the first step of `train`) uses t = 0, and every call of
`step` moves t on by one (`optimizer.steps_taken`), however many parameters it updates. `base_lr`
is the optimizer's `learning_rate`, or a parameter group's own. A schedule holds no state: the
optimizer's step count is the only clock, so a schedule can be shared, and the rate of any step can
be looked at without training (`[schedule(t, 0.1) for t in range(10)]`).

Each schedule gives PyTorch's `torch.optim.lr_scheduler` of the same name, with the same arguments,
used the usual way: `scheduler.step()` once after every `optimizer.step()`. Step t's rate here is
torch's after t calls of `scheduler.step()`. PyTorch computes most rates recursively from the
previous one; dp uses the closed forms, which are the same numbers up to rounding (1e-15).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real

from dp.nn.layers import _count

__all__ = ["CosineAnnealingLR", "LambdaLR", "LinearLR", "Schedule", "SequentialLR", "StepLR"]


class Schedule:
    """Base class: `schedule(step, base_lr)` is the learning rate of step `step` (0, 1, 2, ...).

    A schedule of your own subclasses this and defines `__call__`; for a factor that multiplies
    the base learning rate, `LambdaLR(lambda step: ...)` needs no class.
    """

    def __call__(self, step: int, base_lr: float) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step, base_lr)")


class StepLR(Schedule):
    """base_lr * gamma ** (step // step_size): divide by 1/gamma every `step_size` steps.

    As `torch.optim.lr_scheduler.StepLR(optimizer, step_size, gamma=0.1)`.
    """

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _count(step_size, "StepLR: step_size")
        self.gamma = _positive(gamma, "StepLR: gamma")

    def __call__(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (step // self.step_size)

    def __repr__(self) -> str:
        return f"StepLR(step_size={self.step_size}, gamma={self.gamma})"


class CosineAnnealingLR(Schedule):
    """eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2: from base_lr down to
    eta_min at step T_max along half a cosine.

    As `torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max, eta_min=0.0)`, also past
    T_max: the cosine goes on, so the rate rises again towards base_lr (at 2 T_max). Train for T_max
    steps (after a warm-up, for the steps that remain) to end at eta_min.
    """

    def __init__(self, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803 - PyTorch's spelling
        self.T_max = _count(T_max, "CosineAnnealingLR: T_max")
        self.eta_min = _non_negative(eta_min, "CosineAnnealingLR: eta_min")

    def __call__(self, step: int, base_lr: float) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * step / self.T_max)) / 2

    def __repr__(self) -> str:
        return f"CosineAnnealingLR(T_max={self.T_max}, eta_min={self.eta_min})"


class LinearLR(Schedule):
    """base_lr times a factor that goes in a straight line from `start_factor` (step 0) to
    `end_factor` (step `total_iters`) and then stays there: a linear warm-up with the defaults'
    end_factor 1.

    As `torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1/3, end_factor=1.0, total_iters=5)`,
    with its limits: 0 < start_factor <= 1 and 0 <= end_factor <= 1.
    """

    def __init__(self, start_factor: float = 1 / 3, end_factor: float = 1.0, total_iters: int = 5) -> None:
        self.start_factor = _number(start_factor, "LinearLR: start_factor")
        if not 0 < self.start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must lie in (0, 1], got {start_factor!r}")
        self.end_factor = _number(end_factor, "LinearLR: end_factor")
        if not 0 <= self.end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must lie in [0, 1], got {end_factor!r}")
        self.total_iters = _count(total_iters, "LinearLR: total_iters")

    def __call__(self, step: int, base_lr: float) -> float:
        progress = min(step, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)

    def __repr__(self) -> str:
        return (
            f"LinearLR(start_factor={self.start_factor}, end_factor={self.end_factor}, total_iters={self.total_iters})"
        )


class LambdaLR(Schedule):
    """base_lr * lr_lambda(step), for any factor you can write as a function of the step.

    As `torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)`. The factor must be a finite
    number >= 0 (a negative learning rate would climb the loss); otherwise a ValueError names the
    step, and the optimizer's step that asked changes nothing.
    """

    def __init__(self, lr_lambda: Callable[[int], float]) -> None:
        if not callable(lr_lambda):
            raise TypeError(f"LambdaLR: lr_lambda must be a function step -> factor, got {type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda

    def __call__(self, step: int, base_lr: float) -> float:
        factor = self.lr_lambda(step)
        if isinstance(factor, bool) or not isinstance(factor, Real) or not 0 <= factor < math.inf:
            raise ValueError(f"LambdaLR: lr_lambda({step}) must be a finite number >= 0, got {factor!r}")
        return base_lr * float(factor)

    def __repr__(self) -> str:
        return f"LambdaLR({getattr(self.lr_lambda, '__name__', self.lr_lambda)})"


class SequentialLR(Schedule):
    """One schedule after another: `schedules[0]` until step `milestones[0]`, then `schedules[1]`
    counted afresh from 0 (with the same base_lr), and so on.

    As `torch.optim.lr_scheduler.SequentialLR(optimizer, schedulers, milestones)`, so a warm-up
    then a cosine decay is
    `SequentialLR([LinearLR(0.01, total_iters=w), CosineAnnealingLR(T_max=n - w)], milestones=[w])`.
    """

    def __init__(self, schedules: Sequence[Schedule], milestones: Sequence[int]) -> None:
        if isinstance(schedules, Schedule) or not isinstance(schedules, Sequence) or not schedules:
            raise TypeError(
                f"SequentialLR: schedules must be a non-empty list of schedules, got {type(schedules).__name__}"
            )
        for index, schedule in enumerate(schedules):
            if not isinstance(schedule, Schedule):
                raise TypeError(f"SequentialLR: schedules[{index}] is a {type(schedule).__name__}, not a schedule")
        if not isinstance(milestones, Sequence) or len(milestones) != len(schedules) - 1:
            raise ValueError(
                f"SequentialLR: {len(schedules)} schedules need {len(schedules) - 1} milestone(s) "
                f"(the steps where the next one starts), got {milestones!r}"
            )
        milestones = [_count(milestone, "SequentialLR: a milestone") for milestone in milestones]
        if any(later <= earlier for earlier, later in zip(milestones, milestones[1:])):
            raise ValueError(f"SequentialLR: milestones must increase, got {milestones}")
        self.schedules, self.milestones = list(schedules), milestones

    def __call__(self, step: int, base_lr: float) -> float:
        start = 0  # the step at which the schedule in use began
        for schedule, milestone in zip(self.schedules, self.milestones):
            if step < milestone:
                return schedule(step - start, base_lr)
            start = milestone
        return self.schedules[-1](step - start, base_lr)

    def __repr__(self) -> str:
        return f"SequentialLR({self.schedules!r}, milestones={self.milestones})"


# The checks of hyper-parameters, shared with the optimizers. A bool is not a number here: `True`
# for a learning rate is a mistake, not 1.0.


def _number(value: float, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{label} must be a finite number, got {value!r}")
    return float(value)


def _positive(value: float, label: str) -> float:
    if not _number(value, label) > 0:
        raise ValueError(f"{label} must be a positive number, got {value!r}")
    return float(value)


def _non_negative(value: float, label: str) -> float:
    if not _number(value, label) >= 0:
        raise ValueError(f"{label} must be a number >= 0, got {value!r}")
    return float(value)
