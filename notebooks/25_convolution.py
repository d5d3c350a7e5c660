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
# # Part 2.5 · Convolution from elementary operations
#
# The paper's MNIST network of `24_mnist` treats an image as 784 unrelated numbers: its first
# layer has one weight for every pixel and every unit, and a digit moved by one pixel is, for it,
# a different input. A **convolution** layer instead slides a small kernel, say 5 x 5, over the
# image and computes the same weighted sum at every position: the weights are *shared* across
# the image, and each output sees only a small *local* patch. A stroke detector learned in one
# corner works everywhere.
#
# The lecture slides look back on struggling through convolution layers with hand-written
# backward passes; their answer is that a layer is elementary operations put together, and the
# gradient then comes for free. In this chapter you
#
# 1. cut an image into the patches under the kernel (**im2col**) with nothing but slicing,
#    stacking and reshaping Nodes;
# 2. write `conv2d` as one matrix product of those patches with the kernels, and max-pooling as a
#    maximum over them, and check values *and* gradients against dp's own layers;
# 3. train a small convolutional network on the bundled MNIST digits past 98.5%, compare it with
#    the paper's fully connected network, and look at its filters and feature maps.

# %%
import time

import numpy as np

from dp import Node
from dp.data import load_mnist, minibatches
from dp.exercises import check, exercise
from dp.exercises.course import FAST, _pyplot, best_time, plot_images
from dp.nn import Adam, Conv2d, CosineAnnealingLR, Flatten, Linear, MaxPool2d, Sequential, cross_entropy, relu
from dp.nn import conv2d as dp_conv2d

plt = _pyplot()

# %% [markdown]
# ## What a convolution layer computes
#
# Images come in batches of shape $(N, C, H, W)$: $N$ images of $C$ channels (1 for grey MNIST
# digits, 3 for colour, many inside a network) of $H \times W$ pixels. A layer with $O$ output
# channels has a kernel $W$ of shape $(O, C, k_h, k_w)$, one $C \times k_h \times k_w$ block of
# weights per output channel, and a bias $b$ of shape $(O,)$. With the kernel moved $s$ pixels at
# a time (the **stride**),
#
# $$\text{out}[n, o, i, j] = b_o + \sum_{c} \sum_{u < k_h} \sum_{v < k_w} W[o, c, u, v]\;
# x[n, c,\; i s + u,\; j s + v].$$
#
# The kernel fits into the image at $H' = \lfloor (H - k_h) / s \rfloor + 1$ rows of positions
# and $W' = \lfloor (W - k_w) / s \rfloor + 1$ columns. **Padding** $p$ adds $p$ rows and columns
# of zeros on every side first, so $H$ becomes $H + 2p$ (with $k = 3$, $p = 1$, $s = 1$ the
# output keeps the input's size).
#
# Strictly, this is a *cross-correlation*: the convolution of mathematics flips the kernel,
# $x[n, c, i s - u, j s - v]$. Deep-learning libraries, PyTorch and dp included, do not flip, and
# call it convolution anyway; since the kernel is learned, the difference is only which way round
# it is stored. When weights are copied between libraries it does matter, so we follow PyTorch
# exactly.
#
# ## im2col: patches as rows of a matrix
#
# The sum over $c, u, v$ is a dot product between the kernel block $W[o]$, flattened to
# $C k_h k_w$ numbers, and the patch of $x$ under it, flattened the same way. Write every patch
# as a row of a matrix ("image to columns", im2col; here, rows) and the whole layer is **one
# matrix product**: patches $(N H' W', C k_h k_w)$ times kernels $(C k_h k_w, O)$.
#
# The picture shows it for a 5 x 5 image with the numbers 0 to 24 as pixels and a 3 x 3 kernel at
# stride 2: four positions, four rows of nine numbers. One patch and its row have the same colour.

