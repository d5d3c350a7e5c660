"""Node: a value in a computational graph, how operations build graphs, and reverse mode.

Read this file first. A `Node` holds a NumPy array (`value`), an optional `name`, the nodes it was
computed from (`parents`) and, for each parent, a vector-Jacobian product (VJP): a small function
that turns the gradient arriving at the node into the gradient for that parent.

Every operation is a `Primitive`: its NumPy forward computation and its VJP rules, side by side,
defined once. The dozen operations at the end of this file are the worked examples; the rest of
the catalogue (`dp/ops/`) is written the same way. A primitive applied to Nodes builds a node
(reverse mode); applied to Duals it carries tangents (forward mode, `dp/forward.py`); applied to
plain arrays it is just NumPy.

    >>> log1p = primitive("log1p", np.log1p, vjp=lambda g, out, x: g / (1 + x), tangent="elementwise")
    >>> x = Node(np.array([0.0, 1.0]), "x")
    >>> log1p(x).sum().grad(1)["x"]
    array([1. , 0.5])

Reverse mode (`Node.grad`, `backpropagate`) visits each node once, in reverse topological order,
sums the gradients that arrive by several paths, and sums each gradient back to its parent's shape
in one place (`unbroadcast`) rather than in every rule.

VJP rules are NumPy expressions that also work on Nodes (Node takes part in NumPy's
`__array_ufunc__` / `__array_function__` protocols). The ordinary backward pass feeds them arrays;
`grad(..., create_graph=True)` feeds them Nodes, so the gradient is itself a graph that can be
differentiated again.

    >>> a = Node([[1, 1, 1], [2, 2, 2]], "A")
    >>> b = Node([[1, 2, 3]], "B")
    >>> grads = (a * b).exp().sum().grad(1)
    >>> grads["B"].round(2)
    array([[ 17.5 , 116.59, 826.94]])
"""

from __future__ import annotations

import functools
import itertools
import numbers
import operator
import warnings
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from dp.registry import (  # noqa: F401  (re-exported: dp.node is where the engine's names are read)
    METHODS,
    NOT_DIFFERENTIABLE,
    NUMPY_FUNCTIONS,
    NUMPY_UFUNCS,
    PRIMITIVES,
    array_type,
    implements,
    method,
    numpy_function,
    numpy_ufunc,
    plain,
)
from dp.registry import plain_options as _plain_options
from dp.types import ArrayLike, Gradients, Tensor

#: A vector-Jacobian product: (gradient at the output, the output, *operands, **params) -> the
#: operand's gradient.
VJP: TypeAlias = "Callable[..., Tensor]"


class AddsInPlace:
    """A VJP rule that can also add its result straight into a gradient that is being summed.

    Indexing's VJP is zeros with the gradient at the selected places: a sequence sliced at each of
    T steps would make T full-size arrays of zeros, to be summed. `add_into(buffer, g, out, *operands,
    **params)` adds the same contribution into `buffer`, an array the engine owns, touching only the
    selected places. The engine uses it on the ordinary pass when a gradient is already there to add
    to; otherwise, and under `create_graph`, the rule is called as any other.
    """

    __slots__ = ("rule", "add_into")

    def __init__(self, rule: VJP, add_into: Callable[..., None]) -> None:
        self.rule, self.add_into = rule, add_into

    def __call__(self, *args: Any, **params: Any) -> Tensor:
        return self.rule(*args, **params)


_NO_PARAMS: dict[str, Any] = {}  # shared by every node without parameters: never written to
_new_node = object.__new__
#: Numbers the nodes in the order they are created: a topological order of any graph.
_numbering = itertools.count()
_creation_number = operator.attrgetter("number")


# --------------------------------------------------------------------------------------------
# Primitives: one definition per operation


