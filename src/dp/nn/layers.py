"""Layers: the building blocks of a network, each a small function of its input and its parameters.

A layer's parameters are named leaf Nodes (`Node(W, "h1.W")`), so `loss.grad(1)` reports their
gradients by name; inputs and labels stay unnamed constants, for which no gradient is computed.
A layer reads its parameters' current values each time it is called, so changing them (an
optimizer step, `Model.set_param`) changes what the layer computes.

Names. A layer given a name keeps it: `Linear(784, 500, "h1")` owns `h1.W` and `h1.b`. A layer
without one is named by where it sits in a model, the PyTorch way: attribute `fc` gives `fc.W`,
item 2 of a `Sequential` gives `2.W`; on its own it owns plain `W` and `b`.

Activations come both as functions (`relu(x)`, handy in `Sequential([..., relu, ...])` and in
`forward`) and as layers (`ReLU()`); `Linear(..., activation=relu)` fuses one into a layer, which is
what the paper's `ReLu_Layer` is.

    >>> layer = Linear(3, 2, "h1", rng=0)
    >>> sorted(layer.parameters())
    ['h1.W', 'h1.b']
    >>> layer(np.ones((4, 3))).shape
    (4, 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Self

import numpy as np
from numpy.typing import DTypeLike

from dp.data import GeneratorAttribute, as_generator
from dp.nn.init import Initializer, RngLike, he_normal, xavier_uniform
from dp import ops
from dp.node import Node, as_node, plain
from dp.types import Operand

__all__ = [
    "Activation",
    "BatchNorm",
    "Dropout",
    "ELU",
    "Embedding",
    "Flatten",
    "GELU",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LinearLayer",
    "LogSoftmax",
    "ReLU",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "elu",
    "embedding",
    "gelu",
    "layer_norm",
    "leaky_relu",
    "log_softmax",
    "relu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
]


def differentiable(x: Any) -> Any:
    """x as an operand of dp's operations: a Node, or a Dual (forward mode), as it is; anything
    else (an array, a number, a list) as a constant Node. The functions here return what dp
    differentiates, whatever they are given."""
    return x if isinstance(x, Node) or hasattr(type(x), "__dp_apply__") else as_node(x)


# ------------------------------------------------------------------------------------------------
# Activation functions: plain functions of a Node (or an array), usable anywhere a layer is.


def relu(x: Any) -> Node:
    """max(x, 0).   d/dx = 1 where x > 0, else 0."""
    return differentiable(x).relu()


def leaky_relu(x: Any, alpha: float = 0.01) -> Node:
    """x where x > 0, else alpha x.   d/dx = 1 where x > 0, else alpha."""
    return differentiable(x).leaky_relu(alpha)


def sigmoid(x: Any) -> Node:
    """1 / (1 + exp(-x)).   d/dx = sigmoid(x) (1 - sigmoid(x))."""
    return differentiable(x).sigmoid()


def tanh(x: Any) -> Node:
    """tanh(x).   d/dx = 1 - tanh(x)^2."""
    return differentiable(x).tanh()


def softmax(x: Any, axis: int = -1) -> Node:
    """exp(x) / sum(exp(x)) along `axis` (each row of a batch becomes a probability vector)."""
    return differentiable(x).softmax(axis)


def log_softmax(x: Any, axis: int = -1) -> Node:
    """log(softmax(x)) along `axis`, computed without overflow or log(0)."""
    return differentiable(x).log_softmax(axis)


def softplus(x: Any, beta: float = 1.0) -> Node:
    """log(1 + exp(beta x)) / beta, exact for any x (PyTorch's threshold, which switches to x for
    large beta x, is not needed: this never overflows).   d/dx = sigmoid(beta x)."""
    if isinstance(beta, bool) or not isinstance(beta, int | float | np.integer | np.floating) or not beta > 0:
        raise ValueError(f"softplus: beta must be a positive number, got {beta!r}")
    x = differentiable(x)
    return ops.softplus(x) if beta == 1 else ops.softplus(x * beta) / beta


def elu(x: Any, alpha: float = 1.0) -> Node:
    """x where x > 0, else alpha (exp(x) - 1).   d/dx = 1 where x > 0, else alpha exp(x)."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.integer | np.floating):
        raise TypeError(f"elu: alpha must be a number, got {type(alpha).__name__}")
    return ops.elu(differentiable(x), alpha)


