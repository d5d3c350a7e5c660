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
# # Part 2.2 · Optimizers: SGD, Momentum, RMSProp, Adam
#
# Gradient descent takes the step $-\mu g$ for the gradient $g$. Three refinements, each one
# line, make training faster and less sensitive to the learning rate $\mu$. dp's optimizers use
# PyTorch's formulas exactly (per parameter, element-wise, starting from zero state):
#
# | optimizer | state update | parameter update |
# |---|---|---|
# | SGD | — | $p \leftarrow p - \mu g$ |
# | SGD with momentum $\beta$ | $v \leftarrow \beta v + g$ | $p \leftarrow p - \mu v$ |
# | RMSProp, decay $\rho$ | $s \leftarrow \rho s + (1 - \rho) g^2$ | $p \leftarrow p - \mu\, g / (\sqrt{s} + \epsilon)$ |
# | Adam, step $t = 1, 2, \ldots$ | $m \leftarrow \beta_1 m + (1 - \beta_1) g$, $v \leftarrow \beta_2 v + (1 - \beta_2) g^2$ | $p \leftarrow p - \mu\, \hat m / (\sqrt{\hat v} + \epsilon)$, $\hat m = m / (1 - \beta_1^t)$, $\hat v = v / (1 - \beta_2^t)$ |
#
# **Momentum** averages the gradients over time, so steps along a consistent direction grow and
# oscillations across a valley cancel. **RMSProp** divides each coordinate by a running average of
# its gradient's size, so steep and flat directions advance at similar speeds. **Adam** does both;
# the factors $1 / (1 - \beta^t)$ correct the bias of $m$ and $v$ towards their zero start.

# %%
import numpy as np
import matplotlib.pyplot as plt

import dp
from dp.data import make_spirals
from dp.exercises import check, exercise
from dp.exercises.course import plot_curves
from dp.nn import SGD, SGD_Momentum, Adam, Linear, RMSProp, Sequential, cross_entropy, relu

# %% [markdown]
# ## Three update rules
#
# **Exercise 2.3.** Write one step of each rule, as a pure function: take the parameter, its
# gradient and the optimizer's state (NumPy arrays) and the hyper-parameters; return the new
# parameter and the new state, exactly as in the table.

# %%
@exercise("part2.momentum_step")
def momentum_step(param, grad, velocity, learning_rate, momentum):
    # YOUR CODE HERE: return new_param, new_velocity
    raise NotImplementedError


check("part2.momentum_step", momentum_step)

# %%
@exercise("part2.rmsprop_step")
def rmsprop_step(param, grad, square_avg, learning_rate, decay, eps):
    # YOUR CODE HERE: return new_param, new_square_avg
    raise NotImplementedError


check("part2.rmsprop_step", rmsprop_step)

# %%
@exercise("part2.adam_step")
def adam_step(param, grad, m, v, t, learning_rate, beta1, beta2, eps):
    # YOUR CODE HERE: return new_param, new_m, new_v
    raise NotImplementedError


check("part2.adam_step", adam_step)

# %% [markdown]
# Your Adam and dp's `Adam` take the same steps. dp's optimizers keep their state inside and
# update the parameters in place; `step(params, grads)` takes dicts name -> array:

# %%
rng = np.random.default_rng(0)
mine = theirs = rng.normal(size=3)
m = v = np.zeros(3)
optimizer = Adam(learning_rate=0.1)
params = {"p": theirs.copy()}
for t in range(1, 4):
    grad = np.cos(mine) + mine            # any gradient will do
    mine, m, v = adam_step(mine, grad, m, v, t, 0.1, 0.9, 0.999, 1e-8)
    optimizer.step(params, {"p": np.cos(params["p"]) + params["p"]})
    print(f"step {t}: yours {mine.round(6)}, dp's {params['p'].round(6)}")

# %% [markdown]
# ## Paths in a valley
#
# The loss $f(a, b) = \frac12 (a^2 + 20 b^2)$ is a long, narrow valley: 20 times steeper across
# ($b$) than along it ($a$). Plain SGD must keep its learning rate small enough for the steep
# direction (above $2/20 = 0.1$ it diverges) and then zigzags and crawls along the flat one;
# momentum builds up speed along the valley; RMSProp and Adam rescale the two directions. The
# gradients come from `dp.grad`; each optimizer takes 50 steps from the same start, with a
# learning rate tuned by hand for this valley.

