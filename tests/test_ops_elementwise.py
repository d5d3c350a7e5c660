"""Element-wise operations (dp/ops/elementwise.py): erf's accuracy; every operation's values against
NumPy, gradients against PyTorch (float64) and central differences on broadcasting shapes drawn by
hypothesis, forward mode against reverse mode, second order against PyTorch's double backward and
float32 kept; PyTorch's subgradients at kinks and ties; piecewise-constant operations' exact zeros;
the operators % and //; numerical stability; clear errors.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import dp
from dp import Dual, Node

Domain = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def uniform(low: float, high: float) -> Domain:
    return lambda rng, shape: rng.uniform(low, high, shape)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2, shape)


real, positive = uniform(-2, 2), uniform(0.3, 3)


@dataclass(frozen=True)
class Row:
    f: Callable[..., Any]  # on arrays (plain NumPy where it can be), Nodes and Duals
    torch: Callable[..., Any]  # the oracle, on float64 tensors
    domains: tuple[Domain, ...]
    numpy: Callable[..., Any] | None = None  # NumPy's value where f is a dp.ops function (None: f itself)


def row(f: Callable[..., Any], torch_f: Callable[..., Any], *domains: Domain, numpy: Any = None) -> Row:
    return Row(f, torch_f, domains or (real,), numpy)


def _t_gelu_tanh(t: torch.Tensor) -> torch.Tensor:
    return F.gelu(t, approximate="tanh")


# Differentiable rows: away from kinks, ties and jumps (the kink tests below cover those).
ROWS: dict[str, Row] = {
    "np.log1p": row(np.log1p, torch.log1p, uniform(-0.7, 3)),
    "np.expm1": row(np.expm1, torch.expm1),
    "np.square": row(np.square, torch.square),
    "np.reciprocal": row(np.reciprocal, torch.reciprocal, away_from_zero),
    "np.exp2": row(np.exp2, torch.exp2),
    "np.log2": row(np.log2, torch.log2, positive),
    "np.log10": row(np.log10, torch.log10, positive),
    "np.tan": row(np.tan, torch.tan, uniform(-1.2, 1.2)),
    "np.sinh": row(np.sinh, torch.sinh),
    "np.cosh": row(np.cosh, torch.cosh),
    "np.arcsin": row(np.arcsin, torch.asin, uniform(-0.9, 0.9)),
    "np.arccos": row(np.arccos, torch.acos, uniform(-0.9, 0.9)),
    "np.arctan": row(np.arctan, torch.atan),
    "np.arcsinh": row(np.arcsinh, torch.asinh),
    "np.arccosh": row(np.arccosh, torch.acosh, uniform(1.1, 3)),
    "np.arctanh": row(np.arctanh, torch.atanh, uniform(-0.9, 0.9)),
    "np.fabs": row(np.fabs, torch.abs, away_from_zero),
    "np.arctan2": row(np.arctan2, torch.atan2, real, away_from_zero),
    "np.hypot": row(np.hypot, torch.hypot, away_from_zero, away_from_zero),
    "np.logaddexp": row(np.logaddexp, torch.logaddexp, real, real),
    "np.minimum": row(np.minimum, torch.minimum, real, real),
    "np.fmax": row(np.fmax, torch.fmax, real, real),
    "np.fmin": row(np.fmin, torch.fmin, real, real),
    "a % b": row(lambda a, b: a % b, torch.remainder, real, away_from_zero),
    "np.mod": row(np.mod, torch.remainder, real, away_from_zero),
    "2.5 % x": row(lambda x: 2.5 % x, lambda t: torch.remainder(torch.full_like(t, 2.5), t), away_from_zero),
    "np.fmod": row(np.fmod, torch.fmod, real, away_from_zero),
    "divmod(a, b)[1]": row(lambda a, b: divmod(a, b)[1], torch.remainder, real, away_from_zero),
    "np.clip(x, -1, 1)": row(lambda x: np.clip(x, -1.0, 1.0), lambda t: torch.clamp(t, -1.0, 1.0)),
    "np.clip(x, None, 0.5)": row(lambda x: np.clip(x, None, 0.5), lambda t: torch.clamp(t, max=0.5)),
    "np.clip(x, min=-0.5)": row(lambda x: np.clip(x, min=-0.5), lambda t: torch.clamp(t, min=-0.5)),
    "x.clip(-1, 1.5)": row(lambda x: x.clip(-1, 1.5), lambda t: torch.clamp(t, -1, 1.5)),
    "x.clip(max=0.3)": row(lambda x: x.clip(max=0.3), lambda t: torch.clamp(t, max=0.3)),
    "np.clip(x, low, high)": row(
        np.clip,
        lambda t, low, high: torch.clamp(*torch.broadcast_tensors(t, low, high)),
        real,
        uniform(-1.5, -0.5),
        uniform(0.5, 1.5),
    ),
    "dp.ops.erf": row(dp.ops.erf, torch.erf, numpy=np.vectorize(math.erf, otypes=[float])),
    "dp.ops.erfc": row(dp.ops.erfc, torch.erfc, numpy=np.vectorize(math.erfc, otypes=[float])),
    "dp.ops.softplus": row(dp.ops.softplus, F.softplus, numpy=lambda x: np.logaddexp(0, x)),
    "x.softplus()": row(lambda x: x.softplus(), F.softplus, numpy=lambda x: np.logaddexp(0, x)),
    "dp.ops.log_sigmoid": row(dp.ops.log_sigmoid, F.logsigmoid, numpy=lambda x: -np.logaddexp(0, -x)),
    "dp.ops.elu": row(dp.ops.elu, F.elu, away_from_zero, numpy=lambda x: np.where(x > 0, x, np.expm1(x))),
    "x.elu(0.5)": row(
        lambda x: x.elu(0.5),
        lambda t: F.elu(t, 0.5),
        away_from_zero,
        numpy=lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)),
    ),
    "dp.ops.gelu": row(dp.ops.gelu, F.gelu, uniform(-4, 4)),
    "x.gelu(approximate='tanh')": row(lambda x: x.gelu(approximate="tanh"), _t_gelu_tanh, uniform(-4, 4)),
    "dp.ops.silu": row(dp.ops.silu, F.silu),
    "x.silu()": row(lambda x: x.silu(), F.silu),
    "dp.ops.swish": row(dp.ops.swish, F.silu),
}
# Rows whose f is dp's own (NumPy has none): the value is checked against `numpy=` where given, and PyTorch.
_DP_ONLY = {name for name in ROWS if name.startswith(("dp.ops", "x.softplus", "x.elu", "x.gelu", "x.silu"))}

# Piecewise constant: NumPy's values, and a derivative of exactly 0 in both modes.
STEPS: dict[str, tuple[Callable[..., Any], int]] = {
    "np.sign": (np.sign, 1),
    "np.floor": (np.floor, 1),
    "np.ceil": (np.ceil, 1),
    "np.trunc": (np.trunc, 1),
    "np.fix": (np.fix, 1),
    "np.rint": (np.rint, 1),
    "np.round": (np.round, 1),
    "np.round(x, 1)": (lambda x: np.round(x, 1), 1),
    "np.around(x, -1)": (lambda x: np.around(10 * x, -1), 1),
    "x.round(2)": (lambda x: x.round(2), 1),
    "np.floor_divide": (np.floor_divide, 2),
    "a // b": (lambda a, b: a // b, 2),
    "3.0 // x": (lambda x: 3.0 // x, 1),
    "divmod(a, b)[0]": (lambda a, b: divmod(a, b)[0], 2),
    "np.divmod(a, b)[0]": (lambda a, b: np.divmod(a, b)[0], 2),
}

table = settings(
    max_examples=6, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _shapes(arity: int) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    return mutually_broadcastable_shapes(num_shapes=arity, min_dims=0, max_dims=3, max_side=3).map(
        lambda b: tuple(b.input_shapes)
    )


def _draw(data: Any, domains: tuple[Domain, ...], dtype: type = np.float64) -> tuple[list[np.ndarray], Any]:
    shapes = data.draw(_shapes(len(domains)), label="shapes")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    return [domain(rng, shape).astype(dtype) for domain, shape in zip(domains, shapes)], rng


def _all(xs: list[np.ndarray]) -> tuple[int, ...]:
    return tuple(range(len(xs)))


def _value(x: Any) -> np.ndarray:
    while isinstance(x, Node | Dual):
        x = x.value
    return np.asarray(x)


def _torch_first_and_second(
    r: Row, xs: list[np.ndarray], u: np.ndarray, directions: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """PyTorch's value, d<u, f>/dx_i, and d(sum_i <d<u, f>/dx_i, v_i>)/dx (double backward)."""
    tensors = [torch.tensor(x, requires_grad=True) for x in xs]
    out = r.torch(*tensors)
    firsts = torch.autograd.grad((out * torch.tensor(u)).sum(), tensors, create_graph=True)
    total = sum((g * torch.tensor(v)).sum() for g, v in zip(firsts, directions))
    seconds = torch.autograd.grad(total, tensors, allow_unused=True) if total.requires_grad else [None] * len(xs)
    return (
        out.detach().numpy(),
        [g.detach().numpy() for g in firsts],  # force=True: abs gives ZeroTensors
        [np.zeros(x.shape) if h is None else h.detach().numpy(force=True) for x, h in zip(xs, seconds)],
    )