# %%
def draw_im2col(height=5, width=5, k=3, stride=2):
    image = np.arange(height * width).reshape(height, width)
    rows, columns = (height - k) // stride + 1, (width - k) // stride + 1
    patches = [image[i * stride:i * stride + k, j * stride:j * stride + k].ravel()
               for i in range(rows) for j in range(columns)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1.9]})
    left.imshow(np.zeros_like(image), cmap="Greys", vmin=0, vmax=1)
    for (r, c), value in np.ndenumerate(image):
        left.text(c, r, str(value), ha="center", va="center")
    for index in range(rows * columns):
        i, j = divmod(index, columns)
        offset = 0.08 * (index - 1.5)   # the windows overlap: shift each frame a little to see all four
        left.add_patch(plt.Rectangle((j * stride - 0.5 + offset, i * stride - 0.5 + offset), k, k,
                                     fill=False, linewidth=2.5, edgecolor=f"C{index}"))
    # A margin round the image: the shifted frames of the outer windows reach past its border.
    left.set(title=f"{height}x{width} image, {k}x{k} kernel, stride {stride}", xticks=[], yticks=[],
             xlim=(-0.8, width - 0.2), ylim=(height - 0.2, -0.8))
    right.imshow(np.zeros((len(patches), k * k)), cmap="Greys", vmin=0, vmax=1)
    for (r, c), value in np.ndenumerate(np.array(patches)):
        right.text(c, r, str(value), ha="center", va="center", color=f"C{r}", fontweight="bold")
    right.set(title=f"im2col: {len(patches)} patches as rows of {k * k} numbers", xticks=[], yticks=[],
              xlabel="position (u, v) inside the kernel, row by row", ylabel="kernel position (i, j)")
    fig.tight_layout()


draw_im2col()
plt.show()

# %% [markdown]
# Cutting the patches out one by one would take $H' W'$ slices, one per position of the kernel,
# 576 of them for a 5 x 5 kernel on a 28 x 28 digit. Turn it around: for each position $(u, v)$
# *inside* the kernel, the pixel at $(u, v)$ of every patch is one strided slice of the image,
#
# $$x[:, :,\; u : u + s (H' - 1) + 1 : s,\; v : v + s (W' - 1) + 1 : s] \quad (N, C, H', W'),$$
#
# so $k_h k_w$ slices (25) give all patches. Stack them along a new axis after the channels,
# $(N, C, k_h k_w, H', W')$, move the channel and kernel axes to the end,
# $(N, H', W', C, k_h k_w)$, and merge those two: $(N, H', W', C k_h k_w)$, channel first inside a
# patch, which is the order in which `W.reshape(O, C * kh * kw)` lists a kernel's weights.
#
# **Exercise 2.7.** Write `im2col(x, kh, kw, stride)` for a Node `x` of shape (N, C, H, W),
# returning the patches as (N, H', W', C·kh·kw). Use only Node operations: slicing `x[...]`,
# `np.stack`, `.transpose(...)`, `.reshape(...)`, so that dp differentiates it. The check compares
# the value and the gradient with dp's own windows (`dp.ops.sliding_windows`), on random images,
# kernels and strides.

# %%
@exercise("part2.im2col")
def im2col(x, kh, kw, stride):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.im2col", im2col)

# %% [markdown]
# The picture's example, computed (one image of one channel): the four rows are the four patches.

# %%
print(im2col(Node(np.arange(25.0).reshape(1, 1, 5, 5)), 3, 3, 2).value.reshape(4, 9))

# %% [markdown]
# ## conv2d: one matrix product
#
# With the patches, the layer is: pad, cut into patches, multiply by the kernels, add the bias.
# `patches @ W.reshape(O, C * kh * kw).T` is (N, H', W', O): the output channels come last, and
# PyTorch's layout wants them second, (N, O, H', W'): one more `.transpose`. Padding is
# `np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))`, which dp differentiates too (the gradient of the
# zeros goes nowhere, the rest goes back to x).
#
# **Exercise 2.8.** Write `conv2d(x, W, b, stride, padding)` with your `im2col`: x (N, C, H, W),
# W (O, C, kh, kw), b (O,), `stride` and `padding` ints. The check compares the output and the
# gradients for x, W and b with `dp.nn.conv2d`, which computes exactly PyTorch's
# `torch.nn.functional.conv2d`.

# %%
@exercise("part2.conv2d")
def conv2d(x, W, b, stride, padding):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.conv2d", conv2d)

# %% [markdown]
# Your function computes the layer `dp.nn.Conv2d`, given the layer's own parameters: for a layer
# with 3 input channels, 8 output channels, a 3 x 3 kernel, stride 2 and padding 1, the output and
# every gradient agree.

# %%
rng = np.random.default_rng(0)
layer = Conv2d(3, 8, 3, stride=2, padding=1, name="conv", rng=rng)
layer.b.value[...] = rng.normal(size=8)   # a bias that is not zero, so that it is tested too
x = Node(rng.normal(size=(4, 3, 9, 9)), "x")
seed = rng.normal(size=(4, 8, 5, 5))
theirs, ours = layer(x), conv2d(x, layer.W, layer.b, 2, 1)
print("output", theirs.shape, "same:", np.allclose(ours.value, theirs.value))
our_gradients = ours.grad(seed)
for name, gradient in theirs.grad(seed).items():
    print(f"d/d{name:7}", "same:", np.allclose(our_gradients[name], gradient))

