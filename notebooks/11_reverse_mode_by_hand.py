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
# # Part 1.1 · Reverse mode by hand
#
# Forward mode pushes derivatives from the inputs to the output: one pass per input. Reverse mode
# pulls them from the output back to the inputs: **one pass for all inputs**. This notebook
# traces it step by step on the lecture slides' example
#
# $$y = x_1 x_2 + \sin(x_1) \quad\text{at}\quad x_1 = 2,\ x_2 = 3,$$
#
# then lets dp do the same, draws the graph it built, and checks our tables with dp's own.

# %%
import numpy as np

import dp
from dp import Node
from dp.exercises import check, exercise
from dp.exercises.course import show_graph

# %% [markdown]
# ## Step 1 and 2: the forward sweep
#
# Give every intermediate result a name. The inputs are $v_0 = x_1$ and $v_1 = x_2$; each
# elementary operation makes a new variable. This list — the **primal trace** — is the
# computational graph written as a program, in *topological order*: every variable comes after
# the ones it is computed from.

# %%
x1, x2 = 2.0, 3.0
v0, v1 = x1, x2
v2 = v0 * v1
v3 = np.sin(v0)
v4 = v2 + v3
y = v4
for name, value, how in [("v0", v0, "x1"), ("v1", v1, "x2"), ("v2", v2, "v0 · v1"),
                         ("v3", v3, "sin(v0)"), ("v4", v4, "v2 + v3"), ("y", y, "v4")]:
    print(f"{name:>3} = {how:<8} = {value:.4f}")

# %% [markdown]
# ## Step 3: the backward sweep
#
# Now we walk the trace **backwards**. For each variable $v$ we compute its *adjoint*
# $\bar v = \partial y / \partial v$, how much $y$ changes when $v$ does. We start with
# $\bar v_4 = \partial y / \partial y = 1$. A variable's adjoint is the sum, over every variable
# computed from it, of *that* variable's adjoint times the local derivative (the chain rule):
#
# $$\bar v_i = \sum_{j:\ v_i \to v_j} \bar v_j \,\frac{\partial v_j}{\partial v_i}.$$
#
# The local derivatives are simple: $\partial(v_2 + v_3)/\partial v_3 = 1$,
# $\partial(v_0 v_1)/\partial v_1 = v_0$, $\partial \sin(v_0)/\partial v_0 = \cos v_0$. Note that
# they need the values of the forward sweep: reverse mode **stores** the primal trace.

# %%
v4_bar = 1.0
v3_bar = v4_bar * 1.0                          # v4 = v2 + v3
v2_bar = v4_bar * 1.0                          # v4 = v2 + v3
v1_bar = v2_bar * v0                           # v2 = v0 * v1
v0_bar = v2_bar * v1 + v3_bar * np.cos(v0)     # v0 is used twice: by v2 and by v3
for name, value, how in [("v4_bar", v4_bar, "1"), ("v3_bar", v3_bar, "v4_bar · 1"),
                         ("v2_bar", v2_bar, "v4_bar · 1"), ("v1_bar", v1_bar, "v2_bar · v0"),
                         ("v0_bar", v0_bar, "v2_bar · v1 + v3_bar · cos(v0)")]:
    print(f"{name:>6} = {how:<30} = {value:.4f}")
print(f"\ndy/dx1 = {v0_bar:.4f} (the slides: 3 + cos 2 = 2.58), dy/dx2 = {v1_bar:.4f}")

# %% [markdown]
# $v_0$ feeds two operations, so two contributions arrive at $\bar v_0$ and are **added**. This
# is the whole of reverse mode: visit the operations backwards, multiply by local derivatives,
# add up what arrives at each variable.
#
# **Exercise 1.2.** Write the two sweeps as a function of any $x_1, x_2$, returning
# $(\partial y/\partial x_1, \partial y/\partial x_2)$. The checker compares your answer with
# dp's on random inputs.

# %%
@exercise("part1.reverse_by_hand")
def reverse_by_hand(x1, x2):
    # YOUR CODE HERE: the forward sweep (v0 ... v4), then the backward sweep (v4_bar ... v0_bar)
    raise NotImplementedError


check("part1.reverse_by_hand", reverse_by_hand)

# %% [markdown]
# ## The same with dp
#
# dp records the primal trace for you. Every `Node` remembers its value and the nodes it was
# computed from. Named leaves are the variables we want derivatives for; `grad(1)` runs the
# backward sweep, seeded with $\bar y = 1$, and returns the adjoints of the named leaves.

