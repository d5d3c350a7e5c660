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
# # Part 1.5 · Your own operation
#
# dp differentiates NumPy code because every operation it knows is a **primitive**: an entry in
# one table that holds the operation's NumPy forward computation and, beside it, the rule for its
# derivative — the DP paper's idea of stating each derivative next to its value, written once.
# `12_write_a_node` showed dp's `multiply`, `exp` and `sum`. The table is open: `dp.primitive`
# adds an entry, and the new operation then works in reverse mode, in forward mode and for
# higher derivatives, like dp's own.
#
# In this notebook you add two operations and check each with `dp.gradcheck`:
#
# 1. $\log(1 + x)$, element-wise: one rule serves both modes;
# 2. a cumulative sum, which is not element-wise: a rule for reverse mode only;
# 3. then two wrong rules, one refused by the engine and one caught by `gradcheck`;
# 4. and second derivatives through your operations, which cost nothing more.

# %%
import numpy as np

import dp
from dp import Dual, Node
from dp.exercises import check, exercise

# %% [markdown]
# ## 1. An element-wise operation: log1p
#
# For small $x$, `np.log(1 + x)` loses digits: $1 + x$ is rounded to float64 before the logarithm
# sees it. `np.log1p(x)` computes $\log(1 + x)$ without forming $1 + x$. That is one reason to make
# an operation a primitive rather than a composite of others: its forward can be NumPy's best.

# %%
x = 1e-10
print(np.log(1 + x), np.log1p(x), "(the true value is 9.9999999995e-11)")

# %% [markdown]
# `dp.primitive(name, forward, vjp=rule, tangent=...)` makes an operation from
#
# * `forward`: NumPy code that computes the value from plain arrays, here `np.log1p`;
# * `vjp`: one rule per operand, `rule(g, out, x)`, returning the gradient for `x`. `g` is the
#   gradient arriving at the output, $\bar y = \partial L / \partial y$ (it has the output's
#   shape), `out` is the output $y$, and `x` the operand. For an element-wise $y = f(x)$ the rule
#   is $\bar x = \bar y \, f'(x)$, element by element: dp's `exp` has `lambda g, out, x: g * out`;
# * `tangent`: how forward mode gets the derivative (next section).
#
# **Exercise 1.9.** Write the VJP rule of $\log(1 + x)$, whose derivative is $1 / (1 + x)$. Careful:
# `out` is $\log(1 + x)$, not $x$. Use NumPy operations on `g`, `out` and `x` (no loops, no
# `np.asarray`): the check runs your rule on arrays, and on Nodes too (section 4 says why). It
# builds the primitive around your rule and compares, with dp's answers for `np.log(1 + x)`, the
# gradient for `x` seeded with `g` (reverse mode) and the tangent of the output for a tangent
# `dx` of `x` (forward mode).

# %%
@exercise("part1.log1p_vjp")
def log1p_vjp(g, out, x):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.log1p_vjp", log1p_vjp)

# %% [markdown]
# With the rule, the operation is one line. We call it `my_log1p`, to keep it apart from dp's own
# operations. It works on arrays, on Nodes and on Duals:

# %%
my_log1p = dp.primitive("my_log1p", np.log1p, vjp=log1p_vjp, tangent="elementwise")

x = np.array([0.0, 1.0, 3.0])
print(my_log1p(x))                                  # arrays: just np.log1p
print(my_log1p(Node(x, "x")).sum().grad(1)["x"])    # Nodes: reverse mode, 1 / (1 + x)
print(my_log1p(Dual(x, np.ones(3))).tangent)        # Duals: forward mode, the same numbers