# %% [markdown]
# dp's `conv2d` is built the same way: its patches come from the same windows
# (`dp.ops.sliding_windows`), and its product is one matrix product. The one difference is that
# its derivative rules are written out (`dp.ops.correlate2d`), not composed from the slices and
# the stack: the gradient of your `im2col` adds each of the 25 slices back into an image of zeros
# of its own, and the stack copies everything once more. The time for one forward and backward
# pass over a batch like the second layer of the network below (64 images, 16 channels of
# 12 x 12, 32 kernels of 5 x 5):

# %%
x = Node(rng.normal(size=(64, 16, 12, 12)).astype(np.float32), "x")
W = Node(rng.normal(size=(32, 16, 5, 5)).astype(np.float32), "W")
b = Node(np.zeros(32, np.float32), "b")
yours = best_time(lambda: conv2d(x, W, b, 1, 0).sum().grad(), repeat=3)
dps = best_time(lambda: dp_conv2d(x, W, b).sum().grad(), repeat=3)
print(f"your conv2d: {1e3 * yours:.0f} ms, dp.nn.conv2d: {1e3 * dps:.0f} ms (forward and backward)")

# %% [markdown]
# Same numbers, two to three times slower: writing a primitive with its own rules (as in
# `15_your_own_operation`) is an optimisation, not a necessity. The network below uses dp's layer.
#
# ## A filter you can read
#
# Before learning any kernel, one made by hand. The Sobel kernel
# $\begin{pmatrix} 1 & 0 & -1 \\ 2 & 0 & -2 \\ 1 & 0 & -1 \end{pmatrix}$ is a difference of
# the columns left and right of a pixel: positive where the ink ends as one goes right (a
# stroke's right edge), negative where it begins (its left edge), zero where the image is flat.
# Its transpose does the same from top to bottom. A convolution with these two as its two
# output channels turns a digit into two images, **feature maps**, red where a map's feature is
# and blue where its opposite is. (Padding 1 keeps them 28 x 28.)

# %%
x_train, y_train = load_mnist("train")   # (8000, 784), as in 24_mnist
x_test, y_test = load_mnist("test")      # (2000, 784), never used for training
x_train, x_test = x_train.reshape(-1, 1, 28, 28), x_test.reshape(-1, 1, 28, 28)   # (N, C, H, W)

sobel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
kernels = np.stack([sobel, sobel.T])[:, None]   # (2 output channels, 1 input channel, 3, 3)
maps = conv2d(Node(x_train[:1].astype(float)), Node(kernels), Node(np.zeros(2)), 1, 1).value[0]

fig, axes = plt.subplots(1, 3, figsize=(9, 3))
axes[0].imshow(x_train[0, 0], cmap="gray_r")
axes[0].set_title(f"a digit ({y_train[0]})")
for ax, feature_map, title in zip(axes[1:], maps, ["left-right edges", "top-bottom edges"]):
    limit = np.abs(feature_map).max()
    ax.imshow(feature_map, cmap="bwr", vmin=-limit, vmax=limit)
    ax.set_title(title)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# A convolutional network learns such kernels itself, many of them, and stacks layers of them:
# the second layer's kernels combine the first layer's feature maps into larger features.
#
# ## Max-pooling
#
# Between convolutions, networks usually shrink the feature maps: **max-pooling** keeps the
# largest value of each $k \times k$ block, blocks side by side (stride $k$), so a 24 x 24 map
# becomes 12 x 12 with $k = 2$. It has no parameters; it keeps *whether* a feature is present in
# each block and forgets exactly where, which makes the network tolerant of small shifts.
# Its gradient goes to the one element of each block that was the maximum, and is zero for the
# others.
#
# Pooling works on each channel on its own, and your `im2col` mixes a patch's channels into one
# row. The way out is a reshape: the N images of C channels are N·C images of one channel,
# (N·C, 1, H, W); their patches at stride k, (N·C, H', W', k·k), have their maximum over the last
# axis (`.max(axis=-1)`), and a reshape gives back (N, C, H', W').
#
# **Exercise 2.9.** Write `max_pool2d(x, k)` this way, with your `im2col`. The check compares the
# value and the gradient with `dp.nn.max_pool2d`, also on images whose sides are not multiples of
# k: then the last rows and columns that fill no whole block are left out, H' = H // k.

# %%
@exercise("part2.max_pool2d")
def max_pool2d(x, k):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.max_pool2d", max_pool2d)

