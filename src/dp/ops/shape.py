"""Shape operations: the same numbers moved around (transpose, broadcast, join, split, index, pad,
sort) and changes of float dtype.

Every primitive here is linear: its tangent is the operation applied to the tangent, and its VJP
is its adjoint, which moves the gradient back where each number came from (and is a primitive
too, so that second derivatives work). They are transpose, broadcast_to, concatenate, stack, flip,
roll, tile, pad, tril/triu, diagonal/diag, astype and the "gathers" (take, take_along_axis, sort,
repeat, pad's copying modes: operations that copy chosen elements, whose VJP adds each gradient
element back where it was copied from). Everything else is written with them and with node.py's
reshape and getitem.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from dp.node import (
    NOT_DIFFERENTIABLE,
    Primitive,
    _plain_options,
    getitem,
    implements,
    method,
    plain,
    primitive,
    reshape_,
    unbroadcast,
)

# The names as a paragraph (ruff format would put each on its own line).
# fmt: off
__all__ = ["append", "array_split", "astype", "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_to",
           "column_stack", "concatenate", "diag", "diagflat", "diagonal", "dsplit", "dstack", "expand_dims",
           "flip", "fliplr", "flipud", "hsplit", "hstack", "moveaxis", "pad", "ravel", "repeat", "roll", "rot90",
           "sort", "split", "squeeze", "stack", "swapaxes", "take", "take_along_axis", "tile", "transpose", "tril",
           "triu", "vsplit", "vstack"]
# fmt: on

NOT_DIFFERENTIABLE.add(np.argsort)  # integer positions: sort's gradient uses them, nothing flows through them


# --------------------------------------------------------------------------------------------
# Checking arguments: errors that name the operation and the shape


def _shape(x: Any) -> tuple[int, ...]:
    return np.shape(plain(x))


def _axes(op: str, x: Any, axis: Any, ndim: int | None = None) -> tuple[int, ...]:
    """`axis` (an int or a sequence of ints, negative ones counting from the end) as a tuple of
    non-negative axes of x (or of an array with `ndim` dimensions)."""
    try:
        return normalize_axis_tuple(axis, np.ndim(plain(x)) if ndim is None else ndim)
    except (ValueError, TypeError) as error:  # AxisError is a ValueError
        raise type(error)(f"{op}: axis {axis} does not fit shape {_shape(x)}: {error}") from None


def _numpy_shape(op: str, function: Callable[..., Any], x: Any, *args: Any) -> tuple[int, ...]:
    """The shape NumPy's `function` gives an array of x's shape, from a zero-strided stand-in (so
    nothing is computed or allocated), with NumPy's own checks."""
    try:
        return np.shape(function(np.broadcast_to(False, _shape(x)), *args))
    except (ValueError, TypeError) as error:
        raise type(error)(f"{op}: shape {_shape(x)}: {error}") from None


def _reshaped(x: Any, shape: tuple[int, ...]) -> Any:
    """x in `shape` (itself when it has that shape already: no needless node)."""
    return x if hasattr(x, "shape") and _shape(x) == shape else reshape_(x, shape=shape)


def _integer(op: str, what: str, value: Any) -> int:
    try:
        return operator.index(plain(value))
    except TypeError:
        raise TypeError(f"{op}: {what} must be an integer, got {value!r}") from None


# --------------------------------------------------------------------------------------------
# Transposing and broadcasting

#: Permute the axes.   The gradient is permuted back.
_transpose = primitive(
    "transpose",
    lambda x, axes: np.transpose(x, axes),
    tangent="linear",
    vjp=lambda g, out, x, axes: g.transpose(tuple(np.argsort(axes))),
)


@method("transpose")
def transpose(x: Any, *axes: Any) -> Any:
    """Permute the axes (reverse them if none are given): x.transpose(1, 0) or x.transpose((1, 0))."""
    order = axes[0] if len(axes) == 1 and not isinstance(axes[0], numbers.Integral) else axes
    ndim = np.ndim(plain(x))
    order = tuple(range(ndim))[::-1] if order is None or len(order) == 0 else tuple(int(a) for a in order)
    if sorted(a % max(ndim, 1) for a in order) != list(range(ndim)) or len(order) != ndim:
        raise ValueError(f"transpose: axes {order} do not fit shape {np.shape(plain(x))}")
    return _transpose(x, axes=tuple(a % ndim for a in order))