# %% [markdown]
# ### Why forward mode comes for free
#
# The two modes multiply by the Jacobian $J$ from different sides: reverse mode computes
# $\bar x = J^T \bar y$ (a vector-Jacobian product), forward mode $\dot y = J \dot x$ (a
# Jacobian-vector product). For an element-wise function $y_i$ depends on $x_i$ alone, so $J$ is
# **diagonal**, $J = \mathrm{diag}(f'(x))$, and a diagonal matrix is its own transpose. Hence
#
# $$\dot y = J \dot x = J^T \dot x = \text{the VJP rule applied to } \dot x \text{ in the place of } \bar y .$$
#
# That is what `tangent="elementwise"` tells dp: the tangent of the output is `rule(dx, out, x)`.
# Your `g / (1 + x)` becomes $\dot x / (1 + x)$, the chain rule of `10_dual_numbers`. (With two
# operands, as in `divide`, each operand's rule is applied to its own tangent and the two shares
# are added.) For any other kind of function this would be wrong, as section 2 shows.
#
# `dp.gradcheck(f, x)` checks both modes against central differences,
# $(f(x + \epsilon e_i) - f(x - \epsilon e_i)) / 2\epsilon$, for every element of `x`: it returns
# `True`, or raises an AssertionError naming the mode, the element and both values.

# %%
dp.gradcheck(my_log1p, np.array([-0.5, 0.0, 0.5, 3.0]))

# %% [markdown]
# ## 2. Not element-wise: a cumulative sum
#
# The cumulative sum of a vector (`np.cumsum`) is $y_i = x_0 + x_1 + \dots + x_i$. Each $y_i$
# depends on many $x_j$, so the Jacobian is not diagonal: $J_{ij} = 1$ for $j \le i$, a lower
# triangle of ones. The VJP needs $J^T$, an *upper* triangle: $x_j$ takes part in every $y_i$ with
# $i \ge j$, so
#
# $$\bar x_j = \sum_{i \ge j} \bar y_i = \bar y_j + \bar y_{j+1} + \dots + \bar y_{n-1},$$
#
# a cumulative sum taken **from the end**. For $n = 3$:
# $\bar x = (\bar y_0 + \bar y_1 + \bar y_2,\ \bar y_1 + \bar y_2,\ \bar y_2)$.
#
# **Exercise 1.10.** Write that rule for a vector `x` (`g` has its shape). `np.flip` and
# `np.cumsum` are all you need; again no loops, so that the rule works on Nodes too.

# %%
@exercise("part1.cumulative_sum_vjp")
def cumulative_sum_vjp(g, out, x):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.cumulative_sum_vjp", cumulative_sum_vjp)

# %% [markdown]
# This time we give no `tangent`: the operation works in reverse mode only. `dp.gradcheck` with
# `modes="reverse"` checks reverse mode alone:

# %%
cumulative_sum = dp.primitive("cumulative_sum", np.cumsum, vjp=cumulative_sum_vjp)

v = np.array([1.0, -2.0, 3.0, 0.5])
print(cumulative_sum(v))
print(cumulative_sum(Node(v, "v")).grad(np.array([1.0, 0.0, 0.0, 2.0]))["v"])   # from the end: [3, 2, 2, 2]
dp.gradcheck(cumulative_sum, v, modes="reverse")

# %% [markdown]
# Forward mode refuses it plainly, and names the operation:

# %%
try:
    dp.jvp(cumulative_sum, v, np.ones(4))
except NotImplementedError as error:
    print("NotImplementedError:", error)

# %% [markdown]
# Could we write `tangent="elementwise"` and get forward mode anyway? No: dp would then apply
# $J^T$ where forward mode needs $J$ — a sum from the end where it needs one from the front.
# Reverse mode would still be right, so only a check of forward mode can catch the mistake, and
# `gradcheck` (both modes by default) does. (For a function with several outputs, `gradcheck`
# differentiates $\langle u, f(x) \rangle$ for a fixed random vector $u$, so that every output
# counts: the numbers it prints are derivatives of that.)

# %%
pretending = dp.primitive("cumulative_sum_elementwise", np.cumsum, vjp=cumulative_sum_vjp,
                          tangent="elementwise")
try:
    dp.gradcheck(pretending, v)
except AssertionError as error:
    print(error)

