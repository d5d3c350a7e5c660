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
# # Part 2.8 · A variational autoencoder
#
# Every network so far mapped an input to an answer. A **generative model** learns where the data
# come from, so that it can make new ones. The DP paper names the variational autoencoder among
# its advanced exercises, after Kingma & Welling (2014), "Auto-encoding variational Bayes":
#
# * a **decoder** turns a point $z$ of a small *latent* space (here a plane, $z \in \mathbb R^2$)
#   into a picture: for every pixel, the probability that it is black. New digits come from
#   drawing $z$ from the prior $p(z) = N(0, I)$ and decoding it;
# * an **encoder** turns a picture $x$ into a Gaussian $q(z \mid x) = N(\mu(x), \sigma^2(x))$
#   over the plane: where the latent points that could have made $x$ lie;
# * both are trained together by maximising one number, the **evidence lower bound** (ELBO), by
#   gradient ascent. Two pieces of it are not ordinary layers, and you write them as Node code:
#   a random sample that gradients can flow through (the *reparameterisation trick*), and the
#   KL divergence between two Gaussians in closed form.
#
# Then we train the VAE on the bundled digits and look at what it learned: its ELBO on digits it
# never saw, its reconstructions, digits drawn from the prior, and the plane itself, coloured by
# digit.

# %%
import time

import numpy as np

from dp import Node
from dp.data import load_mnist, minibatches
from dp.exercises import check, exercise
from dp.exercises.course import FAST, _pyplot, plot_images
from dp.nn import Adam, CosineAnnealingLR, Model, binary_cross_entropy_with_logits

plt = _pyplot()

x_train, y_train = load_mnist("train")   # (8000, 784) grey values in [0, 1]
x_test, y_test = load_mnist("test")      # (2000, 784), held out: never trained on

# %% [markdown]
# ## Black and white digits
#
# The decoder gives each pixel a probability of being black: a Bernoulli distribution per pixel,
# so the data must be black and white. We read each grey value as the probability of ink and
# draw the binary image from it, anew at every pass over the training digits (more variety than
# 8 000 fixed images), and once, with a fixed seed, for the held-out ones, so that every
# evaluation measures the same images. Then $\log p(x)$ is the log-probability of a binary
# image, in **nats** (natural logarithms), which is what the ELBO bounds from below.

# %%
def binarise(images, rng):
    """Each pixel black (1) with its grey value as probability, drawn anew at each call."""
    return (rng.random(images.shape) < images).astype(np.float32)


x_test_binary = binarise(x_test, np.random.default_rng(1))
x_train_binary = binarise(x_train[:2000], np.random.default_rng(2))   # to measure the training ELBO on
plot_images(np.concatenate([x_test[:8], x_test_binary[:8]]), [f"grey {y}" for y in y_test[:8]] +
            [f"binary {y}" for y in y_test[:8]])
plt.show()

