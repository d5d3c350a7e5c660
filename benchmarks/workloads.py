"""Shared definitions of the benchmark workloads: sizes, seeded data, weight initialisation.

Every implementation module (``impl_numpy``, ``impl_dp``, ``impl_dp_traced``, ``impl_torch``,
``impl_autograd``, ``impl_micrograd``) builds its state from the functions here, so all of them start from the
same weights and the same batch, bit for bit.  Each module exposes, per workload *kind*,
an object following the :class:`WorkloadImpl` protocol, collected in a module-level
``WORKLOADS`` dict.

Kinds (the workload ids of the report are in :data:`WORKLOAD_SPECS`):

``mlp``          W1: the paper's MNIST network 784-500-200-10, ReLU, ReLU, softmax
                 cross-entropy from logits (mean over the batch), one SGD step (lr 0.1).
``chain``        W2: ``y = tanh(y * 0.5 + 0.1)`` repeated ``chain_links`` times on a named
                 leaf ``x``, then ``sum``; forward + backward, no update.
``sigmoid_net``  W3: the vanishing-gradient network: ``sig_layers`` sigmoid layers (all of
                 width ``sig_width`` except the last, of width 1), binary cross-entropy of
                 the sigmoid output, one SGD step (lr 0.1).
``neuron``       W4: the scalar neuron ``sigmoid(a*x + b*y + c)`` at (1, 2, -3, -1, 3);
                 gradients with respect to all five inputs.
``cnn``          W5: LeNet: conv 5x5 (1->6), ReLU, max-pool 2, conv 5x5 (6->16), ReLU,
                 max-pool 2, flatten (16*4*4 = 256), linear 256->120, ReLU, linear 120->10,
                 softmax cross-entropy (mean over the batch), one SGD step (lr 0.1); a batch of
                 64 random 28x28 one-channel images (standard normal) and random labels.
``lstm``         W6: sequence classification with an LSTM, what a user of one trains first:
                 LSTM 32->128 over 50 steps from a zero state (batch first), a linear head
                 128->10 on the last hidden state, softmax cross-entropy (mean over the
                 batch), one SGD step (lr 0.1); batch 32, random inputs and labels.
``bce``          W7: ``binary_cross_entropy_with_logits`` of a 100x784 batch of logits against
                 targets in [0, 1] (a VAE's Bernoulli decoder on MNIST pixels), mean over all
                 elements; forward + backward with respect to the logits, no update.

Parameter layouts are dp's: linear weights (n_in, n_out), convolution kernels (out, in, kh,
kw), the LSTM's ``Wx`` (in, 4H), ``Wh`` (H, 4H) and ``b`` (4H,) with the gates in PyTorch's
order i, f, g, o.  An implementation whose library lays them out otherwise (PyTorch's
``nn.Linear`` and ``nn.LSTM`` keep the transposes) copies them in and hands its gradients
back in dp's layout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import numpy.random  # noqa: F401  (lazy in NumPy 2: imported here, before any baseline is taken)

LEARNING_RATE = 0.1
CHAIN_MUL = 0.5
CHAIN_ADD = 0.1
NEURON_POINT: dict[str, float] = {"a": 1.0, "b": 2.0, "c": -3.0, "x": -1.0, "y": 3.0}

Grads = dict[str, np.ndarray]


@dataclass(frozen=True)
class Sizes:
    """Problem sizes; one instance for the real run and a tiny one for ``--smoke``."""

    mlp_layers: tuple[int, ...] = (784, 500, 200, 10)
    mlp_batch: int = 128
    chain_links: int = 333
    chain_shape: tuple[int, int] = (1, 1)
    chain_large_side: int = 32  # W2's second variant runs on a chain_large_side^2 array
    sig_width: int = 100
    sig_layers: int = 10
    sig_batch: int = 64
    memory_steps: int = 35
    cnn_image: int = 28  # square, one channel
    cnn_channels: tuple[int, int, int] = (1, 6, 16)  # input, first and second convolution
    cnn_kernel: int = 5
    cnn_hidden: int = 120
    cnn_classes: int = 10
    cnn_batch: int = 64
    lstm_input: int = 32
    lstm_hidden: int = 128
    lstm_steps: int = 50
    lstm_batch: int = 32
    lstm_classes: int = 10
    bce_shape: tuple[int, int] = (100, 784)

    @property
    def cnn_pooled(self) -> int:
        """The side of the second pooling's output: (image - k + 1) / 2, twice."""
        side = self.cnn_image
        for _ in range(2):
            side -= self.cnn_kernel - 1
            if side < 2 or side % 2:
                raise ValueError(f"the CNN's image side {self.cnn_image} does not pool evenly")
            side //= 2
        return side

    @property
    def cnn_flat(self) -> int:
        return self.cnn_channels[2] * self.cnn_pooled**2


