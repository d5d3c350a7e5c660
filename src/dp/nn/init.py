"""Weight initialisers: the random starting values of a layer's weight matrix.

Fan-in and fan-out, the numbers of inputs and outputs each weight is summed with:
- a weight matrix (n_in, n_out), dp's layout (layers compute `x @ W + b`): fan_in = n_in and
  fan_out = n_out;
- a convolution kernel (out_channels, in_channels, kh, kw), PyTorch's layout (any number of
  kernel axes): fan_in = in_channels * kh * kw and fan_out = out_channels * kh * kw, as PyTorch.

The aim of each scheme is to keep the variance of the signal roughly constant
from layer to layer, so that deep networks neither blow up nor fade out at the start:

- Xavier / Glorot (Glorot & Bengio, 2010): Var(W) = 2 / (fan_in + fan_out), for activations
  that are roughly linear around 0 (tanh, sigmoid, none, softmax outputs).
- He / Kaiming (He et al., 2015): Var(W) = 2 / fan_in, for ReLU, which zeroes half its inputs.

Each comes uniform, U(-limit, limit) with limit = sqrt(3 Var), or normal, N(0, Var). The layer
defaults (see `dp.nn.layers.Linear`) are He normal after a ReLU and Xavier uniform otherwise, as
in the two papers. Biases start at zero.

    >>> W = he_normal((784, 500), rng=0)
    >>> W.shape, W.dtype
    ((784, 500), dtype('float64'))
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import DTypeLike
from dp.data import as_generator
from dp.types import RngLike

#: An initialiser: (shape, rng, dtype) -> a new array of that shape.
Initializer = Callable[..., np.ndarray]

__all__ = [
    "Initializer",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]


def xavier_uniform(
    shape: tuple[int, ...], rng: RngLike = None, dtype: DTypeLike = np.float64, gain: float = 1.0
) -> np.ndarray:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    return _uniform(shape, gain * math.sqrt(2.0 / _fan_sum(shape)), rng, dtype)


def xavier_normal(
    shape: tuple[int, ...], rng: RngLike = None, dtype: DTypeLike = np.float64, gain: float = 1.0
) -> np.ndarray:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    return _normal(shape, gain * math.sqrt(2.0 / _fan_sum(shape)), rng, dtype)


def he_uniform(shape: tuple[int, ...], rng: RngLike = None, dtype: DTypeLike = np.float64) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / fan_in) (He et al., 2015; PyTorch's kaiming_uniform_ for ReLU)."""
    return _uniform(shape, math.sqrt(2.0 / _fan_in(shape)), rng, dtype)


def he_normal(shape: tuple[int, ...], rng: RngLike = None, dtype: DTypeLike = np.float64) -> np.ndarray:
    """N(0, std^2) with std = sqrt(2 / fan_in) (He et al., 2015; PyTorch's kaiming_normal_ for ReLU)."""
    return _normal(shape, math.sqrt(2.0 / _fan_in(shape)), rng, dtype)


def zeros(shape: tuple[int, ...], rng: RngLike = None, dtype: DTypeLike = np.float64) -> np.ndarray:
    """All zeros (the bias default). `rng` is accepted (and checked), and unused, so it fits where the others do."""
    as_generator(rng, "zeros: rng")
    return np.zeros(shape, dtype=dtype)


# The names Keras uses for the same schemes.
glorot_uniform = xavier_uniform
glorot_normal = xavier_normal


def _uniform(shape: tuple[int, ...], std: float, rng: RngLike, dtype: DTypeLike) -> np.ndarray:
    limit = math.sqrt(3.0) * std  # U(-a, a) has variance a^2 / 3
    return as_generator(rng, "dp.nn.init: rng").uniform(-limit, limit, shape).astype(dtype, copy=False)


def _normal(shape: tuple[int, ...], std: float, rng: RngLike, dtype: DTypeLike) -> np.ndarray:
    return as_generator(rng, "dp.nn.init: rng").normal(0.0, std, shape).astype(dtype, copy=False)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight matrix (n_in, n_out) or a kernel (out, in, *kernel)."""
    shape = tuple(shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(
            "initialisers expect a weight matrix (n_in, n_out) or a kernel (out_channels, "
            f"in_channels, *kernel_size), of positive sizes, got shape {shape}"
        )
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fan_in(shape: tuple[int, ...]) -> int:
    return _fans(shape)[0]


def _fan_sum(shape: tuple[int, ...]) -> int:
    return sum(_fans(shape))