# %% [markdown]
# ## A convolutional network for MNIST
#
# Two convolutions of 5 x 5 kernels, each followed by a ReLU and a 2 x 2 max-pooling, then two
# linear layers from the flattened feature maps to the ten digits: a small relative of LeNet
# (LeCun et al., 1998). The shapes, for one digit:
#
# | layer | output | parameters |
# |---|---|---|
# | input | 1 x 28 x 28 | |
# | `Conv2d(1, 16, 5)`, ReLU | 16 x 24 x 24 | 16·1·5·5 + 16 = 416 |
# | `MaxPool2d(2)` | 16 x 12 x 12 | |
# | `Conv2d(16, 32, 5)`, ReLU | 32 x 8 x 8 | 32·16·5·5 + 32 = 12 832 |
# | `MaxPool2d(2)` | 32 x 4 x 4 | |
# | `Flatten()`, `Linear(512, 100)`, ReLU | 100 | 512·100 + 100 = 51 300 |
# | `Linear(100, 10)` | 10 | 100·10 + 10 = 1 010 |
#
# The paper's network has 494 710 parameters, this one 65 558, seven and a half times fewer; and
# the two convolutions, which do most of the computing, have only 13 248 of them, because a kernel
# is shared by all positions of the image.

# %%
def convolutional_network(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([Conv2d(1, 16, 5, rng=rng, dtype=np.float32), relu, MaxPool2d(2),
                       Conv2d(16, 32, 5, rng=rng, dtype=np.float32), relu, MaxPool2d(2),
                       Flatten(), Linear(512, 100, rng=rng, dtype=np.float32, activation=relu),
                       Linear(100, 10, rng=rng, dtype=np.float32)], loss=cross_entropy)


def parameter_count(model):
    return sum(p.size for p in model.get_param().values())


def accuracy(model, x, y, batch_size=500):
    """The share of x classified right, in batches (one batch of 2 000 would hold every feature map at once)."""
    right = sum(int((model(x[i:i + batch_size]).value.argmax(axis=1) == y[i:i + batch_size]).sum())
                for i in range(0, len(x), batch_size))
    return right / len(x)


net = convolutional_network()
paper_network = Sequential([Linear(784, 500, activation=relu), Linear(500, 200, activation=relu), Linear(200, 10)])
print(net)
print(f"{parameter_count(net):,} parameters; the paper's network: {parameter_count(paper_network):,}")

# %% [markdown]
# ## Training
#
# As in `24_mnist`: a loop over `get_grad` and Adam's `step`, on minibatches of 64 digits. Two
# things help a network this size on only 8 000 training digits:
#
# * **shifts**: each digit is moved by up to two pixels in each direction, each one its own way
#   (zeros come in at the border), so the network rarely sees the same image twice;
# * a **learning rate that decays** along half a cosine (`CosineAnnealingLR`) from $2 \cdot 10^{-3}$
#   to 0 over the run: large steps first, fine ones at the end.
#
# The test accuracy is measured every 250 steps. (The whole run takes about a minute on one CPU
# core; the tests of the course train for far fewer steps.)

# %%
def shifted(images, rng, most=2):
    """Each image of (N, 1, 28, 28) moved by its own random shift of up to `most` pixels each way."""
    n, _, height, width = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (most, most), (most, most)))
    down, right = rng.integers(0, 2 * most + 1, size=(2, n))
    rows = (down[:, None] + np.arange(height))[:, :, None]    # (N, H, 1): the rows each image keeps
    columns = (right[:, None] + np.arange(width))[:, None, :]  # (N, 1, W)
    return padded[np.arange(n)[:, None, None], 0, rows, columns][:, None]


plot_images(np.concatenate([x_train[:1], shifted(np.repeat(x_train[:1], 7, axis=0), np.random.default_rng(0))]),
            ["a training digit"] + ["shifted"] * 7)
plt.show()

# %%
steps = 150 if FAST else 2500
optimizer = Adam(learning_rate=2e-3, schedule=CosineAnnealingLR(steps))
rng = np.random.default_rng(0)
losses, test_curve = [], []
start = time.perf_counter()
while len(losses) < steps:
    for x, y in minibatches(x_train, y_train, batch_size=64, rng=rng):   # one shuffled pass
        grads, loss = net.get_grad(shifted(x, rng), y)
        optimizer.step(net, grads)
        losses.append(loss)
        if len(losses) % 250 == 0 or len(losses) == steps:
            test_curve.append((len(losses), accuracy(net, x_test, y_test)))
        if len(losses) == steps:
            break