FULL = Sizes()
SMOKE = Sizes(
    mlp_layers=(20, 12, 8, 4),
    mlp_batch=6,
    chain_links=5,
    chain_large_side=3,
    sig_width=7,
    sig_layers=3,
    sig_batch=5,
    memory_steps=3,
    cnn_image=16,  # 16 -> 12 -> 6 -> 2 -> 1
    cnn_channels=(1, 2, 3),
    cnn_hidden=5,
    cnn_classes=4,
    cnn_batch=3,
    lstm_input=3,
    lstm_hidden=4,
    lstm_steps=5,
    lstm_batch=2,
    lstm_classes=3,
    bce_shape=(3, 7),
)


@dataclass(frozen=True)
class WorkloadSpec:
    """One row group of the report: which kind, at which dtype, with which size variant."""

    id: str
    kind: str
    dtype: str
    title: str
    chain_large: bool | None = None  # W2 only: 1x1 (False) or the large square array (True)

    def sizes(self, base: Sizes) -> Sizes:
        if self.chain_large is None:
            return base
        side = base.chain_large_side if self.chain_large else 1
        return replace(base, chain_shape=(side, side))

    def describe(self, base: Sizes) -> str:
        s = self.sizes(base)
        if self.kind == "mlp":
            return f"MLP {'-'.join(map(str, s.mlp_layers))}, batch {s.mlp_batch}, {self.dtype}"
        if self.kind == "chain":
            r, c = s.chain_shape
            return f"{s.chain_links} x (mul, add, tanh) on {r}x{c}, {self.dtype}"
        if self.kind == "sigmoid_net":
            return f"{s.sig_layers} sigmoid layers of width {s.sig_width}, batch {s.sig_batch}, BCE, {self.dtype}"
        if self.kind == "neuron":
            return "sigmoid(a*x + b*y + c), scalars"
        if self.kind == "cnn":
            c0, c1, c2 = s.cnn_channels
            k = s.cnn_kernel
            return (
                f"conv {k}x{k} {c0}->{c1}, pool 2, conv {k}x{k} {c1}->{c2}, pool 2, "
                f"linear {s.cnn_flat}->{s.cnn_hidden}->{s.cnn_classes}, batch {s.cnn_batch} of "
                f"{s.cnn_image}x{s.cnn_image}, {self.dtype}"
            )
        if self.kind == "lstm":
            return (
                f"LSTM {s.lstm_input}->{s.lstm_hidden}, {s.lstm_steps} steps, batch "
                f"{s.lstm_batch}, linear head ->{s.lstm_classes} on the last h, {self.dtype}"
            )
        if self.kind == "bce":
            r, c = s.bce_shape
            return f"binary_cross_entropy_with_logits on {r}x{c}, forward + backward, {self.dtype}"
        raise ValueError(self.kind)


