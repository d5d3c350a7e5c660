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
# # Part 1.4 · Forward against reverse mode: what a Jacobian costs
#
# For $f: \mathbb{R}^n \to \mathbb{R}^m$ the Jacobian $J$ is an $m \times n$ matrix.
#
# * **Forward mode** computes $J\dot v$, one *column* $J e_j$ per pass: $n$ passes.
# * **Reverse mode** computes $\bar u^T J$, one *row* $e_i^T J$ per pass: $m$ passes.
#
# A pass of either kind costs a small constant times one evaluation of $f$. So forward mode wins
# for **tall** functions (few inputs, many outputs) and reverse mode for **wide** ones (many
# inputs, few outputs) — such as a loss, with millions of inputs and one output. You write both
# Jacobians, then time them.

# %%
import numpy as np
import matplotlib.pyplot as plt

import dp
from dp import Dual, Node  # noqa: F401  (for your two functions below)
from dp.exercises import check, exercise
from dp.exercises.course import best_time

# %% [markdown]
# ## Two ways to build a Jacobian
#
# **Exercise 1.7.** Row by row: build the graph once with `out = f(Node(x, "x"))`, then run one
# backward pass per output, seeded with the unit vector $e_i$ (`out.grad(seed)["x"]` is the row
# $e_i^T J$). Stack the rows into an $m \times n$ array.
#
# **Exercise 1.8.** Column by column: one forward pass per input, `f(Dual(x, e_j)).tangent` is the
# column $J e_j$. Stack the columns (`np.stack(columns, axis=1)`).
#
# The functions `f` the checker uses are written with NumPy operations (`A @ x`, `np.tanh`,
# `np.sin`, `.sum()`), which work on arrays, on dp's Nodes and on dp's Duals alike.

# %%
@exercise("part1.jacobian_reverse")
def jacobian_reverse(f, x):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.jacobian_reverse", jacobian_reverse)

# %%
@exercise("part1.jacobian_forward")
def jacobian_forward(f, x):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.jacobian_forward", jacobian_forward)

# %% [markdown]
# Both agree with dp's `dp.jacobian(f, mode=...)`:

# %%
A = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
f = lambda x: np.tanh(A @ x)
x = np.array([0.1, -0.2, 0.3])
print(jacobian_reverse(f, x))
print(np.allclose(jacobian_reverse(f, x), dp.jacobian(f, mode="reverse")(x)),
      np.allclose(jacobian_forward(f, x), dp.jacobian(f, mode="forward")(x)))

# %% [markdown]
# ## Timing wide and tall functions
#
# Two families of the same cost per evaluation, built from a fixed random matrix:
#
# * **wide**: $f(x) = \sum \tanh(W x)$, $\mathbb{R}^n \to \mathbb{R}$ (a loss);
# * **tall**: $f(x) = \tanh(W x)$ for $x \in \mathbb{R}$, $\mathbb{R} \to \mathbb{R}^m$ (a curve).
#
# We time both Jacobians with your two functions as $n$ (or $m$) grows.

# %%
rng = np.random.default_rng(0)
sizes = [1, 4, 16, 64, 256]
times = {"wide, forward": [], "wide, reverse": [], "tall, forward": [], "tall, reverse": []}
for size in sizes:
    W_wide = rng.normal(size=(32, size)) / np.sqrt(size)
    W_tall = rng.normal(size=(size, 1))
    wide = lambda x: np.tanh(W_wide @ x).sum(keepdims=True)   # one output
    tall = lambda x: np.tanh(W_tall @ x)                       # one input, `size` outputs
    x_wide, x_tall = rng.normal(size=size), rng.normal(size=1)
    times["wide, forward"].append(best_time(lambda: jacobian_forward(wide, x_wide), repeat=3))
    times["wide, reverse"].append(best_time(lambda: jacobian_reverse(wide, x_wide), repeat=3))
    times["tall, forward"].append(best_time(lambda: jacobian_forward(tall, x_tall), repeat=3))
    times["tall, reverse"].append(best_time(lambda: jacobian_reverse(tall, x_tall), repeat=3))

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, kind, label in [(left, "wide", "inputs n (one output)"), (right, "tall", "outputs m (one input)")]:
    for mode in ("forward", "reverse"):
        ax.loglog(sizes, np.array(times[f"{kind}, {mode}"]) * 1e3, "o-", label=f"{mode} mode")
    ax.set(xlabel=label, title=f"{kind} function", ylabel="time for the whole Jacobian (ms)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
plt.show()
for kind, fast, slow in [("wide", "reverse", "forward"), ("tall", "forward", "reverse")]:
    ratio = times[f"{kind}, {slow}"][-1] / times[f"{kind}, {fast}"][-1]
    print(f"{kind} function of size {sizes[-1]}: {fast} mode is {ratio:.0f} times as fast as {slow} mode")

# %% [markdown]
# The time of the mode that needs one pass stays flat; the other grows linearly with the number
# of passes. That is the whole argument for backpropagation: a network's loss is a wide function
# of its weights, so reverse mode gets all the millions of partial derivatives for the price of
# a few forward passes, where forward mode would need one pass per weight.
#
# Reverse mode pays in **memory**: it stores every intermediate value of the forward pass, to use
# it in the backward pass. Forward mode stores nothing but the current dual numbers. For
# Jacobian-vector products, Hessian-vector products, or functions with few inputs, forward mode
# is the better tool; dp has both (`dp.jvp`, `dp.vjp`, `dp.jacobian(f, mode=...)`,
# `dp.hessian`).
#
# ## Summary
#
# * Jacobian of $f: \mathbb{R}^n \to \mathbb{R}^m$: forward mode $n$ passes (columns), reverse
#   mode $m$ passes (rows).
# * Training needs the gradient of one number with respect to everything: reverse mode.
# * Next, `15_your_own_operation`: add an operation of your own to dp, with its derivative rule,
#   and check it in both modes.