method("T", as_property=True)(lambda x: transpose(x))
implements(np.transpose)(lambda x, axes=None: transpose(x, axes))


@implements(np.swapaxes)
@method("swapaxes")
def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """Exchange two axes."""
    ndim = np.ndim(plain(x))
    if not all(-ndim <= axis < ndim for axis in (axis1, axis2)):
        raise ValueError(f"swapaxes: axes ({axis1}, {axis2}) do not fit shape {np.shape(plain(x))}")
    order = list(range(ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return _transpose(x, axes=tuple(order))


@implements(np.moveaxis)
def moveaxis(a: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Any:
    """Move the axes `source` to the positions `destination`, the others keeping their order."""
    source, destination = _axes("moveaxis", a, source), _axes("moveaxis", a, destination)
    if len(source) != len(destination):
        raise ValueError(
            f"moveaxis: source {source} and destination {destination} must have the same "
            f"number of elements (shape {_shape(a)})"
        )
    order = [axis for axis in range(np.ndim(plain(a))) if axis not in source]
    for to, axis in sorted(zip(destination, source)):
        order.insert(to, axis)
    return _transpose(a, axes=tuple(order))


#: The value repeated to `shape` by broadcasting.   d/dx: sum over the repeated axes.
_broadcast_to = primitive(
    "broadcast_to",
    lambda x, shape: np.broadcast_to(x, shape),
    tangent="linear",
    vjp=lambda g, out, x, shape: unbroadcast(g, np.shape(x), "broadcast_to"),
    error="do not broadcast",
)


@method("broadcast_to")
def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """The value repeated to `shape` by broadcasting."""
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(size) for size in shape)  # type: ignore[call-overload]  # np.ndim(shape) == 0 here: one size
    try:
        np.broadcast_to(np.broadcast_to(False, _shape(x)), shape)
    except ValueError:
        raise ValueError(f"broadcast_to: shape {_shape(x)} does not broadcast to {shape}") from None
    return _broadcast_to(x, shape=shape)


implements(np.broadcast_to)(lambda x, shape, subok=False: broadcast_to(x, shape))


# --------------------------------------------------------------------------------------------
# New shapes for the same elements in the same order: reshape (node.py)


@implements(np.expand_dims)
def expand_dims(a: Any, axis: int | Sequence[int]) -> Any:
    """A new axis of size 1 at each position in `axis` (positions of the result)."""
    return reshape_(a, shape=_numpy_shape("expand_dims", np.expand_dims, a, axis))


@implements(np.squeeze)
@method("squeeze")
def squeeze(a: Any, axis: int | Sequence[int] | None = None) -> Any:
    """Without the axes of size 1 in `axis` (every axis of size 1 if None)."""
    shape = _shape(a)
    axes = tuple(i for i, size in enumerate(shape) if size == 1) if axis is None else _axes("squeeze", a, axis)
    for index in axes:
        if shape[index] != 1:
            raise ValueError(
                f"squeeze: cannot squeeze axis {index} of shape {shape}: its size is {shape[index]}, not 1"
            )
    return reshape_(a, shape=tuple(size for index, size in enumerate(shape) if index not in axes))


@implements(np.ravel)
@method("ravel", "flatten")
def ravel(a: Any, order: str = "C") -> Any:
    """The elements as one axis: row by row (order 'C') or column by column ('F', the axes reversed)."""
    if order not in ("C", "F"):
        raise ValueError(f"ravel: order {order!r} is not supported on Nodes/Duals (use 'C' or 'F')")
    return reshape_(transpose(a) if order == "F" else a, shape=(-1,))


def _atleast(function: Callable[..., Any], arys: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_reshaped(x, _numpy_shape(function.__name__, function, x)) for x in arys)


def _one_or_tuple(results: tuple[Any, ...]) -> Any:
    return results[0] if len(results) == 1 else results


@implements(np.atleast_1d)
def atleast_1d(*arys: Any) -> Any:
    """Each array with at least one axis (a number becomes shape (1,)); a tuple for several."""
    return _one_or_tuple(_atleast(np.atleast_1d, arys))


@implements(np.atleast_2d)
def atleast_2d(*arys: Any) -> Any:
    """Each array with at least two axes ((n,) becomes (1, n)); a tuple for several."""
    return _one_or_tuple(_atleast(np.atleast_2d, arys))


@implements(np.atleast_3d)
def atleast_3d(*arys: Any) -> Any:
    """Each array with at least three axes ((n,) becomes (1, n, 1), (m, n) becomes (m, n, 1))."""
    return _one_or_tuple(_atleast(np.atleast_3d, arys))


# --------------------------------------------------------------------------------------------
# Reordering: flip, rot90, roll


#: Reverse the elements along each axis in `axis`.   The gradient is reversed back (flip is its own adjoint).
_flip: Primitive = primitive(
    "flip", lambda x, axis: np.flip(x, axis), tangent="linear", vjp=lambda g, out, x, axis: _flip(g, axis=axis)
)


@implements(np.flip)
def flip(m: Any, axis: int | Sequence[int] | None = None) -> Any:
    """The elements in reverse order along `axis` (every axis if None)."""
    return _flip(m, axis=tuple(range(np.ndim(plain(m)))) if axis is None else _axes("flip", m, axis))


@implements(np.fliplr)
def fliplr(m: Any) -> Any:
    """Reverse the columns (axis 1)."""
    if np.ndim(plain(m)) < 2:
        raise ValueError(f"fliplr: the input must have at least 2 axes, got shape {_shape(m)}")
    return _flip(m, axis=(1,))


@implements(np.flipud)
def flipud(m: Any) -> Any:
    """Reverse the rows (axis 0)."""
    if np.ndim(plain(m)) < 1:
        raise ValueError(f"flipud: the input must have at least 1 axis, got shape {_shape(m)}")
    return _flip(m, axis=(0,))


@implements(np.rot90)
def rot90(m: Any, k: int = 1, axes: Sequence[int] = (0, 1)) -> Any:
    """Rotate by 90 degrees k times, from the first axis in `axes` towards the second: flips and
    a transpose, as NumPy does it."""
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError(f"rot90: axes must be two axes, got {axes}")
    first, second = _axes("rot90", m, axes)
    k = _integer("rot90", "k", k) % 4
    if k == 0:
        return _flip(m, axis=())
    if k == 2:
        return _flip(m, axis=(first, second))
    order = list(range(np.ndim(plain(m))))
    order[first], order[second] = second, first
    if k == 1:
        return _transpose(_flip(m, axis=(second,)), axes=tuple(order))
    return _flip(_transpose(m, axes=tuple(order)), axis=(second,))


def _negated(shift: int | tuple[int, ...]) -> int | tuple[int, ...]:
    return -shift if isinstance(shift, int) else tuple(-s for s in shift)


#: Shift the elements cyclically along `axis` (of the flattened array if None).   The gradient is shifted back.
_roll: Primitive = primitive(
    "roll",
    lambda x, shift, axis: np.roll(x, shift, axis),
    tangent="linear",
    vjp=lambda g, out, x, shift, axis: _roll(g, shift=_negated(shift), axis=axis),
)


@implements(np.roll)
def roll(a: Any, shift: int | Sequence[int], axis: int | Sequence[int] | None = None) -> Any:
    """Shift the elements cyclically by `shift` places along `axis` (of the flattened array if None)."""
    shift = plain(shift)
    if np.ndim(shift) == 0:
        shift = _integer("roll", "shift", shift)
    else:
        shift = tuple(_integer("roll", "shift", s) for s in shift)
    axis = axis if axis is None or np.ndim(axis) == 0 else tuple(axis)  # type: ignore[arg-type]  # np.ndim(axis) > 0 here: a sequence
    return _roll(a, shift=shift, axis=axis)


# --------------------------------------------------------------------------------------------
# Gathers: each output element is a copy of one element of x (one definition for all)


def _gather(name: str, forward: Callable[..., Any], doc: str) -> Primitive:
    """A primitive whose output elements are copies of x's, and its adjoint.

    The VJP adds each gradient element back at the place its element was copied from. Those
    places are the operation applied to x's flat positions (`np.arange` in x's shape), so one
    definition serves every gather. The sum is np.add.at into a flat array with flat positions:
    NumPy's fast path, as fast as np.bincount (faster in float32), where np.add.at into an array
    of several axes (getitem's way) is 3-8x slower. The adjoint's own VJP is the gather.
    """

    def scatter_sum(g: Any, shape: tuple[int, ...], **params: Any) -> Any:
        size = math.prod(shape)
        places = forward(np.arange(size).reshape(shape), **params)
        result = np.zeros(size, dtype=g.dtype)
        np.add.at(result, np.ravel(places), np.ravel(g))
        return result.reshape(shape)

    gather = primitive(
        name,
        forward,
        tangent="linear",
        doc=doc,
        vjp=lambda g, out, x, **params: adjoint(g, shape=np.shape(x), **params),
    )
    adjoint = primitive(
        f"{name}_adjoint",
        scatter_sum,
        tangent="linear",
        doc=f"The adjoint of {name}: its VJP.",
        vjp=lambda g, out, y, shape, **params: gather(g, **params),
    )
    return gather


def _along_axis(x, indices, axis):
    return np.take_along_axis(x, indices, axis=axis)


_take = _gather(
    "take",
    lambda x, indices, axis, mode: np.take(x, indices, axis=axis, mode=mode),
    "x's elements at `indices` along `axis` (of the flattened x if None).",
)
_take_along_axis = _gather(
    "take_along_axis", _along_axis, "x's elements at `indices`, one index per position of the result along `axis`."
)
_sort = _gather("sort", _along_axis, "x's elements in the order `indices` (np.argsort's) gives them along `axis`.")
_repeat = _gather(
    "repeat",
    lambda x, repeats, axis: np.repeat(x, repeats, axis=axis),
    "Each element of x repeated (its own number of times) along `axis`.",
)
_pad_copy = _gather(
    "pad_copy",
    lambda x, pad_width, mode: np.pad(x, _as_pairs(pad_width), mode=mode),
    "x padded with copies of its own elements ('edge', 'reflect', 'symmetric', 'wrap').",
)


# --------------------------------------------------------------------------------------------
# Repeating: repeat is a gather; tile sums its copies back by reshaping


@implements(np.repeat)
@method("repeat")
def repeat(a: Any, repeats: int | Sequence[int], axis: int | None = None) -> Any:
    """Each element repeated `repeats` times (one count, or one per element along `axis`), along
    `axis` (the flattened array if None). Its VJP, a gather's, sums each element's copies: as fast
    as reshape-and-sum or np.add.reduceat where the copies lie far apart in memory, up to 4x
    slower where they are adjacent; one rule for every count."""
    if axis is None:
        a, axis = ravel(a), 0
    return _repeat(a, repeats=np.asarray(plain(repeats)), axis=_axes("repeat", a, axis)[0])


def _vjp_tile(g, out, x, reps):
    """The sum over the copies: g with each axis split into (copy, element), summed over the copies."""
    shape = (1,) * (len(reps) - np.ndim(x)) + np.shape(x)  # reps has an entry for each axis of the result
    copies = g.reshape(tuple(n for r, size in zip(reps, shape) for n in (r, size)))
    return copies.sum(axis=tuple(range(0, 2 * len(shape), 2)))  # leading axes of size 1 are unbroadcast


#: x repeated `reps` times along each axis.   d/dx: the sum of the gradient's copies (by reshape and
#: sum: 2.5x faster than a gather's sum by flat positions).
_tile = primitive("tile", lambda x, reps: np.tile(x, reps), vjp=_vjp_tile, tangent="linear")


@implements(np.tile)
def tile(A: Any, reps: int | Sequence[int]) -> Any:
    """A repeated `reps` times along each axis (A gets leading axes of size 1 if reps is longer)."""
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)  # type: ignore[arg-type]  # np.ndim(reps) > 0: a sequence
    reps = tuple(_integer("tile", "reps", r) for r in reps)
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: reps {reps} must not be negative (shape {_shape(A)})")
    return _tile(A, reps=(1,) * (np.ndim(plain(A)) - len(reps)) + reps)


# --------------------------------------------------------------------------------------------
# Indexing and sorting: gathers


@implements(np.take)
@method("take")
def take(a: Any, indices: Any, axis: int | None = None, out: Any = None, mode: str = "raise") -> Any:
    """The elements at integer `indices` along `axis` (of the flattened array if None); mode
    'wrap' or 'clip' for indices out of range. An index given twice gets the gradient twice."""
    _plain_options("take", None, out, {})
    axis = None if axis is None else _axes("take", a, axis)[0]
    return _take(a, indices=np.asarray(plain(indices)), axis=axis, mode=mode)


@implements(np.take_along_axis)
def take_along_axis(arr: Any, indices: Any, axis: int | None = -1) -> Any:
    """The elements at `indices` (integers of arr's number of axes) along `axis`, as np.take_along_axis."""
    return _take_along_axis(arr, indices=np.asarray(plain(indices)), axis=axis)


@implements(np.sort)
def sort(
    a: Any, axis: int | None = -1, kind: str | None = None, order: Any = None, *, stable: bool | None = None
) -> Any:
    """The elements sorted along `axis` (of the flattened array if None). The gradient goes back
    through np.argsort; equal elements keep their order (a stable sort, as PyTorch's on the CPU),
    so the first of them gets the first of their gradients."""
    if order is not None:
        raise TypeError("sort on Nodes/Duals: order= (fields of structured arrays) is not supported")
    if axis is None:
        a, axis = ravel(a), -1
    axis = _axes("sort", a, axis)[0]
    if kind is None and stable is None:
        stable = True
    try:
        indices = np.argsort(plain(a), axis=axis, kind=kind, stable=stable)  # type: ignore[arg-type]  # NumPy checks kind itself (the ValueError is caught)
    except (ValueError, TypeError) as error:
        raise type(error)(f"sort: kind {kind!r}, stable {stable!r}: {error}") from None
    return _sort(a, indices=indices, axis=axis)


# --------------------------------------------------------------------------------------------
# Padding


def _as_pairs(pad_width):  # NumPy takes neither () nor an empty array of pairs for a 0-d x, but takes 0
    return pad_width if pad_width else 0


def _pad_constant(x, pad_width, constant_values):
    return np.pad(x, _as_pairs(pad_width), mode="constant", constant_values=constant_values)


def _unpad(g, x, pad_width):
    return g[tuple(slice(before, before + size) for (before, _), size in zip(pad_width, np.shape(x)))]


#: x surrounded by constants.   d/dx: the middle of the gradient (the constants are not x's); the
#: tangent is the tangent padded with zeros (the constants do not move).
_pad: Primitive = primitive(
    "pad",
    _pad_constant,
    vjp=lambda g, out, x, pad_width, constant_values: _unpad(g, x, pad_width),
    tangent=lambda dx, out, x, pad_width, constant_values: _pad(dx, pad_width=pad_width, constant_values=0),
)

#: np.pad's modes that dp differentiates, and the options each takes.
_PAD_OPTIONS = {
    "constant": {"constant_values"},
    "edge": set(),
    "wrap": set(),
    "reflect": {"reflect_type"},
    "symmetric": {"reflect_type"},
}


def _pad_widths(x: Any, pad_width: Any) -> tuple[tuple[int, int], ...]:
    """(before, after) for each axis, from an int, one pair, or a pair per axis (NumPy's reading)."""
    shape = _shape(x)
    widths = np.asarray(plain(pad_width))
    if widths.dtype.kind not in "iu":
        raise TypeError(f"pad: pad_width must be integers, got {pad_width!r}")
    if widths.size == 2 and widths.shape != (2, 1):
        widths = widths.ravel()  # one (before, after) pair for every axis
    try:
        widths = np.broadcast_to(widths, (len(shape), 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit shape {shape}") from None
    if np.any(widths < 0):
        raise ValueError(f"pad: pad_width {pad_width!r} must not be negative (shape {shape})")
    return tuple((int(before), int(after)) for before, after in widths)


@implements(np.pad)
def pad(array: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Any:
    """`array` padded by `pad_width` (an int, (before, after), or a pair per axis): with
    `constant_values` (mode 'constant', the default; they are plain numbers, not differentiated),
    or with copies of its own elements (modes 'edge', 'reflect', 'symmetric', 'wrap')."""
    if not isinstance(mode, str) or mode not in _PAD_OPTIONS:
        raise ValueError(
            f"pad: mode {mode!r} is not supported on Nodes/Duals "
            f"(dp differentiates modes {', '.join(map(repr, _PAD_OPTIONS))})"
        )
    unknown = set(kwargs) - _PAD_OPTIONS[mode]
    if unknown:
        raise ValueError(f"pad: unsupported keyword arguments for mode {mode!r}: {sorted(unknown)}")
    if kwargs.get("reflect_type", "even") != "even":
        raise ValueError(f"pad: reflect_type {kwargs['reflect_type']!r} is not supported (only 'even')")
    widths = _pad_widths(array, pad_width)
    if mode != "constant":
        return _pad_copy(array, pad_width=widths, mode=mode)
    try:
        constant = np.asarray(kwargs.get("constant_values", 0))
    except TypeError:
        raise TypeError("pad: constant_values must be plain numbers (dp does not differentiate them)") from None
    return _pad(array, pad_width=widths, constant_values=constant)


# --------------------------------------------------------------------------------------------
# Triangles and diagonals

#: The lower triangle (elements with column <= row + k), zeros above.   The gradient's lower triangle.
_tril: Primitive = primitive(
    "tril", lambda x, k: np.tril(x, k), vjp=lambda g, out, x, k: _tril(g, k=k), tangent="linear"
)
#: The upper triangle (elements with column >= row + k), zeros below.   The gradient's upper triangle.
_triu: Primitive = primitive(
    "triu", lambda x, k: np.triu(x, k), vjp=lambda g, out, x, k: _triu(g, k=k), tangent="linear"
)


def _triangle(op: str, triangle: Primitive, m: Any, k: int) -> Any:
    if np.ndim(plain(m)) == 0:
        raise ValueError(f"{op}: the input must have at least 1 axis, got shape ()")
    # a vector is broadcast to a square matrix, as in NumPy; unbroadcast sums the gradient back
    return triangle(m, k=_integer(op, "k", k))


@implements(np.tril)
def tril(m: Any, k: int = 0) -> Any:
    """The lower triangle of the last two axes (on and below diagonal k), zeros above."""
    return _triangle("tril", _tril, m, k)


@implements(np.triu)
def triu(m: Any, k: int = 0) -> Any:
    """The upper triangle of the last two axes (on and above diagonal k), zeros below."""
    return _triangle("triu", _triu, m, k)


def _embed(g, offset, axis1, axis2, shape):
    result = np.zeros(shape, dtype=g.dtype)
    view = np.moveaxis(result, (axis1, axis2), (-2, -1))  # a view: writing to it writes to result
    steps = np.arange(np.shape(g)[-1])
    view[..., steps + max(-offset, 0), steps + max(offset, 0)] = g
    return result


#: The diagonal `offset` of the axes axis1 and axis2, as the last axis.   The gradient goes back
#: onto that diagonal, zeros elsewhere.
_diagonal = primitive(
    "diagonal",
    lambda x, offset, axis1, axis2: np.diagonal(x, offset, axis1, axis2),
    vjp=lambda g, out, x, offset, axis1, axis2: _diag(g, offset=offset, axis1=axis1, axis2=axis2, shape=np.shape(x)),
    tangent="linear",
)
#: Zeros of `shape` with x's last axis on a diagonal (diagonal's adjoint).   d/dx: that diagonal.
_diag: Primitive = primitive(
    "diag",
    _embed,
    tangent="linear",
    vjp=lambda g, out, x, offset, axis1, axis2, shape: _diagonal(g, offset=offset, axis1=axis1, axis2=axis2),
)


@implements(np.diagonal)
@method("diagonal")
def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The elements a[i, i + offset] of axes axis1 and axis2, as the result's last axis."""
    first, second = _axes("diagonal", a, (axis1, axis2))
    return _diagonal(a, offset=_integer("diagonal", "offset", offset), axis1=first, axis2=second)


@implements(np.diag)
def diag(v: Any, k: int = 0) -> Any:
    """A vector's square matrix with the vector on diagonal k, or a matrix's diagonal k."""
    shape, k = _shape(v), _integer("diag", "k", k)
    if len(shape) == 1:
        return _diag(v, offset=k, axis1=0, axis2=1, shape=(shape[0] + abs(k),) * 2)
    if len(shape) == 2:
        return _diagonal(v, offset=k, axis1=0, axis2=1)
    raise ValueError(f"diag: the input must be 1-D or 2-D, got shape {shape}")


@implements(np.diagflat)
def diagflat(v: Any, k: int = 0) -> Any:
    """The flattened input on diagonal k of a square matrix."""
    return diag(ravel(v), k)


# --------------------------------------------------------------------------------------------
# Joining


def _vjp_concatenate(g, out, *operands, axis, index):
    start = sum(np.shape(operand)[axis] for operand in operands[:index])
    stop = start + np.shape(operands[index])[axis]
    return g[(slice(None),) * axis + (slice(start, stop),)]


def _vjp_stack(g, out, *operands, axis, index):
    return g[(slice(None),) * axis + (index,)]


#: Join along an existing axis.   Each gradient is its own slice of g.
_concatenate = primitive(
    "concatenate",
    lambda *xs, axis: np.concatenate(xs, axis=axis),
    vjp=_vjp_concatenate,
    tangent="linear",
    variadic=True,
)
#: Join along a new axis.   Each gradient is its own slice of g.
_stack = primitive("stack", lambda *xs, axis: np.stack(xs, axis=axis), vjp=_vjp_stack, tangent="linear", variadic=True)


def _joined_axis(op: str, join: Any, arrays: Sequence[Any], axis: int) -> int:
    """The joining axis, non-negative, after NumPy's checks on stand-ins of the arrays' shapes."""
    try:
        out = join([np.broadcast_to(False, _shape(x)) for x in arrays], axis=axis)
    except (ValueError, TypeError) as error:
        shapes = ", ".join(str(_shape(x)) for x in arrays)
        raise ValueError(f"{op}: shapes {shapes} do not fit together along axis {axis}: {error}") from None
    return operator.index(axis) % out.ndim


@implements(np.concatenate)
def concatenate(
    arrays: Sequence[Any], axis: int | None = 0, out: Any = None, *, dtype: Any = None, casting: str = "same_kind"
) -> Any:
    """Join along an existing axis (of the flattened arrays if None)."""
    _plain_options("concatenate", dtype, out, {})
    arrays = [ravel(x) for x in arrays] if axis is None else list(arrays)
    axis = _joined_axis("concatenate", np.concatenate, arrays, 0 if axis is None else axis)
    return _concatenate(*arrays, axis=axis)


@implements(np.stack)
def stack(
    arrays: Sequence[Any], axis: int = 0, out: Any = None, *, dtype: Any = None, casting: str = "same_kind"
) -> Any:
    """Join along a new axis."""
    _plain_options("stack", dtype, out, {})
    arrays = list(arrays)
    return _stack(*arrays, axis=_joined_axis("stack", np.stack, arrays, axis))


@implements(np.vstack)
def vstack(tup: Sequence[Any], *, dtype: Any = None, casting: str = "same_kind") -> Any:
    """Join along axis 0, vectors as rows."""
    return concatenate(_atleast(np.atleast_2d, tup), axis=0, dtype=dtype)


@implements(np.hstack)
def hstack(tup: Sequence[Any], *, dtype: Any = None, casting: str = "same_kind") -> Any:
    """Join along axis 1 (axis 0 for vectors)."""
    arrays = _atleast(np.atleast_1d, tup)
    return concatenate(arrays, axis=0 if arrays and np.ndim(plain(arrays[0])) == 1 else 1, dtype=dtype)


@implements(np.dstack)
def dstack(tup: Sequence[Any]) -> Any:
    """Join along axis 2, after making each array 3-D."""
    return concatenate(_atleast(np.atleast_3d, tup), axis=2)


@implements(np.column_stack)
def column_stack(tup: Sequence[Any]) -> Any:
    """Join along axis 1, vectors (and numbers) as columns."""
    return concatenate([reshape_(x, shape=(-1, 1)) if np.ndim(plain(x)) < 2 else x for x in tup], axis=1)


@implements(np.append)
def append(arr: Any, values: Any, axis: int | None = None) -> Any:
    """`values` after `arr` along `axis` (both flattened if None)."""
    return concatenate((arr, values), axis=axis)


# --------------------------------------------------------------------------------------------
# Splitting: each piece a slice (getitem)


def _split(op: str, ary: Any, indices_or_sections: Any, axis: int, equal: bool) -> list[Any]:
    axis = _axes(op, ary, axis)[0]
    shape = _shape(ary)
    if np.ndim(indices_or_sections) == 0:
        sections = _integer(op, "the number of sections", indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{op}: the number of sections must be positive, got {sections}")
        if equal and shape[axis] % sections:
            raise ValueError(f"{op}: axis {axis} of shape {shape} does not split into {sections} equal parts")
        each, extra = divmod(shape[axis], sections)  # the first `extra` parts get one more (array_split)
        bounds = [0, *np.cumsum([each + 1] * extra + [each] * (sections - extra)).tolist()]
    else:
        bounds = [0, *(_integer(op, "an index", index) for index in indices_or_sections), shape[axis]]
    ary = ary if hasattr(ary, "shape") else np.asarray(ary)
    return [getitem(ary, key=(slice(None),) * axis + (slice(start, stop),)) for start, stop in zip(bounds, bounds[1:])]


@implements(np.split)
def split(ary: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Any]:
    """Pieces along `axis`: `indices_or_sections` equal ones, or cut before each index given."""
    return _split("split", ary, indices_or_sections, axis, equal=True)


@implements(np.array_split)
def array_split(ary: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Any]:
    """As split, but n sections need not be equal: the first ones are one longer."""
    return _split("array_split", ary, indices_or_sections, axis, equal=False)


def _split_along(op: str, axis: int, least: int) -> Callable[[Any, Any], list[Any]]:
    def split_along(ary: Any, indices_or_sections: int | Sequence[int]) -> list[Any]:
        ndim = np.ndim(plain(ary))
        if ndim < least:
            raise ValueError(f"{op}: the input must have at least {least} axes, got shape {_shape(ary)}")
        return _split(op, ary, indices_or_sections, axis if ndim > 1 else 0, equal=True)

    split_along.__name__ = op
    split_along.__doc__ = f"np.split along axis {axis}" + (" (0 for vectors)." if least == 1 else ".")
    return implements(getattr(np, op))(split_along)


hsplit = _split_along("hsplit", 1, 1)
vsplit = _split_along("vsplit", 0, 2)
dsplit = _split_along("dsplit", 2, 3)


# --------------------------------------------------------------------------------------------
# Another dtype

#: The same numbers in another float dtype.   d/dx = 1: the gradient goes back in x's dtype.
_astype: Primitive = primitive(
    "astype",
    lambda x, dtype: x.astype(dtype),
    tangent="linear",
    vjp=lambda g, out, x, dtype: _astype(g, dtype=np.asarray(plain(x)).dtype),
)


@method("astype")
def astype(x: Any, dtype: Any, order: str = "K", casting: str = "unsafe", subok: bool = True, copy: bool = True) -> Any:
    """x's numbers in `dtype`. To another float dtype (float32 <-> float64) it is differentiable:
    the value is in the new dtype, the gradient comes back in x's. To an integer or bool dtype it
    returns a plain NumPy array, not differentiable (its derivative is zero almost everywhere and
    Nodes hold floats); other dtypes (complex, strings) are refused. `order`, `subok` and `copy`
    change nothing here: dp never writes into its arrays."""
    source, target = np.asarray(plain(x)).dtype, np.dtype(dtype)
    if not np.can_cast(source, target, casting):  # type: ignore[arg-type]  # NumPy checks casting itself
        raise TypeError(f"astype: cannot cast {source} to {target} with casting={casting!r}")
    if target.kind in "biu":
        return np.asarray(plain(x)).astype(target)
    if target.kind != "f":
        raise TypeError(f"astype: dp differentiates real floats; cannot convert {source} to {target}")
    if target == source:
        return x
    return _astype(x if hasattr(x, "astype") else np.asarray(x), dtype=target)


implements(np.astype)(lambda x, dtype, /, *, copy=True, device=None: astype(x, dtype, copy=copy))