def _close(actual: Any, expected: Any, rtol: float, atol: float, what: str) -> None:
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


# --------------------------------------------------------------------------------------------
# erf


def _math_erf(x: np.ndarray) -> np.ndarray:
    return np.array([math.erf(v) for v in x.ravel()]).reshape(x.shape)


def test_erf_is_accurate_to_about_an_ulp_over_the_real_line():
    grid = np.linspace(-30, 30, 300_001)  # both sides of Cody's breaks at 0.46875 and 4, and the tails
    tiny_to_large = np.logspace(-307, 308, 20_000)
    breaks = np.array([0.46875, 4.0, 5.9, 6.0, 26.5, 1e300])
    breaks = np.concatenate([breaks, np.nextafter(breaks, 0), np.nextafter(breaks, np.inf), [np.finfo(np.float64).max]])
    x = np.concatenate([grid, tiny_to_large, -tiny_to_large, breaks, -breaks])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way (x^2 for huge x)
        mine = dp.ops.erf(x)
    expected = _math_erf(x)
    assert mine.dtype == np.float64 and mine.shape == x.shape
    nonzero = expected != 0
    relative = np.abs(mine[nonzero] - expected[nonzero]) / np.abs(expected[nonzero])
    assert relative.max() <= 1e-15, f"worst relative error {relative.max():.3g} at x = {x[nonzero][relative.argmax()]}"
    np.testing.assert_array_equal(mine[~nonzero], expected[~nonzero])


