"""Functions of functions: grad, value_and_grad, vjp, jacobian, hessian (seed 003's gradBP).

`grad(f)` returns a function that computes f's gradient, as HIPS autograd and the blog's `gradBP`
do. How: each differentiated argument becomes a fresh unnamed Node leaf with `requires_grad=True`
(a *variable*: unnamed, so it never clashes with names used inside f), f runs on the variables,
and `backpropagate` returns the gradient of every leaf, keyed by the leaf itself; we read ours.
Arguments may be numbers, arrays, Nodes, Duals, or lists/tuples of them (the blog's
`[a, b, c, x, y]`); gradients come back in the same structure, each with its argument's shape and
float dtype (a Python number gives a float).

    >>> sigmoid = lambda z: 1 / (1 + np.exp(-z))
    >>> neuron = lambda p: sigmoid(p[0] * p[3] + p[1] * p[4] + p[2])
    >>> [round(g, 4) for g in grad(neuron)([1, 2, -3, -1, 3])]
    [-0.105, 0.315, 0.105, 0.105, 0.21]

Higher order, to any depth, with no global state:

* Reverse over reverse (`grad(grad(f))`, `hessian`). When the outer transformation calls
  `grad(f)(x)` with x one of *its* variables, x is a Node that needs a gradient. The inner
  variable is then made an identity of x (parent x), so the outer pass can flow through it, and
  the inner backward pass uses `create_graph=True`, so the gradient it returns is a graph of Nodes
  that the outer pass differentiates again. During our own passes the link to x is cut
  (`_Trace.cut`): there the inner variable is a leaf, where its gradient is read. Outside them
  our variables are constants (`requires_grad` off), so an enclosing pass never goes into them.
  When f merely closes over such a Node (`grad(lambda y: x * y)` inside a function of x), the
  ordinary, fast first-order pass meets a differentiable leaf that is not ours: it runs again
  keeping the graph. Otherwise gradients are plain arrays, as fast as `Node.grad`.
* Forward over reverse (`jacobian(grad(f), mode="forward")`, `hessian(f, mode="forward")`):
  a Node cannot hold a Dual, so a Dual argument x + εv becomes a Dual whose value is a variable.
  f then returns a Dual (f(x), f'(x)v) of Nodes, and the gradient of each part, read separately,
  is the Dual (∇f(x), H v): the gradient of f'(x)v with respect to x is H v.
* Reverse over forward (`grad` of a function that calls `jvp`): Duals may hold Nodes; nothing to do.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from dp.forward import Dual, _float_dtype, _shape, flatten, jvp
from dp.node import Node, as_node, backpropagate, topological_order

Argnum = int | tuple[int, ...]


def grad(f: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Any]:
    """The gradient of a scalar function, as a function: `grad(f)(*args)`.

    `argnum` picks the argument (an int) or arguments (a tuple: a tuple of gradients comes back).
    f must return a scalar (any array with one element); each gradient has its argument's
    structure, shape and float dtype.

        >>> float(grad(lambda x: x ** 3)(2.0))
        12.0
    """
    value_and_gradient = value_and_grad(f, argnum)

    def gradient(*args: Any) -> Any:
        return value_and_gradient(*args)[1]

    return _named(gradient, f, "grad")


def value_and_grad(f: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., tuple[Any, Any]]:
    """f's value and its gradient in one pass: the blog's `evalBP` and `gradBP` together.

        >>> value, slope = value_and_grad(lambda x: x ** 3)(2.0)
        >>> float(value), float(slope)
        (8.0, 12.0)
    """
    def value_and_gradient(*args: Any) -> tuple[Any, Any]:
        trace = _Trace(f, args, argnum, "grad")
        shape = _shape(trace.out)
        if int(np.prod(shape)) != 1:
            raise ValueError(f"grad: f must return a scalar, but its output has shape {shape}; for a "
                             "non-scalar output use dp.jacobian, or dp.vjp with a seed of that shape")
        gradients = trace.pullback(1)  # first: it settles whether the value stays a graph
        return trace.value(), trace.result(gradients)

    return _named(value_and_gradient, f, "value_and_grad")


def vjp(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """f's value and a function that pulls a cotangent back: `vjp_fn(u)` = u^T J for each primal.

    f runs once; `vjp_fn` may be called with many cotangents (each the output's shape) and
    returns a tuple with one gradient per primal, in each primal's structure.

        >>> value, vjp_fn = vjp(lambda x: x * x, np.array([1.0, 2.0]))
        >>> vjp_fn(np.array([1.0, 10.0]))
        (array([ 2., 40.]),)
    """
    trace = _Trace(f, primals, tuple(range(len(primals))), "vjp")
    trace.decide()
    shape = _shape(trace.out)

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        if _shape(cotangent) != shape:
            raise ValueError(f"vjp: the cotangent has shape {_shape(cotangent)}, but f's output has shape {shape}")
        return tuple(trace.structures(trace.pullback(cotangent)))

    return trace.value(), vjp_fn


def jacobian(f: Callable[..., Any], argnum: Argnum = 0, mode: str = "reverse") -> Callable[..., Any]:
    """The Jacobian of f, as a function: shape f(x).shape + x.shape for each differentiated argument.

    `mode="reverse"` builds it row by row (one backward pass per output element, f runs once);
    `mode="forward"` column by column (one `jvp` per input element), cheaper when there are
    fewer inputs than outputs.

        >>> jacobian(lambda x: x * x, mode="forward")(np.array([1.0, 2.0]))
        array([[2., 0.],
               [0., 4.]])
    """
    if mode not in ("reverse", "forward"):
        raise ValueError(f"jacobian: mode must be 'reverse' or 'forward', got {mode!r}")
    build = _jacobian_reverse if mode == "reverse" else _jacobian_forward

    def jacobian_of_f(*args: Any) -> Any:
        return build(f, args, argnum)

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
    """f run once on variables for the arguments `argnum` picks; pulls gradients back on demand."""

    def __init__(self, f: Callable[..., Any], args: tuple[Any, ...], argnum: Argnum, who: str):
        self.who = who
        self.single = not isinstance(argnum, tuple)
        self.argnums = _argnums(argnum, len(args), who)
        self.links: list[Node] = []  # our variables that are identities of an enclosing pass's Nodes
        self.originals: list[list[Any]] = []
        self.rebuilds: list[Callable[[list[Any]], Any]] = []
        self.variables: list[Node] = []  # the Node inside each variable, one per argument leaf
        new_args = list(args)
        for index in self.argnums:
            leaves, rebuild = flatten(args[index])
            variables = [self._variable(leaf, index) for leaf in leaves]
            self.originals.append(leaves)
            self.rebuilds.append(rebuild)
            new_args[index] = rebuild(variables)
        self.out = f(*new_args)
        _check_one_output(self.out, who)
        self.ours = set(self.variables)
        # Seen from outside our own passes, a variable is a constant: an enclosing pass that meets
        # it (in a gradient we return) must neither differentiate into it nor think it has to
        # keep a graph because of it. `cut` makes the variables live again for our passes.
        self.retired = [variable for variable in self.variables if variable not in set(self.links)]
        for variable in self.retired:
            variable.requires_grad = False
        # Known now only for linked variables; otherwise the first pullback finds out (see there).
        self.create_graph = bool(self.links)

    def _variable(self, x: Any, index: int) -> Any:
        if isinstance(x, Dual):  # forward over reverse: the variable sits inside the dual
            return Dual._make(self._variable(x.value, index), x.tangent, x.level)
        if isinstance(x, Node):
            variable = Node(x.value, requires_grad=True)
            if x.requires_grad:  # x belongs to an enclosing pass: let it differentiate through us
                variable.op, variable.parents, variable.vjps = "identity", (x,), (_vjp_identity,)
                self.links.append(variable)
        else:
            try:
                variable = Node(x, requires_grad=True)
            except TypeError as error:
                raise TypeError(f"{self.who}: argument {index}: {error}") from None
        self.variables.append(variable)
        return variable

    @contextmanager
    def cut(self) -> Iterator[None]:
        """Our variables as live leaves for a moment: our own passes read their gradients there."""
        saved = [(link, link.parents, link.vjps) for link in self.links]
        for link in self.links:
            link.parents, link.vjps = (), ()
        for variable in self.retired:
            variable.requires_grad = True
        try:
            yield
        finally:
            for link, parents, vjps in saved:
                link.parents, link.vjps = parents, vjps
            for variable in self.retired:
                variable.requires_grad = False

    def decide(self) -> None:
        """Settle `create_graph` before any pullback (vjp returns f's value first): does the
        output reach a differentiable leaf that is not ours?"""
        with self.cut():
            for part in _nodes_in(self.out):
                if part.requires_grad and any(not node.parents and node not in self.ours
                                              for node in topological_order(part)):
                    self.create_graph = True

    def pullback(self, seed: Any) -> list[Any]:
        """seed^T J for each variable, in order.

        The fast first-order pass runs unless the gradient is known to need its graph. If that
        pass reaches a differentiable leaf that is not ours (f closes over a Node of an enclosing
        pass), the gradient depends on that Node: run again keeping the graph, and from then on.
        """
        if not isinstance(self.out, Node | Dual):
            warnings.warn(f"the output of f does not depend on its inputs (it is a plain {type(self.out).__name__}, "
                          "not a Node), so the gradient is 0; if it should depend on them, f left dp's graph "
                          "somewhere (math.exp(x), float(x), x.value, ...)", stacklevel=4)
        create_graph = self.create_graph or (isinstance(seed, Node) and seed.requires_grad)
        gradients, foreign = self._pullback(self.out, seed, create_graph)
        if foreign and not create_graph:
            self.create_graph = True
            gradients, _ = self._pullback(self.out, seed, True)
        return gradients

    def _pullback(self, out: Any, seed: Any, create_graph: bool) -> tuple[list[Any], bool]:
        """The gradients, and whether the pass met a differentiable leaf that is not ours."""
        if isinstance(out, Dual):  # the gradient of a dual output is the dual of the gradients
            values, foreign_in_value = self._pullback(out.value, seed, create_graph)
            tangents, foreign_in_tangent = self._pullback(out.tangent, seed, create_graph)
            return ([Dual._make(value, tangent, out.level) for value, tangent in zip(values, tangents)],
                    foreign_in_value or foreign_in_tangent)
        found: dict[Node, Any] = {}
        if isinstance(out, Node):
            with self.cut():  # inside: f's output may be one of our variables, live only here
                if out.requires_grad:
                    found = backpropagate(out, seed, create_graph=create_graph)
        gradients = []
        for variable in self.variables:
            gradient = found.get(variable)
            if gradient is None:  # f does not depend on this variable
                gradient = np.zeros(variable.shape, variable.dtype)
                gradient = as_node(gradient) if create_graph else gradient
            gradients.append(gradient)
        return gradients, len(found) > len(self.variables) or any(leaf not in self.ours for leaf in found)

    def structures(self, gradients: list[Any]) -> list[Any]:
        """Per-variable results back in each argument's structure (a Python number gives a float)."""
        results, start = [], 0
        for originals, rebuild in zip(self.originals, self.rebuilds):
            part = gradients[start:start + len(originals)]
            start += len(originals)
            results.append(rebuild([_like(gradient, original) for gradient, original in zip(part, originals)]))
        return results

    def result(self, gradients: list[Any]) -> Any:
        results = self.structures(gradients)
        return results[0] if self.single else tuple(results)

    def value(self) -> Any:
        """f's output: arrays on the first-order path, the graph itself when it must stay one."""
        return self.out if self.create_graph else _detached(self.out)


# --------------------------------------------------------------------------------------------
# Jacobians


def _jacobian_reverse(f: Callable[..., Any], args: tuple[Any, ...], argnum: Argnum) -> Any:
    """Row by row: one backward pass per output element, seeded with that element's unit vector."""
    trace = _Trace(f, args, argnum, "jacobian")
    out_shape = _shape(trace.out)
    dtype = _float_dtype(trace.out)
    rows = []
    for index in np.ndindex(out_shape):
        seed = np.zeros(out_shape, dtype)
        seed[index] = 1
        rows.append(trace.pullback(seed))
    blocks = [_assemble([row[k] for row in rows], out_shape, variable.shape, variable.dtype, axis=0)
              for k, variable in enumerate(trace.variables)]
    results = trace.structures(blocks)
    return results[0] if trace.single else tuple(results)


def _jacobian_forward(f: Callable[..., Any], args: tuple[Any, ...], argnum: Argnum) -> Any:
    """Column by column: one jvp per input element, its tangent the unit vector of that element."""
    argnums = _argnums(argnum, len(args), "jacobian")
    structures = [flatten(args[index]) for index in argnums]
    primal_leaves = [leaf for leaves, _ in structures for leaf in leaves]
    zeros = [np.zeros(_shape(leaf), _float_dtype(leaf)) for leaf in primal_leaves]

    def f_of_selected(*selected: Any) -> Any:
        new_args = list(args)
        for index, value in zip(argnums, selected):
            new_args[index] = value
        return f(*new_args)

    def directions(tangents: list[Any]) -> tuple[Any, ...]:
        directions, start = [], 0
        for leaves, rebuild in structures:
            directions.append(rebuild(tangents[start:start + len(leaves)]))
            start += len(leaves)
        return tuple(directions)

    primals = tuple(args[index] for index in argnums)
    out_shape = None
    blocks = []
    for k, leaf in enumerate(primal_leaves):
        columns = []
        for index in np.ndindex(_shape(leaf)):
            tangents = list(zeros)
            tangents[k] = np.zeros_like(zeros[k])
            tangents[k][index] = 1
            out, column = jvp(f_of_selected, primals, directions(tangents))
            _check_one_output(out, "jacobian")
            out_shape = _shape(out)
            columns.append(column)
        if out_shape is None:  # no input elements at all: run f once for the output's shape
            out_shape = _shape(f(*args))
        blocks.append(_assemble(columns, out_shape, _shape(leaf), zeros[k].dtype, axis=-1))
    results, start = [], 0
    for (leaves, rebuild) in structures:
        part = blocks[start:start + len(leaves)]
        start += len(leaves)
        results.append(rebuild([_like(block, leaf) for block, leaf in zip(part, leaves)]))
    return results[0] if not isinstance(argnum, tuple) else tuple(results)


def _assemble(parts: list[Any], out_shape: tuple[int, ...], in_shape: tuple[int, ...], dtype: np.dtype,
              axis: int) -> Any:
    """Rows (axis 0) or columns (axis -1) stacked into an array of shape out_shape + in_shape."""
    if not parts:
        return np.zeros(out_shape + in_shape, dtype)
    return np.stack(parts, axis=axis).reshape(out_shape + in_shape)


def _check_one_output(out: Any, who: str) -> None:
    if isinstance(out, list | tuple):
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
            raise IndexError(f"{who}: argnum {position} is out of range: f was called with "
                             f"{count} positional argument(s)")
        positions.append(int(position) % count)
    if len(set(positions)) != len(positions):
        raise ValueError(f"{who}: argnum {argnum!r} names an argument twice")
    return tuple(positions)


def _vjp_identity(g, out, x):
    return g


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


def _named(function: Callable[..., Any], f: Callable[..., Any], what: str) -> Callable[..., Any]:
    """Give the returned function f's signature (for help() and gradcheck) and a telling name."""
    function = functools.wraps(f)(function)
    name = getattr(f, "__name__", type(f).__name__)
    function.__name__ = function.__qualname__ = f"{what}({name})"
    return function
