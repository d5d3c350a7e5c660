"""Functions of functions: grad, value_and_grad, vjp, jacobian, hessian (the blog post's gradBP).

`grad(f)` returns a function that computes f's gradient, as HIPS autograd and the blog's `gradBP`
do. How: each differentiated argument becomes a *variable*, a fresh unnamed Node leaf with
`requires_grad=True` (unnamed, so it never clashes with names used inside f); f runs once on the
variables, and each pass is `backpropagate(out, seed, inputs=variables)`, which stops at our
variables and returns exactly their gradients. Arguments may be numbers, arrays, Nodes, Duals,
or dicts, lists, tuples and namedtuples of them, nested (`dp.trees`: `grad(loss)({"W": W, "b":
b}, x)`); gradients come back in the same structure, with the same keys, each with its
argument's shape and float dtype (a Python number gives a float). Keyword arguments reach f and
are not differentiated: `grad(f)(x, scale=2.0)`.

    >>> sigmoid = lambda z: 1 / (1 + np.exp(-z))
    >>> neuron = lambda p: sigmoid(p[0] * p[3] + p[1] * p[4] + p[2])
    >>> [round(g, 4) for g in grad(neuron)([1, 2, -3, -1, 3])]
    [-0.105, 0.315, 0.105, 0.105, 0.21]

Nothing here ever changes a node once f has run: the graph f built is only read, so threads may
differentiate the same function, or call the same pullback, at the same time. Higher order
works to any depth, with no global state:

* Reverse over reverse (`grad(grad(f))`, `hessian`). When the outer transformation calls
  `grad(f)(x)` with x one of *its* variables, x is a Node that needs a gradient. The inner
  variable is then an identity node of x (parent x): the inner pass stops there (it is one of
  its `inputs`), and the outer pass flows through it to x. The inner pass then uses
  `create_graph=True`, so the gradient it returns is a graph that the outer pass differentiates
  again.
* Which gradients must stay graphs. Plain arrays are much faster, so a pass keeps the graph only
  when someone may differentiate its result again: when an argument was such a Node, or when f's
  output reaches a differentiable leaf that is *foreign* — f closes over a Node of an enclosing
  transformation or a user's named Node (`grad(lambda y: x * y)` inside a function of x). The
  variables of transformations nested inside f were made after ours; f's output may reach them
  (a gradient kept as a graph), but they are constants for us: nothing outside f differentiates
  with respect to them. An enclosing pass that meets one of our variables likewise treats it as
  a constant leaf: it stops only at its own inputs and drops whatever reaches the others.
* Forward over reverse (`jacobian(grad(f), mode="forward")`, `hessian(f, mode="forward")`):
  a Node cannot hold a Dual, so a Dual argument x + εv becomes a Dual whose value is a variable.
  f then returns a Dual (f(x), f'(x)v) of Nodes, and the gradient of each part, read separately,
  is the Dual (∇f(x), H v): the gradient of f'(x)v with respect to x is H v. A Dual cotangent
  u + εw given to a pullback gives the Dual (u^T J, w^T J): the pullback is linear in it.
* Reverse over forward (`grad` of a function that calls `jvp`): Duals may hold Nodes; nothing to do.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from dp.forward import Dual, _float_dtype, _shape, jvp
from dp.node import Node, Primitive, _numbering, as_node, backpropagate, topological_order
from dp.trees import flatten, leaves_like, paths

Argnum = int | tuple[int, ...]


def grad(f: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Any]:
    """The gradient of a scalar function, as a function: `grad(f)(*args, **kwargs)`.

    `argnum` picks the positional argument (an int) or arguments (a tuple: a tuple of gradients
    comes back); keyword arguments are passed to f and not differentiated. f must return a
    scalar (any array with one element); each gradient has its argument's structure, shape and
    float dtype.

        >>> float(grad(lambda x: x ** 3)(2.0))
        12.0
        >>> grad(lambda p, x: np.sum(p["w"] * x) + p["b"])({"w": np.ones(2), "b": 0.0}, np.array([3.0, 4.0]))
        {'w': array([3., 4.]), 'b': 1.0}
    """
    value_and_gradient = value_and_grad(f, argnum)

    def gradient(*args: Any, **kwargs: Any) -> Any:
        return value_and_gradient(*args, **kwargs)[1]

    return _named(gradient, f, "grad")


def value_and_grad(f: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., tuple[Any, Any]]:
    """f's value and its gradient in one pass: the blog's `evalBP` and `gradBP` together.

    >>> value, slope = value_and_grad(lambda x: x ** 3)(2.0)
    >>> float(value), float(slope)
    (8.0, 12.0)
    """

    def value_and_gradient(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        trace = _Trace(f, args, kwargs, argnum, "grad")
        shape = _shape(trace.out)
        if int(np.prod(shape)) != 1:
            raise ValueError(
                f"grad: f must return a scalar, but its output has shape {shape}; for a "
                "non-scalar output use dp.jacobian, or dp.vjp with a seed of that shape"
            )
        return trace.value(), trace.result(trace.pullback(1))

    return _named(value_and_gradient, f, "value_and_grad")


def vjp(f: Callable[..., Any], /, *primals: Any, **kwargs: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """f's value and a function that pulls a cotangent back: `vjp_fn(u)` = u^T J for each primal.

    `vjp(f, *primals, **kwargs)` runs f(*primals, **kwargs) once (keyword arguments are not
    differentiated); `vjp_fn` may be called with many cotangents and returns a tuple with one
    gradient per primal, in each primal's structure. f may return one array or a dict, list or
    tuple of them; the cotangent then has that structure (dict keys matched by name), each part
    its output's shape. A Dual cotangent u + εw gives Duals u^T J + ε w^T J (forward over reverse).

        >>> value, vjp_fn = vjp(lambda x: x * x, np.array([1.0, 2.0]))
        >>> vjp_fn(np.array([1.0, 10.0]))
        (array([ 2., 40.]),)
    """
    trace = _Trace(f, primals, kwargs, tuple(range(len(primals))), "vjp", structured_output=True)

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        return tuple(trace.structures(trace.pullback(trace.packed_cotangent(cotangent))))

    return trace.value(), vjp_fn


def jacobian(f: Callable[..., Any], argnum: Argnum = 0, mode: str = "reverse") -> Callable[..., Any]:
    """The Jacobian of f, as a function: shape f(x).shape + x.shape for each differentiated argument.

    `mode="reverse"` builds it row by row (one backward pass per output element, f runs once);
    `mode="forward"` column by column (one `jvp` per input element), cheaper when there are
    fewer inputs than outputs. Keyword arguments of the call reach f, not differentiated.

        >>> jacobian(lambda x: x * x, mode="forward")(np.array([1.0, 2.0]))
        array([[2., 0.],
               [0., 4.]])
    """
    if mode not in ("reverse", "forward"):
        raise ValueError(f"jacobian: mode must be 'reverse' or 'forward', got {mode!r}")
    build = _jacobian_reverse if mode == "reverse" else _jacobian_forward

    def jacobian_of_f(*args: Any, **kwargs: Any) -> Any:
        return build(f, args, kwargs, argnum)

    return _named(jacobian_of_f, f, "jacobian")


def hessian(f: Callable[..., Any], argnum: int = 0, mode: str = "reverse") -> Callable[..., Any]:
    """The matrix of second derivatives of a scalar f, shape x.shape + x.shape.

    The Jacobian of the gradient: reverse over reverse by default, forward over reverse with
    `mode="forward"`.

        >>> hessian(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
        array([[ 6.,  0.],
               [ 0., 12.]])
    """
    if not isinstance(argnum, numbers.Integral) or isinstance(argnum, bool):
        raise TypeError(f"hessian: argnum must be one int, got {argnum!r}")
    return _named(jacobian(grad(f, argnum), argnum, mode=mode), f, "hessian")


# --------------------------------------------------------------------------------------------
# One run of f on fresh variables


class _Trace:
    """f run once on variables for the arguments `argnum` picks; pulls gradients back on demand.

    `structured_output`: f may return a dict/list/tuple of arrays (vjp); its parts are then
    pulled back together, as one output made of all of them raveled and joined."""

    def __init__(
        self,
        f: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        argnum: Argnum,
        who: str,
        structured_output: bool = False,
    ):
        self.who = who
        self.single = not isinstance(argnum, tuple)
        self.argnums = _argnums(argnum, len(args), who)
        self.arguments: list[tuple[list[Any], Callable[[list[Any]], Any]]] = []  # (leaves, rebuild) each
        self.variables: list[Node] = []  # the Node inside each variable, one per argument leaf
        self.linked = False  # some variable is an identity of a Node that needs a gradient
        new_args = list(args)
        for index in self.argnums:
            leaves, rebuild = flatten(args[index])
            self.arguments.append((leaves, rebuild))
            new_args[index] = rebuild([self._variable(leaf, index) for leaf in leaves])
        # Every differentiable leaf made from now on, inside f, belongs to a nested transformation.
        self.start = next(_numbering)
        self.ours = frozenset(self.variables)
        self.tree = f(*new_args, **kwargs)
        if structured_output:
            self.out_leaves, self.rebuild_out = flatten(self.tree)
            for leaf in self.out_leaves:
                _check_output(leaf, who)
            self.out = _joined(self.out_leaves)
        else:
            _check_output(self.tree, who, one=True)
            self.out_leaves, self.rebuild_out, self.out = [self.tree], _first, self.tree
        self.create_graph = self.linked or self._reaches_foreign_leaf()

    def _variable(self, x: Any, index: int) -> Any:
        if isinstance(x, Dual):  # forward over reverse: the variable sits inside the dual
            return Dual._make(self._variable(x.value, index), x.tangent, x.level)
        if isinstance(x, Node) and x.requires_grad:  # x belongs to an enclosing pass: let it flow through us
            variable = _identity(x)
            self.linked = True
        else:
            try:
                variable = Node(x.value if isinstance(x, Node) else x, requires_grad=True)
            except TypeError as error:
                raise TypeError(f"{self.who}: argument {index}: {error}") from None
        self.variables.append(variable)
        return variable

    def _reaches_foreign_leaf(self) -> bool:
        """Does f's output reach a differentiable leaf that is neither ours nor made inside f?"""
        for part in _nodes_in(self.out):
            if part.requires_grad and any(
                not node.parents and node not in self.ours and node.number < self.start
                for node in topological_order(part, self.ours)
            ):
                return True
        return False

    def packed_cotangent(self, cotangent: Any) -> Any:
        """A cotangent in the output's structure, checked, as one seed for the joined output."""
        what = "vjp: the cotangent" + ("" if len(self.out_leaves) == 1 else " of output")
        parts = leaves_like(cotangent, self.tree, what)
        for part, leaf, path in zip(parts, self.out_leaves, paths(self.tree)):
            if _shape(part) != _shape(leaf):
                raise ValueError(
                    f"vjp: the cotangent{path} has shape {_shape(part)}, but f's output{path} has shape {_shape(leaf)}"
                )
        return _joined(parts)

    def pullback(self, seed: Any) -> list[Any]:
        """seed^T J for each variable, in order (Nodes where the gradient must stay a graph)."""
        if not any(isinstance(leaf, Node | Dual) for leaf in self.out_leaves):
            warnings.warn(
                f"the output of f does not depend on its inputs (it is a plain {type(self.out).__name__}, "
                "not a Node), so the gradient is 0; if it should depend on them, f left dp's graph "
                "somewhere (math.exp(x), float(x), x.value, ...)",
                stacklevel=4,
            )
        create_graph = self.create_graph or any(node.requires_grad for node in _nodes_in(seed))
        return self._pull(self.out, seed, create_graph)

    def _pull(self, out: Any, seed: Any, create_graph: bool) -> list[Any]:
        """The gradients of <g, out>, g the output's gradient; Duals (in out or in g) are split at their
        innermost level, and the parts pulled back by the product rule (the pullback is bilinear in J and g)."""
        level = max((x.level for x in (out, seed) if isinstance(x, Dual)), default=None)
        if level is None:
            return self._backward(out, seed, create_graph)
        out_value, out_tangent = _parts(out, level)
        seed_value, seed_tangent = _parts(seed, level)
        values = self._pull(out_value, seed_value, create_graph)
        shares = []
        if out_tangent is not None:
            shares.append(self._pull(out_tangent, seed_value, create_graph))
        if seed_tangent is not None:
            shares.append(self._pull(out_value, seed_tangent, create_graph))
        tangents = shares[0] if len(shares) == 1 else [a + b for a, b in zip(*shares)]
        return [Dual._make(value, tangent, level) for value, tangent in zip(values, tangents)]

    def _backward(self, out: Any, seed: Any, create_graph: bool) -> list[Any]:
        found: dict[Node, Any] = {}
        if isinstance(out, Node) and out.requires_grad:
            found = backpropagate(out, seed, create_graph=create_graph, inputs=self.variables)
        gradients = []
        for variable in self.variables:
            gradient = found.get(variable)
            if gradient is None:  # f does not depend on this variable
                gradient = np.zeros(variable.shape, variable.dtype)
                gradient = as_node(gradient) if create_graph else gradient
            gradients.append(gradient)
        return gradients

    def structures(self, gradients: list[Any]) -> list[Any]:
        """Per-variable results back in each argument's structure (a Python number gives a float)."""
        results, start = [], 0
        for originals, rebuild in self.arguments:
            part = gradients[start : start + len(originals)]
            start += len(originals)
            results.append(rebuild([_like(gradient, original) for gradient, original in zip(part, originals)]))
        return results

    def result(self, gradients: list[Any]) -> Any:
        results = self.structures(gradients)
        return results[0] if self.single else tuple(results)

    def value(self) -> Any:
        """f's output: arrays on the first-order path, the graph itself when it must stay one."""
        return self.tree if self.create_graph else self.rebuild_out([_detached(leaf) for leaf in self.out_leaves])


def _vjp_identity(g, out, x):
    return g


#: x itself, as a new node: an inner transformation's variable for a Node of an enclosing one.
#: Not in the table of operations (never applied by users), so not registered.
_identity = Primitive("identity", lambda x: x, _vjp_identity, tangent="linear")


# --------------------------------------------------------------------------------------------
# Jacobians


def _jacobian_reverse(f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], argnum: Argnum) -> Any:
    """Row by row: one backward pass per output element, seeded with that element's unit vector."""
    trace = _Trace(f, args, kwargs, argnum, "jacobian")
    out_shape = _shape(trace.out)
    dtype = _float_dtype(trace.out)
    rows = []
    for index in np.ndindex(out_shape):
        seed = np.zeros(out_shape, dtype)
        seed[index] = 1
        rows.append(trace.pullback(seed))
    blocks = [
        _assemble([row[k] for row in rows], out_shape, variable.shape, variable.dtype, axis=0)
        for k, variable in enumerate(trace.variables)
    ]
    results = trace.structures(blocks)
    return results[0] if trace.single else tuple(results)