# %%
x1 = Node(2.0, "x1")
x2 = Node(3.0, "x2")
y = x1 * x2 + x1.sin()
grads = y.grad(1)
print(y)
print(grads)

# %% [markdown]
# Here is the graph dp built: the blue boxes are the named leaves, the ellipses the operations,
# with the shape of each value. Drawn after the backward pass, every node the gradient flowed
# through is green, and each leaf shows the shape of its gradient.

# %%
show_graph(y, grads=grads)

# %% [markdown]
# ## Check your table with `explain()`
#
# `y.explain()` reads the graph dp built and writes it out as the slides' two tables: the
# evaluation trace and the adjoint trace, each row with its formula and its number (in Jupyter
# with typeset maths). It numbers the variables as we did, inputs first, then one per operation.

# %%
table = y.explain()
table

# %% [markdown]
# Its numbers are dp's own (`table.values` and `table.derivatives`, by variable), so they can
# check the tables we wrote by hand in steps 1 to 3. If you change a line up there, say
# `v3 = np.cos(v0)`, and run again, the rows it affects say so.

# %%
by_hand = {"v0": (v0, v0_bar), "v1": (v1, v1_bar), "v2": (v2, v2_bar), "v3": (v3, v3_bar), "v4": (v4, v4_bar)}
for name, (value, adjoint) in by_hand.items():
    same = np.isclose(value, table.values[name]) and np.isclose(adjoint, table.derivatives[name])
    print(f"{name}: by hand {value:7.4f}, adjoint {adjoint:7.4f}   explain() {float(table.values[name]):7.4f}, "
          f"adjoint {float(table.derivatives[name]):7.4f}   {'✓ same' if same else '✗ differs'}")

# %% [markdown]
# Forward mode has its table too, in the project sheet's dot notation ($\dot v$, the derivative
# along the seeded direction). `dp.explain_forward` runs a function on Dual numbers, seeded as in
# `10_dual_numbers`: here $\dot x_1 = 1$, $\dot x_2 = 0$, so the last row is $\partial y /
# \partial x_1$ again, found by a forward pass this time.

# %%
print(dp.explain_forward(lambda x1, x2: x1 * x2 + np.sin(x1), dp.Dual(2.0, 1.0), dp.Dual(3.0, 0.0)))

# %% [markdown]
# ## One backward pass for all inputs
#
# In the previous notebook, forward mode needed five passes for the five partial derivatives of
# the sigmoid neuron $\sigma(a x + b y + c)$. Reverse mode needs one: after
# $\bar s = 1$ for the output $s = \sigma(z)$ comes $\bar z = \bar s\, \sigma(z)(1 - \sigma(z))$,
# and from $\bar z$ all five: $\bar a = \bar z x$, $\bar b = \bar z y$, $\bar c = \bar z$,
# $\bar x = \bar z a$, $\bar y = \bar z b$.
#
# **Exercise 1.3.** Write that backward sweep. Return the five derivatives in the order
# $(a, b, c, x, y)$.

# %%
@exercise("part1.neuron_by_hand")
def neuron_by_hand(a, b, c, x, y):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.neuron_by_hand", neuron_by_hand)
print("at the blog's point:", np.round(neuron_by_hand(1.0, 2.0, -3.0, -1.0, 3.0), 4))

# %% [markdown]
# dp's functional interface does the same for any Python function, as the blog's `gradBP` and
# HIPS autograd's `grad` do: `dp.grad(f)` returns a function that computes the gradient, and
# `dp.value_and_grad(f)` the value too (the blog's `evalBP` and `gradBP` in one).

# %%
def neuron(p):
    a, b, c, x, y = p
    return 1 / (1 + np.exp(-(a * x + b * y + c)))


value, gradient = dp.value_and_grad(neuron)(np.array([1.0, 2.0, -3.0, -1.0, 3.0]))
print(value, gradient)

# %% [markdown]
# ## Summary
#
# * Reverse mode runs the program forward once, storing every intermediate value, then walks it
#   backwards, multiplying by local derivatives and summing what arrives at each variable.
# * One backward pass gives the derivative of one output with respect to *all* inputs: exactly
#   what training needs (one loss, millions of weights).
# * What a library must do: record the graph, know each operation's local derivative, and visit
#   the nodes in reverse topological order. `explain()` prints dp's tables for any graph, to
#   check your own. Next, `12_write_a_node`: you build that library.