seconds = time.perf_counter() - start
cnn_accuracy = test_curve[-1][1]
print(f"{steps} steps in {seconds:.0f} s; test accuracy {cnn_accuracy:.2%}")
if not FAST:
    print("the target of 98.5%", "reached" if cnn_accuracy >= 0.985 else "NOT reached")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
left.semilogy(losses, alpha=0.3, linewidth=0.5)
left.semilogy(np.arange(49, len(losses)), np.convolve(losses, np.ones(50) / 50, mode="valid"))
left.set(xlabel="step", ylabel="cross-entropy", title="training loss (each batch, and mean of 50)")
right.plot(*zip(*test_curve), "o-", color="C2")
right.axhline(0.975, color="grey", linestyle="--", label="the paper's network (24_mnist)")
right.set(xlabel="step", ylabel="accuracy", title="accuracy on the 2 000 held-out digits")
right.legend()
for ax in (left, right):
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## Against the paper's network
#
# | | parameters | test accuracy | training |
# |---|---|---|---|
# | the paper's network, 784 → 500 → 200 → 10 (`24_mnist`) | 494 710 | about 97.5% | 2 500 steps of 128 |
# | this network: two convolutions, two linear layers | 65 558 | about 98.8% | 2 500 steps of 64 |
#
# Fewer parameters by far, and half the mistakes. The knowledge built into the
# layer, that nearby pixels belong together and that a stroke means the same anywhere in the
# image, replaces what the fully connected network has to learn from the examples, which 8 000
# digits cannot fully teach it. The price is computation: every weight is used at hundreds of
# positions, so a step takes longer although there are far fewer weights.

# %%
print(f"this network: {parameter_count(net):,} parameters, {cnn_accuracy:.2%} of the held-out digits right")

# %% [markdown]
# ## What the network has learned
#
# The 16 kernels of the first layer are small images themselves, 5 x 5 each: red where the layer
# adds the pixel, blue where it subtracts it. Look for a direction, a red side beside a blue one:
# a few kernels come close to the Sobel kernel above, an edge detector found from the digits
# alone. Most are blobs or still largely noise: 25 weights each, learned from 8 000 digits in a
# minute. (After
# the short training of the tests they are all still mostly noise.)

# %%
def show_maps(maps, title, columns=16, signed=True):
    """Small images side by side, each on its own scale: red positive and blue negative around a
    white zero when `signed`, else black on white from zero up (as the digits)."""
    rows = -(-len(maps) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.8, rows * 0.9 + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image in zip(axes.ravel(), maps):
        limit = np.abs(image).max() or 1.0
        ax.imshow(image, cmap="bwr" if signed else "gray_r", vmin=-limit if signed else 0, vmax=limit)
    fig.suptitle(title)
    plt.show()


first, second = net.layers[0], net.layers[3]
show_maps(first.W.value[:, 0], "the 16 learned 5 x 5 kernels of the first layer", columns=8)

# %% [markdown]
# What they do to a digit: the 16 feature maps of the first layer for a test digit (after the
# ReLU, so zero or positive: dark where a kernel responds), each a copy of the digit with one kind
# of stroke or edge brought out; and the 32 of the second layer, 8 x 8 each, coarser and more
# abstract: which combinations of strokes appear in which region of the digit.

# %%
digit = x_test[:1]
after_first = relu(first(digit))
after_second = relu(second(MaxPool2d(2)(after_first)))
show_maps([digit[0, 0], *after_first.value[0]],
          f"a test digit ({y_test[0]}), then the first layer's 16 feature maps (24 x 24)", columns=17, signed=False)
show_maps(after_second.value[0], "the second layer's 32 feature maps (8 x 8)", signed=False)

# %% [markdown]
# ## Summary
#
# * A convolution is a matrix product in disguise: im2col cuts the image into patches with
#   $k_h k_w$ strided slices, and the patches times the flattened kernels are every output at once.
# * Built from Node operations (slices, stack, transpose, reshape, matmul, max), convolution and
#   pooling get their gradients for free; dp's own layers compute the same with hand-written rules
#   to be faster.
# * Frameworks compute cross-correlation (no kernel flip), and the output has
#   $\lfloor (H + 2p - k) / s \rfloor + 1$ rows: the two things to get exactly right.
# * Shared, local weights: a small convolutional network beats the paper's fully connected
#   network on MNIST, with half its mistakes and seven and a half times fewer parameters.
# * Next, `26_recurrent_networks`: networks for sequences, the other kind of layer the lecture
#   slides once wrote backward passes for by hand.