# %%
def valley(p):
    return 0.5 * (p[0] * p[0] + 20 * p[1] * p[1])


valley_grad = dp.grad(valley)
optimizers = {"SGD, lr 0.09": SGD(learning_rate=0.09),
              "momentum 0.7, lr 0.03": SGD_Momentum(learning_rate=0.03, momentum=0.7),
              "RMSProp, lr 0.3": RMSProp(learning_rate=0.3),
              "Adam, lr 0.3, beta1 0.8": Adam(learning_rate=0.3, beta1=0.8)}
a_grid, b_grid = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-2, 2, 200))
fig, ax = plt.subplots(figsize=(8, 4.5))
ax.contour(a_grid, b_grid, valley(np.array([a_grid, b_grid])), levels=np.geomspace(0.05, 60, 14),
           colors="0.7", linewidths=0.6)
for name, optimizer in optimizers.items():
    p = np.array([-4.0, 1.5])
    path = [p.copy()]
    for _ in range(50):
        optimizer.step({"p": p}, {"p": valley_grad(p)})
        path.append(p.copy())
    path = np.array(path)
    ax.plot(path[:, 0], path[:, 1], ".-", markersize=4, linewidth=1,
            label=f"{name}: f = {valley(path[-1]):.1e} after 50 steps")
ax.plot(0, 0, "k*", markersize=12)
ax.set(xlabel="a", ylabel="b", title="50 steps on f(a, b) = (a² + 20 b²) / 2")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## The same network, four optimizers
#
# A network with two hidden ReLU layers learns the spirals, from the same initial weights and on
# the same minibatches of 64 points, with each optimizer at a learning rate that suits it. The
# thin lines are the loss of each minibatch; the thick ones its running mean over 25 steps. The
# accuracy in the legend is measured on the 600 training points themselves, after training: it
# says how well each optimizer fits them, not how well the network does on points it has not seen
# (a held-out test set answers that, as in `24_mnist`).

# %%
x, y = make_spirals(n=600, classes=3, noise=0.2, rng=0)


def spiral_network():
    rng = np.random.default_rng(0)   # the same initial weights every time
    return Sequential([Linear(2, 64, rng=rng, activation=relu), Linear(64, 64, rng=rng, activation=relu),
                       Linear(64, 3, rng=rng)], loss=cross_entropy)


choices = {"SGD, lr 0.05": (SGD, 0.05), "SGD with momentum 0.9, lr 0.05": (SGD_Momentum, 0.05),
           "RMSProp, lr 0.003": (RMSProp, 0.003), "Adam, lr 0.003": (Adam, 0.003)}
curves, smooth = {}, {}
for label, (Optimizer, learning_rate) in choices.items():
    model = spiral_network()
    optimizer = Optimizer(model, x, y, learning_rate=learning_rate, batch_size=64, rng=0)
    _, losses, _ = optimizer.train(steps=800, print_each=None, err_hist=True, progress=False)
    accuracy = (model(x).value.argmax(axis=1) == y).mean()
    curves[label] = losses
    smooth[f"{label}: training accuracy {accuracy:.1%}"] = np.convolve(losses, np.ones(25) / 25, mode="valid")

ax = plot_curves(smooth, title="two ReLU layers on the spirals, minibatches of 64", ylabel="cross-entropy",
                 log_y=True)
for index, losses in enumerate(curves.values()):
    ax.plot(losses, color=f"C{index}", alpha=0.2, linewidth=0.7)
plt.show()

# %% [markdown]
# On this problem momentum and the adaptive methods reach a low loss several times faster than
# plain SGD. The adaptive methods are also much less sensitive to the learning rate: try changing
# the rates above by a factor of ten.
#
# ## Summary
#
# * Momentum: a running average of gradients — faster along consistent directions, damped across.
# * RMSProp: divide by a running root-mean-square of the gradient — each coordinate its own scale.
# * Adam: both, with bias correction; a good default (learning rate around $10^{-3}$).
# * Next, `23_dropout_batchnorm`: two layers that change how networks train.
