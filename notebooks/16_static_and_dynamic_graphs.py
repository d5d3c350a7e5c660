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
# # Part 1.6 · Static and dynamic graphs
#
# The DP paper describes two kinds of library:
#
# * the **dynamic** graph, built anew by every run of the program, as the operations happen: what
#   dp (and PyTorch) do, and what you built in `12_write_a_node`;
# * the **static** graph, defined once, translated into code, then executed: what the lecture
#   slides end with — "after all layers added their elementary operations to the computation
#   graph, it can be compiled (and maybe some optimizations applied!)".
#
# `dp.trace(f, *example_args)` gives dp the static half. It runs `f` once on the example
# arguments, records every operation, and writes the forward pass and the backward pass as one
# plain NumPy function. Calling the result runs that function: no graph is built, no derivative
# rule is looked up. In this notebook you
#
# 1. trace the slides' example and read its code: the evaluation trace and the adjoint trace of
#    `11_reverse_mode_by_hand`, as a program;
# 2. write such a program yourself, for one layer of a network;
# 3. trace the paper's MNIST network, read its program, and time it against dynamic dp and
#    hand-written NumPy;
# 4. see when a static graph is **wrong**: when the program's control flow depends on the data.

# %%
import numpy as np

import dp
from dp import Node
from dp.data import load_mnist
from dp.exercises import check, exercise
from dp.exercises.course import best_time
from dp.nn import Adam, Model, cross_entropy

# %% [markdown]
# ## 1. The slides' example, traced
#
# $y = x_1 x_2 + \sin(x_1)$ at $(2, 3)$ once more. `f` takes the numbers and makes the named
# leaves itself; `dp.trace` calls it once and compiles what it did. `step.source` is the code it
# wrote:

# %%
def f(x1, x2):
    x1, x2 = Node(x1, "x1"), Node(x2, "x2")
    return x1 * x2 + np.sin(x1)


step = dp.trace(f, np.float64(2.0), np.float64(3.0))
print(step.source)

# %% [markdown]
# Read it against the slides' tables, which `explain()` prints for the dynamic graph:

# %%
print(f(2.0, 3.0).explain())

# %% [markdown]
# * The **forward** part is the evaluation trace, one line per operation — a *Wengert list*. The
#   inputs $v_0, v_1$ keep the names the graph gave them, `x1` and `x2`; $v_2, v_3, v_4$ are the
#   intermediate results.
# * The **backward** part is the adjoint trace as code: `v4_bar` is $\bar v_4 = \partial y /
#   \partial v_4 = 1$, and every later line is the chain rule for one operand of one operation.
#   `x1` feeds two operations, so two lines add into `x1_bar` (`=` then `+=`): the sum in
#   $\bar v_0 = \bar v_2 v_1 + \bar v_3 \cos v_0$. This program *is* reverse mode, with no graph
#   and no topological sort at run time: both were done once, at trace time.
#
# Calling the step runs that code and returns what `out = f(...); (out.value, out.grad(1))`
# would:

# %%
value, grads = step(np.float64(2.0), np.float64(3.0))
print(value, grads)
out = f(2.0, 3.0)
print(out.value, out.grad(1))

# %% [markdown]
# A program is made for the **shapes and dtypes** of the arguments, as `jax.jit` does: the step
# keeps one program per combination it has seen (`step.programs`). New numbers of the same kind
# reuse it; float32 numbers are another kind, and are traced again. (Python numbers, `2.0`
# rather than `np.float64(2.0)`, count as part of the program: each new one traces again. Pass
# arrays, or NumPy numbers.)

# %%
print(step(np.float64(1.0), np.float64(-1.0))[1], "programs:", len(step.programs))
print(step(np.float32(1.0), np.float32(-1.0))[1], "programs:", len(step.programs))

