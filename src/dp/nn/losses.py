"""Loss functions: a network's output and the labels in, one number (a Node) out.

Each takes `reduction`: "mean" (the default, as PyTorch), "sum" (the paper's choice: its loss is
summed over the batch) or "none" (one loss per example, or per element). Labels are constants:
plain arrays (or unnamed Nodes), converted to the prediction's dtype so float32 stays float32.

- `cross_entropy(logits, y)`: from raw scores, with log-softmax inside: exact and finite for any
  logits. The one to train classifiers with.
- `cross_entropy_from_probs(p, y)`: the paper's -sum(y log p) on softmax outputs.
- `binary_cross_entropy(p, y)` on probabilities and `binary_cross_entropy_with_logits(z, y)` on
  raw scores (stable for any z).
- `mean_squared_error(pred, y)` (also `mse`).

    >>> round(cross_entropy(np.array([[2.0, 0.0]]), np.array([0])).item(), 4)
    0.1269
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from dp.nn.layers import differentiable
from dp.node import Node, primitive
from dp.ops import maximum, sigmoid
from dp.types import Operand

Reduction = Literal["mean", "sum", "none"]

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "cross_entropy_from_probs",
    "mean_squared_error",
    "mse",
]

# PyTorch's binary_cross_entropy clamps each log at -100 so that p = 0 or 1 gives a finite loss.
_LOG_FLOOR = -100.0


def cross_entropy(logits: Operand, y: Operand, reduction: Reduction = "mean") -> Node:
    """-sum_k y_k log softmax(logits)_k for each row, as PyTorch's `F.cross_entropy`.

    `logits` (..., C) are raw scores over the last axis: (N, C) for a batch, (N, L, C) for a batch
    of sequences. `y` is either the class indices (...) (integers) or one-hot rows / probabilities
    of the logits' shape. "mean" averages over every position (the N examples, or N * L tokens).
    The log-softmax never overflows or takes log(0), so this is exact for any logits.
    """
    log_p = differentiable(logits).log_softmax(axis=-1)
    labels = y.value if isinstance(y, Node) else np.asarray(y)
    if labels.dtype.kind in "iu":
        if log_p.ndim < 1 or labels.shape != log_p.shape[:-1]:
            raise ValueError(
                f"cross_entropy: class indices of shape {labels.shape} need logits of shape "
                f"{labels.shape + ('C',)}, got logits {log_p.shape}"
            )
        classes = log_p.shape[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"cross_entropy: class indices must lie in 0..{classes - 1}")
        rows = log_p if log_p.ndim == 2 else log_p.reshape(-1, classes)
        flat = labels.reshape(-1)
        per_example = (-rows[np.arange(flat.size), flat]).reshape(labels.shape)
    else:
        if labels.shape == log_p.shape[:-1]:
            raise TypeError(
                f"cross_entropy: labels of shape {labels.shape} look like class indices, but they "
                f"are {labels.dtype}: class indices must be integers (or give one-hot rows of "
                f"shape {log_p.shape})"
            )
        per_example = -(log_p * _target(y, log_p, "cross_entropy")).sum(axis=-1)
    return _reduce(per_example, reduction)


def cross_entropy_from_probs(p: Operand, y: Operand, reduction: Reduction = "mean") -> Node:
    """The paper's cross-entropy on probabilities (softmax outputs): -sum_k y_k log p_k per row.

    `y` is one-hot rows (or probabilities) of p's shape. p is floored at the dtype's smallest
    normal number before the log, so a probability that underflowed to 0 gives a large finite
    loss instead of 0 * log(0) = nan; use `cross_entropy` on logits to avoid the underflow itself.
    """
    p = differentiable(p)
    log_p = maximum(p, np.finfo(p.dtype).tiny).log()
    return _reduce(-(log_p * _target(y, p, "cross_entropy_from_probs")).sum(axis=-1), reduction)


def binary_cross_entropy(p: Operand, y: Operand, reduction: Reduction = "mean") -> Node:
    """-(y log p + (1 - y) log(1 - p)) element-wise, as PyTorch's `F.binary_cross_entropy`.

    Stable at p = 0 and p = 1: no log(0) is ever taken; each log is floored at -100 as in PyTorch
    (in float32 at log(smallest normal float32) = -87.3, since exp(-100) is below it), so the loss
    and its gradient stay finite. Saturated probabilities give no gradient, though: prefer
    `binary_cross_entropy_with_logits` on the raw scores. "mean" averages over all elements.
    """
    p = differentiable(p)
    y = _target(y, p, "binary_cross_entropy")
    floor = max(np.exp(_LOG_FLOOR), np.finfo(p.dtype).tiny)  # 1 / floor must not overflow
    return _reduce(-(y * maximum(p, floor).log() + (1 - y) * maximum(1 - p, floor).log()), reduction)


def _logistic_loss(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    # max(z, 0) - z y + log(1 + exp(-|z|)), with max(z, 0) = (z + |z|) / 2 (exact: both are z or
    # 0): exp never overflows, and log1p keeps the last term exact where it is tiny, so the loss
    # is exact at z = +-1000 too. In place, into two arrays: a loss over a batch of images is
    # memory-bound, and np.maximum(z, 0) alone would take as long as three of these steps.
    z, y = np.asarray(z), np.asarray(y)
    # out= keeps both arrays even for a 0-d z (NumPy's functions give a scalar there)
    half_magnitude = np.abs(z, out=np.empty_like(z))
    loss = np.negative(half_magnitude, out=np.empty_like(z))
    np.exp(loss, out=loss)
    np.log1p(loss, out=loss)
    half_magnitude *= 0.5
    loss += half_magnitude
    linear = np.subtract(0.5, y, out=half_magnitude)
    linear *= z
    loss += linear
    return loss if loss.ndim else loss[()]


#: -(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))), element-wise, in one pass.
#: d/dz = sigmoid(z) - y,   d/dy = -z.
_logistic = primitive(
    "binary_cross_entropy_with_logits",
    _logistic_loss,
    tangent="elementwise",
    vjp=(lambda g, out, z, y: g * (sigmoid(z) - y), lambda g, out, z, y: g * -z),
)


def binary_cross_entropy_with_logits(z: Operand, y: Operand, reduction: Reduction = "mean") -> Node:
    """binary_cross_entropy(sigmoid(z), y), computed from the raw scores z without ever forming
    sigmoid(z): exact and finite for any z, as PyTorch's `F.binary_cross_entropy_with_logits`.

    One operation, max(z, 0) - z y + log(1 + exp(-|z|)), with its derivative sigmoid(z) - y beside it
    (composing it from log_softmax would reduce over pairs: twice as slow).
    """
    z = differentiable(z)
    return _reduce(_logistic(z, _target(y, z, "binary_cross_entropy_with_logits")), reduction)


def mean_squared_error(pred: Operand, y: Operand, reduction: Reduction = "mean") -> Node:
    """(pred - y)^2 element-wise, as PyTorch's `F.mse_loss`; "mean" averages over all elements."""
    pred = differentiable(pred)
    error = pred - _target(y, pred, "mean_squared_error")
    return _reduce(error * error, reduction)


mse = mean_squared_error


def _target(y: Any, like: Node, where: str) -> Any:
    """The labels as a constant of `like`'s dtype and exact shape.

    Equal shapes are required: broadcasting labels (N,) against predictions (N, 1) would silently
    compare every example with every label.
    """
    if isinstance(y, Node) and not y.requires_grad:
        y = y.value  # a constant Node: its array, converted like any labels
    if not isinstance(y, Node) and not hasattr(type(y), "__dp_apply__"):  # not a Node, nor a Dual: plain labels
        try:
            labels = np.asarray(y)
        except (TypeError, ValueError) as error:  # ragged lists, ...
            raise TypeError(f"{where}: labels must be an array of numbers: {error}") from None
        if labels.dtype.kind not in "biuf":  # strings, None, complex (the imaginary part would be dropped)
            raise TypeError(
                f"{where}: labels must be an array of numbers, got {type(y).__name__} of dtype {labels.dtype}"
            )
        y = labels.astype(like.dtype, copy=False)
    if y.shape != like.shape:
        raise ValueError(f"{where}: labels of shape {y.shape} do not match predictions of shape {like.shape}")
    return y


def _reduce(losses: Node, reduction: Reduction) -> Node:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
