"""The exercises of the course chapter on convolution (notebooks/25_convolution.py): the
reference solutions, and their checks against dp's own `sliding_windows`, `conv2d` and
`max_pool2d`.

The student builds convolution from elementary Node operations: `im2col` cuts the image into
the patches under the kernel with strided slices, `conv2d` is then one matrix product, and
`max_pool2d` a maximum over the same patches. Every check compares the value and the gradient
(of the output against a random seed) with dp's layers, so an answer must be differentiable.
The planted wrong answers are the usual mistakes: the last window forgotten at a stride, the
kernel flipped (a true convolution, not PyTorch's cross-correlation), pooling windows that
overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from dp.exercises.checker import Exercise, WrongForm, nice, register, shape_difference
from dp.nn import conv2d as dp_conv2d
from dp.nn import max_pool2d as dp_max_pool2d
from dp.node import Node
from dp.ops import sliding_windows

__all__ = ["conv2d", "im2col", "max_pool2d"]


# ================================================================================================
# The reference solutions


def _patches(x: Any, kh: int, kw: int, stride: int, rows: int, columns: int) -> Any:
    """The rows x columns patches of x (N, C, H, W), kh x kw each, `stride` apart, as
    (N, rows, columns, C * kh * kw), channel first inside a patch (PyTorch's kernel layout)."""
    n, c = x.shape[:2]
    # One strided slice per position (u, v) inside the kernel: the pixel at (u, v) of every
    # patch at once, kh * kw slices in all rather than one per patch.
    pixels = [
        x[:, :, u : u + stride * (rows - 1) + 1 : stride, v : v + stride * (columns - 1) + 1 : stride]
        for u in range(kh)
        for v in range(kw)
    ]
    stacked = np.stack(pixels, axis=2)  # (N, C, kh * kw, rows, columns)
    return stacked.transpose(0, 3, 4, 1, 2).reshape(n, rows, columns, c * kh * kw)


def im2col(x: Any, kh: int, kw: int, stride: int) -> Any:
    """The patches under a kh x kw kernel moved over x (N, C, H, W) `stride` pixels at a time:
    (N, H', W', C * kh * kw) with H' = (H - kh) // stride + 1, W' = (W - kw) // stride + 1."""
    height, width = x.shape[2:]
    return _patches(x, kh, kw, stride, (height - kh) // stride + 1, (width - kw) // stride + 1)


def conv2d(x: Any, W: Any, b: Any, stride: int, padding: int) -> Any:
    """PyTorch's conv2d (cross-correlation): zero-pad x (N, C, H, W) by `padding` on each side,
    then each patch times each kernel of W (O, C, kh, kw), plus b (O,): (N, O, H', W')."""
    out_channels, in_channels, kh, kw = W.shape
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    patches = im2col(x, kh, kw, stride)  # (N, H', W', C kh kw)
    out = patches @ W.reshape(out_channels, in_channels * kh * kw).T + b  # (N, H', W', O)
    return out.transpose(0, 3, 1, 2)


def max_pool2d(x: Any, k: int) -> Any:
    """The maximum of each k x k block of x (N, C, H, W), blocks side by side (stride k):
    (N, C, H // k, W // k). Each channel on its own: the channels become images of one channel."""
    n, c, height, width = x.shape
    patches = im2col(x.reshape(n * c, 1, height, width), k, k, k)  # (N C, H', W', k k)
    return patches.max(axis=-1).reshape(n, c, height // k, width // k)


# ================================================================================================
# The checks


def _on_nodes(
    candidate: Callable[..., Any], inputs: Mapping[str, Any], differentiate: tuple[str, ...]
) -> tuple[Any, dict[str, Any]]:
    """Call with the inputs in `differentiate` as Nodes of their own names (copies, the rest as
    they are); the output's value and the gradient of sum(output * seed) for each of them (zero
    for one the output does not depend on; other named leaves of the answer's own are no matter).
    An output that is no Node, or of the wrong shape (no gradient to take then), is a
    WrongForm."""
    args = [
        Node(np.copy(value), name) if name in differentiate else value
        for name, value in inputs.items()
        if name != "seed"
    ]
    out = candidate(*args)
    if not isinstance(out, Node):
        raise WrongForm(
            f"yours returned a {type(out).__name__}, not a Node (built from Node operations, "
            "so that dp can differentiate it)"
        )
    if out.shape != np.shape(inputs["seed"]):
        raise WrongForm(shape_difference(out.shape, np.shape(inputs["seed"])))
    gradients = out.grad(inputs["seed"])
    return out.value, {name: gradients.get(name, np.zeros(np.shape(inputs[name]))) for name in differentiate}


_LABELS = ("value", "gradients of sum(output * seed)")


def _image(rng: np.random.Generator, size: int, channels: int, low: int = 4) -> np.ndarray:
    """A batch of small images (N, channels, H, W), H and W from `low` up, growing with size."""
    n = 1 + size // 4
    height, width = (int(v) for v in rng.integers(low, low + 2 + size // 2, size=2))
    return nice(rng, size, (n, channels, height, width))


def _im2col_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    x = _image(rng, size, channels=1 + size // 2)
    kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
    stride = int(rng.integers(1, 3 if size == 1 else 4))
    shape = _im2col_shape(x.shape, kh, kw, stride)
    return {"x": x, "kh": kh, "kw": kw, "stride": stride, "seed": nice(rng, size, shape)}


def _im2col_shape(shape: tuple[int, ...], kh: int, kw: int, stride: int) -> tuple[int, ...]:
    n, c, height, width = shape
    return (n, (height - kh) // stride + 1, (width - kw) // stride + 1, c * kh * kw)


def _dp_im2col(x: Any, kh: int, kw: int, stride: int) -> Any:
    """dp's own windows (N, C, H', W', kh, kw), in im2col's layout."""
    windows = sliding_windows(x, (kh, kw), (stride, stride))
    n, c, rows, columns = windows.shape[:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n, rows, columns, c * kh * kw)


def _im2col_last_window_lost(x: Any, kh: int, kw: int, stride: int) -> Any:
    height, width = x.shape[2:]
    # (H - kh + 1) // stride: right at stride 1, and one window short where the last one ends
    # exactly at the border.
    return _patches(x, kh, kw, stride, (height - kh + 1) // stride, (width - kw + 1) // stride)


register(
    Exercise(
        "part2.im2col",
        "im2col: the patches under a kernel, (N, H', W', C kh kw), from strided slices",
        inputs=_im2col_inputs,
        solution=im2col,
        wrong=_im2col_last_window_lost,
        run=lambda candidate, inputs: _on_nodes(candidate, inputs, ("x",)),
        expected=lambda inputs: _on_nodes(_dp_im2col, inputs, ("x",)),
        labels=_LABELS,
        sizes=8,
        trials=4,
    )
)


def _conv2d_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    channels = 1 + size // 3
    x = _image(rng, size, channels, low=3)
    out_channels = 1 + int(rng.integers(0, 1 + size // 2))
    kh, kw = (int(v) for v in rng.integers(2, 4, size=2))
    stride = 1 if size == 1 else int(rng.integers(1, 3))
    padding = 0 if size == 1 else int(rng.integers(0, 3))
    padded = (x.shape[0], channels, x.shape[2] + 2 * padding, x.shape[3] + 2 * padding)
    n, rows, columns, _ = _im2col_shape(padded, kh, kw, stride)
    return {
        "x": x,
        "W": nice(rng, size, (out_channels, channels, kh, kw)),
        "b": nice(rng, size, (out_channels,)),
        "stride": stride,
        "padding": padding,
        "seed": nice(rng, size, (n, out_channels, rows, columns)),
    }


def _true_convolution(x: Any, W: Any, b: Any, stride: int, padding: int) -> Any:
    return conv2d(x, W[:, :, ::-1, ::-1], b, stride, padding)  # the kernel flipped: not PyTorch's conv2d


register(
    Exercise(
        "part2.conv2d",
        "conv2d from im2col and one matrix product, as PyTorch's (cross-correlation)",
        inputs=_conv2d_inputs,
        solution=conv2d,
        wrong=_true_convolution,
        run=lambda candidate, inputs: _on_nodes(candidate, inputs, ("x", "W", "b")),
        expected=lambda inputs: _on_nodes(
            lambda x, W, b, stride, padding: dp_conv2d(x, W, b, stride=stride, padding=padding), inputs, ("x", "W", "b")
        ),
        labels=_LABELS,
        judges=("part2.im2col",),
        sizes=8,
        trials=4,
    )
)


def _pool_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """Images whose sides are multiples of k at size 1, and from size 2 often not (the last rows and
    columns that fill no block are left out, as in dp and PyTorch)."""
    k = 2 if size <= 3 else int(rng.integers(2, 4))
    n, c = 1 + size // 4, 1 + size // 3
    remainder = 0 if size == 1 else rng.integers(0, k, size=2)
    height, width = (int(v) for v in k * rng.integers(2, 3 + size // 2, size=2) + remainder)
    # Distinct values, so that every window has one maximum and its gradient is not split.
    values = rng.permutation(n * c * height * width).reshape(n, c, height, width).astype(float)
    x = values if size == 1 else values + rng.uniform(0, 0.5, values.shape)
    return {"x": x, "k": k, "seed": nice(rng, size, (n, c, height // k, width // k))}


def _pool_overlapping(x: Any, k: int) -> Any:
    n, c, height, width = x.shape
    patches = im2col(x.reshape(n * c, 1, height, width), k, k, 1)  # stride 1: the windows overlap
    return patches.max(axis=-1).reshape(n, c, height - k + 1, width - k + 1)


register(
    Exercise(
        "part2.max_pool2d",
        "max-pooling: the maximum over each k x k block, from im2col",
        inputs=_pool_inputs,
        solution=max_pool2d,
        wrong=_pool_overlapping,
        run=lambda candidate, inputs: _on_nodes(candidate, inputs, ("x",)),
        expected=lambda inputs: _on_nodes(dp_max_pool2d, inputs, ("x",)),
        labels=_LABELS,
        judges=("part2.im2col",),
        sizes=6,
        trials=4,
    )
)
