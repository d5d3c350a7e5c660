"""Reference solutions of the course's exercises, chapter by chapter.

Read these after trying: each is the shortest clear answer, with the maths in its docstring. The
checker (`dp.exercises.checker`) runs a student's answer against them on random inputs, and
`DP_EXERCISES=solutions` puts them in place of the notebooks' stubs.

Methods of the classes (`Dual`, `MiniNode`) build their results with `type(self)` and
`self._lift`, so that they also work as methods of the notebooks' own classes of the same shape
(that is how a reference method stands in for a student's method that is not written yet).
"""

from __future__ import annotations

import math

import numpy as np

from dp.forward import Dual as _DpDual
from dp.node import Node

__all__ = [
    "central_difference",
    "least_squares_gradient",
    "Dual",
    "reverse_by_hand",
    "neuron_by_hand",
    "unbroadcast",
    "topological_order",
    "MiniNode",
    "jacobian_reverse",
    "jacobian_forward",
    "log1p_vjp",
    "cumulative_sum_vjp",
    "one_layer_step",
    "huber",
    "xavier_std",
    "he_std",
    "deep_forward",
    "momentum_step",
    "rmsprop_step",
    "adam_step",
    "dropout",
    "batchnorm",
    "confusion_matrix",
    "to_torch_state",
]

# ================================================================================================
# Part 0: why gradients


def central_difference(f, x, h):
    """f'(x) ~ (f(x + h) - f(x - h)) / (2h): error O(h^2), against O(h) for the one-sided quotient."""
    return (f(x + h) - f(x - h)) / (2 * h)


def least_squares_gradient(X, y, theta):
    """J(theta) = sum_n (y_n - x_n^T theta)^2, so dJ/dtheta = -2 X^T (y - X theta)."""
    return -2 * X.T @ (y - X @ theta)


# ================================================================================================
# Part 1.0: forward mode with dual numbers


class Dual:
    """A dual number (value, tangent): the tangent is the derivative along the chosen direction."""

    def __init__(self, value, tangent=0.0):
        self.value = value
        self.tangent = tangent

    def __repr__(self):
        return f"Dual({self.value!r}, {self.tangent!r})"

    def _lift(self, other):
        """A constant is a dual number whose tangent is 0."""
        return other if isinstance(other, Dual) else type(self)(other, 0.0)

    def __add__(self, other):
        other = self._lift(other)
        return type(self)(self.value + other.value, self.tangent + other.tangent)

    __radd__ = __add__

    def __neg__(self):
        return type(self)(-self.value, -self.tangent)

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __rsub__(self, other):
        return self._lift(other) - self

    def __mul__(self, other):
        """(x, x') * (y, y') = (x y, x y' + x' y): the product rule."""
        other = self._lift(other)
        return type(self)(self.value * other.value, self.value * other.tangent + self.tangent * other.value)

    __rmul__ = __mul__

    def __truediv__(self, other):
        """(x, x') / (y, y') = (x / y, (x' y - x y') / y^2): the quotient rule."""
        other = self._lift(other)
        return type(self)(
            self.value / other.value, (self.tangent * other.value - self.value * other.tangent) / other.value**2
        )

    def __rtruediv__(self, other):
        return self._lift(other) / self

    def exp(self):
        """exp(x, x') = (exp(x), x' exp(x)): the chain rule with d exp(x)/dx = exp(x)."""
        out = np.exp(self.value)
        return type(self)(out, self.tangent * out)


# ================================================================================================
# Part 1.1: reverse mode by hand


def reverse_by_hand(x1, x2):
    """dy/dx1 and dy/dx2 for y = x1 x2 + sin(x1), by the slides' forward and backward sweeps."""
    # forward: the primal trace
    v0, v1 = x1, x2
    v2 = v0 * v1
    v3 = np.sin(v0)
    v4 = v2 + v3
    del v4  # y; the backward sweep needs only the intermediate values
    # backward: the adjoints v_bar = dy/dv, from the output to the inputs
    v4_bar = 1.0
    v3_bar = v4_bar * 1.0  # v4 = v2 + v3
    v2_bar = v4_bar * 1.0
    v1_bar = v2_bar * v0  # v2 = v0 v1
    v0_bar = v2_bar * v1 + v3_bar * np.cos(v0)  # v0 feeds v2 and v3: the two paths add up
    return v0_bar, v1_bar