def test_erfc_is_accurate_relative_to_its_value_down_to_the_smallest_normal_number():
    """erfc(x) = 1 - erf(x), but where erf rounds to 1 (x > 6) erfc keeps its digits: the tail gelu needs."""
    grid = np.linspace(-30, 30, 300_001)
    tiny_to_large = np.logspace(-307, 2.5, 20_000)  # up to 316: erfc is 0 in float64 beyond 27.3
    breaks = np.array([0.46875, 4.0, 6.0, 26.5, 27.3])
    breaks = np.concatenate([breaks, np.nextafter(breaks, 0), np.nextafter(breaks, np.inf)])
    x = np.concatenate([grid, tiny_to_large, -tiny_to_large, breaks, -breaks, [1e300, -1e300]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mine = dp.ops.erfc(x)
    expected = np.array([math.erfc(v) for v in x])
    normal = expected >= np.finfo(np.float64).tiny
    ulps = np.abs(mine[normal] - expected[normal]) / np.spacing(expected[normal])
    assert ulps.max() <= 8, f"worst error {ulps.max():.3g} ulps at x = {x[normal][ulps.argmax()]}"
    subnormal = ~normal
    assert np.all(np.abs(mine[subnormal] - expected[subnormal]) <= 2 * np.spacing(expected[subnormal]))
    np.testing.assert_array_equal(dp.ops.erfc(np.array([np.inf, -np.inf, np.nan, 0.0])), [0.0, 2.0, np.nan, 1.0])
    assert type(dp.ops.erfc(0.5)) is np.float64 and dp.ops.erfc(np.float32([1, 2])).dtype == np.float32


def test_erf_at_subnormals_and_special_values():
    subnormal = np.logspace(-323, -308, 500)
    mine, expected = dp.ops.erf(subnormal), _math_erf(subnormal)
    assert np.all(np.abs(mine - expected) <= np.spacing(expected)), "more than one subnormal step from math.erf"
    special = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0])
    np.testing.assert_array_equal(dp.ops.erf(special), [1.0, -1.0, np.nan, 0.0, -0.0])
    assert np.signbit(dp.ops.erf(-0.0)), "erf(-0.0) is -0.0"


