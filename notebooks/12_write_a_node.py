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
# # Part 1.2 · Write a Node
#
# Time to build the library. In this notebook you write `MiniNode`, a reverse-mode engine in
# about forty lines, and run the DP paper's figure-1 example on it:
#
# $$C = A \odot B, \qquad D = \exp(C), \qquad E = \textstyle\sum_{ij} D_{ij},$$
#
# with $A$ a $2 \times 3$ matrix and $B$ a $1 \times 3$ row that NumPy *broadcasts* over the rows
# of $A$. You write the element-wise product, `exp`, `sum`, and the one function that makes
# broadcasting differentiable: `unbroadcast`. The checker compares your node with dp's.

# %%
import numpy as np

import dp
from dp import Node
from dp.exercises import check, exercise
from dp.exercises.course import show_definitions, show_graph

# %% [markdown]
# ## What a node holds
#
# A node holds its **value** (a NumPy array), an optional **name** (named leaves are the
# variables we want gradients for), its **parents** (the nodes it was computed from) and, for
# each parent, a **vector-Jacobian product** (vjp): a function that turns the gradient arriving
# at the node, $\bar v = \partial E / \partial v$, into that parent's share of the gradient. For
# $C = A \odot B$ the shares are $\bar C \odot B$ for $A$ and $\bar C \odot A$ for $B$ — the
# paper derives this from the Jacobian, which for an element-wise product is diagonal, so the
# matrix product collapses to an element-wise one.
#
# The paper's library wrote it like this (the backward pass is a recursion, `_set_grad`, started
# by every node on its parents):
#
# ```python
# def __mul__(self, other):
#     ...
#     ret = Node(self.value * other.value)
#     def grad(g):
#         g_total_self = g * other.value
#         g_total_other = g * self.value
#         x = Node._set_grad(self, g_total_self, other, g_total_other)
#         return x
#     ret.grad = grad
#     return ret
# ```
#
# We keep the two vjps, and leave the *order* of the backward pass to the engine, in one place.

# %% [markdown]
# ## Broadcasting and its gradient
#
# $A \odot B$ with $A$ of shape (2, 3) and $B$ of shape (1, 3) uses each element of $B$ twice,
# once per row. So the gradient of $B$ is the **sum** of the gradient over the rows: every copy
# of an element sends its gradient back to it. In general NumPy broadcasting (1) adds leading
# axes and (2) stretches axes of size 1; `unbroadcast(g, shape)` undoes both by summing $g$ over
# (1) the added leading axes and (2) the axes where `shape` has a 1 but $g$ does not.
#
# **Exercise 1.4.** Write `unbroadcast`. Examples: a gradient of shape (4, 2, 3) for an operand
# of shape (1, 3) sums over axis 0, then over the (now first) axis of size 2 keeping it as 1;
# for shape `()` (a number) it sums everything.

# %%
@exercise("part1.unbroadcast")
def unbroadcast(g, shape):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.unbroadcast", unbroadcast)

# %% [markdown]
# ## The engine
#
# The backward pass must visit a node only when *all* the gradient contributions for it have
# arrived: after every node computed from it. That is **reverse topological order**. Here we get
# a topological order by a depth-first walk that writes a node out after its parents (the next
# notebook, `13_topological_order`, shows why this simple recursion is not good enough for a
# real library, and fixes it).
#
# `grad(seed)` then walks the nodes from the output back, asks each node's vjps for its parents'
# shares, un-broadcasts each share to its parent's shape, and adds it to what the parent has
# already received. It returns the gradients of the named nodes, like dp's `grad`.

# %%
def topological_order(output):
    """Every node below `output`, each after its parents (recursive depth-first walk)."""
    order, visited = [], set()

    def visit(node):
        if node in visited:
            return
        visited.add(node)
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(output)
    return order


