"""PyTorch CPU eager: idiomatic tensors with ``requires_grad``, ``backward()`` and an
in-place SGD update under ``no_grad`` (the fused ``add_(g, alpha=-lr)``).

The losses use PyTorch's own fused functions (``cross_entropy``, ``binary_cross_entropy``,
``binary_cross_entropy_with_logits``), as a PyTorch user would write them; W5 uses
``F.conv2d``, ``F.max_pool2d`` and ``F.linear``, W6 ``nn.LSTM`` and ``nn.Linear``, with the
weights in PyTorch's own layouts (copied in from dp's, the gradients handed back in dp's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
    transposed: frozenset[str] = frozenset()  # the names PyTorch keeps transposed: none (x @ W, as dp)


class _Training:
    """W1, W3, W5, W6: a training step is ``backward()`` then SGD on the parameters; subclasses
    define the state and the loss. ``gradients`` gives them in dp's layout."""

    def loss(self, s: Any) -> torch.Tensor:
        raise NotImplementedError

    def step(self, s: Any) -> None:
        self.loss(s).backward()
        with torch.no_grad():
            for p in s.params.values():
                p.add_(p.grad, alpha=-wl.LEARNING_RATE)
                p.grad = None

    def gradients(self, s: Any) -> Grads:
        self.loss(s).backward()
        grads = {}
        for name, p in s.params.items():
            g = p.grad.numpy()
            grads[name] = (g.T if name in s.transposed else g).copy()
            p.grad = None
        return grads


def _dense_state(problem: wl.DenseProblem) -> DenseState:
    params = {k: torch.from_numpy(v).requires_grad_() for k, v in problem.params.items()}
    return DenseState(params, problem.names, torch.from_numpy(problem.x), torch.from_numpy(problem.target))


class MLP(_Training):
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


class SigmoidNet(_Training):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> DenseState:
        return _dense_state(wl.sigmoid_net_problem(seed, dtype, sizes))

    def loss(self, s: DenseState) -> torch.Tensor:
        h = s.x
        for w, b in s.names:
            h = torch.sigmoid(h @ s.params[w] + s.params[b])
        return F.binary_cross_entropy(h, s.target)


@dataclass
class LeavesState:
    """W2, W4 and W7: leaves with ``requires_grad`` and the function of them to differentiate."""

    leaves: dict[str, torch.Tensor]
    links: int = 0
    target: torch.Tensor | None = None  # W7's labels
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
        return LeavesState(
            {k: torch.tensor(v, dtype=torch_dtype, requires_grad=True) for k, v in wl.NEURON_POINT.items()}
        )

    def output(self, s: LeavesState) -> torch.Tensor:
        p = s.leaves
        return torch.sigmoid(p["a"] * p["x"] + p["b"] * p["y"] + p["c"])


@dataclass
class LabelledState:
    """W5 and W6: PyTorch's parameters, with how each maps to dp's name and layout."""

    params: dict[str, torch.Tensor]  # dp's name -> the tensor PyTorch trains
    transposed: frozenset[str]  # the names PyTorch keeps as the transpose of dp's layout
    x: torch.Tensor
    labels: torch.Tensor
    model: nn.Module | None = None


def _leaves(problem: wl.LabelledProblem, transposed: frozenset[str]) -> dict[str, torch.Tensor]:
    return {
        name: torch.from_numpy(np.ascontiguousarray(v.T if name in transposed else v)).requires_grad_()
        for name, v in problem.params.items()
    }


class CNN(_Training):
    """W5: ``F.conv2d`` kernels are (out, in, kh, kw) as dp's; ``F.linear`` weights (out, in)."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> LabelledState:
        problem = wl.cnn_problem(seed, dtype, sizes)
        transposed = frozenset({"fc1.W", "fc2.W"})
        return LabelledState(
            _leaves(problem, transposed), transposed, torch.from_numpy(problem.x), torch.from_numpy(problem.labels)
        )

    def loss(self, s: LabelledState) -> torch.Tensor:
        p = s.params
        h = F.max_pool2d(F.relu(F.conv2d(s.x, p["conv1.W"], p["conv1.b"])), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, p["conv2.W"], p["conv2.b"])), 2)
        h = F.relu(F.linear(h.flatten(1), p["fc1.W"], p["fc1.b"]))
        return F.cross_entropy(F.linear(h, p["fc2.W"], p["fc2.b"]), s.labels)


class _SequenceClassifier(nn.Module):
    def __init__(self, sizes: Sizes, dtype: torch.dtype) -> None:
        super().__init__()
        self.lstm = nn.LSTM(sizes.lstm_input, sizes.lstm_hidden, batch_first=True, dtype=dtype)
        self.head = nn.Linear(sizes.lstm_hidden, sizes.lstm_classes, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x)  # h: (layers = 1, N, H), zero initial state
        return self.head(h[0])


class LSTM(_Training):
    """W6: ``nn.LSTM(batch_first=True)`` with weight_ih_l0 = Wx.T, weight_hh_l0 = Wh.T,
    bias_ih_l0 = b; its second bias, bias_hh_l0, is zero and frozen (dp's LSTM has one bias,
    and training both would move their sum twice as fast)."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> LabelledState:
        problem = wl.lstm_problem(seed, dtype, sizes)
        model = _SequenceClassifier(sizes, getattr(torch, np.dtype(dtype).name))
        p = {k: torch.from_numpy(v) for k, v in problem.params.items()}
        with torch.no_grad():
            model.lstm.weight_ih_l0.copy_(p["lstm.Wx"].T)
            model.lstm.weight_hh_l0.copy_(p["lstm.Wh"].T)
            model.lstm.bias_ih_l0.copy_(p["lstm.b"])
            model.lstm.bias_hh_l0.zero_()
            model.head.weight.copy_(p["head.W"].T)
            model.head.bias.copy_(p["head.b"])
        model.lstm.bias_hh_l0.requires_grad_(False)
        params = {
            "lstm.Wx": model.lstm.weight_ih_l0,
            "lstm.Wh": model.lstm.weight_hh_l0,
            "lstm.b": model.lstm.bias_ih_l0,
            "head.W": model.head.weight,
            "head.b": model.head.bias,
        }
        return LabelledState(
            params,
            frozenset({"lstm.Wx", "lstm.Wh", "head.W"}),
            torch.from_numpy(problem.x),
            torch.from_numpy(problem.labels),
            model,
        )

    def loss(self, s: LabelledState) -> torch.Tensor:
        return F.cross_entropy(s.model(s.x), s.labels)


class BCE(_Leaves):
    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> LeavesState:
        z, y = wl.bce_problem(seed, dtype, sizes)
        return LeavesState({"z": torch.from_numpy(z).requires_grad_()}, target=torch.from_numpy(y))

    def output(self, s: LeavesState) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(s.leaves["z"], s.target)


WORKLOADS: dict[str, wl.WorkloadImpl] = {
    "mlp": MLP(),
    "chain": Chain(),
    "sigmoid_net": SigmoidNet(),
    "neuron": Neuron(),
    "cnn": CNN(),
    "lstm": LSTM(),
    "bce": BCE(),
}