class Primitive:
    """One differentiable operation: NumPy forward, a VJP rule per operand, and a tangent rule.

    `forward(*operands, **params)` computes the value from plain arrays. Operands are what is
    differentiated; params (axis, shape, an index, ...) are passed by keyword to `forward` and to
    every rule. `vjps` holds one rule per operand (for a `variadic` primitive, one rule that also
    gets `index=`, the operand's position). `tangent` is the forward-mode rule:

    * "elementwise": each operand's share of the tangent is its VJP applied to its tangent (the
      Jacobian of an element-wise function is diagonal);
    * "linear": the operation applied to the tangents (sum, reshape, indexing, concatenate, ...);
    * "multilinear": linear in each operand alone (mul, matmul, einsum): the sum over operands of
      the operation with that operand replaced by its tangent;
    * a function, or one per operand, `(tangent, out, *operands, **params) -> share`;
    * None: only reverse mode; forward mode raises an error saying so.

    `differentiable=False` marks operations with zero derivative (floor, sign): the result is a
    constant.
    """

    __slots__ = ("name", "forward", "vjps", "tangent", "variadic", "differentiable", "error", "__dict__")

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        vjp: Sequence[VJP] | VJP | None = None,
        tangent: str | Callable[..., Any] | Sequence[Callable[..., Any]] | None = None,
        *,
        variadic: bool = False,
        differentiable: bool = True,
        error: str | None = None,
        doc: str | None = None,
    ):
        if not isinstance(name, str) or not name:
            raise TypeError(f"primitive: the name must be a non-empty string, got {name!r}")
        if not callable(forward):
            raise TypeError(f"primitive {name!r}: forward must be callable, got {type(forward).__name__}")
        vjps = (vjp,) if callable(vjp) else tuple(vjp or ())
        if differentiable and not vjps:
            raise TypeError(f"primitive {name!r}: give a vjp rule per operand (or differentiable=False)")
        if not all(callable(rule) for rule in vjps):
            raise TypeError(f"primitive {name!r}: every vjp rule must be callable")
        if isinstance(tangent, str) and tangent not in ("elementwise", "linear", "multilinear"):
            raise ValueError(
                f"primitive {name!r}: tangent must be 'elementwise', 'linear', 'multilinear', "
                f"a function, or a tuple of functions; got {tangent!r}"
            )
        self.name = name
        self.forward = forward
        self.vjps = vjps
        self.tangent = tangent
        self.variadic = variadic
        self.differentiable = differentiable
        self.error = error  # how a shape mismatch is described: "do not broadcast", "do not multiply"
        self.__doc__ = doc or f"The primitive {name!r}."  # what help() shows

    def __repr__(self) -> str:
        return f"<dp primitive {self.name}>"

    def __call__(self, *operands: Any, **params: Any) -> Any:
        """Apply to Nodes (reverse mode), Duals (forward mode) or plain arrays (NumPy)."""
        node_seen = False
        for x in operands:
            kind = type(x)
            if kind is Node:
                node_seen = True
            elif kind not in _PLAIN_TYPES:
                if isinstance(x, Node):
                    node_seen = True
                elif hasattr(kind, "__dp_apply__"):  # a Dual: forward mode takes over
                    return kind.__dp_apply__(self, operands, params)
        if node_seen:
            return self.apply_to_nodes(_as_operands(operands), params)
        try:
            return self.forward(*operands, **params)
        except (ValueError, IndexError, TypeError, np.exceptions.AxisError) as error:
            raise self._failure(operands, error) from None

    def apply_to_nodes(self, operands: tuple[Node, ...], params: dict[str, Any]) -> Node:
        """Reverse mode: the result as a node of the graph, remembering how to differentiate it."""
        forward = self.forward
        try:  # spelled out for one and two operands: the per-operation cost of every graph is here
            if params:
                value = forward(*[x.value for x in operands], **params)
            elif len(operands) == 2:
                value = forward(operands[0].value, operands[1].value)
            elif len(operands) == 1:
                value = forward(operands[0].value)
            else:
                value = forward(*[x.value for x in operands])
        except (ValueError, IndexError, TypeError, np.exceptions.AxisError) as error:
            raise self._failure([x.value for x in operands], error) from None
        if self.variadic:
            return _make(self.name, value, operands, _indexed_rules(self.vjps[0], len(operands)), params)
        if not self.differentiable:
            return _constant(value)
        if len(self.vjps) != len(operands):
            raise TypeError(
                f"{self.name}: {len(operands)} operand(s) but {len(self.vjps)} vjp rule(s): give one "
                "rule per operand (non-differentiable arguments go in by keyword)"
            )
        return _make(self.name, value, operands, self.vjps, params)

    def as_method(self, name: str) -> Callable[..., Any]:
        """This operation as a method (`x.exp()`); on a Node without arguments it goes straight in."""

        def bound(x: Any, *args: Any, **kwargs: Any) -> Any:
            if type(x) is Node and not args and not kwargs:
                return self.apply_to_nodes((x,), _NO_PARAMS)
            return self(x, *args, **kwargs)

        bound.__name__, bound.__doc__ = name, self.__doc__
        return bound

    def _failure(self, values: Sequence[Any], error: Exception) -> Exception:
        """NumPy's error, as one that names the operation and the operands' shapes."""
        shapes = " and ".join(str(np.shape(value)) for value in values)
        if self.error:
            return ValueError(f"{self.name}: shapes {shapes} {self.error}")
        return type(error)(f"{self.name}: operands of shapes {shapes}: {error}")


def primitive(
    name: str,
    forward: Callable[..., Any],
    vjp: Sequence[VJP] | VJP | None = None,
    tangent: str | Callable[..., Any] | Sequence[Callable[..., Any]] | None = None,
    **options: Any,
) -> Primitive:
    """Define a differentiable operation: its NumPy forward and its derivative rules.

    `vjp`: one rule per operand, `(g, out, *operands, **params) -> gradient of that operand`
    (g is the gradient at the output, out the output). `tangent`: the forward-mode rule (see
    `Primitive`); without one, the operation works in reverse mode only. Rules are NumPy
    expressions, so they also work on Nodes and Duals, and higher derivatives come for free.

        >>> softplus = primitive("softplus", lambda x: np.logaddexp(0, x),
        ...                      vjp=lambda g, out, x: g / (1 + np.exp(-x)), tangent="elementwise")
        >>> float(softplus(Node(0.0, "x")).grad(1)["x"])
        0.5
    """
    made = Primitive(name, forward, vjp, tangent, **options)
    PRIMITIVES[name] = made
    return made


def _indexed_rules(rule: VJP, count: int) -> tuple[VJP, ...]:
    """A variadic operation's rule, bound to each operand's position."""
    return tuple(functools.partial(rule, index=index) for index in range(count))


# --------------------------------------------------------------------------------------------
# Node


