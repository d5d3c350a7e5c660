"""HIPS autograd: the loss as a plain function of a parameter dict, ``autograd.grad`` of it.

``autograd.scipy`` needs SciPy, which is not installed, so the stable log-softmax is
written out (shift by the row maximum, subtract the log of the sum of exponentials).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import autograd.numpy as anp
import numpy as np
from autograd import grad

import workloads as wl
from workloads import Grads, Sizes


def _mlp_loss(params: dict[str, Any], names: list[tuple[str, str]], x: np.ndarray,
              y: np.ndarray) -> Any:
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


def _sigmoid_net_loss(params: dict[str, Any], names: list[tuple[str, str]], x: np.ndarray,
                      y: np.ndarray) -> Any:
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


WORKLOADS: dict[str, wl.WorkloadImpl] = {
    "mlp": MLP(),
    "chain": Chain(),
    "sigmoid_net": SigmoidNet(),
    "neuron": Neuron(),
}
