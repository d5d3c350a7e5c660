"""Products and linear algebra (dp/ops/linalg.py): NumPy's values, shapes and dtypes; gradients
against PyTorch and finite differences; forward mode against reverse mode; second order (create_graph
and forward over reverse) against PyTorch's double backward; errors that name the operation and the
shapes.

tests/test_numpy_api.py runs a few fixed cases of each function; here hypothesis draws einsum
subscripts (repeated labels, implicit outputs, '...', up to three operands), tensordot's axes, kron's
shapes and solve's broadcasting, and the cases the table cannot express: several outputs (slogdet's
sign, eigh's pair), upper=/UPLO=, the subscript-list form and the aliases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import dp
from dp import Dual, Node, backpropagate, jvp
from oracles import finite_difference_gradients


def _values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def well_conditioned(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Diagonally dominant, diagonal entries of either sign: invertible, determinants of both signs."""
    n = shape[-1]
    return rng.uniform(-0.5, 0.5, shape) + (n + 1.0) * rng.choice([-1.0, 1.0], shape[:-1])[..., None] * np.eye(n)


def spd(a: Any) -> Any:
    """A A^T + n I (written with NumPy, so it runs on arrays, Nodes and Duals)."""
    return a @ np.swapaxes(a, -1, -2) + a.shape[-1] * np.eye(a.shape[-1], dtype=a.dtype)


def t_spd(t: torch.Tensor) -> torch.Tensor:
    return t @ t.mT + t.shape[-1] * torch.eye(t.shape[-1], dtype=t.dtype)


def symmetric(a: Any) -> Any:
    """(a + a^T) / 2 + diag(0, 4, 8, ...): eigenvalues at least 1.6 apart for |a| <= 0.3, n <= 4."""
    return (a + np.swapaxes(a, -1, -2)) / 2 + np.diag(np.arange(a.shape[-1], dtype=a.dtype) * 4)


def t_symmetric(t: torch.Tensor) -> torch.Tensor:
    return (t + t.mT) / 2 + torch.diag(torch.arange(t.shape[-1], dtype=t.dtype) * 4)


def check(
    f: Callable[..., Any],
    t_f: Callable[..., Any],
    xs: list[np.ndarray],
    *,
    seed: int = 0,
    exact: bool = True,
    rtol: float = 1e-9,
    atol: float = 1e-10,
) -> None:
    """f (NumPy spellings) on Nodes and Duals against NumPy on arrays and PyTorch on tensors."""
    rng = np.random.default_rng(seed)
    expected = np.asarray(f(*xs))
    leaves = [Node(x, requires_grad=True) for x in xs]
    out = f(*leaves)
    assert isinstance(out, Node), type(out)
    assert out.shape == expected.shape and out.dtype == expected.dtype, (out.shape, out.dtype, expected.shape)
    if exact:
        np.testing.assert_array_equal(out.value, expected, err_msg="value differs from NumPy's")
    else:
        np.testing.assert_allclose(out.value, expected, rtol=1e-13, atol=1e-13, err_msg="value differs from NumPy's")
    u = rng.standard_normal(expected.shape)
    found = backpropagate(out, u)
    gradients = [found[leaf] for leaf in leaves]
    for x, gradient in zip(xs, gradients):
        assert gradient.shape == x.shape and gradient.dtype == x.dtype

    tensors = [torch.tensor(x, requires_grad=True) for x in xs]
    t_out = t_f(*tensors)
    np.testing.assert_allclose(out.value, t_out.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg="PyTorch's value")
    t_gradients = torch.autograd.grad(t_out, tensors, torch.tensor(u), create_graph=True)
    for index, (gradient, oracle) in enumerate(zip(gradients, t_gradients)):
        np.testing.assert_allclose(
            gradient, oracle.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"gradient {index} differs from PyTorch's"
        )
    for index, (gradient, numerical) in enumerate(zip(gradients, finite_difference_gradients(f, xs, u))):
        np.testing.assert_allclose(
            gradient, numerical, rtol=1e-5, atol=1e-6, err_msg=f"gradient {index} differs from finite differences"
        )

    vs = [rng.standard_normal(x.shape) for x in xs]
    value, tangent = jvp(f, tuple(xs), tuple(vs))
    np.testing.assert_array_equal(value, out.value, err_msg="the value on Duals")
    np.testing.assert_allclose(
        np.sum(u * tangent),
        sum(np.sum(g * v) for g, v in zip(gradients, vs)),
        rtol=1e-9,
        atol=1e-9,
        err_msg="forward mode disagrees with reverse mode",
    )
    # d/dx <grad <u, f>, w>: PyTorch's double backward, dp's create_graph and dp's forward over reverse
    ws = vs
    found = backpropagate(out, u, create_graph=True)
    for leaf, gradient in zip(leaves, gradients):
        np.testing.assert_allclose(found[leaf].value, gradient, rtol=1e-13, atol=1e-14, err_msg="create_graph=True")
    total = sum(np.sum(found[leaf] * w) for leaf, w in zip(leaves, ws))
    second = backpropagate(total) if isinstance(total, Node) else {}
    t_total = sum((g * torch.tensor(w)).sum() for g, w in zip(t_gradients, ws))
    t_second = torch.autograd.grad(t_total, tensors, allow_unused=True) if t_total.requires_grad else [None] * len(xs)

    gradient_of_loss = dp.grad(lambda *a: np.sum(u * f(*a)), argnum=tuple(range(len(xs))))
    _, forward_over_reverse = jvp(gradient_of_loss, tuple(xs), tuple(ws))
    forward_over_reverse = forward_over_reverse if isinstance(forward_over_reverse, tuple) else (forward_over_reverse,)
    for index, (leaf, oracle, fwd) in enumerate(zip(leaves, t_second, forward_over_reverse)):
        oracle = np.zeros_like(xs[index]) if oracle is None else oracle.numpy()
        np.testing.assert_allclose(
            second.get(leaf, np.zeros_like(xs[index])),
            oracle,
            rtol=rtol * 10,
            atol=atol * 10,
            err_msg=f"second derivative {index} differs from PyTorch's",
        )
        np.testing.assert_allclose(
            fwd, oracle, rtol=rtol * 10, atol=atol * 10, err_msg=f"forward over reverse {index} differs from PyTorch's"
        )


