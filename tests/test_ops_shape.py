"""Shape and indexing operations (dp/ops/shape.py): NumPy's values, shapes and dtypes; gradients
against PyTorch and finite differences; forward mode against reverse mode; second order; errors.

Each case draws a shape and the operation's parameters with hypothesis, and gives the operation as
a NumPy call (run on arrays for the expected value, on Nodes and Duals for dp's), the same through
`dp.ops`, and PyTorch's equivalent where it has one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import dp
from dp import Dual, Node, backpropagate, jvp
from oracles import assert_same, finite_difference_gradients


@dataclass
class Case:
    numpy: Callable[..., Any]  # the NumPy call: on arrays, Nodes and Duals
    inputs: list[np.ndarray]
    torch: Callable[..., Any] | None = None
    ops: Callable[..., Any] | None = None  # the same through dp.ops (run on plain arrays too)
    linear: bool = True  # (affine) f(x + v) - f(x) = J v; sort is only piecewise linear


def _values(draw: st.DrawFn, shape: tuple[int, ...], distinct: bool = False) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if distinct:  # no ties: sort's derivative is then unique
        return (rng.permutation(math.prod(shape)) * 0.5 - 3).reshape(shape)
    return rng.standard_normal(shape)


def _shape(draw: st.DrawFn, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    return draw(array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side))


def _axis(draw: st.DrawFn, ndim: int) -> int:
    """One axis, maybe negative."""
    axis = draw(st.integers(0, ndim - 1))
    return axis - ndim if draw(st.booleans()) else axis


def _axes(draw: st.DrawFn, ndim: int, min_size: int = 0, max_size: int | None = None) -> tuple[int, ...]:
    """Distinct axes, each maybe negative."""
    if ndim == 0:
        return ()
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=min_size, max_size=max_size or ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in chosen)


def _axis_argument(draw: st.DrawFn, ndim: int, none: bool = True) -> Any:
    """None, an int or a tuple, as NumPy takes `axis`."""
    options = ["int", "tuple"] + (["none"] if none else []) if ndim else ["tuple"] + (["none"] if none else [])
    kind = draw(st.sampled_from(options))
    return None if kind == "none" else _axis(draw, ndim) if kind == "int" else _axes(draw, ndim)


def _dims(axis: Any, ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)


def _weighted_pieces(pieces: list[Any]) -> Any:
    """One array from split's pieces, each scaled differently so that a mixed-up piece shows."""
    return np.concatenate([np.ravel(piece) * (index + 1) for index, piece in enumerate(pieces)])


def _torch_weighted_pieces(pieces: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.cat([piece.reshape(-1) * (index + 1) for index, piece in enumerate(pieces)])


# --------------------------------------------------------------------------------------------
# The cases: name -> a hypothesis strategy for a Case


@st.composite
def expand_dims(draw):
    shape = _shape(draw)
    count = draw(st.integers(1, 2))
    axis = _axes(draw, len(shape) + count, count, count)
    if count == 1 and draw(st.booleans()):
        axis = axis[0]
    positions = sorted(a % (len(shape) + count) for a in np.atleast_1d(axis))

    def torch_expand(t):
        for position in positions:
            t = t.unsqueeze(position)
        return t

    return Case(
        lambda x: np.expand_dims(x, axis), [_values(draw, shape)], torch_expand, lambda x: dp.ops.expand_dims(x, axis)
    )


@st.composite
def squeeze(draw):
    shape = draw(st.lists(st.sampled_from([1, 1, 2, 3]), max_size=4).map(tuple))
    ones = [a for a, size in enumerate(shape) if size == 1]
    axis = draw(st.sampled_from([None, tuple(ones)] + ones)) if ones else None
    axis = tuple(a - len(shape) if draw(st.booleans()) else a for a in axis) if isinstance(axis, tuple) else axis
    return Case(
        lambda x: np.squeeze(x, axis),
        [_values(draw, shape)],
        lambda t: torch.squeeze(t) if axis is None else torch.squeeze(t, axis),
        lambda x: dp.ops.squeeze(x, axis),
    )


@st.composite
def ravel(draw):
    shape = _shape(draw, max_dims=4)
    order = draw(st.sampled_from("CF"))
    return Case(
        lambda x: np.ravel(x, order),
        [_values(draw, shape)],
        lambda t: t.permute(tuple(range(t.ndim))[::-1] if order == "F" else tuple(range(t.ndim))).reshape(-1),
        lambda x: dp.ops.ravel(x, order),
    )


@st.composite
def moveaxis(draw):
    shape = _shape(draw, 1, 4)
    count = draw(st.integers(1, len(shape)))
    source, destination = _axes(draw, len(shape), count, count), _axes(draw, len(shape), count, count)
    if count == 1 and draw(st.booleans()):
        source, destination = source[0], destination[0]
    return Case(
        lambda x: np.moveaxis(x, source, destination),
        [_values(draw, shape)],
        lambda t: torch.movedim(t, source, destination),
        lambda x: dp.ops.moveaxis(x, source, destination),
    )


def _atleast(ndim: int):
    @st.composite
    def atleast(draw):
        shape = _shape(draw, 0, 4)
        numpy_function, torch_function = getattr(np, f"atleast_{ndim}d"), getattr(torch, f"atleast_{ndim}d")
        return Case(numpy_function, [_values(draw, shape)], torch_function, getattr(dp.ops, f"atleast_{ndim}d"))

    return atleast


@st.composite
def atleast_several(draw):
    shapes = [_shape(draw, 0, 3) for _ in range(2)]
    return Case(
        lambda x, y: np.concatenate([np.ravel(a) for a in np.atleast_3d(x, y)]),
        [_values(draw, s) for s in shapes],
        lambda x, y: torch.cat([a.reshape(-1) for a in torch.atleast_3d(x, y)]),
    )


@st.composite
def repeat(draw):
    shape = _shape(draw)
    axis = draw(st.sampled_from([None] + list(range(-len(shape), len(shape)))))
    length = math.prod(shape) if axis is None else shape[axis]
    repeats = draw(st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=length, max_size=length))
    torch_repeats = repeats if isinstance(repeats, int) else torch.tensor(repeats)
    return Case(
        lambda x: np.repeat(x, repeats, axis),
        [_values(draw, shape)],
        lambda t: torch.repeat_interleave(t, torch_repeats, dim=axis),
        lambda x: dp.ops.repeat(x, repeats, axis),
    )


