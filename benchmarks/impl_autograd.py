"""HIPS autograd: the loss as a plain function of a parameter dict, ``autograd.grad`` of it.

``autograd.scipy`` needs SciPy, which is not installed, so the stable log-softmax is
written out (shift by the row maximum, subtract the log of the sum of exponentials), and
there is no convolution: W5 does not apply.  W6's LSTM is a loop over the time steps,
W7 the one-pass form of binary cross-entropy with logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd import grad

import workloads as wl
from workloads import Grads, Sizes


def _mlp_loss(params: dict[str, Any], names: list[tuple[str, str]], x: np.ndarray, y: np.ndarray) -> Any:
    h = x
    last = len(names) - 1
    for i, (w, b) in enumerate(names):
        h = anp.dot(h, params[w]) + params[b]
        if i < last:
            h = anp.maximum(h, 0)
    shifted = h - anp.max(h, axis=1, keepdims=True)
    log_p = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
    return -anp.sum(log_p * y) / x.shape[0]


def _sigmoid(z: Any) -> Any:
    return 1 / (1 + anp.exp(-z))


def _sigmoid_net_loss(params: dict[str, Any], names: list[tuple[str, str]], x: np.ndarray, y: np.ndarray) -> Any:
    h = x
    for w, b in names:
        h = _sigmoid(anp.dot(h, params[w]) + params[b])
    return -anp.mean(y * anp.log(h) + (1 - y) * anp.log(1 - h))


class _Dense(wl.TrainingWorkload):
    def __init__(self, loss: Callable[..., Any]) -> None:
        self._grad = grad(loss)  # with respect to the first argument, the parameter dict

    def loss_grads(self, s: wl.DenseProblem) -> Grads:
        return self._grad(s.params, s.names, s.x, s.target)


class MLP(_Dense):
    def __init__(self) -> None:
        super().__init__(_mlp_loss)

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> wl.DenseProblem:
        return wl.mlp_problem(seed, dtype, sizes, one_hot_labels=True)


class SigmoidNet(_Dense):
    def __init__(self) -> None:
        super().__init__(_sigmoid_net_loss)

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> wl.DenseProblem:
        return wl.sigmoid_net_problem(seed, dtype, sizes)


def _chain(x: Any, links: int) -> Any:
    y = x
    for _ in range(links):
        y = anp.tanh(y * wl.CHAIN_MUL + wl.CHAIN_ADD)
    return anp.sum(y)


def _neuron(p: dict[str, Any]) -> Any:
    return _sigmoid(p["a"] * p["x"] + p["b"] * p["y"] + p["c"])


@dataclass
class ChainState:
    x: np.ndarray
    links: int
    grad: Any = None


class Chain:
    _grad = staticmethod(grad(_chain))

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> ChainState:
        return ChainState(wl.chain_input(seed, dtype, sizes), sizes.chain_links)

    def step(self, s: ChainState) -> None:
        s.grad = self._grad(s.x, s.links)

    def gradients(self, s: ChainState) -> Grads:
        self.step(s)
        return {"x": np.asarray(s.grad)}


@dataclass
class NeuronState:
    point: dict[str, float]
    grads: dict[str, Any] | None = None


class Neuron:
    _grad = staticmethod(grad(_neuron))

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> NeuronState:
        return NeuronState(dict(wl.NEURON_POINT))

    def step(self, s: NeuronState) -> None:
        s.grads = self._grad(s.point)

    def gradients(self, s: NeuronState) -> Grads:
        self.step(s)
        return wl.as_arrays(s.grads)


def _lstm_loss(params: dict[str, Any], x: np.ndarray, labels: np.ndarray) -> Any:
    n, steps, _ = x.shape
    hidden = params["lstm.Wh"].shape[0]
    h = c = np.zeros((n, hidden), x.dtype)
    for t in range(steps):
        g = anp.dot(x[:, t], params["lstm.Wx"]) + anp.dot(h, params["lstm.Wh"]) + params["lstm.b"]
        i, f = _sigmoid(g[:, :hidden]), _sigmoid(g[:, hidden : 2 * hidden])
        candidate, o = anp.tanh(g[:, 2 * hidden : 3 * hidden]), _sigmoid(g[:, 3 * hidden :])
        c = f * c + i * candidate
        h = o * anp.tanh(c)
    logits = anp.dot(h, params["head.W"]) + params["head.b"]
    shifted = logits - anp.max(logits, axis=1, keepdims=True)
    log_p = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
    return -anp.sum(log_p[np.arange(n), labels]) / n


class LSTM(wl.TrainingWorkload):
    _grad = staticmethod(grad(_lstm_loss))

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> wl.LabelledProblem:
        return wl.lstm_problem(seed, dtype, sizes)

    def loss_grads(self, s: wl.LabelledProblem) -> Grads:
        return self._grad(s.params, s.x, s.labels)


def _bce_with_logits(z: Any, y: np.ndarray) -> Any:
    # max(z, 0) as z * (z > 0), and the sum over the size: the derivatives of anp.maximum and
    # anp.mean would turn a float32 gradient into float64.
    return anp.sum(z * (z > 0) - z * y + anp.log1p(anp.exp(-anp.abs(z)))) / z.size


@dataclass
class BCEState:
    z: np.ndarray
    y: np.ndarray
    grad: Any = None


class BCE:
    _grad = staticmethod(grad(_bce_with_logits))

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> BCEState:
        return BCEState(*wl.bce_problem(seed, dtype, sizes))

    def step(self, s: BCEState) -> None:
        s.grad = self._grad(s.z, s.y)

    def gradients(self, s: BCEState) -> Grads:
        self.step(s)
        return {"z": np.asarray(s.grad)}


WORKLOADS: dict[str, wl.WorkloadImpl] = {
    "mlp": MLP(),
    "chain": Chain(),
    "sigmoid_net": SigmoidNet(),
    "neuron": Neuron(),
    "lstm": LSTM(),
    "bce": BCE(),
}
