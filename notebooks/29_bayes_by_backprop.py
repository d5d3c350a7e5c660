# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Part 2.9 · Bayes by Backprop
#
# A trained network gives one answer for every input, as sure of itself far from its training
# data as in the middle of it. The DP paper names Bayesian neural networks among its advanced
# exercises, after Blundell et al. (2015), "Weight uncertainty in neural networks": give every
# weight a *distribution* instead of a value, learn that distribution by backpropagation, and
# let the network say how unsure it is.
#
# * The posterior over the weights, $p(w \mid D)$, cannot be computed. We fit a simpler
#   distribution $q(w)$ to it instead: one independent Gaussian $N(\mu, \sigma^2)$ per weight, and
#   $\sigma = \operatorname{softplus}(\rho) = \log(1 + e^\rho)$, so that any real $\rho$ gives a
#   positive $\sigma$.
# * Fitting $q$ means minimising $\mathrm{KL}(q \,\|\, p(w \mid D))$, which equals, up to a
#   constant, the **variational free energy**
#
#   $$F(\mu, \rho) = \mathrm{KL}\big(q(w) \,\|\, p(w)\big) - \mathbb E_{q(w)}\big[\log p(D \mid w)\big]:$$
#
#   stay close to the prior $p(w)$, and explain the data well on average over $q$.
# * The expectation is estimated by sampling. Written as $w = \mu + \sigma \cdot \varepsilon$ with
#   $\varepsilon \sim N(0, 1)$ drawn *outside* the graph, a sampled weight is an ordinary
#   differentiable function of $\mu$ and $\rho$ (the reparameterisation trick), so one
#   backward pass gives $\partial F / \partial \mu$ and $\partial F / \partial \rho$.
#
# You write the two pieces of $F$ as Node code; dp differentiates them.

# %%
import math

import numpy as np

from dp import Node
from dp.exercises import check, exercise
from dp.exercises.bayes_by_backprop import network
from dp.exercises.course import FAST, _pyplot, plot_curves, show_source
from dp.nn import Adam
from dp.ops import softplus

plt = _pyplot()

# %% [markdown]
# ## The data: two stretches of a curve
#
# Sixty-four noisy points of $f(x) = \frac12 \sin 2x + 0.3x$, on $[-3, -1]$ and $[1, 3]$ only,
# with noise of standard deviation 0.1. We shall ask the network about all of $[-6, 6]$: the gap
# in the middle, and beyond both ends, where it has seen nothing.

# %%
rng = np.random.default_rng(0)
NOISE_STD = 0.1


def curve(x):
    return 0.5 * np.sin(2 * x) + 0.3 * x


x_train = np.concatenate([rng.uniform(-3, -1, 32), rng.uniform(1, 3, 32)])[:, None]
y_train = curve(x_train) + NOISE_STD * rng.normal(size=x_train.shape)
grid = np.linspace(-6, 6, 241)[:, None]


def plot_data(ax, title):
    """The curve (dashed) and the training points, under whatever else `ax` shows."""
    ax.plot(grid, curve(grid), color="grey", lw=1, ls="--", label="the curve the data come from")
    ax.plot(x_train, y_train, "k.", ms=4, label="the 64 training points")
    ax.set(title=title, xlabel="x", ylim=(-3.5, 3.5))
    ax.grid(alpha=0.3)


fig, ax = plt.subplots(figsize=(7, 3.5))
plot_data(ax, "training data: nothing in the middle or beyond ±3")
ax.legend()
plt.show()

# %% [markdown]
# ## One Gaussian per weight
#
# Each weight has two parameters, $\mu$ and $\rho$; a sample of it is
# $w = \mu + \operatorname{softplus}(\rho)\,\varepsilon$. With Nodes for $\mu$ and $\rho$ and a
# plain array for $\varepsilon$, the sample is a Node, and its gradient reaches both:
# $\partial w / \partial \mu = 1$ and $\partial w / \partial \rho = \varepsilon \cdot \operatorname{sigmoid}(\rho)$,
# the derivative of softplus being the sigmoid. Many samples of one weight have mean $\mu$ and
# standard deviation $\operatorname{softplus}(\rho)$:

# %%
mu, rho = Node(np.array(0.5), "mu"), Node(np.array(-1.0), "rho")
eps = rng.normal(size=100_000)
w = mu + softplus(rho) * eps
print(f"mean {w.value.mean():.3f} (mu = 0.5), std {w.value.std():.3f} (softplus(-1) = {np.logaddexp(0, -1):.3f})")
gradients = w.sum().grad(1)
print(f"d sum(w) / d mu  = {gradients['mu']:.0f}, the number of samples")
print(f"d sum(w) / d rho = {gradients['rho']:.2f}, and sum(eps) * sigmoid(-1) = {eps.sum() / (1 + math.e):.2f}")

