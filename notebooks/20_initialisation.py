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
# # Part 2.0 · Weight initialisation
#
# Part 2 uses dp to build and train networks, one best practice at a time. The first is where
# training starts: the random initial weights. A layer computes $h' = \mathrm{act}(h W + b)$.
# Each output sums $n_{\text{in}}$ products, so for inputs of variance $v$ and weights of
# variance $\sigma^2$ the sum has variance about $n_{\text{in}} \sigma^2 v$. Over ten layers that
# factor is raised to the tenth power: unless $n_{\text{in}} \sigma^2 \approx 1$, the signal
# explodes or dies out — and so does the gradient, which flows back through the same matrices.
#
# * **Xavier / Glorot** (2010): $\mathrm{Var}(W) = 2 / (n_{\text{in}} + n_{\text{out}})$, for
#   activations that are roughly linear around 0 (tanh, sigmoid, none).
# * **He** (2015): $\mathrm{Var}(W) = 2 / n_{\text{in}}$, for ReLU, which zeroes half its inputs
#   and so halves the variance.

# %%
import numpy as np
import matplotlib.pyplot as plt

from dp import Node
from dp.data import make_spirals
from dp.exercises import check, exercise
from dp.exercises.course import plot_curves
from dp.nn import SGD_Momentum, Linear, Sequential, cross_entropy, init, relu, tanh

# %% [markdown]
# **Exercise 2.1.** Write the standard deviations of the two schemes (the square roots of the
# variances above).

# %%
@exercise("part2.xavier_std")
def xavier_std(n_in, n_out):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.xavier_std", xavier_std)

# %%
@exercise("part2.he_std")
def he_std(n_in):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.he_std", he_std)

# %% [markdown]
# dp's initialisers (`dp.nn.init`) draw from exactly these distributions, normal or uniform.
# The sample standard deviation of a large matrix matches your formula:

# %%
print(f"xavier_normal (500, 300): {init.xavier_normal((500, 300), rng=0).std():.4f}, formula {xavier_std(500, 300):.4f}")
print(f"he_normal     (500, 300): {init.he_normal((500, 300), rng=0).std():.4f}, formula {he_std(500):.4f}")

# %% [markdown]
# ## The signal through ten layers
#
# We send 1000 random inputs through ten layers of width 256 and measure the standard deviation
# of each layer's output, for three initialisations: the naive $\mathcal N(0, 1)$, a "small"
# $\mathcal N(0, 0.01^2)$, and the right scheme for the activation (Xavier for tanh, He for ReLU).
# dp's `Linear` takes the initialiser as `init=`.

# %%
def normal(std):
    """An initialiser with a fixed standard deviation (the naive schemes)."""
    return lambda shape, rng=None, dtype=np.float64: np.random.default_rng(rng).normal(0, std, shape).astype(dtype)


def layer_stds(activation, initialiser, depth=10, width=256, seed=0):
    rng = np.random.default_rng(seed)
    h = Node(rng.normal(size=(1000, width)))
    stds = []
    for _ in range(depth):
        h = Linear(width, width, init=initialiser, rng=rng, activation=activation)(h)
        stds.append(h.value.std())
    return stds


schemes = {
    "tanh": {"N(0, 1)": normal(1.0), "N(0, 0.01²)": normal(0.01), "Xavier": init.xavier_normal},
    "relu": {"N(0, 1)": normal(1.0), "N(0, 0.01²)": normal(0.01), "He": init.he_normal},
}
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, (name, inits) in zip(axes, schemes.items()):
    activation = tanh if name == "tanh" else relu
    for label, initialiser in inits.items():
        ax.semilogy(range(1, 11), layer_stds(activation, initialiser), "o-", label=label)
    ax.set(xlabel="layer", ylabel="std of the layer's output", title=f"{name} layers, width 256")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
plt.show()

# %% [markdown]
# With $\mathcal N(0, 1)$ the ReLU signal grows by $\sqrt{256/2} \approx 11$ per layer, and tanh
# saturates at $\pm 1$ (where its derivative is 0). With $\mathcal N(0, 0.01^2)$ it shrinks by a
# factor of 6 (tanh) to 9 (ReLU) per layer and is gone after ten. The scaled schemes keep it steady. The
# histograms of the tenth layer's outputs tell the same story for tanh:

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 2.8))
for ax, (label, initialiser) in zip(axes, schemes["tanh"].items()):
    rng = np.random.default_rng(0)
    h = Node(rng.normal(size=(1000, 256)))
    for _ in range(10):
        h = Linear(256, 256, init=initialiser, rng=rng, activation=tanh)(h)
    ax.hist(h.value.ravel(), bins=60)
    ax.set(title=f"tanh, {label}: layer 10", yticks=[])
plt.show()

# %% [markdown]
# ## Does it matter for training?
#
# A network of six ReLU layers (width 64) learns the three-armed spiral data set, from each of the
# three starting points, with the same optimizer: SGD with momentum, 300 steps on all 600 points.
# (An exploding network overflows to `inf` and `nan`; `np.errstate` keeps NumPy from printing a
# warning for each overflow.)

# %%
x, y = make_spirals(n=600, classes=3, noise=0.2, rng=0)


def spiral_network(initialiser, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [2, 64, 64, 64, 64, 64, 64]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [Linear(n_in, n_out, init=initialiser, rng=rng), relu]
    layers.append(Linear(64, 3, init=init.xavier_normal, rng=rng))
    return Sequential(layers, loss=cross_entropy)


curves = {}
for label, initialiser in schemes["relu"].items():
    model = spiral_network(initialiser)
    optimizer = SGD_Momentum(model, x, y, learning_rate=0.1, momentum=0.9)
    with np.errstate(over="ignore", invalid="ignore"):
        _, losses, _ = optimizer.train(steps=300, print_each=None, err_hist=True, progress=False)
        accuracy = (model(x).value.argmax(axis=1) == y).mean()
    curves[f"{label}: final loss {losses[-1]:.4g}, training accuracy {accuracy:.0%}"] = losses
ax = plot_curves(curves, title="six ReLU layers on the spirals", ylabel="cross-entropy", log_y=True)
ax.set_ylim(1e-3, 1e5)
plt.show()

# %% [markdown]
# The naive $\mathcal N(0, 1)$ start has a loss above a thousand and gradients to match: the
# first steps throw the weights so far that the loss overflows — the curve ends where it becomes
# `nan`, and the network predicts one class (33%). The tiny start has almost no signal and almost
# no gradient in its first layers: its three outputs stay all but equal (they differ by a few
# $10^{-9}$), so every class gets probability $1/3$ to many digits and the loss stays at
# $\ln 3 \approx 1.099$, the loss of guessing, for all 300 steps. Its accuracy (56% on the
# training points) is not a contradiction: the last layers do learn a little, and the largest of
# three outputs that differ by billionths is right more often than a third of the time — but by
# its loss the network is no more sure than a guess. He initialisation starts at a sensible loss
# and learns at once. (All three accuracies are on the 600 training points.)
#
# dp's `Linear` uses He initialisation when its activation is ReLU-like and Xavier otherwise; the
# paper's `ReLu_Layer` and `Linear_Layer` do the same.
#
# ## Summary
#
# * Each layer multiplies the signal's variance by about $n_{\text{in}} \mathrm{Var}(W)$ (halved
#   by ReLU): choose $\mathrm{Var}(W)$ to make that 1.
# * Xavier for tanh, sigmoid and linear outputs; He for ReLU.
# * Next, `21_activations_vanishing_gradients`: what the activation function does to the
#   gradient in a deep network.
