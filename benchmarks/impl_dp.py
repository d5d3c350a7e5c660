"""dp, written the way the course writes it: named leaves for the parameters, unnamed
leaves (constants) for the data, ``loss.grad(1)`` for the gradients.

A step wraps the persistent NumPy weight arrays in fresh named leaves, builds the graph,
asks for the gradients and updates the arrays in place, as a training loop with dp does.
Each workload's graph is one function of its data, ``loss(state, *data(state))`` returning
the Node that is differentiated: ``impl_dp_traced`` traces those same functions.
W5 does so with the layer functions ``dp.nn.conv2d`` and ``dp.nn.max_pool2d``; W6 is a
``dp.nn.Model`` holding a ``dp.nn.LSTM`` and a ``dp.nn.Linear`` head, whose parameter Nodes
(named ``lstm.Wx``, ..., ``head.b`` by the model) keep the weights from one step to the next.
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
from dp import nn


class MLP(wl.TrainingWorkload):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> wl.DenseProblem:
        return wl.mlp_problem(seed, dtype, sizes, one_hot_labels=True)

    def data(self, s: wl.DenseProblem) -> tuple[np.ndarray, ...]:
        return s.x, s.target

    def loss(self, s: wl.DenseProblem, x: np.ndarray, target: np.ndarray) -> Node:
        h = Node(x)
        last = len(s.names) - 1
        for i, (w, b) in enumerate(s.names):
            h = h @ Node(s.params[w], w) + Node(s.params[b], b)
            if i < last:
                h = h.relu()
        n = x.shape[0]
        return -(h.log_softmax(axis=-1) * Node(target)).sum() / n

    def loss_grads(self, s: wl.DenseProblem) -> Grads:
        return self.loss(s, s.x, s.target).grad(1)


class SigmoidNet(wl.TrainingWorkload):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> wl.DenseProblem:
        return wl.sigmoid_net_problem(seed, dtype, sizes)

    def data(self, s: wl.DenseProblem) -> tuple[np.ndarray, ...]:
        return s.x, s.target

    def loss(self, s: wl.DenseProblem, x: np.ndarray, target: np.ndarray) -> Node:
        h = Node(x)
        for w, b in s.names:
            h = (h @ Node(s.params[w], w) + Node(s.params[b], b)).sigmoid()
        y = Node(target)
        return -(y * h.log() + (1 - y) * (1 - h).log()).mean()

    def loss_grads(self, s: wl.DenseProblem) -> Grads:
        return self.loss(s, s.x, s.target).grad(1)


@dataclass
class ChainState:
    x: np.ndarray
    links: int
    grads: Grads | None = None


class Chain:
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> ChainState:
        return ChainState(wl.chain_input(seed, dtype, sizes), sizes.chain_links)

    def data(self, s: ChainState) -> tuple[np.ndarray, ...]:
        return (s.x,)

    def loss(self, s: ChainState, x: np.ndarray) -> Node:
        y = Node(x, "x")
        for _ in range(s.links):
            y = (y * wl.CHAIN_MUL + wl.CHAIN_ADD).tanh()
        return y.sum()

    def step(self, s: ChainState) -> None:
        s.grads = self.loss(s, s.x).grad(1)

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

    def data(self, s: NeuronState) -> tuple[np.ndarray, ...]:
        return tuple(s.point[name] for name in wl.NEURON_POINT)  # a, b, c, x, y

    def loss(self, s: NeuronState, a: np.ndarray, b: np.ndarray, c: np.ndarray, x: np.ndarray, y: np.ndarray) -> Node:
        a, b, c, x, y = Node(a, "a"), Node(b, "b"), Node(c, "c"), Node(x, "x"), Node(y, "y")
        return (a * x + b * y + c).sigmoid()

    def step(self, s: NeuronState) -> None:
        p = s.point
        s.grads = self.loss(s, p["a"], p["b"], p["c"], p["x"], p["y"]).grad(1)

    def gradients(self, s: NeuronState) -> Grads:
        self.step(s)
        return wl.as_arrays(s.grads)


class CNN(wl.TrainingWorkload):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> wl.LabelledProblem:
        return wl.cnn_problem(seed, dtype, sizes)

    def data(self, s: wl.LabelledProblem) -> tuple[np.ndarray, ...]:
        return s.x, s.labels

    def loss(self, s: wl.LabelledProblem, x: np.ndarray, labels: np.ndarray) -> Node:
        p = {name: Node(value, name) for name, value in s.params.items()}
        h = nn.max_pool2d(nn.conv2d(x, p["conv1.W"], p["conv1.b"]).relu(), 2)
        h = nn.max_pool2d(nn.conv2d(h, p["conv2.W"], p["conv2.b"]).relu(), 2)
        h = (h.reshape(h.shape[0], -1) @ p["fc1.W"] + p["fc1.b"]).relu()
        return nn.cross_entropy(h @ p["fc2.W"] + p["fc2.b"], labels)

    def loss_grads(self, s: wl.LabelledProblem) -> Grads:
        return self.loss(s, s.x, s.labels).grad(1)


class SequenceClassifier(nn.Model):
    """An LSTM over the sequence and a linear head on its last hidden state."""

    def __init__(self, sizes: Sizes, dtype: np.dtype) -> None:
        super().__init__(dtype=dtype)
        self.lstm = nn.LSTM(sizes.lstm_input, sizes.lstm_hidden, dtype=dtype)
        self.head = nn.Linear(sizes.lstm_hidden, sizes.lstm_classes, dtype=dtype)

    def forward(self, x: np.ndarray) -> Node:
        _, (h, _) = self.lstm(x)  # zero initial state
        return self.head(h)

    def loss(self, x: np.ndarray, y: np.ndarray) -> Node:
        return nn.cross_entropy(self.forward(x), y)


@dataclass
class ModelState:
    model: SequenceClassifier
    params: dict[str, np.ndarray]  # the model's live parameter arrays, updated in place
    x: np.ndarray
    labels: np.ndarray


class LSTM(wl.TrainingWorkload):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> ModelState:
        problem = wl.lstm_problem(seed, dtype, sizes)
        model = SequenceClassifier(sizes, dtype)
        model.set_param(problem.params)
        return ModelState(model, model.get_param(), problem.x, problem.labels)

    def data(self, s: ModelState) -> tuple[np.ndarray, ...]:
        return s.x, s.labels

    def loss(self, s: ModelState, x: np.ndarray, labels: np.ndarray) -> Node:
        return s.model.loss(x, labels)

    def loss_grads(self, s: ModelState) -> Grads:
        return self.loss(s, s.x, s.labels).grad(1)


@dataclass
class BCEState:
    z: np.ndarray
    y: np.ndarray
    grads: Grads | None = None


class BCE:
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> BCEState:
        return BCEState(*wl.bce_problem(seed, dtype, sizes))

    def data(self, s: BCEState) -> tuple[np.ndarray, ...]:
        return s.z, s.y

    def loss(self, s: BCEState, z: np.ndarray, y: np.ndarray) -> Node:
        return nn.binary_cross_entropy_with_logits(Node(z, "z"), y)

    def step(self, s: BCEState) -> None:
        s.grads = self.loss(s, s.z, s.y).grad(1)

    def gradients(self, s: BCEState) -> Grads:
        self.step(s)
        return wl.as_arrays(s.grads)


WORKLOADS: dict[str, wl.WorkloadImpl] = {
    "mlp": MLP(),
    "chain": Chain(),
    "sigmoid_net": SigmoidNet(),
    "neuron": Neuron(),
    "cnn": CNN(),
    "lstm": LSTM(),
    "bce": BCE(),
}