# %% [markdown]
# A cumulative sum happens to be **linear**, so `tangent="linear"` (the operation applied to the
# tangent) would be right; dp's own `np.cumsum` says so. For an operation that is neither
# element-wise nor linear, `tangent=` takes a rule of your own, `(dx, out, x) -> the output's
# tangent`. Until you write one, the operation is reverse-mode only, which is all training needs.
#
# ## 3. Wrong rules: the engine checks shapes, gradcheck checks numbers
#
# **A gradient of the wrong shape.** A rule must return a gradient of its operand's shape, or of
# a shape that sums back to it (broadcasting, undone by `unbroadcast`). Take a transpose whose
# rule forgets to transpose the gradient back: for a (2, 3) operand the output, and so `g`, is
# (3, 2). The engine checks every gradient a rule returns and refuses this one during the
# backward pass, naming the operation and both shapes:

# %%
my_transpose = dp.primitive("my_transpose", np.transpose, vjp=lambda g, out, x: g)   # should be g.T
m = Node(np.arange(6.0).reshape(2, 3), "m")
try:
    my_transpose(m).sum().grad(1)
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# Shapes are all the engine can check: a gradient with extra axes, or with more rows where the
# operand has one, is summed back as broadcasting requires, and a gradient of the right shape
# with wrong numbers looks like any other. **A wrong derivative** is what `gradcheck` is for. The
# usual mistake in the cumulative sum is to sum from the front — to apply $J$ where the rule
# needs $J^T$:

# %%
from_the_front = dp.primitive("cumulative_sum_from_the_front", np.cumsum, vjp=lambda g, out, x: np.cumsum(g))
try:
    dp.gradcheck(from_the_front, v, modes="reverse")
except AssertionError as error:
    print(error)

# %% [markdown]
# ## 4. Second derivatives for free
#
# Your rules are NumPy expressions of `g`, `out` and `x`, and NumPy functions work on Nodes. So
# when dp differentiates a gradient (`dp.grad(dp.grad(f))`, or `grad(seed, create_graph=True)`),
# it runs your rule on Nodes: `g / (1 + x)` then builds a graph of its own, which dp
# differentiates again. There is nothing more to write. The second derivative of $\log(1 + x)$ is
# $-1 / (1 + x)^2$, the third $2 / (1 + x)^3$:

# %%
second = dp.grad(dp.grad(my_log1p))
third = dp.grad(second)
print(second(1.0), "expected", -1 / 2 ** 2)
print(third(1.0), "expected", 2 / 2 ** 3)
dp.gradcheck(second, 1.0)   # gradcheck checks a derivative of derivatives too

# %% [markdown]
# The same holds for the cumulative sum, in reverse mode: there your rule runs dp's own `np.flip`
# and `np.cumsum` on Nodes. The function $f(x) = \frac12 \sum_i y_i^2$ of $y$ = `cumulative_sum(x)`
# has the Hessian $J^T J$, with $J$ the lower triangle of ones, and `dp.hessian` (reverse over
# reverse) finds it through your rule:

# %%
f = lambda x: (cumulative_sum(x) ** 2).sum() / 2
J = np.tril(np.ones((4, 4)))
print(dp.hessian(f)(v))
print("equal to J^T J:", np.allclose(dp.hessian(f)(v), J.T @ J))

# %% [markdown]
# ## Summary
#
# * An operation is a primitive, `dp.primitive(name, forward, vjp=rule, tangent=...)`, with one
#   rule `(g, out, x) -> the gradient for x` per operand; the engine un-broadcasts.
# * `tangent="elementwise"` reuses the VJP rule for forward mode, which is right exactly when the
#   Jacobian is diagonal. Without a tangent rule an operation is reverse-mode only, and forward
#   mode says so.
# * The engine refuses a gradient whose shape cannot be summed back to its operand's;
#   `dp.gradcheck` catches wrong numbers, in each mode you claim.
# * Rules written with NumPy functions work on Nodes, so higher derivatives come for free.
# * Next, `16_static_and_dynamic_graphs`: dp's graph recorded once and compiled to plain NumPy.
