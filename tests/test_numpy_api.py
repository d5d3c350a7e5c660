"""Ordinary NumPy code differentiates: every row of tests/_numpy_cases.py, in both modes, to second order.

For each row (a function written with NumPy calls, operators or ndarray methods), hypothesis draws
shapes, parameters and values, and one test per property checks:

1. value: f on `dp.Node`s is a Node whose value is NumPy's (shape, dtype, values);
2. reverse mode equals PyTorch's gradient of <u, f> (float64);
3. reverse mode equals central differences of NumPy's f (`dp.numerical_grad`);
4. forward mode (`dp.jvp`, on `dp.Dual`s) agrees with reverse mode, value and directional derivative;
5. second order: dp's Hessian-vector product (grad of grad) equals PyTorch's double backward;
6. float32 (rows marked so): float32 inputs give NumPy's dtypes and float32 gradients;

and rows whose derivative is 0 by design give exactly 0. Then: the table covers every NumPy
function dp must support and every primitive of `dp.node.PRIMITIVES`; PyTorch's subgradients at
kinks and ties; and bad input never gives a silently wrong answer.

Sized for about a minute on 2 cores. Reproducible: derandomized, no example database, no
shrinking (set DP_SHRINK=1 to shrink a failure to a minimal example, DP_NUMPY_EXAMPLES=n for more
examples per row and property).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import dp
from _numpy_cases import CASES, COVERED_ELSEWHERE, INTEGER_CASES, Case

EXAMPLES = int(os.environ.get("DP_NUMPY_EXAMPLES", "8"))
_PHASES = (Phase.explicit, Phase.generate) + ((Phase.shrink,) if os.environ.get("DP_SHRINK") else ())
table = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=_PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

BY_NAME = {row.name: row for row in CASES}
NAMES = list(BY_NAME)
WITH_TORCH = [row.name for row in CASES if row.torch is not None]
WITH_FINITE_DIFFERENCES = [row.name for row in CASES if not row.no_finite_differences]
SECOND_ORDER = [row.name for row in CASES if not row.zero_gradient and not row.first_order_only]
ZERO_GRADIENT = [row.name for row in CASES if row.zero_gradient]
FIRST_ORDER_ONLY = [row.name for row in CASES if row.first_order_only]
FLOAT32 = [row.name for row in CASES if row.float32]

# Every NumPy spelling dp must differentiate (or, for argmax & co., pass through as plain integers).
REQUIRED_API = {
    # element-wise
    "np.log1p",
    "np.expm1",
    "np.square",
    "np.reciprocal",
    "np.exp2",
    "np.log2",
    "np.log10",
    "np.tan",
    "np.sinh",
    "np.cosh",
    "np.arcsin",
    "np.arccos",
    "np.arctan",
    "np.arcsinh",
    "np.arccosh",
    "np.arctanh",
    "np.arctan2",
    "np.hypot",
    "np.logaddexp",
    "np.minimum",
    "np.maximum",
    "np.fmax",
    "np.fmin",
    "np.clip",
    "np.abs",
    "np.fabs",
    "np.exp",
    "np.log",
    "np.sin",
    "np.cos",
    "np.tanh",
    "np.sqrt",
    "np.power",
    "np.add",
    "np.subtract",
    "np.multiply",
    "np.divide",
    "np.negative",
    "np.sign",
    "np.floor",
    "np.ceil",
    "np.round",
    "np.remainder",
    "np.floor_divide",
    "operator.mod",
    "operator.floordiv",
    "dp.ops.softplus",
    "dp.ops.log_sigmoid",
    "dp.ops.elu",
    "dp.ops.gelu",
    # reductions
    "np.sum",
    "np.mean",
    "np.max",
    "np.min",
    "np.amax",
    "np.amin",
    "np.prod",
    "np.var",
    "np.std",
    "np.cumsum",
    "np.cumprod",
    "dp.ops.logsumexp",
    "np.linalg.norm",
    "np.trace",
    "np.argmax",
    "np.argmin",
    "np.argsort",
    # products
    "np.dot",
    "np.matmul",
    "np.inner",
    "np.outer",
    "np.tensordot",
    "np.kron",
    "np.einsum",
    # linear algebra
    "np.linalg.inv",
    "np.linalg.solve",
    "np.linalg.det",
    "np.linalg.slogdet",
    "np.linalg.cholesky",
    "np.linalg.eigh",
    # shapes and indexing
    "np.expand_dims",
    "np.squeeze",
    "np.ravel",
    "np.moveaxis",
    "np.swapaxes",
    "np.atleast_1d",
    "np.atleast_2d",
    "np.atleast_3d",
    "np.repeat",
    "np.tile",
    "np.flip",
    "np.fliplr",
    "np.flipud",
    "np.rot90",
    "np.roll",
    "np.pad",
    "np.tril",
    "np.triu",
    "np.diag",
    "np.diagonal",
    "np.split",
    "np.array_split",
    "np.hsplit",
    "np.vsplit",
    "np.concatenate",
    "np.stack",
    "np.vstack",
    "np.hstack",
    "np.dstack",
    "np.column_stack",
    "np.append",
    "np.take",
    "np.take_along_axis",
    "np.sort",
    "np.where",
    # ndarray methods, on Node and Dual alike
    "ndarray.var",
    "ndarray.std",
    "ndarray.min",
    "ndarray.max",
    "ndarray.clip",
    "ndarray.squeeze",
    "ndarray.flatten",
    "ndarray.ravel",
    "ndarray.prod",
    "ndarray.cumsum",
    "ndarray.cumprod",
    "ndarray.sum",
    "ndarray.mean",
    "ndarray.reshape",
    "ndarray.T",
    "ndarray.transpose",
    "ndarray.swapaxes",
    "ndarray.repeat",
    "ndarray.take",
    "ndarray.diagonal",
    "ndarray.trace",
    "ndarray.round",
    "ndarray.astype",
    "ndarray.dot",
    "ndarray.argmax",
}


# --------------------------------------------------------------------------------------------
# Drawing one example of a row


@dataclass
class Sample:
    xs: list[np.ndarray]  # the operands
    params: dict[str, Any]  # the row's parameters (axis, keepdims, indices, ...)
    expected: np.ndarray  # NumPy's f(*xs, **params)
    u: np.ndarray  # a fixed random cotangent of the output's shape and dtype
    rng: np.random.Generator  # for tangents and Hessian-vector directions


def draw(row: Case, data: Any, dtype: type = np.float64) -> Sample:
    shapes, params = data.draw(row.examples, label="shapes, params")
    assert len(shapes) == row.arity, f"table bug in {row.name!r}: {len(shapes)} shapes for {row.arity} operands"
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    xs = [np.asarray(domain(rng, shape), dtype=dtype) for domain, shape in zip(row.domains, shapes)]
    expected = np.asarray(row.numpy(*xs, **params))
    u = rng.standard_normal(expected.shape).astype(expected.dtype)
    return Sample(xs, params, expected, u, rng)


def bound(function: Callable[..., Any], params: dict[str, Any]) -> Callable[..., Any]:
    return lambda *xs: function(*xs, **params)


def every(s: Sample) -> tuple[int, ...]:
    return tuple(range(len(s.xs)))


def plain(x: Any) -> np.ndarray:
    """A Node's or Dual's value as an array (arrays pass through)."""
    while isinstance(x, dp.Node | dp.Dual):
        x = x.value
    return np.asarray(x)


def assert_close(actual: Any, expected: Any, rtol: float, atol: float, what: str) -> None:
    """allclose, with atol relative to the largest expected magnitude (gradients can be large)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def dp_gradients(row: Case, s: Sample) -> list[np.ndarray]:
    """dp's reverse mode: d<u, f>/dx_i for every operand, each checked for shape and dtype."""
    f = bound(row.f, s.params)
    gradients = dp.grad(lambda *xs: np.sum(f(*xs) * s.u), argnum=every(s))(*s.xs)
    assert isinstance(gradients, tuple) and len(gradients) == len(s.xs), f"{row.name}: dp.grad gave {gradients!r}"
    result = []
    for index, (gradient, x) in enumerate(zip(gradients, s.xs)):
        assert not isinstance(gradient, dp.Node | dp.Dual), f"{row.name}: gradient {index} is a {type(gradient)}"
        gradient = np.asarray(gradient)
        assert gradient.shape == x.shape, f"{row.name}: gradient {index} has shape {gradient.shape}, not {x.shape}"
        assert gradient.dtype == x.dtype, f"{row.name}: gradient {index} has dtype {gradient.dtype}, not {x.dtype}"
        result.append(gradient)
    return result