def neuron_by_hand(a, b, c, x, y):
    """The five partial derivatives of sigma(a x + b y + c), by one backward sweep."""
    z = a * x + b * y + c
    s = 1 / (1 + np.exp(-z))
    z_bar = s * (1 - s)  # d sigma(z)/dz = sigma(z) (1 - sigma(z))
    return z_bar * x, z_bar * y, z_bar, z_bar * a, z_bar * b


# ================================================================================================
# Part 1.2: write a Node


def unbroadcast(g, shape):
    """Sum g back to `shape`: over the leading axes broadcasting added, and over the axes where
    `shape` has size 1 but g does not (every copy of an element sends its gradient back to it)."""
    g = np.asarray(g)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def topological_order(output):
    """Every node `output` depends on, each after all its parents, without recursion.

    A depth-first walk with an explicit stack: a node is written out when it is popped the
    second time, after all its parents have been written out.
    """
    order, visited = [], set()
    stack = [(output, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for parent in node.parents:
            if parent not in visited:
                stack.append((parent, False))
    return order


class MiniNode:
    """A node of a computational graph in forty lines: the engine of chapter 1.2."""

    def __init__(self, value, name=None, parents=(), vjps=()):
        self.value = np.asarray(value, dtype=float)
        self.name = name
        self.parents = parents  # the nodes this one was computed from
        self.vjps = vjps  # for each parent: gradient at this node -> gradient for the parent

    def __repr__(self):
        label = f", name={self.name!r}" if self.name else ""
        return f"MiniNode({np.array2string(self.value, separator=', ')}{label})"

    def _lift(self, other):
        return other if isinstance(other, MiniNode) else type(self)(other)

    def __add__(self, other):
        """d(a + b)/da = 1, d(a + b)/db = 1."""
        other = self._lift(other)
        return type(self)(self.value + other.value, parents=(self, other), vjps=(lambda g: g, lambda g: g))

    def __mul__(self, other):
        """d(a b)/da = b, d(a b)/db = a (element-wise)."""
        other = self._lift(other)
        return type(self)(
            self.value * other.value, parents=(self, other), vjps=(lambda g: g * other.value, lambda g: g * self.value)
        )

    def exp(self):
        """d exp(a)/da = exp(a): reuse the output."""
        out = np.exp(self.value)
        return type(self)(out, parents=(self,), vjps=(lambda g: g * out,))

    def sum(self, axis=None):
        """Every element summed gets the whole incoming gradient: copy g back over the summed axis."""
        shape = self.value.shape

        def vjp(g):
            if axis is not None:
                g = np.expand_dims(g, axis)  # put the summed axis back, as size 1...
            return np.broadcast_to(g, shape)  # ...and repeat g along it

        return type(self)(self.value.sum(axis=axis), parents=(self,), vjps=(vjp,))

    def grad(self, seed=1.0):
        """dict name -> gradient of this node (seeded with `seed`) for every named node below it."""
        gradients = {self: np.broadcast_to(np.asarray(seed, dtype=float), self.value.shape)}
        named = {}
        for node in reversed(topological_order(self)):
            g = gradients.pop(node)
            if node.name is not None:
                named[node.name] = g
            for parent, vjp in zip(node.parents, node.vjps):
                contribution = unbroadcast(vjp(g), parent.value.shape)
                gradients[parent] = gradients[parent] + contribution if parent in gradients else contribution
        return named


# ================================================================================================
# Part 1.4: forward against reverse mode


def jacobian_reverse(f, x):
    """The Jacobian (m, n) of f: R^n -> R^m, one row per backward pass (seed e_i)."""
    out = f(Node(x, "x"))
    return np.stack([out.grad(seed)["x"] for seed in np.eye(out.shape[0])])


def jacobian_forward(f, x):
    """The Jacobian (m, n) of f: R^n -> R^m, one column per forward pass (tangent e_j)."""
    return np.stack([f(_DpDual(x, direction)).tangent for direction in np.eye(len(x))], axis=1)


# ================================================================================================
# Part 1.5: your own operation. VJP rules (g, out, x) -> the gradient for x, written with NumPy
# functions only, so that they work on arrays and on Nodes alike (higher derivatives).


def log1p_vjp(g, out, x):
    """log1p(x) = log(1 + x), so d/dx = 1 / (1 + x): the gradient for x is g / (1 + x).

    (Not g / (1 + out): out is log1p(x), the output, not the operand.)"""
    return g / (1 + x)


def cumulative_sum_vjp(g, out, x):
    """y_i = x_0 + ... + x_i, so x_j takes part in every y_i with i >= j and its gradient is
    g_j + g_(j+1) + ... + g_(n-1): the cumulative sum of g taken from the end."""
    return np.flip(np.cumsum(np.flip(g)))


# ================================================================================================
# Part 1.6: static and dynamic graphs


def one_layer_step(x, W, b, t):
    """L = 1/2 sum((tanh(x W + b) - t)^2), and its gradients for W and b: the program dp.trace
    writes, by hand. Forward: the evaluation trace. Backward: each adjoint from the one after it,
    tanh' = 1 - tanh^2 from the stored output, b's gradient summed over the rows it was broadcast
    to, W's the matrix product x^T v_bar (the operand's shape: (d, k))."""
    v0 = x @ W
    v1 = v0 + b
    v2 = np.tanh(v1)
    v3 = v2 - t
    loss = 0.5 * np.sum(v3**2)
    v3_bar = v3
    v1_bar = v3_bar * (1 - v2 * v2)
    return loss, {"W": x.T @ v1_bar, "b": v1_bar.sum(axis=0)}


def huber(x):
    """sum_i huber(x_i), huber(x) = x^2 / 2 where |x| <= 1, else |x| - 1/2, with no Python `if`
    on the data: `np.where` picks per element, and its mask (a comparison of Nodes) is computed
    again at every call of a traced step, so the step is right for any x."""
    x = Node(x, "x")
    return np.where(abs(x) <= 1, 0.5 * x * x, abs(x) - 0.5).sum()


# ================================================================================================
# Part 2: best practices


def xavier_std(n_in, n_out):
    """Glorot & Bengio (2010): Var(W) = 2 / (fan_in + fan_out)."""
    return math.sqrt(2 / (n_in + n_out))


def he_std(n_in):
    """He et al. (2015): Var(W) = 2 / fan_in, since ReLU zeroes half of its inputs."""
    return math.sqrt(2 / n_in)


def deep_forward(x, weights, biases, activation):
    """The paper's deep network: H <- act(H W + b) for every layer but the last, then a sigmoid."""
    h = x
    for W, b in zip(weights[:-1], biases[:-1]):
        h = activation(h @ W + b)
    return (h @ weights[-1] + biases[-1]).sigmoid()


def momentum_step(param, grad, velocity, learning_rate, momentum):
    """PyTorch's SGD with momentum: v <- momentum v + g, p <- p - learning_rate v."""
    velocity = momentum * velocity + grad
    return param - learning_rate * velocity, velocity


def rmsprop_step(param, grad, square_avg, learning_rate, decay, eps):
    """s <- decay s + (1 - decay) g^2, p <- p - learning_rate g / (sqrt(s) + eps)."""
    square_avg = decay * square_avg + (1 - decay) * grad**2
    return param - learning_rate * grad / (np.sqrt(square_avg) + eps), square_avg


def adam_step(param, grad, m, v, t, learning_rate, beta1, beta2, eps):
    """Adam's step number t (1, 2, ...): moments, bias correction, update."""
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return param - learning_rate * m_hat / (np.sqrt(v_hat) + eps), m, v


def dropout(x, keep, p):
    """Inverted dropout: keep each element where `keep` is True and scale by 1 / (1 - p)."""
    return x * (keep / (1 - p))


def batchnorm(x, gamma, beta, eps):
    """Training-mode batch normalisation of the rows of x, per feature (column)."""
    mean = x.mean(axis=0)
    centered = x - mean
    var = (centered * centered).mean(axis=0)
    return centered / (var + eps).sqrt() * gamma + beta


def confusion_matrix(y_true, y_pred, n_classes):
    """counts[i, j] = how many examples of class i were predicted as class j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


# ================================================================================================
# Part 3: on to PyTorch


def to_torch_state(params):
    """dp's {"h1.W": (n_in, n_out), "h1.b": (n_out,)} as torch.nn.Linear's {"h1.weight": (n_out, n_in),
    "h1.bias": (n_out,)}: PyTorch computes x @ W.T + b, so its weight is dp's W transposed."""
    state = {}
    for name, value in params.items():
        layer, kind = name.rsplit(".", 1)
        if kind == "W":
            state[f"{layer}.weight"] = value.T
        else:
            state[f"{layer}.bias"] = value
    return state