WORKLOAD_SPECS: tuple[WorkloadSpec, ...] = (
    WorkloadSpec("W1-f32", "mlp", "float32", "W1: MNIST MLP training step"),
    WorkloadSpec("W1-f64", "mlp", "float64", "W1: MNIST MLP training step"),
    WorkloadSpec("W2-1x1", "chain", "float64", "W2: per-operation overhead", chain_large=False),
    WorkloadSpec("W2-32x32", "chain", "float64", "W2: per-operation overhead", chain_large=True),
    WorkloadSpec("W3", "sigmoid_net", "float64", "W3: vanishing-gradient sigmoid network"),
    WorkloadSpec("W4", "neuron", "float64", "W4: scalar neuron"),
    WorkloadSpec("W5", "cnn", "float32", "W5: LeNet CNN training step"),
    WorkloadSpec("W6", "lstm", "float32", "W6: LSTM training step"),
    WorkloadSpec("W7-f32", "bce", "float32", "W7: binary cross-entropy with logits"),
    WorkloadSpec("W7-f64", "bce", "float64", "W7: binary cross-entropy with logits"),
)
#: The peak-memory run: W1 float32 for ``Sizes.memory_steps`` steps in a process of its own.
MEMORY_SPEC = WORKLOAD_SPECS[0]


@dataclass(frozen=True)
class ImplInfo:
    name: str
    module: str
    label: str
    scalar_only: bool = False
    lacks: Mapping[str, str] = field(default_factory=dict)  # kind -> why it does not apply

    def not_applicable(self, spec: WorkloadSpec) -> str | None:
        """Why this implementation cannot run ``spec`` (the report's n/a cell), or None.

        micrograd is scalar-only: W2 on 1x1 and W4; ``lacks`` names what a library has not.
        """
        scalar = spec.kind == "neuron" or (spec.kind == "chain" and not spec.chain_large)
        if self.scalar_only and not scalar:
            return "scalar-only"
        return self.lacks.get(spec.kind)

    def applies(self, spec: WorkloadSpec) -> bool:
        return self.not_applicable(spec) is None


IMPLEMENTATIONS: tuple[ImplInfo, ...] = (
    ImplInfo("numpy", "impl_numpy", "hand-written NumPy"),
    ImplInfo("dp", "impl_dp", "dp"),
    ImplInfo("dp-traced", "impl_dp_traced", "dp traced"),
    ImplInfo("torch", "impl_torch", "PyTorch CPU eager"),
    ImplInfo("autograd", "impl_autograd", "HIPS autograd", lacks={"cnn": "no convolution without SciPy"}),
    ImplInfo("micrograd", "impl_micrograd", "micrograd", scalar_only=True),
)
REFERENCE = "numpy"


class WorkloadImpl(Protocol):
    """What each implementation module provides per workload kind."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> Any:
        """Build weights and data (from the functions below) and anything the step needs."""

    def step(self, state: Any) -> None:
        """One timed step: forward, backward and, for training workloads, the SGD update."""

    def gradients(self, state: Any) -> Grads:
        """Forward + backward at the current weights, without updating; name -> gradient."""


# --------------------------------------------------------------------------- seeded data


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def dense_names(n_layers: int) -> list[tuple[str, str]]:
    """(weight name, bias name) per layer: W1, b1, W2, b2, ..."""
    return [(f"W{i}", f"b{i}") for i in range(1, n_layers + 1)]


def mlp_params(seed: int, dtype: np.dtype, layers: tuple[int, ...]) -> dict[str, np.ndarray]:
    """He-initialised weights (N(0, 2/fan_in)), zero biases; drawn in float64, then cast."""
    rng = _rng(seed, 0)
    params: dict[str, np.ndarray] = {}
    for (w, b), fan_in, fan_out in zip(dense_names(len(layers) - 1), layers[:-1], layers[1:]):
        params[w] = (rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)).astype(dtype)
        params[b] = np.zeros(fan_out, dtype=dtype)
    return params


def mlp_batch(seed: int, dtype: np.dtype, sizes: Sizes) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs (standard normal) and random integer labels."""
    rng = _rng(seed, 1)
    x = rng.standard_normal((sizes.mlp_batch, sizes.mlp_layers[0])).astype(dtype)
    labels = rng.integers(0, sizes.mlp_layers[-1], size=sizes.mlp_batch)
    return x, labels