def torch_gradients(row: Case, xs: Sequence[np.ndarray], params: dict[str, Any], u: np.ndarray) -> list[np.ndarray]:
    """PyTorch's d<u, f>/dx_i, in float64."""
    tensors = [torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True) for x in xs]
    out = row.torch(*tensors, **params)
    total = (out * torch.tensor(np.asarray(u, dtype=np.float64), dtype=out.dtype)).sum()
    found = torch.autograd.grad(total, tensors, allow_unused=True) if total.requires_grad else [None] * len(xs)
    return [np.zeros(np.shape(x)) if g is None else g.numpy() for x, g in zip(xs, found)]


def torch_hessian_vector(row: Case, s: Sample, directions: Sequence[np.ndarray]) -> list[np.ndarray]:
    """PyTorch's double backward: d(sum_i <d<u, f>/dx_i, v_i>)/dx. (Like _oracle_ad.torch_first_and_second,
    but it reads PyTorch's ZeroTensors, which abs and the matrix 2-norm give for a zero second derivative.)"""
    tensors = [torch.tensor(x, requires_grad=True) for x in s.xs]
    out = row.torch(*tensors, **s.params)
    firsts = torch.autograd.grad((out * torch.tensor(s.u)).sum(), tensors, create_graph=True, allow_unused=True)
    total = sum((g * torch.tensor(v)).sum() for g, v in zip(firsts, directions) if g is not None)
    seconds = (
        torch.autograd.grad(total, tensors, allow_unused=True)
        if isinstance(total, torch.Tensor) and total.requires_grad
        else [None] * len(tensors)
    )
    return [np.zeros(x.shape) if h is None else h.detach().numpy(force=True) for x, h in zip(s.xs, seconds)]