# --------------------------------------------------------------------------------------------
# einsum, drawn


@st.composite
def einsum_cases(draw: Any) -> tuple[str, str, list[tuple[int, ...]]]:
    """(NumPy's subscripts, the same for PyTorch with the output spelt out, the operands' shapes):
    one to three operands, labels repeated within an operand (diagonals) and across operands,
    upper-case labels, implicit outputs, labels of size 1 in some operands (they broadcast) and a
    leading '...' broadcast between operands."""
    labels = draw(st.lists(st.sampled_from("ijkAB"), min_size=1, max_size=4, unique=True))
    sizes = {label: draw(st.integers(1, 3)) for label in labels}
    count = draw(st.integers(1, 3))
    terms = [draw(st.lists(st.sampled_from(labels), max_size=3)) for _ in range(count)]
    ellipsis = draw(st.booleans())
    spread = draw(st.lists(st.integers(1, 2), min_size=2, max_size=2)) if ellipsis else []
    shapes = []
    for term in terms:
        kept = draw(st.integers(0, len(spread))) if ellipsis else 0  # the broadcast axes this operand has
        lead = tuple(draw(st.sampled_from([1, size])) for size in spread[len(spread) - kept :])
        ones = draw(st.sets(st.sampled_from(labels))) if draw(st.booleans()) else set()  # broadcast from 1
        shapes.append(lead + tuple(1 if label in ones else sizes[label] for label in term))
    prefix = "..." if ellipsis else ""
    inputs = ",".join(prefix + "".join(term) for term in terms)
    used = "".join("".join(term) for term in terms)
    implicit = "".join(sorted(label for label in set(used) if used.count(label) == 1))
    if draw(st.booleans()):
        return inputs, inputs + "->" + prefix + implicit, shapes
    output = "".join(draw(st.permutations(sorted(set(used))))[: draw(st.integers(0, len(set(used))))])
    return inputs + "->" + prefix + output, inputs + "->" + prefix + output, shapes


@given(case=einsum_cases(), seed=st.integers(0, 99))
def test_einsum_drawn_subscripts(case, seed):
    subscripts, torch_subscripts, shapes = case
    rng = np.random.default_rng(seed)
    xs = [_values(rng, shape) for shape in shapes]
    check(lambda *a: np.einsum(subscripts, *a), lambda *t: torch.einsum(torch_subscripts, *t), xs, seed=seed)


