"""One table of every operation, shared by the tests of forward mode, higher order and gradcheck.

Each entry is written once with dp's API (so it runs on Nodes and on Duals alike), once with
PyTorch (the oracle), and says the shape and domain of each input: where the operation is defined
and smooth (away from kinks, ties and zero denominators).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import dp
from dp import Node


def real(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-2, 2, shape)


def positive(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.5, 2, shape)


def nonzero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Away from 0, where abs, relu and friends have a kink."""
    return rng.choice([-1, 1], shape) * rng.uniform(0.3, 2, shape)


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Well-separated values, so maxima have no ties (and between-grid values for the other operand)."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.5 - size * 0.2).reshape(shape)


def between(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return distinct(rng, shape) + 0.25


@dataclass(frozen=True)
class Op:
    dp: Callable[..., Any]
    torch: Callable[..., Any]
    inputs: tuple[tuple[tuple[int, ...], Callable[..., np.ndarray]], ...]

    def sample(self, rng: np.random.Generator, dtype: type = np.float64) -> list[np.ndarray]:
        return [domain(rng, shape).astype(dtype) for shape, domain in self.inputs]


def _op(dp_function: Callable[..., Any], torch_function: Callable[..., Any], *inputs: Any) -> Op:
    return Op(dp_function, torch_function, tuple(inputs))


MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])

OPS: dict[str, Op] = {
    # arithmetic, with broadcasting and with numbers on either side
    "add": _op(lambda a, b: a + b, torch.add, ((3, 4), real), ((4,), real)),
    "sub": _op(lambda a, b: a - b, torch.sub, ((3, 1), real), ((3, 4), real)),
    "mul": _op(lambda a, b: a * b, torch.mul, ((3, 4), real), ((3, 4), real)),
    "div": _op(lambda a, b: a / b, torch.div, ((3, 4), real), ((1, 4), nonzero)),
    "pow": _op(lambda a, b: a**b, torch.pow, ((3, 4), positive), ((3, 4), real)),
    "x ** 3": _op(lambda x: x**3, lambda t: t**3, ((3, 4), real)),
    "2 ** x": _op(lambda x: 2**x, lambda t: 2**t, ((3, 4), real)),
    "2 - x": _op(lambda x: 2 - x, lambda t: 2 - t, ((3, 4), real)),
    "1 / x": _op(lambda x: 1 / x, lambda t: 1 / t, ((3, 4), nonzero)),
    "array * x": _op(
        lambda x: np.arange(4.0, dtype=x.dtype) * x, lambda t: torch.arange(4.0, dtype=t.dtype) * t, ((3, 4), real)
    ),
    "neg": _op(lambda x: -x, torch.neg, ((3, 4), real)),
    # products
    "matmul": _op(lambda a, b: a @ b, torch.matmul, ((3, 4), real), ((4, 2), real)),
    "matmul vector-matrix": _op(lambda a, b: a @ b, torch.matmul, ((4,), real), ((4, 2), real)),
    "matmul matrix-vector": _op(lambda a, b: a.dot(b), torch.matmul, ((3, 4), real), ((4,), real)),
    "matmul batched": _op(np.matmul, torch.matmul, ((2, 3, 4), real), ((4, 2), real)),
    # element-wise functions
    "abs": _op(abs, torch.abs, ((3, 4), nonzero)),
    "exp": _op(lambda x: x.exp(), torch.exp, ((3, 4), real)),
    "np.exp": _op(np.exp, torch.exp, ((3, 4), real)),
    "log": _op(lambda x: x.log(), torch.log, ((3, 4), positive)),
    "sin": _op(lambda x: x.sin(), torch.sin, ((3, 4), real)),
    "cos": _op(np.cos, torch.cos, ((3, 4), real)),
    "tanh": _op(lambda x: x.tanh(), torch.tanh, ((3, 4), real)),
    "sigmoid": _op(lambda x: x.sigmoid(), torch.sigmoid, ((3, 4), real)),
    "relu": _op(lambda x: x.relu(), torch.relu, ((3, 4), nonzero)),
    "leaky_relu": _op(lambda x: x.leaky_relu(0.1), lambda t: F.leaky_relu(t, 0.1), ((3, 4), nonzero)),
    "sqrt": _op(np.sqrt, torch.sqrt, ((3, 4), positive)),
    "softmax": _op(lambda x: x.softmax(), lambda t: torch.softmax(t, -1), ((3, 4), real)),
    "softmax axis 0": _op(lambda x: x.softmax(axis=0), lambda t: torch.softmax(t, 0), ((3, 4), real)),
    "log_softmax": _op(lambda x: x.log_softmax(), lambda t: torch.log_softmax(t, -1), ((3, 4), real)),
    # reductions
    "sum": _op(lambda x: x.sum(), torch.sum, ((3, 4), real)),
    "sum axis 0 keepdims": _op(
        lambda x: x.sum(axis=0, keepdims=True), lambda t: t.sum(0, keepdim=True), ((3, 4), real)
    ),
    "mean axis 1": _op(lambda x: np.mean(x, axis=1), lambda t: t.mean(1), ((3, 4), real)),
    "max": _op(lambda x: x.max(), torch.amax, ((3, 4), distinct)),
    "max axis 1": _op(lambda x: x.max(axis=1), lambda t: t.amax(1), ((3, 4), distinct)),
    # shapes
    "reshape": _op(lambda x: x.reshape(2, 6), lambda t: t.reshape(2, 6), ((3, 4), real)),
    "transpose axes": _op(lambda x: x.transpose(1, 2, 0), lambda t: t.permute(1, 2, 0), ((2, 3, 4), real)),
    "T": _op(lambda x: x.T, lambda t: t.T, ((3, 4), real)),
    "swapaxes": _op(lambda x: x.swapaxes(0, 2), lambda t: t.transpose(0, 2), ((2, 3, 4), real)),
    "slices": _op(lambda x: x[1:, ::2], lambda t: t[1:, ::2], ((3, 4), real)),
    "integer array, repeated": _op(
        lambda x: x[np.array([0, 2, 0])], lambda t: t[torch.tensor([0, 2, 0])], ((3, 4), real)
    ),
    "boolean mask": _op(lambda x: x[MASK], lambda t: t[torch.tensor(MASK)], ((3, 4), real)),
    "broadcast_to": _op(lambda x: np.broadcast_to(x, (2, 3, 4)), lambda t: t.expand(2, 3, 4), ((3, 4), real)),
    # module functions, and NumPy's spelling of them
    "concatenate": _op(
        lambda a, b: dp.concatenate([a, b], axis=1), lambda a, b: torch.cat([a, b], 1), ((3, 4), real), ((3, 2), real)
    ),
    "np.concatenate with a constant": _op(
        lambda a: np.concatenate([a, np.ones((1, 4), a.dtype)]),
        lambda a: torch.cat([a, torch.ones(1, 4, dtype=a.dtype)]),
        ((3, 4), real),
    ),
    "stack": _op(
        lambda a, b: dp.stack([a, b], axis=-1), lambda a, b: torch.stack([a, b], -1), ((3, 4), real), ((3, 4), real)
    ),
    "where": _op(
        lambda a, b: dp.where(MASK, a, b),
        lambda a, b: torch.where(torch.tensor(MASK), a, b),
        ((3, 4), real),
        ((4,), real),
    ),
    "np.where with a number": _op(
        lambda a: np.where(MASK, a, 0.5), lambda a: torch.where(torch.tensor(MASK), a, 0.5), ((3, 4), real)
    ),
    "maximum": _op(dp.maximum, torch.maximum, ((3, 4), distinct), ((3, 4), between)),
    "np.maximum": _op(lambda a: np.maximum(a, 0.25), lambda a: torch.clamp(a, min=0.25), ((3, 4), distinct)),
}