def finite_differences(row: Case, s: Sample) -> list[np.ndarray]:
    """Central differences of NumPy's <u, f(x)>, one operand at a time."""
    gradients = []
    for index in range(len(s.xs)):

        def scalar(x: np.ndarray, index: int = index) -> float:
            args = list(s.xs)
            args[index] = x
            return float(np.sum(row.numpy(*args, **s.params) * s.u))

        gradients.append(dp.numerical_grad(scalar, s.xs[index]))
    return gradients


def rows(names: Sequence[str]) -> Any:
    """Parametrize by row name (a failing example then prints just the name)."""
    return pytest.mark.parametrize("name", names)


# --------------------------------------------------------------------------------------------
# The table itself (these hold whatever state the engine is in)


@rows(WITH_TORCH)
@table
@given(data=st.data())
def test_table_torch_oracle_agrees_with_numpy(name, data):
    """The oracle computes the same function as NumPy (else a gradient mismatch would mislead)."""
    row = BY_NAME[name]
    s = draw(row, data)
    out = row.torch(*[torch.tensor(x) for x in s.xs], **s.params).detach().numpy()
    assert_close(out, s.expected, 1e-10, 1e-12, f"{row.name}: PyTorch's value differs from NumPy's")


@rows([name for name in WITH_TORCH if name in WITH_FINITE_DIFFERENCES])
@table
@given(data=st.data())
def test_table_torch_gradient_agrees_with_finite_differences(name, data):
    """The domains keep away from kinks and the tolerances are reachable: both oracles agree."""
    row = BY_NAME[name]
    s = draw(row, data)
    for index, (oracle, numerical) in enumerate(
        zip(torch_gradients(row, s.xs, s.params, s.u), finite_differences(row, s))
    ):
        assert_close(oracle, numerical, 1e-5, 1e-7, f"{row.name}: PyTorch and central differences disagree ({index})")


def test_table_is_well_formed():
    assert len(NAMES) == len(CASES), "two rows share a name"
    for row in CASES:
        assert row.api and row.primitives, f"{row.name}: says neither what it exercises nor which primitives"
        assert row.domains, f"{row.name}: no operands"
    # A row without the second-order property must say why: its gradient is zero by design, or dp
    # refuses the second derivative (tested below: it raises, never answers wrongly).
    assert set(NAMES) - set(SECOND_ORDER) == set(ZERO_GRADIENT) | set(FIRST_ORDER_ONLY)


def test_the_table_covers_every_required_numpy_function():
    covered = set().union(*(row.api for row in CASES), *(row.api for row in INTEGER_CASES))
    missing = sorted(REQUIRED_API - covered)
    assert not missing, f"no row of tests/_numpy_cases.py exercises: {missing}"


def test_every_api_name_in_the_table_is_real_numpy():
    """A misspelt api name would make the coverage test above meaningless."""
    for name in set().union(*(row.api for row in CASES), *(row.api for row in INTEGER_CASES)):
        module, _, attribute = name.rpartition(".")
        if module.startswith("np"):
            target = np
            for part in module.split(".")[1:]:
                target = getattr(target, part)
            assert hasattr(target, attribute), name
        elif module == "ndarray":
            assert hasattr(np.ndarray, attribute), name
        else:
            assert module in ("operator", "builtins", "dp.ops"), name


def test_every_primitive_is_exercised_by_the_table():
    # dp's own catalogue, read in a fresh process: other tests in this one define primitives of their own
    listed = subprocess.run(
        [sys.executable, "-c", "import dp; print(' '.join(dp.node.PRIMITIVES))"],
        capture_output=True,
        text=True,
        check=True,
    )
    primitives = listed.stdout.split()
    named = set().union(*(row.primitives for row in CASES))
    missing = sorted(set(primitives) - named - set(COVERED_ELSEWHERE))
    assert not missing, (
        f"primitives of dp.node.PRIMITIVES that no row of tests/_numpy_cases.py exercises (add a row, or its name "
        f"to a row's primitives=..., or to COVERED_ELSEWHERE with the test file): {missing}. Names the rows use "
        f"that are not primitives (renamed?): {sorted(named - set(primitives))}"
    )