@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("ii->", [(3, 3)]),
        ("ii->i", [(3, 3)]),
        ("ii", [(4, 4)]),
        ("iij->ji", [(2, 2, 3)]),
        ("iii->i", [(2, 2, 2)]),
        ("ij->", [(3, 4)]),
        ("ij,jk", [(2, 3), (3, 4)]),
        ("ij,jk->ki", [(2, 3), (3, 4)]),
        ("bA,c", [(2, 3), (4,)]),
        ("ii,ij->j", [(3, 3), (3, 2)]),
        ("i,i,i->", [(3,), (3,), (3,)]),
        (",i->i", [(), (3,)]),
        ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
        ("...i,...i", [(2, 1, 3), (4, 3)]),
        ("i...->...", [(2, 3, 1)]),
        ("ij,ij->ij", [(1, 3), (2, 1)]),
        ("ij,j->i", [(2, 1), (3,)]),
        ("ii,i->i", [(1, 1), (3,)]),  # size 1 broadcasts
    ],
)
def test_einsum_cases(subscripts, shapes):
    rng = np.random.default_rng(1)
    xs = [_values(rng, shape) for shape in shapes]
    explicit = dp.ops.linalg._explicit_subscripts(subscripts, shapes)
    check(lambda *a: np.einsum(subscripts, *a), lambda *t: torch.einsum(explicit, *t), xs)


def test_einsum_subscript_lists_optimize_and_float32():
    rng = np.random.default_rng(2)
    a, b = _values(rng, (2, 3)), _values(rng, (3,))
    for args in [(a, [0, 1], b, [1], [0]), (a, [0, Ellipsis], b, [Ellipsis]), (a, [1, 0])]:
        expected = np.einsum(*args)
        got = np.einsum(*[Node(x) if isinstance(x, np.ndarray) else x for x in args])
        np.testing.assert_array_equal(got.value, expected)
        np.testing.assert_array_equal(dp.ops.einsum(*args), expected)
    check(
        lambda x, y, z: np.einsum("ij,jk,kl->il", x, y, z, optimize=True),
        lambda x, y, z: torch.einsum("ij,jk,kl->il", x, y, z),
        [_values(rng, (2, 3)), _values(rng, (3, 4)), _values(rng, (4, 2))],
        exact=False,
    )
    x32 = _values(rng, (3, 3)).astype(np.float32)
    out = np.einsum("ij,jk->ik", Node(x32, "x"), x32)
    assert out.dtype == np.float32 and out.grad(np.ones((3, 3), np.float32))["x"].dtype == np.float32
    trace = np.einsum("ii", Node(x32, "x"))
    np.testing.assert_array_equal(trace.grad(1)["x"], np.eye(3, dtype=np.float32))
    assert trace.grad(1)["x"].dtype == np.float32


# --------------------------------------------------------------------------------------------
# tensordot, inner, outer, vdot, kron, dot


@st.composite
def tensordot_cases(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...], Any]:
    shared = draw(st.lists(st.integers(1, 3), max_size=3))
    a_free, b_free = draw(st.lists(st.integers(1, 3), max_size=2)), draw(st.lists(st.integers(1, 3), max_size=2))
    if draw(st.booleans()):  # an integer: a's last n axes against b's first n
        return tuple(a_free + shared), tuple(shared + b_free), len(shared)
    a_order = draw(st.permutations(range(len(a_free) + len(shared))))
    b_order = draw(st.permutations(range(len(b_free) + len(shared))))
    a_shape = [0] * len(a_order)
    b_shape = [0] * len(b_order)
    for position, size in zip(a_order, a_free + shared):
        a_shape[position] = size
    for position, size in zip(b_order, shared + b_free):
        b_shape[position] = size
    axes_a = [a_order[len(a_free) + k] - draw(st.sampled_from([0, len(a_order)])) for k in range(len(shared))]
    axes_b = [b_order[k] - draw(st.sampled_from([0, len(b_order)])) for k in range(len(shared))]
    if len(shared) == 1 and draw(st.booleans()):
        return tuple(a_shape), tuple(b_shape), (axes_a[0], axes_b[0])  # single axes, not lists
    return tuple(a_shape), tuple(b_shape), (axes_a, axes_b)


@given(case=tensordot_cases(), seed=st.integers(0, 99))
def test_tensordot_drawn_axes(case, seed):
    a_shape, b_shape, axes = case
    rng = np.random.default_rng(seed)
    check(
        lambda a, b: np.tensordot(a, b, axes),
        lambda a, b: torch.tensordot(a, b, _torch_dims(axes)),
        [_values(rng, a_shape), _values(rng, b_shape)],
        seed=seed,
    )


def _torch_dims(axes: Any) -> Any:
    if isinstance(axes, int):
        return axes
    first, second = axes
    return (list(np.atleast_1d(first)), list(np.atleast_1d(second)))