def one_hot(labels: np.ndarray, n_classes: int, dtype: np.dtype) -> np.ndarray:
    out = np.zeros((labels.size, n_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out


def sigmoid_net_layers(sizes: Sizes) -> tuple[int, ...]:
    """Input width, then ``sig_layers - 1`` hidden widths, then the width-1 output."""
    return (sizes.sig_width,) * sizes.sig_layers + (1,)


def sigmoid_net_params(seed: int, dtype: np.dtype, sizes: Sizes) -> dict[str, np.ndarray]:
    """LeCun/Xavier-style N(0, 1/fan_in) weights and small random biases."""
    rng = _rng(seed, 2)
    layers = sigmoid_net_layers(sizes)
    params: dict[str, np.ndarray] = {}
    for (w, b), fan_in, fan_out in zip(dense_names(len(layers) - 1), layers[:-1], layers[1:]):
        params[w] = (rng.standard_normal((fan_in, fan_out)) / math.sqrt(fan_in)).astype(dtype)
        params[b] = (0.1 * rng.standard_normal(fan_out)).astype(dtype)
    return params


def sigmoid_net_batch(seed: int, dtype: np.dtype, sizes: Sizes) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and random 0/1 targets of shape (batch, 1)."""
    rng = _rng(seed, 3)
    x = rng.standard_normal((sizes.sig_batch, sizes.sig_width)).astype(dtype)
    y = rng.integers(0, 2, size=(sizes.sig_batch, 1)).astype(dtype)
    return x, y


@dataclass
class DenseProblem:
    """Weights and batch of a fully connected network (W1 and W3), as NumPy arrays."""

    params: dict[str, np.ndarray]
    names: list[tuple[str, str]]  # (weight, bias) per layer, input to output
    x: np.ndarray
    target: np.ndarray  # W1: integer labels, or one-hot rows; W3: 0/1 column


def mlp_problem(seed: int, dtype: np.dtype, sizes: Sizes, one_hot_labels: bool) -> DenseProblem:
    params = mlp_params(seed, dtype, sizes.mlp_layers)
    x, labels = mlp_batch(seed, dtype, sizes)
    target = one_hot(labels, sizes.mlp_layers[-1], dtype) if one_hot_labels else labels
    return DenseProblem(params, dense_names(len(sizes.mlp_layers) - 1), x, target)


def sigmoid_net_problem(seed: int, dtype: np.dtype, sizes: Sizes) -> DenseProblem:
    params = sigmoid_net_params(seed, dtype, sizes)
    x, y = sigmoid_net_batch(seed, dtype, sizes)
    return DenseProblem(params, dense_names(sizes.sig_layers), x, y)


def chain_input(seed: int, dtype: np.dtype, sizes: Sizes) -> np.ndarray:
    return _rng(seed, 4).uniform(-1.0, 1.0, size=sizes.chain_shape).astype(dtype)


@dataclass
class LabelledProblem:
    """Weights (dp's layouts, by dp's parameter names), inputs and integer labels: W5 and W6."""

    params: dict[str, np.ndarray]
    x: np.ndarray
    labels: np.ndarray  # int64 class indices, one per example


CNN_NAMES = ("conv1.W", "conv1.b", "conv2.W", "conv2.b", "fc1.W", "fc1.b", "fc2.W", "fc2.b")
LSTM_NAMES = ("lstm.Wx", "lstm.Wh", "lstm.b", "head.W", "head.b")


def cnn_problem(seed: int, dtype: np.dtype, sizes: Sizes) -> LabelledProblem:
    """He-initialised kernels (fan-in in * kh * kw, as PyTorch counts it) and weights, small
    random biases (so that a bias that is dropped changes the loss), random images and labels."""
    rng = _rng(seed, 5)
    c0, c1, c2 = sizes.cnn_channels
    k = sizes.cnn_kernel
    shapes = {
        "conv1.W": (c1, c0, k, k),
        "conv1.b": (c1,),
        "conv2.W": (c2, c1, k, k),
        "conv2.b": (c2,),
        "fc1.W": (sizes.cnn_flat, sizes.cnn_hidden),
        "fc1.b": (sizes.cnn_hidden,),
        "fc2.W": (sizes.cnn_hidden, sizes.cnn_classes),
        "fc2.b": (sizes.cnn_classes,),
    }
    params = {}
    for name in CNN_NAMES:
        shape = shapes[name]
        if len(shape) == 1:
            params[name] = (0.1 * rng.standard_normal(shape)).astype(dtype)
        else:
            fan_in = math.prod(shape[1:]) if len(shape) == 4 else shape[0]
            params[name] = (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(dtype)
    data = _rng(seed, 6)
    side = sizes.cnn_image
    x = data.standard_normal((sizes.cnn_batch, c0, side, side)).astype(dtype)
    labels = data.integers(0, sizes.cnn_classes, size=sizes.cnn_batch)
    return LabelledProblem(params, x, labels)


def lstm_problem(seed: int, dtype: np.dtype, sizes: Sizes) -> LabelledProblem:
    """PyTorch's LSTM and Linear initialisation, U(-1/sqrt(fan), 1/sqrt(fan)) with fan the hidden
    size (LSTM) or the head's input size, for every weight and bias; random inputs (batch,
    steps, input) and labels."""
    rng = _rng(seed, 7)
    n_in, hidden, classes = sizes.lstm_input, sizes.lstm_hidden, sizes.lstm_classes
    shapes = {
        "lstm.Wx": (n_in, 4 * hidden),
        "lstm.Wh": (hidden, 4 * hidden),
        "lstm.b": (4 * hidden,),
        "head.W": (hidden, classes),
        "head.b": (classes,),
    }
    bound = 1.0 / math.sqrt(hidden)  # the head's fan-in is the hidden size too
    params = {name: rng.uniform(-bound, bound, size=shapes[name]).astype(dtype) for name in LSTM_NAMES}
    data = _rng(seed, 8)
    x = data.standard_normal((sizes.lstm_batch, sizes.lstm_steps, n_in)).astype(dtype)
    labels = data.integers(0, classes, size=sizes.lstm_batch)
    return LabelledProblem(params, x, labels)


def bce_problem(seed: int, dtype: np.dtype, sizes: Sizes) -> tuple[np.ndarray, np.ndarray]:
    """Logits N(0, 3^2) (some saturated, as a decoder's are) and targets uniform in [0, 1]."""
    rng = _rng(seed, 9)
    z = (3.0 * rng.standard_normal(sizes.bce_shape)).astype(dtype)
    y = rng.uniform(0.0, 1.0, size=sizes.bce_shape).astype(dtype)
    return z, y


# --------------------------------------------------------------------------- helpers


def as_arrays(grads: Mapping[str, Any]) -> Grads:
    return {name: np.asarray(g) for name, g in grads.items()}


def sgd_update(params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], lr: float = LEARNING_RATE) -> None:
    """``p -= lr * g`` in place, for the implementations whose gradients are NumPy arrays.

    The gradient arrays belong to the caller after a backward pass, so they are scaled in
    place (no temporary the size of the weight); read-only or mismatched ones fall back to
    the allocating form.
    """
    for name, p in params.items():
        g = grads[name]
        if isinstance(g, np.ndarray) and g.flags.writeable and g.shape == p.shape and g.dtype == p.dtype:
            g *= lr
            p -= g
        else:
            p -= lr * np.asarray(g)


class TrainingWorkload:
    """Base for W1/W3 of the implementations whose backward pass hands back NumPy arrays.

    Subclasses define ``make_state`` (returning something with a ``params`` dict) and
    ``loss_grads``; a step is the gradients followed by :func:`sgd_update`.
    """

    def loss_grads(self, state: Any) -> Mapping[str, Any]:
        raise NotImplementedError

    def step(self, state: Any) -> None:
        sgd_update(state.params, self.loss_grads(state))

    def gradients(self, state: Any) -> Grads:
        return as_arrays(self.loss_grads(state))
