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
# # Part 0 · Why gradients
#
# Training a model means changing its parameters until a number — the loss — is as small as
# possible. This notebook shows why we want the *gradient* of that number for this, and what
# the ways of computing it cost:
#
# 1. **Random local search** against **gradient ascent** on the smallest circuit there is, a
#    multiply gate (from the blog *10 Days of Grad*, after Karpathy's *Hacker's guide*).
# 2. **Gradient descent** on linear least squares, compared with the closed-form answer.
# 3. **Numeric, symbolic and automatic differentiation**, with a plot of the error of finite
#    differences against their step size.
#
# There are two small exercises. Each one is a function for you to fill in, followed by a
# `check(...)` cell that runs your function against the reference on random inputs and prints
# one verdict: `✓ … correct (…)` — for example
# `✓ part0.least_squares_gradient: correct (40 random inputs, sizes 1 to 8)` — or `✗ …` with the
# smallest input where yours differs, what yours returned, the value it expected and what differs,
# by how much (or the line of yours that raised; or `… not written yet` while the stub is still
# empty).

# %%
import numpy as np
import matplotlib.pyplot as plt

import dp
from dp.data import make_linear_regression
from dp.exercises import check, exercise

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Random local search on a multiply gate
#
# The gate computes $f(x, y) = x \cdot y$. At $x = -2$, $y = 3$ it outputs $-6$. We would like
# to nudge the inputs so that the output *increases*. Without any calculus, we can try random
# nudges and keep those that help: **random local search**. Each of the 100 iterations moves
# $x$ and $y$ by a random amount in $[-0.01, 0.01)$ and keeps the move only if the output went up.

# %%
def multiply_gate(x, y):
    return x * y


def random_local_search(x, y, tweak=0.01, iterations=100, rng=rng):
    """Try random nudges; keep the best. Returns the best output after each iteration."""
    best = multiply_gate(x, y)
    history = []
    for _ in range(iterations):
        x_try = x + tweak * rng.uniform(-1, 1)
        y_try = y + tweak * rng.uniform(-1, 1)
        out = multiply_gate(x_try, y_try)
        if out > best:
            x, y, best = x_try, y_try, out
        history.append(best)
    return x, y, history


x_rs, y_rs, search_history = random_local_search(-2.0, 3.0)
print(f"random search: x = {x_rs:.4f}, y = {y_rs:.4f}, output {search_history[-1]:.4f}")
print(f"improvement per iteration: {(search_history[-1] + 6) / 100:.4f}")

# %% [markdown]
# The output crawls up from $-6$: about half of the tries point the wrong way and are thrown
# away, and the ones that help, help only a little.
#
# ## 2. Gradient ascent
#
# The gradient tells us the best direction at once. For $f = x y$:
# $\partial f / \partial x = y = 3$ and $\partial f / \partial y = x = -2$: increase $x$,
# decrease $y$. A step of size $\mu$ along the gradient, $x \leftarrow x + \mu\, \partial f/\partial x$,
# improves the output at *every* iteration.

# %%
def gradient_ascent(x, y, step=0.01, iterations=100):
    history = []
    for _ in range(iterations):
        dx, dy = y, x                      # the gradient of x * y
        x, y = x + step * dx, y + step * dy
        history.append(multiply_gate(x, y))
    return x, y, history


x_ga, y_ga, ascent_history = gradient_ascent(-2.0, 3.0)
print(f"gradient ascent: x = {x_ga:.4f}, y = {y_ga:.4f}, output {ascent_history[-1]:.4f}")

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(search_history, label="random local search (tweak 0.01)")
ax.plot(ascent_history, label="gradient ascent (step 0.01)")
ax.set(xlabel="iteration", ylabel="output of the gate", title="Climbing f(x, y) = x y from (-2, 3)")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# One gradient evaluation replaces many random tries, and the advantage grows with the number of
# inputs: in a million dimensions, almost every random direction is useless, while the gradient
# still points the right way. So: **how do we get gradients of complicated functions?** The rest
# of the course answers that. First, the classic use of the gradient.
#
# ## 3. Gradient descent on linear least squares
#
# The example of the project sheet ("Algorithmic differentiation for machine learning"): we observe inputs $\mathbf{x}_n$ and targets $y_n$ and look for the
# parameters $\boldsymbol\theta$ that minimise
#
# $$J(\boldsymbol\theta) = \sum_n \left(y_n - \mathbf{x}_n^T \boldsymbol\theta\right)^2 .$$
#
# Gradient descent repeats $\boldsymbol\theta \leftarrow \boldsymbol\theta - \mu\, \partial J / \partial\boldsymbol\theta$.
#
# **Exercise 0.1.** Write the gradient $\partial J / \partial \boldsymbol\theta$ for a design
# matrix `X` (one observation per row), targets `y` and parameters `theta`. Hint: the chain rule
# on the square, and keep it vectorised — one line of NumPy.