def _jacobian_forward(f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], argnum: Argnum) -> Any:
    """Column by column: one jvp per input element, its tangent the unit vector of that element."""
    argnums = _argnums(argnum, len(args), "jacobian")
    structures = [flatten(args[index]) for index in argnums]
    primal_leaves = [leaf for leaves, _ in structures for leaf in leaves]
    zeros = [np.zeros(_shape(leaf), _float_dtype(leaf)) for leaf in primal_leaves]

    def f_of_selected(*selected: Any) -> Any:
        new_args = list(args)
        for index, value in zip(argnums, selected):
            new_args[index] = value
        return f(*new_args, **kwargs)

    def in_structures(leaves: list[Any]) -> list[Any]:
        results, start = [], 0
        for originals, rebuild in structures:
            results.append(rebuild(leaves[start : start + len(originals)]))
            start += len(originals)
        return results

    primals = tuple(args[index] for index in argnums)
    out_shape = None
    blocks = []
    for k, leaf in enumerate(primal_leaves):
        columns = []
        for index in np.ndindex(_shape(leaf)):
            tangents = list(zeros)
            tangents[k] = np.zeros_like(zeros[k])
            tangents[k][index] = 1
            out, column = jvp(f_of_selected, primals, tuple(in_structures(tangents)))
            _check_output(out, "jacobian", one=True)
            out_shape = _shape(out)
            columns.append(column)
        if out_shape is None:  # no input elements at all: run f once for the output's shape
            out_shape = _shape(f(*args, **kwargs))
        blocks.append(_like(_assemble(columns, out_shape, _shape(leaf), zeros[k].dtype, axis=-1), leaf))
    results = in_structures(blocks)
    return results[0] if not isinstance(argnum, tuple) else tuple(results)


