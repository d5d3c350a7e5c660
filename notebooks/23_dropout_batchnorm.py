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
# # Part 2.3 · Dropout and batch normalisation
#
# Two layers that have no effect on what a network *can* compute, and a large one on how it
# trains. Both behave differently in training and in evaluation, so a model has two modes:
# `model.train()` and `model.eval()`.
#
# * **Dropout** (Srivastava et al., 2014) zeroes each unit with probability $p$ during training,
#   so the network cannot rely on any single unit: a regulariser against overfitting.
# * **Batch normalisation** (Ioffe & Szegedy, 2015) standardises each unit over the minibatch,
#   then scales and shifts it by learned $\gamma, \beta$: every layer sees inputs of a steady
#   scale, which makes deep networks far easier to train.

# %%
import numpy as np
import matplotlib.pyplot as plt

from dp import Node
from dp.data import make_moons, train_test_split
from dp.exercises import check, exercise
from dp.exercises.course import plot_curves, plot_decision
from dp.nn import (Adam, BatchNorm, Dropout, Linear, SGD_Momentum, Sequential, binary_cross_entropy,
                   binary_cross_entropy_with_logits, init, relu, sigmoid)

# %% [markdown]
# ## Dropout
#
# In training, each element of the input is kept where a random mask `keep` is True (with
# probability $1 - p$) and zeroed elsewhere. The kept ones are multiplied by $1/(1 - p)$
# ("inverted dropout"), so the *expected* output equals the input and evaluation needs no
# correction: in `eval()` mode the layer does nothing. The gradient flows through the same mask.
#
# **Exercise 2.4.** Write dropout for a Node `x`, a boolean array `keep` and the probability `p`.
# Use Node operations (`*`, `/`), so that dp differentiates it; the check compares the output and
# the gradient.

# %%
@exercise("part2.dropout")
def dropout(x, keep, p):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.dropout", dropout)

# %% [markdown]
# The scaling keeps the mean: over many masks, the average output is the input.

# %%
rng = np.random.default_rng(0)
x = Node(np.array([1.0, 2.0, 3.0]))
outputs = [dropout(x, rng.random(3) >= 0.5, 0.5).value for _ in range(10_000)]
print("mean over 10 000 masks:", np.mean(outputs, axis=0).round(2))

# %% [markdown]
# ### Dropout against overfitting
#
# A network with two hidden layers of 256 ReLUs has far more weights than the 60 noisy training
# points below; trained long enough, it fits them all, noise included. We train it with and
# without dropout ($p = 0.5$ after each hidden layer), from the same initial weights, with Adam,
# and measure the accuracy on 150 held-out points every 200 steps.

# %%
x, y = make_moons(n=300, noise=0.35, rng=1)
(x_train, y_train), (x_test, y_test) = train_test_split(x, y, test_fraction=0.5, rng=0)
x_train, y_train = x_train[:60], y_train[:60]


def moons_network(p):
    rng = np.random.default_rng(0)
    layers = [Linear(2, 256, rng=rng, activation=relu), Dropout(p, rng=1),
              Linear(256, 256, rng=rng, activation=relu), Dropout(p, rng=2), Linear(256, 1, rng=rng)]
    return Sequential(layers, loss=lambda out, y: binary_cross_entropy_with_logits(out, y.reshape(-1, 1)))


def accuracy(model, x, y):
    model.eval()   # dropout off
    return float(((model(x).value[:, 0] > 0) == y).mean())


