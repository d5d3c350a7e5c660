"""PyTorch CPU eager: idiomatic tensors with ``requires_grad``, ``backward()`` and an
in-place SGD update under ``no_grad`` (the fused ``add_(g, alpha=-lr)``).

The losses use PyTorch's own fused functions (``cross_entropy``, ``binary_cross_entropy``),
as a PyTorch user would write them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

import workloads as wl
from workloads import Grads, Sizes


def set_threads(n: int) -> None:
    """Called by the driver before anything runs: intra-op threads to match BLAS."""
    torch.set_num_threads(n)
    torch.set_num_interop_threads(1)


@dataclass
class DenseState:
    params: dict[str, torch.Tensor]
    names: list[tuple[str, str]]
    x: torch.Tensor
    target: torch.Tensor


def _dense_state(problem: wl.DenseProblem) -> DenseState:
    params = {k: torch.from_numpy(v).requires_grad_() for k, v in problem.params.items()}
    return DenseState(params, problem.names, torch.from_numpy(problem.x),
                      torch.from_numpy(problem.target))


class _Dense:
    """W1/W3 share the training step; subclasses define the state and the loss."""

    def loss(self, s: DenseState) -> torch.Tensor:
        raise NotImplementedError

    def step(self, s: DenseState) -> None:
        self.loss(s).backward()
        with torch.no_grad():
            for p in s.params.values():
                p.add_(p.grad, alpha=-wl.LEARNING_RATE)
                p.grad = None

    def gradients(self, s: DenseState) -> Grads:
        self.loss(s).backward()
        grads = {}
        for name, p in s.params.items():
            grads[name] = p.grad.numpy().copy()
            p.grad = None
        return grads


class MLP(_Dense):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> DenseState:
        return _dense_state(wl.mlp_problem(seed, dtype, sizes, one_hot_labels=False))

    def loss(self, s: DenseState) -> torch.Tensor:
        h = s.x
        last = len(s.names) - 1
        for i, (w, b) in enumerate(s.names):
            h = h @ s.params[w] + s.params[b]
            if i < last:
                h = torch.relu(h)
        return F.cross_entropy(h, s.target)


class SigmoidNet(_Dense):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> DenseState:
        return _dense_state(wl.sigmoid_net_problem(seed, dtype, sizes))

    def loss(self, s: DenseState) -> torch.Tensor:
        h = s.x
        for w, b in s.names:
            h = torch.sigmoid(h @ s.params[w] + s.params[b])
        return F.binary_cross_entropy(h, s.target)


@dataclass
class LeavesState:
    """W2 and W4: leaves with ``requires_grad`` and the function of them to differentiate."""

    leaves: dict[str, torch.Tensor]
    links: int = 0
    grads: tuple[torch.Tensor, ...] = ()


class _Leaves:
    def output(self, s: LeavesState) -> torch.Tensor:
        raise NotImplementedError

    def step(self, s: LeavesState) -> None:
        s.grads = torch.autograd.grad(self.output(s), tuple(s.leaves.values()))

    def gradients(self, s: LeavesState) -> Grads:
        self.step(s)
        return {name: g.numpy().copy() for name, g in zip(s.leaves, s.grads)}


class Chain(_Leaves):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> LeavesState:
        x = torch.from_numpy(wl.chain_input(seed, dtype, sizes)).requires_grad_()
        return LeavesState({"x": x}, sizes.chain_links)

    def output(self, s: LeavesState) -> torch.Tensor:
        y = s.leaves["x"]
        for _ in range(s.links):
            y = torch.tanh(y * wl.CHAIN_MUL + wl.CHAIN_ADD)
        return y.sum()


class Neuron(_Leaves):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> LeavesState:
        torch_dtype = getattr(torch, np.dtype(dtype).name)
        return LeavesState({k: torch.tensor(v, dtype=torch_dtype, requires_grad=True)
                            for k, v in wl.NEURON_POINT.items()})

    def output(self, s: LeavesState) -> torch.Tensor:
        p = s.leaves
        return torch.sigmoid(p["a"] * p["x"] + p["b"] * p["y"] + p["c"])


WORKLOADS: dict[str, wl.WorkloadImpl] = {
    "mlp": MLP(),
    "chain": Chain(),
    "sigmoid_net": SigmoidNet(),
    "neuron": Neuron(),
}