class Node:
    """A value in a computational graph, with the rules to differentiate through it.

    `Node(value, name)` makes a leaf. A leaf with a name is a variable: `grad` reports the
    gradient with respect to it. A leaf without a name is a constant (inputs, labels): no gradient
    is computed for it, nor for anything that depends on constants only.

    `requires_grad=True` makes an unnamed leaf a variable too: `backpropagate` returns its gradient
    (keyed by the leaf itself), while `grad` reports named leaves only.

    Values are not copied: a graph reads its leaves' arrays when `grad` runs, so change a leaf's
    array in place only after the last `grad` of a graph (training loops build a new graph after
    each update). Comparisons (`==`, `<`, ...) compare values element-wise and return boolean
    arrays, as in NumPy; a Node is still hashable by identity (the backward pass keys dicts by it),
    so keep Nodes in sets and dicts: `node in a_list` compares values, as it does for arrays.
    Besides the operators and the methods defined here, Node has the ndarray methods of the
    catalogue (`x.var()`, `x.clip(0, 1)`, `x.T`, ...), given to it by `dp/ops/`.
    """

    __slots__ = ("value", "name", "op", "parents", "vjps", "params", "requires_grad", "number", "__weakref__")
    __array_priority__ = 100

    if TYPE_CHECKING:  # for mypy only: the catalogue's methods, which dp/ops/ installs at import
        # (indexing gives a Node; comparisons give plain boolean arrays, never differentiated)

        def __getattr__(self, name: str) -> Any: ...
        def __getitem__(self, key: Any) -> Node: ...
        def __lt__(self, other: Any) -> np.ndarray: ...
        def __le__(self, other: Any) -> np.ndarray: ...
        def __gt__(self, other: Any) -> np.ndarray: ...
        def __ge__(self, other: Any) -> np.ndarray: ...

    def __init__(self, value: ArrayLike, name: str | None = None, *, requires_grad: bool | None = None):
        if isinstance(value, Node):
            raise TypeError("Node(value): value is already a Node; use node.detach() for a constant copy")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Node(value, name): name must be a string or None, got {type(name).__name__}")
        self.value = _as_float_array(value, "Node(value)")
        self.name = name
        self.op = "leaf"
        self.parents: tuple[Node, ...] = ()
        self.vjps: tuple[VJP, ...] = ()
        self.params = _NO_PARAMS
        self.requires_grad = name is not None if requires_grad is None else bool(requires_grad)
        self.number = next(_numbering)

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
        return len(self.value)  # type: ignore[arg-type]  # a 0-d value raises TypeError here, as len() of a 0-d array does

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d Node")
        return (self[index] for index in range(len(self)))

    def __float__(self) -> float:
        return float(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def item(self) -> float:
        return self.value.item()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            "a Node cannot become a plain NumPy array without leaving the graph: node.value is "
            "the plain array, but taking it stops the gradient (and np.array of a list of Nodes "
            "is dp.stack(list))"
        )

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError(
            "a Node is immutable (its value is part of a graph): build a new one, e.g. with "
            "np.where(mask, new, x) or dp.concatenate"
        )

    def __repr__(self) -> str:
        label = f", name={self.name!r}" if self.name is not None else ""
        op = "" if self.op == "leaf" else f", op={self.op!r}"
        return f"Node({np.array2string(np.asarray(self.value), separator=', ')}{label}{op})"

    # ----------------------------------------------------------------------------------------
    # Operators: each is a primitive applied to this node and the other operand

    def __add__(self, other: Any) -> Node:
        return _binary(add, self, other)

    def __radd__(self, other: Any) -> Node:
        return _binary(add, other, self)

    def __sub__(self, other: Any) -> Node:
        return _binary(subtract, self, other)

    def __rsub__(self, other: Any) -> Node:
        return _binary(subtract, other, self)

    def __mul__(self, other: Any) -> Node:
        return _binary(multiply, self, other)

    def __rmul__(self, other: Any) -> Node:
        return _binary(multiply, other, self)

    def __truediv__(self, other: Any) -> Node:
        return _binary(divide, self, other)

    def __rtruediv__(self, other: Any) -> Node:
        return _binary(divide, other, self)

    def __pow__(self, other: Any) -> Node:
        return _binary(power, self, other)

    def __rpow__(self, other: Any) -> Node:
        return _binary(power, other, self)

    def __matmul__(self, other: Any) -> Node:
        return _binary(matmul, self, other)

    def __rmatmul__(self, other: Any) -> Node:
        return _binary(matmul, other, self)

    def __neg__(self) -> Node:
        return negative.apply_to_nodes((self,), _NO_PARAMS)

    def __pos__(self) -> Node:
        return self

    # Comparisons (==, <, ...) are not differentiable: element-wise on the values, as NumPy's; given
    # to Node and Dual alike below. Hashing stays by identity (the backward pass keys dicts by node).
    __hash__ = object.__hash__

    # ----------------------------------------------------------------------------------------
    # Reverse mode

    def grad(self, seed: ArrayLike = 1, *, create_graph: bool = False) -> Gradients:
        """The gradients of this node with respect to every named leaf beneath it.

        `seed` is the gradient arriving at this node and has its shape (the paper's scalar case
        is 1): the result is the vector-Jacobian product seed^T J for each named leaf, as a dict
        name -> array of the leaf's shape and dtype. With `create_graph=True` the gradients are
        Nodes themselves, so they can be differentiated again.

        With no named leaf beneath this node the dict is empty, and a warning says how to name one
        (an unnamed Node is a constant: `Node(value)` where `Node(value, "x")` was meant).
        """
        return _gradients_by_name(self, seed, create_graph, "grad")

    def backward(self, seed: ArrayLike = 1, *, create_graph: bool = False) -> Gradients:
        """The same as `grad`, under PyTorch's name: returns dict name -> gradient."""
        return _gradients_by_name(self, seed, create_graph, "backward")

    # ----------------------------------------------------------------------------------------
    # NumPy interoperability: np.exp(node), array * node, np.where(c, node, 0), ... give Nodes.

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return numpy_ufunc("Node", ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Callable, types: Any, args: Any, kwargs: Any) -> Any:
        return numpy_function("Node", func, args, kwargs)


