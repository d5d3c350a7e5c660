"""Sliding windows: the one operation under convolution and pooling.

`sliding_windows(x, window_shape, strides)` cuts x's trailing axes into windows: for a batch of
images (N, C, H, W) and 3x3 windows at stride 1 it gives (N, C, H-2, W-2, 3, 3), the patch under
each position of the kernel. Convolution is then one matrix product with the kernel ("im2col"),
max-pooling a max over the window axes: layers as elementary operations, as the lecture slides
("Programming of Neural Networks") teach them, with the gradient for free.

Forward, the windows are a view: no number is copied (NumPy's `sliding_window_view`, thinned by
the strides). The operation is linear; its VJP is its adjoint, which adds each window's gradient
back onto the patch it came from: a strided accumulation, one slice-add per position inside the
window (kh * kw of them, each over all windows at once), never `np.add.at`. Where the windows
neither overlap nor leave gaps (pooling's stride = window) the adjoint is one reshape. The adjoint
is a primitive too, whose own VJP is `sliding_windows`, so second derivatives work, and forward
mode applies the operation to the tangent.

`window_max` is max-pooling's reduction: the maximum over the window axes, with its derivative
(1 at the first maximum of each window, as PyTorch's max_pool2d) side by side. It is NumPy's max
over those axes, computed as one element-wise maximum per position inside the window: a reduction
over a few short, strided axes is several times slower.

    >>> sliding_windows(np.arange(5.0), (3,), (2,))
    array([[0., 1., 2.],
           [2., 3., 4.]])
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dp.node import Primitive, plain, primitive

__all__ = ["sliding_windows", "window_counts", "window_max"]


def _windows(x: np.ndarray, window_shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    trailing = tuple(range(x.ndim - len(window_shape), x.ndim))
    view = sliding_window_view(x, window_shape, axis=trailing)
    return view[(Ellipsis,) + tuple(slice(None, None, step) for step in strides) + (slice(None),) * len(strides)]


def _add_windows_back(
    g: np.ndarray, shape: tuple[int, ...], window_shape: tuple[int, ...], strides: tuple[int, ...]
) -> np.ndarray:
    """Zeros of `shape` with each window of g added onto the patch it was cut from."""
    k = len(window_shape)
    counts = g.shape[g.ndim - 2 * k : g.ndim - k]
    overlapping = any(step < size for step, size in zip(strides, window_shape))
    covered = tuple(step * (count - 1) + size for step, size, count in zip(strides, window_shape, counts))
    tiled = strides == window_shape and covered == shape[len(shape) - k :]
    # Windows that tile the input (pooling's usual case) write every element once: no zeros, no sum.
    result = np.empty(shape, dtype=g.dtype) if tiled else np.zeros(shape, dtype=g.dtype)
    for offsets in itertools.product(*map(range, window_shape)):
        patch = (Ellipsis,) + tuple(
            slice(offset, offset + step * (count - 1) + 1, step)
            for offset, step, count in zip(offsets, strides, counts)
        )
        if overlapping:
            result[patch] += g[(Ellipsis,) + offsets]
        else:
            result[patch] = g[(Ellipsis,) + offsets]
    return result


#: The windows of x's trailing axes.   Linear: the VJP adds each window's gradient back in place.
_sliding_windows = primitive(
    "sliding_windows",
    _windows,
    tangent="linear",
    vjp=lambda g, out, x, window_shape, strides: _windows_adjoint(
        g, shape=np.shape(plain(x)), window_shape=window_shape, strides=strides
    ),
)
#: sliding_windows' VJP as an operation of its own (for higher order): linear, its VJP is the windows.
_windows_adjoint: Primitive = primitive(
    "sliding_windows_adjoint",
    _add_windows_back,
    tangent="linear",
    vjp=lambda g, out, y, shape, window_shape, strides: _sliding_windows(g, window_shape=window_shape, strides=strides),
)


def sizes(value: Any, k: int, label: str, where: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or a sequence of k ints, each >= minimum (a window, strides, padding), as a tuple of
    k ints; otherwise a ValueError naming `where` and `label`."""
    values = (
        (value,) * k if isinstance(value, numbers.Integral) else tuple(value) if isinstance(value, Sequence) else ()
    )
    if len(values) != k or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum  # type: ignore[operator]  # typeshed gives numbers.Integral no comparisons
        for v in values
    ):
        kind = "positive" if minimum == 1 else "non-negative"
        some = "a pair of them" if k == 2 else f"{k} of them"
        raise ValueError(f"{where}: {label} must be a {kind} int or {some}, got {value!r}")
    return tuple(int(v) for v in values)


