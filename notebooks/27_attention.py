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
# # Part 2.7 · Attention
#
# The lecture slides end with an outlook to attention, the operation at the heart of the
# Transformer (Vaswani et al., 2017, "Attention is all you need"). A recurrent network passes a
# sequence through one state vector, step by step; with attention, every position looks at every
# other position directly, with weights that it computes from the data itself.
#
# In this notebook you
#
# 1. write scaled dot-product attention with a mask, and check it against dp's own;
# 2. see why the scores are divided by $\sqrt d$, and what masks do, as pictures;
# 3. rebuild dp's `MultiheadAttention` from your function;
# 4. see why attention needs positional encodings;
# 5. train a one-block Transformer to reverse and to sort digit sequences, and draw where it
#    looks.

# %%
import time

import numpy as np

from dp import Node, where
from dp.exercises import check, exercise, run_check
from dp.exercises.attention import MISTAKES
from dp.exercises.checker import close
from dp.exercises.course import FAST, _pyplot
from dp.nn import Adam, Embedding, LayerNorm, Linear, Model, MultiheadAttention, cross_entropy, relu
from dp.ops import softmax

plt = _pyplot()

# %% [markdown]
# ## Queries, keys and values
#
# Attention is a soft dictionary lookup. Each of $S$ entries has a **key** $k_j$ and a **value**
# $v_j$ (vectors); a **query** $q$ is compared with every key by a dot product, the scores are
# turned into weights that are positive and sum to 1 by a softmax, and the answer is the
# weighted mean of the values. For $L$ queries at once, the rows of $Q$ (L × d), against the keys
# $K$ (S × d) and values $V$ (S × d_v):
#
# $$A = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt d}\right), \qquad \text{output} = A V
# \quad (L \times d_v),$$
#
# the softmax taken along each row of the (L × S) scores, over the keys. $A_{ij}$ is how much
# query $i$ attends to key $j$. Everything is differentiable — matrix products and a softmax — so
# the network *learns* what to look for: in self-attention, $Q$, $K$ and $V$ are three linear maps
# of the same sequence.
#
# ### Why divide by √d?
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1, their dot product
# $\sum_{i=1}^d q_i k_i$ has variance $d$. Without the scale, the scores spread wider as $d$
# grows, and the softmax of widely spread scores is almost one-hot: one weight near 1, the others
# near 0. There the softmax is flat — its Jacobian $\operatorname{diag}(a) - a a^\top$ is almost
# zero — and hardly any gradient reaches $Q$ and $K$. Dividing by $\sqrt d$ gives the scores
# variance 1 at every $d$. Below: random queries against 16 random keys, the largest weight of
# each row and the size of the gradient that reaches the scores, averaged over 200 queries.

# %%
rng = np.random.default_rng(0)
dims = 2 ** np.arange(1, 11)
scales = {"unscaled": lambda d: 1.0, "scaled by 1/√d": lambda d: 1 / np.sqrt(d)}
largest, gradient = ({label: [] for label in scales} for _ in range(2))
for d in dims:
    q, k = rng.normal(size=(200, d)), rng.normal(size=(16, d))
    for label, scale in scales.items():
        scores = Node(q @ k.T * scale(d), "scores")
        weights = softmax(scores, axis=-1)
        largest[label].append(weights.value.max(axis=1).mean())
        # the gradient of a random linear read-out of the weights, with respect to the scores
        grads = (weights * rng.normal(size=weights.shape)).sum().grad(1)
        gradient[label].append(np.linalg.norm(grads["scores"], axis=1).mean())

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
for label in largest:
    left.semilogx(dims, largest[label], "o-", base=2, label=label)
    right.loglog(dims, gradient[label], "o-", base=2, label=label)
left.set(xlabel="d", ylabel="mean largest weight", title="how one-hot the weights are (1/16 = uniform)")
right.set(xlabel="d", ylabel="mean |∂/∂scores|", title="the gradient that reaches the scores")
for ax in (left, right):
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()

