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
# # Part 2.6 · Recurrent networks
#
# A sentence, a recording, a series of measurements: a *sequence* $x_1, \dots, x_T$. A recurrent
# layer reads it one step at a time and carries a state $h_t$ from each step to the next, with the
# same weights at every step. The lecture slides write the gate of a recurrent layer as
#
# $$g = x \cdot W_x + h_{t-1} \cdot W_h + b_g$$
#
# and add: "Somehow these are all multiplications and additions!" So dp needs nothing new. Run
# over a sequence, the layer *unrolls* into a deep network of $T$ layers that share their weights,
# and reverse mode on that graph — known here as *backpropagation through time* — gives every
# gradient. What is new is a problem: through many steps the gradient vanishes, and a plain
# recurrent network forgets. This chapter
#
# 1. unrolls a plain RNN and draws it;
# 2. has you write the LSTM cell from the slides' gate equation, checked against dp's own;
# 3. trains it on the *adding problem*, a task that cannot be solved without memory, where the
#    plain RNN fails;
# 4. plots why: the gradient that reaches each time step, for both networks.

# %%
import numpy as np

from dp import Node, stack
from dp.exercises import check, exercise
from dp.exercises.course import FAST, _pyplot
from dp.nn import LSTM, RNN, Adam, Linear, LSTMCell, Model, mse

plt = _pyplot()

# %% [markdown]
# ## The plain RNN, unrolled
#
# The simplest recurrent layer (Elman's) applies tanh to the gate, and its output is its state:
#
# $$h_t = \tanh(x_t \cdot W_x + h_{t-1} \cdot W_h + b), \qquad h_0 = 0 .$$
#
# With inputs of size $n$ and a state of size $H$, $W_x$ is $(n, H)$ and $W_h$ is $(H, H)$, in
# dp's layout (`docs/layers.md`: $x \cdot W$, batches first, sequences $(N, T, n)$). Unrolled over
# four steps, it is the graph below: each box is the same cell with the same $W_x, W_h, b$, and
# the loss is computed from the last state.

# %%
def draw_unrolled(steps=4, cell="RNN cell"):
    """The recurrent layer unrolled in time: one box per step, the state passed to the right."""
    fig, ax = plt.subplots(figsize=(9, 2.6))
    for t in range(1, steps + 1):
        ax.add_patch(plt.Rectangle((2 * t - 0.6, 0.6), 1.2, 0.8, facecolor="#cfe2f3", edgecolor="black"))
        ax.text(2 * t, 1.0, cell, ha="center", va="center", fontsize=9)
        ax.annotate("", (2 * t, 0.6), (2 * t, 0.0), arrowprops=dict(arrowstyle="->"))
        ax.text(2 * t, -0.15, f"$x_{t}$", ha="center", va="top")
        ax.annotate("", (2 * t - 0.6, 1.0), (2 * t - 1.4, 1.0), arrowprops=dict(arrowstyle="->"))
        ax.text(2 * t - 1.0, 1.1, f"$h_{t - 1}$", ha="center", va="bottom")
    ax.annotate("", (2 * steps + 1.6, 1.0), (2 * steps + 0.6, 1.0), arrowprops=dict(arrowstyle="->"))
    ax.text(2 * steps + 1.1, 1.1, f"$h_{steps}$", ha="center", va="bottom")
    ax.text(2 * steps + 1.75, 1.0, "→ loss", va="center")
    ax.text(steps + 1, 1.75, "the same $W_x$, $W_h$, $b$ in every box", ha="center", style="italic")
    ax.set(xlim=(0.6, 2 * steps + 2.8), ylim=(-0.6, 2.0))
    ax.axis("off")
    return ax


draw_unrolled()
plt.show()

# %% [markdown]
# dp's `RNN` is this loop over `RNNCell`. Because the weights are shared, each of them feeds every
# box; reverse mode sums the gradients that arrive at a node from all its uses, so the gradient of
# $W_h$ is the sum of its contributions from every step, without anyone writing that sum.