# %% [markdown]
# **Exercise 1.5.** The class below is complete except for three operations. `__add__` is the
# worked example: each operation computes its value and hands over its parents and their vjps.
# Write
#
# * `__mul__`: $\partial(ab)/\partial a = b$ and $\partial(ab)/\partial b = a$, element-wise;
# * `exp`: $\partial e^a / \partial a = e^a$ — reuse the output instead of recomputing it (see
#   the sketch below);
# * `sum(axis)`: each summed element gets the whole incoming gradient, so copy $g$ back over the
#   summed axis (`np.expand_dims`, then `np.broadcast_to`; with `axis=None` everything was summed).
#
# *Reusing the output* means computing it once, in a local variable, and letting the vjp use that
# variable. Here is the pattern for another operation, $\tanh$, whose derivative
# $1 - \tanh^2 a$ is written with its own output:
#
# ```python
# def tanh(self):
#     out = np.tanh(self.value)               # computed once, in the forward pass
#     return MiniNode(out, parents=(self,), vjps=(lambda g: g * (1 - out ** 2),))
# ```
#
# The `lambda` is a *closure*: it keeps the variable `out` of the call that made it, so the
# backward pass, which runs long after `tanh` has returned, still has it — and every node made by
# `tanh` keeps its own `out`. Note the `,` in `(lambda ...,)`: `vjps` is a tuple, one vjp per parent.
#
# Each vjp is a function of the gradient `g` arriving at the new node. Do not un-broadcast in
# the vjps: the engine does it once, for every operation.
#
# The three checks below each judge one operation: they run the backward pass with the
# reference engine (and the reference `unbroadcast`), so a mistake in your `unbroadcast` shows
# up in its own check above, not here. The figure-1 check at the end runs all of your code
# together, `grad` and `unbroadcast` included.

# %%
@exercise("part1.node_mul", "part1.node_exp", "part1.node_sum")
class MiniNode:
    def __init__(self, value, name=None, parents=(), vjps=()):
        self.value = np.asarray(value, dtype=float)
        self.name = name
        self.parents = parents   # the nodes this one was computed from
        self.vjps = vjps         # for each parent: gradient at this node -> the parent's share

    def __repr__(self):
        label = f", name={self.name!r}" if self.name else ""
        return f"MiniNode({np.array2string(self.value, separator=', ')}{label})"

    def _lift(self, other):
        return other if isinstance(other, MiniNode) else MiniNode(other)

    def __add__(self, other):
        """d(a + b)/da = 1, d(a + b)/db = 1."""
        other = self._lift(other)
        return MiniNode(self.value + other.value, parents=(self, other),
                        vjps=(lambda g: g, lambda g: g))

    def __mul__(self, other):
        other = self._lift(other)
        # YOUR CODE HERE
        raise NotImplementedError

    def exp(self):
        # YOUR CODE HERE
        raise NotImplementedError

    def sum(self, axis=None):
        # YOUR CODE HERE
        raise NotImplementedError

    def grad(self, seed=1.0):
        """dict name -> gradient of this node (seeded with `seed`) for every named node below it."""
        gradients = {self: np.broadcast_to(np.asarray(seed, dtype=float), self.value.shape)}
        named = {}
        for node in reversed(topological_order(self)):
            g = gradients.pop(node)
            if node.name is not None:
                named[node.name] = g
            for parent, vjp in zip(node.parents, node.vjps):
                share = unbroadcast(vjp(g), parent.value.shape)
                gradients[parent] = gradients[parent] + share if parent in gradients else share
        return named


# %%
check("part1.node_mul", MiniNode)

# %%
check("part1.node_exp", MiniNode)

# %%
check("part1.node_sum", MiniNode)

# %% [markdown]
# ## The paper's figure 1 on your node
#
# Everything together: broadcasting in the product, `exp`, the sum, and the engine. The paper
# prints the gradients rounded to two decimals:
#
# ```
# {"A": [[2.7, 14.78, 60.26], [7.39, 109.20, 1210.29]],
#  "B": [[17.50, 116.59, 826.94]]}
# ```

# %%
a = MiniNode([[1, 1, 1], [2, 2, 2]], "A")
b = MiniNode([[1, 2, 3]], "B")
e = (a * b).exp().sum()
mine = e.grad()
print("MiniNode:", {name: g.round(2).tolist() for name, g in sorted(mine.items())})

A = Node(np.array([[1, 1, 1], [2, 2, 2]]), "A")
B = Node(np.array([[1, 2, 3]]), "B")
E = (A * B).exp().sum()
theirs = E.grad(1)
print("dp:      ", {name: g.round(2).tolist() for name, g in sorted(theirs.items())})

