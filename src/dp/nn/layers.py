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

from collections.abc import Callable, Iterator
from typing import Any, Self

import numpy as np
from numpy.typing import DTypeLike

from dp.nn.init import Initializer, RngLike, he_normal, xavier_uniform
from dp.node import Node, as_node

__all__ = ["Activation", "BatchNorm", "Dropout", "Layer", "LeakyReLU", "Linear", "LinearLayer", "LogSoftmax",
           "ReLU", "Sigmoid", "Softmax", "Tanh", "leaky_relu", "log_softmax", "relu", "sigmoid", "softmax",
           "tanh"]


# ------------------------------------------------------------------------------------------------
# Activation functions: plain functions of a Node (or an array), usable anywhere a layer is.


def relu(x: Any) -> Node:
    """max(x, 0).   d/dx = 1 where x > 0, else 0."""
    return as_node(x).relu()


def leaky_relu(x: Any, alpha: float = 0.01) -> Node:
    """x where x > 0, else alpha x.   d/dx = 1 where x > 0, else alpha."""
    return as_node(x).leaky_relu(alpha)


def sigmoid(x: Any) -> Node:
    """1 / (1 + exp(-x)).   d/dx = sigmoid(x) (1 - sigmoid(x))."""
    return as_node(x).sigmoid()


def tanh(x: Any) -> Node:
    """tanh(x).   d/dx = 1 - tanh(x)^2."""
    return as_node(x).tanh()


def softmax(x: Any, axis: int = -1) -> Node:
    """exp(x) / sum(exp(x)) along `axis` (each row of a batch becomes a probability vector)."""
    return as_node(x).softmax(axis)


def log_softmax(x: Any, axis: int = -1) -> Node:
    """log(softmax(x)) along `axis`, computed without overflow or log(0)."""
    return as_node(x).log_softmax(axis)


# Activations after which He initialisation is the right default (they zero about half the signal).
_RELU_LIKE = (relu, leaky_relu, Node.relu, Node.leaky_relu)


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

    def forward(self, x: Any) -> Node:
        raise NotImplementedError(f"{type(self).__name__} must define forward(x)")

    def __call__(self, x: Any) -> Node:
        return self.forward(x)

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
                    visit(item, _join(layer._prefix, key))

        visit(self, self._prefix)
        return layers, params

    def parameters(self) -> dict[str, Node]:
        """dict name -> parameter Node, for this layer and every layer inside it, in definition
        order. A ValueError if two different parameters have the same name."""
        found: dict[str, Node] = {}
        for node in self._walk()[1]:
            if found.setdefault(node.name, node) is not node:
                raise ValueError(f"two different parameters are named {node.name!r}: "
                                 "give the layers different names")
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
        return state

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

    def __init__(self, n_in: int, n_out: int, name: str | None = None, *,
                 activation: Callable[[Node], Node] | None = None, init: Initializer | None = None,
                 bias: bool = True, rng: RngLike = None, dtype: DTypeLike = np.float64) -> None:
        super().__init__(name)
        self.n_in, self.n_out = _count(n_in, "Linear: n_in"), _count(n_out, "Linear: n_out")
        self.activation = activation
        if init is None:  # an activation layer (ReLU()) counts as its function
            init = he_normal if getattr(activation, "function", activation) in _RELU_LIKE else xavier_uniform
        self.W = self._param("W", init((self.n_in, self.n_out), rng=rng, dtype=dtype))
        self.b = self._param("b", np.zeros(self.n_out, dtype=dtype)) if bias else None

    def forward(self, x: Any) -> Node:
        out = as_node(x) @ self.W
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

    def forward(self, x: Any) -> Node:
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


class Dropout(Layer):
    """Inverted dropout (Srivastava et al., 2014), as PyTorch's `nn.Dropout`.

    In training mode each element is zeroed with probability p and the survivors are scaled by
    1 / (1 - p), so the expected output equals the input and evaluation needs no rescaling; the
    gradient flows through the same mask. In evaluation mode the layer is the identity. The last
    mask used (zeros and 1/(1-p)) is kept in `mask`.
    """

    def __init__(self, p: float = 0.5, rng: RngLike = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating):
            raise TypeError(f"Dropout: p must be a probability (a number in [0, 1]), got {type(p).__name__}")
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p = float(p)
        self.rng = np.random.default_rng(rng)
        self.mask: np.ndarray | None = None

    def forward(self, x: Any) -> Node:
        x = as_node(x)
        if not self.training or self.p == 0:
            return x
        keep = self.rng.random(x.shape) >= self.p
        scale = 0.0 if self.p == 1 else 1 / (1 - self.p)  # p = 1 drops everything, as PyTorch
        self.mask = np.multiply(keep, scale, dtype=x.dtype)
        return x * self.mask

    def _describe(self) -> str:
        return f"p={self.p}"


class BatchNorm(Layer):
    """Batch normalisation (Ioffe & Szegedy, 2015) over a batch of feature rows (N, n_features),
    as PyTorch's `nn.BatchNorm1d` (same defaults, same running statistics).

    Training: y = gamma * (x - mean) / sqrt(var + eps) + beta with the batch's mean and (biased)
    variance per feature, and running_stat <- (1 - momentum) running_stat + momentum batch_stat,
    where the running variance takes the unbiased batch variance (n / (n - 1) times), as PyTorch.
    Evaluation: the running statistics take the batch's place. gamma starts at 1, beta at 0.
    """

    _buffer_keys = ("running_mean", "running_var")

    def __init__(self, n_features: int, name: str | None = None, *, momentum: float = 0.1, eps: float = 1e-5,
                 dtype: DTypeLike = np.float64) -> None:
        super().__init__(name)
        self.n_features = _count(n_features, "BatchNorm: n_features")
        self.momentum, self.eps = float(momentum), float(eps)
        self.gamma = self._param("gamma", np.ones(self.n_features, dtype=dtype))
        self.beta = self._param("beta", np.zeros(self.n_features, dtype=dtype))
        self.running_mean = np.zeros(self.n_features, dtype=dtype)
        self.running_var = np.ones(self.n_features, dtype=dtype)

    def forward(self, x: Any) -> Node:
        x = as_node(x)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"BatchNorm({self.n_features}): expected input (N, {self.n_features}), got {x.shape}")
        if not self.training:
            return (x - self.running_mean) / np.sqrt(self.running_var + self.eps) * self.gamma + self.beta
        n = x.shape[0]
        if n < 2:
            raise ValueError("BatchNorm: training mode needs more than one example per batch to estimate a variance")
        mean = x.mean(axis=0)
        centered = x - mean
        var = (centered * centered).mean(axis=0)
        # In place: the buffers' identity is kept, so saving and loading see the live arrays.
        m = self.momentum
        self.running_mean *= 1 - m
        self.running_mean += m * mean.value
        self.running_var *= 1 - m
        self.running_var += (m * n / (n - 1)) * var.value
        return centered / (var + self.eps).sqrt() * self.gamma + self.beta

    def _describe(self) -> str:
        return f"{self.n_features}"