def test_primitives_covered_elsewhere_are_tested_there():
    root = pathlib.Path(__file__).resolve().parent.parent
    for name, path in COVERED_ELSEWHERE.items():
        text = (root / path).read_text()
        assert name in text, f"COVERED_ELSEWHERE says {path} tests {name!r}, but it never mentions it"


# --------------------------------------------------------------------------------------------
# The properties, for every row


@rows(NAMES)
@table
@given(data=st.data())
def test_value_equals_numpy(name, data):
    row = BY_NAME[name]
    s = draw(row, data)
    out = row.f(*[dp.Node(x, f"x{index}") for index, x in enumerate(s.xs)], **s.params)
    assert isinstance(out, dp.Node), f"{row.name}: f on Nodes gave a {type(out).__name__}, not a dp.Node"
    value = np.asarray(out.value)
    assert value.dtype != object, f"{row.name}: the Node holds an object array"
    assert value.shape == s.expected.shape, f"{row.name}: shape {value.shape}, NumPy's {s.expected.shape}"
    assert value.dtype == s.expected.dtype, f"{row.name}: dtype {value.dtype}, NumPy's {s.expected.dtype}"
    assert_close(value, s.expected, 1e-12, 1e-12, f"{row.name}: value differs from NumPy's")


@rows(WITH_TORCH)
@table
@given(data=st.data())
def test_reverse_mode_equals_torch(name, data):
    row = BY_NAME[name]
    s = draw(row, data)
    expected = torch_gradients(row, s.xs, s.params, s.u)
    for index, (gradient, oracle) in enumerate(zip(dp_gradients(row, s), expected)):
        assert_close(gradient, oracle, row.rtol, row.atol, f"{row.name}: gradient {index} differs from PyTorch's")


@rows(WITH_FINITE_DIFFERENCES)
@table
@given(data=st.data())
def test_reverse_mode_equals_finite_differences(name, data):
    row = BY_NAME[name]
    s = draw(row, data)
    for index, (gradient, oracle) in enumerate(zip(dp_gradients(row, s), finite_differences(row, s))):
        assert_close(gradient, oracle, 1e-5, 1e-7, f"{row.name}: gradient {index} differs from central differences")


@rows(NAMES)
@table
@given(data=st.data())
def test_forward_mode_agrees_with_reverse_mode(name, data):
    row = BY_NAME[name]
    s = draw(row, data)
    tangents = [s.rng.standard_normal(x.shape) for x in s.xs]
    value, tangent = dp.jvp(bound(row.f, s.params), tuple(s.xs), tuple(tangents))
    assert not isinstance(value, dp.Node | dp.Dual) and not isinstance(tangent, dp.Node | dp.Dual), (
        f"{row.name}: jvp on arrays gave {type(value).__name__}, {type(tangent).__name__}"
    )
    assert np.shape(value) == s.expected.shape, f"{row.name}: forward value has shape {np.shape(value)}"
    assert np.shape(tangent) == s.expected.shape, f"{row.name}: tangent has shape {np.shape(tangent)}"
    assert_close(value, s.expected, 1e-12, 1e-12, f"{row.name}: forward mode's value differs from NumPy's")
    directional = sum(float(np.sum(g * t)) for g, t in zip(dp_gradients(row, s), tangents))
    assert_close(
        np.sum(np.asarray(tangent) * s.u),
        directional,
        max(row.rtol, 1e-9),
        max(row.atol, 1e-10),
        f"{row.name}: <u, J t> from forward mode differs from <J^T u, t> from reverse mode",
    )


@rows(SECOND_ORDER)
@table
@given(data=st.data())
@pytest.mark.filterwarnings("ignore:the output of f does not depend on its inputs")  # linear rows: H = 0
def test_second_order_equals_torch_double_backward(name, data):
    row = BY_NAME[name]
    s = draw(row, data)
    directions = [s.rng.standard_normal(x.shape) for x in s.xs]
    f = bound(row.f, s.params)
    first = lambda *xs: np.sum(f(*xs) * s.u)  # noqa: E731

    def along(*xs):
        return sum(np.sum(g * v) for g, v in zip(dp.grad(first, argnum=every(s))(*xs), directions))

    hessian_vector = dp.grad(along, argnum=every(s))(*s.xs)
    if row.torch is not None:
        expected = torch_hessian_vector(row, s, directions)
    else:  # central differences of dp's own first derivative along the directions
        expected = [
            dp.numerical_grad(lambda x, i=i: along(*s.xs[:i], x, *s.xs[i + 1 :]), s.xs[i]) for i in range(len(s.xs))
        ]
    for index, (h, oracle) in enumerate(zip(hessian_vector, expected)):
        assert_close(
            plain(h),
            oracle,
            10 * row.rtol,
            10 * row.atol,
            f"{row.name}: Hessian-vector product {index} differs from PyTorch's double backward",
        )