# %% [markdown]
# ## The prior, and the KL divergence
#
# The prior is $p(w) = N(0, s^2)$ for every weight, with $s$ = `prior_std`. For two Gaussians the
# KL divergence has a closed form; per weight,
#
# $$\mathrm{KL}\big(N(\mu, \sigma^2) \,\|\, N(0, s^2)\big)
#   = \log\frac{s}{\sigma} + \frac{\sigma^2 + \mu^2}{2 s^2} - \frac12 ,$$
#
# and over independent weights the divergences add up. It is zero only when $\mu = 0$ and
# $\sigma = s$: the term pulls every mean towards 0 and every width towards the prior's. Mind
# the order: $\mathrm{KL}(q \,\|\, p)$ averages $\log q - \log p$ over $q$, and is not symmetric.
#
# **Exercise 2.15.** Write `gaussian_kl(mu, rho, prior_std)`: the sum over all elements of that
# divergence, for Nodes `mu` and `rho` of the same shape, with $\sigma = \operatorname{softplus}(\rho)$
# (`softplus(rho)`, `np.log`, `*`, `/`, `.sum()`). The check compares the value and the gradients
# with respect to `mu` and `rho`.

# %%
@exercise("part2.gaussian_kl")
def gaussian_kl(mu, rho, prior_std):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.gaussian_kl", gaussian_kl)

# %% [markdown]
# Blundell et al. did not use this formula: their prior, a mixture of two Gaussians, has none.
# They estimate the KL by sampling instead, as the average of $\log q(w) - \log p(w)$ over
# $w \sim q$, which works for any prior. For a Gaussian prior both must agree; the sampled
# estimate just carries noise, which the closed form spares us:

