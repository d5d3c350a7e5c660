"""Gradient oracles for the tests: central finite differences and PyTorch's autograd.

`assert_matches_oracles` runs one function three ways on the same inputs and seed — dp's reverse
mode, PyTorch (CPU, float64 or float32 as asked) and, in float64, central finite differences —
and checks the values, the gradients and the dtypes agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from dp import Node, backpropagate

TOLERANCES = {np.float64: dict(rtol=1e-7, atol=1e-9), np.float32: dict(rtol=2e-4, atol=2e-5)}


def dp_value_and_gradients(
    function: Callable, inputs: Sequence[np.ndarray], seed: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """dp's output and the vector-Jacobian product seed^T J for every input."""
    leaves = [Node(x, requires_grad=True) for x in inputs]
    out = function(*leaves)
    if seed is None:
        seed = rng.standard_normal(out.shape).astype(out.dtype)
    found = backpropagate(out, seed)
    return out.value, [found[leaf] for leaf in leaves], seed


def torch_value_and_gradients(
    function: Callable, inputs: Sequence[np.ndarray], seed: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
    out = function(*tensors)
    out.backward(torch.tensor(seed))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


def finite_difference_gradients(
    function: Callable, inputs: Sequence[np.ndarray], seed: np.ndarray, eps: float = 1e-6
) -> list[np.ndarray]:
    """d/dx sum(seed * f(x)) by central differences, one element at a time, in float64."""

    def scalar(*xs):
        return float(np.sum(seed * function(*(Node(x) for x in xs)).value))

    gradients = []
    for index, x in enumerate(inputs):
        gradient = np.zeros_like(x)
        for position in np.ndindex(x.shape):
            shifted = [np.array(v, copy=True) for v in inputs]
            shifted[index][position] += eps
            plus = scalar(*shifted)
            shifted[index][position] -= 2 * eps
            minus = scalar(*shifted)
            gradient[position] = (plus - minus) / (2 * eps)
        gradients.append(gradient)
    return gradients


def assert_matches_oracles(
    function: Callable,
    torch_function: Callable,
    inputs: Sequence[np.ndarray],
    dtype: type = np.float64,
    seed: int = 0,
    finite_differences: bool = True,
) -> None:
    """dp's value and gradients equal PyTorch's (and finite differences' in float64, where the
    function is differentiable at the inputs: not at a tie or a kink)."""
    rng = np.random.default_rng(seed)
    inputs = [np.asarray(x, dtype=dtype) for x in inputs]
    value, gradients, out_seed = dp_value_and_gradients(function, inputs, None, rng)
    torch_value, torch_gradients = torch_value_and_gradients(torch_function, inputs, out_seed)
    tolerance = TOLERANCES[dtype]
    assert value.dtype == dtype, f"value dtype {value.dtype}, expected {np.dtype(dtype)}"
    np.testing.assert_allclose(value, torch_value, **tolerance, err_msg="forward value differs from PyTorch")
    for x, gradient, expected in zip(inputs, gradients, torch_gradients):
        assert gradient.shape == x.shape, f"gradient shape {gradient.shape}, input shape {x.shape}"
        assert gradient.dtype == dtype, f"gradient dtype {gradient.dtype}, expected {np.dtype(dtype)}"
        np.testing.assert_allclose(gradient, expected, **tolerance, err_msg="gradient differs from PyTorch")
    if dtype is np.float64 and finite_differences:
        numerical = finite_difference_gradients(function, inputs, out_seed)
        for gradient, expected in zip(gradients, numerical):
            np.testing.assert_allclose(
                gradient, expected, rtol=1e-5, atol=1e-6, err_msg="gradient differs from finite differences"
            )


def assert_same(got: Any, expected: Any, what: str) -> None:
    """NumPy's value exactly: shape, dtype and every number."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, NumPy's {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, NumPy's {expected.dtype}"
    np.testing.assert_array_equal(got, expected, err_msg=what)