def gelu(x: Any, approximate: str = "none") -> Node:
    """x Phi(x), Phi the standard normal CDF, exactly (with an erf accurate to float64), as
    PyTorch's default; approximate="tanh" gives PyTorch's tanh approximation."""
    return ops.gelu(differentiable(x), approximate)


def silu(x: Any) -> Node:
    """x sigmoid(x), also called swish.   d/dx = sigmoid(x) (1 + x (1 - sigmoid(x)))."""
    return ops.silu(differentiable(x))


# Activations after which He initialisation is the right default (they zero about half the signal).
_RELU_LIKE = (relu, leaky_relu, Node.relu, Node.leaky_relu)  # type: ignore[attr-defined]  # dp/ops/ installs these methods on Node at import


# ------------------------------------------------------------------------------------------------
# The base class


class Layer:
    """Something that maps an input to an output and may own parameters (named leaf Nodes) and
    buffers (state that is saved but not trained, such as BatchNorm's running statistics).

    Subclasses create parameters with `self._param(key, array)`, list their buffers' attribute
    names in `_buffer_keys`, and define `forward(x)`. `layer(x)` calls `forward(x)`.
    """

    _buffer_keys: tuple[str, ...] = ()

    def __init__(self, name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"a layer's name must be a non-empty string or None, got {name!r}")
        self._name = name  # given by the user: kept wherever the layer goes
        self._prefix = name  # the name in use (set by the containing model when not given)
        self._param_keys: list[str] = []
        self.training = True

    def forward(self, x: Operand) -> Node:
        raise NotImplementedError(f"{type(self).__name__} must define forward(x)")

    def __call__(self, *inputs: Any, **options: Any) -> Any:
        return self.forward(*inputs, **options)  # most take one input; recurrent layers and attention take more

    # -- parameters and buffers -----------------------------------------------------------------

    def _param(self, key: str, value: np.ndarray) -> Node:
        """A new parameter of this layer: a named leaf Node, remembered under `key`."""
        self._param_keys.append(key)
        return Node(value, _join(self._prefix, key))

    def _items(self) -> Iterator[tuple[str | None, Node | Layer]]:
        """This layer's own parameters and the layers inside it, in definition order, each with
        the key that names it (None: a Node that keeps its own name). A plain layer has only
        the parameters it made with `_param`."""
        for key in self._param_keys:
            yield key, getattr(self, key)

    def _walk(self) -> tuple[list[Layer], list[Node]]:
        """This layer and every layer inside it, and all their parameters, each once, in
        definition order.

        On the way it names each unnamed layer by its position (`fc`, `body.2`, ...), so the
        names always follow the model's current structure.
        """
        layers: list[Layer] = []
        params: list[Node] = []
        seen: set[int] = set()

        def visit(layer: Layer, prefix: str | None) -> None:
            seen.add(id(layer))
            layers.append(layer)
            if layer._name is None:
                layer._prefix = prefix
            for key, item in layer._items():
                if isinstance(item, Node):
                    if key is not None:
                        item.name = _join(layer._prefix, key)
                    if isinstance(item.value, np.generic):
                        # A Node keeps a number as an immutable NumPy scalar; a parameter needs an
                        # array that optimizers, set_param and load can update in place.
                        item.value = np.array(item.value)
                    params.append(item)
                elif id(item) not in seen:  # a layer used twice shares its parameters
                    visit(item, _join(layer._prefix, key))  # type: ignore[arg-type]  # a layer inside a layer always has a key

        visit(self, self._prefix)
        return layers, params

    def parameters(self) -> dict[str, Node]:
        """dict name -> parameter Node, for this layer and every layer inside it, in definition
        order. A ValueError if two different parameters have the same name."""
        found: dict[str, Node] = {}
        for node in self._walk()[1]:
            if found.setdefault(node.name, node) is not node:  # type: ignore[arg-type]  # parameters are named
                raise ValueError(f"two different parameters are named {node.name!r}: give the layers different names")
        return found

    @property
    def variables(self) -> dict[str, Node]:
        """The parameters, under the project sheet's name: `optimizer(model.variables, gradients)`."""
        return self.parameters()

    def _state(self) -> dict[str, np.ndarray]:
        """Everything `save` writes: each parameter's value and each buffer, by name."""
        state = {name: node.value for name, node in self.parameters().items()}
        for layer in self._walk()[0]:
            for key in layer._buffer_keys:
                name = _join(layer._prefix, key)
                if name in state:
                    raise ValueError(f"a buffer and a parameter are both named {name!r}")
                state[name] = getattr(layer, key)
        return state  # type: ignore[return-value]  # parameters and buffers are arrays, never 0-d scalars

    # -- training and evaluation mode -----------------------------------------------------------

    def train(self, mode: bool = True) -> Self:
        """Training mode (Dropout drops, BatchNorm uses batch statistics), for every layer inside."""
        for layer in self._walk()[0]:
            layer.training = mode
        return self

    def eval(self) -> Self:
        """Evaluation mode: Dropout passes its input through, BatchNorm uses its running statistics."""
        return self.train(False)

    def __repr__(self) -> str:
        name = f", name={self._name!r}" if self._name else ""
        return f"{type(self).__name__}({self._describe()}{name})"

    def _describe(self) -> str:
        return ""