array_type(Node)
for _name, _compare in (
    ("__eq__", operator.eq),
    ("__ne__", operator.ne),
    ("__lt__", operator.lt),
    ("__le__", operator.le),
    ("__gt__", operator.gt),
    ("__ge__", operator.ge),
):
    method(_name)(lambda x, other, compare=_compare: compare(plain(x), plain(other)))


# --------------------------------------------------------------------------------------------
# Reverse mode


def backpropagate(
    output: Node, seed: Any = 1, *, create_graph: bool = False, inputs: Sequence[Node] | None = None
) -> dict[Node, Any]:
    """Reverse mode: the gradient of `output` (seeded with `seed`) for every leaf that requires one.

    Visits each node once in reverse topological order, sums gradients arriving by several paths,
    and drops each node's gradient as soon as it has been passed on to the node's parents.

    `inputs`, if given, are the nodes to differentiate with respect to: the pass stops at them
    (even where they have parents of their own) and returns exactly their gradients, whether or
    not they require one; the graph itself is never changed (so threads may share it).
    """
    if not isinstance(output, Node):
        raise TypeError(f"backpropagate: expected a Node, got {type(output).__name__}")
    stops = None if inputs is None else set(inputs)
    order = topological_order(output, stops)
    gradients: dict[Node, Any] = {output: _seed(output, seed, create_graph)}
    owned: set[Node] = set()  # nodes whose gradient buffer no one else holds: safe to add into in place
    leaves: dict[Node, Any] = {}
    for node in reversed(order):
        gradient = gradients.pop(node)
        parents = node.parents
        params = node.params
        if not parents or (stops is not None and node in stops):
            leaves[node] = gradient
            continue
        out: Tensor  # a Node under create_graph, its plain value otherwise; args likewise
        args: Sequence[Tensor]
        if create_graph:  # the rules get Nodes, so their results are graphs; constants stay plain values
            out = node
            args = [parent if _wanted(parent, stops) else parent.value for parent in parents]
        elif len(parents) == 2:  # spelled out for the common arities: this loop runs once a node
            out, args = node.value, (parents[0].value, parents[1].value)
        elif len(parents) == 1:
            out, args = node.value, (parents[0].value,)
        else:
            out, args = node.value, [parent.value for parent in parents]
        for parent, vjp in zip(parents, node.vjps):
            if not (parent.requires_grad or (stops is not None and parent in stops)):
                continue
            previous = gradients.get(parent)
            if previous is not None and type(vjp) is AddsInPlace and not create_graph:
                if parent not in owned:
                    previous = gradients[parent] = np.array(previous)
                    owned.add(parent)
                vjp.add_into(previous, gradient, out, *args, **params)
                continue
            contribution = vjp(gradient, out, *args, **params) if params else vjp(gradient, out, *args)
            shape = parent.value.shape
            if getattr(contribution, "shape", None) != shape:  # checked here: most gradients need no work
                contribution = _fitted(contribution, shape, node)
            if previous is None:
                gradients[parent] = contribution
            elif parent in owned:
                previous += contribution
            else:
                gradients[parent] = previous = previous + contribution
                # 0-d + 0-d gives an immutable NumPy scalar, which += could not update in place
                if not create_graph and isinstance(previous, np.ndarray):
                    owned.add(parent)
    if stops is not None:
        leaves = {node: gradient for node, gradient in leaves.items() if node in stops}
    return _finish_leaf_gradients(leaves, create_graph)


def _gradients_by_name(output: Node, seed: Any, create_graph: bool, who: str) -> dict[str, Any]:
    """What `grad` and `backward` return (`who`: which was called); the warning names the line that called them."""
    gradients: dict[str, Any] = {}
    leaves = backpropagate(output, seed, create_graph=create_graph)
    # reversed: leaves were reached output-first; report them in the order they were built
    for leaf, gradient in reversed(leaves.items()):
        if leaf.name is not None:
            if leaf.name in gradients:
                raise ValueError(
                    f"{who}: two different leaves are named {leaf.name!r}; a dict keyed by "
                    "name cannot hold both gradients (layers used on their own are named "
                    "W, b, ...: give them names, Linear(3, 2, 'h1'), or put them in a Model, "
                    "which names them by attribute)"
                )
            gradients[leaf.name] = gradient
    if not gradients:
        warn_no_named_leaf(any(leaf.requires_grad for leaf in leaves), stacklevel=4, who=who)
    return gradients