@st.composite
def tile(draw):
    shape = _shape(draw)
    reps = draw(st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=1, max_size=4).map(tuple))
    return Case(
        lambda x: np.tile(x, reps),
        [_values(draw, shape)],
        lambda t: torch.tile(t, (reps,) if isinstance(reps, int) else reps),
        lambda x: dp.ops.tile(x, reps),
    )


@st.composite
def flip(draw):
    shape = _shape(draw)
    axis = _axis_argument(draw, len(shape))
    return Case(
        lambda x: np.flip(x, axis),
        [_values(draw, shape)],
        lambda t: torch.flip(t, _dims(axis, t.ndim)),
        lambda x: dp.ops.flip(x, axis),
    )


@st.composite
def fliplr(draw):
    return Case(np.fliplr, [_values(draw, _shape(draw, 2, 4))], torch.fliplr, dp.ops.fliplr)


@st.composite
def flipud(draw):
    return Case(np.flipud, [_values(draw, _shape(draw, 1, 4))], torch.flipud, dp.ops.flipud)


@st.composite
def rot90(draw):
    shape = _shape(draw, 2, 4)
    k = draw(st.integers(-5, 5))
    axes = _axes(draw, len(shape), 2, 2)
    return Case(
        lambda x: np.rot90(x, k, axes),
        [_values(draw, shape)],
        lambda t: torch.rot90(t, k, axes),
        lambda x: dp.ops.rot90(x, k, axes),
    )


@st.composite
def roll(draw):
    shape = _shape(draw)
    axis = _axis_argument(draw, len(shape))
    if axis == ():  # NumPy's roll fails on it
        axis = None
    if axis is None or isinstance(axis, int) or draw(st.booleans()):
        shift = draw(st.integers(-7, 7))
    else:
        shift = tuple(draw(st.lists(st.integers(-7, 7), min_size=len(axis), max_size=len(axis))))
    torch_shift = shift if isinstance(shift, tuple) or not isinstance(axis, tuple) else (shift,) * len(axis)
    return Case(
        lambda x: np.roll(x, shift, axis),
        [_values(draw, shape)],
        lambda t: torch.roll(t, torch_shift, axis),
        lambda x: dp.ops.roll(x, shift, axis),
    )


@st.composite
def pad(draw):
    shape = _shape(draw)
    widths = st.integers(0, 3)
    kind = draw(st.sampled_from(["int", "pair", "pairs"] if shape else ["int"]))  # NumPy refuses [] for 0-d
    if kind == "pairs":
        pairs = [draw(st.tuples(widths, widths)) for _ in shape]
    else:
        pair = draw(st.tuples(widths, widths)) if kind == "pair" else (draw(widths),) * 2
        pairs = [pair] * len(shape)
    pad_width = draw(widths) if not shape else pairs[0][0] if kind == "int" else pairs[0] if kind == "pair" else pairs
    mode = draw(st.sampled_from(["constant", "constant", "edge", "reflect", "symmetric", "wrap"]))
    options = {"constant_values": draw(st.sampled_from([0, 1.5, -2]))} if mode == "constant" else {}
    flat = [width for before, after in reversed(pairs) for width in (before, after)]
    torch_pad = None
    if mode == "constant" and shape:
        torch_pad = lambda t: F.pad(t, flat, value=float(options["constant_values"]))  # noqa: E731
    return Case(
        lambda x: np.pad(x, pad_width, mode, **options),
        [_values(draw, shape)],
        torch_pad,
        lambda x: dp.ops.pad(x, pad_width, mode, **options),
    )


def _triangle(name: str):
    @st.composite
    def triangle(draw):
        shape = _shape(draw, 1, 3)
        k = draw(st.integers(-3, 3))
        numpy_function, torch_function = getattr(np, name), getattr(torch, name)
        return Case(
            lambda x: numpy_function(x, k),
            [_values(draw, shape)],
            (lambda t: torch_function(t, k)) if len(shape) >= 2 else None,
            lambda x: getattr(dp.ops, name)(x, k),
        )

    return triangle


@st.composite
def diag(draw):
    shape = _shape(draw, 1, 2)
    k = draw(st.integers(-4, 4))
    return Case(
        lambda x: np.diag(x, k), [_values(draw, shape)], lambda t: torch.diag(t, k), lambda x: dp.ops.diag(x, k)
    )


@st.composite
def diagflat(draw):
    shape = _shape(draw, 0, 3)
    k = draw(st.integers(-3, 3))
    return Case(
        lambda x: np.diagflat(x, k),
        [_values(draw, shape)],
        lambda t: torch.diagflat(t, k),
        lambda x: dp.ops.diagflat(x, k),
    )