# %% [markdown]
# Unscaled, the weights become one-hot and the gradient falls several-fold as $d$ grows; scaled,
# both stay where they were at $d = 2$.
#
# ## Masks
#
# Often a query must not see some keys:
#
# * **causal**: in a model that predicts the next token, position $i$ may only look at positions
#   $\le i$, not at the future it is to predict;
# * **padding**: sequences of different lengths are padded to one length for a batch, and nobody
#   should attend to the padding.
#
# dp's convention (docs/layers.md), the same as PyTorch's `nn.MultiheadAttention`: the mask is a
# boolean array (L, S), **True where a query may not attend** to a key. A masked score is set
# to a very negative number before the softmax, so its weight is exactly 0 and the other weights
# of the row still sum to 1. A query whose keys are *all* masked attends to nothing: its weights
# are all 0 (not uniform), so its output is 0 and no gradient flows through it.
#
# **Exercise 2.12.** Write `attention(q, k, v, mask=None)`, returning `(output, weights)`, for Nodes
# `q` (..., L, d), `k` (..., S, d), `v` (..., S, d_v), with any leading batch axes; `mask` is
# None or a boolean array that broadcasts to (..., L, S). Use Node operations, so that dp
# differentiates it: `@`, `k.swapaxes(-1, -2)`, `softmax(x, axis=-1)` and `where(condition, x, y)`
# (both imported above). For the masked scores take a large finite negative number such as
# $-10^9$ rather than $-\infty$: a row of $-\infty$ only would make the softmax compute $0/0$ =
# NaN (with a warning) before you set its weights to 0. The check compares your output, your
# weights and the gradients of `(output * seed).sum()` for q, k and v with dp's
# `scaled_dot_product_attention`.

# %%
@exercise("part2.attention")
def attention(q, k, v, mask=None):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.attention", attention)

# %% [markdown]
# What masks look like: the weights of 8 random queries against 8 random keys, with no mask,
# with the causal mask `np.triu(np.ones((8, 8), bool), 1)` (True above the diagonal), and with the
# causal mask for a sequence whose first three positions are padding. There, the three padded
# queries have no key left and attend to nothing; the others ignore the padding.

# %%
def show_weights(ax, weights, title, queries=None, keys=None, vmax=1):
    """A heat map of attention weights: one row per query, one column per key (colours from 0 to
    vmax; vmax=None: to the largest weight)."""
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=vmax)
    rows, columns = weights.shape
    ax.set_xticks(range(columns), keys if keys is not None else range(columns))
    ax.set_yticks(range(rows), queries if queries is not None else range(rows))
    ax.set(title=title, xlabel="key", ylabel="query")
    return image


L = 8
rng = np.random.default_rng(1)
q, k, v = (Node(rng.normal(size=(L, 4))) for _ in range(3))
causal = np.triu(np.ones((L, L), bool), 1)
padding = np.zeros((L, L), bool)
padding[:, :3] = True  # nobody attends to the first three keys
masks = {"no mask": None, "causal": causal, "causal, first 3 are padding": causal | padding}

fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
for ax, (title, mask) in zip(axes, masks.items()):
    _, weights = attention(q, k, v, mask)
    image = show_weights(ax, weights.value, title)
fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
plt.show()

# %% [markdown]
# ### What the check catches
#
# The classic mistakes, each made on purpose in an otherwise correct answer
# (`dp.exercises.attention.MISTAKES`): at which of its 40 inputs the check rejects each, and
# which parts of the answer differ there. `print(run_check("part2.attention", MISTAKES[...]))`
# shows the whole verdict: the smallest input that fails, the answer and the expected one.

# %%
for mistake, answer in MISTAKES.items():
    verdict = run_check("part2.attention", answer)
    assert not verdict, mistake
    differ = [part for part, got, expected in zip(("output", "weights", "gradients"), verdict.got, verdict.expected)
              if not close(got, expected)]
    print(f"{mistake:32} rejected at input {verdict.cases:2}: the {', the '.join(differ)} differ")