# %%
rnn = RNN(1, 3, rng=0)
outputs, h = rnn(np.ones((2, 4, 1)))          # 2 sequences of 4 steps, 1 number per step
print("parameters:", {name: node.shape for name, node in rnn.parameters().items()})
print("outputs", outputs.shape, "(the h of every step), final h", h.shape)
print("gradient of W_h:\n", h.sum().grad(1)["Wh"].round(4))

# %% [markdown]
# ## The LSTM cell
#
# The long short-term memory (Hochreiter & Schmidhuber, 1997; its forget gate is from Gers et al.,
# 2000) keeps a second state, the *cell* $c_t$, its memory. Four gates come out of **one** gate
# equation, side by side, each $H$ columns wide, in dp's (and PyTorch's) order i, f, g, o:
#
# $$[\,i \;|\; f \;|\; g \;|\; o\,] = x_t \cdot W_x + h_{t-1} \cdot W_h + b, \qquad
# W_x: (n, 4H),\; W_h: (H, 4H),\; b: (4H,)$$
#
# $$c_t = \sigma(f) \odot c_{t-1} + \sigma(i) \odot \tanh(g), \qquad h_t = \sigma(o) \odot \tanh(c_t).$$
#
# The sigmoids are switches between 0 and 1: the **i**nput gate lets the candidate $\tanh(g)$ in,
# the **f**orget gate keeps (near 1) or wipes (near 0) the old memory, the **o**utput gate says how
# much of the memory is shown as $h_t$. Why this helps is in one derivative: the memory is updated
# by *adding*, so along the memory path $\partial c_t / \partial c_{t-1} = \sigma(f)$,
# element-wise — no $W_h$, no $\tanh'$. Where the forget gate is open, the gradient flows back
# through time unchanged.
#
# Deriving the backward pass of this cell by hand takes pages: the DP paper points to Gers's
# thesis (2001, section 3.2.2) as its example of what researchers had to do with pen and paper
# before libraries like dp, and the lecture slides' recap lists "Struggled through Convolution
# and Recurrent Layers" and "Got frustrated about the annoying backward functions". Here you
# write only the forward equations; dp derives the rest.
#
# Here is the layout of one cell's weights: the four blocks of columns are four gates.

# %%
cell = LSTMCell(2, 6, rng=0)
fig, axes = plt.subplots(1, 2, figsize=(11, 2.8), gridspec_kw={"width_ratios": [1, 2]})
for ax, (name, weights) in zip(axes, [("W_x", cell.Wx.value), ("W_h", cell.Wh.value)]):
    ax.imshow(weights, cmap="RdBu", vmin=-0.5, vmax=0.5, aspect="auto")
    for k in range(1, 4):
        ax.axvline(6 * k - 0.5, color="black")
    ax.set_xticks([2.5, 8.5, 14.5, 20.5], ["i", "f", "g", "o"], fontsize=12)
    ax.set(title=f"${name}$: {weights.shape}", yticks=[])
plt.show()

# %% [markdown]
# **Exercise 2.10.** Write one LSTM step: from the input `x` (N, n), the state `h`, `c` (N, H)
# and the parameters `Wx`, `Wh`, `b`, return the new `(h, c)`. Compute the gate equation once,
# take the gates apart by slicing columns (`gates[:, :H]` is i; `H = Wh.shape[0]`), and use the
# Node methods `.sigmoid()` and `.tanh()`, `*` and `+`. The check calls your function with Nodes
# and compares $h'$, $c'$ and the gradients for all six arguments (of a weighted sum of $h'$ and
# $c'$, with random weights `seed_h`, `seed_c`) with dp's `LSTMCell` given the same Nodes.

# %%
@exercise("part2.lstm_step")
def lstm_step(x, h, c, Wx, Wh, b):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.lstm_step", lstm_step)

# %% [markdown]
# Your cell and dp's, side by side on a random batch: the same new state, the same gradients.

# %%
rng = np.random.default_rng(1)
x = Node(rng.normal(size=(5, 2)), "x")
h, c = Node(rng.normal(size=(5, 6)), "h"), Node(rng.normal(size=(5, 6)), "c")
yours, dps = lstm_step(x, h, c, cell.Wx, cell.Wh, cell.b), cell(x, (h, c))
for label, mine, theirs in zip(("h'", "c'"), yours, dps):
    print(f"{label}: largest difference {np.abs(mine.value - theirs.value).max():.1e}")