@st.composite
def diagonal(draw):
    shape = _shape(draw, 2, 4)
    offset = draw(st.integers(-4, 4))
    axis1, axis2 = _axes(draw, len(shape), 2, 2)
    return Case(
        lambda x: np.diagonal(x, offset, axis1, axis2),
        [_values(draw, shape)],
        lambda t: torch.diagonal(t, offset, axis1, axis2),
        lambda x: dp.ops.diagonal(x, offset, axis1, axis2),
    )


def _sections(draw: st.DrawFn, size: int, equal: bool) -> Any:
    if draw(st.booleans()):
        return sorted(draw(st.lists(st.integers(0, size + 1), max_size=3)))
    if equal:
        return draw(st.sampled_from([n for n in range(1, size + 1) if size % n == 0]))
    return draw(st.integers(1, size + 2))


def _splitting(name: str, equal: bool):
    @st.composite
    def splitting(draw):
        shape = _shape(draw, 1, 3)
        axis = _axis(draw, len(shape))
        sections = _sections(draw, shape[axis], equal)
        numpy_function = getattr(np, name)
        return Case(
            lambda x: _weighted_pieces(numpy_function(x, sections, axis)),
            [_values(draw, shape)],
            lambda t: _torch_weighted_pieces(torch.tensor_split(t, sections, axis)),
            lambda x: _weighted_pieces(getattr(dp.ops, name)(x, sections, axis)),
        )

    return splitting


def _splitting_along(name: str, min_dims: int, axis: int):
    @st.composite
    def splitting(draw):
        shape = _shape(draw, min_dims, 3)
        along = axis if len(shape) > 1 else 0
        sections = _sections(draw, shape[along], True)
        numpy_function, torch_function = getattr(np, name), getattr(torch, name)
        return Case(
            lambda x: _weighted_pieces(numpy_function(x, sections)),
            [_values(draw, shape)],
            lambda t: _torch_weighted_pieces(torch_function(t, sections)),
            lambda x: _weighted_pieces(getattr(dp.ops, name)(x, sections)),
        )

    return splitting


def _joining(name: str):
    """Two arrays that the join accepts: equal but along the joining axis (vectors too)."""

    @st.composite
    def joining(draw):
        sides = st.integers(1, 3)
        if name == "vstack":
            rest = _shape(draw, 1, 2)
            shapes = [rest if len(rest) == 1 and draw(st.booleans()) else (draw(sides),) + rest for _ in range(2)]
        elif name == "column_stack":
            n = draw(sides)
            shapes = [draw(st.sampled_from([(n,), (n, draw(sides))])) for _ in range(2)]
        else:
            ndim = draw(st.integers(1, 3))
            axis = {"hstack": 0 if ndim == 1 else 1, "dstack": 2}[name]
            base = list(_shape(draw, ndim, ndim))
            shapes = [tuple(draw(sides) if a == axis else size for a, size in enumerate(base)) for _ in range(2)]
        numpy_function, torch_function = getattr(np, name), getattr(torch, name)
        return Case(
            lambda x, y: numpy_function([x, y]),
            [_values(draw, s) for s in shapes],
            lambda x, y: torch_function([x, y]),
            lambda x, y: getattr(dp.ops, name)([x, y]),
        )

    return joining


@st.composite
def append(draw):
    shape = _shape(draw, 1, 3)
    if draw(st.booleans()):
        axis, other = None, _shape(draw, 0, 2)
        torch_append = lambda x, y: torch.cat([x.reshape(-1), y.reshape(-1)])  # noqa: E731
    else:
        axis = _axis(draw, len(shape))
        other = tuple(draw(st.integers(1, 3)) if a == axis % len(shape) else s for a, s in enumerate(shape))
        torch_append = lambda x, y: torch.cat([x, y], axis)  # noqa: E731
    return Case(
        lambda x, y: np.append(x, y, axis),
        [_values(draw, shape), _values(draw, other)],
        torch_append,
        lambda x, y: dp.ops.append(x, y, axis),
    )


@st.composite
def append_constant(draw):
    shape = _shape(draw, 0, 2)
    return Case(
        lambda x: np.append(x, [1.0, -2.0]),
        [_values(draw, shape)],
        lambda t: torch.cat([t.reshape(-1), torch.tensor([1.0, -2.0], dtype=t.dtype)]),
    )


@st.composite
def take(draw):
    shape = _shape(draw)
    axis = draw(st.sampled_from([None] + list(range(-len(shape), len(shape)))))
    size = math.prod(shape) if axis is None else shape[axis]
    mode = draw(st.sampled_from(["raise", "raise", "wrap", "clip"]))
    bound = size if mode == "raise" else 2 * size + 2
    index_shape = _shape(draw, 0, 2, 0)
    indices = (
        np.array(
            draw(
                st.lists(
                    st.integers(-bound, bound - 1), min_size=math.prod(index_shape), max_size=math.prod(index_shape)
                )
            )
        )
        .reshape(index_shape)
        .astype(int)
    )
    places = torch.tensor(np.take(np.arange(size), indices, mode=mode))  # where each index lands, in range

    def torch_take(t):
        return t.reshape(-1)[places] if axis is None else t[(slice(None),) * (axis % t.ndim) + (places,)]

    return Case(
        lambda x: np.take(x, indices, axis, mode=mode),
        [_values(draw, shape)],
        torch_take,
        lambda x: dp.ops.take(x, indices, axis, mode=mode),
    )