# %% [markdown]
# ## The bound
#
# The model's probability of a digit averages the decoder over the prior,
# $p(x) = \int p(x \mid z)\, p(z)\, dz$: an integral over every latent point, which nobody can
# compute for a neural decoder. The encoder's guess $q(z \mid x)$ gives a bound instead: write the
# integral as an average over $z \sim q(z \mid x)$ and move the log inside it (Jensen's inequality,
# $\log \mathbb E \ge \mathbb E \log$),
#
# $$\log p(x) = \log \mathbb E_{z \sim q(z \mid x)}\Big[\frac{p(x \mid z)\, p(z)}{q(z \mid x)}\Big]
#   \;\ge\; \mathbb E_{z \sim q(z \mid x)}\Big[\log \frac{p(x \mid z)\, p(z)}{q(z \mid x)}\Big]
#   \;=\; \underbrace{\mathbb E_{z \sim q(z \mid x)}\big[\log p(x \mid z)\big]}_{\text{reconstruction}}
#   \;-\; \underbrace{\mathrm{KL}\big(q(z \mid x) \,\|\, p(z)\big)}_{\text{stay near the prior}}
#   \;=\; \mathrm{ELBO}(x).$$
#
# The gap is $\mathrm{KL}(q(z \mid x) \,\|\, p(z \mid x))$: the better the encoder guesses where $x$
# comes from, the tighter the bound. The first term asks that the latent points of $x$ decode back
# to $x$; the second keeps the codes of all digits together around the origin, so that the prior
# covers them and a random $z$ decodes to something digit-like. We *minimise* $-\mathrm{ELBO}$,
# averaged over a minibatch, with Adam.
#
# ## The reparameterisation trick
#
# The reconstruction term is an expectation over $z \sim q(z \mid x)$; we estimate it with one
# sample per digit. But *drawing* $z$ is not an operation with a derivative: how would the
# gradient reach $\mu$ and $\sigma$ through a random number generator? The trick is to draw the
# randomness first, where it depends on nothing, and build $z$ from it:
#
# $$\varepsilon \sim N(0, 1), \qquad z = \mu + \sigma \cdot \varepsilon .$$
#
# $z$ has the same distribution $N(\mu, \sigma^2)$, but now it is an ordinary differentiable
# function of $\mu$ and $\sigma$, with $\varepsilon$ a constant leaf of the graph:
# $\partial z / \partial \mu = 1$ and $\partial z / \partial \sigma = \varepsilon$. The encoder
# outputs $\log \sigma^2$ (`log_var`) rather than $\sigma$, since a layer's output can be any
# real number and a standard deviation must be positive: $\sigma = \exp(\tfrac12 \log \sigma^2)$.
#
# **Exercise 2.13.** Write `reparameterize(mu, log_var, eps)` for Nodes `mu` and `log_var` and
# a plain array `eps` (all of the same shape, or broadcasting): return $z$ as a Node, with Node
# operations (`.exp()`, `*`, `+`), so that dp differentiates it. The check compares $z$ and the
# gradients of `sum(z * seed)` (a random `seed`, so that every entry of $z$ counts, each
# differently) with respect to `mu` and `log_var` with their closed forms.

# %%
@exercise("part2.reparameterize")
def reparameterize(mu, log_var, eps):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.reparameterize", reparameterize)

# %% [markdown]
# Does a gradient through random samples point the right way? Take one Gaussian and
# $f(z) = z^2$, whose mean we know: $\mathbb E[z^2] = \mu^2 + \sigma^2$, so
# $\partial/\partial\mu = 2\mu$ and $\partial/\partial \log\sigma^2 = \sigma^2$. The average of
# $z^2$ over $n$ samples, differentiated by dp through your `reparameterize`, is an unbiased
# estimate of those derivatives; its error shrinks like $1/\sqrt n$. One sample per digit is
# noisy, but a minibatch of 128 digits and thousands of steps average the noise away.

# %%
MEAN, SIGMA = 0.5, 0.8
mu, log_var = Node(np.array([MEAN]), "mu"), Node(np.array([np.log(SIGMA ** 2)]), "log_var")
rng = np.random.default_rng(0)
counts = np.unique(np.logspace(0, 4, 30).astype(int))
estimates = []
for n in counts:
    grads = (reparameterize(mu, log_var, rng.standard_normal(n)) ** 2).mean().grad(1)
    estimates.append((grads["mu"].item(), grads["log_var"].item()))
samples = reparameterize(mu, log_var, rng.standard_normal(10_000)).value

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
left.hist(samples, bins=60, density=True, alpha=0.5, label="z = mu + sigma eps, 10 000 eps")
grid = np.linspace(-2.5, 3.5, 200)
left.plot(grid, np.exp(-(grid - MEAN) ** 2 / (2 * SIGMA ** 2)) / np.sqrt(2 * np.pi * SIGMA ** 2),
          label=f"N({MEAN}, {SIGMA}²)")
left.set(xlabel="z", title="the samples have the right distribution")
for index, (label, exact) in enumerate([("d/d mu", 2 * MEAN), ("d/d log_var", SIGMA ** 2)]):
    right.semilogx(counts, [estimate[index] for estimate in estimates], "o-", ms=3, color=f"C{index}",
                   label=f"{label}: estimate")
    right.axhline(exact, color=f"C{index}", ls="--", label=f"{label}: exact {exact:.2f}")