check("part1.node_figure1", MiniNode)

# %% [markdown]
# This is the paper's figure 1, as dp draws it: two named leaves (blue), the broadcast product,
# `exp`, and the sum. After the backward pass, the gradient of each leaf has that leaf's own
# shape — (1, 3) for B, thanks to un-broadcasting.

# %%
show_graph(E, grads=theirs)

# %% [markdown]
# ## How dp does it: one table of operations
#
# Each of your operations is a method that computes a value and *closes over* its operands:
# `lambda g: g * other.value` remembers `other`. dp writes each operation once, as a
# **primitive**: the NumPy forward computation beside one VJP rule per operand, in a table that
# every part of dp reads. Here are your three operations as `src/dp/node.py` defines them:

# %%
show_definitions(dp.node, "multiply", "exp", "sum_")

# %% [markdown]
# Read them beside yours:
#
# * **The forward** is plain NumPy (`np.multiply`, `np.exp`, a sum), applied to the operands'
#   values.
# * **A VJP rule** is `(g, out, *operands, **params) -> the gradient for that operand`. The engine
#   passes it the gradient `g` arriving at the node, the node's output `out` and the operands
#   when the backward pass reaches the node, so nothing is captured in a closure: one rule serves
#   every node of its operation, and `exp` reuses its output as yours did. Parameters such as
#   `sum`'s `axis` arrive by keyword; `_keep_dims` puts the summed axes back as size 1, your
#   `np.expand_dims`. As in your engine, no rule un-broadcasts: the engine does it once
#   (`unbroadcast`), and it refuses a gradient of a shape that cannot be summed back.
# * **`tangent=`** says how *forward* mode gets the derivative from the same entry, without a
#   second rule: `"multilinear"` for the product (one operand replaced by its tangent at a time:
#   the product rule), `"elementwise"` for `exp` (its Jacobian is diagonal, so the VJP rule
#   applied to the tangent gives the tangent), `"linear"` for the sum (the sum of the tangents).
#
# One entry, three uses: applied to Nodes a primitive builds a node of the graph (reverse mode);
# applied to `dp.Dual`s it carries tangents (forward mode, the dual numbers of `10_dual_numbers`);
# applied to arrays it is just NumPy. `a * b`, `np.exp(a)` and `a.exp()` on Nodes all reach
# these same entries.

# %%
x = np.array([0.0, 1.0, 2.0])
v = np.array([1.0, 0.0, 2.0])
print(dp.node.exp(x))                                 # arrays: NumPy's exp
print(dp.node.exp(Node(x, "x")).grad(v)["x"])         # Nodes: reverse mode, the rule g * out with g = v
print(dp.node.exp(dp.Dual(x, v)).tangent)             # Duals: forward mode, the same rule on the tangent v
print(np.exp(Node(x, "x")).op, Node(x, "x").exp().op, (Node(x, "x") * 2).op)   # the same table entries

# %% [markdown]
# `src/dp/node.py` ends with a dozen such worked examples — `add`, `subtract`, `negative`,
# `multiply`, `divide`, `power`, `matmul`, `exp`, `log`, `tanh`, `sum`, `reshape`, `getitem`
# — each its forward value beside its derivative. The rest of the catalogue is written the same
# way in `src/dp/ops/`, one file per family (element-wise functions, reductions, shapes and
# indexing, products and linear algebra). In `15_your_own_operation` you add an operation of
# your own to the table.

# %% [markdown]
# ## Summary
#
# * A node = value + parents + one vjp per parent. Each operation states its derivative next to
#   its value; the engine does the rest.
# * dp states each operation once, as a primitive: NumPy forward, a VJP rule per operand that gets
#   (g, out, operands), and a word for forward mode. Nodes, Duals and arrays all use that entry.
# * Broadcasting is undone in one place, by summing the gradient over the axes it added or
#   stretched.
# * The engine visits nodes in reverse topological order, so each gradient is complete before it
#   is passed on. Next, `13_topological_order`: why that order, and how to get it for a graph of
#   100 000 nodes.