@rows(FIRST_ORDER_ONLY)
@table
@given(data=st.data())
def test_first_order_only_rows_refuse_the_second_derivative(name, data):
    row = BY_NAME[name]
    s = draw(row, data)
    f = bound(row.f, s.params)
    first = lambda *xs: np.sum(f(*xs) * s.u)  # noqa: E731
    along = lambda *xs: sum(np.sum(g) for g in dp.grad(first, argnum=every(s))(*xs))  # noqa: E731
    with pytest.raises(NotImplementedError):
        dp.grad(along, argnum=every(s))(*s.xs)


@rows(ZERO_GRADIENT)
@table
@given(data=st.data())
def test_zero_gradient_rows_give_exactly_zero(name, data):
    row = BY_NAME[name]
    s = draw(row, data)
    for gradient in dp_gradients(row, s):
        np.testing.assert_array_equal(gradient, np.zeros_like(gradient), err_msg=f"{row.name}: {row.zero_gradient}")
    tangents = [s.rng.standard_normal(x.shape) for x in s.xs]
    _, tangent = dp.jvp(bound(row.f, s.params), tuple(s.xs), tuple(tangents))
    np.testing.assert_array_equal(tangent, np.zeros(s.expected.shape), err_msg=f"{row.name}: forward mode")


@rows(FLOAT32)
@table
@given(data=st.data())
def test_float32_stays_float32(name, data):
    row = BY_NAME[name]
    s = draw(row, data, np.float32)
    out = row.f(*[dp.Node(x, f"x{index}") for index, x in enumerate(s.xs)], **s.params)
    assert isinstance(out, dp.Node), f"{row.name}: f on Nodes gave a {type(out).__name__}"
    assert np.asarray(out.value).dtype == s.expected.dtype, (
        f"{row.name}: float32 inputs give dtype {np.asarray(out.value).dtype}, NumPy gives {s.expected.dtype}"
    )
    assert_close(out.value, s.expected, 1e-4, 1e-5, f"{row.name}: float32 value differs from NumPy's")
    gradients = dp_gradients(row, s)  # checks float32 gradients
    reference = (
        torch_gradients(row, s.xs, s.params, s.u)
        if row.torch is not None
        else finite_differences(
            row, Sample([x.astype(np.float64) for x in s.xs], s.params, s.expected, s.u.astype(np.float64), s.rng)
        )
    )
    for index, (gradient, oracle) in enumerate(zip(gradients, reference)):
        assert_close(gradient, oracle, 2e-3, 2e-4, f"{row.name}: float32 gradient {index} is too far from float64's")


# --------------------------------------------------------------------------------------------
# Integer results: argmax, argmin, argsort are plain arrays, not Nodes


@pytest.mark.parametrize("name", [row.name for row in INTEGER_CASES])
@table
@given(data=st.data())
def test_integer_results_are_plain_integer_arrays(name, data):
    row = next(row for row in INTEGER_CASES if row.name == name)
    shapes, params = data.draw(row.examples)
    x = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).uniform(-2, 2, shapes[0])
    expected = row.f(x, **params)
    for operand in (dp.Node(x, "x"), dp.Dual(x, np.ones_like(x))):
        result = row.f(operand, **params)
        assert isinstance(result, np.ndarray | np.integer), (
            f"{row.name} on a {type(operand).__name__} gave a {type(result).__name__}, not plain integers"
        )
        assert np.asarray(result).dtype.kind in "iu", f"{row.name}: dtype {np.asarray(result).dtype}"
        np.testing.assert_array_equal(result, expected)


def test_an_argmax_picks_the_element_to_differentiate():
    x = np.array([0.5, 3.0, -1.0, 2.0])
    np.testing.assert_array_equal(dp.grad(lambda v: v[np.argmax(v)] * 2)(x), [0, 2, 0, 0])
    _, slope = dp.jvp(lambda v: v[v.argmax()] * 2, x, np.array([1.0, 10.0, 100.0, 1000.0]))
    assert slope == 20


# --------------------------------------------------------------------------------------------
# Kinks and ties: PyTorch's subgradients, in both modes

_U = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # distinguishes positions, so a misplaced share shows