def test_tensordot_reads_axes_as_numpy_does():
    rng = np.random.default_rng(3)
    a, b = _values(rng, (2, 3)), _values(rng, (3, 2))
    for axes in [-1, 0, ([0, 1], [1, 0]), (np.int64(1), [0]), [[1], [0]]]:
        np.testing.assert_array_equal(np.tensordot(Node(a), b, axes).value, np.tensordot(a, b, axes))
        np.testing.assert_array_equal(np.linalg.tensordot(Node(a), b, axes=axes).value, np.tensordot(a, b, axes))


@st.composite
def two_shapes(draw: Any, min_dims: int = 0) -> tuple[tuple[int, ...], tuple[int, ...]]:
    def shape():
        return tuple(draw(st.lists(st.integers(1, 3), min_size=min_dims, max_size=3)))

    return shape(), shape()


def _t_kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a * b if b.ndim == 0 or a.ndim == 0 else torch.kron(a, b)


@given(shapes=two_shapes(), seed=st.integers(0, 99))
def test_kron_and_outer_any_shapes(shapes, seed):
    rng = np.random.default_rng(seed)
    xs = [_values(rng, shape) for shape in shapes]
    check(np.kron, _t_kron, xs, seed=seed)
    check(np.outer, lambda a, b: torch.outer(a.reshape(-1), b.reshape(-1)), xs, seed=seed)


@given(shapes=two_shapes(min_dims=1), seed=st.integers(0, 99))
def test_inner_and_dot_any_shapes(shapes, seed):
    a_shape, b_shape = shapes
    rng = np.random.default_rng(seed)
    inner_shapes = (a_shape, b_shape[:-1] + a_shape[-1:])
    check(
        np.inner,
        lambda a, b: torch.tensordot(a, b, ([-1], [-1])),
        [_values(rng, s) for s in inner_shapes],
        seed=seed,
        exact=False,
    )
    dot_b = b_shape[:-2] + a_shape[-1:] + b_shape[-1:] if len(b_shape) >= 2 else a_shape[-1:]
    check(
        np.dot,
        lambda a, b: torch.tensordot(a, b, ([-1], [-2 if b.ndim >= 2 else 0])),
        [_values(rng, a_shape), _values(rng, dot_b)],
        seed=seed,
        exact=False,
    )  # NumPy's N-d dot: ddot loops


def test_vdot_outer_and_matmul_aliases():
    rng = np.random.default_rng(4)
    a, b = _values(rng, (2, 3)), _values(rng, (3, 2))
    check(np.vdot, lambda x, y: (x.reshape(-1) * y.reshape(-1)).sum(), [a, b], exact=False)
    check(lambda x, y: np.vdot(x, y), lambda x, y: x * y, [np.array(2.0), np.array(3.0)])
    check(np.linalg.matmul, torch.matmul, [a, b])
    check(np.linalg.outer, torch.outer, [a[0], b[:, 0]])
    assert isinstance(np.inner(Node(2.0, "x"), np.ones(3)), Node)


# --------------------------------------------------------------------------------------------
# Linear algebra

_STACKS = st.sampled_from([(1, 1), (2, 2), (3, 3), (4, 4), (2, 3, 3), (2, 1, 2, 2)])


@given(shape=_STACKS, seed=st.integers(0, 99))
def test_inv_det_slogdet(shape, seed):
    rng = np.random.default_rng(seed)
    a = well_conditioned(rng, shape)
    check(np.linalg.inv, torch.linalg.inv, [a], seed=seed, rtol=1e-8)
    check(np.linalg.det, torch.linalg.det, [a], seed=seed, rtol=1e-8)
    check(lambda x: np.linalg.slogdet(x).logabsdet, lambda t: torch.linalg.slogdet(t)[1], [a], seed=seed, rtol=1e-8)
    check(
        lambda x: np.linalg.slogdet(x)[0] * np.linalg.slogdet(x)[1],
        lambda t: torch.linalg.slogdet(t)[0] * torch.linalg.slogdet(t)[1],
        [a],
        seed=seed,
        rtol=1e-8,
    )


def test_slogdet_sign_is_plain_and_numpys():
    a = well_conditioned(np.random.default_rng(5), (3, 4, 4))
    for x in (Node(a, "a"), Dual(a, np.ones_like(a)), a):
        sign, logabsdet = np.linalg.slogdet(x)
        assert type(sign) is np.ndarray
        np.testing.assert_array_equal(sign, np.linalg.slogdet(a).sign)
        np.testing.assert_array_equal(dp.node.plain(logabsdet), np.linalg.slogdet(a).logabsdet)
    assert type(np.linalg.slogdet(Node(a[0])).sign) is np.float64