# %% [markdown]
# ## Many heads: dp's `MultiheadAttention`
#
# One attention can only average the values one way. **Multi-head attention** runs several side by
# side: the $E$ features of a sequence are mapped by $W_q, W_k, W_v$ (E × E), split into $h$ heads
# of $E/h$ features each, every head attends on its own, and the heads' outputs are joined and
# mapped by $W_o$:
#
# $$\operatorname{MHA}(X) = \big[\operatorname{head}_1, \dots, \operatorname{head}_h\big] W_o + b_o,
# \qquad \operatorname{head}_j = \operatorname{attention}(Q_j, K_j, V_j), \quad Q = X W_q + b_q,
# \ \dots$$
#
# The split is a reshape: (N, L, E) → (N, L, h, E/h), with the head axis moved to the front so that
# your `attention` treats it as one more batch axis. Your function inside, with the parameters of a
# dp `MultiheadAttention` layer, must give what the layer gives — outputs and gradients:

# %%
N, L, E, heads = 3, 5, 8, 2
mha = MultiheadAttention(E, heads, rng=0)
x = Node(np.random.default_rng(2).normal(size=(N, L, E)), "x")
causal = np.triu(np.ones((L, L), bool), 1)


def split_heads(t):
    return t.reshape(N, L, heads, E // heads).transpose(0, 2, 1, 3)   # (N, heads, L, E/heads)


q, k, v = (split_heads(x @ W + b) for W, b in ((mha.Wq, mha.bq), (mha.Wk, mha.bk), (mha.Wv, mha.bv)))
out, weights = attention(q, k, v, causal)
ours = out.transpose(0, 2, 1, 3).reshape(N, L, E) @ mha.Wo + mha.bo
theirs = mha(x, x, x, mask=causal)
print("the same output as dp's MultiheadAttention:", np.allclose(ours.value, theirs.value))
ours_grads, theirs_grads = ours.sum().grad(1), theirs.sum().grad(1)
print(f"the same gradients for {', '.join(theirs_grads)}:", ours_grads.keys() == theirs_grads.keys()
      and all(np.allclose(ours_grads[name], theirs_grads[name]) for name in theirs_grads))
print("weights per example, head, query and key:", weights.shape)

# %% [markdown]
# ## Positions
#
# Attention compares every query with every key, and nothing in it knows *where* in the sequence
# a key is. Shuffle the positions of the input, and the output is shuffled the same way, and
# otherwise unchanged — self-attention sees a *set*, not a sequence:

# %%
x = np.random.default_rng(3).normal(size=(1, L, E))
shuffle = np.array([3, 0, 4, 1, 2])
shuffled_first = mha(x[:, shuffle], x[:, shuffle], x[:, shuffle]).value
print("shuffling the input only shuffles the output:", np.allclose(shuffled_first, mha(x, x, x).value[:, shuffle]))

# %% [markdown]
# To reverse a sequence, a model must know positions. The Transformer adds a **positional
# encoding** to each token's embedding: a fixed vector per position, made of sines and cosines of
# geometrically spaced frequencies,
#
# $$PE_{p,\,2i} = \sin\!\big(p / 10000^{2i/E}\big), \qquad PE_{p,\,2i+1} = \cos\!\big(p / 10000^{2i/E}\big).$$
#
# The first features turn fast and tell neighbours apart, the last turn slowly and tell the
# beginning from the end. The dot product of two encodings depends only on their distance, so
# "the position three before me" is the same linear question at every position.

# %%
def positional_encoding(length, features):
    """The sinusoidal encodings (length, features) of Vaswani et al.; features must be even."""
    angles = np.arange(length)[:, None] / 10000 ** (np.arange(0, features, 2) / features)
    encoding = np.empty((length, features))
    encoding[:, 0::2], encoding[:, 1::2] = np.sin(angles), np.cos(angles)
    return encoding


encoding = positional_encoding(50, 32)
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
image = left.imshow(encoding.T, cmap="RdBu", aspect="auto", vmin=-1, vmax=1)
left.set(xlabel="position p", ylabel="feature", title="the positional encodings PE (features × positions)")
fig.colorbar(image, ax=left)
image = right.imshow(encoding @ encoding.T, cmap="viridis")
right.set(xlabel="position", ylabel="position", title="their dot products PE·PEᵀ")
fig.colorbar(image, ax=right)
plt.show()

# %% [markdown]
# ## A one-block Transformer
#
# The smallest model worth the name, for sequences of `L = 8` digits:
#
# 1. **embedding + positional encoding**: each digit becomes a learned vector of $E = 32$
#    features (`Embedding(10, 32)`), and its position's encoding is added;
# 2. **one attention block**: self-attention (`MultiheadAttention(32, 1)`, one head, so that there
#    is one picture to look at), added to its input (a *residual* connection: the block only has
#    to learn a change), then `LayerNorm`;
# 3. **a feed-forward block**, applied to each position on its own: `Linear(32, 64)`, ReLU,
#    `Linear(64, 32)`, again with a residual connection and a `LayerNorm`;
# 4. **an output layer**: `Linear(32, 10)`, ten scores per position, one per digit, and
#    `cross_entropy` over every position of every sequence.
#
# The attention block is the only place where positions exchange information; everything else
# works on each position alone.

# %%
L, DIGITS, E = 8, 10, 32


class Transformer(Model):
    def __init__(self, seed=0):
        super().__init__(rng=seed)
        self.embed = Embedding(DIGITS, E, rng=self.rng)
        self.attend = MultiheadAttention(E, 1, rng=self.rng)
        self.norm1 = LayerNorm(E)
        self.hidden = Linear(E, 2 * E, rng=self.rng, activation=relu)
        self.back = Linear(2 * E, E, rng=self.rng)
        self.norm2 = LayerNorm(E)
        self.out = Linear(E, DIGITS, rng=self.rng)
        self._positions = positional_encoding(L, E)   # fixed: the leading _ keeps it out of the parameters

    def embedded(self, digits):
        return self.embed(digits) + self._positions

    def forward(self, digits):   # (N, L) integers -> (N, L, 10) scores
        h = self.embedded(digits)
        h = self.norm1(h + self.attend(h, h, h))
        h = self.norm2(h + self.back(self.hidden(h)))
        return self.out(h)

    def loss(self, digits, targets):
        return cross_entropy(self.forward(digits), targets)

    def predict(self, digits):
        return self.forward(digits).value.argmax(axis=-1)

    def attention_weights(self, digits):
        """The weights of the attention block, with your `attention` on the layer's parameters."""
        h, a = self.embedded(digits), self.attend
        _, weights = attention(h @ a.Wq + a.bq, h @ a.Wk + a.bk, h @ a.Wv + a.bv)
        return weights.value


model = Transformer()
print(model)
print(f"{sum(p.size for p in model.get_param().values()):,} parameters")

# %% [markdown]
# The data: 20 000 random sequences for training and 1 000 others for testing, the targets made
# from them. A sequence counts as right only when all eight digits are.

# %%
rng = np.random.default_rng(0)
x_train, x_test = rng.integers(0, DIGITS, (20_000, L)), rng.integers(0, DIGITS, (1_000, L))


def accuracies(model, x, y):
    """(the share of whole sequences right, the share of digits right)."""
    right = model.predict(x) == y
    return float(right.all(axis=1).mean()), float(right.mean())


def trained(task, steps):
    """A fresh Transformer trained with Adam on task(x_train), and its test accuracies."""
    model = Transformer()
    start = time.perf_counter()
    Adam(model, x_train, task(x_train), learning_rate=3e-3, batch_size=64, rng=0).train(
        steps=steps, print_each=None, progress=False)
    sequences, digits = accuracies(model, x_test, task(x_test))
    print(f"{task.__name__}: {steps} steps in {time.perf_counter() - start:.0f} s; test accuracy "
          f"{sequences:.1%} of the sequences, {digits:.1%} of the digits")
    return model, sequences


# %% [markdown]
# ### Reversing
#
# The target of `3 1 4 1 5 9 2 6` is `6 2 9 5 1 4 1 3`: output position $i$ holds input position
# $7 - i$. No digit needs to be compared with another; the model only has to fetch the right
# position, which the positional encodings make possible.

# %%
def reverse(x):
    return x[:, ::-1].copy()


reverser, reverse_accuracy = trained(reverse, 150 if FAST else 600)
if not FAST:
    assert reverse_accuracy > 0.95, reverse_accuracy

# %% [markdown]
# ### Sorting
#
# The target of `3 1 4 1 5 9 2 6` is `1 1 2 3 4 5 6 9`. This is harder: which digit belongs at
# output position $i$ depends on all the digits, on how many are smaller than which. The same
# model, trained longer:

# %%
def sort(x):
    return np.sort(x, axis=1)


sorter, sort_accuracy = trained(sort, 300 if FAST else 2500)
if not FAST:
    assert sort_accuracy > 0.9, sort_accuracy

# %% [markdown]
# ## Where the models look
#
# The weights of the attention block for one sequence: one row per output position (the query),
# one column per input digit (the key), each row summing to 1. The colours of each picture span
# its own range of weights. On the right, for the sorting model, the weight that each output
# position gives to a digit, by the digit's value, averaged over the 1 000 test sequences and
# multiplied by 8, so that 1 is what uniform attention would give.

# %%
example = np.array([[0, 9, 0, 9, 5, 5, 1, 8]])
fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
for ax, (title, model) in zip(axes, {"reversing": reverser, "sorting": sorter}.items()):
    answer = model.predict(example)[0]
    image = show_weights(ax, model.attention_weights(example)[0], f"{title}: {' '.join(map(str, answer))}",
                         queries=[f"{i}: {digit}" for i, digit in enumerate(answer)], keys=example[0], vmax=None)
    ax.set(xlabel="input digit (key)", ylabel="output position: digit (query)")
    fig.colorbar(image, ax=ax, shrink=0.8)

weights = sorter.attention_weights(x_test)   # (1000, 8 queries, 8 keys)
by_value = np.stack([[weights[:, i][x_test == digit].mean() * L for digit in range(DIGITS)] for i in range(L)])
image = show_weights(axes[2], by_value, "sorting: mean weight on a digit × 8", vmax=None)
axes[2].set(xlabel="value of the input digit", ylabel="output position")
fig.colorbar(image, ax=axes[2], shrink=0.8)
plt.show()

# %% [markdown]
# * **Reversing**: the anti-diagonal. Output position $i$ looks at input position $7 - i$, whatever
#   the digits are: its query and the keys come from the positional encodings. The weights need
#   not be one-hot: the feed-forward layers read the digit off a mixture that is mostly the
#   right one.
# * **Sorting**: no single input to copy, so no diagonal. The weights depend on the *values*: the
#   first output positions attend to the small digits, the last ones to the large digits, the
#   middle ones to the middle (equal digits get equal weights: the model has learned keys that
#   ignore where a digit stands, though the positional encodings were added before them). The attention block gathers, for each output position, a summary of the digits
#   around the rank it needs; the feed-forward layers read the $i$-th smallest off it. Try other
#   sequences: the reversing picture stays the same, the sorting one changes with the digits.
#
# ## Summary
#
# * Attention: weights $\operatorname{softmax}(QK^\top/\sqrt d)$ over the keys, output the
#   weighted mean of the values; the $1/\sqrt d$ keeps the softmax from saturating.
# * Masks: True where a query may not attend (dp's and `nn.MultiheadAttention`'s convention; the
#   opposite of `F.scaled_dot_product_attention`'s); a fully masked query gets zero weights.
# * Multi-head attention is your function applied to slices of the features, side by side.
# * Attention sees a set: positional encodings make it see a sequence.
# * One attention block, with residual connections, LayerNorm and a feed-forward layer, learns
#   to reverse (by position: the anti-diagonal) and to sort (by content).
# * Next, `28_variational_autoencoder`: a network that learns to draw digits, through random
#   samples it can still differentiate.