@st.composite
def take_along_axis(draw):
    shape = _shape(draw, 1, 3)
    if draw(st.booleans()):
        axis, size = None, math.prod(shape)
        index_shape = (draw(st.integers(0, 5)),)
    else:
        axis = _axis(draw, len(shape))
        size = shape[axis]
        index_shape = tuple(
            draw(st.integers(0, 4)) if a == axis % len(shape) else draw(st.sampled_from([1, s]))
            for a, s in enumerate(shape)
        )
    indices = (
        np.array(
            draw(
                st.lists(st.integers(-size, size - 1), min_size=math.prod(index_shape), max_size=math.prod(index_shape))
            )
        )
        .reshape(index_shape)
        .astype(int)
    )
    places = torch.tensor(indices % size)
    return Case(
        lambda x: np.take_along_axis(x, indices, axis),
        [_values(draw, shape)],
        lambda t: torch.take_along_dim(t, places, axis),
        lambda x: dp.ops.take_along_axis(x, indices, axis),
    )


@st.composite
def sort(draw):
    shape = _shape(draw, 1, 3)
    axis = draw(st.sampled_from([None, -1] + list(range(-len(shape), len(shape)))))
    return Case(
        lambda x: np.sort(x, axis),
        [_values(draw, shape, distinct=True)],
        lambda t: torch.sort(t.reshape(-1) if axis is None else t, -1 if axis is None else axis).values,
        lambda x: dp.ops.sort(x, axis),
        linear=False,
    )


@st.composite
def concatenate(draw):
    shape = _shape(draw, 1, 3)
    axis = draw(st.sampled_from([None] + list(range(-len(shape), len(shape)))))
    other = (
        _shape(draw, 0, 3)
        if axis is None
        else tuple(draw(st.integers(1, 3)) if a == axis % len(shape) else s for a, s in enumerate(shape))
    )
    return Case(
        lambda x, y: np.concatenate([x, y], axis),
        [_values(draw, shape), _values(draw, other)],
        lambda x, y: torch.cat([x.reshape(-1), y.reshape(-1)]) if axis is None else torch.cat([x, y], axis),
        lambda x, y: dp.ops.concatenate([x, y], axis),
    )


CASES: dict[str, Any] = {
    "expand_dims": expand_dims(),
    "squeeze": squeeze(),
    "ravel": ravel(),
    "moveaxis": moveaxis(),
    "atleast_1d": _atleast(1)(),
    "atleast_2d": _atleast(2)(),
    "atleast_3d": _atleast(3)(),
    "atleast_3d several": atleast_several(),
    "repeat": repeat(),
    "tile": tile(),
    "flip": flip(),
    "fliplr": fliplr(),
    "flipud": flipud(),
    "rot90": rot90(),
    "roll": roll(),
    "pad": pad(),
    "tril": _triangle("tril")(),
    "triu": _triangle("triu")(),
    "diag": diag(),
    "diagflat": diagflat(),
    "diagonal": diagonal(),
    "split": _splitting("split", True)(),
    "array_split": _splitting("array_split", False)(),
    "hsplit": _splitting_along("hsplit", 1, 1)(),
    "vsplit": _splitting_along("vsplit", 2, 0)(),
    "dsplit": _splitting_along("dsplit", 3, 2)(),
    "vstack": _joining("vstack")(),
    "hstack": _joining("hstack")(),
    "dstack": _joining("dstack")(),
    "column_stack": _joining("column_stack")(),
    "append": append(),
    "append constant": append_constant(),
    "concatenate": concatenate(),
    "take": take(),
    "take_along_axis": take_along_axis(),
    "sort": sort(),
}


# --------------------------------------------------------------------------------------------
# The checks


def check_case(case: Case, dtype: type, seed: int) -> None:
    rng = np.random.default_rng(seed)
    inputs = [x.astype(dtype) for x in case.inputs]
    expected = case.numpy(*inputs)
    leaves = [Node(x, requires_grad=True) for x in inputs]
    out = case.numpy(*leaves)
    assert isinstance(out, Node)
    assert_same(out.value, expected, "the value on Nodes")
    if case.ops is not None:
        assert_same(case.ops(*inputs), expected, "dp.ops on arrays")
        assert_same(case.ops(*leaves).value, expected, "dp.ops on Nodes")
    seed_out = rng.standard_normal(out.shape).astype(dtype)
    found = backpropagate(out, seed_out)
    gradients = [found[leaf] for leaf in leaves]
    for x, gradient in zip(inputs, gradients):
        assert gradient.shape == x.shape and gradient.dtype == x.dtype, (gradient.shape, gradient.dtype, x.shape)
    tangents = [rng.standard_normal(x.shape).astype(dtype) for x in inputs]
    value, tangent = jvp(case.numpy, tuple(inputs), tuple(tangents))
    assert_same(value, expected, "the value on Duals")
    assert np.asarray(tangent).dtype == np.asarray(expected).dtype
    if dtype is np.float32:
        return
    # forward mode against reverse mode: <u, J v> = <J^T u, v>
    np.testing.assert_allclose(
        np.sum(seed_out * tangent), sum(np.sum(g * v) for g, v in zip(gradients, tangents)), rtol=1e-10, atol=1e-10
    )
    if case.linear:  # J v is the operation's change along v
        moved = case.numpy(*(x + v for x, v in zip(inputs, tangents)))
        np.testing.assert_allclose(tangent, moved - expected, rtol=1e-10, atol=1e-10)
    for gradient, numerical in zip(gradients, finite_difference_gradients(case.numpy, inputs, seed_out)):
        np.testing.assert_allclose(gradient, numerical, rtol=1e-6, atol=1e-7, err_msg="against finite differences")
    if case.torch is not None:
        tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
        torch_out = case.torch(*tensors)
        np.testing.assert_allclose(out.value, torch_out.detach().numpy(), rtol=1e-12, atol=1e-12)
        torch_gradients = torch.autograd.grad(torch_out, tensors, torch.tensor(seed_out), allow_unused=True)
        for x, gradient, expected_gradient in zip(inputs, gradients, torch_gradients):
            expected_gradient = np.zeros_like(x) if expected_gradient is None else expected_gradient.numpy()
            np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-12, atol=1e-12, err_msg="against PyTorch")