def _join(prefix: str | None, key: str) -> str:
    return key if prefix is None else f"{prefix}.{key}"


def _count(value: Any, label: str) -> int:
    """`value` as an int >= 1 (sizes, steps, batch sizes); a bool is not a count."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{label} must be a positive integer, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------------------------
# Layers


class Linear(Layer):
    """A fully connected layer: act(x @ W + b), with W of shape (n_in, n_out) and b of shape (n_out,).

    W is (n_in, n_out), not the transpose, so a batch of row vectors needs no transposing.
    `init` makes W (see `dp.nn.init`); by default He normal when `activation` is ReLU-like, else
    Xavier uniform. b starts at zero. `activation` is any function of a Node (`relu`, `tanh`, ...).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        name: str | None = None,
        *,
        activation: Callable[[Node], Node] | None = None,
        init: Initializer | None = None,
        bias: bool = True,
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__(name)
        self.n_in, self.n_out = _count(n_in, "Linear: n_in"), _count(n_out, "Linear: n_out")
        self.activation = activation
        if init is None:  # an activation layer (ReLU()) counts as its function
            init = he_normal if getattr(activation, "function", activation) in _RELU_LIKE else xavier_uniform
        self.W = self._param("W", init((self.n_in, self.n_out), rng=as_generator(rng, "Linear: rng"), dtype=dtype))
        self.b = self._param("b", np.zeros(self.n_out, dtype=dtype)) if bias else None

    def forward(self, x: Operand) -> Node:
        x = differentiable(x)
        if x.ndim == 0 or x.shape[-1] != self.n_in:
            raise ValueError(f"{self!r}: expected an input (..., {self.n_in}), got shape {x.shape}")
        out = x @ self.W
        if self.b is not None:
            out = out + self.b
        return out if self.activation is None else self.activation(out)

    def _describe(self) -> str:
        act = "" if self.activation is None else f", {getattr(self.activation, '__name__', self.activation)}"
        return f"{self.n_in} -> {self.n_out}{act}"


#: The project sheet's name for the same layer.
LinearLayer = Linear


