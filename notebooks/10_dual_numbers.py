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
# # Part 1.0 · Forward mode with dual numbers
#
# The simplest automatic differentiation carries, next to every number, its derivative. A
# **dual number** $x + \dot x\,\varepsilon$ is a pair $(x, \dot x)$ — a *value* and a *tangent* —
# with the one rule $\varepsilon^2 = 0$. Then Taylor's series stops after one term:
#
# $$f(x + \dot x\,\varepsilon) = f(x) + f'(x)\,\dot x\,\varepsilon ,$$
#
# so evaluating $f$ on a dual number returns $f(x)$ *and* $f'(x)\,\dot x$. To make that work we
# only need each elementary operation to know its derivative — the blog *10 Days of Grad*
# writes them in one line each:
#
# ```
# (x, x') *. (y, y') = (x * y, x * y' + x' * y)
# (x, x') /. (y, y') = (x / y, (y * x' - x * y') / y^2)
# exp1 (x, x')       = (exp x, x' * exp x)
# ```
#
# In this notebook you write those three for a Python class `Dual`, then compute the gradient of
# the blog's sigmoid neuron with it.

# %%
import numpy as np
import matplotlib.pyplot as plt

import dp
from dp.exercises import check, exercise

# %% [markdown]
# ## The Dual class
#
# Addition, subtraction and negation are given; they add (or negate) the tangents, because the
# derivative of a sum is the sum of the derivatives. A plain number $c$ becomes the dual number
# $(c, 0)$: a constant does not change when the inputs move (`_lift`). The operations build their
# results with `Dual(value, tangent)`.
#
# **Exercise 1.1.** Fill in `__mul__` (the product rule), `__truediv__` (the quotient rule) and
# `exp` (the chain rule: the tangent of $\exp(x)$ is $\dot x \exp(x)$). Use `np.exp`, not
# `math.exp`, so that your Dual also works when value and tangent are NumPy arrays (the check tries
# both; where it has reported that a method of yours raises, the reference stands in for that
# method in the cells below, with a note, so that the rest of the notebook still runs). Run the
# cell, then the checks below it; change the cell and run both again until each check prints
# `✓ …: correct`.

# %%
@exercise("part1.dual_mul", "part1.dual_div", "part1.dual_exp")
class Dual:
    """A dual number value + tangent·ε with ε² = 0."""

    def __init__(self, value, tangent=0.0):
        self.value = value
        self.tangent = tangent

    def __repr__(self):
        return f"Dual({self.value!r}, {self.tangent!r})"

    def _lift(self, other):
        """A constant c is the dual number (c, 0)."""
        return other if isinstance(other, Dual) else Dual(other, 0.0)

    def __add__(self, other):
        other = self._lift(other)
        return Dual(self.value + other.value, self.tangent + other.tangent)

    def __radd__(self, other):
        return self + other

    def __neg__(self):
        return Dual(-self.value, -self.tangent)

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __rsub__(self, other):
        return self._lift(other) - self

    def __mul__(self, other):
        other = self._lift(other)
        # YOUR CODE HERE: return Dual(value of the product, tangent of the product)
        raise NotImplementedError

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        other = self._lift(other)
        # YOUR CODE HERE
        raise NotImplementedError

    def __rtruediv__(self, other):
        return self._lift(other) / self

    def exp(self):
        # YOUR CODE HERE
        raise NotImplementedError


# %%
check("part1.dual_mul", Dual)

# %%
check("part1.dual_div", Dual)

# %%
check("part1.dual_exp", Dual)

# %% [markdown]
# A first test by hand: $\frac{d}{dx} x^2 e^x = (2x + x^2) e^x$, which is $3e \approx 8.155$ at
# $x = 1$. We seed the input with tangent 1 — "move $x$ at unit speed" — and read the tangent of
# the output.

# %%
x = Dual(1.0, 1.0)
y = x * x * x.exp()
print(y.value, y.tangent, "expected", 3 * np.e)

