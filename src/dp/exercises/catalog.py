"""Every exercise of the course, registered: its random inputs, its reference, a planted wrong answer.

The planted wrong answers are the mistakes students make most (a forgotten chain-rule factor,
a transposed result, a missing un-broadcast); the tests prove that each check catches its own.
Where the right answer is dp's own (the Node chapters), `expected` asks dp, not the reference.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

import numpy as np

from dp.exercises import solutions as S
from dp.exercises.checker import Exercise, hanging, named, nice, register, show
from dp.forward import Dual
from dp.node import Node, Primitive, unbroadcast
from dp.trace import trace


def _run(candidate: Any, inputs: Mapping[str, Any]) -> Any:
    """Call with copies, so that an answer that changes its inputs in place harms nothing."""
    return candidate(*(copy.deepcopy(value) for value in inputs.values()))


def _shape(rng: np.random.Generator, size: int) -> tuple[int, ...]:
    """A small array shape that grows with `size`: (2,), (2, 3), ... up to three axes."""
    ndim = 1 if size <= 2 else 2 if size <= 5 else 3
    return tuple(int(n) for n in rng.integers(1, 2 + min(size, 4), size=ndim))


# ================================================================================================
# Part 0


def _function_family(rng: np.random.Generator) -> Any:
    which = rng.integers(4)
    return [
        named(np.sin, "sin"),
        named(np.exp, "exp"),
        named(lambda x: x**3, "lambda x: x**3"),
        named(lambda x: np.log(1 + x * x), "lambda x: log(1 + x**2)"),
    ][which]


register(
    Exercise(
        "part0.central_difference",
        "the central difference quotient (f(x+h) - f(x-h)) / 2h",
        inputs=lambda rng, size: {
            "f": _function_family(rng),
            "x": nice(rng, size, low=-2, high=2),
            "h": float(10.0 ** -rng.integers(1, 4)),
        },
        solution=S.central_difference,
        wrong=lambda f, x, h: (f(x + h) - f(x)) / h,  # the one-sided quotient: error O(h), not O(h^2)
        run=_run,
    )
)


def _least_squares(rng: np.random.Generator, size: int) -> dict[str, Any]:
    n, d = size + 1, 1 + size // 3
    return {"X": nice(rng, size, (n, d)), "y": nice(rng, size, (n,)), "theta": nice(rng, size, (d,))}


register(
    Exercise(
        "part0.least_squares_gradient",
        "the gradient of J(theta) = sum (y - X theta)^2",
        inputs=_least_squares,
        solution=S.least_squares_gradient,
        wrong=lambda X, y, theta: -X.T @ (y - X @ theta),  # the factor 2 of the square forgotten
        run=_run,
    )
)


# ================================================================================================
# Part 1.0: dual numbers. The student writes three methods of a Dual class.


class DualValue(NamedTuple):
    """A dual number as plain data: what the checker draws, shows and compares."""

    value: Any
    tangent: Any

    def __repr__(self) -> str:
        return f"Dual({show(self.value)}, {show(self.tangent)})"


def _dual(rng: np.random.Generator, size: int, avoid_zero: bool = False, high: float = 3) -> DualValue:
    shape = () if size <= 4 else (size - 3,)  # numbers first, then arrays: Dual works on both
    return DualValue(nice(rng, size, shape, -high, high, avoid_zero), nice(rng, size, shape, -high, high))


def _run_dual(operation):
    def run(cls: type, inputs: Mapping[str, Any]) -> DualValue:
        duals = [cls(np.copy(d.value), np.copy(d.tangent)) for d in inputs.values()]
        out = operation(*duals)
        return DualValue(out.value, out.tangent)

    return run


def _wrong_dual(**methods: Any) -> type:
    return type("WrongDual", (S.Dual,), methods)


register(
    Exercise(
        "part1.dual_mul",
        "Dual.__mul__: the product rule",
        inputs=lambda rng, size: {"a": _dual(rng, size), "b": _dual(rng, size)},
        solution=S.Dual,
        method="__mul__",
        run=_run_dual(lambda a, b: a * b),
        wrong=_wrong_dual(
            __mul__=lambda self, other: type(self)(self.value * other.value, self.tangent * other.tangent)
        ),
    )
)

register(
    Exercise(
        "part1.dual_div",
        "Dual.__truediv__: the quotient rule",
        inputs=lambda rng, size: {"a": _dual(rng, size), "b": _dual(rng, size, avoid_zero=True)},
        solution=S.Dual,
        method="__truediv__",
        run=_run_dual(lambda a, b: a / b),
        wrong=_wrong_dual(
            __truediv__=lambda self, other: type(self)(
                self.value / other.value, (self.tangent * other.value + self.value * other.tangent) / other.value**2
            )
        ),  # sign
    )
)

register(
    Exercise(
        "part1.dual_exp",
        "Dual.exp: the chain rule",
        inputs=lambda rng, size: {"a": _dual(rng, size, high=2)},
        solution=S.Dual,
        method="exp",
        run=_run_dual(lambda a: a.exp()),
        wrong=_wrong_dual(exp=lambda self: type(self)(np.exp(self.value), np.exp(self.value))),  # x' forgotten
    )
)


# ================================================================================================
# Part 1.1: reverse mode by hand; the right answers come from dp.


def _dp_gradients(function, inputs: Mapping[str, Any]) -> tuple[Any, ...]:
    """d function / d each input, by dp's reverse mode."""
    nodes = [Node(value, name) for name, value in inputs.items()]
    grads = function(*nodes).grad(1)
    return tuple(grads[name] for name in inputs)