grads_yours = (yours[0].sum() + yours[1].sum()).grad(1)
grads_dp = (dps[0].sum() + dps[1].sum()).grad(1)
for name in ("x", "h", "c", "Wx", "Wh", "b"):
    print(f"d/d{name:<2}: largest difference {np.abs(grads_yours[name] - grads_dp[name]).max():.1e}")

# %% [markdown]
# **Exercise 2.11.** Run your cell over a sequence: for `x` (N, T, n), start from
# $h = c = 0$ (`np.zeros((N, H))`), take one `lstm_step` per time step (`x[:, t]` is step t's
# input, (N, n)), and return `(outputs, (h, c))`: the $h$ of every step stacked along axis 1,
# `stack(outputs, axis=1)` of shape (N, T, H), and the last state. This is dp's `LSTM` layer,
# which the check compares yours with, values and gradients.

# %%
@exercise("part2.lstm_sequence")
def lstm_sequence(x, Wx, Wh, b):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.lstm_sequence", lstm_sequence)

# %% [markdown]
# ## A task that needs memory: the adding problem
#
# The adding problem (Hochreiter & Schmidhuber, 1997) gives the network two numbers per time step:
# a value drawn uniformly from $[0, 1]$, and a marker that is 1 at exactly two steps — one in the
# first half of the sequence, one in the second — and 0 elsewhere. The target, given after the
# last step, is the sum of the two marked values. Over $T = 50$ steps the network has to notice
# the first marked value, keep it for up to 49 steps while ignoring everything else, and add the
# second.
#
# Two numbers to beat. Predicting the mean, 1, for every sequence gives a mean squared error of
# $\mathrm{Var}(u_1 + u_2) = 2 \cdot \frac{1}{12} = \frac16 \approx 0.167$. A network that
# remembers only the second marked value can predict $u_2 + \frac12$, with an error of
# $\frac{1}{12} \approx 0.083$. Below that, it must remember both.

# %%
T = 50