KINKS = {
    "abs at 0": (np.abs, torch.abs, [[0.0, 1.0, -1.0, 0.0]]),
    "fabs at 0": (np.fabs, torch.abs, [[0.0, 1.0, -1.0]]),
    "clip at its bounds (gradient 1 there, as torch.clamp)": (
        lambda x: np.clip(x, -1.0, 1.0),
        lambda t: torch.clamp(t, -1.0, 1.0),
        [[-1.0, 0.0, 1.0, 2.0, -2.0]],
    ),
    "x.clip at its bounds": (lambda x: x.clip(-1.0, 1.0), lambda t: torch.clamp(t, -1.0, 1.0), [[-1.0, 1.0, 0.5]]),
    "clip with array bounds equal to x (the gradient goes to x)": (
        np.clip,
        torch.clamp,
        [[-1.0, 1.0, 0.0, 3.0], [-1.0, -1.0, -1.0, -1.0], [1.0, 1.0, 1.0, 1.0]],
    ),
    "maximum ties (0.5 each)": (np.maximum, torch.maximum, [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]]),
    "minimum ties (0.5 each)": (np.minimum, torch.minimum, [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]]),
    "fmax ties (all to the first operand)": (np.fmax, torch.fmax, [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]]),
    "fmin ties (all to the first operand)": (np.fmin, torch.fmin, [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]]),
    "np.maximum(x, 0) at 0 (0.5, as torch.maximum; relu gives 0)": (
        lambda x: np.maximum(x, 0.0),
        lambda t: torch.maximum(t, torch.zeros_like(t)),
        [[0.0, 1.0, -1.0]],
    ),
    "relu at 0": (lambda x: x.relu(), torch.relu, [[0.0, 1.0, -1.0]]),
    "max over an axis with ties (shared evenly, as torch.amax)": (
        lambda x: np.max(x, axis=1),
        lambda t: torch.amax(t, 1),
        [[[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]],
    ),
    "max of everything with ties": (np.max, torch.amax, [[[1.0, 3.0, 3.0], [3.0, 2.0, 0.0]]]),
    "x.max() with ties": (lambda x: x.max(), torch.amax, [[[1.0, 3.0], [3.0, 3.0]]]),
    "amin over axes (0, 1) with ties": (
        lambda x: np.amin(x, axis=(0, 1)),
        lambda t: torch.amin(t, (0, 1)),
        [[[[1.0, 2.0], [1.0, 5.0]], [[4.0, 2.0], [1.0, 3.0]]]],
    ),
    "min over an axis with ties, keepdims": (
        lambda x: np.min(x, axis=0, keepdims=True),
        lambda t: torch.amin(t, 0, keepdim=True),
        [[[1.0, 2.0, 0.0], [1.0, 3.0, 0.0]]],
    ),
    "sort with ties (a stable sort, as torch.sort(stable=True))": (
        np.sort,
        lambda t: torch.sort(t, stable=True).values,
        [[2.0, 1.0, 2.0, 1.0, 3.0]],
    ),
    "norm at 0": (np.linalg.norm, torch.linalg.norm, [[0.0, 0.0, 0.0]]),
    "norm ord=1 at 0": (lambda x: np.linalg.norm(x, 1), lambda t: torch.linalg.norm(t, 1), [[0.0, 0.0, 0.0]]),
    "norm ord=inf at 0": (
        lambda x: np.linalg.norm(x, np.inf),
        lambda t: torch.linalg.norm(t, float("inf")),
        [[0.0, 0.0, 0.0]],
    ),
    "Frobenius norm at 0": (
        lambda x: np.linalg.norm(x, "fro"),
        lambda t: torch.linalg.norm(t, "fro"),
        [[[0.0, 0.0], [0.0, 0.0]]],
    ),
    "norm along an axis, one row zero": (
        lambda x: np.linalg.norm(x, axis=1),
        lambda t: torch.linalg.norm(t, dim=1),
        [[[0.0, 0.0], [3.0, 4.0]]],
    ),
    "sign at 0": (np.sign, torch.sign, [[0.0, 1.0, -2.0]]),
}


@pytest.mark.parametrize("name", KINKS)
def test_kinks_take_pytorchs_subgradient(name):
    function, torch_function, inputs = KINKS[name]
    xs = [np.array(x) for x in inputs]
    out = torch_function(*[torch.tensor(x) for x in xs]).numpy()
    u = _U[: out.size].reshape(out.shape)
    every_operand = tuple(range(len(xs)))
    gradients = dp.grad(lambda *vs: np.sum(function(*vs) * u), argnum=every_operand)(*xs)
    tensors = [torch.tensor(x, requires_grad=True) for x in xs]
    (torch_function(*tensors) * torch.tensor(u)).sum().backward()
    for index, (gradient, tensor) in enumerate(zip(gradients, tensors)):
        np.testing.assert_allclose(
            gradient, tensor.grad.numpy(), rtol=1e-15, atol=0, err_msg=f"{name}: gradient {index} is not PyTorch's"
        )
    # Forward mode takes the same subgradient: <u, J t> = <J^T u, t> for every tangent.
    tangents = tuple(np.random.default_rng(index).standard_normal(x.shape) for index, x in enumerate(xs))
    _, tangent = dp.jvp(function, tuple(xs), tangents)
    expected = sum(float(np.sum(np.asarray(g) * t)) for g, t in zip(gradients, tangents))
    np.testing.assert_allclose(
        np.sum(tangent * u), expected, rtol=1e-12, atol=1e-12, err_msg=f"{name}: forward mode takes another subgradient"
    )


# --------------------------------------------------------------------------------------------
# Bad input, mixed input: never a silently wrong answer


def _node(value: np.ndarray) -> dp.Node:
    return dp.Node(value, "x")