def warn_no_named_leaf(unnamed_variables: bool, stacklevel: int, who: str = "grad") -> None:
    """The warning of a `grad` that finds no named leaf (dp.trace's programs give it too)."""
    why = (
        "its only variables are unnamed leaves with requires_grad=True, whose gradients "
        "dp.backpropagate(node) returns keyed by the Node itself"
        if unnamed_variables
        else "every leaf beneath this node is a constant: an unnamed Node, a number or an array"
    )
    warnings.warn(
        f"{who}: no named leaf, so there is no gradient to report ({why}). Name what to "
        'differentiate with respect to: Node(value, "x") makes a variable, reported as '
        'grads["x"]; in a Model the layers\' parameters are named for you ("h1.W", "h1.b", '
        "...: see model.parameters()), so compute the loss from them, not from copies of "
        "their values",
        UserWarning,
        stacklevel=stacklevel,
    )


def _wanted(node: Node, stops: set[Node] | None) -> bool:
    return node.requires_grad or (stops is not None and node in stops)


def topological_order(output: Node, stops: Collection[Node] | None = None) -> list[Node]:
    """The nodes that need a gradient, each after all its parents, ending with `output`.

    A node is always created after its parents, and nodes are numbered as they are created: so
    the reachable nodes sorted by that number are in topological order. No recursion, so a graph
    100 000 nodes deep is no problem, and each node is visited once however many paths reach it.
    The walk does not go beyond the nodes in `stops`.
    """
    reached = [output]
    seen = {output}
    for node in reached:  # the list grows as we go: a breadth-first walk
        if stops is not None and node in stops:
            continue
        for parent in node.parents:
            if parent not in seen and (parent.requires_grad or (stops is not None and parent in stops)):
                seen.add(parent)
                reached.append(parent)
    reached.sort(key=_creation_number)
    return reached


def _fitted(contribution: Any, shape: tuple[int, ...], node: Node) -> Tensor:
    """A rule's gradient, broadcast like the output, summed back to its operand's `shape`.

    Each axis the gradient has beyond the operand's, or where the operand's size is 1, must be
    one of the output's axes (right-aligned, as broadcasting aligns them): anything else, or no
    array at all, is a wrong rule, and an error names the operation and both shapes."""
    got = getattr(contribution, "shape", None)
    if got is None:
        raise TypeError(
            f"{node.op}: a derivative rule returned {type(contribution).__name__}, not an array "
            f"of the operand's shape {shape}"
        )
    out_shape = np.shape(node.value)

    def broadcast_like_output(i: int) -> bool:  # axis i from the right (a size-1 axis sums nothing)
        return got[-1 - i] == 1 or (i < len(out_shape) and got[-1 - i] == out_shape[-1 - i])

    if not all(
        broadcast_like_output(i)
        if i >= len(shape)
        else got[-1 - i] == shape[-1 - i] or (shape[-1 - i] == 1 and broadcast_like_output(i))
        for i in range(len(got))
    ):
        raise ValueError(
            f"{node.op}: a derivative rule returned a gradient of shape {got} for an operand of "
            f"shape {shape} (the output has shape {np.shape(node.value)})"
        )
    return unbroadcast(contribution, shape, node.op)


def unbroadcast(gradient: Tensor, shape: tuple[int, ...], op: str = "unbroadcast") -> Tensor:
    """Sum `gradient` over the axes that broadcasting added or stretched, so it has `shape`.

    This is the one place where broadcasting is undone: the chain rule for y = broadcast(x)
    sums the gradient over every copy of each element of x. A gradient that `shape` does not
    broadcast to is a wrong derivative rule: an error names the operation and both shapes.
    """
    if gradient.shape == shape:
        return gradient
    extra = gradient.ndim - len(shape)
    if extra < 0 or any(size not in (1, gradient.shape[extra + axis]) for axis, size in enumerate(shape)):
        raise ValueError(
            f"{op}: a derivative rule returned a gradient of shape {gradient.shape} for an operand of shape {shape}"
        )
    stretched = tuple(
        extra + axis for axis, size in enumerate(shape) if size == 1 and gradient.shape[extra + axis] != 1
    )
    summed = gradient.sum(axis=tuple(range(extra)) + stretched)
    # reshape only to put back size-1 axes: a needless reshape makes a view, which the leaf would copy
    return summed if summed.shape == shape else summed.reshape(shape)


# --------------------------------------------------------------------------------------------
# Building nodes


def _make(op: str, value: Any, parents: tuple[Node, ...], vjps: tuple[VJP, ...], params: dict[str, Any]) -> Node:
    """A new non-leaf node. It keeps its parents only if a gradient must flow through it."""
    node = _new_node(Node)
    node.value = value
    node.name = None
    node.op = op
    node.params = params
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
    node.params = _NO_PARAMS
    node.requires_grad = False
    node.number = next(_numbering)
    return node


#: Operands that are plain values (not Nodes, not Duals).
_PLAIN_TYPES = frozenset(
    {
        float,
        int,
        bool,
        np.ndarray,
        np.float64,
        np.float32,
        np.float16,
        np.int64,
        np.int32,
        np.bool_,
        list,
        tuple,
        type(None),
    }
)
#: Python numbers stay Python numbers inside their constant node: NumPy treats them as weak, so
#: they never change a node's dtype, and array-with-number arithmetic is NumPy's fastest path.
_WEAK = (float, int)
_FLOAT_SCALARS = frozenset({np.float64, np.float32, np.float16})


