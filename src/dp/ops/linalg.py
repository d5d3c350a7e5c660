"""Products and linear algebra: NumPy's products (dot, inner, outer, vdot, tensordot, kron, einsum)
and np.linalg's inv, solve, det, slogdet, cholesky and eigh.

matmul itself is one of node.py's worked examples. The other products are written the way NumPy
computes them (tensordot: transpose, reshape, one matrix product; outer and kron: a broadcast
multiply), so their values are NumPy's to the last bit (N-d dot and inner to rounding: NumPy loops
over vector dot products there); einsum is a primitive of its own. Products are linear in each
operand (tangent="multilinear"): the tangent is the product rule, derived.

The linear-algebra rules are written with these same operations (inv's derivative uses inv), so
every derivative can be differentiated again. cholesky and eigh assume a symmetric input and, as
PyTorch, give a symmetric gradient (their tangents use the symmetric part of the input's tangent,
which keeps forward and reverse mode in agreement).
"""

from __future__ import annotations

import math
import operator
import string
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from dp.node import _matrix_transpose as _mT
from dp.node import Primitive, _plain_options, implements, matmul, method, multiply, plain, primitive, reshape_
from dp.ops.shape import _reshaped, _transpose, concatenate, diagonal, ravel, tril

# The names as a paragraph (ruff format would put each on its own line).
# fmt: off
__all__ = ["cholesky", "det", "dot", "eigh", "einsum", "inner", "inv", "kron", "outer", "slogdet", "solve",
           "tensordot", "vdot"]
# fmt: on


def _shape(x: Any) -> tuple[int, ...]:
    return np.shape(plain(x))


def _dtype(x: Any) -> np.dtype:
    return np.result_type(plain(x))


def _eye(n: int, like: Any) -> np.ndarray:
    return np.eye(n, dtype=_dtype(like))


# --------------------------------------------------------------------------------------------
# Products written with matmul and multiply, as NumPy writes them


def _contract(op: str, a: Any, b: Any, axes_a: list[int], axes_b: list[int]) -> Any:
    """Sum over a's axes `axes_a` against b's `axes_b`: a's other axes, then b's, as NumPy's
    tensordot computes it (both moved to matrices, one matrix product, the axes unflattened)."""
    a_shape, b_shape = _shape(a), _shape(b)
    axes_a = [axis + len(a_shape) if axis < 0 else axis for axis in axes_a]
    axes_b = [axis + len(b_shape) if axis < 0 else axis for axis in axes_b]
    if len(axes_a) != len(axes_b) or not all(
        0 <= i < len(a_shape) and 0 <= j < len(b_shape) and a_shape[i] == b_shape[j] for i, j in zip(axes_a, axes_b)
    ):
        raise ValueError(f"{op}: shapes {a_shape} and {b_shape} do not multiply over axes {axes_a} and {axes_b}")
    free_a = [axis for axis in range(len(a_shape)) if axis not in axes_a]
    free_b = [axis for axis in range(len(b_shape)) if axis not in axes_b]
    summed = math.prod(a_shape[axis] for axis in axes_a)
    a_matrix = _reshaped(_permuted(a, free_a + axes_a), (math.prod(a_shape[i] for i in free_a), summed))
    b_matrix = _reshaped(_permuted(b, axes_b + free_b), (summed, math.prod(b_shape[i] for i in free_b)))
    return _reshaped(matmul(a_matrix, b_matrix), tuple(a_shape[i] for i in free_a) + tuple(b_shape[i] for i in free_b))


def _permuted(x: Any, order: list[int]) -> Any:
    return x if order == sorted(order) else _transpose(x, axes=tuple(order))


@implements(np.dot)
@method("dot")
def dot(a: Any, b: Any, out: Any = None) -> Any:
    """NumPy's dot: a product of numbers, of vectors, matrix products, and for N-d operands the
    sum over a's last axis and b's second-to-last (a different product from matmul's)."""
    _plain_options("dot", None, out, {})
    a_ndim, b_ndim = np.ndim(plain(a)), np.ndim(plain(b))
    if a_ndim == 0 or b_ndim == 0:
        return multiply(a, b)
    if b_ndim <= 2:  # here NumPy's dot and matmul agree
        return matmul(a, b)
    return _contract("dot", a, b, [a_ndim - 1], [b_ndim - 2])