histories, models = {}, {}
for p in (0.0, 0.5):
    model = moons_network(p)
    optimizer = Adam(model, x_train, y_train, learning_rate=3e-3)
    history = []
    for _ in range(10):
        optimizer.train(steps=200, print_each=None, progress=False)   # trains in train() mode
        history.append(accuracy(model, x_test, y_test))
    label = "with dropout 0.5" if p else "without dropout"
    histories[label], models[label] = history, model
    print(f"{label}: training accuracy {accuracy(model, x_train, y_train):.0%}, test accuracy {history[-1]:.0%}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
for ax, (label, model) in zip(axes, models.items()):
    plot_decision(lambda points: model(points).value[:, 0] > 0, x_train, y_train, ax=ax,
                  title=f"{label}: the 60 training points")
for label, history in histories.items():
    axes[2].plot(np.arange(200, 2001, 200), history, "o-", label=label)
axes[2].set(xlabel="step", ylabel="test accuracy", title="accuracy on 150 held-out points")
axes[2].grid(alpha=0.3)
axes[2].legend()
plt.show()

# %% [markdown]
# Both networks end up fitting every training point, and both draw islands around single noisy
# points. Without dropout the held-out accuracy peaks early and then falls as the network learns
# the noise; dropout slows that down and ends higher. On a problem this small the size of the gain
# varies from seed to seed; dropout is a regulariser to add when a large network overfits, not a
# cure-all.
#
# ## Batch normalisation
#
# For a minibatch $X$ (rows are examples), per feature $j$:
#
# $$\mu_j = \frac1N \sum_n X_{nj}, \qquad \sigma^2_j = \frac1N \sum_n (X_{nj} - \mu_j)^2, \qquad
# Y_{nj} = \gamma_j \frac{X_{nj} - \mu_j}{\sqrt{\sigma^2_j + \epsilon}} + \beta_j .$$
#
# The variance is the *biased* one (divided by $N$). The gradient flows through $\mu$ and
# $\sigma^2$ too — every example's output depends on the whole batch — which is why writing it
# with Node operations is so much easier than deriving its backward pass by hand.
#
# **Exercise 2.5.** Write batch normalisation in training mode for Nodes `x` (N, features),
# `gamma` and `beta` (features,), with `.mean(axis=0)`, `*`, `/`, `.sqrt()`.

# %%
@exercise("part2.batchnorm")
def batchnorm(x, gamma, beta, eps):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.batchnorm", batchnorm)

# %% [markdown]
# dp's `BatchNorm` layer computes the same in training mode, and keeps running averages of $\mu$
# and $\sigma^2$ to use in evaluation mode, when there may be no batch to average over:

# %%
rng = np.random.default_rng(0)
batch = rng.normal(3.0, 2.0, size=(8, 4))
layer = BatchNorm(4)
print("same as dp.nn.BatchNorm:", np.allclose(layer(batch).value,
                                              batchnorm(Node(batch), layer.gamma, layer.beta, layer.eps).value))
print("running mean after one batch:", layer.running_mean.round(3), "(momentum 0.1 towards", batch.mean(0).round(3), ")")

# %% [markdown]
# ### Batch normalisation against vanishing gradients
#
# The sigmoid network of `21_activations_vanishing_gradients` — ten layers, sigmoid everywhere —
# did not learn at all. The same network with a `BatchNorm` after each hidden linear layer, same
# initial weights, same optimizer (SGD with momentum, minibatches of 64):

# %%
x, y = make_moons(n=500, noise=0.15, rng=0)
(x_train, y_train), (x_test, y_test) = train_test_split(x, y, test_fraction=0.2, rng=0)


def sigmoid_network(batch_norm):
    rng = np.random.default_rng(0)
    layers, n_in = [], 2
    for _ in range(9):
        layers.append(Linear(n_in, 16, init=init.xavier_normal, rng=rng))
        if batch_norm:
            layers.append(BatchNorm(16))
        layers.append(sigmoid)
        n_in = 16
    layers += [Linear(16, 1, init=init.xavier_normal, rng=rng), sigmoid]
    return Sequential(layers, loss=lambda out, y: binary_cross_entropy(out, y.reshape(-1, 1)))


curves = {}
for batch_norm in (False, True):
    model = sigmoid_network(batch_norm)
    _, losses, _ = SGD_Momentum(model, x_train, y_train, learning_rate=0.1, momentum=0.9, batch_size=64,
                                rng=0).train(steps=600, print_each=None, err_hist=True, progress=False)
    model.eval()
    test_accuracy = ((model(x_test).value[:, 0] > 0.5) == y_test).mean()
    label = "with BatchNorm" if batch_norm else "without"
    curves[f"{label}: test accuracy {test_accuracy:.0%}"] = np.convolve(losses, np.ones(20) / 20, mode="valid")
plot_curves(curves, title="ten sigmoid layers on the moons", ylabel="binary cross-entropy (running mean)")
plt.show()

# %% [markdown]
# Normalised, every sigmoid works near 0, where its slope is largest, instead of drifting into
# its flat tails; the gradient survives the ten layers and the network learns.
#
# ## Summary
#
# * Dropout: zero units at random in training, scale the rest by $1/(1-p)$; identity in
#   evaluation. A regulariser.
# * Batch normalisation: standardise each unit over the batch, then learn its scale and shift;
#   running statistics in evaluation. Deep networks train faster and more reliably.
# * Both need `model.train()` / `model.eval()`; dp's optimizers switch to training mode while
#   they train.
# * Next, `24_mnist`: the paper's network on real handwritten digits.