#: NumPy 2's solve: b is a vector only if it is 1-D; otherwise a stack of matrices, broadcast with A's stack.
_SOLVE_SHAPES = [
    ((3, 3), (3,)),
    ((3, 3), (3, 2)),
    ((1, 1), (1,)),
    ((2, 3, 3), (3,)),
    ((2, 3, 3), (2, 3, 1)),
    ((2, 3, 3), (3, 2)),
    ((3, 3), (2, 3, 2)),
    ((2, 1, 3, 3), (4, 3, 2)),
    ((4, 4), (4, 1)),
]


@pytest.mark.parametrize("a_shape, b_shape", _SOLVE_SHAPES)
def test_solve(a_shape, b_shape):
    rng = np.random.default_rng(6)
    check(np.linalg.solve, torch.linalg.solve, [well_conditioned(rng, a_shape), _values(rng, b_shape)], rtol=1e-8)


@given(shape=_STACKS, seed=st.integers(0, 99), upper=st.booleans())
def test_cholesky(shape, seed, upper):
    rng = np.random.default_rng(seed)
    check(
        lambda a: np.linalg.cholesky(spd(a), upper=upper),
        lambda t: torch.linalg.cholesky(t_spd(t), upper=upper),
        [_values(rng, shape)],
        seed=seed,
        rtol=1e-8,
        atol=1e-9,
    )