def _binary(operation: Primitive, a: Any, b: Any) -> Any:
    """An operator with a Node on one side; foreign operands get NotImplemented (Python then asks
    them), Duals take the operation over (forward mode)."""
    kind_a, kind_b = type(a), type(b)
    if kind_a is Node and (kind_b is Node or kind_b is float or kind_b is int):  # the usual cases, first
        return operation.apply_to_nodes((a, b if kind_b is Node else _constant(b)), _NO_PARAMS)
    if kind_b is Node and (kind_a is float or kind_a is int):
        return operation.apply_to_nodes((_constant(a), b), _NO_PARAMS)
    for x in (a, b):
        kind = type(x)
        if kind not in _PLAIN_TYPES and not isinstance(x, np.generic | Node):
            if hasattr(kind, "__dp_apply__"):
                return operation(a, b)
            return NotImplemented
    return operation.apply_to_nodes(_as_operands((a, b)), _NO_PARAMS)


def _as_operands(operands: Sequence[Any]) -> tuple[Node, ...]:
    """Every operand as a Node; plain ones become constants in the dtype of the Nodes among them."""
    like = None
    for x in operands:
        if isinstance(x, Node):
            like = x.value.dtype if isinstance(x.value, np.ndarray | np.generic) else None
            break
    nodes = []
    for x in operands:
        if isinstance(x, Node):
            nodes.append(x)
        elif type(x) in _WEAK:
            nodes.append(_constant(x))
        else:
            nodes.append(_constant(_as_float_array(x, "operand", like=like)))
    return tuple(nodes)


def as_node(x: Any) -> Node:
    """`x` itself if it is a Node, else a constant leaf holding it."""
    return x if isinstance(x, Node) else _constant(_as_float_array(x, "as_node"))


def _as_float_array(value: Any, where: str, like: np.dtype | None = None) -> np.ndarray | np.floating:
    """`value` as a float array: floats keep their dtype; integers and booleans become float64
    (or `like`, the dtype of the node they meet, so that they never promote float32).

    A 0-d value becomes a NumPy scalar (still with .shape, .dtype and NumPy's maths): NumPy
    computes with those about five times faster than with 0-d arrays, which is what scalar graphs
    such as the blog's neuron are made of."""
    if type(value) in _FLOAT_SCALARS:  # already what we want (scalar graphs make many of these)
        return value
    if type(value) is float:
        return np.float64(value)
    try:
        array = value if type(value) is np.ndarray else np.asarray(value)
    except (ValueError, TypeError) as error:
        raise TypeError(
            f"{where}: expected a number or an array of numbers, got {type(value).__name__}: {error}"
        ) from None
    kind = array.dtype.kind
    if kind in "biu":
        array = array.astype(like if like is not None and like.kind == "f" else np.float64)
    elif kind == "c":
        raise TypeError(
            f"{where}: complex numbers are not supported (dp differentiates real functions), got dtype {array.dtype}"
        )
    elif kind != "f":
        raise TypeError(
            f"{where}: expected a number or an array of numbers, got {type(value).__name__} of dtype {array.dtype}"
        )
    return array[()] if array.ndim == 0 else array


def _seed(output: Node, seed: Any, create_graph: bool) -> Any:
    """The gradient that starts the backward pass: `seed` in the output's shape and dtype."""
    if type(seed) in (int, float) and output.value.ndim == 0 and not create_graph:
        return output.value.dtype.type(seed)  # the paper's grad(1): a NumPy scalar, immutable
    value = seed.value if isinstance(seed, Node) else _as_float_array(seed, "grad(seed)", like=output.value.dtype)
    if value.shape != output.shape:
        if value.ndim == 0 and output.size != 1:
            raise ValueError(
                f"grad: the output has shape {output.shape}, not one number: reduce it first "
                "(e.g. .sum()), or give a seed of its shape for a vector-Jacobian product"
            )
        if value.ndim != 0:
            raise ValueError(
                f"grad: the output's gradient has shape {value.shape}, but the output has shape {output.shape}"
            )
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
            if (
                gradient.base is not None
                or not gradient.flags.writeable
                or gradient.dtype != dtype
                or id(gradient) in handed_out
            ):
                gradient = leaves[leaf] = np.array(gradient, dtype=dtype)
            handed_out.add(id(gradient))
        elif type(gradient) is not dtype.type:  # a 0-d leaf's gradient: an immutable NumPy scalar
            leaves[leaf] = dtype.type(gradient)
    return leaves


# --------------------------------------------------------------------------------------------
# The worked examples: a dozen operations, each its forward value beside its derivative rules.
# Rules read (g, out, *operands): g is the gradient arriving at the output, out the output.
# The rest of the catalogue, written the same way, is in dp/ops/.


def _vjp_identity(g, out, *operands, **params):
    return g


def _vjp_negate(g, out, *operands, **params):
    return -g