@implements(np.tensordot, np.linalg.tensordot)
def tensordot(a: Any, b: Any, axes: int | Sequence[Any] = 2) -> Any:
    """The sum over a's `axes[0]` against b's `axes[1]`; an integer n means a's last n axes
    against b's first n."""
    try:  # NumPy's reading of axes, to the letter (a negative integer means 0)
        axes_a, axes_b = axes if hasattr(axes, "__iter__") else (range(-axes, 0), range(axes))
        axes_a, axes_b = (list(x) if hasattr(x, "__len__") else [x] for x in (axes_a, axes_b))
        axes_a, axes_b = [operator.index(x) for x in axes_a], [operator.index(x) for x in axes_b]  # type: ignore[arg-type]  # operator.index refuses what is not an integer (the TypeError is caught)
    except (TypeError, ValueError):
        raise ValueError(f"tensordot: axes must be an integer or a pair of axis sequences, got {axes!r}") from None
    if len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
        raise ValueError(f"tensordot: duplicate axes are not allowed, got {axes!r}")
    return _contract("tensordot", a, b, axes_a, axes_b)


@implements(np.inner)
def inner(a: Any, b: Any) -> Any:
    """The sum over the last axes of a and b (a product if either is a number)."""
    if np.ndim(plain(a)) == 0 or np.ndim(plain(b)) == 0:
        return multiply(a, b)
    return _contract("inner", a, b, [-1], [-1])


@implements(np.vdot)
def vdot(a: Any, b: Any) -> Any:
    """The dot product of the flattened arrays (real: no conjugation)."""
    if np.size(plain(a)) != np.size(plain(b)):
        raise ValueError(f"vdot: shapes {_shape(a)} and {_shape(b)} do not have the same number of elements")
    return matmul(ravel(a), ravel(b))


@implements(np.outer)
def outer(a: Any, b: Any, out: Any = None) -> Any:
    """out[i, j] = a.flat[i] * b.flat[j]."""
    _plain_options("outer", None, out, {})
    return multiply(reshape_(a, shape=(-1, 1)), reshape_(b, shape=(1, -1)))


@implements(np.linalg.outer)
def _linalg_outer(x1: Any, x2: Any, /) -> Any:
    """np.linalg.outer: np.outer for vectors only."""
    if np.ndim(plain(x1)) != 1 or np.ndim(plain(x2)) != 1:
        raise ValueError(f"linalg.outer: the inputs must be vectors, got shapes {_shape(x1)} and {_shape(x2)}")
    return outer(x1, x2)


@implements(np.kron)
def kron(a: Any, b: Any) -> Any:
    """The Kronecker product: every element of a times the whole of b, in blocks."""
    a_shape, b_shape = _shape(a), _shape(b)
    ndim = max(len(a_shape), len(b_shape))
    a_shape = (1,) * (ndim - len(a_shape)) + a_shape
    b_shape = (1,) * (ndim - len(b_shape)) + b_shape
    # as NumPy: a's axes interleaved with new axes of size 1, b's the other way round, one multiply
    spread_a = reshape_(a, shape=sum(((size, 1) for size in a_shape), ()))
    spread_b = reshape_(b, shape=sum(((1, size) for size in b_shape), ()))
    return reshape_(multiply(spread_a, spread_b), shape=tuple(m * n for m, n in zip(a_shape, b_shape)))


implements(np.linalg.matmul)(matmul)


# --------------------------------------------------------------------------------------------
# einsum