def _assemble(
    parts: list[Any], out_shape: tuple[int, ...], in_shape: tuple[int, ...], dtype: np.dtype, axis: int
) -> Any:
    """Rows (axis 0) or columns (axis -1) stacked into an array of shape out_shape + in_shape."""
    if not parts:
        return np.zeros(out_shape + in_shape, dtype)
    return np.stack(parts, axis=axis).reshape(out_shape + in_shape)


def _check_output(out: Any, who: str, one: bool = False) -> None:
    if one and isinstance(out, list | tuple | dict):
        raise TypeError(f"{who}: f must return one array, not a {type(out).__name__}")
    if not isinstance(out, Node | Dual | np.ndarray | np.generic | numbers.Number):
        raise TypeError(f"{who}: f must return a number, an array, a Node or a Dual, got {type(out).__name__}")


# --------------------------------------------------------------------------------------------
# Helpers


def _argnums(argnum: Argnum, count: int, who: str) -> tuple[int, ...]:
    """argnum as a tuple of valid, distinct, non-negative positions."""
    wanted = argnum if isinstance(argnum, tuple) else (argnum,)
    positions = []
    for position in wanted:
        if type(position) is not int and (not isinstance(position, numbers.Integral) or isinstance(position, bool)):
            raise TypeError(f"{who}: argnum must be an int or a tuple of ints, got {argnum!r}")
        if not -count <= position < count:
            raise IndexError(
                f"{who}: argnum {position} is out of range: f was called with {count} positional argument(s)"
            )
        positions.append(int(position) % count)
    if len(set(positions)) != len(positions):
        raise ValueError(f"{who}: argnum {argnum!r} names an argument twice")
    return tuple(positions)


