"""Convolution and pooling over batches of images (N, C, H, W), as PyTorch's `Conv2d`, `MaxPool2d`
and `AvgPool2d`, each also as a function (`conv2d`, `max_pool2d`, `avg_pool2d`).

All three are elementary operations put together, as the lecture slides ("Programming of Neural
Networks") build layers: `dp.ops.sliding_windows` cuts the (padded) input into the patches under
the kernel, a view, and then

- convolution is one matrix product: the patches as rows (C * kh * kw numbers each: "im2col")
  times the kernels as columns;
- max-pooling is the maximum over each window (`dp.ops.window_max`), average pooling its mean.

The gradient of pooling comes from those operations' own rules. Convolution has its rules
written out (`dp.ops.correlate2d`, with the same im2col inside), since composing it is several
times slower backwards; they are bilinear maps of the same kind, so conv2d too works in both
modes and at any order.

Layout, as PyTorch: a kernel W is (out_channels, in_channels, kh, kw), a bias b is (out_channels,);
the output is (N, out_channels, H', W') with H' = floor((H + 2 padding - kh) / stride) + 1.
`kernel_size`, `stride` and `padding` are an int or a pair (along H, along W). Like PyTorch, this
is cross-correlation (the kernel is not flipped).

    >>> x = np.ones((1, 1, 4, 4))
    >>> conv2d(x, np.ones((2, 1, 3, 3)), padding=1).shape
    (1, 2, 4, 4)
    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2).value
    array([[[[ 5.,  7.],
             [13., 15.]]]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dp.data import as_generator
from dp.nn.init import Initializer, RngLike, he_normal
from dp.nn.layers import Layer, _count, differentiable
from dp.node import Node, plain
from dp.ops import correlate2d, sliding_windows, window_max
from dp.ops.windows import sizes
from dp.types import Operand

__all__ = ["AvgPool2d", "Conv2d", "MaxPool2d", "avg_pool2d", "conv2d", "max_pool2d"]

Pair = int | tuple[int, int]


def _pair(value: Any, label: str, where: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum, as a pair (along H, along W)."""
    return sizes(value, 2, label, where, minimum)  # type: ignore[return-value]  # sizes(value, 2, ...) gives two


def _images(x: Any, where: str) -> tuple[Any, tuple[int, ...]]:
    """x as one of dp's (a Node or a Dual as it is; numbers, integers included, as a float
    constant) and its shape, which must be (N, C, H, W)."""
    x = differentiable(x)
    shape = x.shape
    if len(shape) != 4:
        raise ValueError(f"{where}: expected a batch of images (N, C, H, W), got shape {shape}")
    return x, shape


def _padded(
    x: Any, shape: tuple[int, ...], window: tuple[int, int], padding: tuple[int, int], where: str, fill: float = 0.0
) -> Any:
    """x with `padding` rows and columns of `fill` on each side, checked to hold one window."""
    height, width = shape[2] + 2 * padding[0], shape[3] + 2 * padding[1]
    if window[0] > height or window[1] > width:
        raise ValueError(
            f"{where}: kernel {window[0]}x{window[1]} is larger than the padded input "
            f"{height}x{width} (input {shape[2]}x{shape[3]}, padding {padding})"
        )
    if padding == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=fill)


def conv2d(x: Any, W: Any, b: Any = None, stride: Pair = 1, padding: Pair = 0) -> Node:
    """The 2-d convolution (cross-correlation) of images x (N, C, H, W) with kernels W
    (out_channels, C, kh, kw), plus b (out_channels,): (N, out_channels, H', W'), as
    torch.nn.functional.conv2d. Zero padding; `stride` and `padding` an int or a pair."""
    return _convolution(x, W, b, stride, padding, "conv2d")


def _convolution(x: Any, W: Any, b: Any, stride: Pair, padding: Pair, where: str) -> Node:
    """conv2d, its errors naming `where` (the function, or the layer that called it)."""
    x, shape = _images(x, where)
    kernel_shape = np.shape(plain(W))
    if len(kernel_shape) != 4:
        raise ValueError(f"{where}: the kernel W must be (out_channels, in_channels, kh, kw), got shape {kernel_shape}")
    out_channels, in_channels, kh, kw = kernel_shape
    if shape[1] != in_channels:
        raise ValueError(
            f"{where}: the input has {shape[1]} channels (shape {shape}), but the kernel W "
            f"{kernel_shape} expects {in_channels}"
        )
    if b is not None and np.shape(plain(b)) != (out_channels,):
        raise ValueError(
            f"{where}: the bias b must be ({out_channels},), one per output channel, got shape {np.shape(plain(b))}"
        )
    stride, padding = _pair(stride, "stride", where), _pair(padding, "padding", where, minimum=0)
    out = correlate2d(_padded(x, shape, (kh, kw), padding, where), W, stride)
    return out if b is None else out + np.reshape(b, (out_channels, 1, 1))