@pytest.mark.parametrize("name", CASES)
@settings(max_examples=60)
@given(data=st.data())
def test_values_gradients_and_modes(name, data):
    case = data.draw(CASES[name])
    check_case(case, data.draw(st.sampled_from([np.float64, np.float64, np.float32])), data.draw(st.integers(0, 99)))


def second_derivatives(loss: Callable[..., Any], inputs: list[np.ndarray], ws: list[np.ndarray]):
    """H w three ways (create_graph, reverse over reverse, forward over reverse), and by central
    differences of dp's (first-order, already checked) gradient."""
    every = tuple(range(len(inputs)))

    def gradient(*xs):
        return dp.grad(loss, every)(*xs)

    leaves = [Node(x, requires_grad=True) for x in inputs]
    firsts = backpropagate(loss(*leaves), create_graph=True)
    inner = sum(np.sum(firsts[leaf] * w) for leaf, w in zip(leaves, ws))
    found = backpropagate(inner)
    ways = {
        "create_graph": [found.get(leaf, np.zeros_like(x)) for leaf, x in zip(leaves, inputs)],
        "reverse over reverse": dp.grad(lambda *xs: sum(np.sum(g * w) for g, w in zip(gradient(*xs), ws)), every)(
            *inputs
        ),
        "forward over reverse": jvp(gradient, tuple(inputs), tuple(ws))[1],
    }
    eps = 1e-5
    plus = gradient(*(x + eps * w for x, w in zip(inputs, ws)))
    minus = gradient(*(x - eps * w for x, w in zip(inputs, ws)))
    return ways, [(p - m) / (2 * eps) for p, m in zip(plus, minus)]


@pytest.mark.parametrize("name", CASES)
@settings(max_examples=4)
@given(data=st.data())
def test_second_order(name, data):
    """Each operation inside sin(.)^2, so its VJP rule is differentiated again (fed Nodes, Duals)."""
    case = data.draw(CASES[name])
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    u = rng.standard_normal(np.shape(case.numpy(*case.inputs)))

    def loss(*xs):
        return np.sum(np.sin(case.numpy(*xs)) ** 2 * u)

    ws = [rng.standard_normal(x.shape) for x in case.inputs]
    ways, numerical = second_derivatives(loss, case.inputs, ws)
    for way, second in ways.items():
        for got, expected in zip(second, numerical):
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7, err_msg=way)
    if case.torch is not None:
        tensors = [torch.tensor(x, requires_grad=True) for x in case.inputs]
        out = (torch.sin(case.torch(*tensors)) ** 2 * torch.tensor(u)).sum()
        firsts = torch.autograd.grad(out, tensors, create_graph=True)
        total = sum((g * torch.tensor(w)).sum() for g, w in zip(firsts, ws))
        seconds = torch.autograd.grad(total, tensors, allow_unused=True) if total.requires_grad else [None] * len(ws)
        for got, x, expected in zip(ways["create_graph"], case.inputs, seconds):
            expected = np.zeros_like(x) if expected is None else expected.numpy()
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg="against PyTorch")


# --------------------------------------------------------------------------------------------
# Methods, dtypes, gradients that sum, ties


def test_ndarray_method_spellings_on_nodes_and_duals():
    x = np.arange(24.0).reshape(2, 1, 3, 4) - 5
    calls = {
        "squeeze": lambda a: a.squeeze(),
        "squeeze axis": lambda a: a.squeeze(axis=1),
        "flatten": lambda a: a.flatten(),
        "flatten F": lambda a: a.flatten("F"),
        "ravel": lambda a: a.ravel(),
        "repeat": lambda a: a.repeat(2, axis=2),
        "repeat counts": lambda a: a.repeat([1, 0, 2], axis=-2),
        "repeat flat": lambda a: a.repeat(2),
        "take": lambda a: a.take([3, 3, 0], axis=-1),
        "take flat": lambda a: a.take([[5, 5], [-1, 0]]),
        "diagonal": lambda a: a.diagonal(1, 2, 3),
        "astype": lambda a: a.astype(np.float32),
    }
    for name, call in calls.items():
        expected = call(x)
        assert_same(call(Node(x, "x")).value, expected, name)
        dual = call(Dual(x, np.ones_like(x)))
        assert_same(dual.value, expected, name)
        assert_same(dual.tangent, call(np.ones_like(x)), name)