# %%
@exercise("part0.least_squares_gradient")
def least_squares_gradient(X, y, theta):
    # YOUR CODE HERE
    raise NotImplementedError


check("part0.least_squares_gradient", least_squares_gradient)

# %% [markdown]
# Now the data: 100 noisy points on a line $y = w x + b$. A column of ones in `X` makes the bias
# $b$ the second parameter. We run gradient descent from $\boldsymbol\theta = (0, 0)$ and
# compare it with the **closed form**: the $\boldsymbol\theta$ where the gradient is zero, the
# solution of the normal equations $X^T X \boldsymbol\theta = X^T y$.

# %%
x, y, true_w, true_b = make_linear_regression(n=100, n_features=1, noise=0.3, rng=1)
X = np.column_stack([x[:, 0], np.ones(len(x))])

theta_closed = np.linalg.solve(X.T @ X, X.T @ y)

learning_rate = 0.0005
theta = np.zeros(2)
path, losses = [theta], []
for step in range(150):
    losses.append(np.sum((y - X @ theta) ** 2))
    theta = theta - learning_rate * least_squares_gradient(X, y, theta)
    path.append(theta)
path = np.array(path)

print(f"true parameters:        w = {true_w[0]: .4f}, b = {true_b: .4f}")
print(f"closed form:            w = {theta_closed[0]: .4f}, b = {theta_closed[1]: .4f}")
print(f"gradient descent (150): w = {theta[0]: .4f}, b = {theta[1]: .4f}")
print(f"distance to the closed form: {np.linalg.norm(theta - theta_closed):.2e}")

# %% [markdown]
# The left plot shows the path of $\boldsymbol\theta$ on the contour lines of $J$, with the same
# scale on both axes (otherwise angles are distorted): each step goes downhill, at right angles to
# the contour it starts from, because the gradient is perpendicular to the contour lines.
#
# The right plot shows the distance to the minimum, $J(\boldsymbol\theta) - J(\boldsymbol\theta^*)$,
# on a logarithmic axis. It is (nearly) a straight line: every step multiplies the distance by about
# the same factor, below 1 — it shrinks *geometrically*, and on a log axis geometric decay is a
# straight line going down. (On a linear axis the same numbers would drop fast at first and then
# seem to crawl.)

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
# A square window around the path, drawn with equal scales on both axes (aspect="equal"): only
# then does a step look, as it is, perpendicular to the contour line it starts from.
centre, half = (path.min(axis=0) + path.max(axis=0)) / 2, 0.7 * np.ptp(path, axis=0).max()
w_grid, b_grid = np.meshgrid(np.linspace(centre[0] - half, centre[0] + half, 150),
                             np.linspace(centre[1] - half, centre[1] + half, 150))
J = ((y[None, None, :] - w_grid[..., None] * x[None, None, :, 0] - b_grid[..., None]) ** 2).sum(-1)
J_min = np.sum((y - X @ theta_closed) ** 2)
# Contour levels spaced geometrically above the minimum, so that there are lines near it too.
left.contour(w_grid, b_grid, J, levels=J_min + np.geomspace(0.05, J.max() - J_min, 25),
             cmap="viridis", linewidths=0.7)
left.plot(path[:, 0], path[:, 1], ".-", color="C3", markersize=3, label="gradient descent")
left.plot(*theta_closed, "k*", markersize=12, label="closed form")
left.set(xlabel="w", ylabel="b", title="the path of θ on the contours of J", aspect="equal")
left.legend(loc="lower right")
distance = np.array(losses) - J_min
right.semilogy(distance)
right.set(xlabel="step", ylabel="J(θ) − J(θ*)", title="distance to the minimum (log axis)")
right.grid(alpha=0.3)
plt.show()
factor = (distance[-1] / distance[0]) ** (1 / (len(distance) - 1))
print(f"on average, each step multiplies the distance to the minimum by {factor:.3f}")

# %% [markdown]
# For least squares gradient descent is not the method of choice — the closed form is exact and
# cheap. Its advantage is that it needs nothing but the gradient, so it works for loss functions
# that have no closed form at all: every neural network.
#
# ## 4. Three ways to compute a derivative
#
# **Numeric differentiation** evaluates $f$ near $x$. The one-sided quotient
# $(f(x + h) - f(x)) / h$ has an error proportional to $h$; the **central difference**
#
# $$f'(x) \approx \frac{f(x + h) - f(x - h)}{2h}$$
#
# cancels the $h^2$ term of the Taylor series, so its error is proportional to $h^2$.
#
# **Exercise 0.2.** Write the central difference quotient.