def _joined(parts: list[Any]) -> Any:
    """Several outputs (or cotangents) as one: raveled and joined, so that one pass serves them all."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([np.reshape(part, -1) for part in parts]) if parts else np.zeros(0)


def _parts(x: Any, level: int) -> tuple[Any, Any]:
    """x's value and tangent at `level` (tangent None: x is constant there)."""
    return (x.value, x.tangent) if isinstance(x, Dual) and x.level == level else (x, None)


def _nodes_in(x: Any) -> Iterator[Node]:
    """The Nodes a value is made of: itself, or the parts of a Dual."""
    if isinstance(x, Dual):
        yield from _nodes_in(x.value)
        yield from _nodes_in(x.tangent)
    elif isinstance(x, Node):
        yield x


def _detached(x: Any) -> Any:
    """Plain arrays in place of Nodes (inside Duals too)."""
    if isinstance(x, Dual):
        return Dual._make(_detached(x.value), _detached(x.tangent), x.level)
    return x.value if isinstance(x, Node) else x


def _like(gradient: Any, original: Any) -> Any:
    """The gradient of a Python number argument as a Python float, as the blog prints it."""
    if type(original) in (int, float) and isinstance(gradient, np.ndarray | np.floating) and np.ndim(gradient) == 0:
        return float(gradient)
    return gradient


def _first(leaves: list[Any]) -> Any:
    return leaves[0]


def _named(function: Callable[..., Any], f: Callable[..., Any], what: str) -> Callable[..., Any]:
    """Give the returned function f's signature (for help() and gradcheck) and a telling name."""
    function = functools.wraps(f)(function)
    name = getattr(f, "__name__", type(f).__name__)
    function.__name__ = function.__qualname__ = f"{what}({name})"
    return function