def test_erf_keeps_numpys_types():
    assert type(dp.ops.erf(0.5)) is np.float64 and dp.ops.erf(0.5) == math.erf(0.5)
    assert dp.ops.erf(np.float32([0.5, 2])).dtype == np.float32
    assert dp.ops.erf(np.array([1, 2])).dtype == np.float64
    assert dp.ops.erf(np.array(0.25)).shape == ()
    np.testing.assert_allclose(dp.ops.erf(np.float32([0.5, -2])), [math.erf(0.5), math.erf(-2)], rtol=1e-7)


def test_erf_derivative_is_two_over_sqrt_pi_exp_minus_x_squared():
    x = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(
        dp.grad(lambda v: dp.ops.erf(v).sum())(x), 2 / math.sqrt(math.pi) * np.exp(-x * x), rtol=1e-15
    )
    np.testing.assert_allclose(
        dp.grad(dp.grad(dp.ops.erf))(0.7), -4 * 0.7 / math.sqrt(math.pi) * math.exp(-0.49), rtol=1e-14
    )


# --------------------------------------------------------------------------------------------
# Every differentiable row: values, both modes, finite differences, second order, float32


@pytest.mark.parametrize("name", ROWS)
@table
@given(data=st.data())
def test_gradients_agree_with_torch_finite_differences_and_forward_mode(name, data):
    r = ROWS[name]
    xs, rng = _draw(data, r.domains)
    reference = r.numpy or (None if name in _DP_ONLY else r.f)
    expected = None if reference is None else np.asarray(reference(*xs))
    u = rng.standard_normal(np.broadcast_shapes(*(x.shape for x in xs)))
    directions = [rng.standard_normal(x.shape) for x in xs]
    torch_value, torch_firsts, torch_seconds = _torch_first_and_second(r, xs, u, directions)

    out = r.f(*(Node(x, f"x{i}") for i, x in enumerate(xs)))
    assert isinstance(out, Node) and out.dtype == np.float64, f"{name}: {type(out).__name__} of dtype {out.dtype}"
    if expected is not None:
        assert out.shape == expected.shape and out.dtype == expected.dtype
        _close(out.value, expected, 1e-13, 1e-15, f"{name}: value differs from NumPy's")
    _close(out.value, torch_value, 1e-12, 1e-14, f"{name}: value differs from PyTorch's")

    def loss(*vs: Any) -> Any:
        return np.sum(r.f(*vs) * u)

    def on_constants(*vs: np.ndarray) -> float:  # f's value only (as constant Nodes: methods need them)
        return float(np.sum(_value(r.f(*(Node(v) for v in vs))) * u))

    gradients = dp.grad(loss, argnum=_all(xs))(*xs)
    for i, (gradient, oracle) in enumerate(zip(gradients, torch_firsts)):
        assert gradient.shape == xs[i].shape and gradient.dtype == np.float64
        _close(gradient, oracle, 1e-10, 1e-12, f"{name}: gradient {i} differs from PyTorch's")
        numerical = dp.numerical_grad(lambda v, i=i: on_constants(*xs[:i], v, *xs[i + 1 :]), xs[i])
        _close(gradient, numerical, 1e-5, 1e-7, f"{name}: gradient {i} differs from central differences")

    value, tangent = dp.jvp(r.f, tuple(xs), tuple(directions))
    _close(value, out.value, 0, 0, f"{name}: forward mode's value")
    _close(
        np.sum(tangent * u),
        sum(np.sum(g * v) for g, v in zip(gradients, directions)),
        1e-11,
        1e-12,
        f"{name}: <u, J v> by forward mode differs from <J^T u, v> by reverse mode",
    )

    def along(*vs: Any) -> Any:
        return sum(np.sum(g * v) for g, v in zip(dp.grad(loss, argnum=_all(xs))(*vs), directions))

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "the output of f does not depend")  # piecewise-linear rows: H = 0
        seconds = dp.grad(along, argnum=_all(xs))(*xs)
    for i, (h, oracle) in enumerate(zip(seconds, torch_seconds)):
        _close(_value(h), oracle, 1e-9, 1e-11, f"{name}: Hessian-vector product {i} differs from PyTorch's")


