"""Node: a value in a computational graph, its elementary operations, and reverse mode.

Read this file first. A `Node` holds a NumPy array (`value`), an optional `name`, the nodes it was
computed from (`parents`) and, for each parent, a vector-Jacobian product: a small function that
turns the gradient arriving at the node into the gradient for that parent. Every operation below
computes its forward value and states those derivative rules side by side.

Reverse mode (`Node.grad`, `backpropagate`) visits each node once, in reverse topological order,
sums the gradients that arrive by several paths, and sums each gradient back to its parent's shape
in one place (`unbroadcast`) rather than in every rule.

Derivative rules are written with NumPy expressions that also work on Nodes (Node takes part in
NumPy's `__array_ufunc__` / `__array_function__` protocols). The ordinary backward pass feeds
them arrays; `grad(..., create_graph=True)` feeds them Nodes, so the gradient is itself a graph
that can be differentiated again.

    >>> a = Node([[1, 1, 1], [2, 2, 2]], "A")
    >>> b = Node([[1, 2, 3]], "B")
    >>> grads = (a * b).exp().sum().grad(1)
    >>> grads["B"].round(2)
    array([[ 17.5 , 116.59, 826.94]])
"""

from __future__ import annotations

import itertools
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: What a derivative rule receives and returns: arrays on the ordinary pass, Nodes when
#: `create_graph=True`.
Tensor = Any
#: A vector-Jacobian product: (gradient at the output, the output, *parents) -> parent's gradient.
VJP = Callable[..., Tensor]

_new_node = object.__new__
#: Numbers the nodes in the order they are created: a topological order of any graph.
_numbering = itertools.count()
_creation_number = operator.attrgetter("number")