register(
    Exercise(
        "part1.reverse_by_hand",
        "y = x1 x2 + sin(x1): the backward sweep by hand",
        inputs=lambda rng, size: {"x1": nice(rng, size), "x2": nice(rng, size)},
        solution=S.reverse_by_hand,
        run=_run,
        expected=lambda inputs: _dp_gradients(lambda x1, x2: x1 * x2 + x1.sin(), inputs),
        wrong=lambda x1, x2: (x2, x1),  # the path through sin(x1) forgotten
        labels=("dy/dx1", "dy/dx2"),
    )
)

register(
    Exercise(
        "part1.neuron_by_hand",
        "sigma(a x + b y + c): five partial derivatives by one backward sweep",
        inputs=lambda rng, size: {name: nice(rng, size) for name in "abcxy"},
        solution=S.neuron_by_hand,
        run=_run,
        expected=lambda inputs: _dp_gradients(lambda a, b, c, x, y: (a * x + b * y + c).sigmoid(), inputs),
        wrong=lambda a, b, c, x, y: (x, y, 1.0, a, b),  # sigma'(z) forgotten
        labels=tuple(f"df/d{name}" for name in "abcxy"),
    )
)


# ================================================================================================
# Part 1.2: write a Node. The student writes `unbroadcast` and three methods of MiniNode.