def window_counts(sizes: Sequence[int], window_shape: Sequence[int], strides: Sequence[int]) -> tuple[int, ...]:
    """How many windows fit along each axis: floor((n - k) / s) + 1 (0 where the window is larger)."""
    return tuple(max((n - k) // s + 1, 0) for n, k, s in zip(sizes, window_shape, strides))


def sliding_windows(x: Any, window_shape: int | Sequence[int], strides: int | Sequence[int] | None = None) -> Any:
    """The windows of x's last len(window_shape) axes, `strides` apart (1 by default), as a
    view of shape (..., *counts, *window_shape), counts = floor((n - k) / s) + 1 per axis.

    An int window_shape is a window along the last axis only (as NumPy's sliding_window_view reads
    an int); strides is an int for every windowed axis, or one per axis. Windows that would run
    past the end are dropped, as convolution and pooling drop them. A window larger than its axis
    is an error, not an empty result.
    """
    k = len(window_shape) if isinstance(window_shape, Sequence) else 1
    window_shape = sizes(window_shape, k, "window_shape", "sliding_windows")
    strides = sizes(1 if strides is None else strides, k, "strides", "sliding_windows")
    shape = np.shape(plain(x))
    if len(shape) < k:
        raise ValueError(
            f"sliding_windows: windows of {k} axes need an input of at least {k} dimensions, got shape {shape}"
        )
    if any(size > n for size, n in zip(window_shape, shape[len(shape) - k :])):
        raise ValueError(
            f"sliding_windows: window {window_shape} is larger than the input's last axes "
            f"{shape[len(shape) - k :]} (input shape {shape})"
        )
    return _sliding_windows(x, window_shape=window_shape, strides=strides)


def _window_offsets(windows: np.ndarray, k: int) -> list[tuple[int, ...]]:
    return list(itertools.product(*map(range, windows.shape[windows.ndim - k :])))


def _max_over_windows(windows: np.ndarray, k: int) -> np.ndarray:
    offsets = _window_offsets(windows, k)
    out = windows[(Ellipsis,) + offsets[0]].copy()
    for offset in offsets[1:]:
        np.maximum(out, windows[(Ellipsis,) + offset], out=out)
    return out


def _first_maximum(out: Any, windows: Any, k: int, candidates: np.ndarray | None) -> np.ndarray:
    """1 at the first maximum of each window (row-major order), 0 elsewhere: max's derivative,
    a constant (max is piecewise linear). NaN counts as the maximum, as np.maximum takes it.
    Only elements where `candidates` is True (if given) can be the one."""
    values, out = plain(windows), plain(out)
    offsets = _window_offsets(values, k)
    window_shape = values.shape[values.ndim - k :]
    # Stored one window position after the other, so each position's mask is written, and later
    # read by the windows' adjoint, contiguously; the array is a view in the windows' shape.
    by_position = np.zeros(window_shape + out.shape, dtype=values.dtype)
    unclaimed = np.ones(out.shape, dtype=bool)
    nan = np.isnan(out) if values.dtype.kind == "f" else None
    if nan is not None and not nan.any():
        nan = None
    # A window whose maximum no candidate attains falls back to its first maximum overall.
    for allowed in (candidates, None) if candidates is not None else (None,):
        for offset in offsets:
            hit = values[(Ellipsis,) + offset] == out
            if nan is not None:
                hit |= nan & np.isnan(values[(Ellipsis,) + offset])
            if allowed is not None:
                hit &= allowed[(Ellipsis,) + offset]
            hit &= unclaimed
            unclaimed ^= hit  # hit lies within unclaimed: this removes it
            by_position[offset] += hit
        if not unclaimed.any():
            break
    return np.moveaxis(by_position, tuple(range(k)), tuple(range(-k, 0)))


def _spread(g: Any, k: int) -> Any:
    return g.reshape(np.shape(plain(g)) + (1,) * k)


#: The maximum over the last k axes (a window's).   d/dx = 1 at the first maximum, 0 elsewhere.
_window_max = primitive(
    "window_max",
    lambda windows, k, candidates: _max_over_windows(windows, k),
    vjp=lambda g, out, windows, k, candidates: _spread(g, k) * _first_maximum(out, windows, k, candidates),
    tangent=lambda dw, out, windows, k, candidates: (dw * _first_maximum(out, windows, k, candidates)).sum(
        axis=tuple(range(-k, 0))
    ),
)


def window_max(windows: Any, k: int = 2, candidates: np.ndarray | None = None) -> Any:
    """The maximum over the last k axes (the window axes of `sliding_windows`), as np.max over
    them; the gradient goes to the first maximum of each window (PyTorch's max_pool2d's choice).

    `candidates`, a boolean array that broadcasts against the windows, says which elements take
    the gradient first (max-pooling's padding never does, even where a window's maximum is -inf);
    a window whose maximum no candidate attains gives it to its first maximum. The values are
    np.max's all the same.
    """
    shape = np.shape(plain(windows))
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= len(shape):
        raise ValueError(f"window_max: k must be a number of trailing axes, 1 to {len(shape)}, got {k!r}")
    if 0 in shape[len(shape) - k :]:
        raise ValueError(f"window_max: empty windows {shape[len(shape) - k :]} have no maximum")
    if candidates is not None:
        candidates = np.asarray(candidates, dtype=bool)
        try:
            np.broadcast_shapes(candidates.shape, shape)
        except ValueError:
            raise ValueError(
                f"window_max: candidates {candidates.shape} do not broadcast against the windows {shape}"
            ) from None
    return _window_max(windows, k=int(k), candidates=candidates)