# %% [markdown]
# ## The sigmoid neuron
#
# The blog's neuron is $f(a, b, c, x, y) = \sigma(a x + b y + c)$ with
# $\sigma(z) = 1 / (1 + e^{-z})$, built from the operations above and nothing else. At
# $a = 1, b = 2, c = -3, x = -1, y = 3$ it outputs $0.8808$.
#
# Which derivative do we get? The one we *seed*. The project sheet ("Algorithmic differentiation for machine learning") explains it: each input gets a seed
# tangent, and the output's tangent is $\sum_i \frac{\partial f}{\partial v_i} \dot v_i$. Seeding
# $a$ with 1 and the others with 0 gives $\partial f / \partial a$; to get all five partial
# derivatives, forward mode runs the function **five times**, once per input.

# %%
def sigmoid(z):
    return 1 / (1 + (-z).exp())


def neuron(a, b, c, x, y):
    return sigmoid(a * x + b * y + c)


point = {"a": 1.0, "b": 2.0, "c": -3.0, "x": -1.0, "y": 3.0}
blog = {"a": -0.1049935854035065, "b": 0.3149807562105195, "c": 0.1049935854035065,
        "x": 0.1049935854035065, "y": 0.209987170807013}

# One pass per input, all of them before the table is printed: a note that a reference method
# stands in for one of yours would otherwise land in the middle of the table.
passes = {}
for name in point:
    seeded = [Dual(value, 1.0 if other == name else 0.0) for other, value in point.items()]
    passes[name] = neuron(*seeded)

print(f"{'input':>5}  {'df/d input (yours)':>20}  {'the blog':>20}")
for name, out in passes.items():
    print(f"{name:>5}  {out.tangent:20.16f}  {blog[name]:20.16f}")
print(f"value: {out.value:.16f}  (the blog: 0.8807970779778823)")

# %% [markdown]
# The project sheet's question: what do we get when we seed *two* inputs with 1, say $a$ and $b$? The
# tangent is $\partial f / \partial a + \partial f / \partial b$: the derivative along the
# direction $(1, 1, 0, 0, 0)$. In general one forward pass gives one **Jacobian-vector product**
# $J \dot v$.

# %%
out = neuron(Dual(1.0, 1.0), Dual(2.0, 1.0), Dual(-3.0), Dual(-1.0), Dual(3.0))
print(out.tangent, "=", blog["a"] + blog["b"])

# %% [markdown]
# ## Many points at once
#
# Nothing in `Dual` requires numbers: with NumPy arrays as value and tangent, one pass
# differentiates at every point of a grid. Here is $\sigma$ and its derivative on 200 points,
# against the formula $\sigma'(z) = \sigma(z)(1 - \sigma(z))$.

# %%
z = Dual(np.linspace(-6, 6, 200), np.ones(200))
s = sigmoid(z)

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(z.value, s.value, label="σ(z)")
ax.plot(z.value, s.tangent, label="σ'(z) by dual numbers", linewidth=4, alpha=0.4)
ax.plot(z.value, s.value * (1 - s.value), "k:", label="σ(z)(1 − σ(z))")
ax.set(xlabel="z", title="The sigmoid and its derivative, in one forward pass")
ax.grid(alpha=0.3)
ax.legend()
plt.show()
print("largest slope:", s.tangent.max(), "— never above 1/4, which matters in Part 2")

# %% [markdown]
# ## The same with dp
#
# dp's forward mode, `dp.Dual`, is this idea with every operation of `dp.Node` (and NumPy's
# functions, via `__array_ufunc__`). `dp.jvp(f, primals, tangents)` seeds the inputs for you and
# returns $(f(x), J \dot v)$:

# %%
def neuron_np(p):
    a, b, c, x, y = p
    return 1 / (1 + np.exp(-(a * x + b * y + c)))


primals = np.array(list(point.values()))
value, derivative = dp.jvp(neuron_np, primals, np.array([1.0, 0, 0, 0, 0]))
print("dp.jvp, seed on a:", float(value), float(derivative))
print("dp.Dual:          ", dp.Dual(1.0, 1.0) * dp.Dual(2.0, 0.0))

# %% [markdown]
# ## Summary
#
# * A dual number carries a value and its derivative; each operation updates both by its own rule.
# * One forward pass gives one directional derivative $J\dot v$: all $n$ partial derivatives of a
#   function of $n$ inputs take $n$ passes.
# * A neural network's loss has *millions* of inputs (the weights) and one output. Forward mode
#   would need millions of passes. **Reverse mode** gets all of them in a single backward pass:
#   that is the next notebook, `11_reverse_mode_by_hand`.
