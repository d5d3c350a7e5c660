"""The exercise of the course chapter on attention (notebooks/27_attention.py): the reference
solution of scaled dot-product attention with a mask, its check against dp's own
`dp.nn.scaled_dot_product_attention`, and the classic mistakes that the check must catch.

The mask convention is dp's (docs/layers.md): a boolean array, True where a query may NOT attend
to a key, and a query whose keys are all masked gets zero weights, hence a zero output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from dp.exercises.checker import Exercise, WrongForm, nice, parts_of, register, shape_difference
from dp.nn.attention import scaled_dot_product_attention
from dp.node import Node, plain
from dp.ops import softmax, where

__all__ = ["MISTAKES", "attention"]

#: What a masked score becomes before the softmax: exp of it is exactly 0 next to any real score.
#: Finite on purpose: a fully masked row of -inf would have the softmax compute 0/0 = NaN (with a
#: RuntimeWarning) that only the second `where` then hides.
MASKED_SCORE = -1e9


def attention(q: Any, k: Any, v: Any, mask: Any = None) -> tuple[Any, Any]:
    """Scaled dot-product attention: (output, weights), weights = softmax(q kᵀ / sqrt(d)) over the keys.

    q (..., L, d), k (..., S, d), v (..., S, dv) -> output (..., L, dv) and weights (..., L, S).
    `mask` (optional, boolean, broadcasting to (..., L, S)): True where a query may not attend to a
    key. A query whose keys are all masked gets zero weights, so a zero output.
    """
    d = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d)
    if mask is None:
        weights = softmax(scores, axis=-1)
    else:
        weights = softmax(where(mask, MASKED_SCORE, scores), axis=-1)
        weights = where(mask, 0.0, weights)  # a fully masked row was uniform: now all zeros
    return weights @ v, weights


def _mistaken(mistake: str) -> Callable[..., tuple[Any, Any]]:
    """`attention` with one classic mistake made, the rest right: what the check must reject."""

    def wrong(q: Any, k: Any, v: Any, mask: Any = None) -> tuple[Any, Any]:
        scale = 1.0 if mistake == "no 1/sqrt(d) scale" else np.sqrt(q.shape[-1])
        axis = -2 if mistake == "softmax over the queries" else -1
        if mask is not None and mistake == "the mask's meaning flipped":
            mask = ~np.asarray(mask)
        scores = q @ k.swapaxes(-1, -2) / scale
        if mask is None:
            weights = softmax(scores, axis=axis)
        else:
            weights = softmax(where(mask, MASKED_SCORE, scores), axis=axis)
            if mistake != "fully masked rows left uniform":
                weights = where(mask, 0.0, weights)
        return weights @ v, weights

    return wrong


#: The classic mistakes, each as an answer that makes it (the chapter shows the check catch each).
MISTAKES: dict[str, Callable[..., tuple[Any, Any]]] = {
    mistake: _mistaken(mistake)
    for mistake in (
        "no 1/sqrt(d) scale",
        "softmax over the queries",
        "the mask's meaning flipped",
        "fully masked rows left uniform",
    )
}


def _inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """q, k, v growing with `size`, leading batch axes from size 4, a mask (sometimes none, from
    size 3 often with one query row fully masked) and the output's gradient for the backward pass."""
    batch = () if size <= 3 else (2,) if size <= 6 else (2, 2)
    # d >= 2 from the start: at d = 1 the 1/sqrt(d) scale is 1, and forgetting it goes unseen.
    L, S, d, dv = 1 + (size + 1) // 2, 2 + size // 2, 2 + size // 3, 1 + size // 2
    values = {
        "q": nice(rng, size, (*batch, L, d)),
        "k": nice(rng, size, (*batch, S, d)),
        "v": nice(rng, size, (*batch, S, dv)),
    }
    mask = None
    if rng.random() >= 0.2:
        per_example = batch and rng.random() < 0.5  # one mask per example, or one for all
        mask = rng.random((*batch, L, S) if per_example else (L, S)) < 0.3
        if size >= 3 and rng.random() < 0.5:
            mask[..., rng.integers(L), :] = True
    return {**values, "mask": mask, "seed": nice(rng, size, (*batch, L, dv))}


def _nodes(inputs: Mapping[str, Any]) -> tuple[Node, Node, Node, Any]:
    mask = inputs["mask"]
    return (*(Node(np.copy(inputs[name]), name) for name in "qkv"), None if mask is None else np.copy(mask))  # type: ignore[return-value]  # three Nodes (q, k, v), then the mask


def _answer(output: Any, weights: Any, inputs: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """output, weights and the gradients of (output * seed).sum() for q, k and v (an output of
    another shape, or no Node, is a WrongForm: there is no gradient to take then)."""
    if not isinstance(output, Node):
        raise WrongForm(f"the output is a {type(output).__name__}, not a Node (built with Node operations)")
    if output.shape != np.shape(inputs["seed"]):
        raise WrongForm(f"the output: {shape_difference(output.shape, np.shape(inputs['seed']))}")
    grads = output.grad(inputs["seed"])
    return (
        plain(output),
        np.asarray(plain(weights)),
        {name: grads.get(name, np.zeros_like(inputs[name])) for name in "qkv"},
    )


def _run(candidate: Any, inputs: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    return _answer(*parts_of(candidate(*_nodes(inputs)), ("output", "weights")), inputs)  # type: ignore[call-arg]  # parts_of gives the two parts it is asked for


def _dp_attention(inputs: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """dp's answer: its attention for the output and the gradients; its attention applied to the
    identity matrix (each key's value the key's one-hot row) for the weights themselves."""
    q, k, v, mask = _nodes(inputs)
    identity = np.eye(k.shape[-2])
    weights = scaled_dot_product_attention(q.value, k.value, identity, mask)
    return _answer(scaled_dot_product_attention(q, k, v, mask), weights, inputs)


register(
    Exercise(
        "part2.attention",
        "scaled dot-product attention with a mask: the output and the weights",
        inputs=_inputs,
        solution=attention,
        run=_run,
        expected=_dp_attention,
        wrong=MISTAKES["no 1/sqrt(d) scale"],
        labels=("output", "weights", "gradients"),  # of (output * seed).sum(), for q, k and v
    )
)