def _dual(value: np.ndarray) -> dp.Dual:
    return dp.Dual(value, np.ones_like(value))


@pytest.mark.parametrize("make", [_node, _dual], ids=["Node", "Dual"])
def test_equality_is_element_wise_on_values(make):
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 3.0])
    x, y = make(a), make(b)
    for result, expected in [
        (x == y, a == b),
        (x != y, a != b),
        (x == b, a == b),
        (x != 3.0, a != 3.0),
        (b == x, b == a),
        (x == x, a == a),
    ]:
        assert isinstance(result, np.ndarray) and result.dtype == bool, f"got {type(result).__name__}: {result!r}"
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("make", [_node, _dual], ids=["Node", "Dual"])
def test_nodes_and_duals_stay_hashable_by_identity(make):
    a = np.array([1.0, 2.0])
    x, twin = make(a), make(a.copy())
    table = {x: 1}
    assert table[x] == 1
    assert twin not in table
    assert len({x, twin}) == 2


def test_counting_equal_elements_is_the_same_inside_grad_and_jvp():
    c = np.array([1.0, 2.0, 3.0, 4.0])
    x = np.array([1.0, 5.0, 3.0, 7.0])

    def f(v):
        return np.sum(v) * np.sum(v == c)

    assert f(x) == 32
    value, gradient = dp.value_and_grad(f)(x)
    assert float(value) == f(x)
    np.testing.assert_array_equal(gradient, np.full(4, 2.0))
    value, slope = dp.jvp(f, x, np.ones(4))
    assert float(value) == f(x) and float(slope) == 8


_A = np.random.default_rng(7).uniform(-2, 2, (2, 3))
_B = np.random.default_rng(8).uniform(-2, 2, (2, 3))
_TB = np.random.default_rng(9).uniform(-2, 2, (2, 3))
_C = np.random.default_rng(10).uniform(-2, 2, (3, 2))
_TC = np.random.default_rng(11).uniform(-2, 2, (3, 2))

# name: (operation, node value, dual value, dual tangent, expected value, expected tangent)
MIXED = {
    "node * dual": (lambda n, d: n * d, _A, _B, _TB, _A * _B, _A * _TB),
    "dual * node": (lambda n, d: d * n, _A, _B, _TB, _A * _B, _A * _TB),
    "node + dual": (lambda n, d: n + d, _A, _B, _TB, _A + _B, _TB),
    "dual - node": (lambda n, d: d - n, _A, _B, _TB, _B - _A, _TB),
    "node - dual": (lambda n, d: n - d, _A, _B, _TB, _A - _B, -_TB),
    "node / dual": (lambda n, d: n / d, _A, _B + 3, _TB, _A / (_B + 3), -_A * _TB / (_B + 3) ** 2),
    "node @ dual": (lambda n, d: n @ d, _A, _C, _TC, _A @ _C, _A @ _TC),
    "dual @ node": (lambda n, d: d @ n, _A, _C, _TC, _C @ _A, _TC @ _A),
    "np.multiply(node, dual)": (lambda n, d: np.multiply(n, d), _A, _B, _TB, _A * _B, _A * _TB),
}


@pytest.mark.parametrize("name", MIXED)
def test_nodes_and_duals_mix_in_any_order(name):
    operation, node_value, dual_value, dual_tangent, value, tangent = MIXED[name]
    result = operation(dp.Node(node_value, "a"), dp.Dual(dual_value, dual_tangent))
    assert isinstance(result, dp.Dual), f"{name} gave a {type(result).__name__}, not a Dual"
    np.testing.assert_allclose(plain(result.value), value, rtol=1e-12)
    np.testing.assert_allclose(plain(result.tangent), tangent, rtol=1e-12)


UNSUPPORTED = {
    "fft": lambda x: np.fft.fft(x),
    "histogram": lambda x: np.histogram(x),
}


@pytest.mark.parametrize("make", [_node, _dual], ids=["Node", "Dual"])
@pytest.mark.parametrize("name", UNSUPPORTED)
def test_a_function_dp_cannot_differentiate_says_so(name, make):
    with pytest.raises(TypeError) as caught:
        UNSUPPORTED[name](make(np.array([1.0, 2.0, 3.0, 4.0])))
    message = str(caught.value)
    assert name in message, f"the message does not name {name}: {message!r}"
    assert "differentiat" in message.lower(), f"the message does not say dp cannot differentiate it: {message!r}"
    if ".value" in message:
        lower = message.lower()
        assert "gradient" in lower and any(words in lower for words in ("stop", "no gradient", "cut")), (
            f"the message suggests .value without saying that stops the gradient: {message!r}"
        )