class Activation(Layer):
    """An activation function as a layer (no parameters): `Activation(function, **options)`."""

    def __init__(self, function: Callable[..., Node], **options: Any) -> None:
        super().__init__()
        self.function, self.options = function, options

    def forward(self, x: Operand) -> Node:
        return self.function(x, **self.options)

    def _describe(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.options.items())


class ReLU(Activation):
    """max(x, 0) as a layer."""

    def __init__(self) -> None:
        super().__init__(relu)


class LeakyReLU(Activation):
    """x where x > 0, else alpha x, as a layer."""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__(leaky_relu, alpha=alpha)


class Sigmoid(Activation):
    """The logistic function as a layer."""

    def __init__(self) -> None:
        super().__init__(sigmoid)


class Tanh(Activation):
    """tanh as a layer."""

    def __init__(self) -> None:
        super().__init__(tanh)


class Softmax(Activation):
    """softmax along `axis` as a layer."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__(softmax, axis=axis)


class LogSoftmax(Activation):
    """log_softmax along `axis` as a layer."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__(log_softmax, axis=axis)


class Softplus(Activation):
    """log(1 + exp(beta x)) / beta as a layer."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__(softplus, beta=beta)


class ELU(Activation):
    """The exponential linear unit as a layer."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(elu, alpha=alpha)


class GELU(Activation):
    """The Gaussian error linear unit (exact by default) as a layer."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__(gelu, approximate=approximate)


class SiLU(Activation):
    """x sigmoid(x) as a layer."""

    def __init__(self) -> None:
        super().__init__(silu)


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...): the bridge from convolutions to linear layers, as
    torch.nn.Flatten (axes from `start_dim` on are merged)."""

    def __init__(self, start_dim: int = 1) -> None:
        super().__init__()
        if isinstance(start_dim, bool) or not isinstance(start_dim, int | np.integer) or start_dim < 0:
            raise ValueError(f"Flatten: start_dim must be a non-negative int, got {start_dim!r}")
        self.start_dim = int(start_dim)

    def forward(self, x: Operand) -> Node:
        x = differentiable(x)
        if x.ndim <= self.start_dim:
            raise ValueError(
                f"Flatten(start_dim={self.start_dim}): the input needs more than {self.start_dim} "
                f"axes, got shape {x.shape}"
            )
        return x.reshape(x.shape[: self.start_dim] + (math.prod(x.shape[self.start_dim :]),))  # -1 fails on N = 0

    def _describe(self) -> str:
        return f"start_dim={self.start_dim}"


def embedding(indices: Any, W: Any) -> Node:
    """Row indices[...] of W: (...) integers -> (..., embedding_dim), as torch.nn.functional.embedding.
    The gradient adds into the rows that were looked up (twice for a row looked up twice)."""
    return _lookup(indices, W, "embedding")


def _lookup(indices: Any, W: Any, where: str) -> Node:
    """embedding, its errors naming `where` (the function, or the layer that called it)."""
    table = differentiable(W)
    if table.ndim != 2:
        raise ValueError(f"{where}: the table W must be (num_embeddings, embedding_dim), got shape {table.shape}")
    indices = plain(indices)
    if not isinstance(indices, np.ndarray | np.generic | int | list | tuple):
        raise TypeError(f"{where}: indices must be an array of integers, got {type(indices).__name__}")
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(
            f"{where}: indices must be integers, got an array of dtype {indices.dtype} "
            "(a Node holds floats: pass the integer array itself)"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= table.shape[0]):
        raise IndexError(
            f"{where}: indices must lie in 0..{table.shape[0] - 1} (the table's rows), "
            f"got {indices.min()}..{indices.max()}"
        )
    return table[indices]