right.set(xlabel="number of samples n", title="gradient of the mean of z² over n samples")
for ax in (left, right):
    ax.grid(alpha=0.3)
left.legend(fontsize=8, loc="upper left")   # beside the bars, not on them
right.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## The KL divergence, in closed form
#
# The second term of the ELBO needs no sampling: between two Gaussians the KL divergence has a
# closed form. Per latent dimension, with $\log q(z) = -\tfrac12\log 2\pi\sigma^2 - (z - \mu)^2/2\sigma^2$
# and $\log p(z) = -\tfrac12 \log 2\pi - z^2/2$,
#
# $$\mathrm{KL}\big(N(\mu, \sigma^2) \,\|\, N(0, 1)\big) = \mathbb E_q\big[\log q(z) - \log p(z)\big]
#   = -\tfrac12 \log \sigma^2 - \tfrac12 + \tfrac12 (\mu^2 + \sigma^2),$$
#
# since $\mathbb E_q[(z - \mu)^2] = \sigma^2$ and $\mathbb E_q[z^2] = \mu^2 + \sigma^2$. The
# latent dimensions are independent, so their divergences add up:
#
# $$\mathrm{KL} = -\frac12 \sum_j \big(1 + \log \sigma_j^2 - \mu_j^2 - \sigma_j^2\big).$$
#
# Mind the sign and the 1: the divergence is never negative, and it is zero exactly at $\mu = 0$,
# $\sigma = 1$, where $q$ *is* the prior.
#
# **Exercise 2.14.** Write `kl_divergence(mu, log_var)` for Nodes of shape (n, d): one divergence
# per row (a digit's Gaussian), summed over the latent axis, so a Node of shape (n,). Use Node
# operations (`.exp()`, `*`, `-`, `.sum(axis=-1)`). The check compares the value and the gradients
# of `sum(KL * seed)`, for a random `seed` of one number per row, with the closed forms: row $i$'s
# seed times $\partial\,\mathrm{KL}/\partial\mu_j = \mu_j$ and
# $\partial\,\mathrm{KL}/\partial \log\sigma_j^2 = \tfrac12(\sigma_j^2 - 1)$.

# %%
@exercise("part2.kl_divergence")
def kl_divergence(mu, log_var):
    # YOUR CODE HERE
    raise NotImplementedError


check("part2.kl_divergence", kl_divergence)

# %% [markdown]
# The closed form against its definition, $\mathbb E_q[\log q(z) - \log p(z)]$ estimated from
# 200 000 samples of your `reparameterize`, for a few Gaussians in the plane; and the divergence of
# one dimension over $\mu$ and $\sigma$, zero only at the prior.

# %%
def log_normal(z, mean, var):
    return -0.5 * (np.log(2 * np.pi * var) + (z - mean) ** 2 / var)


rng = np.random.default_rng(0)
for mean, log_variance in [((0.0, 0.0), (0.0, 0.0)), ((1.0, -0.5), (0.0, 0.0)), ((0.5, 2.0), (-1.0, 1.0))]:
    mean, log_variance = np.array([mean]), np.array([log_variance])
    z = reparameterize(Node(mean), Node(log_variance), rng.standard_normal((200_000, 2))).value
    estimate = (log_normal(z, mean, np.exp(log_variance)) - log_normal(z, 0.0, 1.0)).sum(axis=1).mean()
    exact = kl_divergence(Node(mean), Node(log_variance)).value.item() + 0.0   # + 0.0 turns -0.0 into 0.0
    print(f"mu = {mean[0]}, log_var = {log_variance[0]}: closed form {exact:.4f}, Monte Carlo {estimate:.4f}")

means, sigmas = np.meshgrid(np.linspace(-3, 3, 121), np.linspace(0.1, 3, 117))
divergence = kl_divergence(Node(means.reshape(-1, 1)),   # one row per point of the grid, one latent dimension
                           Node(np.log(sigmas.reshape(-1, 1) ** 2))).value.reshape(means.shape)