@pytest.mark.parametrize("name", ROWS)
@settings(max_examples=3, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_float32_stays_float32(name, data):
    r = ROWS[name]
    xs, rng = _draw(data, r.domains, np.float32)
    out = r.f(*(Node(x, f"x{i}") for i, x in enumerate(xs)))
    assert out.dtype == np.float32, f"{name}: float32 inputs give {out.dtype}"
    if name not in _DP_ONLY:
        assert np.asarray(r.f(*xs)).dtype == out.dtype
    u = rng.standard_normal(out.shape).astype(np.float32)
    gradients = dp.grad(lambda *vs: np.sum(r.f(*vs) * u), argnum=_all(xs))(*xs)
    expected = _torch_first_and_second(
        r, [x.astype(np.float64) for x in xs], u.astype(np.float64), [np.zeros(x.shape) for x in xs]
    )[1]
    for gradient, oracle in zip(gradients, expected):
        assert gradient.dtype == np.float32, f"{name}: a float32 input's gradient is {gradient.dtype}"
        _close(gradient, oracle, 2e-4, 2e-5, f"{name}: float32 gradient")
    _, tangent = dp.jvp(r.f, tuple(xs), tuple(np.ones_like(x) for x in xs))
    assert tangent.dtype == np.float32, f"{name}: float32 tangent is {tangent.dtype}"


@pytest.mark.parametrize("name", STEPS)
@table
@given(data=st.data())
def test_piecewise_constant_operations_give_numpys_values_and_exact_zeros(name, data):
    f, arity = STEPS[name]
    xs, rng = _draw(data, (uniform(-3, 3), away_from_zero)[:arity])
    expected = f(*xs)
    out = f(*(Node(x, f"x{i}") for i, x in enumerate(xs)))
    assert isinstance(out, Node), f"{name} on Nodes gave a {type(out).__name__}"
    assert out.dtype == expected.dtype and out.shape == np.shape(expected)
    np.testing.assert_array_equal(out.value, expected)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "the output of f does not depend")
        gradients = dp.grad(lambda *vs: np.sum(f(*vs) * 1.5), argnum=_all(xs))(*xs)
    for gradient, x in zip(gradients, xs):
        np.testing.assert_array_equal(gradient, np.zeros_like(x))
        assert gradient.dtype == x.dtype
    value, tangent = dp.jvp(f, tuple(xs), tuple(rng.standard_normal(x.shape) for x in xs))
    np.testing.assert_array_equal(value, expected)
    np.testing.assert_array_equal(tangent, np.zeros(np.shape(expected)))
    assert f(*(Node(x.astype(np.float32), f"x{i}") for i, x in enumerate(xs))).dtype == np.float32


# --------------------------------------------------------------------------------------------
# Kinks, ties and jumps: PyTorch's subgradients, in both modes

_U = np.arange(1.0, 9.0)  # distinguishes positions: a misplaced share shows
NAN = np.nan

