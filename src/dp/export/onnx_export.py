"""`to_onnx`: the forward graph `dp.trace` records, written as an ONNX model.

The function is run once on the example arguments and recorded as `dp.trace` records it (its
`_Application`s: each primitive with its operands and parameters); every operation becomes one
ONNX node where ONNX has the operator (`Add`, `MatMul`, `Conv`, `Softmax`, ...) and a small
composition where it does not (`erfc` is 1 - Erf, a `sliding_windows` view is a `Gather` of the
windows' elements, `stack` is Unsqueeze and Concat). The function's arguments are the graph's
inputs, the named leaves it reads (a model's parameters) its initializers, with their values
now, and what it returns (a Node, or a tuple of them) its outputs. As in a trace, the graph is
the path taken on the example: its shapes (the batch size too) and its control flow; what
`dp.trace` refuses (a comparison's mask used as numbers, `Node(int_array)`, ...) is refused here
with its error, and so is a Dropout layer in training mode called while recording (the graph
would keep its one mask).

Opset `OPSET` (18) of the default domain: onnxruntime runs it, and it takes the axes of every
reduction as an input.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dp.export._common import Unsupported, refuse_what_a_trace_refuses, requires, reshaped_argument, write_atomically
from dp.nn import Dropout
from dp.node import Node, _is_basic_index
from dp.trace import Traced, _Application, _as_passed, _parameter_names, _recording

onnx = requires("onnx", "dp.export.to_onnx")
helper, numpy_helper = onnx.helper, onnx.numpy_helper

__all__ = ["OPSET", "to_onnx"]

#: The version of ONNX's default operator set the models are written in.
OPSET = 18

_COMPARISONS = {"==": "Equal", "<": "Less", "<=": "LessOrEqual", ">": "Greater", ">=": "GreaterOrEqual"}


class _Graph:
    """The ONNX graph under construction: nodes, initializers, and each value's name and dtype."""

    def __init__(self, arguments: dict[int, str], passed: list[Any]) -> None:
        self.passed = [value for value in passed if id(value) in arguments]
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.names: dict[int, str] = {}  # id of a Node (or an array) -> its value's name
        self.dtypes: dict[str, np.dtype] = {}
        self.arguments = arguments  # id of an argument's array -> the input's name
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def node(self, op: str, inputs: list[str], dtype: Any, **attributes: Any) -> str:
        output = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        self.dtypes[output] = np.dtype(dtype)
        return output

    def constant(self, value: Any, dtype: Any = None, name: str | None = None) -> str:
        array = np.asarray(value, dtype=dtype)
        name = name or self.fresh("const")
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        self.dtypes[name] = array.dtype
        return name

    def ints(self, values: Any) -> str:
        return self.constant(np.asarray(values, dtype=np.int64).reshape(-1))

    def value(self, x: Any, dtype: Any = None) -> str:
        """The name of x's value (a Node, an argument, a constant), cast to `dtype` if given."""
        if isinstance(x, Node) and id(x) in self.names:
            name = self.names[id(x)]
        elif isinstance(x, Node) and id(x.value) in self.arguments:
            name = self.arguments[id(x.value)]
        elif isinstance(x, np.ndarray) and id(x) in self.arguments:
            name = self.arguments[id(x)]
        elif isinstance(x, Node) and x.requires_grad:  # a parameter: an initializer of its name
            name = x.name or "parameter"
            if name in self.dtypes:  # two layers used on their own each own a `W`
                name = self.fresh(name)
            name = self.names[id(x)] = self.constant(x.value, name=name)
        else:
            # a constant (or a reshape of an argument), in the dtype of what it meets, as NumPy
            # treats Python numbers
            return self.array(x.value if isinstance(x, Node) else x, dtype)
        return self.cast(name, dtype)

    def array(self, value: Any, dtype: Any = None) -> str:
        """A plain value (a constant's, or an operation's parameter: an index, a mask): an
        argument, an argument reshaped by NumPy (`labels.reshape(-1)`), or a constant."""
        if id(value) in self.arguments:
            name = self.arguments[id(value)]
        elif not isinstance(value, np.ndarray):
            return self.constant(value, dtype)
        else:
            source = reshaped_argument(value, self.passed, "to_onnx")
            if source is None:
                return self.constant(value, dtype)
            name = self.node("Reshape", [self.arguments[id(source)], self.ints(value.shape)], source.dtype)
        return self.cast(name, dtype)

    def cast(self, name: str, dtype: Any) -> str:
        """`name` as `dtype` (itself if it has that dtype already, or dtype is None)."""
        if dtype is None or self.dtypes[name] == np.dtype(dtype):
            return name
        return self.node("Cast", [name], dtype, to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


# ------------------------------------------------------------------------------------------------
# The operations: each writes its nodes and returns its output's name


Writer = Callable[[_Graph, _Application, np.dtype], str]


def _elementwise(op: str, **attributes: Any) -> Writer:
    def write(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
        return graph.node(op, [graph.value(x, dtype) for x in app.operands], dtype, **attributes)

    return write


def _alpha(op: str, negative_side: Callable[[_Graph, str, str, np.dtype], str]) -> Writer:
    """LeakyRelu or Elu, whose alpha ONNX keeps as a float32 attribute: composed where the
    rounding would show (a float64 graph with an alpha such as 0.01)."""

    def write(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
        x, alpha = graph.value(app.operands[0], dtype), app.params["alpha"]
        if dtype != np.float64 or float(np.float32(alpha)) == alpha:
            return graph.node(op, [x], dtype, alpha=float(alpha))
        positive = graph.node("Greater", [x, graph.constant(0, dtype)], bool)
        return graph.node("Where", [positive, x, negative_side(graph, x, graph.constant(alpha, dtype), dtype)], dtype)

    return write


def _with(op: str, attribute: str) -> Writer:
    """An operation of one operand whose parameter is the ONNX attribute of the same name."""

    def write(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
        return graph.node(op, [graph.value(app.operands[0], dtype)], dtype, **{attribute: app.params[attribute]})

    return write


def _composed(build: Callable[[_Graph, str, np.dtype], str]) -> Writer:
    return lambda graph, app, dtype: build(graph, graph.value(app.operands[0], dtype), dtype)


def _reduction(op: str) -> Writer:
    def write(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
        x = app.operands[0]
        axis = app.params["axis"]
        axes = range(np.ndim(x.value)) if axis is None else np.atleast_1d(axis)
        return graph.node(
            op, [graph.value(x, dtype), graph.ints(list(axes))], dtype, keepdims=int(bool(app.params["keepdims"]))
        )

    return write


def _window_max(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    k = app.params["k"]
    return graph.node("ReduceMax", [graph.value(app.operands[0], dtype), graph.ints(range(-k, 0))], dtype, keepdims=0)


def _matmul(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    return graph.node("MatMul", [graph.value(x, dtype) for x in app.operands], dtype)


def _power(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    base, exponent = app.operands
    return graph.node("Pow", [graph.value(base, dtype), graph.value(exponent, dtype)], dtype)


def _reshape(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    return graph.node("Reshape", [graph.value(app.operands[0], dtype), graph.ints(app.params["shape"])], dtype)


def _transpose(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    return graph.node("Transpose", [graph.value(app.operands[0], dtype)], dtype, perm=list(app.params["axes"]))


def _broadcast(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    return graph.node("Expand", [graph.value(app.operands[0], dtype), graph.ints(app.params["shape"])], dtype)


def _concatenate(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    return graph.node("Concat", [graph.value(x, dtype) for x in app.operands], dtype, axis=app.params["axis"])


def _stack(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    axis = graph.ints([app.params["axis"]])
    parts = [graph.node("Unsqueeze", [graph.value(x, dtype), axis], dtype) for x in app.operands]
    return graph.node("Concat", parts, dtype, axis=app.params["axis"])


def _astype(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    return graph.cast(graph.value(app.operands[0]), dtype)


def _clip(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    x, low, high = (graph.value(x, dtype) for x in app.operands)
    return graph.node("Min", [graph.node("Max", [x, low], dtype), high], dtype)


def _condition(graph: _Graph, condition: Any, masks: dict[int, Any]) -> str:
    """A `where` condition: a comparison of Nodes computed in the graph, or an array."""
    comparison = masks.get(id(condition))
    if comparison is None:
        return graph.array(condition, bool)
    types = [
        np.asarray(side.value if isinstance(side, Node) else side).dtype for side in (comparison.left, comparison.right)
    ]
    common = np.result_type(*types)
    left, right = (graph.value(side, common) for side in (comparison.left, comparison.right))
    if comparison.symbol == "!=":
        return graph.node("Not", [graph.node("Equal", [left, right], bool)], bool)
    return graph.node(_COMPARISONS[comparison.symbol], [left, right], bool)


def _where(masks: dict[int, Any]) -> Writer:
    def write(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
        condition = _condition(graph, app.params["condition"], masks)
        return graph.node("Where", [condition, *(graph.value(x, dtype) for x in app.operands)], dtype)

    return write


def _pad(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    x = app.operands[0]
    widths = np.broadcast_to(np.asarray(app.params["pad_width"]), (np.ndim(x.value), 2))
    fill = np.asarray(app.params["constant_values"]).reshape(-1)
    if fill.size > 1 and not np.all(fill == fill[0]):
        raise Unsupported("to_onnx: np.pad with different constants per side has no ONNX counterpart")
    pads = graph.ints(np.concatenate([widths[:, 0], widths[:, 1]]))
    value = graph.constant(fill[0] if fill.size else 0, dtype)
    return graph.node("Pad", [graph.value(x, dtype), pads, value], dtype, mode="constant")


def _correlate(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    x, kernel = app.operands
    return graph.node(
        "Conv",
        [graph.value(x, dtype), graph.value(kernel, dtype)],
        dtype,
        strides=list(app.params["stride"]),
        kernel_shape=list(np.shape(kernel.value)[2:]),
    )


def _sliding_windows(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    """The windows as a Gather of the flattened windowed axes: (..., *counts, *window_shape)."""
    x = app.operands[0]
    shape = np.shape(x.value)
    window, strides = app.params["window_shape"], app.params["strides"]
    k = len(window)
    sizes = shape[len(shape) - k :]
    counts = [(n - w) // s + 1 for n, w, s in zip(sizes, window, strides)]
    grids = np.meshgrid(
        *[np.arange(c) * s for c, s in zip(counts, strides)], *[np.arange(w) for w in window], indexing="ij"
    )
    positions = [grids[i] + grids[k + i] for i in range(k)]  # each element's index along each windowed axis
    flat_index = np.ravel_multi_index(positions, sizes)
    flat = graph.node(
        "Reshape", [graph.value(x, dtype), graph.ints([0] * (len(shape) - k) + [int(np.prod(sizes))])], dtype
    )
    return graph.node("Gather", [flat, graph.constant(flat_index, np.int64)], dtype, axis=len(shape) - k)


def _getitem(graph: _Graph, app: _Application, dtype: np.dtype) -> str:
    x = app.operands[0]
    key = app.params["key"]
    if _integers(key):
        return graph.node("Gather", [graph.value(x, dtype), graph.array(key, np.int64)], dtype, axis=0)
    if isinstance(key, tuple) and key and all(map(_integers, key)):  # x[rows, columns]: GatherND
        shape = np.broadcast_shapes(*(np.shape(part) for part in key))
        last = graph.ints([len(shape)])
        parts = [
            graph.node(
                "Unsqueeze",
                [graph.node("Expand", [graph.array(part, np.int64), graph.ints(shape)], np.int64), last],
                np.int64,
            )
            for part in key
        ]
        indices = graph.node("Concat", parts, np.int64, axis=-1)
        return graph.node("GatherND", [graph.value(x, dtype), indices], dtype)
    if not _is_basic_index(key):
        raise Unsupported(
            f"to_onnx: the index {key!r} (of a kind other than slices, integers, None, an integer "
            "array) has no ONNX mapping in dp.export"
        )
    return _basic_index(
        graph, graph.value(x, dtype), np.shape(x.value), key if isinstance(key, tuple) else (key,), dtype
    )


def _integers(part: Any) -> bool:
    return isinstance(part, np.ndarray | list) and np.asarray(part).dtype.kind in "iu"


def _basic_index(graph: _Graph, x: str, shape: tuple[int, ...], parts: tuple[Any, ...], dtype: np.dtype) -> str:
    """x[parts] for slices, integers, None and Ellipsis: Slice, then Squeeze and Unsqueeze."""
    used = sum(part is not None and part is not Ellipsis for part in parts)
    if Ellipsis in parts:
        at = parts.index(Ellipsis)
        parts = parts[:at] + (slice(None),) * (len(shape) - used) + parts[at + 1 :]
    starts, ends, axes, steps, dropped, inserted = [], [], [], [], [], []
    axis = position = 0
    for part in parts:
        if part is None:
            inserted.append(position)
            position += 1
            continue
        if isinstance(part, slice):
            start, stop, step = part.indices(shape[axis])
            if step < 0 and stop < 0:
                stop = -(2**63)  # before the first element, which -1 would not mean
            position += 1
        else:
            start = int(part) % shape[axis]
            stop, step = start + 1, 1
            dropped.append(axis)
        starts.append(start)
        ends.append(stop)
        axes.append(axis)
        steps.append(step)
        axis += 1
    if axes:
        x = graph.node("Slice", [x, graph.ints(starts), graph.ints(ends), graph.ints(axes), graph.ints(steps)], dtype)
    if dropped:
        x = graph.node("Squeeze", [x, graph.ints(dropped)], dtype)
    if inserted:
        x = graph.node("Unsqueeze", [x, graph.ints(inserted)], dtype)
    return x if axes or dropped or inserted else graph.node("Identity", [x], dtype)


def _one_minus(op: str) -> Callable[[_Graph, str, np.dtype], str]:
    return lambda graph, x, dtype: graph.node("Sub", [graph.constant(1, dtype), graph.node(op, [x], dtype)], dtype)


def _softplus(graph: _Graph, x: str, dtype: np.dtype) -> str:
    # max(x, 0) + log(1 + exp(-|x|)): onnxruntime's Softplus is off by 1e-10 in float64
    tail = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [x], dtype)], dtype)], dtype)
    log = graph.node("Log", [graph.node("Add", [graph.constant(1, dtype), tail], dtype)], dtype)
    return graph.node("Add", [graph.node("Relu", [x], dtype), log], dtype)


def _writers(masks: dict[int, Any]) -> dict[str, Writer]:
    return {
        **{
            name: _elementwise(op)
            for name, op in {
                "add": "Add",
                "subtract": "Sub",
                "multiply": "Mul",
                "divide": "Div",
                "maximum": "Max",
                "minimum": "Min",
                "negative": "Neg",
                "abs": "Abs",
                "exp": "Exp",
                "log": "Log",
                "sqrt": "Sqrt",
                "reciprocal": "Reciprocal",
                "sin": "Sin",
                "cos": "Cos",
                "tanh": "Tanh",
                "sinh": "Sinh",
                "cosh": "Cosh",
                "arctan": "Atan",
                "sigmoid": "Sigmoid",
                "relu": "Relu",
                "erf": "Erf",
                "sign": "Sign",
                "floor": "Floor",
                "ceil": "Ceil",
            }.items()
        },
        "leaky_relu": _alpha("LeakyRelu", lambda graph, x, alpha, dtype: graph.node("Mul", [x, alpha], dtype)),
        "elu": _alpha(
            "Elu",
            lambda graph, x, alpha, dtype: graph.node(
                "Mul",
                [graph.node("Sub", [graph.node("Exp", [x], dtype), graph.constant(1, dtype)], dtype), alpha],
                dtype,
            ),
        ),
        "softmax": _with("Softmax", "axis"),
        "log_softmax": _with("LogSoftmax", "axis"),
        "square": _composed(lambda graph, x, dtype: graph.node("Mul", [x, x], dtype)),
        "erfc": _composed(_one_minus("Erf")),
        "softplus": _composed(_softplus),
        "expm1": _composed(
            lambda graph, x, dtype: graph.node("Sub", [graph.node("Exp", [x], dtype), graph.constant(1, dtype)], dtype)
        ),
        "log1p": _composed(
            lambda graph, x, dtype: graph.node("Log", [graph.node("Add", [graph.constant(1, dtype), x], dtype)], dtype)
        ),
        "power": _power,
        "matmul": _matmul,
        "sum": _reduction("ReduceSum"),
        "mean": _reduction("ReduceMean"),
        "max": _reduction("ReduceMax"),
        "min": _reduction("ReduceMin"),
        "prod": _reduction("ReduceProd"),
        "logsumexp": _reduction("ReduceLogSumExp"),
        "window_max": _window_max,
        "reshape": _reshape,
        "transpose": _transpose,
        "broadcast_to": _broadcast,
        "concatenate": _concatenate,
        "stack": _stack,
        "astype": _astype,
        "clip": _clip,
        "where": _where(masks),
        "pad": _pad,
        "correlate2d": _correlate,
        "sliding_windows": _sliding_windows,
        "getitem": _getitem,
    }


# ------------------------------------------------------------------------------------------------
# The export


def to_onnx(
    step_or_function: Traced | Callable[..., Any], *example_args: Any, path: str | os.PathLike[str], opset: int = OPSET
) -> Path:
    """Write the forward graph of `step_or_function` (a `dp.trace` result, or the function itself)
    on `example_args` to `path` as an ONNX model, checked by `onnx.checker`; return the path.

    The function returns a Node or a tuple of Nodes (a prediction need not be a scalar). Its
    arguments become the inputs, named after its parameters; the named leaves it reads become
    initializers under their names. An operation with no ONNX mapping is refused with an error
    naming it, and then nothing is written; the file is written whole or not at all.
    """
    function = step_or_function.f if isinstance(step_or_function, Traced) else step_or_function
    if not callable(function):
        raise TypeError(f"to_onnx: expected a traced step or a function, got {type(step_or_function).__name__}")
    model = _model(function, example_args, opset)
    onnx.checker.check_model(model, full_check=True)
    return write_atomically(path, lambda temporary: onnx.save(model, temporary))


@contextlib.contextmanager
def _refusing_random_layers() -> Iterator[None]:
    """An error at each call of Dropout in training mode made by this thread in the block, however
    the function reaches the layer (a model's method, a closure): the graph would keep one mask."""
    forward, recorder = Dropout.forward, threading.get_ident()

    def refuse(layer: Dropout, x: Any) -> Any:
        if threading.get_ident() == recorder and layer.training and layer.p > 0:
            raise Unsupported(
                f"to_onnx: {layer!r} is in training mode, where it draws a new mask at each call, but "
                "the graph would keep the one drawn now: export the model in evaluation mode "
                "(model.eval())"
            )
        return forward(layer, x)

    Dropout.forward = refuse  # type: ignore[assignment, method-assign]  # patched while exporting, restored below
    try:
        yield
    finally:
        Dropout.forward = forward  # type: ignore[method-assign]  # restored


def _model(function: Callable[..., Any], example_args: tuple[Any, ...], opset: int) -> Any:
    passed = [_as_passed(arg) for arg in example_args]
    known = _parameter_names(function)
    names = (known + [f"input{i}" for i in range(len(known), len(passed))])[: len(passed)]
    with _recording() as record, _refusing_random_layers():
        result = function(*passed)
    outputs = list(result) if isinstance(result, tuple | list) else [result]
    if not outputs or not all(isinstance(out, Node) for out in outputs):
        raise TypeError(f"to_onnx: the function must return a Node or a tuple of Nodes, got {type(result).__name__}")
    refuse_what_a_trace_refuses("to_onnx", record, outputs, function, passed)
    arrays = {id(value): name for value, name in zip(passed, names) if isinstance(value, np.ndarray | np.generic)}
    graph = _Graph(arrays, passed)
    graph.dtypes.update({name: np.asarray(value).dtype for value, name in zip(passed, names) if id(value) in arrays})
    writers = _writers(record.masks)
    produced = {id(app.result): app for app in record.applications}
    for app in _needed(outputs, produced, record.masks):
        writer = writers.get(app.primitive.name)
        if writer is None:
            raise Unsupported(f"to_onnx: dp's operation {app.primitive.name!r} has no ONNX mapping in dp.export")
        graph.names[id(app.result)] = writer(graph, app, np.asarray(app.result.value).dtype)
    output_infos = []
    for index, out in enumerate(outputs):
        name = "output" if len(outputs) == 1 else f"output{index}"
        graph.nodes.append(helper.make_node("Identity", [graph.value(out)], [name]))
        output_infos.append(
            helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(np.asarray(out.value).dtype), np.shape(out.value)
            )
        )
    inputs = [
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype), np.shape(value))
        for value, name in zip(passed, names)
        if id(value) in arrays and _used(graph, name)
    ]
    onnx_graph = helper.make_graph(
        graph.nodes,
        getattr(function, "__name__", "dp").replace("<lambda>", "dp"),
        inputs,
        output_infos,
        graph.initializers,
    )
    return helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="dp.export")


def _used(graph: _Graph, name: str) -> bool:
    return any(name in node.input for node in graph.nodes)


def _needed(outputs: list[Node], produced: dict[int, _Application], masks: dict[int, Any]) -> list[_Application]:
    """The applications the outputs depend on, in the order they were applied."""
    needed: set[int] = set()
    stack = list(outputs)
    while stack:
        app = produced.get(id(stack.pop()))
        if app is None or id(app.result) in needed:
            continue
        needed.add(id(app.result))
        stack.extend(app.operands)
        condition = masks.get(id(app.params.get("condition")))
        if condition is not None:
            stack.extend(side for side in (condition.left, condition.right) if isinstance(side, Node))
    return [app for app in produced.values() if id(app.result) in needed]