def test_pad_with_constants_moves_only_the_middle():
    """The constants are not differentiated: zero tangent and zero gradient there."""

    def padded(x):
        return np.pad(x, ((1, 0), (0, 2)), constant_values=7.5)

    value, tangent = jvp(padded, np.ones((2, 2)), np.full((2, 2), 3.0))
    np.testing.assert_array_equal(value, [[7.5] * 4, [1, 1, 7.5, 7.5], [1, 1, 7.5, 7.5]])
    np.testing.assert_array_equal(tangent, [[0] * 4, [3, 3, 0, 0], [3, 3, 0, 0]])
    gradient = padded(Node(np.ones((2, 2)), "x")).grad(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(gradient["x"], [[4, 5], [8, 9]])


def test_take_with_repeated_indices_sums_their_gradients():
    x = Node(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), "x")
    out = np.take(x, [2, 0, 2, 2], axis=1)
    gradient = out.grad(np.arange(8.0).reshape(2, 4))["x"]
    np.testing.assert_array_equal(gradient, [[1, 0, 0 + 2 + 3], [5, 0, 4 + 6 + 7]])
    flat = x.take(np.array([[4, 4], [4, -2]]))
    np.testing.assert_array_equal(flat.grad(np.ones((2, 2)))["x"], [[0, 0, 0], [0, 4, 0]])


def test_take_along_axis_gradient_sums_like_torch_scatter_add():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 6))
    indices = rng.integers(0, 6, (5, 9))
    g = rng.standard_normal((5, 9))
    got = np.take_along_axis(Node(x, "x"), indices, axis=1).grad(g)["x"]
    expected = torch.zeros(5, 6, dtype=torch.float64).scatter_add_(1, torch.tensor(indices), torch.tensor(g))
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-13, atol=1e-13)


def test_sort_ties_route_the_gradient_as_a_stable_sort():
    x = np.random.default_rng(0).integers(0, 3, (2, 200)).astype(float)  # long enough for quicksort to differ
    g = np.arange(400.0).reshape(2, 200)
    got = np.sort(Node(x, "x"), axis=1).grad(g)["x"]
    t = torch.tensor(x, requires_grad=True)
    torch.sort(t, dim=1, stable=True).values.backward(torch.tensor(g))
    np.testing.assert_array_equal(got, t.grad.numpy())


def test_float32_stays_float32_and_astype_changes_dtype_both_ways():
    x32 = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    leaf = Node(x32, "x")
    up = leaf.astype(np.float64)
    assert up.dtype == np.float64 and np.array_equal(up.value, x32.astype(np.float64))
    gradient = (up * up).sum().grad(1)["x"]
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, 2 * x32)
    down = Node(x32.astype(np.float64), "y").astype("float32")
    assert down.dtype == np.float32 and down.grad(np.ones((2, 3), np.float32))["y"].dtype == np.float64
    assert np.astype(leaf, np.float64).dtype == np.float64
    graph = backpropagate((leaf * 2).astype(np.float64).sum(), create_graph=True)[leaf]  # not cast at the leaf
    assert graph.dtype == np.float32
    assert leaf.astype(np.float32) is leaf  # already that dtype
    value, tangent = jvp(lambda a: a.astype(np.float64) * 2, x32, np.ones_like(x32))
    assert value.dtype == tangent.dtype == np.float64
    t = torch.tensor(x32, requires_grad=True)
    (torch.sin(t.to(torch.float64)) ** 3).sum().backward()
    np.testing.assert_allclose(
        dp.grad(lambda a: (np.sin(a.astype(np.float64)) ** 3).sum())(x32), t.grad.numpy(), rtol=1e-6
    )
    hessian = dp.hessian(lambda a: (np.sin(a.astype(np.float32)) ** 3).sum())(x32.astype(np.float64).ravel())
    assert hessian.dtype == np.float64 and hessian.shape == (6, 6)


def test_astype_to_integers_gives_a_plain_array_and_refuses_others():
    x = Node(np.array([1.7, -2.2, 0.0]), "x")
    as_int = x.astype(np.int32)
    assert type(as_int) is np.ndarray and as_int.dtype == np.int32
    np.testing.assert_array_equal(as_int, [1, -2, 0])
    assert x.astype(bool).tolist() == [True, True, False]
    with pytest.raises(TypeError, match="astype: .*complex128"):
        x.astype(np.complex128)
    with pytest.raises(TypeError, match="astype: cannot cast float64 to float32 with casting='safe'"):
        x.astype(np.float32, casting="safe")


def test_float32_gradients_through_gathers_and_joins_stay_float32():
    x = Node(np.arange(12, dtype=np.float32).reshape(3, 4), "x")
    outs = [
        np.take(x, [0, 0, 3], axis=1),
        np.pad(x, 1, mode="reflect"),
        np.sort(x, axis=0),
        x.repeat([1, 2, 0], axis=0),
        np.vstack([x, np.ones(4, np.float32)]),
        np.diag(np.diag(x)),
    ]
    for out in outs:
        assert out.dtype == np.float32
        assert out.grad(np.ones(out.shape, np.float32))["x"].dtype == np.float32


def test_shape_functions_that_return_several_results():
    x, y = Node(np.ones(3), "x"), Node(np.ones((2, 2)), "y")
    a, b = np.atleast_2d(x, y)
    assert (a.shape, b.shape) == ((1, 3), (2, 2)) and b is y  # already 2-D: itself, as NumPy
    pieces = np.array_split(Node(np.arange(7.0), "z"), 3)
    assert [p.shape for p in pieces] == [(3,), (2,), (2,)] and isinstance(pieces, list)
    pieces = np.split(Node(np.ones((2, 6)), "w"), [1, 1, 9], axis=1)
    assert [p.shape for p in pieces] == [(2, 1), (2, 0), (2, 5), (2, 0)]
    assert [p.shape for p in dp.ops.split(np.arange(4.0), 2)] == [(2,), (2,)]