# %%
def log_normal(w, mean, std):
    return -0.5 * ((w - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)


mu, rho, prior_std = np.array([0.8, -1.5, 0.0]), np.array([-2.0, 0.0, 1.0]), 1.0
sigma = np.logaddexp(0, rho)
w = mu + sigma * rng.normal(size=(200_000, 3))
sampled = (log_normal(w, mu, sigma) - log_normal(w, 0.0, prior_std)).mean(axis=0).sum()
print(f"KL by sampling {sampled:.4f}, closed form {gaussian_kl(Node(mu), Node(rho), prior_std).value:.4f}")

# %% [markdown]
# ## The loss of one minibatch
#
# The network is small: one input, 32 ReLU units, one output.

# %%
show_source(network)

# %% [markdown]
# The likelihood says the data are the network's output plus Gaussian noise of the known
# standard deviation $\sigma_y$ = `noise_std`, so for a sampled $w$
#
# $$-\log p(D \mid w) = \sum_n \Big[\frac{(y_n - f_w(x_n))^2}{2\sigma_y^2} + \log\sigma_y + \frac12\log 2\pi\Big].$$
#
# We train on minibatches. With the data split into $M$ batches $D_1, \dots, D_M$, Blundell et al.
# (their equation 8) give batch $i$ the loss
#
# $$F_i = \frac{1}{M}\,\mathrm{KL}(q \,\|\, p) - \log p(D_i \mid w)$$
#
# at a sampled $w = \mu + \operatorname{softplus}(\rho)\,\varepsilon$, so that one pass over the
# data adds up to $F$: the KL counted once, and every point once.
#
# **Exercise 2.16.** Write `bayes_loss(mu, rho, eps, x, y, noise_std, prior_std, n_batches)`.
# `mu`, `rho` and `eps` are dicts from the names `"W1"`, `"b1"`, `"W2"`, `"b2"` to Nodes (`mu`,
# `rho`) and arrays (`eps`) of the weights' shapes; `x` and `y` are one batch, of shape (n, 1).
# Sample the weights, run `network(weights, x)`, and return the negative log-likelihood above
# plus the KL of all the weights (your `gaussian_kl`) divided by `n_batches`. The check compares
# the value and the gradients with respect to every `mu` and `rho`.

# %%
@exercise("part2.bayes_loss")
def bayes_loss(mu, rho, eps, x, y, noise_std, prior_std, n_batches):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.bayes_loss", bayes_loss)

# %% [markdown]
# ## Training
#
# The means start as for an ordinary network, and every $\rho$ at $-4$ ($\sigma \approx 0.02$):
# $q$ starts almost sure of its weights, and widens wherever the data leave a weight free. Each
# step draws a fresh $\varepsilon$ and the next of $M = 4$ minibatches of 16 points, and Adam
# updates all $\mu$ and $\rho$ (`Optimizer.step` takes any dict of named Nodes). The prior is
# $N(0, 1)$. `train` takes the number the KL is divided by, for a comparison further down.

# %%
HIDDEN, PRIOR_STD, BATCH = 32, 1.0, 16
N_BATCHES = len(x_train) // BATCH
SHAPES = {"W1": (1, HIDDEN), "b1": (HIDDEN,), "W2": (HIDDEN, 1), "b2": (1,)}
STEPS = 1_500 if FAST else 12_000


def train(kl_batches):
    """mu, rho and the loss of every step, trained from the same start whatever `kl_batches` is."""
    rng = np.random.default_rng(3)
    start = {"W1": rng.normal(0, 1, SHAPES["W1"]), "b1": rng.normal(0, 1, SHAPES["b1"]),
             "W2": rng.normal(0, 1 / math.sqrt(HIDDEN), SHAPES["W2"]), "b2": np.zeros(SHAPES["b2"])}
    mu = {name: Node(value, f"mu.{name}") for name, value in start.items()}
    rho = {name: Node(np.full(shape, -4.0), f"rho.{name}") for name, shape in SHAPES.items()}
    params = {node.name: node for node in (*mu.values(), *rho.values())}
    optimizer = Adam(learning_rate=1e-2)
    losses = []
    for step in range(STEPS):
        batch = step % N_BATCHES
        if batch == 0:
            order = rng.permutation(len(x_train))
        rows = order[batch * BATCH:(batch + 1) * BATCH]
        eps = {name: rng.normal(size=shape) for name, shape in SHAPES.items()}
        loss = bayes_loss(mu, rho, eps, x_train[rows], y_train[rows], NOISE_STD, PRIOR_STD, kl_batches)
        optimizer.step(params, loss.grad(1))
        losses.append(float(loss.value))
    return mu, rho, np.array(losses)


mu, rho, losses = train(N_BATCHES)
# the M batch losses of one pass over the data add up to an estimate of F
passes = losses.reshape(-1, N_BATCHES).sum(axis=1)
print(f"free energy F, the mean over the last 100 passes: {passes[-100:].mean():.1f}")
plot_curves({"F per pass over the data": np.convolve(passes, np.ones(25) / 25, mode="valid")},
            title="training", xlabel="pass over the data", ylabel="F (running mean of 25 passes)", log_y=True)
plt.show()

# %% [markdown]
# Training finds one of several local optima. From other starts (other seeds in `train`) F ends
# anywhere between about 130 and 170 after as many steps, the worse ones fitting one stretch of
# the data more roughly; the bands below came out alike from every start we tried.
#
# ## What the network does not know
#
# Every draw of the weights from $q$ is an ordinary network. Their spread is the network's
# uncertainty about the *function*; on top of it comes the noise in the data, so the
# predictive standard deviation is $\sqrt{\operatorname{Var}_q[f_w(x)] + \sigma_y^2}$. We draw 300
# weight samples (plain arrays: no gradients needed) and run each on the grid.

# %%
def draw(mu, rho, count=300):
    """The outputs on the grid of `count` networks drawn from q: shape (count, grid points)."""
    rng = np.random.default_rng(2)
    return np.stack([network({name: mu[name].value + np.logaddexp(0, rho[name].value) * rng.normal(size=shape)
                              for name, shape in SHAPES.items()}, grid)[:, 0] for _ in range(count)])


def plot_predictive(samples, ax, title):
    """The drawn networks' mean and a band of ±2 predictive standard deviations; returns the band."""
    mean = samples.mean(axis=0)
    band = 2 * np.sqrt(samples.var(axis=0) + NOISE_STD ** 2)
    ax.fill_between(grid[:, 0], mean - band, mean + band, alpha=0.3, label="mean ± 2σ")
    ax.plot(grid, mean, label="predictive mean")
    plot_data(ax, title)
    return band


samples = draw(mu, rho)
fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
axes[0].plot(grid, samples[:15].T, lw=1, alpha=0.7)
plot_data(axes[0], "15 networks drawn from q")
band = plot_predictive(samples, axes[1], "the predictive distribution, 300 draws")
axes[1].legend(loc="upper left")
plt.show()

on_data = (np.abs(grid[:, 0]) > 1) & (np.abs(grid[:, 0]) < 3)
regions = {"on the data, 1 < |x| < 3": on_data, "in the gap, |x| < 0.5": np.abs(grid[:, 0]) < 0.5,
           "far out, |x| > 5": np.abs(grid[:, 0]) > 5}
for label, where in regions.items():
    print(f"the band's half-width (2σ) {label:<26}: {band[where].mean():.2f}")

# %% [markdown]
# On the data the band is only a little wider than the noise alone ($2\sigma_y = 0.2$): there
# the weights are pinned down. Beyond the data it widens steadily — the drawn networks agree where
# they were trained and fan out where nothing held them — which is what an ordinary network
# cannot tell us at all.
#
# The gap is different: there the band stays as narrow as on the data, and the drawn networks
# all run along nearly the same straight line between the two stretches. That is a limit of this
# $q$, not of the training: for networks with one hidden layer of ReLUs, Foong et al. (2020, "On
# the expressiveness of approximate inference in Bayesian neural networks") prove that in simple
# cases an independent Gaussian per weight cannot have much more uncertainty between two
# well-separated regions of low uncertainty than in them, and find by experiment that exact
# inference has no such limit (see also Foong et al., 2019, "'In-between' uncertainty in Bayesian
# neural networks"). Richer posteriors, or ensembles of networks, do better there.
#
# What the data decided shows in the weights themselves. Each dot below is one weight, its mean
# against its width: the widths span two orders of magnitude, the data pinning some weights
# down to about 0.01 and leaving others almost as wide as the prior. Blundell et al. prune by
# this: they report that the weights of lowest signal-to-noise ratio $|\mu| / \sigma$ (up and to
# the left here) can be set to zero, most of them, at little cost.

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for name in SHAPES:
    ax.scatter(np.abs(mu[name].value).ravel(), np.logaddexp(0, rho[name].value).ravel(), s=14, label=name)
ax.axhline(PRIOR_STD, color="grey", lw=1, ls="--", label="the prior's σ")
ax.set(xscale="log", yscale="log", xlabel="|μ|", ylabel="σ = softplus(ρ)", title="the 97 weights after training")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# ## Why each batch gets 1/M of the KL
#
# Add the whole KL to every minibatch's loss, a common slip, and one pass over the data counts
# it $M = 4$ times: against the prior, the data then weigh as if there were a quarter as many
# points. The same training from the same start, with that loss:

# %%
fits = {"KL / M in each batch": (mu, rho), "the whole KL in each batch": train(1)[:2]}
fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
for ax, (label, (fit_mu, fit_rho)) in zip(axes, fits.items()):
    drawn = draw(fit_mu, fit_rho)
    band = plot_predictive(drawn, ax, label)
    distance = np.sqrt(np.mean((drawn.mean(axis=0) - curve(grid[:, 0]))[on_data] ** 2))
    means = np.concatenate([np.abs(node.value).ravel() for node in fit_mu.values()])
    widths = np.concatenate([np.logaddexp(0, node.value).ravel() for node in fit_rho.values()])
    print(f"{label}: mean |μ| {means.mean():.2f}, median σ {np.median(widths):.2f}; on the data, the mean's "
          f"distance from the curve {distance:.3f} and the band's half-width {band[on_data].mean():.2f}")
plt.show()

# %% [markdown]
# Overweighted, the prior wins where the data are few: the network keeps its weights closer to
# 0 and wider, its mean is smoother than the curve (both bumps flattened) and several times
# further from it, and its band is wider even on the data. Nothing fails loudly: the loss
# still falls and the figure still looks plausible, which is why the slip goes unnoticed.
# With more data per weight the likelihood dominates and it matters less.

# %% [markdown]
# ## Summary
#
# * Bayes by Backprop learns a Gaussian $q = N(\mu, \operatorname{softplus}(\rho)^2)$ for every
#   weight by minimising the variational free energy: the KL to the prior, plus the negative
#   log-likelihood under sampled weights.
# * The reparameterisation $w = \mu + \sigma\varepsilon$ makes a sampled weight a differentiable
#   function of $\mu$ and $\rho$; dp's ordinary backward pass does the rest.
# * With minibatches, each batch carries $1/M$ of the KL.
# * Many draws from $q$ give a predictive mean and a band that widens away from the data;
#   an independent Gaussian per weight stays overconfident between two stretches of data.
# * Next, Part 3, `30_to_pytorch`: dp's MNIST network crosses to PyTorch and ONNX, and back.