fig, ax = plt.subplots(figsize=(6, 4))
contours = ax.contourf(means, sigmas, divergence, levels=np.linspace(0, 5, 21), cmap="viridis", extend="max")
ax.plot(0, 1, "w*", ms=12)
fig.colorbar(contours, label="KL (nats)")
ax.set(xlabel="mu", ylabel="sigma", title="KL(N(mu, sigma²) ‖ N(0, 1)): zero at the prior (star)")
plt.show()

# %% [markdown]
# ## The model
#
# The encoder: one hidden layer of 256 ReLUs, then two linear heads for $\mu$ and $\log\sigma^2$
# in the plane. The decoder: from the plane to 256 ReLUs, then 784 *logits*, one per pixel, the
# probability of black being their sigmoid. The reconstruction term $-\log p(x \mid z)$ of a
# binary image is then the binary cross-entropy, summed over the pixels;
# `binary_cross_entropy_with_logits` computes it from the logits without ever taking $\log 0$.
#
# The noise $\varepsilon$ is an argument of the loss, where a classifier's loss takes its labels:
# `get_grad(x, eps)` then differentiates the loss for exactly that noise. (A loss that drew its
# own noise would work too, but it would not be a function of its arguments alone, which is what
# `dp.trace` needs to compile it; see `16_static_and_dynamic_graphs`.)

# %%
class VAE(Model):
    def __init__(self, latent=2, hidden=256, seed=0):
        super().__init__(rng=seed, dtype=np.float32)
        self.latent = latent
        self.encoder = self.ReLu_Layer(784, hidden, "encoder")
        self.mu = self.Linear_Layer(hidden, latent, "mu")
        self.log_var = self.Linear_Layer(hidden, latent, "log_var")
        self.decoder = self.ReLu_Layer(latent, hidden, "decoder")
        self.pixels = self.Linear_Layer(hidden, 784, "pixels")

    def encode(self, x):
        h = self.encoder(x)
        return self.mu(h), self.log_var(h)

    def decode(self, z):
        return self.pixels(self.decoder(z))   # logits: pixel i is black with probability sigmoid(logit i)

    def negative_elbo(self, x, eps):
        """-ELBO of each digit, shape (n,), in nats: one sample z per digit, drawn with the noise eps."""
        mu, log_var = self.encode(x)
        logits = self.decode(reparameterize(mu, log_var, eps))
        reconstruction = binary_cross_entropy_with_logits(logits, x, reduction="none").sum(axis=1)   # -log p(x|z)
        return reconstruction + kl_divergence(mu, log_var)

    def loss(self, x, eps):
        return self.negative_elbo(x, eps).mean()


def elbo(model, x, seed=3):
    """The mean ELBO of the digits x, in nats per digit (one sample of z each, the same noise every time)."""
    eps = np.random.default_rng(seed).standard_normal((len(x), model.latent)).astype(np.float32)
    return -float(model.negative_elbo(x, eps).value.mean())


model = VAE()
print(model)
print(f"{sum(p.size for p in model.get_param().values()):,} parameters; "
      f"ELBO before training: {elbo(model, x_test_binary):.1f} nats per digit")

# %% [markdown]
# Before training, the bound is about $-590$ nats per digit: worse than the $784 \log\tfrac12
# \approx -543$ nats of a decoder that says "fifty-fifty" for every pixel of every digit.
#
# ## Training
#
# A hand-written loop: each step takes a minibatch of 128 training digits, binarises it, draws
# one $\varepsilon$ per digit and latent dimension, and lets Adam follow the gradient of the mean
# $-\mathrm{ELBO}$. The learning rate decays along a cosine to zero. After every pass over the
# data we measure the ELBO on the 2 000 held-out digits and, for comparison, on 2 000 training
# digits.

# %%
steps = 300 if FAST else 4000
optimizer = Adam(learning_rate=3e-3, schedule=CosineAnnealingLR(T_max=steps))
rng = np.random.default_rng(0)
curves = {"training digits": [], "held-out digits": []}
taken = 0
start = time.perf_counter()
while taken < steps:
    for x in minibatches(x_train, None, batch_size=128, rng=rng):   # one shuffled pass
        eps = rng.standard_normal((len(x), model.latent)).astype(np.float32)
        grads, loss = model.get_grad(binarise(x, rng), eps)
        optimizer.step(model, grads)
        taken += 1
        if taken == steps:
            break
    curves["training digits"].append(elbo(model, x_train_binary))
    curves["held-out digits"].append(elbo(model, x_test_binary))