def _vjp_einsum(g, out, *operands, subscripts, optimize, index):
    """d/d(operand i) of an einsum is an einsum: the output's gradient times the other operands,
    summed to operand i's labels. A label repeated in operand i (a diagonal, 'ii') gets a fresh
    label and a factor eye, so the gradient lands on the diagonal; an axis of size 1 gets a fresh
    label too, so that the einsum itself sums over the longer axis it may broadcast against; and
    a label no other factor has at operand i's size (summed in operand i alone, or broadcast from
    size 1 elsewhere) gets a factor of ones, so the gradient is copied along it."""
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    labels = [output] + [term for position, term in enumerate(terms) if position != index]
    factors = [g] + [x for position, x in enumerate(operands) if position != index]
    fresh = iter(label for label in _LABELS if label not in subscripts)
    shape = _shape(operands[index])
    seen, result = set(), ""
    for label, size in zip(terms[index], shape):
        if label in seen:
            extra = next(fresh)
            labels.append(label + extra)
            factors.append(_eye(size, g))
            label = extra
        else:
            seen.add(label)
            label = next(fresh) if size == 1 else label
        result += label
    longest: dict[str, int] = {}  # each label's size among the factors (1 where all of them broadcast)
    for term, factor in zip(labels, factors):
        for label, size in zip(term, _shape(factor)):
            longest[label] = max(size, longest.get(label, 0))
    for label, size in zip(result, shape):
        if longest.get(label, 0) < size:
            labels.append(label)
            factors.append(np.ones(size, dtype=_dtype(g)))
    return _einsum(*factors, subscripts=",".join(labels) + "->" + result, optimize=optimize)


#: np.einsum on explicit subscripts ('ij,jk->ik', no ellipsis).   Linear in each operand; each
#: operand's gradient is itself an einsum (see _vjp_einsum).
_einsum = primitive(
    "einsum",
    lambda *xs, subscripts, optimize: np.einsum(subscripts, *xs, optimize=optimize),
    vjp=_vjp_einsum,
    tangent="multilinear",
    variadic=True,
)

_LABELS = string.ascii_letters


def _sublists_as_subscripts(args: Sequence[Any]) -> tuple[str, list[Any]]:
    """einsum(x, [0, 1], y, [1, 2], [0, 2]) as einsum('ab,bc->ac', x, y)."""

    def letters(sublist: Sequence[Any]) -> str:
        try:
            return "".join("..." if axis is Ellipsis else _LABELS[axis] for axis in sublist)
        except (IndexError, TypeError):
            raise ValueError(f"einsum: a subscript list holds integers 0-51 or Ellipsis, got {sublist!r}") from None

    operands, sublists = list(args[0::2]), [letters(s) for s in args[1::2]]
    if len(args) % 2:
        return ",".join(sublists) + "->" + letters(operands.pop()), operands
    return ",".join(sublists), operands


def _explicit_subscripts(subscripts: str, shapes: list[tuple[int, ...]]) -> str:
    """NumPy's subscripts with the ellipsis spelt out in unused letters (aligned from the right,
    as broadcasting aligns) and the implicit output ('ij,jk': the labels used once, in order)."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    terms = inputs.split(",")
    described = f"subscripts {subscripts!r} for operand(s) of shape(s) {', '.join(map(str, shapes))}"
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {described}: the subscripts name {len(terms)} operand(s), not {len(shapes)}")
    if any(char not in _LABELS for char in (inputs + output).replace("...", "").replace(",", "")):
        raise ValueError(f"einsum: {described}: labels are letters, with at most one '...' per operand")
    spread = []  # how many axes each operand's ellipsis stands for
    for term, shape in zip(terms, shapes):
        named = len(term.replace("...", ""))
        if term.count("...") > 1 or (named > len(shape) if "..." in term else named != len(shape)):
            raise ValueError(f"einsum: {described}: {term!r} does not fit an operand of shape {shape}")
        spread.append(len(shape) - named if "..." in term else 0)
    unused = [label for label in _LABELS if label not in subscripts]
    ellipsis = "".join(unused[: max(spread, default=0)])
    terms = [term.replace("...", ellipsis[len(ellipsis) - count :]) for term, count in zip(terms, spread)]
    if not arrow:
        chars = "".join(terms)
        output = ellipsis + "".join(sorted(label for label in set(chars) - set(ellipsis) if chars.count(label) == 1))
    elif "..." in output:
        output = output.replace("...", ellipsis)
    elif ellipsis:
        raise ValueError(f"einsum: {described}: the output must keep the axes of '...' (write '...' in it)")
    return ",".join(terms) + "->" + output


@implements(np.einsum)
def einsum(
    *operands: Any, out: Any = None, optimize: Any = False, dtype: Any = None, order: str = "K", casting: str = "safe"
) -> Any:
    """Einstein summation, as NumPy's: einsum('ij,jk->ik', a, b), implicit outputs ('ij,jk'),
    repeated labels (traces, diagonals: 'ii', 'ii->i'), '...' and the subscript-list form.
    optimize=True lets NumPy (in the gradients too) order the products and use BLAS."""
    _plain_options("einsum", dtype, out, {})  # order= and casting= change nothing here: accepted
    if not operands:
        raise ValueError("einsum: no subscripts given")
    if isinstance(operands[0], str):
        subscripts, operands = operands[0], list(operands[1:])
    else:
        subscripts, operands = _sublists_as_subscripts(operands)
    subscripts = _explicit_subscripts(subscripts, [_shape(x) for x in operands])
    return _einsum(*operands, subscripts=subscripts, optimize=optimize)


# --------------------------------------------------------------------------------------------
# Linear algebra. Rules write A^T as _mT(A) (the last two axes swapped, for stacks of matrices).


def _matrix(x: Any) -> Any:
    """A number (or a stack of them) as 1x1 matrices, to broadcast against matrices."""
    return x[..., None, None]


#: inv(A).   d inv = -inv dA inv, so the gradient is -inv^T g inv^T.
_inv = primitive(
    "inv", np.linalg.inv, vjp=lambda g, out, a: -(_mT(out) @ g @ _mT(out)), tangent=lambda da, out, a: -(out @ da @ out)
)


@implements(np.linalg.inv)
def inv(a: Any) -> Any:
    """The inverse of a square matrix (or of each in a stack)."""
    return _inv(a)


def _columns(x: Any, vector: bool) -> Any:
    """solve's right-hand side and solution as stacks of matrices: a vector becomes a column."""
    return x[..., None] if vector else x