class Node:
    """A value in a computational graph, with the rules to differentiate through it.

    `Node(value, name)` makes a leaf. A leaf with a name is a variable: `grad` reports the
    gradient with respect to it. A leaf without a name is a constant (inputs, labels): no gradient
    is computed for it, nor for anything that depends on constants only.

    `requires_grad=True` makes an unnamed leaf a variable too: `backpropagate` returns its gradient
    (keyed by the leaf itself), while `grad` reports named leaves only.

    Values are not copied: a graph reads its leaves' arrays when `grad` runs, so change a leaf's
    array in place only after the last `grad` of a graph (training loops build a new graph after
    each update). `==` compares identity (nodes are keys in the backward pass); compare values
    with `node.value == ...`. `<`, `<=`, `>`, `>=` compare values and return boolean arrays.
    """

    __slots__ = ("value", "name", "op", "parents", "vjps", "requires_grad", "number", "__weakref__")

    def __init__(self, value: Any, name: str | None = None, *, requires_grad: bool | None = None):
        if isinstance(value, Node):
            raise TypeError("Node(value): value is already a Node; use node.detach() for a constant copy")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Node(value, name): name must be a string or None, got {type(name).__name__}")
        self.value = _as_float_array(value, "Node(value)")
        self.name = name
        self.op = "leaf"
        self.parents = ()
        self.vjps = ()
        self.requires_grad = name is not None if requires_grad is None else bool(requires_grad)
        self.number = next(_numbering)

    # ----------------------------------------------------------------------------------------
    # Construction helpers

    def _operand(self, other: Any) -> Node:
        """`other` as a Node; Python numbers and integer arrays take this node's float dtype."""
        if isinstance(other, Node):
            return other
        if type(other) in (float, int):
            # Kept as a Python number: NumPy treats it as weak, so it never changes this node's
            # dtype, and array-with-number arithmetic is NumPy's fastest path.
            return _constant(other)
        return _constant(_as_float_array(other, "operand", like=self.value.dtype))

    def detach(self) -> Node:
        """A constant leaf with the same value: gradients do not flow through it."""
        return _constant(self.value)

    # ----------------------------------------------------------------------------------------
    # Array-like properties

    # np.shape and friends, not value.shape: a constant made from a Python number keeps the number.
    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(self.value)

    @property
    def ndim(self) -> int:
        return np.ndim(self.value)

    @property
    def size(self) -> int:
        return np.size(self.value)

    @property
    def dtype(self) -> np.dtype:
        return np.asarray(self.value).dtype

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d Node")
        return (self[index] for index in range(len(self)))

    def __float__(self) -> float:
        return float(self.value)

    def item(self) -> float:
        return self.value.item()

    def __repr__(self) -> str:
        label = f", name={self.name!r}" if self.name is not None else ""
        op = "" if self.op == "leaf" else f", op={self.op!r}"
        return f"Node({np.array2string(np.asarray(self.value), separator=', ')}{label}{op})"

    # ----------------------------------------------------------------------------------------
    # Arithmetic. Broadcasting is NumPy's; `unbroadcast` sums each gradient back to its operand.

    def __add__(self, other: Any) -> Node:
        """a + b.   d/da = 1, d/db = 1."""
        other = self._operand(other)
        value = _broadcasting("add", np.add, self, other)
        return _make("add", value, (self, other), (_vjp_identity, _vjp_identity))

    def __sub__(self, other: Any) -> Node:
        """a - b.   d/da = 1, d/db = -1."""
        other = self._operand(other)
        value = _broadcasting("subtract", np.subtract, self, other)
        return _make("sub", value, (self, other), (_vjp_identity, _vjp_negate))

    def __mul__(self, other: Any) -> Node:
        """a * b (element-wise).   d/da = b, d/db = a."""
        other = self._operand(other)
        value = _broadcasting("multiply", np.multiply, self, other)
        return _make("mul", value, (self, other),
                     (lambda g, out, a, b: g * b,
                      lambda g, out, a, b: g * a))

    def __truediv__(self, other: Any) -> Node:
        """a / b.   d/da = 1/b, d/db = -a/b^2 = -out/b."""
        other = self._operand(other)
        value = _broadcasting("divide", np.divide, self, other)
        return _make("div", value, (self, other),
                     (lambda g, out, a, b: g / b,
                      lambda g, out, a, b: -g * out / b))

    def __pow__(self, other: Any) -> Node:
        """a ** b.   d/da = b a^(b-1), d/db = a^b log(a).

        As PyTorch: d/da is 0 where b = 0 (not 0 * inf at a = 0), d/db is 0 where a = 0.
        """
        other = self._operand(other)
        value = _broadcasting("power", np.power, self, other)
        return _make("pow", value, (self, other),
                     (lambda g, out, a, b: g * b * _one_where_zero(b, a) ** (b - 1),
                      lambda g, out, a, b: g * out * _log_of_base(a)))

    def __matmul__(self, other: Any) -> Node:
        """a @ b, NumPy's matmul (1-D operands and stacks of matrices included).

        d/da = g @ b^T, d/db = a^T @ g, with 1-D operands treated as a row / column.
        """
        other = self._operand(other)
        try:
            value = np.matmul(self.value, other.value)
        except ValueError:
            raise ValueError(f"matmul: shapes {self.shape} and {other.shape} do not multiply") from None
        return _make("matmul", value, (self, other), (_vjp_matmul_left, _vjp_matmul_right))

    dot = __matmul__

    def __radd__(self, other: Any) -> Node:
        return self._operand(other) + self

    def __rsub__(self, other: Any) -> Node:
        return self._operand(other) - self

    def __rmul__(self, other: Any) -> Node:
        return self._operand(other) * self

    def __rtruediv__(self, other: Any) -> Node:
        return self._operand(other) / self

    def __rpow__(self, other: Any) -> Node:
        return self._operand(other) ** self

    def __rmatmul__(self, other: Any) -> Node:
        return self._operand(other) @ self

    def __neg__(self) -> Node:
        """-x.   d/dx = -1."""
        return _make("neg", -self.value, (self,), (_vjp_negate,))

    def __pos__(self) -> Node:
        return self

    def __abs__(self) -> Node:
        """|x|.   d/dx = sign(x) (0 at x = 0, as PyTorch)."""
        return _make("abs", np.abs(self.value), (self,),
                     (lambda g, out, x: g * np.sign(_data(x)),))

    abs = __abs__

    # Comparisons give plain boolean arrays: they are not differentiable.
    def __lt__(self, other: Any) -> np.ndarray:
        return self.value < _data(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.value <= _data(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.value > _data(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.value >= _data(other)

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    # ----------------------------------------------------------------------------------------
    # Element-wise functions

    def exp(self) -> Node:
        """exp(x).   d/dx = exp(x) = out."""
        return _make("exp", np.exp(self.value), (self,), (lambda g, out, x: g * out,))

    def log(self) -> Node:
        """log(x).   d/dx = 1/x."""
        return _make("log", np.log(self.value), (self,), (lambda g, out, x: g / x,))

    def sin(self) -> Node:
        """sin(x).   d/dx = cos(x)."""
        return _make("sin", np.sin(self.value), (self,), (lambda g, out, x: g * np.cos(x),))

    def cos(self) -> Node:
        """cos(x).   d/dx = -sin(x)."""
        return _make("cos", np.cos(self.value), (self,), (lambda g, out, x: -g * np.sin(x),))

    def tanh(self) -> Node:
        """tanh(x).   d/dx = 1 - tanh(x)^2."""
        return _make("tanh", np.tanh(self.value), (self,),
                     (lambda g, out, x: g * (1 - out * out),))

    def sigmoid(self) -> Node:
        """1 / (1 + exp(-x)), exact and finite for any x.   d/dx = out (1 - out)."""
        return _make("sigmoid", _stable_sigmoid(self.value), (self,),
                     (lambda g, out, x: g * out * (1 - out),))

    def relu(self) -> Node:
        """max(x, 0).   d/dx = 1 where x > 0, else 0."""
        return _make("relu", np.maximum(self.value, 0), (self,),
                     (lambda g, out, x: g * (_data(x) > 0),))

    def leaky_relu(self, alpha: float = 0.01) -> Node:
        """x where x > 0, else alpha x.   d/dx = 1 where x > 0, else alpha."""
        positive = self.value > 0
        return _make("leaky_relu", np.where(positive, self.value, alpha * self.value), (self,),
                     (lambda g, out, x: np.where(positive, g, alpha * g),))

    def sqrt(self) -> Node:
        """sqrt(x).   d/dx = 1 / (2 sqrt(x))."""
        return _make("sqrt", np.sqrt(self.value), (self,), (lambda g, out, x: g * 0.5 / out,))

    def softmax(self, axis: int = -1) -> Node:
        """exp(x) / sum(exp(x)) along `axis`, shifted by the maximum so it never overflows.

        d/dx (vector-Jacobian product) = out * (g - sum(g * out)).
        """
        shifted = np.exp(self.value - _reducing("softmax", self, axis, True, "max"))
        value = shifted / shifted.sum(axis=axis, keepdims=True)
        return _make("softmax", value, (self,),
                     (lambda g, out, x: out * (g - (g * out).sum(axis=axis, keepdims=True)),))

    def log_softmax(self, axis: int = -1) -> Node:
        """x - log(sum(exp(x))) along `axis`, computed without overflow.

        d/dx (vector-Jacobian product) = g - exp(out) * sum(g).
        """
        shifted = self.value - _reducing("log_softmax", self, axis, True, "max")
        value = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        return _make("log_softmax", value, (self,),
                     (lambda g, out, x: g - np.exp(out) * g.sum(axis=axis, keepdims=True),))

    # ----------------------------------------------------------------------------------------
    # Reductions

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Node:
        """Sum over `axis` (all axes if None).   d/dx = 1: the gradient is copied back over them."""
        value = _reducing("sum", self, axis, keepdims)
        return _make("sum", value, (self,),
                     (lambda g, out, x: np.broadcast_to(_keep_dims(g, x.shape, axis, keepdims), x.shape),))

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Node:
        """Mean over `axis` (all axes if None).   d/dx = 1/n for each of the n elements averaged."""
        value = _reducing("mean", self, axis, keepdims)
        count = self.value.size // max(np.size(value), 1)
        return _make("mean", value, (self,),
                     (lambda g, out, x: np.broadcast_to(_keep_dims(g, x.shape, axis, keepdims) / count,
                                                        x.shape),))

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Node:
        """Maximum over `axis`.   d/dx = 1 at the maximum; ties share the gradient equally."""
        value = _reducing("max", self, axis, keepdims)

        def vjp_max(g, out, x):
            is_max = _data(x) == _keep_dims(_data(out), x.shape, axis, keepdims)
            share = (is_max / is_max.sum(axis=axis, keepdims=True)).astype(_data(x).dtype)
            return np.broadcast_to(_keep_dims(g, x.shape, axis, keepdims), x.shape) * share

        return _make("max", value, (self,), (vjp_max,))

    # ----------------------------------------------------------------------------------------
    # Shape operations

    def reshape(self, *shape: int | Sequence[int]) -> Node:
        """The same elements in a new shape.   The gradient takes the old shape back."""
        new_shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) else shape
        try:
            value = self.value.reshape(new_shape)
        except (ValueError, TypeError) as error:
            raise ValueError(f"reshape: cannot reshape shape {self.shape} into {tuple(new_shape)}: {error}") from None
        return _make("reshape", value, (self,), (lambda g, out, x: g.reshape(x.shape),))

    def transpose(self, *axes: int | Sequence[int]) -> Node:
        """Permute the axes (reverse them if none are given).   The gradient is permuted back."""
        order = axes[0] if len(axes) == 1 and not isinstance(axes[0], numbers.Integral) else axes
        order = tuple(range(self.ndim))[::-1] if not order else tuple(order)
        try:
            value = self.value.transpose(order)
        except (ValueError, TypeError) as error:
            raise ValueError(f"transpose: axes {order} do not fit shape {self.shape}: {error}") from None
        inverse = tuple(np.argsort(order))
        return _make("transpose", value, (self,), (lambda g, out, x: g.transpose(inverse),))

    @property
    def T(self) -> Node:
        """The transpose (axes reversed)."""
        return self.transpose()

    def swapaxes(self, axis1: int, axis2: int) -> Node:
        """Exchange two axes."""
        if not all(-self.ndim <= axis < self.ndim for axis in (axis1, axis2)):
            raise ValueError(f"swapaxes: axes ({axis1}, {axis2}) do not fit shape {self.shape}")
        order = list(range(self.ndim))
        order[axis1], order[axis2] = order[axis2], order[axis1]
        return self.transpose(order)

    def __getitem__(self, key: Any) -> Node:
        """x[key]: slicing, integers, None, Ellipsis, integer and boolean arrays.

        d/dx: the gradient lands in the selected places, zero elsewhere (summed where an
        integer array selects one element more than once).
        """
        key = _plain_index(key)
        try:
            value = self.value[key]
        except IndexError as error:
            raise IndexError(f"getitem: index {key!r} does not fit shape {self.shape}: {error}") from None
        return _make("getitem", value, (self,),
                     (lambda g, out, x: scatter_add(g, key, x.shape),))

    def broadcast_to(self, shape: tuple[int, ...]) -> Node:
        """The value repeated to `shape` by broadcasting.   d/dx: sum over the repeated axes."""
        try:
            value = np.broadcast_to(self.value, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: shape {self.shape} does not broadcast to {tuple(shape)}") from None
        return _make("broadcast_to", value, (self,), (lambda g, out, x: unbroadcast(g, x.shape),))

    def _scatter_add(self, key: Any, shape: tuple[int, ...]) -> Node:
        """Zeros of `shape` with this value added at `key` (getitem's derivative, as an operation)."""
        return _make("scatter_add", scatter_add(self.value, key, shape), (self,),
                     (lambda g, out, x: g[key],))

    # ----------------------------------------------------------------------------------------
    # Reverse mode

    def grad(self, seed: Any = 1, *, create_graph: bool = False) -> dict[str, Any]:
        """The gradients of this node with respect to every named leaf beneath it.

        `seed` is the gradient arriving at this node and has its shape (the paper's scalar case
        is 1): the result is the vector-Jacobian product seed^T J for each named leaf, as a dict
        name -> array of the leaf's shape and dtype. With `create_graph=True` the gradients are
        Nodes themselves, so they can be differentiated again.
        """
        gradients: dict[str, Any] = {}
        # reversed: leaves were reached output-first; report them in the order they were built
        for leaf, gradient in reversed(backpropagate(self, seed, create_graph=create_graph).items()):
            if leaf.name is not None:
                if leaf.name in gradients:
                    raise ValueError(f"grad: two different leaves are named {leaf.name!r}; "
                                     "a dict keyed by name cannot hold both gradients")
                gradients[leaf.name] = gradient
        return gradients

    def backward(self, seed: Any = 1, *, create_graph: bool = False) -> dict[str, Any]:
        """The same as `grad`, under PyTorch's name: returns dict name -> gradient."""
        return self.grad(seed, create_graph=create_graph)

    # ----------------------------------------------------------------------------------------
    # NumPy interoperability: np.exp(node), array * node, np.where(c, node, 0), ... give Nodes.

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "__call__" and not kwargs:
            if ufunc in _NOT_DIFFERENTIABLE:
                return ufunc(*(_data(x) for x in inputs))
            operation = _UFUNCS.get(ufunc)
            if operation is not None:
                return operation(*inputs)
        raise TypeError(f"dp.Node does not support numpy.{ufunc.__name__}.{method} with {kwargs or 'these arguments'}")

    def __array_function__(self, func: Callable, types: Any, args: Any, kwargs: Any) -> Any:
        operation = _FUNCTIONS.get(func)
        if operation is None:
            raise TypeError(f"dp.Node does not support numpy.{func.__name__}; use node.value for a plain array")
        return operation(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# Module-level operations on several nodes


def as_node(x: Any) -> Node:
    """`x` itself if it is a Node, else a constant leaf holding it."""
    return x if isinstance(x, Node) else _constant(_as_float_array(x, "as_node"))


def concatenate(nodes: Sequence[Any], axis: int = 0) -> Node:
    """Join nodes along an existing axis.   Each gradient is its own slice of g."""
    nodes, value = _joined("concatenate", np.concatenate, nodes, axis)
    axis = axis % value.ndim
    bounds = np.cumsum([0] + [node.shape[axis] for node in nodes])
    vjps = tuple(_vjp_slice(axis, slice(start, stop)) for start, stop in zip(bounds[:-1], bounds[1:]))
    return _make("concatenate", value, nodes, vjps)


def stack(nodes: Sequence[Any], axis: int = 0) -> Node:
    """Join nodes along a new axis.   Each gradient is its own slice of g."""
    nodes, value = _joined("stack", np.stack, nodes, axis)
    axis = axis % value.ndim
    return _make("stack", value, nodes, tuple(_vjp_slice(axis, index) for index in range(len(nodes))))


def _joined(op: str, join: Callable, nodes: Sequence[Any], axis: int) -> tuple[tuple[Node, ...], np.ndarray]:
    """The operands as Nodes, and `join` of their values; errors name `op` and every shape."""
    nodes = tuple(as_node(node) for node in nodes)
    try:
        return nodes, join([node.value for node in nodes], axis=axis)
    except ValueError as error:
        shapes = ", ".join(str(node.shape) for node in nodes)
        raise ValueError(f"{op}: shapes {shapes} do not fit together along axis {axis}: {error}") from None


def where(condition: Any, x: Any, y: Any) -> Node:
    """x where `condition` holds, else y.   d/dx = condition, d/dy = not condition."""
    mask = np.asarray(_data(condition))
    if mask.dtype.kind not in "biuf":
        raise TypeError(f"where: the condition must be booleans or numbers, got {type(condition).__name__}"
                        f" of dtype {mask.dtype}")
    condition = mask.astype(bool, copy=False)
    x, y = _pair(x, y)
    try:
        value = np.where(condition, x.value, y.value)
    except ValueError:
        raise ValueError(f"where: shapes {condition.shape}, {x.shape} and {y.shape} do not broadcast") from None
    return _make("where", value, (x, y),
                 (lambda g, out, a, b: np.where(condition, g, 0),
                  lambda g, out, a, b: np.where(condition, 0, g)))


def maximum(a: Any, b: Any) -> Node:
    """Element-wise maximum.   d/da = 1 where a > b, d/db = 1 where b > a; ties share it."""
    a, b = _pair(a, b)
    value = _broadcasting("maximum", np.maximum, a, b)

    def share(g, first, second):
        first, second = _data(first), _data(second)
        return np.where(first > second, g, np.where(first == second, g * 0.5, 0))

    return _make("maximum", value, (a, b),
                 (lambda g, out, a, b: share(g, a, b),
                  lambda g, out, a, b: share(g, b, a)))


def backpropagate(output: Node, seed: Any = 1, *, create_graph: bool = False) -> dict[Node, Any]:
    """Reverse mode: the gradient of `output` (seeded with `seed`) for every leaf that requires one.

    Visits each node once in reverse topological order, sums gradients arriving by several paths,
    and drops each node's gradient as soon as it has been passed on to the node's parents.
    """
    if not isinstance(output, Node):
        raise TypeError(f"backpropagate: expected a Node, got {type(output).__name__}")
    order = topological_order(output)
    gradients: dict[Node, Any] = {output: _seed(output, seed, create_graph)}
    owned: set[Node] = set()  # nodes whose gradient buffer no one else holds: safe to add into in place
    leaves: dict[Node, Any] = {}
    for node in reversed(order):
        gradient = gradients.pop(node)
        parents = node.parents
        if not parents:
            leaves[node] = gradient
            continue
        if create_graph:  # the rules get Nodes, so their results are graphs; constants stay plain values
            out, args = node, [parent if parent.requires_grad else parent.value for parent in parents]
        else:
            out, args = node.value, [parent.value for parent in parents]
        for parent, vjp in zip(parents, node.vjps):
            if not parent.requires_grad:
                continue
            contribution = vjp(gradient, out, *args)
            shape = parent.value.shape
            if contribution.shape != shape:  # checked here: most gradients need no work
                contribution = unbroadcast(contribution, shape)
            previous = gradients.get(parent)
            if previous is None:
                gradients[parent] = contribution
            elif parent in owned:
                previous += contribution
            else:
                gradients[parent] = previous = previous + contribution
                # 0-d + 0-d gives an immutable NumPy scalar, which += could not update in place
                if not create_graph and isinstance(previous, np.ndarray):
                    owned.add(parent)
    return _finish_leaf_gradients(leaves, create_graph)


def topological_order(output: Node) -> list[Node]:
    """The nodes that need a gradient, each after all its parents, ending with `output`.

    A node is always created after its parents, and nodes are numbered as they are created: so
    the reachable nodes sorted by that number are in topological order. No recursion, so a graph
    100 000 nodes deep is no problem, and each node is visited once however many paths reach it.
    """
    reached = [output]
    seen = {output}
    for node in reached:  # the list grows as we go: a breadth-first walk
        for parent in node.parents:
            if parent.requires_grad and parent not in seen:
                seen.add(parent)
                reached.append(parent)
    reached.sort(key=_creation_number)
    return reached


def unbroadcast(gradient: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum `gradient` over the axes that broadcasting added or stretched, so it has `shape`.

    This is the one place where broadcasting is undone: the chain rule for y = broadcast(x)
    sums the gradient over every copy of each element of x.
    """
    if gradient.shape == shape:
        return gradient
    extra = gradient.ndim - len(shape)
    stretched = tuple(extra + axis for axis, size in enumerate(shape)
                      if size == 1 and gradient.shape[extra + axis] != 1)
    summed = gradient.sum(axis=tuple(range(extra)) + stretched)
    # reshape only to put back size-1 axes: a needless reshape makes a view, which the leaf would copy
    return summed if summed.shape == shape else summed.reshape(shape)


def scatter_add(gradient: Tensor, key: Any, shape: tuple[int, ...]) -> Tensor:
    """Zeros of `shape` with `gradient` added at `key`: the derivative of indexing."""
    if isinstance(gradient, Node):
        return gradient._scatter_add(key, shape)
    result = np.zeros(shape, dtype=gradient.dtype)
    if _is_basic_index(key):
        result[key] = gradient  # basic indexing selects each element at most once
    else:
        np.add.at(result, key, gradient)  # an integer array may select an element twice
    return result


# --------------------------------------------------------------------------------------------
# Derivative rules shared by several operations


def _vjp_identity(g, out, *parents):
    return g


def _vjp_negate(g, out, *parents):
    return -g


def _vjp_matmul_left(g, out, a, b):
    if b.ndim == 1:  # out = a @ b drops b's only axis: restore it as a column
        return g.reshape(g.shape + (1,)) @ b.reshape((1,) + b.shape)
    if a.ndim == 1:  # out = a @ b dropped a's row axis
        return (g.reshape(g.shape[:-1] + (1, g.shape[-1])) @ _matrix_transpose(b)).reshape(
            g.shape[:-1] + a.shape)
    return g @ _matrix_transpose(b)


def _vjp_matmul_right(g, out, a, b):
    if a.ndim == 1:
        column = a.reshape(a.shape + (1,))
        if b.ndim == 1:
            return g * a
        return column @ g.reshape(g.shape[:-1] + (1, g.shape[-1]))
    if b.ndim == 1:
        return (_matrix_transpose(a) @ g.reshape(g.shape + (1,))).reshape(g.shape[:-1] + b.shape)
    return _matrix_transpose(a) @ g


def _vjp_slice(axis: int, index: int | slice) -> VJP:
    """The gradient of one part of a concatenation or stack: its slice of g along `axis`."""
    key = (slice(None),) * axis + (index,)
    return lambda g, out, *parents: g[key]


def _matrix_transpose(x: Tensor) -> Tensor:
    return x.T if x.ndim == 2 else x.swapaxes(-1, -2)


# --------------------------------------------------------------------------------------------
# Helpers


def _make(op: str, value: Any, parents: tuple[Node, ...], vjps: tuple[VJP, ...]) -> Node:
    """A new non-leaf node. It keeps its parents only if a gradient must flow through it."""
    node = _new_node(Node)
    node.value = value
    node.name = None
    node.op = op
    node.number = next(_numbering)
    for parent in parents:
        if parent.requires_grad:
            node.parents = parents
            node.vjps = vjps
            node.requires_grad = True
            return node
    # Constants all the way down: forget the parents so their memory can be freed.
    node.parents = ()
    node.vjps = ()
    node.requires_grad = False
    return node


def _constant(value: Any) -> Node:
    node = _new_node(Node)
    node.value = value
    node.name = None
    node.op = "leaf"
    node.parents = ()
    node.vjps = ()
    node.requires_grad = False
    node.number = next(_numbering)
    return node


def _as_float_array(value: Any, where: str, like: np.dtype | None = None) -> np.ndarray | np.floating:
    """`value` as a float array: floats keep their dtype; integers and booleans become float64
    (or `like`, the dtype of the node they meet, so that they never promote float32).

    A 0-d value becomes a NumPy scalar (still with .shape, .dtype and NumPy's maths): NumPy
    computes with those about five times faster than with 0-d arrays, which is what scalar graphs
    such as the blog's neuron are made of."""
    try:
        array = value if type(value) is np.ndarray else np.asarray(value)
    except (ValueError, TypeError) as error:
        raise TypeError(f"{where}: expected a number or an array of numbers, "
                        f"got {type(value).__name__}: {error}") from None
    kind = array.dtype.kind
    if kind in "biu":
        array = array.astype(like if like is not None and like.kind == "f" else np.float64)
    elif kind != "f":
        raise TypeError(f"{where}: expected a number or an array of numbers, got {type(value).__name__}"
                        f" of dtype {array.dtype}")
    return array[()] if array.ndim == 0 else array


def _data(x: Any) -> Any:
    """The plain value of a Node (for masks and conditions, which are not differentiated)."""
    return x.value if isinstance(x, Node) else x


def _pair(a: Any, b: Any) -> tuple[Node, Node]:
    """Two operands as Nodes, constants taking the dtype of the Node among them."""
    if isinstance(a, Node):
        return a, a._operand(b)
    if isinstance(b, Node):
        return b._operand(a), b
    return as_node(a), as_node(b)


def _broadcasting(op: str, function: np.ufunc, a: Node, b: Node) -> np.ndarray:
    try:
        return function(a.value, b.value)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None


def _reducing(op: str, node: Node, axis: Any, keepdims: bool, method: str | None = None) -> np.ndarray:
    """node.value.<method>(axis, keepdims), NumPy's reduction; errors name `op` and the shape."""
    try:
        return getattr(node.value, method or op)(axis=axis, keepdims=keepdims)
    except (ValueError, TypeError, np.exceptions.AxisError) as error:
        raise ValueError(f"{op}: cannot reduce shape {node.shape} over axis {axis}: {error}") from None


def _keep_dims(g: Tensor, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Tensor:
    """A reduction's result with the reduced axes put back as size 1, ready to broadcast."""
    if keepdims:
        return g
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis) % max(len(shape), 1)
    kept = [1 if index in axes else size for index, size in enumerate(shape)]
    return g.reshape(tuple(kept))


def _one_where_zero(test: Any, x: Tensor) -> Tensor:
    """x, with 1 wherever `test` is 0: keeps 0 * inf and log(0) out of the power rules."""
    zero = _data(test) == 0
    if zero is False or not np.any(zero):  # the usual case, and a Python number stays weak
        return x
    return np.where(zero, 1, x)


def _log_of_base(a: Any) -> Tensor:
    """log(a) for the power rule, 0 where a = 0. For a Python number (`2 ** x`) it is a Python
    float, which NumPy treats as weak: a float32 gradient stays float32."""
    log = np.log(_one_where_zero(a, a))
    return float(log) if type(a) in (int, float) else log


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-x)) is accurate to the last bit everywhere; where exp(-x) overflows (x < -709
    # in float64, x < -88 in float32) it gives 1 / inf = 0, the correctly rounded answer, so the
    # overflow warning is noise. Silencing it costs about 1.5 us, as much as a scalar sigmoid
    # itself: scalars that cannot overflow (the blog's neuron, say) skip it.
    if x.ndim == 0 and x > -80:
        return 1 / (1 + np.exp(-x))
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _plain_index(key: Any) -> Any:
    """An index with any Nodes in it replaced by their values (indices are not differentiated)."""
    if isinstance(key, tuple):
        return tuple(_data(part) for part in key)
    return _data(key)


def _is_basic_index(key: Any) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return all(part is None or part is Ellipsis or isinstance(part, slice | numbers.Integral) for part in parts)


def _seed(output: Node, seed: Any, create_graph: bool) -> Any:
    """The gradient that starts the backward pass: `seed` in the output's shape and dtype."""
    if type(seed) in (int, float) and output.value.ndim == 0 and not create_graph:
        return output.value.dtype.type(seed)  # the paper's grad(1): a NumPy scalar, immutable
    value = seed.value if isinstance(seed, Node) else _as_float_array(seed, "grad(seed)", like=output.value.dtype)
    if value.shape != output.shape:
        if value.ndim == 0 and output.size != 1:
            raise ValueError(f"grad: the output has shape {output.shape}, not one number: reduce it first "
                             "(e.g. .sum()), or give a seed of its shape for a vector-Jacobian product")
        if value.ndim != 0:
            raise ValueError(f"grad: the seed's shape {value.shape} differs from the output's shape {output.shape}")
        value = value.reshape(output.shape)
    value = np.array(value, dtype=output.value.dtype)  # a copy: the caller's seed is never aliased
    if create_graph:
        return seed if isinstance(seed, Node) and seed.shape == output.shape else _constant(value)
    return value


def _finish_leaf_gradients(leaves: dict[Node, Any], create_graph: bool) -> dict[Node, Any]:
    """Each leaf's gradient in its own dtype, in a buffer of its own (so that changing one
    gradient in place can never change another, or a value of the graph)."""
    if create_graph:
        return leaves
    handed_out: set[int] = set()
    for leaf, gradient in leaves.items():
        dtype = leaf.value.dtype
        if isinstance(gradient, np.ndarray):
            if (gradient.base is not None or not gradient.flags.writeable or gradient.dtype != dtype
                    or id(gradient) in handed_out):
                gradient = leaves[leaf] = np.array(gradient, dtype=dtype)
            handed_out.add(id(gradient))
        elif type(gradient) is not dtype.type:  # a 0-d leaf's gradient: an immutable NumPy scalar
            leaves[leaf] = dtype.type(gradient)
    return leaves


def _binary(method: str, reflected: str) -> Callable[[Any, Any], Node]:
    """A NumPy binary ufunc on (a, b) where at least one is a Node, as Node's operator."""
    def operation(a: Any, b: Any) -> Node:
        return getattr(a, method)(b) if isinstance(a, Node) else getattr(b, reflected)(a)
    return operation


_UFUNCS: dict[np.ufunc, Callable[..., Node]] = {
    np.add: _binary("__add__", "__radd__"),
    np.subtract: _binary("__sub__", "__rsub__"),
    np.multiply: _binary("__mul__", "__rmul__"),
    np.true_divide: _binary("__truediv__", "__rtruediv__"),
    np.power: _binary("__pow__", "__rpow__"),
    np.matmul: _binary("__matmul__", "__rmatmul__"),
    np.maximum: maximum,
    np.negative: Node.__neg__,
    np.absolute: Node.__abs__,
    np.exp: Node.exp,
    np.log: Node.log,
    np.sin: Node.sin,
    np.cos: Node.cos,
    np.tanh: Node.tanh,
    np.sqrt: Node.sqrt,
}
# Comparisons and sign have zero derivative almost everywhere: they act on plain values.
_NOT_DIFFERENTIABLE = {np.less, np.less_equal, np.greater, np.greater_equal, np.sign}
_FUNCTIONS: dict[Callable, Callable[..., Node]] = {
    np.sum: lambda x, axis=None, keepdims=False: as_node(x).sum(axis, keepdims),
    np.mean: lambda x, axis=None, keepdims=False: as_node(x).mean(axis, keepdims),
    np.max: lambda x, axis=None, keepdims=False: as_node(x).max(axis, keepdims),
    np.amax: lambda x, axis=None, keepdims=False: as_node(x).max(axis, keepdims),
    np.reshape: lambda x, shape: as_node(x).reshape(shape),
    np.transpose: lambda x, axes=None: as_node(x).transpose(axes or ()),
    np.swapaxes: lambda x, axis1, axis2: as_node(x).swapaxes(axis1, axis2),
    np.broadcast_to: lambda x, shape: as_node(x).broadcast_to(shape),
    np.dot: lambda a, b: _binary("__matmul__", "__rmatmul__")(a, b),
    np.where: where,
    np.concatenate: concatenate,
    np.stack: stack,
}