# %% [markdown]
# ## 2. Write the program yourself
#
# What `trace` writes is what you would write by hand if you wanted the fastest plain NumPy: the
# forward pass, keeping every intermediate the backward pass needs, then the adjoints in reverse
# order. Take one layer of a network with a squared error,
#
# $$L = \tfrac12 \sum_{i,j} \big(\tanh(x W + b) - t\big)_{ij}^2, \qquad x: (n, d),\ W: (d, k),\
# b: (k,),\ t: (n, k).$$
#
# **Exercise 1.11.** Write `one_layer_step(x, W, b, t)` in NumPy, returning
# `(L, {"W": dL/dW, "b": dL/db})`. Give the intermediates names, $v_0 = x W$, $v_1 = v_0 + b$,
# $v_2 = \tanh v_1$, $v_3 = v_2 - t$, then walk back: $\bar v_3 = v_3$; $\tanh' = 1 - \tanh^2$, and
# the forward pass has already computed $\tanh v_1$; $b$ was broadcast over the $n$ rows, so its
# gradient sums over them (`unbroadcast`, from `12_write_a_node`); and the gradient of a matrix
# product has the shape of its operand, $\bar W = x^T \bar v_0$. The checker compares yours with
# what `dp.trace` computes for the same function on random inputs.

# %%
@exercise("part1.one_layer_step")
def one_layer_step(x, W, b, t):
    # YOUR CODE HERE: the forward pass (v0 ... v3, L), then the backward pass (v3_bar ... W, b)
    raise NotImplementedError


check("part1.one_layer_step", one_layer_step)

# %% [markdown]
# Here is the program `trace` writes for it; compare it with yours. Only what a gradient needs is
# computed: `x` and `t` are not named leaves, so there is no line for their gradients.

# %%
def one_layer(x, W, b, t):
    W, b = Node(W, "W"), Node(b, "b")
    return 0.5 * ((np.tanh(x @ W + b) - t) ** 2).sum()


rng = np.random.default_rng(0)
x, W, b, t = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 2))
print(dp.trace(one_layer, x, W, b, t).source)

# %% [markdown]
# ## 3. The paper's MNIST network, traced
#
# The network of `24_mnist` — $784 \to 500 \to 200 \to 10$, ReLU, cross-entropy — and one batch
# of 128 bundled digits. Its loss is a method, `net.loss(x, y)`, which uses the model's
# parameters: leaves `f` *captures* rather than makes. That is all `trace` needs.

# %%
class Network(Model):
    def __init__(self, seed=0):
        super().__init__(rng=seed, dtype=np.float32)
        self.h1 = self.ReLu_Layer(784, 500, "h1")
        self.h2 = self.ReLu_Layer(500, 200, "h2")
        self.h3 = self.Linear_Layer(200, 10, "h3")

    def forward(self, x):
        return self.h3(self.h2(self.h1(x)))

    def loss(self, x, y):
        return cross_entropy(self.forward(x), y)


x_train, y_train = load_mnist("train")
x, y = x_train[:128], y_train[:128]
net = Network()
mnist_step = dp.trace(net.loss, x, y)
print(mnist_step.source)

# %% [markdown]
# The loss and all the gradients of a network of half a million parameters, in a page of NumPy:

# %%
def code_lines(text):
    """The lines of generated code that do something: no comments, no blank lines."""
    return [line for line in text.splitlines() if line.strip() and not line.strip().startswith(("#", "def "))]


forward, backward = mnist_step.source.split("# backward")
print(f"{len(code_lines(forward))} lines forward, {len(code_lines(backward))} lines backward (the return included)")
print("a gradient for the input images?", "x_bar" in mnist_step.source)

# %% [markdown]
# What to read in it:
#
# * **The parameters are read at each call** (`_leaf[...]`), not copied at trace time: an
#   optimizer that updates them in place between steps is seen by the next step.
# * **Each layer is three lines forward** (`@`, `+ b`, `np.maximum`), and backward one line per
#   operand: $\bar h = \bar z W^T$, $\bar W = h^T \bar z$, $\bar b$ summed over the batch,
#   ReLU's mask `(z > 0)` from the stored pre-activation.
# * **Work no gradient needs is dropped**: the images are not a parameter, so the first layer
#   has no $\bar x = \bar z W_1^T$, a product as large as the first layer's forward one: about a
#   quarter of the step's arithmetic, saved.
# * The operations without a readable template (here the log-softmax and the picking of each
#   row's label) are calls of dp's own rules, `_forward[...]` and `_vjp[...]`, by reference.
# * The program is also a memory plan: the arrays are allocated once, with the program, and a
#   line of the `out=` form writes into one of them (`_buf0`, ...), which is reused as soon as the
#   value in it is dead (`v7 = np.matmul(x, h1_W, out=_buf0)`, then `v8 = np.add(v7, h1_b,
#   out=_buf0)`); what the backward pass still needs stays. `mnist_step.buffers` lists the plan.
# * `np.copyto(_y_buffer, y)`: the labels reach the graph as an index (which row's entry each
#   example's loss takes), a view of the array seen at trace time; each call copies the new labels
#   into it.
#
# The traced step and dynamic dp agree, number for number:

# %%
value, grads = mnist_step(x, y)
dynamic_grads, dynamic_value = net.get_grad(x, y)
print("loss", value, dynamic_value)
print("largest difference in a gradient:", max(float(np.abs(grads[k] - dynamic_grads[k]).max()) for k in grads))

# %% [markdown]
# ### Against hand-written NumPy, and timed
#
# The best a person can write: the same forward and backward passes by hand (as in exercise
# 1.11, with the softmax cross-entropy's gradient $(\mathrm{softmax} - \text{one-hot}) / n$
# written out).

# %%
def numpy_step(x, y, p):
    """The MNIST network's loss and gradients, derived by hand."""
    z1 = x @ p["h1.W"] + p["h1.b"]
    h1 = np.maximum(z1, 0)
    z2 = h1 @ p["h2.W"] + p["h2.b"]
    h2 = np.maximum(z2, 0)
    logits = h2 @ p["h3.W"] + p["h3.b"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    loss = -log_p[rows, y].mean()
    d3 = np.exp(log_p)
    d3[rows, y] -= 1
    d3 /= len(y)
    d2 = (d3 @ p["h3.W"].T) * (z2 > 0)
    d1 = (d2 @ p["h2.W"].T) * (z1 > 0)
    return loss, {"h1.W": x.T @ d1, "h1.b": d1.sum(axis=0), "h2.W": h1.T @ d2, "h2.b": d2.sum(axis=0),
                  "h3.W": h2.T @ d3, "h3.b": d3.sum(axis=0)}


params = net.get_param()
hand_value, hand_grads = numpy_step(x, y, params)
print("loss", hand_value, "largest difference:",
      max(float(np.abs(hand_grads[k] - grads[k]).max()) for k in grads))

# %% [markdown]
# Now the time of one step (loss and all gradients), three ways. These are a demonstration on
# whatever machine runs the notebook, not a benchmark (`make bench` measures properly); expect
# numbers that differ from run to run.

# %%
def timings(name, dynamic, traced, by_hand):
    times = {"dynamic dp": best_time(dynamic, number=5), "traced dp": best_time(traced, number=5),
             "hand-written NumPy": best_time(by_hand, number=5)}
    print(name)
    for what, seconds in times.items():
        print(f"  {what:<19} {seconds * 1e6:10.1f} µs  ({seconds / times['hand-written NumPy']:.2f}x by hand)")


timings("MNIST network, batch of 128", lambda: net.get_grad(x, y), lambda: mnist_step(x, y),
        lambda: numpy_step(x, y, params))


def slides_by_hand(x1, x2):
    v2, v3 = x1 * x2, np.sin(x1)
    return v2 + v3, {"x1": x2 + np.cos(x1), "x2": x1}


a, b = np.float64(2.0), np.float64(3.0)
timings("the slides' example, two numbers", lambda: f(a, b).grad(1), lambda: step(a, b),
        lambda: slides_by_hand(a, b))

# %% [markdown]
# The two cases tell the two costs of a library apart:
#
# * On MNIST, almost all of the time is the matrix products, which all three run with the same
#   BLAS. Dynamic dp's bookkeeping — a Node per operation, a topological sort, a rule looked up
#   per operand — costs about a microsecond per operation: small beside the arithmetic, so the
#   three times are close.
# * On two numbers there is almost no arithmetic, and the bookkeeping is all there is: there the
#   traced step is several times faster than the dynamic graph. The hand-written function is
#   faster still: it returns two numbers, where the traced step is a general program that also
#   checks which program fits its arguments and finishes each gradient as `grad` does.
#
# That is the static graph's promise: pay for the graph once, at trace time, then run code that is
# as plain as a person would write it.
#
# Training through a traced step needs nothing more: the step reads the parameters' arrays as they
# are when it runs, and an optimizer updates them in place. Twenty Adam steps, traced and dynamic,
# from the same start:

# %%
traced_net, dynamic_net = Network(), Network()
traced_step = dp.trace(traced_net.loss, x, y)
traced_adam, dynamic_adam = Adam(learning_rate=1e-3), Adam(learning_rate=1e-3)
for i in range(20):
    batch = slice(128 * i, 128 * (i + 1))
    traced_loss, traced_grads = traced_step(x_train[batch], y_train[batch])
    traced_adam.step(traced_net, traced_grads)
    dynamic_grads, dynamic_loss = dynamic_net.get_grad(x_train[batch], y_train[batch])
    dynamic_adam.step(dynamic_net, dynamic_grads)
    if i % 5 == 4:
        print(f"step {i + 1:2}: traced loss {float(traced_loss):.6f}, dynamic loss {dynamic_loss:.6f}")

# %% [markdown]
# ## 4. When a static graph is wrong: control flow that depends on the data
#
# A trace records the operations `f` *did* on the example arguments — one path through its Python
# code. An `if` or a loop count that depends on the values is frozen at the branch the example
# took. Here `f` squares a vector whose sum is positive and negates one whose sum is not:

# %%
def branchy(x):
    x = Node(x, "x")
    if x.value.sum() > 0:         # Python control flow on the data
        return (x * x).sum()
    return (-x).sum()


branchy_step = dp.trace(branchy, np.array([1.0, 2.0]))      # traced on the positive branch
print(branchy_step.source)
negative = np.array([-1.0, -2.0])
print("traced: ", branchy_step(negative))
print("dynamic:", branchy(negative).value, branchy(negative).grad(1))

# %% [markdown]
# The traced step ran `x * x` on a vector that should have been negated, and said nothing: the
# program has no `if` in it to take the other way. The dynamic graph has no such problem — it is
# built anew on every call, by the Python code itself, so it follows every branch. That is why dp,
# like PyTorch, builds its graph dynamically, and why a trace is an optimisation you opt into.
#
# `dp.trace(f, ..., check=True)` guards against it: every call also runs `f` dynamically, compares
# the operations and the numbers, and raises an error where they differ. Use it while developing,
# then turn it off (it costs a dynamic run per call).

# %%
checked_step = dp.trace(branchy, np.array([1.0, 2.0]), check=True)
print(checked_step(np.array([3.0, -1.0])))    # the same branch: fine
try:
    checked_step(negative)
except RuntimeError as error:
    print("RuntimeError:", error)

# %% [markdown]
# Other things a trace freezes, for the same reason (the docstring of `dp.trace` lists them): a
# value `f` computes from an argument with plain NumPy before it reaches dp (`x.value`, as in
# the `if` above), and random numbers drawn inside `f`, such as a dropout mask.
#
# What a trace *can* follow is a choice made **per element by an operation**: `np.where(mask, a,
# b)` with a mask that compares Nodes. The comparison is recorded, so the program computes the
# mask again at each call (a line `mask = ...` in the source). Both branches are computed, and
# the mask picks.
#
# **Exercise 1.12.** The Huber loss is $\frac12 x^2$ where $|x| \le 1$ and $|x| - \frac12$
# elsewhere: a square near zero, a straight line beyond. Write `huber(x)`: make `x` a leaf named
# `"x"`, and return the sum of the Huber loss of its elements, **with no Python `if` on the
# data**. The check traces your function at one vector, `traced_at`, with `check=True`, then calls
# the step with another, `x`, whose first element lies on the other side of 1: only a program
# that chooses per call gets both right. (A mask made from `x.value`, plain NumPy, would be frozen
# too, so `trace` refuses it; compare Nodes: `abs(x) <= 1`.)

# %%
@exercise("part1.huber_traceable")
def huber(x):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.huber_traceable", huber)
huber_step = dp.trace(huber, np.array([0.5, -2.0]))
print(huber_step(np.array([3.0, 0.25])), "(the gradient of the Huber loss: x inside, ±1 outside)")

# %% [markdown]
# ## Summary
#
# * A **dynamic** graph is built by every run, so it follows any Python control flow; it pays
#   about a microsecond of bookkeeping per operation, every time.
# * A **static** graph is recorded once and compiled: `dp.trace(f, *example_args)` writes the
#   forward pass as a Wengert list and the backward pass as the adjoint program, one line of plain
#   NumPy per operation, dropping the work no gradient needs. It is what you would write by hand,
#   and it costs about what hand-written code costs.
# * A program is specialised to the shapes and dtypes of its arguments (a new kind is traced
#   again) and to the path `f` took: control flow that depends on the data is frozen, silently.
#   `check=True` catches it; `np.where` on compared Nodes chooses per call instead.
# * Next, `17_differentiable_programs`: loops that stop on the data, a simulation fitted by
#   gradient descent, and second derivatives, all differentiated through the dynamic graph.