def _uncolumns(x: Any, vector: bool) -> Any:
    return x[..., 0] if vector else x


def _vjp_solve_b(g, out, a, b):
    """x = A^-1 b: the gradient of b is A^-T g."""
    vector = b.ndim == 1
    return _uncolumns(_solve(_mT(a), _columns(g, vector)), vector)


def _vjp_solve_a(g, out, a, b):
    """The gradient of A is -(A^-T g) x^T."""
    vector = b.ndim == 1
    return -(_columns(_vjp_solve_b(g, out, a, b), vector) @ _mT(_columns(out, vector)))


def _tangent_solve_a(da, out, a, b):
    vector = b.ndim == 1
    return -_uncolumns(_solve(a, da @ _columns(out, vector)), vector)


#: solve(A, b) = A^-1 b, b a vector or a stack of matrices.   d x = A^-1 (db - dA x).
_solve: Primitive = primitive(
    "solve",
    np.linalg.solve,
    vjp=(_vjp_solve_a, _vjp_solve_b),
    tangent=(_tangent_solve_a, lambda db, out, a, b: _solve(a, db)),
)


@implements(np.linalg.solve)
def solve(a: Any, b: Any) -> Any:
    """x with A x = b: b of shape (n,) is a vector, anything else a stack of (n, k) matrices, whose
    leading axes broadcast against A's (NumPy 2's rule)."""
    return _solve(a, b)


def _inverse_transposed(a: Any) -> Any:
    """A^-T, the derivative of log|det A|."""
    return _mT(_inv(a))


#: det(A).   d det = det trace(A^-1 dA) = det sum(A^-T * dA): the gradient is g det A^-T.
_det = primitive(
    "det",
    np.linalg.det,
    vjp=lambda g, out, a: _matrix(g * out) * _inverse_transposed(a),
    tangent=lambda da, out, a: out * (_inverse_transposed(a) * da).sum(axis=(-2, -1)),
)


@implements(np.linalg.det)
def det(a: Any) -> Any:
    """The determinant of a square matrix (or of each in a stack)."""
    return _det(a)


#: log|det A|.   d log|det A| = trace(A^-1 dA): the gradient is g A^-T.
_logabsdet = primitive(
    "slogdet",
    lambda a: np.linalg.slogdet(a).logabsdet,
    vjp=lambda g, out, a: _matrix(g) * _inverse_transposed(a),
    tangent=lambda da, out, a: (_inverse_transposed(a) * da).sum(axis=(-2, -1)),
)


class SlogdetResult(NamedTuple):
    """NumPy's (sign, logabsdet) pair."""

    sign: Any
    logabsdet: Any


