"""dp, written the way the course writes it: named leaves for the parameters, unnamed
leaves (constants) for the data, ``loss.grad(1)`` for the gradients.

A step wraps the persistent NumPy weight arrays in fresh named leaves, builds the graph,
asks for the gradients and updates the arrays in place, as a training loop with dp does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import workloads as wl
from workloads import Grads, Sizes

try:
    from dp import Node
except ImportError:  # a package without the re-export in __init__
    from dp.node import Node


class MLP(wl.TrainingWorkload):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> wl.DenseProblem:
        return wl.mlp_problem(seed, dtype, sizes, one_hot_labels=True)

    def loss_grads(self, s: wl.DenseProblem) -> Grads:
        h = Node(s.x)
        last = len(s.names) - 1
        for i, (w, b) in enumerate(s.names):
            h = h @ Node(s.params[w], w) + Node(s.params[b], b)
            if i < last:
                h = h.relu()
        n = s.x.shape[0]
        loss = -(h.log_softmax(axis=-1) * Node(s.target)).sum() / n
        return loss.grad(1)


class SigmoidNet(wl.TrainingWorkload):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> wl.DenseProblem:
        return wl.sigmoid_net_problem(seed, dtype, sizes)

    def loss_grads(self, s: wl.DenseProblem) -> Grads:
        h = Node(s.x)
        for w, b in s.names:
            h = (h @ Node(s.params[w], w) + Node(s.params[b], b)).sigmoid()
        y = Node(s.target)
        loss = -(y * h.log() + (1 - y) * (1 - h).log()).mean()
        return loss.grad(1)


@dataclass
class ChainState:
    x: np.ndarray
    links: int
    grads: Grads | None = None


class Chain:
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> ChainState:
        return ChainState(wl.chain_input(seed, dtype, sizes), sizes.chain_links)

    def step(self, s: ChainState) -> None:
        y = Node(s.x, "x")
        for _ in range(s.links):
            y = (y * wl.CHAIN_MUL + wl.CHAIN_ADD).tanh()
        s.grads = y.sum().grad(1)

    def gradients(self, s: ChainState) -> Grads:
        self.step(s)
        return wl.as_arrays(s.grads)


@dataclass
class NeuronState:
    point: dict[str, np.ndarray]
    grads: Grads | None = None


class Neuron:
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> NeuronState:
        return NeuronState({k: np.array(v, dtype=dtype) for k, v in wl.NEURON_POINT.items()})

    def step(self, s: NeuronState) -> None:
        p = s.point
        a, b, c = Node(p["a"], "a"), Node(p["b"], "b"), Node(p["c"], "c")
        x, y = Node(p["x"], "x"), Node(p["y"], "y")
        s.grads = (a * x + b * y + c).sigmoid().grad(1)

    def gradients(self, s: NeuronState) -> Grads:
        self.step(s)
        return wl.as_arrays(s.grads)


WORKLOADS: dict[str, wl.WorkloadImpl] = {
    "mlp": MLP(),
    "chain": Chain(),
    "sigmoid_net": SigmoidNet(),
    "neuron": Neuron(),
}
