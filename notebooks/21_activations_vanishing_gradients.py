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
# # Part 2.1 · Activation functions and the vanishing gradient
#
# This is the DP paper's sample exercise. A deep network of ten layers,
# $H^{(l+1)} = \mathrm{act}(H^{(l)} W^{(l)} + b^{(l)})$, classifies points into two classes; its
# last layer is the logistic function $\sigma$, so its output $O$ is the probability of class 1,
# and it is trained on the binary cross-entropy
#
# $$\mathrm{loss}(\theta) = -\big(Y \log O + (1 - Y) \log(1 - O)\big).$$
#
# By the chain rule the gradient for the first layer is a product of ten layers' local
# derivatives. The derivative of $\sigma$ is at most $\frac14$, so with $\sigma$ in every hidden
# layer that product shrinks like $(\frac14)^l$: the first layers hardly learn. tanh's derivative
# is at most 1, ReLU's is 0 or 1.
#
# The exercise: (a) build the network with dp, (b) train and validate it with different
# activation functions, (c) plot the sum of the absolute values of the gradients of each layer's
# weights.

# %%
import numpy as np
import matplotlib.pyplot as plt

from dp import Node
from dp.data import make_moons, train_test_split
from dp.exercises import check, exercise
from dp.exercises.course import plot_bars, plot_curves, plot_decision
from dp.nn import SGD_Momentum, Linear, Model, binary_cross_entropy, init

# %% [markdown]
# ## The three activation functions and their derivatives
#
# We let dp differentiate them: the gradient of `f(z).sum()` with respect to `z` is $f'(z)$ at
# every point.

# %%
activations = {"sigmoid": Node.sigmoid, "tanh": Node.tanh, "relu": Node.relu}
z = np.linspace(-5, 5, 401)
fig, axes = plt.subplots(1, 3, figsize=(11, 3), sharey=True)
for ax, (name, act) in zip(axes, activations.items()):
    node = Node(z, "z")
    out = act(node)
    ax.plot(z, out.value, label=name)
    ax.plot(z, out.sum().grad(1)["z"], label=f"{name}'")
    ax.set(title=name, ylim=(-1.2, 1.6))
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()

# %% [markdown]
# ## (a) The network
#
# **Exercise 2.2.** Write the forward pass for lists of weight and bias Nodes (`weights[l]` of
# shape $(n_l, n_{l+1})$, `biases[l]` of shape $(n_{l+1},)$), rows of inputs `x`, and an
# activation function (a function of a Node, such as `Node.tanh`): the activation after every
# layer but the last, $\sigma$ (`.sigmoid()`) after the last. The check compares your output and
# the gradients of every weight with the reference, for networks of 2 to 10 layers.

# %%
@exercise("part2.deep_forward")
def deep_forward(x, weights, biases, activation):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.deep_forward", deep_forward)

# %% [markdown]
# Wrapped in the paper's `Model`, with ten `Linear` layers as its parameters (Xavier
# initialisation for sigmoid and tanh, He for ReLU, as in the previous notebook):

# %%
class DeepNetwork(Model):
    def __init__(self, activation, depth=10, width=16, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        scheme = init.he_normal if activation is Node.relu else init.xavier_normal
        sizes = [2] + [width] * (depth - 1) + [1]
        self.activation = activation
        self.layers = [Linear(n_in, n_out, f"h{l + 1}", init=scheme, rng=rng)
                       for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))]

    def forward(self, x):
        return deep_forward(Node(x), [layer.W for layer in self.layers], [layer.b for layer in self.layers],
                            self.activation)

    def loss(self, x, y):
        return binary_cross_entropy(self.forward(x), y.reshape(-1, 1))

    def accuracy(self, x, y):
        return float(((self.forward(x).value[:, 0] > 0.5) == y).mean())


x, y = make_moons(n=500, noise=0.15, rng=0)
(x_train, y_train), (x_test, y_test) = train_test_split(x, y, test_fraction=0.2, rng=0)
print(DeepNetwork(Node.tanh))

# %% [markdown]
# ## (c) The gradients, layer by layer
#
# At the start of training, for each activation function: the sum of the absolute values of the
# gradient of each layer's weight matrix, $\sum_{ij} |\partial\,\mathrm{loss} / \partial W^{(l)}_{ij}|$.
# The scale is logarithmic.

# %%
def gradient_sums(model):
    grads, _ = model.get_grad(x_train, y_train)
    return [np.abs(grads[f"h{l}.W"]).sum() for l in range(1, 11)]


sums = {name: gradient_sums(DeepNetwork(act)) for name, act in activations.items()}
plot_bars(sums, [f"W{l}" for l in range(1, 11)], log_y=True, ylabel="sum of |gradient|",
          title="gradient of each layer's weights at initialisation")
plt.show()
for name, values in sums.items():
    print(f"{name:>7}: first layer / last layer = {values[0] / values[-1]:.1e}")

# %% [markdown]
# With the sigmoid the gradient shrinks by a factor of roughly four to ten with every layer
# further from the output: the first layers get a millionth of what the last one gets. tanh and
# ReLU keep it within an order of magnitude.
#
# ## (b) Training and validation
#
# The same optimizer for all three (SGD with momentum, 600 steps on the 400 training points), and
# the accuracy on the 100 held-out points.

# %%
curves, models = {}, {}
for name, act in activations.items():
    model = DeepNetwork(act)
    _, losses, _ = SGD_Momentum(model, x_train, y_train, learning_rate=0.05, momentum=0.9).train(
        steps=600, print_each=None, err_hist=True, progress=False)
    models[name] = model
    curves[f"{name}: test accuracy {model.accuracy(x_test, y_test):.0%}"] = losses
plot_curves(curves, title="ten layers on the two moons", ylabel="binary cross-entropy", log_y=True)
plt.show()

# %% [markdown]
# What each network learned, on the test points:

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
for ax, (name, model) in zip(axes, models.items()):
    plot_decision(lambda points: model.forward(points).value[:, 0] > 0.5, x_test, y_test, ax=ax,
                  title=f"{name}: {model.accuracy(x_test, y_test):.0%}")
plt.show()

# %% [markdown]
# The sigmoid network barely moves away from the loss of guessing, $\ln 2 \approx 0.69$: its
# first layers receive almost no gradient, so it is stuck with the random features they compute.
# tanh and ReLU learn the moons.
#
# ## Summary
#
# * Backpropagation multiplies local derivatives layer by layer; if they are small (σ' ≤ 1/4) the
#   gradient vanishes exponentially with depth.
# * tanh (derivative up to 1, and zero-centred) and ReLU (0 or 1) keep the gradient alive; the
#   sigmoid belongs at the output of a binary classifier, not in hidden layers.
# * ReLU's derivative is 0 for negative inputs: a unit that is negative for every input is "dead".
#   `Node.leaky_relu` keeps a small slope there.
# * Next, `22_optimizers`: better update rules than plain gradient descent.