class Embedding(Layer):
    """A lookup table: `Embedding(num_embeddings, embedding_dim)` maps integers (...) to rows of
    W (num_embeddings, embedding_dim), (..., embedding_dim), as torch.nn.Embedding. W starts
    N(0, 1), as PyTorch's."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        name: str | None = None,
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__(name)
        self.num_embeddings = _count(num_embeddings, "Embedding: num_embeddings")
        self.embedding_dim = _count(embedding_dim, "Embedding: embedding_dim")
        weights = as_generator(rng, "Embedding: rng").standard_normal((self.num_embeddings, self.embedding_dim))
        self.W = self._param("W", weights.astype(dtype, copy=False))

    def forward(self, indices: Any) -> Node:
        return _lookup(indices, self.W, repr(self))

    def _describe(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


def _normalized_shape(normalized_shape: Any, where: str) -> tuple[int, ...]:
    shape = (normalized_shape,) if not isinstance(normalized_shape, tuple | list) else tuple(normalized_shape)
    if not shape or not all(isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 1 for n in shape):
        raise ValueError(
            f"{where}: normalized_shape must be a positive int or a tuple of them, got {normalized_shape!r}"
        )
    return tuple(int(n) for n in shape)


def layer_norm(
    x: Any, normalized_shape: int | tuple[int, ...], gamma: Any = None, beta: Any = None, eps: float = 1e-5
) -> Node:
    """Layer normalisation (Ba et al., 2016), as torch.nn.functional.layer_norm: each example is
    normalised over its last axes, `normalized_shape`, to mean 0 and (biased) variance 1, then
    scaled by gamma and shifted by beta (each of normalized_shape, optional):
    y = (x - mean) / sqrt(var + eps) * gamma + beta."""
    return _normalize(x, _normalized_shape(normalized_shape, "layer_norm"), gamma, beta, eps, "layer_norm")


def _normalize(x: Any, shape: tuple[int, ...], gamma: Any, beta: Any, eps: float, where: str) -> Node:
    """layer_norm, its errors naming `where` (the function, or the layer that called it)."""
    x = differentiable(x)
    if x.ndim < len(shape) or x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(f"{where}: the input's last axes must be normalized_shape {shape}, got shape {x.shape}")
    for label, parameter in (("gamma", gamma), ("beta", beta)):
        if parameter is not None and np.shape(plain(parameter)) != shape:
            raise ValueError(
                f"{where}: {label} must have normalized_shape {shape}, got shape {np.shape(plain(parameter))}"
            )
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centered = x - x.mean(axis=axes, keepdims=True)
    y = centered / ((centered * centered).mean(axis=axes, keepdims=True) + eps).sqrt()
    if gamma is not None:
        y = y * gamma
    return y if beta is None else y + beta


class LayerNorm(Layer):
    """`layer_norm` as a layer with its own gamma (starting at 1) and beta (at 0), each of
    normalized_shape, as torch.nn.LayerNorm."""

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        *,
        name: str | None = None,
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        # rng is taken, as by every layer with parameters, though these start at fixed values
        as_generator(rng, f"{type(self).__name__}: rng")
        super().__init__(name)
        self.normalized_shape = _normalized_shape(normalized_shape, "LayerNorm")
        self.eps = float(eps)
        self.gamma = self._param("gamma", np.ones(self.normalized_shape, dtype=dtype))
        self.beta = self._param("beta", np.zeros(self.normalized_shape, dtype=dtype))

    def forward(self, x: Operand) -> Node:
        return _normalize(x, self.normalized_shape, self.gamma, self.beta, self.eps, repr(self))

    def _describe(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class Dropout(Layer):
    """Inverted dropout (Srivastava et al., 2014), as PyTorch's `nn.Dropout`.

    In training mode each element is zeroed with probability p and the survivors are scaled by
    1 / (1 - p), so the expected output equals the input and evaluation needs no rescaling; the
    gradient flows through the same mask. In evaluation mode the layer is the identity. The last
    mask used (zeros and 1/(1-p)) is kept in `mask`.
    """

    rng = GeneratorAttribute()  # where the masks come from

    def __init__(self, p: float = 0.5, rng: RngLike = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating):
            raise TypeError(f"Dropout: p must be a probability (a number in [0, 1]), got {type(p).__name__}")
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p = float(p)
        self.rng = rng
        self.mask: np.ndarray | None = None

    def forward(self, x: Operand) -> Node:
        x = differentiable(x)
        if not self.training or self.p == 0:
            return x
        keep = self.rng.random(x.shape) >= self.p
        scale = 0.0 if self.p == 1 else 1 / (1 - self.p)  # p = 1 drops everything, as PyTorch
        self.mask = np.multiply(keep, scale, dtype=x.dtype)
        return x * self.mask

    def _describe(self) -> str:
        return f"p={self.p}"


class BatchNorm(Layer):
    """Batch normalisation (Ioffe & Szegedy, 2015), as PyTorch's `nn.BatchNorm1d` on feature rows
    (N, n_features) and `nn.BatchNorm2d` on images (N, n_features, H, W) (same defaults, same
    running statistics): each feature (channel) is normalised over the batch and, for images, over
    the positions.

    Training: y = gamma * (x - mean) / sqrt(var + eps) + beta with the batch's mean and (biased)
    variance per feature, and running_stat <- (1 - momentum) running_stat + momentum batch_stat,
    where the running variance takes the unbiased batch variance (n / (n - 1) times, n the number
    of values averaged), as PyTorch. Evaluation: the running statistics take the batch's place.
    gamma starts at 1, beta at 0.
    """

    _buffer_keys = ("running_mean", "running_var")

    def __init__(
        self,
        n_features: int,
        name: str | None = None,
        *,
        momentum: float = 0.1,
        eps: float = 1e-5,
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        # rng is taken, as by every layer with parameters, though these start at fixed values
        as_generator(rng, f"{type(self).__name__}: rng")
        super().__init__(name)
        self.n_features = _count(n_features, "BatchNorm: n_features")
        self.momentum, self.eps = float(momentum), float(eps)
        self.gamma = self._param("gamma", np.ones(self.n_features, dtype=dtype))
        self.beta = self._param("beta", np.zeros(self.n_features, dtype=dtype))
        self.running_mean = np.zeros(self.n_features, dtype=dtype)
        self.running_var = np.ones(self.n_features, dtype=dtype)

    def forward(self, x: Operand) -> Node:
        x = differentiable(x)
        if x.ndim not in (2, 3, 4) or x.shape[1] != self.n_features:
            raise ValueError(
                f"BatchNorm({self.n_features}): expected input (N, {self.n_features}), "
                f"(N, {self.n_features}, L) or (N, {self.n_features}, H, W), got {x.shape}"
            )
        # Statistics over every axis but the features', which the parameters broadcast along.
        axes = (0,) + tuple(range(2, x.ndim))
        per_feature = (self.n_features,) + (1,) * (x.ndim - 2)
        gamma, beta = self.gamma.reshape(per_feature), self.beta.reshape(per_feature)
        if not self.training:
            mean, var = self.running_mean.reshape(per_feature), self.running_var.reshape(per_feature)
            return (x - mean) / np.sqrt(var + self.eps) * gamma + beta
        n = x.size // self.n_features
        if n < 2:
            raise ValueError(
                f"{self!r}: training mode needs more than one value per feature to estimate a variance, "
                f"got input {x.shape}"
            )
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        # The statistics as plain numbers (plain: inside nested modes a value is itself a Node or a
        # Dual), both new buffers computed before either is written, then written in place: the
        # buffers' identity is kept, so saving and loading see the live arrays.
        m = self.momentum
        new_mean = (1 - m) * self.running_mean + m * plain(mean).reshape(-1)
        new_var = (1 - m) * self.running_var + (m * n / (n - 1)) * plain(var).reshape(-1)
        self.running_mean[...] = new_mean
        self.running_var[...] = new_var
        return centered / (var + self.eps).sqrt() * gamma + beta

    def _describe(self) -> str:
        return f"{self.n_features}"