KINKS = {
    "clip at its bounds": (
        lambda x: np.clip(x, -1.0, 1.0),
        lambda t: torch.clamp(t, -1.0, 1.0),
        [[-1.0, 0.0, 1.0, 2.0, -2.0]],
    ),
    "x.clip(max=) at the bound": (lambda x: x.clip(max=1.0), lambda t: torch.clamp(t, max=1.0), [[1.0, 2.0, 0.0]]),
    "clip, array bounds: equal to x, low > high, x = low = high": (
        np.clip,
        torch.clamp,
        [[-1.0, 0.0, 1.0, 2.0, -2.0, 0.5, -0.5, 0.5], [-1.0, -1, -1, -1, -1, 1, 1, 0.5], [1.0, 1, 1, 1, 1, 0, 0, 0.5]],
    ),
    "minimum ties": (np.minimum, torch.minimum, [[1.0, 2.0, 3.0], [1.0, 3.0, 3.0]]),
    "minimum with a number, tie": (
        lambda x: np.minimum(x, 1.0),
        lambda t: torch.minimum(t, torch.ones_like(t)),
        [[1.0, 2.0, 0.0]],
    ),
    "fmax ties and NaNs": (np.fmax, torch.fmax, [[1.0, 2.0, 3.0, NAN, 1.0], [1.0, 0.0, 3.0, 1.0, NAN]]),
    "fmin ties and NaNs": (np.fmin, torch.fmin, [[1.0, 2.0, 3.0, NAN, 1.0], [1.0, 0.0, 3.0, 1.0, NAN]]),
    "remainder at multiples, either sign": (
        np.remainder,
        torch.remainder,
        [[3.0, -3.0, 2.5, 5.5, 0.0, -4.5], [1.5, 1.5, -1.0, 2.0, 3.0, -1.5]],
    ),
    "fmod at multiples, either sign": (
        np.fmod,
        torch.fmod,
        [[3.0, -3.0, 2.5, 5.5, 0.0, -4.5], [1.5, 1.5, -1.0, 2.0, 3.0, -1.5]],
    ),
    "elu at 0": (lambda x: dp.ops.elu(x, 2.0), lambda t: F.elu(t, 2.0), [[0.0, -1.0, 1.0]]),
    "fabs at 0": (np.fabs, torch.abs, [[0.0, -1.0, 1.0]]),
    "arctan2 at the origin": (np.arctan2, torch.atan2, [[0.0, 1.0], [0.0, 2.0]]),
}


@pytest.mark.parametrize("name", KINKS)
def test_kinks_take_pytorchs_subgradient(name):
    f, torch_f, inputs = KINKS[name]
    xs = [np.array(x) for x in inputs]
    tensors = [torch.tensor(x, requires_grad=True) for x in xs]
    out = torch_f(*tensors)
    u = _U[: out.numel()].reshape(out.shape)
    (out * torch.tensor(u)).sum().backward()
    gradients = dp.grad(lambda *vs: np.sum(f(*vs) * u), argnum=_all(xs))(*xs)
    for i, (gradient, tensor) in enumerate(zip(gradients, tensors)):
        np.testing.assert_allclose(gradient, tensor.grad.numpy(), rtol=1e-15, atol=0, err_msg=f"{name}: gradient {i}")
    for i in range(len(xs)):  # forward mode: the same column of the Jacobian, one operand at a time
        tangents = tuple(np.ones_like(x) if j == i else np.zeros_like(x) for j, x in enumerate(xs))
        _, tangent = dp.jvp(f, tuple(xs), tangents)
        np.testing.assert_allclose(
            np.sum(tangent * u), np.sum(gradients[i]), rtol=1e-15, err_msg=f"{name}: forward mode, operand {i}"
        )


# --------------------------------------------------------------------------------------------
# Operators and mixing


