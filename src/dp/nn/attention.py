"""Attention: scaled dot-product attention and multi-head attention (Vaswani et al., 2017, "Attention
is all you need"), the outlook of the lecture slides, made of dp's elementary operations (matmul,
softmax, where, reshape, transpose): the gradients come from theirs.

One mask convention for both: a boolean array (L, S), True where a query position **may not**
attend to a key position. This is PyTorch's `nn.MultiheadAttention` convention (`attn_mask`), and
the opposite of its `F.scaled_dot_product_attention`, where True means "may attend" (pass `~mask`
there). A causal mask, each position attending to itself and the past, is `np.triu(np.ones((L, L),
bool), 1)`.

A query row with every key masked attends to nothing here: its attention weights are all zero, so
its output is zero (before the output projection in `MultiheadAttention`, which then gives `bo`)
and no gradient flows through it. PyTorch's `nn.MultiheadAttention` gives NaN for such a row, which
then spreads into every gradient; its `F.scaled_dot_product_attention` gives zero, as dp does.
Padding often produces such rows, so dp gives the finite answer.

    >>> mha = MultiheadAttention(8, 2, rng=0)
    >>> x = np.ones((3, 5, 8))
    >>> mha(x, x, x, mask=np.triu(np.ones((5, 5), bool), 1)).shape
    (3, 5, 8)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dp.data import as_generator
from dp.nn.init import RngLike
from dp.nn.layers import Layer, _count, differentiable
from dp.node import Node, plain
from dp.ops import softmax, where

__all__ = ["MultiheadAttention", "scaled_dot_product_attention"]


def scaled_dot_product_attention(q: Any, k: Any, v: Any, mask: Any = None, *, scale: float | None = None) -> Any:
    """softmax(q·kᵀ · scale) · v, the softmax over the keys, with scale = 1/sqrt(d) by default.

    q (..., L, d), k (..., S, d), v (..., S, dv) -> (..., L, dv); the leading axes broadcast.
    `mask`: boolean, of shape (L, S) or any shape that broadcasts to (..., L, S) with those last two
    axes, True where a query may NOT attend to a key (PyTorch's `nn.MultiheadAttention` convention,
    the opposite of `F.scaled_dot_product_attention`'s). A query with every key masked gets zero
    weights, hence a zero output, as in `F.scaled_dot_product_attention` (`nn.MultiheadAttention`
    gives NaN there).
    """
    q, k, v = differentiable(q), differentiable(k), differentiable(v)
    shapes = q_shape, k_shape, v_shape = q.shape, k.shape, v.shape
    described = f"q {q_shape}, k {k_shape}, v {v_shape}"
    if min(len(shape) for shape in shapes) < 2:
        raise ValueError(
            f"scaled_dot_product_attention: q, k and v need at least 2 axes (..., length, features), got {described}"
        )
    if q_shape[-1] != k_shape[-1] or k_shape[-2] != v_shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: expected q (..., L, d), k (..., S, d) and v (..., S, dv), got {described}"
        )
    try:
        batch = np.broadcast_shapes(q_shape[:-2], k_shape[:-2], v_shape[:-2])
    except ValueError:
        raise ValueError(f"scaled_dot_product_attention: the leading axes of {described} do not broadcast") from None
    scores_shape = (*batch, q_shape[-2], k_shape[-2])
    mask = _checked_mask(mask, scores_shape, "scaled_dot_product_attention")
    if scale is None:
        scale = 1 / math.sqrt(q_shape[-1])
    scores = (q @ np.swapaxes(k, -1, -2)) * scale
    if mask is None:
        return softmax(scores, -1) @ v
    # A masked score is replaced by a very negative number, so its exp is exactly 0 next to any
    # real score; half the dtype's lowest, so that subtracting the row's maximum cannot overflow.
    # The second `where` makes a fully masked row (softmax: uniform weights) all zeros.
    lowest = np.finfo(np.result_type(plain(scores))).min / 2
    weights = softmax(where(mask, lowest, scores), -1)
    return where(mask, 0.0, weights) @ v


def _checked_mask(mask: Any, scores_shape: tuple[int, ...], who: str) -> np.ndarray | None:
    """The mask as a boolean array, or an error naming `who`, the expected and the actual shape."""
    if mask is None:
        return None
    mask = plain(mask)
    dtype = getattr(mask, "dtype", None)
    if dtype is None or dtype.kind != "b":
        got = f"dtype {dtype}" if dtype is not None else type(mask).__name__
        raise TypeError(f"{who}: the mask must be a boolean array (True = may not attend), got {got}")
    length, source = scores_shape[-2:]
    shape = np.shape(mask)
    fits = len(shape) >= 2 and shape[-2:] == (length, source)
    if fits:
        try:
            fits = np.broadcast_shapes(shape, scores_shape) == scores_shape
        except ValueError:
            fits = False
    if not fits:
        raise ValueError(
            f"{who}: expected a mask of shape (L, S) = ({length}, {source}) or one that broadcasts "
            f"to the attention weights' {scores_shape}, got {shape}"
        )
    return mask


class MultiheadAttention(Layer):
    """Multi-head attention, as PyTorch's `nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)`.

    `mha(query, key, value, mask=None)` with query (N, L, E), key and value (N, S, E) returns
    (N, L, E): each of the `num_heads` heads attends with its own E / num_heads features,

        q = query·Wq + bq,  k = key·Wk + bk,  v = value·Wv + bv    (split into heads)
        out = concat over heads of scaled_dot_product_attention(q, k, v, mask) · Wo + bo

    `mask` (optional) is boolean, (L, S) or (N, L, S), True where a query may NOT attend to a key
    (as PyTorch's `attn_mask`; see this module's docstring for fully masked rows).

    Parameters, in dp's x @ W convention: `Wq`, `Wk`, `Wv`, `Wo` (E, E) and `bq`, `bk`, `bv`, `bo`
    (E,). Onto PyTorch's: `in_proj_weight` is the transposes stacked, [Wqᵀ; Wkᵀ; Wvᵀ] (3E, E),
    `in_proj_bias` is [bq, bk, bv], `out_proj.weight = Woᵀ` and `out_proj.bias = bo`; head j uses
    columns j·E/num_heads to (j+1)·E/num_heads of Wq, Wk and Wv, as in PyTorch. They start as
    PyTorch's: Wq, Wk, Wv Xavier uniform as parts of the (3E, E) matrix, U(±sqrt(6 / 4E)); Wo
    uniform in ±1/sqrt(E); the biases zero. PyTorch's attention weights (its second output) and
    dropout are not part of this layer.
    """

    bq: Node  # the biases, set in a loop by __init__
    bk: Node
    bv: Node
    bo: Node

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        name: str | None = None,
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__(name)
        self.embed_dim = _count(embed_dim, "MultiheadAttention: embed_dim")
        self.num_heads = _count(num_heads, "MultiheadAttention: num_heads")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})"
            )
        self.head_dim = self.embed_dim // self.num_heads
        rng = as_generator(rng, "MultiheadAttention: rng")
        E = self.embed_dim

        def uniform(bound: float) -> np.ndarray:
            return rng.uniform(-bound, bound, (E, E)).astype(dtype, copy=False)

        projection_bound = math.sqrt(6 / (E + 3 * E))  # Xavier's, for the stacked (3E, E) matrix
        self.Wq = self._param("Wq", uniform(projection_bound))
        self.Wk = self._param("Wk", uniform(projection_bound))
        self.Wv = self._param("Wv", uniform(projection_bound))
        self.Wo = self._param("Wo", uniform(1 / math.sqrt(E)))
        for key in ("bq", "bk", "bv", "bo"):
            setattr(self, key, self._param(key, np.zeros(E, dtype=dtype)))

    def forward(self, query: Any, key: Any, value: Any, mask: Any = None) -> Any:  # type: ignore[override]  # a layer of several inputs
        """(N, L, E): every query position's attention over the key/value positions."""
        (N, L, S), mask = self._checked(query, key, value, mask)
        heads, d = self.num_heads, self.head_dim

        def split_heads(x: Any, length: int) -> Any:  # (N, length, E) -> (N, heads, length, d)
            return x.reshape(N, length, heads, d).transpose(0, 2, 1, 3)

        q = split_heads(query @ self.Wq + self.bq, L)
        k = split_heads(key @ self.Wk + self.bk, S)
        v = split_heads(value @ self.Wv + self.bv, S)
        if mask is not None and mask.ndim == 3:
            mask = mask[:, None]  # one mask per example, the same for every head
        attended = scaled_dot_product_attention(q, k, v, mask)  # (N, heads, L, d)
        return attended.transpose(0, 2, 1, 3).reshape(N, L, self.embed_dim) @ self.Wo + self.bo

    def _checked(self, query: Any, key: Any, value: Any, mask: Any) -> tuple[tuple[int, int, int], Any]:
        """(N, L, S) and the mask, or an error naming the layer and the expected and actual shapes."""
        E = self.embed_dim
        q_shape, k_shape, v_shape = np.shape(query), np.shape(key), np.shape(value)
        if len(q_shape) != 3 or q_shape[2] != E:
            raise ValueError(f"{self!r}: expected query of shape (N, L, {E}) (batch first), got {q_shape}")
        N, L = q_shape[:2]
        for label, shape in (("key", k_shape), ("value", v_shape)):
            if len(shape) != 3 or shape[0] != N or shape[2] != E:
                raise ValueError(
                    f"{self!r}: expected {label} of shape (N, S, {E}) with the query's N = {N}, got {shape}"
                )
        if k_shape != v_shape:
            raise ValueError(
                f"{self!r}: key and value must have the same shape (N, S, {E}), got {k_shape} and {v_shape}"
            )
        S = k_shape[1]
        return (N, L, S), _checked_mask(mask, (N, L, S), repr(self))  # (L, S), (N, L, S) or (1, L, S)

    def _describe(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