def test_empty_arrays():
    x = Node(np.ones((0, 3)), "x")
    assert np.pad(x, 1).shape == (2, 5)
    np.testing.assert_array_equal(np.pad(x, 1).grad(np.ones((2, 5)))["x"], np.ones((0, 3)))
    assert np.take(Node(np.ones(4), "y"), np.array([], int)).shape == (0,)
    assert np.take(Node(np.ones(4), "y"), np.array([], int)).grad(np.ones(0))["y"].tolist() == [0, 0, 0, 0]
    assert np.tile(Node(np.ones(2), "z"), 0).shape == (0,)
    assert np.repeat(Node(np.ones((2, 2)), "z"), 0, axis=1).grad(np.ones((2, 0)))["z"].tolist() == [[0, 0], [0, 0]]


def test_zero_d_inputs():
    s = Node(np.float64(2.5), "s")
    assert np.expand_dims(s, 0).shape == (1,) and np.squeeze(s).shape == () and s.ravel().shape == (1,)
    assert np.atleast_3d(s).shape == (1, 1, 1) and np.flip(s).shape == () and np.roll(s, 3).shape == ()
    assert np.pad(s, 2).shape == () and np.tile(s, (2, 3)).shape == (2, 3) and np.repeat(s, 3).shape == (3,)
    assert np.sort(s, axis=None).shape == (1,) and np.take(s, 0).shape == () and np.diagflat(s).shape == (1, 1)
    assert float(np.tile(s, (2, 3)).sum().grad(1)["s"]) == 6.0


# --------------------------------------------------------------------------------------------
# Bad input: errors that name the operation and the shape


def _node(*shape: int) -> Node:
    return Node(np.zeros(shape), "x")