#: a + b.   d/da = 1, d/db = 1.
add = primitive("add", np.add, vjp=(_vjp_identity, _vjp_identity), tangent="linear", error="do not broadcast")
#: a - b.   d/da = 1, d/db = -1.
subtract = primitive(
    "subtract", np.subtract, vjp=(_vjp_identity, _vjp_negate), tangent="linear", error="do not broadcast"
)
#: -x.   d/dx = -1.
negative = primitive("negative", np.negative, vjp=_vjp_negate, tangent="linear")
#: a * b (element-wise).   d/da = b, d/db = a.
multiply = primitive(
    "multiply",
    np.multiply,
    vjp=(lambda g, out, a, b: g * b, lambda g, out, a, b: g * a),
    tangent="multilinear",
    error="do not broadcast",
)
#: a / b.   d/da = 1/b, d/db = -a/b^2 = -out/b.
divide = primitive(
    "divide",
    np.divide,
    vjp=(lambda g, out, a, b: g / b, lambda g, out, a, b: -g * out / b),
    tangent="elementwise",
    error="do not broadcast",
)


def _one_where_zero(test: Any, x: Tensor) -> Tensor:
    """x, with 1 wherever `test` is 0: keeps 0 * inf and log(0) out of the power rules."""
    zero = plain(test) == 0
    if zero is False or not np.any(zero):  # the usual case, and a Python number stays weak
        return x
    return np.where(zero, np.ones((), plain(x).dtype) if hasattr(plain(x), "dtype") else 1, x)


def _log_of_base(a: Any) -> Tensor | float:
    """log(a) for the power rule, 0 where a = 0. For a Python number (`2 ** x`) it is a Python
    float, which NumPy treats as weak: a float32 gradient stays float32."""
    log = np.log(_one_where_zero(a, a))
    return float(log) if type(a) in (int, float) else log


#: a ** b.   d/da = b a^(b-1), d/db = a^b log(a); as PyTorch, d/da is 0 where b = 0 (not 0 * inf
#: at a = 0) and d/db is 0 where a = 0.
power = primitive(
    "power",
    np.power,
    vjp=(lambda g, out, a, b: g * b * _one_where_zero(b, a) ** (b - 1), lambda g, out, a, b: g * out * _log_of_base(a)),
    tangent="elementwise",
    error="do not broadcast",
)


def _matrix_transpose(x: Tensor) -> Tensor:
    if x.ndim == 2:
        return x.T
    return x.swapaxes(-1, -2)  # type: ignore[misc, arg-type]  # at least 3-D here: never a NumPy scalar


def _vjp_matmul_left(g, out, a, b):
    """d/da of a @ b = g @ b^T, with a 1-D operand treated as a row (a) or a column (b)."""
    if b.ndim == 1:  # out = a @ b drops b's only axis: restore it as a column
        return g.reshape(g.shape + (1,)) @ b.reshape((1,) + b.shape)
    if a.ndim == 1:  # out = a @ b dropped a's row axis
        return (g.reshape(g.shape[:-1] + (1, g.shape[-1])) @ _matrix_transpose(b)).reshape(g.shape[:-1] + a.shape)
    return g @ _matrix_transpose(b)


def _vjp_matmul_right(g, out, a, b):
    """d/db of a @ b = a^T @ g."""
    if a.ndim == 1:
        if b.ndim == 1:
            return g * a
        return a.reshape(a.shape + (1,)) @ g.reshape(g.shape[:-1] + (1, g.shape[-1]))
    if b.ndim == 1:
        return (_matrix_transpose(a) @ g.reshape(g.shape + (1,))).reshape(g.shape[:-1] + b.shape)
    return _matrix_transpose(a) @ g


#: a @ b, NumPy's matmul (1-D operands and stacks of matrices included).
matmul = primitive(
    "matmul", np.matmul, vjp=(_vjp_matmul_left, _vjp_matmul_right), tangent="multilinear", error="do not multiply"
)
#: exp(x).   d/dx = exp(x) = out.
exp = primitive("exp", np.exp, vjp=lambda g, out, x: g * out, tangent="elementwise")
#: log(x).   d/dx = 1/x.
log = primitive("log", np.log, vjp=lambda g, out, x: g / x, tangent="elementwise")
#: tanh(x).   d/dx = 1 - tanh(x)^2.
tanh = primitive("tanh", np.tanh, vjp=lambda g, out, x: g * (1 - out * out), tangent="elementwise")


def _keep_dims(g: Tensor, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Tensor:
    """A reduction's result with the reduced axes put back as size 1, ready to broadcast."""
    if keepdims:
        return g
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis) % max(len(shape), 1)
    kept = [1 if index in axes else size for index, size in enumerate(shape)]
    return g.reshape(tuple(kept))


