"""micrograd 0.1.0 (Karpathy): scalar ``Value`` objects; applies to W2 on 1x1 and W4 only.

The released package has no ``tanh`` or ``exp``, so the two missing operations are added
the way micrograd's own operations are written (a new ``Value`` whose ``_backward``
closure applies the local derivative): one graph node per operation, as in the other
implementations.  Its ``backward`` sorts the graph recursively, one Python frame per node
in depth, so the recursion limit is raised for W2's chain of about a thousand nodes.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
from micrograd.engine import Value

import workloads as wl
from workloads import Grads, Sizes

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))


def tanh(v: Value) -> Value:
    t = math.tanh(v.data)
    out = Value(t, (v,), "tanh")

    def _backward() -> None:
        v.grad += (1.0 - t * t) * out.grad

    out._backward = _backward
    return out


def sigmoid(v: Value) -> Value:
    s = 1.0 / (1.0 + math.exp(-v.data))
    out = Value(s, (v,), "sigmoid")

    def _backward() -> None:
        v.grad += s * (1.0 - s) * out.grad

    out._backward = _backward
    return out


class NotApplicable(Exception):
    pass


@dataclass
class ChainState:
    x: float
    links: int
    grad: float = 0.0


class Chain:
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> ChainState:
        if sizes.chain_shape != (1, 1):
            raise NotApplicable("micrograd is scalar-only")
        return ChainState(float(wl.chain_input(seed, dtype, sizes)[0, 0]), sizes.chain_links)

    def step(self, s: ChainState) -> None:
        x = Value(s.x)
        y = x
        for _ in range(s.links):
            y = tanh(y * wl.CHAIN_MUL + wl.CHAIN_ADD)
        y.backward()  # the sum of one element is the element
        s.grad = x.grad

    def gradients(self, s: ChainState) -> Grads:
        self.step(s)
        return {"x": np.array([[s.grad]])}


@dataclass
class NeuronState:
    point: dict[str, float]
    grads: dict[str, float] | None = None


class Neuron:
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> NeuronState:
        return NeuronState(dict(wl.NEURON_POINT))

    def step(self, s: NeuronState) -> None:
        v = {name: Value(value) for name, value in s.point.items()}
        sigmoid(v["a"] * v["x"] + v["b"] * v["y"] + v["c"]).backward()
        s.grads = {name: leaf.grad for name, leaf in v.items()}

    def gradients(self, s: NeuronState) -> Grads:
        self.step(s)
        return wl.as_arrays(s.grads)


WORKLOADS: dict[str, wl.WorkloadImpl] = {
    "chain": Chain(),
    "neuron": Neuron(),
}
