"""The chapter "Bayes by Backprop" (notebooks/29_bayes_by_backprop.py): its network, its reference
solutions and their checks.

The chapter follows Blundell et al. (2015), "Weight uncertainty in neural networks", which the DP
paper names among its advanced exercises. Every weight of a small regression network gets a
Gaussian q = N(mu, sigma^2) with sigma = softplus(rho); the loss of one minibatch is the negative
log-likelihood under weights sampled as w = mu + sigma * eps, plus the KL divergence of q from the
prior N(0, prior_std^2) divided by the number of minibatches (Blundell et al., eq. 8), so that a
pass over the data counts the KL once. The student writes the KL and that loss as Node code; the
checks compare their values and their gradients with respect to every mu and rho.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from dp.exercises.checker import Exercise, WrongForm, nice, register, shape_difference
from dp.node import Node
from dp.ops import relu, softplus


def network(weights: Mapping[str, Any], x: Any) -> Any:
    """The chapter's network for one set of weights: inputs (n, 1) -> ReLU layer -> outputs (n, 1)."""
    hidden = relu(x @ weights["W1"] + weights["b1"])
    return hidden @ weights["W2"] + weights["b2"]


# ------------------------------------------------------------------------------------------------
# The reference solutions


def gaussian_kl(mu: Any, rho: Any, prior_std: float) -> Any:
    """KL(q || p) summed over the elements: q = N(mu, softplus(rho)^2), p = N(0, prior_std^2)."""
    sigma = softplus(rho)
    return (math.log(prior_std) - np.log(sigma) + (sigma * sigma + mu * mu) / (2 * prior_std**2) - 0.5).sum()


def bayes_loss(
    mu: Mapping[str, Any],
    rho: Mapping[str, Any],
    eps: Mapping[str, Any],
    x: Any,
    y: Any,
    noise_std: float,
    prior_std: float,
    n_batches: int,
) -> Any:
    """One minibatch's loss: -log p(y | x, w) at w = mu + softplus(rho) * eps, plus KL(q || p) / n_batches."""
    weights = {name: mu[name] + softplus(rho[name]) * eps[name] for name in mu}
    error = (y - network(weights, x)) / noise_std
    nll = (0.5 * error * error).sum() + y.size * (math.log(noise_std) + 0.5 * math.log(2 * math.pi))
    kl = sum(gaussian_kl(mu[name], rho[name], prior_std) for name in mu)
    return nll + kl / n_batches


# ------------------------------------------------------------------------------------------------
# The planted mistakes


def _reversed_kl(mu, rho, prior_std):
    """KL(p || q), the divergence the other way round: it punishes a narrow q, not a q far from p."""
    sigma = softplus(rho)
    return (np.log(sigma) - math.log(prior_std) + (prior_std**2 + mu * mu) / (2 * sigma * sigma) - 0.5).sum()


def _kl_not_shared(mu, rho, eps, x, y, noise_std, prior_std, n_batches):
    """The whole KL in every minibatch: a pass over the data then counts it n_batches times."""
    return bayes_loss(mu, rho, eps, x, y, noise_std, prior_std, 1)


# ------------------------------------------------------------------------------------------------
# The checks

#: The labels of an answer from `_on_nodes`.
_LABELS = ("value", "gradients")


def _on_nodes(candidate: Any, inputs: Mapping[str, Any], differentiate: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
    """Call with the inputs in `differentiate` as named Nodes (a dict of arrays becomes Nodes named
    "mu.W1", ...); the output's value and its gradient with respect to each of them."""

    def as_node(name: str, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: Node(np.copy(item), f"{name}.{key}") for key, item in value.items()}
        return Node(np.copy(value), name)

    args = [as_node(name, value) if name in differentiate else copy.deepcopy(value) for name, value in inputs.items()]
    out = candidate(*args)
    if not isinstance(out, Node):
        raise WrongForm(
            f"yours returned a {type(out).__name__}, not a Node (built with Node operations from mu "
            "and rho, so that dp can differentiate it)"
        )
    if out.shape != ():
        raise WrongForm(f"{shape_difference(out.shape, ())}: the loss is one number (a sum)")
    grads = out.grad(1)
    # The gradient of every mu and rho (zero for one the answer does not use), and of nothing else:
    # a named leaf of the answer's own is no matter.
    shapes = {}
    for name in differentiate:
        value = inputs[name]
        items = value.items() if isinstance(value, Mapping) else [(None, value)]
        shapes.update({name if key is None else f"{name}.{key}": np.shape(item) for key, item in items})
    return out.value, {leaf: grads.get(leaf, np.zeros(shape)) for leaf, shape in shapes.items()}


def _kl_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    shape = (1 + size // 3, 1 + size // 2)
    return {
        "mu": nice(rng, size, shape, -2, 2),
        "rho": nice(rng, size, shape, -3, 1),
        "prior_std": float(rng.choice([0.5, 1.0, 2.0])),
    }


register(
    Exercise(
        "part2.gaussian_kl",
        "KL(q || p) of q = N(mu, softplus(rho)^2) from the prior N(0, prior_std^2), summed",
        inputs=_kl_inputs,
        solution=gaussian_kl,
        wrong=_reversed_kl,
        run=lambda candidate, inputs: _on_nodes(candidate, inputs, ("mu", "rho")),
        labels=_LABELS,
    )
)


def _loss_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    hidden, n = size, 1 + size
    shapes = {"W1": (1, hidden), "b1": (hidden,), "W2": (hidden, 1), "b2": (1,)}
    return {
        "mu": {name: nice(rng, size, shape, -2, 2) for name, shape in shapes.items()},
        "rho": {name: nice(rng, size, shape, -3, 1) for name, shape in shapes.items()},
        "eps": {name: nice(rng, size, shape, -2, 2) for name, shape in shapes.items()},
        "x": nice(rng, size, (n, 1)),
        "y": nice(rng, size, (n, 1)),
        "noise_std": float(rng.choice([0.5, 1.0])),
        "prior_std": float(rng.choice([1.0, 2.0])),
        "n_batches": int(rng.integers(2, 6)),
    }


register(
    Exercise(
        "part2.bayes_loss",
        "one minibatch's loss: the NLL at w = mu + softplus(rho) eps, plus KL / n_batches",
        inputs=_loss_inputs,
        solution=bayes_loss,
        wrong=_kl_not_shared,
        judges=("part2.gaussian_kl",),
        run=lambda candidate, inputs: _on_nodes(candidate, inputs, ("mu", "rho")),
        labels=_LABELS,
    )
)