def _broadcast_pair(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """A shape and a gradient of a shape it broadcasts to (axes added in front, 1s stretched)."""
    shape = tuple(int(n) if rng.random() < 0.5 else 1 for n in rng.integers(2, 4, size=min(size, 3)))
    if size > 1 and rng.random() < 0.2:
        shape = ()
    stretched = tuple(int(rng.integers(2, 4)) if n == 1 else n for n in shape)
    leading = tuple(int(n) for n in rng.integers(1, 4, size=rng.integers(0, 3)))
    # Always an array, a 0-d one for shape (): the notebook calls g "a gradient of shape ...",
    # and an answer that asks for g.ndim or g.shape must work (nice() gives a float for ()).
    return {"g": np.asarray(nice(rng, size, leading + stretched)), "shape": shape}


def _describe_broadcast(inputs: Mapping[str, Any]) -> str:
    """g with its shape spelled out: the shapes are the point of the exercise (and a 0-d array
    looks like a plain number)."""
    g = inputs["g"]
    return "\n".join([f"g.shape = {g.shape}", hanging("g = ", show(g)), f"shape = {inputs['shape']}"])


def _wrong_unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    g = np.asarray(g)
    while g.ndim > len(shape):  # the added axes are summed, but the stretched 1s are forgotten
        g = g.sum(axis=0)
    return g


register(
    Exercise(
        "part1.unbroadcast",
        "unbroadcast(g, shape): sum a gradient back to its operand's shape",
        inputs=_broadcast_pair,
        solution=S.unbroadcast,
        run=_run,
        describe=_describe_broadcast,
        expected=lambda inputs: unbroadcast(inputs["g"], inputs["shape"]),
        wrong=_wrong_unbroadcast,
    )
)


def _node_inputs(count: int):
    def inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
        shape = _shape(rng, size)
        values = {name: nice(rng, size, shape, -2, 2) for name in "ab"[:count]}
        return {**values, "seed": nice(rng, size, shape)}

    return inputs


def _graph_gradients(make, output, inputs: Mapping[str, Any], names: str, backward=None) -> tuple[Any, ...]:
    """(value of output, gradient for each named input): one backward pass seeded with inputs["seed"].

    `backward(out, seed)` runs the pass; by default the graph's own `out.grad(seed)`.
    """
    leaves = [make(np.copy(inputs[name]), name) for name in names]
    out = output(*leaves)
    seed = np.copy(inputs["seed"])
    grads = out.grad(seed) if backward is None else backward(out, seed)
    return (out.value, *(grads[name] for name in names))


def _gradient_labels(names: str) -> tuple[str, ...]:
    """The labels of a (value, gradient of each named input) answer: value, d/da, d/db, ..."""
    return ("value", *(f"d/d{name}" for name in names))


#: The backward pass a single-operation check runs on the student's graph: the reference engine
#: (reference topological order and `unbroadcast`), called on the student's nodes. The student's
#: own `grad` calls the student's own `unbroadcast`, a separate exercise: with it, a wrong
#: unbroadcast made a right `sum` fail. Each check judges only the operation it names;
#: part1.node_figure1 then runs the student's whole engine.
_REFERENCE_BACKWARD = S.MiniNode.grad


def _node_exercise(
    operation, names: str, options: tuple[str, ...] = (), backward=_REFERENCE_BACKWARD
) -> dict[str, Any]:
    """run (the student's class), expected (dp's Node) and labels for one MiniNode exercise.

    `operation(*leaves, **options)` is what to differentiate: `names` are its leaves, in order,
    and `options` the inputs passed by keyword (sum's axis).
    """

    def output(inputs: Mapping[str, Any]):
        return functools.partial(operation, **{option: inputs[option] for option in options})

    def run(cls: type, inputs: Mapping[str, Any]) -> tuple[Any, ...]:
        return _graph_gradients(cls, output(inputs), inputs, names, backward)

    def expected(inputs: Mapping[str, Any]) -> tuple[Any, ...]:
        return _graph_gradients(Node, output(inputs), inputs, names)

    return {"run": run, "expected": expected, "labels": _gradient_labels(names)}


def _wrong_node(**methods: Any) -> type:
    return type("WrongNode", (S.MiniNode,), methods)


register(
    Exercise(
        "part1.node_mul",
        "MiniNode.__mul__: value and both vector-Jacobian products",
        inputs=_node_inputs(2),
        solution=S.MiniNode,
        method="__mul__",
        **_node_exercise(lambda a, b: a * b, "ab"),
        wrong=_wrong_node(
            __mul__=lambda self, other: type(self)(  # the two gradients swapped
                self.value * other.value,
                parents=(self, other),
                vjps=(lambda g: g * self.value, lambda g: g * other.value),
            )
        ),
    )
)

register(
    Exercise(
        "part1.node_exp",
        "MiniNode.exp: reuse the output in the derivative",
        inputs=_node_inputs(1),
        solution=S.MiniNode,
        method="exp",
        **_node_exercise(lambda a: a.exp(), "a"),
        wrong=_wrong_node(
            exp=lambda self: type(self)(  # the incoming gradient g forgotten
                np.exp(self.value), parents=(self,), vjps=(lambda g: np.exp(self.value),)
            )
        ),
    )
)


def _sum_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    shape = _shape(rng, size)
    axis = None if size == 1 or rng.random() < 0.3 else int(rng.integers(len(shape)))
    out_shape = () if axis is None else shape[:axis] + shape[axis + 1 :]
    return {"a": nice(rng, size, shape, -2, 2), "axis": axis, "seed": nice(rng, size, out_shape)}


register(
    Exercise(
        "part1.node_sum",
        "MiniNode.sum(axis): copy the gradient back over the summed axis",
        inputs=_sum_inputs,
        solution=S.MiniNode,
        method="sum",
        **_node_exercise(lambda a, axis: a.sum(axis=axis), "a", options=("axis",)),
        wrong=_wrong_node(
            sum=lambda self, axis=None: type(self)(  # ones: the incoming gradient forgotten
                self.value.sum(axis=axis), parents=(self,), vjps=(lambda g: np.ones_like(self.value),)
            )
        ),
    )
)


def _figure1_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    rows, columns = 1 + int(rng.integers(1, size + 1)), int(rng.integers(1, size + 2))
    return {"a": nice(rng, size, (rows, columns), -1, 1), "b": nice(rng, size, (1, columns), -1, 1), "seed": 1.0}


register(
    Exercise(
        "part1.node_figure1",
        "the paper's figure 1, e = sum(exp(A * B)) with B broadcast, on your MiniNode",
        inputs=_figure1_inputs,
        solution=S.MiniNode,
        **_node_exercise(lambda a, b: (a * b).exp().sum(), "ab", backward=None),  # the student's whole engine
        judges=("part1.unbroadcast", "part1.node_mul", "part1.node_exp", "part1.node_sum"),
        wrong=_wrong_node(
            exp=lambda self: type(self)(  # d exp(x)/dx taken as x
                np.exp(self.value), parents=(self,), vjps=(lambda g: g * self.value,)
            )
        ),
    )
)


# ================================================================================================
# Part 1.3: topological order


class Vertex:
    """A node of a graph with nothing but a name and parents: what topological_order needs."""

    def __init__(self, name: str, parents: tuple[Vertex, ...] = ()) -> None:
        self.name, self.parents = name, parents

    def __repr__(self) -> str:
        return self.name


DEEP = 3000  # deeper than Python's recursion limit (1000, or 3000 in IPython)


def _graph(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """Small random graphs with shared sub-expressions; at the largest size, a very deep chain."""
    if size == 6:
        vertex = Vertex("v0")
        for index in range(1, DEEP + 2):  # each vertex uses the previous one twice, as x * x
            vertex = Vertex(f"v{index}", (vertex, vertex))
        return {"output": vertex}
    vertices = [Vertex(f"v{index}") for index in range(1 + size // 2)]
    for _ in range(2 * size):
        count = int(rng.integers(1, 3))
        parents = tuple(vertices[int(i)] for i in rng.integers(max(0, len(vertices) - 4), len(vertices), size=count))
        vertices.append(Vertex(f"v{len(vertices)}", parents))
    return {"output": vertices[-1]}


def _describe_graph(inputs: Mapping[str, Any]) -> str:
    output = inputs["output"]
    vertices = S.topological_order(output)
    if len(vertices) > 20:
        return (
            f"a chain of {len(vertices)} vertices, each using the one before twice: "
            f"v1 = f(v0, v0), v2 = f(v1, v1), ..., output = {output.name}"
        )
    lines = [f"{v.name} = f({', '.join(p.name for p in v.parents)})" for v in vertices if v.parents]
    leaves = [v.name for v in vertices if not v.parents]
    return "\n".join([f"leaves: {', '.join(leaves)}", *lines, f"output = {output.name}"])


def _is_topological(got: Any, expected: list[Any]) -> bool:
    """A valid order: exactly the vertices of `expected` (one valid order), each after its parents."""
    if not isinstance(got, list | tuple) or len(got) != len(expected):
        return False
    position = {id(vertex): index for index, vertex in enumerate(got)}
    if len(position) != len(got) or set(position) != {id(vertex) for vertex in expected}:
        return False
    return all(position[id(parent)] < position[id(vertex)] for vertex in got for parent in vertex.parents)


def _breadth_first_reversed(output: Any) -> list[Any]:
    reached = [output]
    for vertex in reached:
        reached.extend(parent for parent in vertex.parents if parent not in reached)
    return reached[::-1]  # wrong: a vertex reached early can still be the parent of one reached later


register(
    Exercise(
        "part1.topological_order",
        "topological_order(output): every vertex after its parents, no recursion",
        inputs=_graph,
        solution=S.topological_order,
        wrong=_breadth_first_reversed,
        compare=_is_topological,
        describe=_describe_graph,
        sizes=6,
        trials=4,
    )
)


# ================================================================================================
# Part 1.4: Jacobians by forward and by reverse mode


def _vector_function(rng: np.random.Generator, size: int) -> dict[str, Any]:
    n, m = (int(k) for k in rng.integers(1, size + 2, size=2))
    A = nice(rng, size, (m, n), -1, 1)
    which = int(rng.integers(3))
    if which == 2:
        m = n
    f = [
        named(lambda x: np.tanh(A @ x), f"x -> tanh(A @ x), A = {show(A)}"),
        named(lambda x: A @ np.exp(x), f"x -> A @ exp(x), A = {show(A)}"),
        named(lambda x: np.sin(x) * (x * x).sum(), "x -> sin(x) * sum(x * x)"),
    ][which]
    return {"f": f, "x": nice(rng, size, (n,), -1, 1)}


register(
    Exercise(
        "part1.jacobian_reverse",
        "the Jacobian row by row, one backward pass per output",
        inputs=_vector_function,
        solution=S.jacobian_reverse,
        run=_run,
        wrong=lambda f, x: S.jacobian_reverse(f, x).T,  # rows and columns mixed up
    )
)

register(
    Exercise(
        "part1.jacobian_forward",
        "the Jacobian column by column, one forward pass per input",
        inputs=_vector_function,
        solution=S.jacobian_forward,
        run=_run,
        expected=lambda inputs: S.jacobian_reverse(*inputs.values()),  # the other mode as the judge
        wrong=lambda f, x: S.jacobian_forward(f, x).T,
    )
)


# ================================================================================================
# Part 1.5: your own operation. The student writes the VJP rules of two primitives. Each check
# builds the primitive around the student's rule (a `Primitive`: dp's table is left as it is,
# since `dp.primitive` would also register it) and compares what dp computes with it against
# what dp computes for the same function from its own operations.


def _gradient_with_rule(operation: Primitive, x: Any, g: Any) -> Any:
    """The gradient for x of operation(x), seeded with g: the ordinary backward pass (the rule gets
    arrays), then the pass that keeps a graph (the rule gets Nodes, as under dp.grad(dp.grad(f))).
    A rule that works on arrays only (a loop, np.asarray) fails in the second: the notebook
    differentiates through the student's rule again, so the check says so first."""
    gradient = operation(Node(np.copy(x), "x")).grad(np.copy(g))["x"]
    try:
        operation(Node(np.copy(x), "x")).grad(np.copy(g), create_graph=True)
    except NotImplementedError:
        raise
    except Exception as error:
        raise TypeError(
            "your rule works on arrays but not on Nodes, which dp gives it to differentiate it "
            "again (dp.grad(dp.grad(f))): write it with NumPy functions of g, out and x, without "
            f"loops or np.asarray. dp said: {error}"
        ) from error
    return gradient


def _log1p_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    shape = () if size <= 2 else _shape(rng, size)  # numbers first, then arrays
    return {
        "x": nice(rng, size, shape, -0.5, 3),
        "g": nice(rng, size, shape, avoid_zero=True),
        "dx": nice(rng, size, shape, avoid_zero=True),
    }


def _run_log1p(rule: Any, inputs: Mapping[str, Any]) -> tuple[Any, Any]:
    """(the gradient for x seeded with g, the tangent of the output for the tangent dx of x)."""
    operation = Primitive("my_log1p", np.log1p, rule, tangent="elementwise")
    x, dx = inputs["x"], inputs["dx"]
    return _gradient_with_rule(operation, x, inputs["g"]), operation(Dual(np.copy(x), np.copy(dx))).tangent


def _expected_log1p(inputs: Mapping[str, Any]) -> tuple[Any, Any]:
    """dp's own answer for log(1 + x), in both modes."""
    x, dx = inputs["x"], inputs["dx"]
    gradient = np.log(1 + Node(np.copy(x), "x")).grad(np.copy(inputs["g"]))["x"]  # type: ignore[attr-defined]  # np.log of a Node is a Node (__array_ufunc__)
    return gradient, np.log(1 + Dual(np.copy(x), np.copy(dx))).tangent  # type: ignore[attr-defined]  # np.log of a Dual is a Dual (__array_ufunc__)


register(
    Exercise(
        "part1.log1p_vjp",
        "the VJP rule of log1p(x) = log(1 + x); forward mode derived from it",
        inputs=_log1p_inputs,
        solution=S.log1p_vjp,
        run=_run_log1p,
        expected=_expected_log1p,
        wrong=lambda g, out, x: g / (1 + out),  # the output taken for the operand
        labels=("reverse mode: the gradient for x", "forward mode: the tangent"),
    )
)


def _cumulative_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    n = size + 1  # at least two elements: with one, a cumulative sum is the identity
    return {"x": nice(rng, size, (n,)), "g": nice(rng, size, (n,))}


def _run_cumulative_sum(rule: Any, inputs: Mapping[str, Any]) -> Any:
    operation = Primitive("cumulative_sum", np.cumsum, rule)  # no tangent: reverse mode only
    return _gradient_with_rule(operation, inputs["x"], inputs["g"])


register(
    Exercise(
        "part1.cumulative_sum_vjp",
        "the VJP rule of a cumulative sum: not element-wise",
        inputs=_cumulative_inputs,
        solution=S.cumulative_sum_vjp,
        run=_run_cumulative_sum,
        expected=lambda inputs: np.cumsum(Node(np.copy(inputs["x"]), "x")).grad(np.copy(inputs["g"]))["x"],  # type: ignore[attr-defined]  # np.cumsum of a Node is a Node (__array_function__)
        wrong=lambda g, out, x: np.cumsum(g),  # summed from the front: the Jacobian, not its transpose
    )
)


# ================================================================================================
# Part 1.6: static and dynamic graphs. The right answers come from dp.trace and from NumPy.


def _one_layer_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    n, d, k = 1 + size // 2, 1 + (size + 1) // 3, 1 + size // 3
    return {
        "x": nice(rng, size, (n, d), -2, 2),
        "W": nice(rng, size, (d, k), -1, 1),
        "b": nice(rng, size, (k,), -1, 1),
        "t": nice(rng, size, (n, k), -1, 1),
    }


def _one_layer_loss(x: Any, W: Any, b: Any, t: Any) -> Node:
    """The network of part1.one_layer_step on dp's Nodes: what dp.trace compiles."""
    W, b = Node(W, "W"), Node(b, "b")
    return 0.5 * ((np.tanh(x @ W + b) - t) ** 2).sum()


def _traced_one_layer(inputs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    args = [np.copy(value) for value in inputs.values()]
    return trace(_one_layer_loss, *args)(*args)


def _one_layer_unsummed_bias(x, W, b, t):
    loss, grads = S.one_layer_step(x, W, b, t)
    v2 = np.tanh(x @ W + b)
    return loss, {**grads, "b": (v2 - t) * (1 - v2 * v2)}  # b's gradient not summed over the rows


register(
    Exercise(
        "part1.one_layer_step",
        "the traced program of a one-layer network, written by hand",
        inputs=_one_layer_inputs,
        solution=S.one_layer_step,
        run=_run,
        expected=_traced_one_layer,
        wrong=_one_layer_unsummed_bias,
        labels=("value", "gradients"),
    )
)


def _huber_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """Where to trace, and where to call the step: element 0 takes the other branch of huber at
    the two, so a program that froze the branch at trace time gets it wrong."""
    n = 1 + size // 2
    traced_at, x = nice(rng, size, (n,)), nice(rng, size, (n,))
    inside = float(nice(rng, size, (), -1, 1))
    outside = float(np.copysign(rng.choice([2.0, 3.0]) if size == 1 else rng.uniform(1.5, 3), rng.normal()))
    traced_at[0], x[0] = (inside, outside) if rng.random() < 0.5 else (outside, inside)
    return {"traced_at": traced_at, "x": x}


def _run_traced(candidate: Any, inputs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Trace the candidate at `traced_at` (check mode), then run the step at `x`."""
    return trace(candidate, np.copy(inputs["traced_at"]), check=True)(np.copy(inputs["x"]))


def _huber_by_numpy(inputs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    x = inputs["x"]
    value = np.sum(np.where(np.abs(x) <= 1, 0.5 * x * x, np.abs(x) - 0.5))
    return value, {"x": np.clip(x, -1, 1)}  # huber'(x) = x inside, sign(x) outside


def _huber_by_python_if(x):
    x = Node(x, "x")
    total = 0
    for i in range(x.shape[0]):  # right when run dynamically; a trace freezes each branch taken
        total = total + (0.5 * x[i] * x[i] if abs(x.value[i]) <= 1 else abs(x[i]) - 0.5)
    return total


register(
    Exercise(
        "part1.huber_traceable",
        "a Huber loss that a trace gets right for every input: no Python `if` on the data",
        inputs=_huber_inputs,
        solution=S.huber,
        run=_run_traced,
        expected=_huber_by_numpy,
        wrong=_huber_by_python_if,
        labels=("value", "gradients"),
    )
)


# ================================================================================================
# Part 2: best practices


def _fans(rng: np.random.Generator, size: int) -> dict[str, Any]:
    return {"n_in": int(rng.integers(1, 10 ** min(size, 4))), "n_out": int(rng.integers(1, 10 ** min(size, 4)))}


register(
    Exercise(
        "part2.xavier_std",
        "the standard deviation of Xavier/Glorot initialisation",
        inputs=_fans,
        solution=S.xavier_std,
        run=_run,
        wrong=lambda n_in, n_out: np.sqrt(1 / n_in),  # LeCun's: fan_out ignored
    )
)

register(
    Exercise(
        "part2.he_std",
        "the standard deviation of He initialisation",
        inputs=lambda rng, size: {"n_in": int(rng.integers(1, 10 ** min(size, 4)))},
        solution=S.he_std,
        run=_run,
        wrong=lambda n_in: np.sqrt(1 / n_in),  # the factor 2 for ReLU forgotten
    )
)


def _activation(rng: np.random.Generator) -> Any:
    return [named(Node.sigmoid, "sigmoid"), named(Node.tanh, "tanh"), named(Node.relu, "relu")][int(rng.integers(3))]  # type: ignore[attr-defined]  # dp/ops/ installs these methods on Node at import


def _deep_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    depth, width = min(size + 1, 10), 2 + size // 2
    sizes = [2] + [width] * (depth - 1) + [1]
    weights = [rng.normal(0, 1, (n_in, n_out)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.5, n_out) for n_out in sizes[1:]]
    return {"x": nice(rng, size, (3, 2), -2, 2), "weights": weights, "biases": biases, "activation": _activation(rng)}


def _run_deep(candidate: Any, inputs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The network's output and the gradient of its sum for every weight and bias."""
    weights = [Node(np.copy(W), f"W{i}") for i, W in enumerate(inputs["weights"])]
    biases = [Node(np.copy(b), f"b{i}") for i, b in enumerate(inputs["biases"])]
    out = candidate(Node(np.copy(inputs["x"])), weights, biases, inputs["activation"])
    return out.value, out.sum().grad(1)


def _describe_deep(inputs: Mapping[str, Any]) -> str:
    shapes = " -> ".join(str(W.shape) for W in inputs["weights"])
    return "\n".join(
        [
            f"{len(inputs['weights'])} layers, W shapes {shapes}, activation = {inputs['activation']!r}",
            hanging("x = ", show(inputs["x"])),
            hanging("weights = ", show(inputs["weights"])),
            hanging("biases = ", show(inputs["biases"])),
        ]
    )


def _deep_without_sigmoid(x, weights, biases, activation):
    h = x
    for W, b in zip(weights, biases):  # the output layer also gets `activation`, not a sigmoid
        h = activation(h @ W + b)
    return h


register(
    Exercise(
        "part2.deep_forward",
        "the paper's deep network: `activation` in every hidden layer, sigmoid at the end",
        inputs=_deep_inputs,
        solution=S.deep_forward,
        run=_run_deep,
        describe=_describe_deep,
        wrong=_deep_without_sigmoid,
        sizes=9,
        trials=3,
        labels=("output", "gradients of output.sum()"),
    )
)


def _optimizer_inputs(*state: str, **hyper: tuple[float, float]):
    def inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
        shape = _shape(rng, size)
        values = {"param": nice(rng, size, shape), "grad": nice(rng, size, shape)}
        for name in state:
            values[name] = nice(rng, size, shape, 0, 1) if name in ("square_avg", "v") else nice(rng, size, shape)
        if "t" in hyper:
            values["t"] = int(rng.integers(1, 4 * size))
        for name, (low, high) in hyper.items():
            if name == "eps":
                values[name] = float(10.0 ** -rng.integers(6, 9))
            elif name != "t":
                values[name] = min(float(np.round(rng.uniform(low, high), 3)), high)  # beta2 < 1
        return values

    return inputs


register(
    Exercise(
        "part2.momentum_step",
        "one step of SGD with momentum (PyTorch's form)",
        inputs=_optimizer_inputs("velocity", learning_rate=(0.01, 0.5), momentum=(0.5, 0.99)),
        solution=S.momentum_step,
        run=_run,
        labels=("new param", "new velocity"),
        wrong=lambda param, grad, velocity, learning_rate, momentum: (param - learning_rate * grad, grad),  # no memory
    )
)

register(
    Exercise(
        "part2.rmsprop_step",
        "one step of RMSProp",
        inputs=_optimizer_inputs("square_avg", learning_rate=(0.01, 0.5), decay=(0.5, 0.99), eps=(1e-8, 1e-6)),
        solution=S.rmsprop_step,
        run=_run,
        labels=("new param", "new square_avg"),
        wrong=lambda param, grad, square_avg, learning_rate, decay, eps: (  # the square root forgotten
            param - learning_rate * grad / (decay * square_avg + (1 - decay) * grad**2 + eps),
            decay * square_avg + (1 - decay) * grad**2,
        ),
    )
)


def _adam_without_correction(param, grad, m, v, t, learning_rate, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return param - learning_rate * m / (np.sqrt(v) + eps), m, v  # the bias correction forgotten


register(
    Exercise(
        "part2.adam_step",
        "one step of Adam, bias correction included",
        inputs=_optimizer_inputs(
            "m", "v", t=(1, 1), learning_rate=(0.001, 0.1), beta1=(0.5, 0.95), beta2=(0.9, 0.9999), eps=(1e-8, 1e-6)
        ),
        solution=S.adam_step,
        run=_run,
        wrong=_adam_without_correction,
        labels=("new param", "new m", "new v"),
    )
)


#: The labels of an answer from `_run_on_nodes`.
_ON_NODES_LABELS = ("value", "gradients")


def _run_on_nodes(
    candidate: Any, inputs: Mapping[str, Any], differentiate: Collection[str]
) -> tuple[Any, dict[str, Any]]:
    """Call with the inputs named in `differentiate` as named Nodes; the output and their gradients."""
    args = [
        Node(np.copy(value), name) if name in differentiate else copy.deepcopy(value)
        for name, value in inputs.items()
        if name != "seed"
    ]
    out = candidate(*args)
    return out.value, out.grad(inputs["seed"])


def _dropout_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    shape = (1 + size // 2, 2 + size)
    p = float(rng.choice([0.1, 0.25, 0.5, 0.8]))
    return {"x": nice(rng, size, shape), "keep": rng.random(shape) >= p, "p": p, "seed": nice(rng, size, shape)}


register(
    Exercise(
        "part2.dropout",
        "inverted dropout on a Node, with a given mask",
        inputs=_dropout_inputs,
        solution=S.dropout,
        run=lambda candidate, inputs: _run_on_nodes(candidate, inputs, ("x",)),
        labels=_ON_NODES_LABELS,
        wrong=lambda x, keep, p: x * keep,  # not rescaled: the expected output shrinks by (1 - p)
    )
)


def _batchnorm_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    shape = (2 + size, 1 + size // 2)
    return {
        "x": nice(rng, size, shape) + rng.normal(0, 0.01, shape),
        "gamma": nice(rng, size, shape[1:]),
        "beta": nice(rng, size, shape[1:]),
        "eps": 1e-5,
        "seed": nice(rng, size, shape),
    }


def _batchnorm_unbiased(x, gamma, beta, eps):
    mean = x.mean(axis=0)
    centered = x - mean
    var = (centered * centered).sum(axis=0) / (x.shape[0] - 1)  # training mode uses the biased variance
    return centered / (var + eps).sqrt() * gamma + beta


register(
    Exercise(
        "part2.batchnorm",
        "batch normalisation (training mode) on Nodes",
        inputs=_batchnorm_inputs,
        solution=S.batchnorm,
        run=lambda candidate, inputs: _run_on_nodes(candidate, inputs, ("x", "gamma", "beta")),
        labels=_ON_NODES_LABELS,
        wrong=_batchnorm_unbiased,
    )
)


def _labels(rng: np.random.Generator, size: int) -> dict[str, Any]:
    n_classes, n = 2 + size // 2, 2 * size + 2
    y_true = rng.integers(0, n_classes, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, n_classes, n))
    return {"y_true": y_true, "y_pred": y_pred, "n_classes": n_classes}


register(
    Exercise(
        "part2.confusion_matrix",
        "the confusion matrix: rows are the true classes, columns the predictions",
        inputs=_labels,
        solution=S.confusion_matrix,
        run=_run,
        wrong=lambda y_true, y_pred, n_classes: S.confusion_matrix(y_pred, y_true, n_classes),  # transposed
    )
)


# ================================================================================================
# Part 3: on to PyTorch


def _dp_params(rng: np.random.Generator, size: int) -> dict[str, Any]:
    sizes = [int(n) for n in rng.integers(1, 3 + size, size=1 + min(size, 3))]
    params = {}
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"h{index}.W"] = nice(rng, size, (n_in, n_out))
        params[f"h{index}.b"] = nice(rng, size, (n_out,))
    return {"params": params}


register(
    Exercise(
        "part3.to_torch_state",
        "dp's parameters as a PyTorch state dict (names and layouts)",
        inputs=_dp_params,
        solution=S.to_torch_state,
        run=_run,
        wrong=lambda params: {
            name.replace(".W", ".weight").replace(".b", ".bias"): value  # not transposed
            for name, value in params.items()
        },
    )
)

# The chapters of the course's second half keep each its solutions and checks in a module of its own;
# importing them registers their exercises.
from dp.exercises import (  # noqa: E402,F401
    attention,
    bayes_by_backprop,
    convolution,
    differentiable_programs,
    recurrent,
    vae,
)

__all__ = ["DualValue", "Vertex"]
