"""dp traced: impl_dp's graphs recorded once by ``dp.trace`` and replayed as generated NumPy.

Each workload traces impl_dp's own function of the data, ``loss(state, *data)``, when its
state is made; a step calls the traced program on the state's data and, for the training
workloads, updates the weights in place with the same SGD step (``workloads.sgd_update``).
The weights are leaves the function captures, so the program reads their arrays as they are
at each call: the updates are seen.

The trace is made on *other* data of the same shapes (floats shifted by 0.125, labels rolled
by one place), so the gradient check, which runs the program on the real data, would catch an
argument the trace froze.  The first call's time (recording, compiling and running once) is
kept in the state as ``first_call_s``; the driver reports it as the tracing time.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

import impl_dp
import workloads as wl
from workloads import Grads, Sizes

from dp import trace

#: The kinds whose step is a training step (gradients, then the SGD update of ``params``).
TRAINING = ("mlp", "sigmoid_net", "cnn", "lstm")


@dataclass
class TracedState:
    dynamic: Any  # impl_dp's state: the weights and the real data
    data: tuple[Any, ...]  # the arguments of each call
    step: Any  # the traced loss: step(*data) -> (value, grads)
    first_call_s: float  # trace + compile + the first run, in seconds
    params: dict[str, np.ndarray] | None  # the arrays the SGD step updates (training kinds)


def _other_example(data: tuple[Any, ...]) -> tuple[Any, ...]:
    """Arguments of the real data's shapes and dtypes but other values: floats shifted by 0.125,
    integers (labels, indices) rolled by one place along their first axis.  Made from the data
    rather than from another seed's state, so that tracing holds no second set of weights: the
    peak-memory run then measures dp.trace, not the harness."""

    def other(x: np.ndarray) -> np.ndarray:
        if x.dtype.kind == "f":
            return x + x.dtype.type(0.125)
        return np.roll(x, 1, axis=0) if x.ndim else x

    return tuple(other(np.asarray(x)) for x in data)


class Traced:
    """impl_dp's workload ``dynamic``, run through a trace of its ``loss``."""

    def __init__(self, kind: str) -> None:
        self.dynamic = impl_dp.WORKLOADS[kind]
        self.training = kind in TRAINING

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> TracedState:
        state = self.dynamic.make_state(seed, dtype, sizes)
        data = self.dynamic.data(state)
        example = _other_example(data)
        start = time.perf_counter()
        step = trace(functools.partial(self.dynamic.loss, state), *example)
        step(*data)
        first_call_s = time.perf_counter() - start
        params = state.params if self.training else None
        return TracedState(state, data, step, first_call_s, params)

    def step(self, s: TracedState) -> None:
        _, grads = s.step(*s.data)
        if s.params is not None:
            wl.sgd_update(s.params, grads)

    def gradients(self, s: TracedState) -> Grads:
        return wl.as_arrays(s.step(*s.data)[1])


WORKLOADS: dict[str, wl.WorkloadImpl] = {kind: Traced(kind) for kind in impl_dp.WORKLOADS}