@implements(np.linalg.slogdet)
def slogdet(a: Any) -> SlogdetResult:
    """(sign, log|det A|), as NumPy's: the sign is a plain array (it has no derivative, so it is
    computed from the plain value, a second factorisation), log|det A| is differentiated."""
    logabsdet = _logabsdet(a)  # first: its errors name slogdet and the shape
    return SlogdetResult(np.linalg.slogdet(plain(a)).sign, logabsdet)


def _lower(l: Any, upper: bool) -> Any:
    """The factor as the lower-triangular L (upper=True gives L^T)."""
    return _mT(l) if upper else l


def _vjp_cholesky(g, out, a, upper):
    """PyTorch's (Murray 2016): with P = tril(L^T gL), gA = L^-T (P + tril(P, -1)^T) / 2 L^-1, which is
    symmetric (the gradient with respect to a symmetric A)."""
    l, gl = _lower(out, upper), _lower(g, upper)
    p = tril(_mT(l) @ gl)
    l_inv = _inv(l)
    return _mT(l_inv) @ ((p + _mT(tril(p, -1))) / 2) @ l_inv


def _tangent_cholesky(da, out, a, upper):
    """dL = L phi(L^-1 dA L^-T), phi: the lower triangle with the diagonal halved (dA symmetrised)."""
    l = _lower(out, upper)
    l_inv = _inv(l)
    m = l_inv @ ((da + _mT(da)) / 2) @ _mT(l_inv)
    return _lower(l @ ((tril(m) + tril(m, -1)) / 2), upper)


#: The Cholesky factor L (A = L L^T) of a symmetric positive-definite A; L^T if upper.
_cholesky = primitive(
    "cholesky", lambda a, upper: np.linalg.cholesky(a, upper=upper), vjp=_vjp_cholesky, tangent=_tangent_cholesky
)


@implements(np.linalg.cholesky)
def cholesky(a: Any, /, *, upper: bool = False) -> Any:
    """The lower-triangular L with A = L L^T (upper=True: L^T), for a symmetric positive-definite
    matrix (or each in a stack). NumPy reads one triangle of A; the gradient is symmetric, as PyTorch's."""
    return _cholesky(a, upper=bool(upper))


def _eigh_forward(a, UPLO):
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return np.concatenate([w[..., None, :], v], axis=-2)


def _inverse_gaps(w: Any) -> Any:
    """F[i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it."""
    eye = _eye(_shape(w)[-1], w)
    return (1 - eye) / (w[..., None, :] - w[..., :, None] + eye)


def _vjp_eigh(g, out, a, UPLO):
    """PyTorch's: gA = V (diag(gw) + F * (V^T gV - gV^T V) / 2) V^T, symmetric."""
    w, v, gw, gv = out[..., 0, :], out[..., 1:, :], g[..., 0, :], g[..., 1:, :]
    x = _mT(v) @ gv
    middle = (x - _mT(x)) / 2 * _inverse_gaps(w) + gw[..., None, :] * _eye(_shape(w)[-1], w)
    return v @ middle @ _mT(v)


def _tangent_eigh(da, out, a, UPLO):
    """With M = V^T dA V (dA symmetrised): dw = diag(M), dV = V (F * M)."""
    w, v = out[..., 0, :], out[..., 1:, :]
    m = _mT(v) @ ((da + _mT(da)) / 2) @ v
    return concatenate([diagonal(m, 0, -2, -1)[..., None, :], v @ (_inverse_gaps(w) * m)], axis=-2)


#: The eigenvalues w (ascending) and eigenvectors V of a symmetric matrix. A primitive has one
#: output: this one's is w stacked on top of V, shape (..., n + 1, n); eigh hands out the two
#: parts (getitem), and gradients reaching either come back through this one rule.
_eigh = primitive("eigh", _eigh_forward, vjp=_vjp_eigh, tangent=_tangent_eigh)


class EighResult(NamedTuple):
    """NumPy's (eigenvalues, eigenvectors) pair."""

    eigenvalues: Any
    eigenvectors: Any


@implements(np.linalg.eigh)
def eigh(a: Any, UPLO: str = "L") -> EighResult:
    """(w, V) with A V = V diag(w), w ascending, for a symmetric matrix (or each in a stack); NumPy
    reads the triangle UPLO of A. Eigenvalues must be distinct for the gradient to be finite."""
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    both = _eigh(a, UPLO=UPLO)
    return EighResult(both[..., 0, :], both[..., 1:, :])
