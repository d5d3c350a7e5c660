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
# # Part 1.3 · Topological order, and why recursion is not enough
#
# The backward pass may hand a node's gradient to its parents only once that gradient is
# *complete*: once every node computed from it has sent its share. Visiting the nodes in
# **reverse topological order** guarantees that. This notebook shows what goes wrong without that
# order — on **shared sub-expressions** and on **deep chains** — and has you write the order
# without recursion.

# %%
import sys
import time

import numpy as np
import matplotlib.pyplot as plt

import dp
from dp import Node
from dp.exercises import check, exercise, run_check
from dp.exercises.catalog import Vertex
from dp.exercises.course import show_graph, show_source

# %% [markdown]
# ## Shared sub-expressions: recursion along every path
#
# The paper's first library ran the backward pass as a recursion: each node, as soon as it
# receives a gradient, passes its parents their shares, and they pass theirs on at once. That
# gives the right answer — the chain rule sums over all paths from the output to a leaf — but
# it walks **every path** separately. In this graph each node uses the previous one twice:
#
# $$v_0 = x, \qquad v_{k+1} = v_k + v_k ,$$
#
# so there are $2^k$ paths from $v_k$ down to $x$, and the recursion visits $x$ that many times.

# %%
x = Node(1.0, "x")
y = x
for _ in range(3):
    y = y + y
show_graph(y)

# %%
def backward_along_paths(node, g, grads, visits):
    """The recursive backward pass: pass each share on immediately (dp's Node, vjps and all)."""
    visits[0] += 1
    if not node.parents:
        grads[node.name] = grads.get(node.name, 0) + g
        return
    values = [parent.value for parent in node.parents]
    for parent, vjp in zip(node.parents, node.vjps):
        if parent.requires_grad:
            backward_along_paths(parent, vjp(g, node.value, *values), grads, visits)


depths = range(1, 15)
path_visits, ordered_visits = [], []
for depth in depths:
    x = Node(1.0, "x")
    y = x
    for _ in range(depth):
        y = y + y
    grads, visits = {}, [0]
    backward_along_paths(y, 1.0, grads, visits)
    assert grads["x"] == y.grad(1)["x"] == 2 ** depth    # both right...
    path_visits.append(visits[0])
    ordered_visits.append(len(dp.topological_order(y)))  # ...but one visits each node once

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.semilogy(depths, path_visits, "o-", label="recursion along every path")
ax.semilogy(depths, ordered_visits, "o-", label="each node once, in topological order")
ax.set(xlabel="depth k of v_{k+1} = v_k + v_k", ylabel="node visits", title="Shared sub-expressions")
ax.grid(alpha=0.3, which="both")
ax.legend()
plt.show()
print(f"depth {depths[-1]}: {path_visits[-1]:,} visits along paths, {ordered_visits[-1]} in order")

# %% [markdown]
# Exponential: a chain of 60 such nodes has $2^{60} \approx 10^{18}$ paths — tens of thousands of
# years at a microsecond per visit. Real networks share sub-expressions everywhere (a weight matrix
# is used by every example of a batch; a hidden layer feeds the next layer *and* the regulariser).
# The cure is to wait until a node's gradient is complete — to visit it after every node computed
# from it.
#
# ## Deep chains: the limits of recursion
#
# The previous notebook found that order by a recursive depth-first walk. With a `visited` set it
# visits each node once — but every step down the graph is one Python call deeper, and Python
# allows only about a thousand nested calls (the *recursion limit*). A recurrent network unrolled
# over a long sequence, or a long iterative computation, is a chain of thousands of operations.

# %%
def topological_order_recursive(output):
    """Chapter 1.2's walk: correct, each node once, but one Python call per level of depth."""
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


print("Python's recursion limit here:", sys.getrecursionlimit())
chain = Vertex("v0")
for index in range(1, 20_001):
    chain = Vertex(f"v{index}", (chain,))
try:
    topological_order_recursive(chain)
except RecursionError as error:
    print("a chain of 20 001 vertices: RecursionError:", error)

# %% [markdown]
# Raising the limit (`sys.setrecursionlimit`) only moves the problem: past a point the
# interpreter's own stack overflows and Python crashes. The walk must keep its own stack.
#
# **Exercise 1.6.** Write `topological_order(output)` **without recursion**: return a list of
# every node `output` depends on (itself included), each after all its parents. A node has only
# one thing you may use, `node.parents`. One way: a depth-first walk with an explicit stack of
# `(node, parents_done)` pairs — push a node with `False`; when you pop it with `False`, push it
# again with `True` and push its parents; when you pop it with `True`, all its parents are
# already written out, so write it out. A set of visited nodes keeps shared nodes from being
# written twice.
#
# The check tries small random graphs with shared sub-expressions first, then a chain of about
# 3 000 vertices.

# %%
@exercise("part1.topological_order")
def topological_order(output):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.topological_order", topological_order)

# %% [markdown]
# Here is what the checker says about the recursive walk above — right on every small graph, but
# not on the deep chain:

# %%
print(run_check("part1.topological_order", topological_order_recursive))

# %% [markdown]
# Your function works on dp's nodes too (they have `parents`). On the chain of the first section,
# 16 levels deep, it visits each node once:

# %%
x = Node(1.0, "x")
y = x
for _ in range(16):
    y = y + y
order = topological_order(y)
print(len(order), "nodes; the output is last:", order[-1] is y, "; x is first:", order[0] is x)

# %% [markdown]
# ## How dp does it
#
# dp needs no search at all. Every node gets a number when it is created, from a counter that only
# goes up, and a node is always created *after* its parents. So sorting the nodes reached from the
# output by that number gives a topological order. A breadth-first walk finds the nodes (no
# recursion), the sort orders them, and each node is visited once.

# %%
show_source(dp.topological_order)

# %% [markdown]
# A chain of 100 000 operations is no problem. Multiplying by $1.00001$ a hundred thousand times
# multiplies by about $e$, so the derivative is about $e$:

# %%
x = Node(1.0, "x")
y = x
for _ in range(100_000):
    y = y * 1.00001
start = time.perf_counter()
grads = y.grad(1)
print(f"backward through 100 001 nodes: {time.perf_counter() - start:.2f} s; dy/dx = {grads['x']:.6f}, e = {np.e:.6f}")

# %% [markdown]
# ## Summary
#
# * The backward pass must visit each node after all the nodes computed from it: reverse
#   topological order. Then every node is visited once and every gradient is complete.
# * Recursing along paths is exponential on shared sub-expressions; a recursive walk, even with a
#   visited set, fails on deep graphs. Keep the stack yourself, or — as dp does — number the nodes
#   as they are created and sort.
# * Next, `14_forward_vs_reverse_cost`: what forward and reverse mode cost for whole Jacobians.