@pytest.mark.parametrize("name", ["cholesky", "eigh: w", "eigh: V squared"])
def test_symmetric_input_gradient_is_torchs_and_symmetric(name):
    """On the symmetric matrix itself, not through A A^T: PyTorch's gradient, which is symmetric;
    the tangent of a direction that is not symmetric is that of its symmetric part, so forward
    mode agrees with this gradient."""
    rng = np.random.default_rng(7)
    a = spd(rng.standard_normal((2, 3, 3)))
    f, t_f = {
        "cholesky": (np.linalg.cholesky, torch.linalg.cholesky),
        "eigh: w": (lambda x: np.linalg.eigh(x)[0], lambda t: torch.linalg.eigh(t)[0]),
        "eigh: V squared": (lambda x: np.linalg.eigh(x)[1] ** 2, lambda t: torch.linalg.eigh(t)[1] ** 2),
    }[name]
    u = rng.standard_normal(np.shape(f(a)))
    gradient = backpropagate(f(Node(a, "a")), u)
    gradient = next(iter(gradient.values()))
    t = torch.tensor(a, requires_grad=True)
    t_f(t).backward(torch.tensor(u))
    np.testing.assert_allclose(gradient, t.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(gradient, np.swapaxes(gradient, -1, -2), rtol=1e-12, atol=1e-13)
    v = rng.standard_normal(a.shape)
    np.testing.assert_allclose(np.sum(u * jvp(f, a, v)[1]), np.sum(gradient * v), rtol=1e-9)


def _t_eigh_loss(t: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(t_symmetric(t))
    return torch.cat([w, (v**2).flatten(-2), ((v * w[..., None, :]) @ v.mT).flatten(-2)], dim=-1)


def _eigh_loss(a: Any, UPLO: str = "L") -> Any:
    """Gauge-invariant: the eigenvalues, the squared eigenvectors, and V diag(w) V^T."""
    w, v = np.linalg.eigh(symmetric(a), UPLO)
    shape = v.shape[:-2] + (-1,)
    return np.concatenate(
        [w, np.reshape(v**2, shape), np.reshape((v * w[..., None, :]) @ np.swapaxes(v, -1, -2), shape)], axis=-1
    )


@given(shape=_STACKS, seed=st.integers(0, 99), UPLO=st.sampled_from("LU"))
def test_eigh(shape, seed, UPLO):
    x = np.random.default_rng(seed).uniform(-0.3, 0.3, shape)
    check(lambda a: _eigh_loss(a, UPLO), _t_eigh_loss, [x], seed=seed, rtol=1e-8, atol=1e-10)


def test_eigh_returns_numpys_pair():
    a = symmetric(np.random.default_rng(9).uniform(-0.3, 0.3, (2, 3, 3)))
    w, v = np.linalg.eigh(a)
    result = np.linalg.eigh(Node(a, "a"))
    np.testing.assert_array_equal(result.eigenvalues.value, w)
    np.testing.assert_array_equal(result.eigenvectors.value, v)
    plain_w, plain_v = dp.ops.eigh(a)
    np.testing.assert_array_equal(plain_w, w)
    np.testing.assert_array_equal(plain_v, v)


def test_float32_stays_float32():
    a = well_conditioned(np.random.default_rng(10), (3, 3)).astype(np.float32)
    for f in (
        np.linalg.inv,
        np.linalg.det,
        lambda x: np.linalg.slogdet(x)[1],
        lambda x: np.linalg.cholesky(spd(x)),
        lambda x: np.linalg.eigh(symmetric(x))[1],
        lambda x: np.linalg.solve(x, x[0]),
        lambda x: np.kron(x, x),
        lambda x: np.tensordot(x, x),
        lambda x: np.einsum("ij,jk", x, x),
    ):
        out = f(Node(a, "a"))
        assert out.dtype == np.asarray(f(a)).dtype == np.float32
        assert out.grad(np.ones(out.shape, np.float32))["a"].dtype == np.float32


# --------------------------------------------------------------------------------------------
# Errors name the operation and the shapes


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda x: np.einsum("ij,jk", x), ValueError, ["einsum", "(3, 4)", "2 operand"]),
        (lambda x: np.einsum("ijk", x), ValueError, ["einsum", "(3, 4)", "'ijk'"]),
        (lambda x: np.einsum("i...->i", x), ValueError, ["einsum", "'...'"]),
        (lambda x: np.einsum("i2", x), ValueError, ["einsum", "letters"]),
        (lambda x: np.einsum("ij,ij", x, np.ones((4, 3))), ValueError, ["einsum", "(3, 4)", "(4, 3)"]),
        (lambda x: np.einsum("ij", x, out=np.empty((3, 4))), TypeError, ["einsum", "out"]),
        (lambda x: np.linalg.solve(np.eye(4), x), ValueError, ["solve", "(4, 4)", "(3, 4)"]),
        (
            lambda x: np.linalg.solve(np.ones((2, 3, 3)), x[None, :, :2] * np.ones((3, 1, 1))),
            ValueError,
            ["solve", "(2, 3, 3)", "(3, 3, 2)"],
        ),
        (lambda x: np.linalg.solve(x[:3, :3], np.ones(4)), ValueError, ["solve", "(3, 3)", "(4,)"]),
        (lambda x: np.linalg.cholesky(x), np.linalg.LinAlgError, ["cholesky", "(3, 4)"]),
        (lambda x: np.linalg.inv(x[0]), np.linalg.LinAlgError, ["inv", "(4,)"]),
        (lambda x: np.linalg.det(x), np.linalg.LinAlgError, ["det", "(3, 4)"]),
        (lambda x: np.linalg.slogdet(x), np.linalg.LinAlgError, ["slogdet", "(3, 4)"]),
        (lambda x: np.linalg.eigh(x), np.linalg.LinAlgError, ["eigh", "(3, 4)"]),
        (lambda x: np.linalg.cholesky(x[:2, :2] * 0 - np.eye(2)), np.linalg.LinAlgError, ["cholesky", "positive"]),
        (lambda x: np.linalg.eigh(x[:3, :3], UPLO="X"), ValueError, ["eigh", "UPLO"]),
        (lambda x: np.linalg.inv(x[:2, :2] * 0), np.linalg.LinAlgError, ["inv", "(2, 2)", "Singular"]),
        (lambda x: np.tensordot(x, x, 1), ValueError, ["tensordot", "(3, 4)"]),
        (lambda x: np.tensordot(x, x, ([0, 0], [1, 1])), ValueError, ["tensordot", "duplicate"]),
        (lambda x: np.inner(x, np.ones(3)), ValueError, ["inner", "(3, 4)", "(3,)"]),
        (lambda x: np.vdot(x, np.ones(3)), ValueError, ["vdot", "(3, 4)", "(3,)"]),
        (lambda x: np.linalg.outer(x, np.ones(3)), ValueError, ["outer", "(3, 4)"]),
        (lambda x: np.dot(x, np.ones((2, 3, 4))), ValueError, ["dot", "(3, 4)", "(2, 3, 4)"]),
    ],
)
def test_bad_input_names_the_operation_and_shapes(call, error, words):
    for x in (Node(np.ones((3, 4)), "x"), Dual(np.ones((3, 4)))):
        with pytest.raises(error) as raised:
            call(x)
        for word in words:
            assert word in str(raised.value), (word, str(raised.value))