def _pool(
    x: Any, kernel_size: Pair, stride: Pair | None, padding: Pair, where: str, fill: float
) -> tuple[Any, np.ndarray | None]:
    """The windows of a pooling layer, (N, C, H', W', kh, kw), and where padding is used, which
    of their elements are the input's (True) rather than padding: (H', W', kh, kw), else None."""
    x, shape = _images(x, where)
    window = _pair(kernel_size, "kernel_size", where)
    stride = window if stride is None else _pair(stride, "stride", where)
    padding = _pair(padding, "padding", where, minimum=0)
    if padding[0] > window[0] // 2 or padding[1] > window[1] // 2:
        # PyTorch's rule: more padding would make windows of padding only.
        raise ValueError(f"{where}: padding {padding} must be at most half the kernel {window}")
    windows = sliding_windows(_padded(x, shape, window, padding, where, fill), window, stride)
    if padding == (0, 0):
        return windows, None
    inside = np.pad(np.ones(shape[2:], dtype=bool), ((padding[0],) * 2, (padding[1],) * 2))
    return windows, sliding_windows(inside, window, stride)


def max_pool2d(x: Any, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0) -> Node:
    """The maximum of each kernel_size window of x (N, C, H, W), `stride` apart (kernel_size by
    default), as torch.nn.functional.max_pool2d; padding counts as -inf. The gradient goes to the
    window's maximum, to the first one where several tie, as PyTorch (never to padding)."""
    return _max_pool(x, kernel_size, stride, padding, "max_pool2d")


def _max_pool(x: Any, kernel_size: Pair, stride: Pair | None, padding: Pair, where: str) -> Node:
    windows, inside = _pool(x, kernel_size, stride, padding, where, -np.inf)
    return window_max(windows, 2, candidates=inside)


def avg_pool2d(x: Any, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0) -> Node:
    """The mean of each kernel_size window of x (N, C, H, W), `stride` apart (kernel_size by
    default), as torch.nn.functional.avg_pool2d: padding counts as zeros in the mean."""
    return _avg_pool(x, kernel_size, stride, padding, "avg_pool2d")


def _avg_pool(x: Any, kernel_size: Pair, stride: Pair | None, padding: Pair, where: str) -> Node:
    return _pool(x, kernel_size, stride, padding, where, 0.0)[0].mean(axis=(-2, -1))


# ------------------------------------------------------------------------------------------------
# The layers


class Conv2d(Layer):
    """A 2-d convolution layer: `conv2d(x, W, b, stride, padding)` with its own W (out_channels,
    in_channels, kh, kw) and b (out_channels,), as torch.nn.Conv2d.

    `init` makes W (see `dp.nn.init`, which takes PyTorch's fan-in in_channels * kh * kw); He
    normal by default, the scheme for the ReLU networks convolutions mostly sit in. b starts at zero.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Pair,
        stride: Pair = 1,
        padding: Pair = 0,
        bias: bool = True,
        *,
        name: str | None = None,
        init: Initializer | None = None,
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__(name)
        self.in_channels = _count(in_channels, "Conv2d: in_channels")
        self.out_channels = _count(out_channels, "Conv2d: out_channels")
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = _pair(stride, "stride", "Conv2d")
        self.padding = _pair(padding, "padding", "Conv2d", minimum=0)
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        self.W = self._param("W", (init or he_normal)(shape, rng=as_generator(rng, "Conv2d: rng"), dtype=dtype))
        self.b = self._param("b", np.zeros(self.out_channels, dtype=dtype)) if bias else None

    def forward(self, x: Operand) -> Node:
        return _convolution(x, self.W, self.b, self.stride, self.padding, repr(self))

    def _describe(self) -> str:
        return (
            f"{self.in_channels} -> {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}"
        )


class _Pool(Layer):
    """A pooling layer: its function with kernel_size, stride and padding fixed."""

    def __init__(self, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0) -> None:
        super().__init__()
        where = type(self).__name__
        self.kernel_size = _pair(kernel_size, "kernel_size", where)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", where)
        self.padding = _pair(padding, "padding", where, minimum=0)

    def _describe(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool):
    """`max_pool2d` as a layer, as torch.nn.MaxPool2d (stride = kernel_size by default)."""

    def forward(self, x: Operand) -> Node:
        return _max_pool(x, self.kernel_size, self.stride, self.padding, repr(self))


class AvgPool2d(_Pool):
    """`avg_pool2d` as a layer, as torch.nn.AvgPool2d (stride = kernel_size by default)."""

    def forward(self, x: Operand) -> Node:
        return _avg_pool(x, self.kernel_size, self.stride, self.padding, repr(self))
