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
# # Part 2.4 · The paper's MNIST network
#
# Everything together: the DP paper's network for handwritten digits — two ReLU layers of 500
# and 200 units and a linear output layer of 10, $784 \to 500 \to 200 \to 10$ — trained with Adam
# on the 8 000 training digits bundled with dp, and tested on the 2 000 held-out ones. We then
# look at what it gets wrong: a confusion matrix and the misclassified digits.

# %%
import time

import numpy as np
import matplotlib.pyplot as plt

from dp.data import load_mnist, minibatches
from dp.exercises import check, exercise
from dp.exercises.course import plot_confusion, plot_images
from dp.nn import Adam, Model, cross_entropy

x_train, y_train = load_mnist("train")   # (8000, 784) float32 in [0, 1], labels 0..9
x_test, y_test = load_mnist("test")      # (2000, 784), never used for training
print(x_train.shape, x_train.dtype, y_train[:10])
plot_images(x_train[:16], [str(label) for label in y_train[:16]])
plt.show()

# %% [markdown]
# ## The network
#
# As in the paper: a subclass of `Model` with its layers as attributes, `forward` and `loss`.
# The paper's `forward` ends in a softmax and its loss is $-\sum y \log p$ on one-hot labels.
# We return the raw scores (*logits*) instead and use `cross_entropy`, which applies a
# log-softmax inside: the same loss, but it can never take $\log 0$ when the network becomes very
# sure. `float32` halves the memory traffic and makes training about twice as fast.

# %%
class Network(Model):
    def __init__(self, seed=0):
        super().__init__(rng=seed, dtype=np.float32)
        self.h1 = self.ReLu_Layer(784, 500, "h1")
        self.h2 = self.ReLu_Layer(500, 200, "h2")
        self.h3 = self.Linear_Layer(200, 10, "h3")

    def forward(self, x):
        return self.h3(self.h2(self.h1(x)))   # logits; softmax(logits) are the probabilities

    def loss(self, x, y):
        return cross_entropy(self.forward(x), y)

    def predict(self, x):
        return self.forward(x).value.argmax(axis=1)


def accuracy(net, x, y):
    return float((net.predict(x) == y).mean())


net = Network()
print(net)
print(f"{sum(p.size for p in net.get_param().values()):,} parameters")

# %% [markdown]
# ## Training, the paper's way
#
# One line: an optimizer with the model and the data, and `train`. Each step takes the next
# minibatch of 128 digits from a shuffled pass over the training set.

# %%
start = time.perf_counter()
loss = Adam(net, x_train, y_train, learning_rate=1e-3, batch_size=128, rng=0).train(
    steps=1000, print_each=250, progress=False)
print(f"1000 steps in {time.perf_counter() - start:.1f} s; test accuracy {accuracy(net, x_test, y_test):.2%}")

# %% [markdown]
# ## A better run: a hand-written loop and a cheap augmentation
#
# The network soon knows the 8 000 training digits by heart (the training loss goes to almost
# zero) while the test accuracy stalls. A cheap remedy is **data augmentation**: shift each
# minibatch by up to one pixel, so the network never sees exactly the same image twice.
#
# That needs our own training loop, which the paper's API makes short: `get_grad` gives the
# gradients and the loss, the optimizer's `step` applies them. We train a fresh network for 2 500
# steps and measure the test accuracy every 250 steps.

# %%
def shifted(images, rng):
    """The batch's 28 x 28 images moved by -1, 0 or 1 pixel down and right (the borders are blank)."""
    shift = tuple(rng.integers(-1, 2, size=2))
    return np.roll(images.reshape(-1, 28, 28), shift, axis=(1, 2)).reshape(len(images), -1)


net = Network()
optimizer = Adam(learning_rate=1e-3)
rng = np.random.default_rng(0)
losses, test_curve = [], []
start = time.perf_counter()
while len(losses) < 2500:
    for x, y in minibatches(x_train, y_train, batch_size=128, rng=rng):   # one shuffled pass
        grads, loss = net.get_grad(shifted(x, rng), y)
        optimizer.step(net, grads)
        losses.append(loss)
        if len(losses) % 250 == 0:
            test_curve.append((len(losses), accuracy(net, x_test, y_test)))
        if len(losses) == 2500:
            break
print(f"2500 steps in {time.perf_counter() - start:.1f} s; test accuracy {test_curve[-1][1]:.2%}")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
left.semilogy(losses, alpha=0.3, linewidth=0.5)
left.semilogy(np.arange(49, len(losses)), np.convolve(losses, np.ones(50) / 50, mode="valid"))
left.set(xlabel="step", ylabel="cross-entropy", title="training loss (each batch, and mean of 50)")
right.plot(*zip(*test_curve), "o-", color="C2")
right.set(xlabel="step", ylabel="accuracy", title="accuracy on the 2 000 held-out digits")
for ax in (left, right):
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# About 97.5% of the held-out digits right, after some 15 seconds of training on one CPU core.
# (With the full MNIST training set of 60 000 digits the same network reaches about 98%.)
#
# ## What does it get wrong?
#
# A **confusion matrix** counts, for each true class (row) and each predicted class (column), how
# many test digits fall there; the diagonal holds the correct ones.
#
# **Exercise 2.6.** Write `confusion_matrix(y_true, y_pred, n_classes)`: an integer array of shape
# `(n_classes, n_classes)` with `counts[i, j]` = the number of examples of class `i` predicted as
# `j`. (Hint: `np.add.at`, or a loop.)

# %%
@exercise("part2.confusion_matrix")
def confusion_matrix(y_true, y_pred, n_classes):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.confusion_matrix", confusion_matrix)

# %%
predicted = net.predict(x_test)
counts = confusion_matrix(y_test, predicted, 10)
plot_confusion(counts, title=f"test digits: {np.trace(counts)} of {counts.sum()} right")
plt.show()
off_diagonal = counts - np.diag(np.diag(counts))
true_class, predicted_class = np.unravel_index(off_diagonal.argmax(), counts.shape)
print(f"most frequent mistake: {true_class} read as {predicted_class} ({off_diagonal.max()} times)")

# %% [markdown]
# The misclassified digits, with the true label, the prediction and the network's probability for
# it. Many are hard for people too.

# %%
probabilities = net.forward(x_test).softmax().value
wrong = np.flatnonzero(predicted != y_test)[:24]
plot_images(x_test[wrong], [f"{y_test[i]} → {predicted[i]} ({probabilities[i, predicted[i]]:.0%})" for i in wrong])
plt.show()

# %% [markdown]
# ## Saving the trained network
#
# `save` writes the parameters to a NumPy `.npz` file; `load` reads them into a network of the
# same shape (and never unpickles, so loading a file cannot run code).

# %%
net.save("mnist_network.npz")
copy = Network(seed=1).load("mnist_network.npz")
print(f"the reloaded network: test accuracy {accuracy(copy, x_test, y_test):.2%}")

# %% [markdown]
# ## Summary
#
# * The paper's API: a `Model` subclass, an optimizer, `train` — or a loop over `get_grad` and
#   `step` when you want control.
# * On the 8 000 bundled digits the paper's network reaches about 96% plainly, and about 97.5%
#   with one-pixel shifts as augmentation.
# * A confusion matrix and the misclassified examples show *what* the network gets wrong.
# * Next, `25_convolution`: convolution from elementary operations, and a convolutional network
#   that beats this one.