def adding_problem(n, steps=T, seed=0):
    """n sequences (n, steps, 2) of [value, marker], and their targets (n, 1)."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, (n, steps))
    markers = np.zeros((n, steps))
    rows = np.arange(n)
    markers[rows, rng.integers(0, steps // 2, n)] = 1
    markers[rows, rng.integers(steps // 2, steps, n)] = 1
    return np.stack([values, markers], axis=2), (values * markers).sum(axis=1, keepdims=True)


x_train, y_train = adding_problem(10_000, seed=0)
x_test, y_test = adding_problem(1000, seed=1)
baseline = float(np.mean((y_test - y_train.mean()) ** 2))
print(f"x_train {x_train.shape}, y_train {y_train.shape}; predicting the mean: MSE {baseline:.3f}")

fig, ax = plt.subplots(figsize=(9, 2.5))
marked = x_train[0, :, 1] == 1
ax.bar(np.arange(T), x_train[0, :, 0], color=np.where(marked, "tab:red", "lightgray"))
ax.axvline(T / 2 - 0.5, color="black", linestyle=":")
ax.set(xlabel="time step", ylabel="value",
       title=f"one sequence: the two marked values (red) add up to the target {y_train[0, 0]:.3f}")
plt.show()

# %% [markdown]
# The network: a recurrent layer of 32 units, then a `Linear` layer that reads the sum off the last
# state. The LSTM runs **your** `lstm_sequence` on the parameters of a dp `LSTM` layer (which only
# holds them, in the layout you used); the plain RNN is dp's `RNN`. Both train with Adam, in
# minibatches of 64, with the gradient's norm clipped to 1 — the usual guard against the
# opposite problem, gradients that *explode* through time. `compile=True` records the 50-step loop
# once with `dp.trace` and replays it as plain NumPy (`16_static_and_dynamic_graphs`).

# %%
HIDDEN = 32


class Adder(Model):
    def __init__(self, kind, hidden=HIDDEN, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.kind = kind
        self.recurrent = LSTM(2, hidden, rng=rng) if kind == "LSTM" else RNN(2, hidden, rng=rng)
        self.readout = Linear(hidden, 1, rng=rng)

    def forward(self, x):
        if self.kind == "LSTM":
            _, (h, _) = lstm_sequence(x, self.recurrent.Wx, self.recurrent.Wh, self.recurrent.b)
        else:
            _, h = self.recurrent(x)
        return self.readout(h)

    def loss(self, x, y):
        return mse(self.forward(x), y)


STEPS, EVERY = (100, 50) if FAST else (1200, 50)   # the tests train far less
models, curves = {}, {}
for kind in ("RNN", "LSTM"):
    model = models[kind] = Adder(kind)
    optimizer = Adam(model, x_train, y_train, learning_rate=1e-2, batch_size=64, clip_grad_norm=1.0,
                     rng=0, compile=True)
    history = [float(model.loss(x_test, y_test).value)]
    for _ in range(STEPS // EVERY):
        optimizer.train(steps=EVERY, print_each=None, progress=False)
        history.append(float(model.loss(x_test, y_test).value))
    curves[kind] = history
    print(f"{kind}: held-out MSE {history[-1]:.4f} after {STEPS} steps")

fig, ax = plt.subplots(figsize=(7, 4))
for kind, history in curves.items():
    ax.semilogy(np.arange(0, STEPS + 1, EVERY), history, label=kind)
ax.set(title=f"the adding problem, T = {T}", xlabel="training step", ylabel="held-out mean squared error")
ax.grid(alpha=0.3)
ax.axhline(baseline, color="gray", linestyle="--", label="predicting the mean")
ax.axhline(1 / 12, color="gray", linestyle=":", label="remembering one value")
ax.legend()
plt.show()
if not FAST:
    assert curves["LSTM"][-1] < 0.05 * baseline, "the LSTM should solve the adding problem"

# %% [markdown]
# For a few hundred steps both networks sit at the baseline. Then the LSTM finds the trick and its
# error falls by orders of magnitude, far below the baseline of 0.167; the plain RNN, trained the
# same way on the same data, stays where it started. It never even learns to remember the second
# value, although that value is at most 25 steps away.
#
# ## Why: the gradient through time
#
# To learn that the first marked value matters, the network needs a gradient that reaches back
# from the loss to that step. We measure it directly: make the inputs a named Node, and look at
# $\lVert \partial\,\mathrm{loss} / \partial x_t \rVert$ for each step $t$, over a batch of 256
# sequences. Divided by its value at the last step, it says what fraction of the gradient
# survives the way back to step $t$. The scale is logarithmic.

# %%
def gradient_through_time(model, x, y):
    """||d loss / d x_t|| for every time step t, relative to the last step's."""
    inputs = Node(x, "x")
    grad = mse(model.forward(inputs), y).grad(1)["x"]     # (N, T, 2), like x
    norms = np.sqrt((grad ** 2).sum(axis=(0, 2)))
    return norms / norms[-1]


x_probe, y_probe = adding_problem(256, seed=2)
forget_open = Adder("LSTM")
forget_open.recurrent.b.value[HIDDEN:2 * HIDDEN] = 1.0   # the forget gate's bias (columns H to 2H)
at_start = {"RNN": gradient_through_time(Adder("RNN"), x_probe, y_probe),
            "LSTM": gradient_through_time(Adder("LSTM"), x_probe, y_probe),
            "LSTM, forget bias 1": gradient_through_time(forget_open, x_probe, y_probe)}
trained = {kind: gradient_through_time(model, x_probe, y_probe) for kind, model in models.items()}

fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
panels = {"at initialisation": at_start, f"after {STEPS} training steps": trained}
for ax, (title, profiles) in zip(axes, panels.items()):
    for label, profile in profiles.items():
        ax.semilogy(np.arange(1, T + 1), profile, label=label)
    ax.set(title=title, xlabel="time step t")
    ax.grid(alpha=0.3)
    ax.legend()
axes[0].set_ylabel(r"$\|\partial$ loss$/\partial x_t\|$ relative to step T")
plt.show()
for kind, profile in trained.items():
    print(f"trained {kind}: the gradient at step 1 is {profile[0]:.1e} of the one at step {T}")