def _sum(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


#: Sum over `axis` (all axes if None).   d/dx = 1: the gradient is copied back over them.
sum_ = primitive(
    "sum",
    _sum,
    vjp=lambda g, out, x, axis, keepdims: np.broadcast_to(_keep_dims(g, x.shape, axis, keepdims), x.shape),
    tangent="linear",
)
#: The same elements in a new shape.   The gradient takes the old shape back.
reshape_ = primitive("reshape", np.reshape, vjp=lambda g, out, x, shape: g.reshape(x.shape), tangent="linear")


def scatter_add(gradient: Tensor, key: Any, shape: tuple[int, ...]) -> Tensor:
    """Zeros of `shape` with `gradient` added at `key`: the derivative of indexing."""
    if not isinstance(gradient, np.ndarray | np.generic):
        return scatter(gradient, key=key, shape=shape)
    result = np.zeros(shape, dtype=gradient.dtype)
    if _is_basic_index(key):
        result[key] = gradient  # basic indexing selects each element at most once
    else:
        # An integer array may select an element twice: np.add.at sums. Given flat positions it
        # takes NumPy's fast path, 3-8x faster than with the key itself (an index of several axes).
        places = np.arange(result.size).reshape(shape)[key]
        np.add.at(result.reshape(-1), places.reshape(-1), np.reshape(gradient, -1))
    return result


def _is_basic_index(key: Any) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return all(part is None or part is Ellipsis or isinstance(part, slice | numbers.Integral) for part in parts)


#: x[key]: slices, integers, None, Ellipsis, integer and boolean arrays.   d/dx: the gradient lands
#: in the selected places, zero elsewhere (summed where an integer array selects an element twice).
def _add_at(buffer: np.ndarray, g: Tensor, out: Tensor, x: Tensor, key: Any) -> None:
    if _is_basic_index(key):
        buffer[key] += g
    else:
        np.add.at(buffer, key, g)


getitem = primitive(
    "getitem",
    lambda x, key: x[key],
    tangent="linear",
    vjp=AddsInPlace(lambda g, out, x, key: scatter_add(g, key, x.shape), _add_at),
)
#: getitem's derivative as an operation of its own (for higher order): linear, its VJP is getitem.
scatter = primitive(
    "scatter_add",
    lambda g, key, shape: scatter_add(g, key, shape),
    vjp=lambda g, out, x, key, shape: g[key],
    tangent="linear",
)


def _plain_index(key: Any) -> Any:
    """An index with any Nodes or Duals in it replaced by their values (indices are not differentiated)."""
    if isinstance(key, tuple):
        return tuple(plain(part) for part in key)
    return plain(key)


def _method_sum(
    self: Any,
    axis: int | tuple[int, ...] | None = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: bool = False,
    **options: Any,
) -> Any:
    """Sum over `axis` (all axes if None), with ndarray.sum's arguments."""
    if dtype is not None or out is not None or options:
        _plain_options("sum", dtype, out, options)
    return sum_(self, axis=reduction_axis("sum", self, axis), keepdims=bool(keepdims))


def _method_reshape(self: Any, *shape: int | Sequence[int]) -> Any:
    """The same elements in a new shape: x.reshape(2, 3) or x.reshape((2, 3))."""
    new_shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) else shape
    try:
        new_shape = tuple(int(size) for size in np.atleast_1d(new_shape)) if np.ndim(new_shape) else int(new_shape)  # type: ignore[arg-type]  # np.ndim(new_shape) == 0 here: one size
        np.empty(np.shape(plain(self)), dtype=np.bool_).reshape(new_shape)
    except (TypeError, ValueError) as error:
        raise ValueError(f"reshape: cannot reshape shape {np.shape(plain(self))} into {new_shape}: {error}") from None
    return reshape_(self, shape=new_shape)


def _method_getitem(self: Any, key: Any) -> Any:
    """x[key]."""
    key = _plain_index(key)
    try:
        return getitem(self, key=key)
    except (IndexError, ValueError, TypeError) as error:
        raise IndexError(f"getitem: index {key!r} does not fit shape {np.shape(plain(self))}: {error}") from None


def reduction_axis(op: str, x: Any, axis: Any) -> int | tuple[int, ...] | None:
    """`axis` checked against x's shape, as NumPy takes it (None, an int or a tuple of ints);
    an axis out of range raises an error that names the operation and the shape."""
    if axis is None:
        return None
    ndim = np.ndim(plain(x))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis) if isinstance(axis, list | tuple) else None
    if (
        axes is None
        or not all(isinstance(a, numbers.Integral) and -ndim <= a < ndim for a in axes)  # type: ignore[operator]  # typeshed gives numbers.Integral no comparisons
        or len({int(a) % max(ndim, 1) for a in axes}) != len(axes)
    ):
        raise ValueError(f"{op}: cannot reduce shape {np.shape(plain(x))} over axis {axis}")
    return int(axis) if isinstance(axis, numbers.Integral) else tuple(int(a) for a in axes)


method("exp")(exp)
method("log")(log)
method("tanh")(tanh)
method("sum")(_method_sum)
method("reshape")(_method_reshape)
method("__getitem__")(_method_getitem)
implements(np.add)(add)
implements(np.subtract)(subtract)
implements(np.multiply)(multiply)
implements(np.true_divide)(divide)
implements(np.power)(power)
implements(np.matmul)(matmul)
implements(np.negative)(negative)
implements(np.exp)(exp)
implements(np.log)(log)
implements(np.tanh)(tanh)


implements(np.sum)(_method_sum)


@implements(np.reshape)
def _numpy_reshape(x: Any, shape: Any = None, order: str = "C", **options: Any) -> Any:
    if order != "C" or options:
        raise TypeError("numpy.reshape on Nodes/Duals: only order='C' is supported")
    return _method_reshape(x, options.get("newshape", shape))


def _stacked(x: Any) -> Any:
    """A list or tuple of Nodes/Duals as one stacked value, so that dp.ops.max([x, y]) is the stack's
    maximum. (NumPy's own np.sum([x, y]) never reaches dp: NumPy does not look inside lists, and
    turning the list into an array raises Node's clear error.)"""
    if isinstance(x, list | tuple):
        from dp.ops.shape import stack  # the catalogue is loaded by then; imported here, as it depends on us

        return stack(x)
    return x