@pytest.mark.parametrize(
    "make",
    [lambda v: dp.Node(v), lambda v: dp.Node(v, "z"), lambda v: dp.Dual(v, v), lambda v: dp.Dual(1.0, v)],
    ids=["constant Node", "Node", "Dual", "Dual tangent"],
)
@pytest.mark.parametrize("value", [np.array([1 + 2j]), 1 + 2j], ids=["array", "number"])
def test_complex_input_is_refused_by_name(make, value):
    with pytest.raises(TypeError, match="(?i)complex"):
        make(value)


def test_np_dot_has_numpys_nd_semantics():
    a = np.random.default_rng(12).uniform(-2, 2, (2, 2, 3))
    b = np.random.default_rng(13).uniform(-2, 2, (2, 3, 4))
    out = np.dot(dp.Node(a, "a"), dp.Node(b, "b"))
    assert isinstance(out, dp.Node) and out.shape == (2, 2, 2, 4)
    np.testing.assert_allclose(out.value, np.dot(a, b), rtol=1e-12)
    value, tangent = dp.jvp(np.dot, (a, b), (np.ones_like(a), np.zeros_like(b)))
    assert np.shape(value) == (2, 2, 2, 4)
    np.testing.assert_allclose(tangent, np.dot(np.ones_like(a), b), rtol=1e-12)


def test_astype_keeps_each_gradient_in_its_inputs_dtype():
    x64 = np.array([0.5, -1.25, 2.0])
    gradient = dp.grad(lambda v: np.sum(v.astype(np.float32) ** 2))(x64)
    assert gradient.dtype == np.float64
    np.testing.assert_allclose(gradient, 2 * x64, rtol=1e-6)
    x32 = x64.astype(np.float32)
    gradient = dp.grad(lambda v: np.sum(v.astype(np.float64) ** 2))(x32)
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, 2 * x32, rtol=1e-6)
    assert dp.Node(x64, "x").astype(np.float32).dtype == np.float32


def _torch_jacobian(function: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray) -> np.ndarray:
    return torch.autograd.functional.jacobian(function, torch.tensor(x)).numpy()


def _clear_error(error: Exception, what: str) -> None:
    message = str(error)
    assert any(word in message for word in ("Node", "Dual", "dp")), (
        f"{what} raised {type(error).__name__} that does not say what went wrong with dp: {message!r}"
    )


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("build", [np.array, np.asarray], ids=["np.array", "np.asarray"])
@pytest.mark.parametrize("shape", [(), (3,)], ids=["0-d", "1-d"])
def test_an_array_of_nodes_is_a_node_or_a_clear_error(mode, build, shape):
    """np.array([x, x**2, x**3]): a Node (or Dual) of the stacked values, or a clear error; never an
    object array, and never plain values whose Jacobian would silently be zero."""
    x = np.random.default_rng(14).uniform(0.5, 2, shape)

    def f(v):
        return build([v, v**2, v**3])

    operand = dp.Node(x, "x") if mode == "reverse" else dp.Dual(x, np.ones_like(x))
    try:
        out = f(operand)
    except (TypeError, ValueError) as error:
        _clear_error(error, f"{build.__name__} of a list of {type(operand).__name__}s")
        return
    assert not (isinstance(out, np.ndarray) and out.dtype == object), "an object array of Nodes"
    assert isinstance(out, dp.Node | dp.Dual), f"a plain {type(out).__name__}: the graph was cut"
    np.testing.assert_allclose(plain(out), np.array([x, x**2, x**3]), rtol=1e-12)
    jacobian = dp.jacobian(f, mode=mode)(x)
    np.testing.assert_allclose(jacobian, _torch_jacobian(lambda t: torch.stack([t, t**2, t**3]), x), rtol=1e-12)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("axis", [None, 0])
@pytest.mark.parametrize("reduce, torch_reduce", [(np.sum, torch.sum), (np.mean, torch.mean)], ids=["sum", "mean"])
def test_reducing_a_list_of_nodes_is_right_or_a_clear_error(reduce, torch_reduce, axis, mode):
    """np.sum([x, x + 2]): a Node with the right gradient, or a clear error; never a cut graph."""
    x = np.random.default_rng(15).uniform(-2, 2, (3,))

    def f(v):
        return reduce([v, v + 2], axis=axis)

    def f_torch(t):
        stacked = torch.stack([t, t + 2])
        return torch_reduce(stacked) if axis is None else torch_reduce(stacked, dim=axis)

    operand = dp.Node(x, "x") if mode == "reverse" else dp.Dual(x, np.ones_like(x))
    try:
        out = f(operand)
    except (TypeError, ValueError) as error:
        _clear_error(error, f"np.{reduce.__name__} of a list of {type(operand).__name__}s")
        return
    assert isinstance(out, dp.Node | dp.Dual), f"a plain {type(out).__name__}: the graph was cut"
    np.testing.assert_allclose(plain(out), reduce([x, x + 2], axis=axis), rtol=1e-12)
    np.testing.assert_allclose(dp.jacobian(f, mode=mode)(x), _torch_jacobian(f_torch, x), rtol=1e-12)
