"""Hand-written NumPy: forward and backward derived by hand, the practical limit.

Written to be fast rather than short: activations, deltas and gradients live in buffers
allocated once in ``make_state`` and every large operation writes into them (``out=`` and
in-place operators), so a training step allocates no array of the network's size.  The
per-operation workloads (W2, W4) use plain expressions instead, which is what is fastest
for tiny arrays (the ``out=`` keyword costs more than allocating one element).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

import workloads as wl
from workloads import Grads, Sizes


def _copy(grads: Grads) -> Grads:
    return {name: g.copy() for name, g in grads.items()}


def _sgd(params: dict[str, np.ndarray], grads: Grads) -> None:
    for name, p in params.items():
        g = grads[name]
        g *= wl.LEARNING_RATE  # the gradient buffers are scratch: overwritten every step
        p -= g


@dataclass
class DenseState:
    """Weights, batch and preallocated buffers of a fully connected network."""

    params: dict[str, np.ndarray]
    names: list[tuple[str, str]]
    x: np.ndarray
    target: np.ndarray  # W1: integer labels; W3: 0/1 column
    acts: list[np.ndarray]  # layer outputs (after the activation)
    deltas: list[np.ndarray]  # d loss / d pre-activation, per layer
    scratch: list[np.ndarray]  # one more buffer per layer, for the activation's derivative
    grads: Grads = field(default_factory=dict)
    loss: float = 0.0


def _dense_state(problem: wl.DenseProblem) -> DenseState:
    params, x = problem.params, problem.x
    batch, dtype = x.shape[0], x.dtype
    widths = [params[b].size for _, b in problem.names]
    return DenseState(
        params=params,
        names=problem.names,
        x=x,
        target=problem.target,
        acts=[np.empty((batch, w), dtype) for w in widths],
        deltas=[np.empty((batch, w), dtype) for w in widths],
        scratch=[np.empty((batch, w), dtype) for w in widths],
        grads={name: np.empty_like(p) for name, p in params.items()},
    )


def _dense_backward(s: DenseState, activation_derivative) -> None:
    """Back-propagate ``s.deltas[-1]`` through all layers into ``s.grads``."""
    for i in range(len(s.names) - 1, -1, -1):
        w, b = s.names[i]
        dz = s.deltas[i]
        h_prev = s.acts[i - 1] if i else s.x
        np.matmul(h_prev.T, dz, out=s.grads[w])
        np.sum(dz, axis=0, out=s.grads[b])
        if i:
            dh = s.deltas[i - 1]
            np.matmul(dz, s.params[w].T, out=dh)
            activation_derivative(dh, h_prev, s.scratch[i - 1])


class _DenseNetwork:
    """What W1 and W3 share: a step is forward + backward by hand, then SGD on the buffers."""

    def _forward_backward(self, s: DenseState) -> None:
        raise NotImplementedError

    def step(self, s: DenseState) -> None:
        self._forward_backward(s)
        _sgd(s.params, s.grads)

    def gradients(self, s: DenseState) -> Grads:
        self._forward_backward(s)
        return _copy(s.grads)


class MLP(_DenseNetwork):
    """W1: ReLU layers, softmax cross-entropy from logits, mean over the batch."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> DenseState:
        return _dense_state(wl.mlp_problem(seed, dtype, sizes, one_hot_labels=False))

    @staticmethod
    def _relu_backward(dh: np.ndarray, h: np.ndarray, _scratch: np.ndarray) -> None:
        np.multiply(dh, h > 0, out=dh)

    def _forward_backward(self, s: DenseState) -> None:
        h = s.x
        last = len(s.names) - 1
        for i, (w, b) in enumerate(s.names):
            z = s.acts[i]
            np.matmul(h, s.params[w], out=z)
            z += s.params[b]
            if i < last:
                np.maximum(z, 0, out=z)
            h = z
        # Softmax cross-entropy, stable: shift the logits by their row maximum.
        n = s.x.shape[0]
        rows = np.arange(n)
        logits, p = h, s.deltas[-1]
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=p)
        total = p.sum(axis=1, keepdims=True)
        s.loss = float(np.log(total).sum() - logits[rows, s.target].sum()) / n
        # d loss / d logits = (softmax - one_hot) / n
        p /= total
        p[rows, s.target] -= 1
        p *= 1.0 / n
        _dense_backward(s, self._relu_backward)


def _sigmoid_inplace(z: np.ndarray) -> None:
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1
    np.reciprocal(z, out=z)


class SigmoidNet(_DenseNetwork):
    """W3: sigmoid layers, sigmoid output of width 1, binary cross-entropy."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> DenseState:
        return _dense_state(wl.sigmoid_net_problem(seed, dtype, sizes))

    @staticmethod
    def _sigmoid_backward(dh: np.ndarray, a: np.ndarray, scratch: np.ndarray) -> None:
        np.subtract(1, a, out=scratch)  # sigmoid' = a * (1 - a)
        scratch *= a
        dh *= scratch

    def _forward_backward(self, s: DenseState) -> None:
        h = s.x
        for i, (w, b) in enumerate(s.names):
            z = s.acts[i]
            np.matmul(h, s.params[w], out=z)
            z += s.params[b]
            _sigmoid_inplace(z)
            h = z
        p, y, n = h, s.target, s.x.shape[0]
        s.loss = -float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))) / n
        # d BCE(sigmoid(z)) / dz = (p - y) / n
        dz = s.deltas[-1]
        np.subtract(p, y, out=dz)
        dz *= 1.0 / n
        _dense_backward(s, self._sigmoid_backward)


@dataclass
class ChainState:
    x: np.ndarray
    links: int
    grad: np.ndarray | None = None


class Chain:
    """W2: y = tanh(y * 0.5 + 0.1), ``links`` times, then sum; one NumPy call per operation."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> ChainState:
        return ChainState(wl.chain_input(seed, dtype, sizes), sizes.chain_links)

    def step(self, s: ChainState) -> None:
        y = s.x
        outputs = []
        for _ in range(s.links):
            y = np.tanh(y * wl.CHAIN_MUL + wl.CHAIN_ADD)
            outputs.append(y)
        y.sum()  # the loss; its derivative is ones
        g = np.ones_like(y)
        for t in reversed(outputs):
            g = g * (1.0 - t * t) * wl.CHAIN_MUL  # tanh' = 1 - tanh^2, then the mul's 0.5
        s.grad = g

    def gradients(self, s: ChainState) -> Grads:
        self.step(s)
        return {"x": s.grad.copy()}


@dataclass
class NeuronState:
    point: dict[str, float]
    grads: tuple[float, ...] = ()


class Neuron:
    """W4: sigmoid(a*x + b*y + c) on Python floats; math.exp is the fastest scalar path."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> NeuronState:
        return NeuronState(dict(wl.NEURON_POINT))

    def step(self, s: NeuronState) -> None:
        p = s.point
        a, b, c, x, y = p["a"], p["b"], p["c"], p["x"], p["y"]
        out = 1.0 / (1.0 + math.exp(-(a * x + b * y + c)))
        dz = out * (1.0 - out)
        s.grads = (x * dz, y * dz, dz, a * dz, b * dz)

    def gradients(self, s: NeuronState) -> Grads:
        self.step(s)
        return {name: np.asarray(g) for name, g in zip("abcxy", s.grads)}


WORKLOADS: dict[str, wl.WorkloadImpl] = {
    "mlp": MLP(),
    "chain": Chain(),
    "sigmoid_net": SigmoidNet(),
    "neuron": Neuron(),
}
