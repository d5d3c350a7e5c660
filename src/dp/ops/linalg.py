"""Products and linear algebra: dot with NumPy's exact semantics, and friends of matmul.

matmul itself is one of node.py's worked examples. Products are linear in each operand
(tangent="multilinear"): the tangent is the product rule, derived.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dp.node import _method_reshape, implements, matmul, method, multiply, plain
from dp.ops.shape import transpose

__all__ = ["dot"]


@implements(np.dot)
@method("dot")
def dot(a: Any, b: Any, out: Any = None) -> Any:
    """NumPy's dot: a product of numbers, of vectors, matrix products, and for N-d operands the
    sum over a's last axis and b's second-to-last (a different product from matmul's)."""
    if out is not None:
        raise TypeError("dot on Nodes/Duals: out= is not supported")
    a_ndim, b_ndim = np.ndim(plain(a)), np.ndim(plain(b))
    if a_ndim == 0 or b_ndim == 0:
        return multiply(a, b)
    if b_ndim <= 2:  # here NumPy's dot and matmul agree
        return matmul(a, b)
    # a (..., n) and b (k..., n, m) give (..., k..., m): b's contracted axis moved first, both
    # flattened to matrices, one matmul, and the result's axes unflattened.
    a_shape, b_shape = np.shape(plain(a)), np.shape(plain(b))
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"dot: shapes {a_shape} and {b_shape} do not multiply")
    a_matrix = _method_reshape(a, (-1, a_shape[-1]))
    b_matrix = _method_reshape(transpose(b, (b_ndim - 2,) + tuple(range(b_ndim - 2)) + (b_ndim - 1,)),
                               (b_shape[-2], -1))
    return _method_reshape(matmul(a_matrix, b_matrix), a_shape[:-1] + b_shape[:-2] + b_shape[-1:])