final_elbo = curves["held-out digits"][-1]
print(f"{steps} steps ({len(curves['held-out digits'])} passes) in {time.perf_counter() - start:.0f} s; "
      f"held-out ELBO {final_elbo:.1f} nats per digit")
if not FAST:
    assert final_elbo > -160, final_elbo

# %%
fig, ax = plt.subplots(figsize=(7, 4))
passes = np.arange(1, len(curves["held-out digits"]) + 1)
for label, values in curves.items():
    ax.plot(passes, values, "o-", ms=3, label=label)
ax.set(xlabel="passes over the training digits", ylabel="ELBO (nats per digit)", title="the ELBO while training")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# The bound rises quickly, then slowly. The training digits end a few nats above the held-out
# ones: with 8 000 digits the model starts to learn them in particular, the binarisation drawn
# anew at every pass slowing that down. (Numbers in nats depend on how the digits were made
# binary and on how many there were to train on: compare them within one setting only.)
#
# ## Reconstructions
#
# Encode a held-out digit, take the centre $\mu$ of its Gaussian and decode it: the picture is
# the decoder's probability of black for every pixel. Two numbers per digit cannot keep every
# stroke, so the reconstructions are blurred, typical digits of the kind seen, and digits that
# look alike (4 and 9, 3 and 5, 7 and 9) are often decoded as one another.

# %%
shown = [int(np.flatnonzero(y_test == digit)[0]) for digit in range(10)]   # the first of each digit
mu, _ = model.encode(x_test_binary[shown])
reconstructed = model.decode(mu).sigmoid().value
plot_images(np.concatenate([x_test_binary[shown], reconstructed]),
            [f"digit {y_test[i]}" for i in shown] + ["decoded"] * 10, columns=10)
plt.show()

# %% [markdown]
# ## New digits, drawn from the prior
#
# A generative model makes new data: draw $z \sim N(0, I)$, decode it. The pictures show the
# probability of black for every pixel (a binary sample of it would look like the binary digits
# above, grainier).

# %%
z = np.random.default_rng(4).standard_normal((24, model.latent)).astype(np.float32)
plot_images(model.decode(z).sigmoid().value, [f"z = ({a:.1f}, {b:.1f})" for a, b in z])
plt.show()

# %% [markdown]
# ## The latent plane
#
# With a two-dimensional latent space we can look at all of it. On the left, the centre $\mu(x)$ of
# every held-out digit's Gaussian, coloured by the digit it is (the labels were never used in
# training); on the right, what the decoder draws at each point of a grid over the dashed square. The
# encoder has sorted the digits by their looks, and the decoder morphs smoothly from one kind to
# the next. 0, 1, 6 and 7 get regions of their own; 2, 3, 5 and 8, and 4 and 9, share the crowded
# middle. The KL term pulls every digit's Gaussian towards the prior, so the cloud of codes stays
# around the origin, at about the prior's scale (a little wider: the term pulls each Gaussian,
# not the cloud as a whole, onto the prior).