BAD = [
    (lambda: np.squeeze(_node(2, 3), 1), ValueError, r"squeeze: cannot squeeze axis 1 of shape \(2, 3\)"),
    (lambda: np.squeeze(_node(2, 1), 2), np.exceptions.AxisError, r"squeeze: axis 2 does not fit shape \(2, 1\)"),
    (lambda: np.expand_dims(_node(2, 3), 3), np.exceptions.AxisError, r"expand_dims: shape \(2, 3\)"),
    (lambda: np.expand_dims(_node(2), (0, 0)), ValueError, r"expand_dims: shape \(2,\): repeated axis"),
    (lambda: np.moveaxis(_node(2, 3), 0, 2), np.exceptions.AxisError, r"moveaxis: axis 2 does not fit shape \(2, 3\)"),
    (lambda: np.moveaxis(_node(2, 3), (0, 1), 1), ValueError, r"moveaxis: .*same number.*\(2, 3\)"),
    (lambda: _node(2, 3).ravel("K"), ValueError, r"ravel: order 'K'"),
    (lambda: np.flip(_node(2, 3), 2), np.exceptions.AxisError, r"flip: axis 2 does not fit shape \(2, 3\)"),
    (lambda: np.fliplr(_node(3)), ValueError, r"fliplr: .*at least 2 axes, got shape \(3,\)"),
    (lambda: np.flipud(Node(1.0, "x")), ValueError, r"flipud: .*shape \(\)"),
    (lambda: np.rot90(_node(2, 3), axes=(0, 0)), ValueError, r"rot90: axis \(0, 0\) does not fit shape \(2, 3\)"),
    (lambda: np.rot90(_node(2, 3), axes=(0, 1, 2)), ValueError, r"rot90: axes must be two axes"),
    (lambda: np.rot90(_node(2, 3), 1.5), TypeError, r"rot90: k must be an integer"),
    (lambda: np.roll(_node(2, 3), 1, axis=3), np.exceptions.AxisError, r"roll: .*\(2, 3\)"),
    (lambda: np.roll(_node(2, 3), (1, 2, 3), axis=(0, 1)), ValueError, r"roll: .*\(2, 3\)"),
    (lambda: np.repeat(_node(2, 3), [1, 2], axis=1), ValueError, r"repeat: .*\(2, 3\)"),
    (lambda: np.repeat(_node(2, 3), -1, axis=1), ValueError, r"repeat: .*\(2, 3\)"),
    (lambda: np.repeat(_node(2, 3), 2, axis=2), np.exceptions.AxisError, r"repeat: axis 2 does not fit shape \(2, 3\)"),
    (lambda: np.tile(_node(2, 3), (2, -1)), ValueError, r"tile: .*negative.*\(2, 3\)"),
    (lambda: np.tile(_node(2, 3), 1.5), TypeError, r"tile: reps must be an integer"),
    (
        lambda: np.pad(_node(2, 3), ((1, 2), (3, 4), (5, 6))),
        ValueError,
        r"pad: pad_width .* does not fit shape \(2, 3\)",
    ),
    (lambda: np.pad(_node(2, 3), -1), ValueError, r"pad: .*negative.*\(2, 3\)"),
    (lambda: np.pad(_node(2, 3), 1.5), TypeError, r"pad: pad_width must be integers"),
    (lambda: np.pad(_node(2, 3), 1, mode="mean"), ValueError, r"pad: mode 'mean' is not supported"),
    (lambda: np.pad(_node(2, 3), 1, mode="reflect", reflect_type="odd"), ValueError, r"pad: reflect_type 'odd'"),
    (lambda: np.pad(_node(2, 3), 1, mode="edge", constant_values=2), ValueError, r"pad: unsupported keyword"),
    (lambda: np.pad(_node(2, 3), 1, constant_values=_node(1)), TypeError, r"pad: constant_values must be plain"),
    (lambda: np.pad(_node(0, 3), 1, mode="reflect"), ValueError, r"pad_copy: operands of shapes \(0, 3\)"),
    (lambda: np.tril(Node(1.0, "x")), ValueError, r"tril: .*shape \(\)"),
    (lambda: np.triu(_node(2, 2), 0.5), TypeError, r"triu: k must be an integer"),
    (lambda: np.diag(_node(2, 2, 2)), ValueError, r"diag: the input must be 1-D or 2-D, got shape \(2, 2, 2\)"),
    (lambda: np.diagonal(_node(2, 3), 0, 0, 0), ValueError, r"diagonal: .*\(2, 3\)"),
    (
        lambda: np.diagonal(_node(2, 3), 0, 0, 2),
        np.exceptions.AxisError,
        r"diagonal: axis \(0, 2\) does not fit shape \(2, 3\)",
    ),
    (
        lambda: np.split(_node(2, 3), 2, axis=1),
        ValueError,
        r"split: axis 1 of shape \(2, 3\) does not split into 2 equal",
    ),
    (lambda: np.array_split(_node(2, 3), 0), ValueError, r"array_split: the number of sections must be positive"),
    (lambda: np.split(_node(2, 3), 1, axis=2), np.exceptions.AxisError, r"split: axis 2 does not fit shape \(2, 3\)"),
    (lambda: np.hsplit(Node(1.0, "x"), 1), ValueError, r"hsplit: .*at least 1 axes, got shape \(\)"),
    (lambda: np.vsplit(_node(4), 2), ValueError, r"vsplit: .*at least 2 axes, got shape \(4,\)"),
    (lambda: np.dsplit(_node(4, 2), 2), ValueError, r"dsplit: .*at least 3 axes, got shape \(4, 2\)"),
    (lambda: np.vstack([_node(2, 3), _node(2, 4)]), ValueError, r"concatenate: shapes \(2, 3\), \(2, 4\) do not fit"),
    (lambda: np.hstack([_node(2, 3), _node(3, 3)]), ValueError, r"concatenate: shapes \(2, 3\), \(3, 3\) do not fit"),
    (lambda: np.append(_node(2, 3), _node(3), axis=0), ValueError, r"concatenate: shapes \(2, 3\), \(3,\) do not fit"),
    (lambda: np.concatenate([_node(2)], out=np.zeros(2)), TypeError, r"concatenate on Nodes/Duals: out="),
    (lambda: np.vstack([_node(2)], dtype=np.float32), TypeError, r"concatenate on Nodes/Duals: .*dtype="),
    (lambda: np.stack([_node(2), _node(3)]), ValueError, r"stack: shapes \(2,\), \(3,\) do not fit"),
    (
        lambda: np.take(_node(2, 3), [3], axis=1),
        IndexError,
        r"take: operands of shapes \(2, 3\): index 3 is out of bounds",
    ),
    (lambda: np.take(_node(2, 3), [0.5]), TypeError, r"take: operands of shapes \(2, 3\)"),
    (lambda: np.take(_node(2, 3), [0], out=np.zeros(1)), TypeError, r"take on Nodes/Duals: out="),
    (
        lambda: np.take_along_axis(_node(2, 3), np.zeros((2,), int), 1),
        ValueError,
        r"take_along_axis: operands of shapes \(2, 3\)",
    ),
    (lambda: np.take_along_axis(_node(2, 3), np.zeros((2, 1)), 1), IndexError, r"take_along_axis: .*\(2, 3\)"),
    (lambda: np.sort(Node(1.0, "x")), np.exceptions.AxisError, r"sort: axis -1 does not fit shape \(\)"),
    (lambda: np.sort(_node(2, 3), axis=2), np.exceptions.AxisError, r"sort: axis 2 does not fit shape \(2, 3\)"),
    (lambda: np.sort(_node(2), kind="bogus"), ValueError, r"sort: kind 'bogus'"),
    (lambda: np.sort(_node(2), order="f"), TypeError, r"sort on Nodes/Duals: order="),
]


@pytest.mark.parametrize("call, error, message", BAD, ids=[message.split(":")[0].strip("r\\") for _, _, message in BAD])
def test_bad_input_names_the_operation_and_the_shape(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_bad_input_on_duals_too():
    with pytest.raises(ValueError, match=r"squeeze: cannot squeeze axis 0 of shape \(2,\)"):
        np.squeeze(Dual(np.ones(2), np.ones(2)), 0)
    with pytest.raises(IndexError, match=r"take: operands of shapes \(2,\)"):
        np.take(Dual(np.ones(2), np.ones(2)), 5)


def test_gather_gradient_equals_getitem_gradient():
    """Gathers sum gradients by flat positions (faster than np.add.at into a 2-D array: timed by
    hand, not here); the result must equal getitem's."""
    rng = np.random.default_rng(0)
    x = Node(rng.standard_normal((50, 8)), "x")
    indices = rng.integers(0, 50, 400)
    g = rng.standard_normal((400, 8))
    np.testing.assert_allclose(
        np.take(x, indices, axis=0).grad(g)["x"], x[indices].grad(g)["x"], rtol=1e-12, atol=1e-12
    )
