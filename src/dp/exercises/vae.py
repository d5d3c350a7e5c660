"""The exercises of the chapter on the variational autoencoder (notebooks/28_variational_autoencoder.py):
the reparameterisation trick and the closed-form KL term, their reference solutions and their checks.

Both are written with Node operations, so the checks judge the value and the gradients together:
each answer runs on named Nodes `mu` and `log_var`, one backward pass is seeded with a random
array, and the result is compared with the closed forms below (not with the reference solution,
so the check stands on its own mathematics). The planted wrong answers are the usual slips:
exp(log_var) taken for the standard deviation, and the KL without its 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dp.exercises.checker import Exercise, WrongForm, nice, register, shape_difference
from dp.node import Node

__all__ = ["kl_divergence", "reparameterize"]


def reparameterize(mu: Node, log_var: Node, eps: np.ndarray) -> Node:
    """z = mu + sigma * eps with sigma = exp(log_var / 2): a sample of N(mu, sigma^2) for eps ~ N(0, 1),
    differentiable in mu and log_var (eps is a constant). dz/dmu = 1, dz/dlog_var = sigma * eps / 2."""
    return mu + (log_var / 2).exp() * eps


def kl_divergence(mu: Node, log_var: Node) -> Node:
    """KL(N(mu, sigma^2) || N(0, 1)) of each row, summed over the latent axis:
    -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2). Zero exactly when mu = 0 and sigma = 1."""
    return -0.5 * (1 + log_var - mu * mu - log_var.exp()).sum(axis=-1)


# ------------------------------------------------------------------------------------------------
# The checks


def _latent_inputs(rng: np.random.Generator, size: int, *, noise: bool) -> dict[str, Any]:
    """mu and log_var of a batch of Gaussians, (n, d) (a latent of 2 first); eps if `noise`;
    and the output's gradient for the backward pass, shaped like the answer (z: (n, d), the KL: (n,))."""
    n, d = 1 + size // 3, 1 + (size + 1) // 2
    inputs = {"mu": nice(rng, size, (n, d), -2, 2), "log_var": nice(rng, size, (n, d), -2, 2)}
    if noise:
        inputs["eps"] = nice(rng, size, (n, d), -2, 2)
    inputs["seed"] = nice(rng, size, (n, d) if noise else (n,), avoid_zero=True)
    return inputs


def _on_nodes(candidate: Any, inputs: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """(the answer's value, its gradient for mu, for log_var), one backward pass seeded with `seed`.

    A parameter the answer cut off from the graph (by reading `.value`, say) gets a zero gradient,
    which the comparison then shows; an answer that is not a Node at all is told so plainly.
    """
    mu, log_var = Node(np.copy(inputs["mu"]), "mu"), Node(np.copy(inputs["log_var"]), "log_var")
    others = [np.copy(value) for name, value in inputs.items() if name not in ("mu", "log_var", "seed")]
    out = candidate(mu, log_var, *others)
    if not isinstance(out, Node):
        raise WrongForm(
            f"yours returned a {type(out).__name__}, not a Node computed from mu and log_var with "
            "Node operations (so that gradients flow through it)"
        )
    if out.shape != np.shape(inputs["seed"]):
        finding = shape_difference(out.shape, np.shape(inputs["seed"]))
        if ":" not in finding:  # no hint of the checker's: say what the shape stands for
            finding += ": " + (
                "one z per entry of mu" if "eps" in inputs else "one KL per row of mu (sum over axis -1)"
            )
        raise WrongForm(finding)
    grads = out.grad(np.copy(inputs["seed"]))
    return out.value, grads.get("mu", np.zeros_like(mu.value)), grads.get("log_var", np.zeros_like(log_var.value))


def _reparameterized_closed_form(inputs: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    mu, log_var, eps, seed = inputs["mu"], inputs["log_var"], inputs["eps"], inputs["seed"]
    sigma = np.exp(log_var / 2)
    return mu + sigma * eps, seed, seed * sigma * eps / 2


def _kl_closed_form(inputs: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    mu, log_var, seed = inputs["mu"], inputs["log_var"], inputs["seed"][:, None]
    value = 0.5 * (mu**2 + np.exp(log_var) - 1 - log_var).sum(axis=-1)
    return value, seed * mu, seed * (np.exp(log_var) - 1) / 2 + 0.0  # + 0.0: no "-0." where log_var = 0


register(
    Exercise(
        "part2.reparameterize",
        "the reparameterisation trick z = mu + exp(log_var / 2) * eps, on Nodes",
        inputs=lambda rng, size: _latent_inputs(rng, size, noise=True),
        solution=reparameterize,
        run=_on_nodes,
        expected=_reparameterized_closed_form,
        wrong=lambda mu, log_var, eps: mu + log_var.exp() * eps,  # the variance taken for the standard deviation
        labels=("z", "gradients of sum(z * seed): d/dmu", "d/dlog_var"),
    )
)

register(
    Exercise(
        "part2.kl_divergence",
        "KL(N(mu, sigma^2) || N(0, 1)) in closed form, one number per row, on Nodes",
        inputs=lambda rng, size: _latent_inputs(rng, size, noise=False),
        solution=kl_divergence,
        run=_on_nodes,
        expected=_kl_closed_form,
        # Without the 1 the gradients are right and only the value is off (by d/2 per row): a check
        # of the gradients alone would pass it, and the reported ELBO would be wrong.
        wrong=lambda mu, log_var: -0.5 * (log_var - mu * mu - log_var.exp()).sum(axis=-1),
        labels=("KL", "gradients of sum(KL * seed): d/dmu", "d/dlog_var"),
    )
)