# --------------------------------------------------------------------------------------------
# Oracles


def constant_call(function: Callable[..., Any], inputs: Sequence[np.ndarray]) -> np.ndarray:
    """function on plain values (as constant Nodes, since dp's methods are not on arrays)."""
    return np.asarray(function(*(Node(x) for x in inputs)).value)


def directional_difference(
    function: Callable[..., Any], inputs: Sequence[np.ndarray], directions: Sequence[np.ndarray], eps: float = 1e-6
) -> np.ndarray:
    """(f(x + eps v) - f(x - eps v)) / (2 eps), in float64: J·v by central differences."""
    plus = constant_call(function, [x + eps * v for x, v in zip(inputs, directions)])
    minus = constant_call(function, [x - eps * v for x, v in zip(inputs, directions)])
    return (plus - minus) / (2 * eps)


def torch_first_and_second(
    function: Callable[..., Any], inputs: Sequence[np.ndarray], u: np.ndarray, ws: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """PyTorch's g_i = d<u, f>/dx_i, and the double backward d(sum_i <g_i, w_i>)/dx."""
    tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
    out = function(*tensors)
    firsts = torch.autograd.grad(out, tensors, torch.tensor(u), create_graph=True)
    total = sum((g * torch.tensor(w)).sum() for g, w in zip(firsts, ws))
    if total.requires_grad:
        seconds = torch.autograd.grad(total, tensors, allow_unused=True)
    else:  # the first derivative does not depend on x: a linear function
        seconds = [None] * len(tensors)
    return (
        [g.detach().numpy() for g in firsts],
        [np.zeros_like(x) if s is None else s.numpy() for x, s in zip(inputs, seconds)],
    )


def tanh_mlp(sizes: Sequence[int], x: np.ndarray, labels: np.ndarray):
    """A small tanh network's cross-entropy as a function of one flat parameter vector, written
    once for dp (Nodes, Duals) and once for PyTorch; returns (dp function, torch function, size)."""
    shapes = [(m, n) for m, n in zip(sizes[:-1], sizes[1:])]
    count = sum(m * n + n for m, n in shapes)
    onehot = np.eye(sizes[-1])[labels]

    def unpack(theta):
        start, layers = 0, []
        for m, n in shapes:
            weight = theta[start : start + m * n].reshape(m, n)
            bias = theta[start + m * n : start + m * n + n]
            layers.append((weight, bias))
            start += m * n + n
        return layers

    def loss_dp(theta):
        h = x
        layers = unpack(theta)
        for index, (weight, bias) in enumerate(layers):
            h = h @ weight + bias
            if index < len(layers) - 1:
                h = np.tanh(h)
        return -(h.log_softmax() * onehot).sum() / len(x)

    def loss_torch(theta):
        h = torch.tensor(x)
        layers = unpack(theta)
        for index, (weight, bias) in enumerate(layers):
            h = h @ weight + bias
            if index < len(layers) - 1:
                h = torch.tanh(h)
        return -(torch.log_softmax(h, -1) * torch.tensor(onehot)).sum() / len(x)

    return loss_dp, loss_torch, count