# %%
mu, log_var = (part.value for part in model.encode(x_test_binary))
side, limit = 17, 4.0
grid = np.linspace(-limit, limit, side)
points = np.array([(a, b) for b in grid[::-1] for a in grid], dtype=np.float32)   # top row first
tiles = model.decode(points).sigmoid().value.reshape(side, side, 28, 28)
canvas = tiles.transpose(0, 2, 1, 3).reshape(side * 28, side * 28)

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6))
scatter = left.scatter(mu[:, 0], mu[:, 1], c=y_test, cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
fig.colorbar(scatter, ax=left, ticks=range(10), label="digit")
reach = max(limit, float(np.abs(mu).max()) + 0.3)   # every code in view, however far out
left.add_patch(plt.Rectangle((-limit, -limit), 2 * limit, 2 * limit, fill=False, linestyle="--", color="grey"))
left.set(xlim=(-reach, reach), ylim=(-reach, reach), aspect="equal", xlabel="z₁", ylabel="z₂",
         title="the codes mu(x) of the 2 000 held-out digits")
half = limit / (side - 1)   # each tile is centred on its grid point
right.imshow(canvas, cmap="gray_r", extent=(-limit - half, limit + half, -limit - half, limit + half))
right.set(xlabel="z₁", ylabel="z₂", title="the decoder at each point of the grid")
plt.show()
# The codes of all digits together, a mixture of their Gaussians, have variance var(mu) + mean(sigma²):
print("variance of all the codes, per axis:", (mu.var(axis=0) + np.exp(log_var).mean(axis=0)).round(2),
      "(the prior's: 1)")

# %% [markdown]
# ## How loose is the bound?
#
# The ELBO is below $\log p(x)$ by $\mathrm{KL}(q(z \mid x) \,\|\, p(z \mid x))$. With many samples
# we can estimate $\log p(x)$ itself: $p(x) = \mathbb E_{z \sim q}\big[p(x \mid z)\, p(z) / q(z \mid x)\big]$
# exactly, and the log of the average over $K$ samples is a bound that tightens as $K$ grows
# (Burda et al., 2016, "Importance weighted autoencoders"); $K = 1$ is the ELBO. No gradients are
# needed here, only the decoder's values.

# %%
def log_weights(model, x, samples, rng):
    """log p(x|z) + log p(z) - log q(z|x) for `samples` draws z ~ q(z|x) per digit: shape (digits, samples)."""
    mu, log_var = (part.value for part in model.encode(x))
    rows = []
    for digit, mean, variance in zip(x, mu, np.exp(log_var)):
        z = (mean + np.sqrt(variance) * rng.standard_normal((samples, model.latent))).astype(np.float32)
        log_p_x = -binary_cross_entropy_with_logits(model.decode(z), np.tile(digit, (samples, 1)),
                                                    reduction="none").value.sum(axis=1)
        rows.append(log_p_x + log_normal(z, 0.0, 1.0).sum(axis=1) - log_normal(z, mean, variance).sum(axis=1))
    return np.array(rows)


# A random subset of the held-out digits, not the first ones, which are harder than the average.
subset = np.random.default_rng(6).choice(len(x_test_binary), 20 if FAST else 200, replace=False)
weights = log_weights(model, x_test_binary[subset], samples=1000, rng=np.random.default_rng(5))
ks = np.array([1, 3, 10, 30, 100, 300, 1000])
bounds = [np.mean(np.logaddexp.reduce(weights[:, :k], axis=1) - np.log(k)) for k in ks]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogx(ks, bounds, "o-")
ax.set(xlabel="samples K per digit", ylabel="nats per digit", title="log of the mean of K importance weights")
ax.grid(alpha=0.3)
plt.show()
print(f"on these {len(weights)} held-out digits: ELBO {bounds[0]:.1f}, log p(x) at least {bounds[-1]:.1f} "
      "nats per digit")

# %% [markdown]
# A few nats: the encoder's Gaussians are good guesses of where each digit's latent points lie.
#
# ## Summary
#
# * A VAE is a decoder $p(x \mid z)$ from a latent space with prior $N(0, I)$, and an encoder
#   $q(z \mid x) = N(\mu(x), \sigma^2(x))$, trained together by maximising the ELBO,
#   a lower bound of $\log p(x)$: reconstruction minus $\mathrm{KL}(q(z \mid x) \,\|\, p(z))$.
# * The reparameterisation trick, $z = \mu + \exp(\tfrac12\log\sigma^2)\,\varepsilon$ with the
#   noise drawn outside the graph, makes a sample differentiable, so one backward pass trains both
#   networks; the KL between Gaussians has a closed form, with no sampling at all.
# * On the bundled digits, a VAE with a two-dimensional latent space reaches an ELBO of about
#   $-155$ nats per held-out digit (its $\log p(x)$ a few nats higher), sorts the digits by
#   their looks in the plane without ever seeing a label, and draws new ones from the prior.
# * Next, `29_bayes_by_backprop`: the same trick, with the noise in the weights of a network
#   instead of in a latent code, makes a network that knows how unsure it is.