# %%
@exercise("part0.central_difference")
def central_difference(f, x, h):
    # YOUR CODE HERE
    raise NotImplementedError


check("part0.central_difference", central_difference)

# %% [markdown]
# Then a smaller $h$ is always better? No: $f(x + h)$ and $f(x - h)$ are rounded to about 16
# digits, and their difference loses the digits they share. The rounding error grows like
# $\varepsilon_{\text{machine}} / h$ while the truncation error shrinks like $h$ (or $h^2$).
# The plot shows both effects for $f = \exp$ at $x = 1$, where $f'(1) = e$: a V, whose bottom is
# the best any finite difference can do. Automatic differentiation (here `dp.grad`) has no step
# size at all and is exact to rounding.

# %%
f, x0, exact = np.exp, 1.0, np.e
steps = np.logspace(-15, 0, 61)
forward_error = [abs((f(x0 + h) - f(x0)) / h - exact) for h in steps]
central_error = [abs(central_difference(f, x0, h) - exact) for h in steps]
ad_error = abs(float(dp.grad(np.exp)(x0)) - exact)

fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
ax.loglog(steps, forward_error, label="one-sided (f(x+h) − f(x)) / h")
ax.loglog(steps, central_error, label="central (f(x+h) − f(x−h)) / 2h")
ad_label = "automatic (dp.grad): exact, error 0 (drawn at 1e-17)" if ad_error == 0 else f"automatic: {ad_error:.0e}"
ax.axhline(max(ad_error, 1e-17), color="k", linestyle="--", label=ad_label)
ax.set(xlabel="step size h", ylabel="|error of f'(1)|", title="Finite differences: truncation against rounding")
ax.grid(alpha=0.3, which="both")
# Below the axes: inside, every corner holds a curve or the automatic line along the bottom.
fig.legend(loc="outside lower center")
plt.show()
print(f"best one-sided step: h = {steps[np.argmin(forward_error)]:.0e} (error {min(forward_error):.1e})")
print(f"best central step:   h = {steps[np.argmin(central_error)]:.0e} (error {min(central_error):.1e})")

# %% [markdown]
# Finite differences have a second problem: one gradient of a function of $n$ inputs needs
# $n + 1$ (or $2n$) evaluations. For a network with a million weights, that is a million forward
# passes per training step.
#
# **Symbolic differentiation** (what a computer-algebra system does) applies the rules of
# calculus to the *expression*. It is exact, but the derivative of a product repeats its
# factors, so expressions swell. Here is a tiny symbolic differentiator for expressions written
# as nested tuples, applied to $f_1 = x \sin x$, $f_{k+1} = f_k \sin f_k$:

# %%
def d(e):
    """The symbolic derivative of an expression with respect to x."""
    if e == "x":
        return 1
    if isinstance(e, (int, float)):
        return 0
    op, *args = e
    if op == "*":
        a, b = args
        return ("+", ("*", d(a), b), ("*", a, d(b)))
    if op == "sin":
        return ("*", ("cos", args[0]), d(args[0]))
    raise ValueError(op)


def size(e):
    return 1 + sum(size(a) for a in e[1:]) if isinstance(e, tuple) else 1


expression = "x"
for k in range(1, 7):
    expression = ("*", expression, ("sin", expression))
    print(f"f_{k}: {size(expression):5d} symbols, its derivative {size(d(expression)):7d} symbols")

# %% [markdown]
# The derivative grows much faster than the function (a real system would simplify, and share
# common sub-expressions — and that sharing is exactly what automatic differentiation does).
#
# **Automatic differentiation** applies the chain rule to the *program*, one elementary
# operation at a time, on numbers instead of expressions. It is exact to rounding, like symbolic
# differentiation, and costs a small constant times one evaluation of $f$ — whatever the number of
# inputs, in reverse mode. `dp` does exactly that:

# %%
def f_k(x, k=6):
    for _ in range(k):
        x = x * np.sin(x)
    return x


print("dp.grad:           ", float(dp.grad(f_k)(2.0)))
print("central difference:", central_difference(f_k, 2.0, 1e-5))

# %% [markdown]
# ## Summary
#
# * A gradient gives the best local direction in one go; random search wastes almost all its tries.
# * Gradient descent needs only the gradient, so it works where no closed form exists.
# * Finite differences are approximate (a step size to choose, a V of errors) and cost one
#   evaluation per input; symbolic derivatives swell; automatic differentiation is exact and cheap.
#
# Next, **Part 1** builds automatic differentiation: forward mode with dual numbers
# (`10_dual_numbers`), then reverse mode, by hand (`11_reverse_mode_by_hand`) and as a library
# (`12_write_a_node`).