@pytest.mark.parametrize("make", [lambda v: Node(v, "x"), lambda v: Dual(v, np.ones_like(v))], ids=["Node", "Dual"])
def test_mod_and_floordiv_operators_with_numbers_and_arrays_on_either_side(make):
    a, b = np.array([-2.5, 0.7, 3.0]), np.array([1.5, -0.4, 2.0])
    x, y = make(a), make(b)
    cases = [
        (x % y, a % b),
        (x % 0.7, a % 0.7),
        (2.5 % x, 2.5 % a),
        (b % x, b % a),
        (x % b, a % b),
        (np.float64(2.0) % x, 2.0 % a),
        (x // y, a // b),
        (x // 0.7, a // 0.7),
        (2.5 // x, 2.5 // a),
        (b // x, b // a),
        (divmod(x, y)[0], a // b),
        (divmod(x, y)[1], a % b),
        (divmod(2.0, x)[1], 2.0 % a),
    ]
    for index, (result, expected) in enumerate(cases):
        assert isinstance(result, type(x)), f"case {index}: {type(result).__name__}"
        np.testing.assert_array_equal(_value(result), expected, err_msg=f"case {index}")


def test_reflected_mod_differentiates_the_right_operand():
    b = np.array([1.5, -0.4, 2.0])
    np.testing.assert_array_equal(dp.grad(lambda v: np.sum(2.5 % v))(b), -np.floor_divide(2.5, b))
    _, tangent = dp.jvp(lambda v: 2.5 % v, b, np.ones(3))
    np.testing.assert_array_equal(tangent, -np.floor_divide(2.5, b))


def test_node_mod_dual_is_a_dual():
    a, b = np.array([2.5, -1.0]), np.array([1.5, 0.75])
    result = Node(a, "a") % Dual(b, np.ones(2))
    assert isinstance(result, Dual)
    np.testing.assert_array_equal(_value(result.value), a % b)
    np.testing.assert_array_equal(_value(result.tangent), -np.floor_divide(a, b))


def test_on_plain_arrays_the_functions_are_numpys():
    ints = np.arange(-3, 4)
    for low, high in [(-1, 2), (None, 2), (-1, None)]:
        assert dp.ops.clip(ints, low, high).dtype == ints.dtype
        np.testing.assert_array_equal(dp.ops.clip(ints, low, high), np.clip(ints, low, high))
    np.testing.assert_array_equal(dp.ops.remainder(ints * 1.5, 2.0), np.remainder(ints * 1.5, 2.0))
    np.testing.assert_array_equal(dp.ops.round(np.array([0.5, 1.5, 2.25]), 1), np.round([0.5, 1.5, 2.25], 1))
    np.testing.assert_allclose(dp.ops.softplus([-1.0, 0.0, 1.0]), np.logaddexp(0, [-1.0, 0.0, 1.0]), rtol=1e-15)
    np.testing.assert_allclose(
        dp.ops.gelu([0.5, -1.0]), F.gelu(torch.tensor([0.5, -1.0], dtype=torch.float64)), rtol=1e-15
    )
    q, r = dp.ops.divmod(np.array([7.0, -7.0]), 2.0)
    np.testing.assert_array_equal(q, [3.0, -4.0])
    np.testing.assert_array_equal(r, [1.0, 1.0])


def test_clip_without_bounds_is_the_identity():
    x = np.array([-2.0, 0.5, 3.0])
    for f in (np.clip, lambda v: v.clip(), lambda v: np.clip(v, None, None)):
        out = f(Node(x, "x"))
        np.testing.assert_array_equal(out.value, np.clip(x, None, None))
        np.testing.assert_array_equal(dp.grad(lambda v: np.sum(f(v)))(x), np.ones(3))


def test_clip_bounds_receive_gradients_as_nodes():
    x = np.array([-2.0, 0.5, 3.0])
    low, high = Node(np.array(-1.0), "low"), Node(np.array(1.0), "high")
    grads = Node(x, "x").clip(low, high).sum().grad(1)
    np.testing.assert_array_equal(grads["x"], [0.0, 1.0, 0.0])
    assert grads["low"] == 1.0 and grads["high"] == 1.0


# --------------------------------------------------------------------------------------------
# Stability


def test_expm1_and_elu_gradients_keep_exp_x_far_left():
    """d/dx expm1(x) = exp(x), not out + 1, which rounds to 0 (PyTorch's rule does)."""
    np.testing.assert_allclose(dp.grad(np.expm1)(-50.0), math.exp(-50), rtol=1e-15, atol=0)
    np.testing.assert_allclose(dp.grad(lambda v: dp.ops.elu(v, 2.0))(-50.0), 2 * math.exp(-50), rtol=1e-15, atol=0)


def test_softplus_log_sigmoid_elu_and_logaddexp_stay_finite_far_out():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    t = torch.tensor(x, requires_grad=True)
    for f, torch_f in [
        (dp.ops.softplus, F.softplus),
        (dp.ops.log_sigmoid, F.logsigmoid),
        (dp.ops.elu, F.elu),
        (lambda v: np.logaddexp(v, 2 * v), lambda s: torch.logaddexp(s, 2 * s)),
        (dp.ops.gelu, F.gelu),
        (dp.ops.silu, F.silu),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow warnings either
            value, gradient = dp.value_and_grad(lambda v: np.sum(f(v)))(x)
            pointwise = f(Node(x)).value
        expected = torch_f(t)
        (torch_gradient,) = torch.autograd.grad(expected.sum(), t)
        assert np.all(np.isfinite(pointwise)) and np.all(np.isfinite(gradient)), f"{f}: {pointwise}, {gradient}"
        np.testing.assert_allclose(pointwise, expected.detach().numpy(), rtol=1e-15, atol=1e-300)
        np.testing.assert_allclose(gradient, torch_gradient.numpy(), rtol=1e-14, atol=1e-300)


# --------------------------------------------------------------------------------------------
# Bad input


def _node() -> Node:
    return Node(np.array([0.5, -1.0, 2.0]), "x")


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda x: np.clip(x, 0, 1, out=np.empty(3)), TypeError, ["clip", "out="]),
        (lambda x: x.clip(0, 1, out=np.empty(3)), TypeError, ["clip", "out="]),
        (lambda x: np.clip(x, 0, 1, casting="unsafe"), TypeError, ["clip", "casting"]),
        (lambda x: np.clip(x, 0), TypeError, ["clip", "a_max"]),
        (lambda x: np.clip(x, 0, 1, min=0), ValueError, ["clip", "min="]),
        (lambda x: np.clip(x, np.zeros(2), 1), ValueError, ["clip", "(3,)", "(2,)", "broadcast"]),
        (lambda x: np.round(x, 1, out=np.empty(3)), TypeError, ["round", "out="]),
        (lambda x: x.round(0.5), TypeError, ["round", "decimals"]),
        (lambda x: np.fix(x, out=np.empty(3)), TypeError, ["fix", "out="]),
        (lambda x: np.remainder(x, 1.0, out=np.empty(3)), TypeError, ["remainder", "out"]),
        (lambda x: np.logaddexp(x, np.ones(2)), ValueError, ["logaddexp", "(3,)", "(2,)"]),
        (lambda x: x % np.ones(2), ValueError, ["remainder", "(3,)", "(2,)"]),
        (lambda x: np.fmax(x, np.ones((2, 2))), ValueError, ["fmax", "(3,)", "(2, 2)"]),
        (lambda x: dp.ops.gelu(x, approximate="erf"), ValueError, ["gelu", "approximate", "'erf'"]),
    ],
    ids=[
        "np.clip out=",
        "x.clip out=",
        "np.clip casting=",
        "np.clip without a_max",
        "np.clip a_min and min=",
        "np.clip shapes",
        "np.round out=",
        "x.round(0.5)",
        "np.fix out=",
        "np.remainder out=",
        "np.logaddexp shapes",
        "% shapes",
        "np.fmax shapes",
        "gelu approximate",
    ],
)
@pytest.mark.parametrize("make", [lambda v: v, lambda v: Dual(v.value, np.ones(3))], ids=["Node", "Dual"])
def test_bad_input_gives_a_clear_error(call, error, words, make):
    with pytest.raises(error) as caught:
        call(make(_node()))
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} is not in the message {message!r}"


def test_every_public_name_is_exported():
    import dp.ops.elementwise as module

    for name in module.__all__:
        assert getattr(dp.ops, name) is getattr(module, name), name
    for name in ("erf", "softplus", "log_sigmoid", "elu", "gelu", "silu", "clip", "remainder", "floor_divide"):
        assert name in module.__all__


def test_where_with_one_branch_is_refused_as_numpy_refuses_it():
    x = dp.Node(np.array([1.0, -2.0]), "x")
    with pytest.raises(ValueError, match="where: give both x and y"):
        dp.where(x > 0, x)
    with pytest.raises(ValueError):
        np.where(x.value > 0, x.value)  # NumPy's own refusal, for comparison
    np.testing.assert_array_equal(dp.where(x > 0)[0], np.where(x.value > 0)[0])
