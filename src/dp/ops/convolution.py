"""Convolution: the one layer whose derivative rules are written out, since composing it from
sliding windows and a matrix product (the "im2col" way) is several times slower backwards.

`correlate2d(x, W, stride)` is PyTorch's conv2d without padding or bias (dp.nn.conv2d adds
those): x (N, C, H, W), kernels W (O, C, kh, kw), out (N, O, H', W'),

    out[n, o, i, j] = sum_{c, u, v} W[o, c, u, v] x[n, c, i s_h + u, j s_w + v].

It is linear in x and in W, so its derivatives are two more such bilinear maps, and theirs are
the same three again; each is a primitive, so higher derivatives and forward mode (the product
rule, "multilinear") come for free:

- with respect to x: `correlate2d_transpose(g, W)`, the adjoint in x: each output gradient
  spread back over the patch it came from, weighted by the kernel;
- with respect to W: `correlate2d_weight(x, g)`, each patch times the gradient at its output.

All three compute with one matrix product over patches: the forward copies x's patches into the
columns of a matrix (im2col, a copy along the image rows); the transpose multiplies first and adds
the columns back onto the patches with one strided slice-add per kernel position, in a layout
that puts the batch innermost so each add runs over long contiguous memory (col2im); never
`np.add.at`.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from dp.node import Primitive, primitive
from dp.ops.windows import _windows, window_counts

__all__ = ["correlate2d"]


def _patches(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """im2col: (N, C * kh * kw, H' * W'), one column per output position, holding its patch."""
    windows = _windows(x, tuple(kernel), tuple(stride))  # (N, C, H', W', kh, kw), a view
    n, c, rows, columns = windows.shape[:4]
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kernel[0] * kernel[1], rows * columns)


def _correlate(x: np.ndarray, W: np.ndarray, stride: tuple[int, int]) -> np.ndarray:
    n, out_channels = x.shape[0], W.shape[0]
    rows, columns = window_counts(x.shape[2:], W.shape[2:], stride)
    product = W.reshape(out_channels, -1) @ _patches(x, W.shape[2:], stride)
    return product.reshape(n, out_channels, rows, columns)


def _transpose(g: np.ndarray, W: np.ndarray, shape: tuple[int, ...], stride: tuple[int, int]) -> np.ndarray:
    """The adjoint of _correlate in x: (N, C, H, W) = shape."""
    n, c, height, width = shape
    out_channels, _, kh, kw = W.shape
    rows, columns = g.shape[2:]
    # Batch last: (C, kh, kw, H', W', N) and (C, H, W, N), so that each slice-add below moves
    # W' * N contiguous numbers at a time rather than W'.
    columns_gradient = W.reshape(out_channels, -1).T @ g.transpose(1, 2, 3, 0).reshape(out_channels, -1)
    columns_gradient = columns_gradient.reshape(c, kh, kw, rows, columns, n)
    result = np.zeros((c, height, width, n), dtype=columns_gradient.dtype)
    for u, v in itertools.product(range(kh), range(kw)):
        result[
            :, u : u + stride[0] * (rows - 1) + 1 : stride[0], v : v + stride[1] * (columns - 1) + 1 : stride[1]
        ] += columns_gradient[:, u, v]
    return np.ascontiguousarray(result.transpose(3, 0, 1, 2))


def _weight(x: np.ndarray, g: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """The adjoint of _correlate in W: (O, C, kh, kw)."""
    n, out_channels = g.shape[:2]
    product = g.reshape(n, out_channels, -1) @ _patches(x, kernel, stride).transpose(0, 2, 1)
    return product.sum(axis=0).reshape((out_channels, x.shape[1]) + tuple(kernel))


#: Cross-correlation of images x with kernels W.   d/dx: the transpose; d/dW: the weight map.
_correlate2d = primitive(
    "correlate2d",
    _correlate,
    tangent="multilinear",
    vjp=(
        lambda g, out, x, W, stride: _correlate2d_transpose(g, W, shape=np.shape(x), stride=stride),
        lambda g, out, x, W, stride: _correlate2d_weight(x, g, kernel=np.shape(W)[2:], stride=stride),
    ),
)
#: correlate2d's derivative in x, an operation of its own: bilinear in g and W.
_correlate2d_transpose: Primitive = primitive(
    "correlate2d_transpose",
    _transpose,
    tangent="multilinear",
    vjp=(
        lambda h, out, g, W, shape, stride: _correlate2d(h, W, stride=stride),
        lambda h, out, g, W, shape, stride: _correlate2d_weight(h, g, kernel=np.shape(W)[2:], stride=stride),
    ),
)
#: correlate2d's derivative in W, an operation of its own: bilinear in x and g.
_correlate2d_weight: Primitive = primitive(
    "correlate2d_weight",
    _weight,
    tangent="multilinear",
    vjp=(
        lambda h, out, x, g, kernel, stride: _correlate2d_transpose(g, h, shape=np.shape(x), stride=stride),
        lambda h, out, x, g, kernel, stride: _correlate2d(x, h, stride=stride),
    ),
)


def correlate2d(x: Any, W: Any, stride: tuple[int, int] = (1, 1)) -> Any:
    """PyTorch's conv2d without padding or bias: x (N, C, H, W) with kernels W (O, C, kh, kw)
    at `stride` (a pair), (N, O, H', W'). Shapes are checked by `dp.nn.conv2d`, which adds
    padding and bias; this is the operation underneath."""
    return _correlate2d(x, W, stride=tuple(stride))