# %% [markdown]
# At initialisation both networks forget fast. In the plain RNN each step back multiplies the
# gradient by $W_h$ and by $\tanh' \le 1$; with weights of PyTorch's scale that shrinks it by a
# constant factor per step, geometrically — by many orders of magnitude over 50 steps, so the
# first marked value sends back practically nothing, and the RNN cannot find out that it matters.
# An untrained LSTM forgets too: its forget gate starts near $\sigma(0) = \frac12$, so its memory
# keeps only about half of the gradient at each step back. That is why LSTMs are often started
# with a forget-gate bias of 1 (Jozefowicz et al., 2015), which already keeps far more.
#
# After training the difference is the whole story. The LSTM has learned to hold a forget gate
# open (the next figure shows which), and its gradient is about as large at step 1 as at step 50:
# the memory path $c_t = \sigma(f) \odot c_{t-1} + \dots$ carries it back unchanged. The RNN has
# no such path; everything it remembers has to pass through $W_h$ and tanh at every step.
#
# ## Where the memory is
#
# We can watch it. For three held-out sequences we run your `lstm_step` with the trained
# parameters, keeping the cell state $c_t$ of every step, and compute the forget gates
# $\sigma(f)$ from the same gate equation in NumPy. Left: the forget gate of every unit at every
# step of one sequence. Right: the memory of the unit whose forget gate stays most open.

# %%
lstm = models["LSTM"].recurrent
x_few = x_probe[:3]
h = c = np.zeros((3, HIDDEN))
forget, memory = [], []
for t in range(T):
    gates = x_few[:, t] @ lstm.Wx.value + h @ lstm.Wh.value + lstm.b.value
    forget.append(1 / (1 + np.exp(-gates[:, HIDDEN:2 * HIDDEN])))
    h, c = (part.value for part in lstm_step(x_few[:, t], h, c, lstm.Wx, lstm.Wh, lstm.b))
    memory.append(c)
forget, memory = np.stack(forget, axis=1), np.stack(memory, axis=1)   # (3, T, HIDDEN)
unit = forget.min(axis=(0, 1)).argmax()

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
image = axes[0].imshow(forget[0].T, cmap="viridis", vmin=0, vmax=1, aspect="auto")
for t in np.flatnonzero(x_few[0, :, 1]):
    axes[0].axvline(t, color="white", linestyle="--")
axes[0].set(title="forget gates of one sequence (dashed: its markers)", xlabel="time step", ylabel="unit")
fig.colorbar(image, ax=axes[0])
for n in range(3):
    line, = axes[1].plot(memory[n, :, unit])
    marks = np.flatnonzero(x_few[n, :, 1])
    axes[1].plot(marks, memory[n, marks, unit], "o", color=line.get_color())
axes[1].set(title=f"the memory $c_t$ of unit {unit}, three sequences (dots: markers)", xlabel="time step")
axes[1].grid(alpha=0.3)
plt.show()

# %% [markdown]
# After the full training, one unit keeps its forget gate at 1 through the whole sequence, while
# the others forget within a few steps. That unit is the memory: at the first marker its $c_t$
# jumps to a level set by the marked value and keeps it, drifting steadily in between — the same
# drift for every sequence, so the level still tells the marked value — until the second marker
# moves it again. The other units need no long memory at all.
#
# ## Summary
#
# * A recurrent layer is the slides' gate equation, $g = x \cdot W_x + h_{t-1} \cdot W_h + b_g$,
#   applied at every step with the same weights. Unrolled, it is a deep network with shared
#   weights, and reverse mode on it is backpropagation through time: dp needs nothing new.
# * The LSTM computes its four gates i, f, g, o from one gate equation and updates its memory by
#   addition, $c_t = \sigma(f) \odot c_{t-1} + \sigma(i) \odot \tanh(g)$; the gradient along that
#   path is multiplied only by the forget gate.
# * On the adding problem ($T = 50$) the LSTM falls far below the "predict the mean" baseline; the
#   plain RNN stays on it, because the gradient from the loss vanishes before it reaches the first
#   marked value.
# * Next, `27_attention`: instead of passing everything through one state, every step looks at
#   every other step directly.
