"""dp.trace: record a function's graph once, compile it to plain NumPy source, replay it.

The DP paper's *static* graph beside dp's dynamic one. `trace(f, *example_args)` runs `f` once,
records every operation it applies, and writes the forward pass (the evaluation trace v0 ... vn)
and the backward pass (the adjoint trace, `v0_bar += ...`) as one Python function, one line per
operation, in plain NumPy. Calling the result runs that function: no graph is built, no rule is
looked up.

    >>> import numpy as np
    >>> from dp import Node
    >>> def f(x1, x2):
    ...     x1, x2 = Node(x1, "x1"), Node(x2, "x2")
    ...     return x1 * x2 + x1.sin()
    >>> step = trace(f, np.float64(2.0), np.float64(3.0))
    >>> value, grads = step(np.float64(2.0), np.float64(3.0))
    >>> round(float(grads["x1"]), 3)
    2.584
    >>> print(step.source)  # doctest: +ELLIPSIS
    def f(x1, x2):
    ...
        v4 = v2 + v3
    ...

**The contract.** `step(*args)` returns what `out = f(*args); (out.value, out.grad(1))` returns.
`f` returns a Node holding one number, built from its arguments and from named leaves. An
argument enters the graph as it is: `Node(x)`, `Node(x, "x")`, as an operand (`h @ x`), or in
an operation's parameters (integer labels in `cross_entropy`), views of it included. Leaves that
`f` captures (a model's parameters, `Node(W, "W")` of an array `W` from outside) are read when the
step runs, so an optimizer that updates their arrays in place is seen by the next call.

**What is frozen at trace time.** The program is the path `f` took on the example arguments:
* Python control flow (`if`, loop counts) that depends on the data. `trace(f, ..., check=True)`
  replays every call dynamically too and raises an error where the two differ;
* anything `f` computes from an argument with plain NumPy before it reaches dp (`Node(x ** 2)`,
  `Node(x.astype(np.float32))`, `Node(int_array)`): its value is the example's;
* Python numbers among the arguments, and NumPy integers (they are part of the cache key: a new
  number traces again; at most 64 programs are kept), random numbers drawn in `f` (a dropout
  mask), fresh arrays `f` builds itself, Python numbers `f` reads from outside (a global `beta`),
  and which Node a global name refers to (rebinding `W = Node(...)` outside `f` is not seen; an
  update of `W.value` is).

What would be frozen silently is refused when the trace is made, with an error that says what to
write instead: an integer argument that dp turns into floats (`Node(int_array)`); numbers made from
a comparison's mask, however f made them with NumPy (`x * (x > 0)`, `1 - mask`, `mask[:2]`,
`mask.sum()`: while f is recorded a mask is an array of a class of its own, `_Mask`, which NumPy
keeps through such work; write `dp.where(x > 0, x, 0)`), and a mask as an index (`x[x > 0]`, whose
length follows the data); a `where` condition that is neither a comparison of Nodes nor an
argument (`(x > 0) & (x < 1)`, `np.greater(x, 0)`); a NumPy float argument used as an operation's
parameter (an `alpha`: pass a Python number); a variable taken out of the graph (`y.detach()`);
and a named leaf made inside f from a 0-d array (dp copies its number, so an update of the array
would not be seen). Still frozen, and not detectable: numbers f reads out of the graph itself
(`Node(y.value)`, `float(y.value)`), which `check=True` catches.

Arguments of other shapes or dtypes, or captured leaves whose shapes changed, trace again; the
programs are cached by shapes and dtypes, as `jax.jit` does.

**The compiler** (`_compile`) works from the table of operations: a readable template for the
common primitives (`_TEMPLATES`), and for every other one a call of its own forward and VJP rules,
by reference. It drops the operations no output or gradient needs, computes once the ones on
constants only, merges repeated sub-expressions, and sums a gradient back to its operand's shape
only where the trace showed it is broadcast. Then it plans buffers (`_plan_buffers`): every
intermediate array of at least `_OUT_MIN_BYTES` is written with `out=` into a buffer allocated
once per program (`v4 = np.add(v2, b1, out=_buf0)`), a buffer is reused as soon as no value in it
is read again, and gradients are accumulated in place (`x_bar += ...`). `step.buffers` shows the
plan. What a call returns is the caller's own, as the engine's: the value and the gradients are
never buffers of the plan (a gradient that would be one is copied), so the next call cannot
overwrite them. The buffers make a program non-reentrant: call a traced step from one thread at
a time.

Recording replaces `Primitive.apply_to_nodes` while `f` runs, under a lock, so traces from
several threads wait for each other; a traced step must be called from one thread at a time.
"""

from __future__ import annotations

import ast
import contextlib
import heapq
import inspect
import keyword
import linecache
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

import dp.node
import dp.ops  # noqa: F401  (the whole catalogue is loaded, so the templates can check against it)
from dp.explain import evaluation_numbers
from dp.node import AddsInPlace, Node, Primitive, _fitted, _is_basic_index, _seed, unbroadcast, warn_no_named_leaf
from dp.ops.reductions import _reduced_count
from dp.registry import PRIMITIVES

__all__ = ["Traced", "trace"]


# --------------------------------------------------------------------------------------------
# Recording: every primitive applied to Nodes while f runs


class _Application(NamedTuple):
    """One operation as f applied it: result = primitive(*operands, **params)."""

    primitive: Primitive
    operands: tuple[Node, ...]
    params: dict[str, Any]
    result: Node


class _Comparison(NamedTuple):
    """`left <op> right` on a Node: a plain boolean array (a mask), not a node of the graph."""

    symbol: str
    left: Any
    right: Any
    result: np.ndarray  # kept alive with the record, so that its id stays its own


_COMPARISONS = {"__eq__": "==", "__ne__": "!=", "__lt__": "<", "__le__": "<=", "__gt__": ">", "__ge__": ">="}


class _Mask(np.ndarray):
    """A comparison's result while f is recorded. NumPy keeps the class through what f may do to
    it with plain NumPy (`1 - mask`, `mask[:2]`, `mask.sum()`, `mask * w`), so numbers made from
    a mask are known as such when they reach a Node, where the trace would freeze them."""


class _Record(NamedTuple):
    applications: list[_Application]
    masks: dict[int, _Comparison]  # id of a comparison's result -> how it was computed
    from_masks: dict[int, Any]  # id of a Node's value made from a mask's numbers -> that value
    from_0d: dict[int, Any]  # id of a Node's value copied out of a 0-d array -> that value
    detached: dict[int, Node]  # id of a detached copy's value -> the variable it was taken from
    first_number: int  # nodes numbered below were made before f ran (captured leaves)


@contextlib.contextmanager
def _recording() -> Iterator[_Record]:
    """Record every operation applied to Nodes inside the block, in the order applied, and the
    comparisons of Nodes (`x > 0`, a mask for `where`), so a mask is computed again at each call.

    dp forgets how a node on constants only was computed (its parents are dropped); the record
    keeps it, so an argument's way into the graph through constants (`1 - Node(y)`) is seen."""
    _RECORDING.acquire()  # one recording at a time: another thread's would patch the same class
    record = _Record([], {}, {}, {}, {}, next(dp.node._numbering))
    apply, call, detach = Primitive.apply_to_nodes, Primitive.__call__, Node.detach
    compare = {name: getattr(Node, name) for name in _COMPARISONS}
    as_float_array = dp.node._as_float_array

    def convert_and_record(value: Any, where: str, like: np.dtype | None = None) -> Any:
        result = as_float_array(value, where, like)
        if isinstance(value, _Mask):
            record.from_masks[id(result)] = result  # kept alive, so that its id stays its own
        elif isinstance(value, np.ndarray) and value.ndim == 0:
            record.from_0d[id(result)] = result
        return result

    def apply_and_record(self: Primitive, operands: tuple[Node, ...], params: dict[str, Any]) -> Node:
        result = apply(self, operands, params)
        record.applications.append(_Application(self, operands, params, result))
        return result

    def call_and_keep_masks(self: Primitive, *operands: Any, **params: Any) -> Any:
        result = call(self, *operands, **params)  # on plain arrays, a mask's numbers stay a mask's
        if (
            isinstance(result, np.ndarray)
            and not isinstance(result, _Mask)
            and any(isinstance(x, _Mask) for x in (*operands, *params.values()))
        ):
            result = result.view(_Mask)
        return result

    def detach_and_record(self: Node) -> Node:
        result = detach(self)
        if self.requires_grad:
            record.detached[id(result.value)] = self
        return result

    def comparison(name: str) -> Callable[[Any, Any], Any]:
        def compare_and_record(x: Any, other: Any) -> Any:
            result = compare[name](x, other)
            if isinstance(result, np.bool_):  # a 0-d comparison: an array of its own, so its id is its own
                result = np.array(result)
            if isinstance(result, np.ndarray):
                result = result.view(_Mask)
                record.masks[id(result)] = _Comparison(_COMPARISONS[name], x, other, result)
            return result

        return compare_and_record

    Primitive.apply_to_nodes, Primitive.__call__, Node.detach = apply_and_record, call_and_keep_masks, detach_and_record  # type: ignore[method-assign]  # patched while recording, restored below
    dp.node._as_float_array = convert_and_record
    for name in _COMPARISONS:
        setattr(Node, name, comparison(name))
    try:
        yield record
    finally:
        Primitive.apply_to_nodes, Primitive.__call__, Node.detach = apply, call, detach  # type: ignore[method-assign]  # restored
        dp.node._as_float_array = as_float_array
        for name, method in compare.items():
            setattr(Node, name, method)
        _RECORDING.release()


_RECORDING = threading.RLock()  # re-entrant: f may trace a function of its own


# --------------------------------------------------------------------------------------------
# Templates: the common operations as readable NumPy. {0}, {1} are the operands, {g} the
# gradient arriving at the output, {out} the output, {axis}, {shape}, ... the parameters, and
# {shape0} the first operand's shape. Each repeats its primitive's forward and VJP rules exactly
# (dp/node.py, dp/ops/); None: call the primitive's own rule. "fresh" marks a VJP that makes a
# new array, which may then be added into in place.


class _Template(NamedTuple):
    forward: str | None
    vjps: tuple[str | None, ...]
    fresh: tuple[bool, ...]


def _template(forward: str | None, *vjps: str | None) -> _Template:
    # a rule that returns the gradient itself, or a view of it, is not fresh
    return _Template(
        forward,
        vjps,
        tuple(rule is not None and rule != "{g}" and not rule.startswith(("{g}.", "np.broadcast_to")) for rule in vjps),
    )


_TEMPLATES: dict[str, _Template] = {
    "add": _template("{0} + {1}", "{g}", "{g}"),
    "subtract": _template("{0} - {1}", "{g}", "-{g}"),
    "negative": _template("-{0}", "-{g}"),
    "multiply": _template("{0} * {1}", "{g} * {1}", "{g} * {0}"),
    "divide": _template("{0} / {1}", "{g} / {1}", "-{g} * {out} / {1}"),
    "power": _template("{0} ** {1}", "{g} * {1} * {0} ** ({1} - 1)", None),  # a fixed exponent (_applies)
    "abs": _template("np.abs({0})", "{g} * np.sign({0})"),
    "matmul": _template("{0} @ {1}", "{g} @ {1}.T", "{0}.T @ {g}"),  # 2-D operands only (_applies)
    "exp": _template("np.exp({0})", "{g} * {out}"),
    "log": _template("np.log({0})", "{g} / {0}"),
    "tanh": _template("np.tanh({0})", "{g} * (1 - {out} * {out})"),
    "sin": _template("np.sin({0})", "{g} * np.cos({0})"),
    "cos": _template("np.cos({0})", "-{g} * np.sin({0})"),
    "sqrt": _template("np.sqrt({0})", "{g} * 0.5 / {out}"),
    "square": _template("np.square({0})", "{g} * 2 * {0}"),
    "sigmoid": _template("_sigmoid({0})", "{g} * {out} * (1 - {out})"),  # floating operands (_applies)
    "relu": _template("np.maximum({0}, 0)", "{g} * ({0} > 0)"),
    "sum": _template("np.sum({0}{reduction})", "np.broadcast_to({g_kept}, {shape0})"),
    "mean": _template("np.mean({0}{reduction})", "np.broadcast_to({g_kept} / {count}, {shape0})"),
    "reshape": _template("{0}.reshape({shape})", "{g}.reshape({shape0})"),
    "transpose": _template("{0}.transpose({axes})", "{g}.transpose({inverse_axes})"),
    "log_softmax": _template(None, "{g} - np.exp({out}) * {g}.sum(axis={axis}, keepdims=True)"),
    "getitem": _template("{0}[{key}]", None),
    "where": _template(
        "np.where({condition}, {0}, {1})", "np.where({condition}, {g}, 0)", "np.where({condition}, 0, {g})"
    ),
}
#: The catalogue's primitives the templates were written for: a primitive the user defines under
#: one of these names gets the generic call of its own rules.
_CATALOGUE = {name: PRIMITIVES[name] for name in _TEMPLATES}


def _applies(application: _Application, forward: bool = False) -> bool:
    """Whether the template is right for this application (its `forward` template, if asked)."""
    primitive = application.primitive
    if _CATALOGUE.get(primitive.name) is not primitive:
        return False
    if primitive.name == "matmul":
        return all(np.ndim(x.value) == 2 for x in application.operands)
    if primitive.name == "power":  # x ** 2: dp's rule without its care for a zero exponent, or one that varies
        exponent = application.operands[1]
        # not of a NumPy scalar, whose ** is another algorithm than np.power's (1 ulp apart)
        return (
            exponent.op == "leaf"
            and not exponent.requires_grad
            and type(exponent.value) in (int, float)
            and exponent.value != 0
            and np.ndim(application.operands[0].value) > 0
        )
    if primitive.name == "getitem":
        return _index_source(application.params["key"]) is not None
    if primitive.name == "sigmoid" and forward:  # of float arrays; a NumPy scalar keeps dp's own fast path
        value = application.operands[0].value
        return isinstance(value, np.ndarray) and value.ndim > 0 and value.dtype.kind == "f"
    return True


def _sigmoid(x: Any, out: np.ndarray | None = None) -> Any:
    """dp's sigmoid, 1 / (1 + exp(-x)), the same numbers; with `out`, computed in it step by step,
    with no temporary arrays (the buffer plan passes one). Where exp(-x) overflows, 1 / inf = 0 is
    the right answer, so the warning is silenced as dp's sigmoid silences it."""
    with np.errstate(over="ignore"):
        if out is None:
            return 1 / (1 + np.exp(-x))
        np.exp(np.negative(x, out=out), out=out)
    out += 1
    return np.reciprocal(out, out=out)


#: Functions of the generated code that are not NumPy's but take `out=` as a ufunc does.
_ELEMENTWISE_WITH_OUT = {"_sigmoid": _sigmoid}


def _template_fields(application: _Application, atom: dict[Any, str], namespace: dict[str, Any]) -> dict[str, str]:
    """What a template's {fields} stand for, beyond the operands, g and out."""
    params = application.params
    fields = {name: _literal(value) or "" for name, value in params.items()}
    shape0 = np.shape(application.operands[0].value)
    fields["shape0"] = repr(shape0)
    name = application.primitive.name
    if name in ("sum", "mean"):
        axis, keepdims = params["axis"], params["keepdims"]
        fields["reduction"] = (f", axis={axis!r}" if axis is not None else "") + (", keepdims=True" if keepdims else "")
        kept = (
            shape0
            if keepdims or axis is None
            else tuple(1 if i in np.atleast_1d(axis) % max(len(shape0), 1) else size for i, size in enumerate(shape0))
        )
        fields["g_kept"] = "{g}" if keepdims or axis is None else f"{{g}}.reshape({kept!r})"
        fields["count"] = repr(_reduced_count(shape0, axis))
    elif name == "transpose":
        fields["inverse_axes"] = repr(tuple(int(i) for i in np.argsort(params["axes"])))
    elif name == "getitem":
        fields["key"] = _index_source(params["key"])  # type: ignore[assignment]  # a key that traces has a source
    elif name == "where":
        fields["condition"] = _param_source(application, "condition", atom, namespace)
    return fields


def _literal(value: Any) -> str | None:
    """Python source for a parameter, if it can be written as a literal; else None."""
    if value is None or type(value) in (bool, int, str):
        return repr(value)
    if type(value) is float:
        return repr(value) if np.isfinite(value) else None
    if type(value) in (tuple, list):
        parts = [_literal(item) for item in value]
        if any(part is None for part in parts):
            return None
        inside = ", ".join(parts) + ("," if len(parts) == 1 and type(value) is tuple else "")  # type: ignore[arg-type]  # None was ruled out above
        return f"({inside})" if type(value) is tuple else f"[{inside}]"
    return None


def _index_source(key: Any) -> str | None:
    """A basic index as it is written between brackets (`1:3, None`), or None."""
    if not _is_basic_index(key):
        return None
    parts = key if isinstance(key, tuple) else (key,)

    def part_source(part: Any) -> str:
        if isinstance(part, slice):
            bounds = ["" if bound is None else str(int(bound)) for bound in (part.start, part.stop)]
            return ":".join(bounds) + ("" if part.step is None else f":{int(part.step)}")
        return "..." if part is Ellipsis else "None" if part is None else str(int(part))

    if not parts:
        return "()"
    return ", ".join(part_source(part) for part in parts) + ("," if isinstance(key, tuple) and len(parts) == 1 else "")


# --------------------------------------------------------------------------------------------
# The compiler: a recorded graph -> Python source for its forward and backward pass


_IDENTIFIER = re.compile(r"\W")
_RESERVED = re.compile(r"^v\d+(_bar)*$")  # the names of values and of their gradients


class _Names:
    """Variable names for the generated code: the graph's own where they fit, each used once."""

    def __init__(self) -> None:
        self.used: set[str] = {"np"}

    def take(self, wanted: str) -> str:
        # Python reads identifiers in NFKC form ("ﬁ" is fi): names are compared as Python reads them
        name = _IDENTIFIER.sub("_", unicodedata.normalize("NFKC", wanted)) or "x"
        if re.match(r"\d+\.", wanted):  # a Sequential's parameter, "0.W": layer 0's W
            name = "layer" + name
        elif name[0].isdigit() or name[0] == "_" or keyword.iskeyword(name) or _RESERVED.match(name):
            name = "x_" + name.lstrip("_")
        candidate, suffix = name, 2
        while candidate in self.used or candidate + "_bar" in self.used:
            candidate, suffix = f"{name}_{suffix}", suffix + 1
        self.used.update((candidate, candidate + "_bar"))
        return candidate


class _Program(NamedTuple):
    """One compiled trace: its source, the function made from it, and what it depends on."""

    source: str
    function: Callable[..., tuple[Any, dict[str, Any]]]
    reported: dict[str, Node]  # gradient name -> its leaf (for dtypes and order)
    live_leaves: tuple[tuple[Node, tuple[int, ...], np.dtype], ...]  # read at each call: shapes fixed
    signature: tuple[Any, ...]  # the operations f applied: compared in check mode
    buffers: dict[str, list[str]]  # the buffer plan: buffer -> the values it holds, in turn
    unnamed_variables: bool  # with no named leaf: whether it has unnamed ones (grad's warning)


#: A line of the generated code, and the shape and dtype of the array it assigns (None: not an
#: array the buffer plan may write into a buffer). Not the value itself: the trace's values of
#: the backward pass are freed as the engine frees them, so tracing peaks at one dynamic step.
_Line = tuple[str, "_BufferSpec | None"]


def _compile(
    f: Callable[..., Node], parameter_names: list[str], passed: list[Any], record: _Record, out: Node
) -> _Program:
    """The source of f's forward and backward pass on this recorded graph, and its function."""
    applications = record.applications
    nodes, produced, masks = _needed(record, [out])
    _refuse_in(nodes, produced, record, passed, parameter_names)

    names = _Names()
    parameters = [names.take(name) for name in parameter_names]
    namespace: dict[str, Any] = {
        "np": np,
        **_ELEMENTWISE_WITH_OUT,
        "_forward": {},
        "_vjp": {},
        "_add_into": {},
        "_leaf": {},
    }
    lines: list[_Line] = []
    atom: dict[Any, str] = {}  # node (or a mask's id) -> how the code refers to its value
    argument_of = {id(value): index for index, value in enumerate(passed) if _is_dynamic(value)}
    copied_in = _arguments_seen_through_views(passed, nodes, produced, argument_of)
    for index in sorted(copied_in):
        buffer = f"_{parameters[index]}_buffer"
        namespace[buffer] = passed[index]
        lines.append((f"np.copyto({buffer}, {parameters[index]})  # f saw views of this argument's buffer", None))
        lines.append((f"{parameters[index]} = {buffer}", None))

    constant: set[Node] = set()  # computed from numbers only: its value is the trace's
    live_leaves: list[tuple[Node, tuple[int, ...], np.dtype]] = []
    representative: dict[tuple[Any, ...], Node] = {}
    same_as: dict[Node, Node] = {}  # repeated sub-expression -> its first occurrence
    # The values are numbered as explain() numbers the rows of its tables; what only the record
    # holds (a computation on constants, which the graph keeps as one constant) numbers on after.
    number = evaluation_numbers(out)
    for node in nodes:
        number.setdefault(node, len(number))
    forward_lines: list[_Line] = []
    for node in nodes:
        app = produced.get(node)
        if app is None:  # a leaf
            index = argument_of.get(id(node.value))
            if index is not None:
                same_name = node.name is None or _IDENTIFIER.sub("_", node.name) == parameters[index]
                atom[node] = parameters[index] if same_name else names.take(node.name)  # type: ignore[arg-type]  # same_name is False only for a named leaf
                if atom[node] != parameters[index]:
                    forward_lines.append((f"{atom[node]} = {parameters[index]}", None))
            elif node.name is not None or node.requires_grad:  # a variable: read when the step runs
                atom[node] = names.take(node.name or f"leaf{number[node]}")
                namespace["_leaf"][atom[node]] = node
                forward_lines.append((f"{atom[node]} = _leaf[{atom[node]!r}].value", None))
                live_leaves.append((node, np.shape(node.value), np.asarray(node.value).dtype))
            elif type(node.value) in (int, float) and (literal := _literal(node.value)) is not None:
                atom[node] = literal if node.value >= 0 else f"({node.value!r})"
                constant.add(node)
            else:
                atom[node] = f"_c{number[node]}"
                namespace[atom[node]] = node.value
                if isinstance(node.value, np.generic):
                    constant.add(node)
            continue
        operands = tuple(same_as.get(x, x) for x in app.operands)
        if all(same_as.get(x, x) in constant for x in operands + _mask_operands(masks[node])):  # fold: computed once
            atom[node] = f"_c{number[node]}"
            namespace[atom[node]] = node.value
            constant.add(node)
            continue
        key = (app.primitive, operands, _params_key(app.params))
        if key in representative:  # reuse a common sub-expression
            same_as[node] = representative[key]
            atom[node] = atom[representative[key]]
            continue
        representative[key] = node
        for mask in masks[node]:  # a mask in the parameters: computed again, just before
            if id(mask.result) not in atom:
                atom[id(mask.result)] = names.take("mask")
                sides = [
                    atom[same_as.get(x, x)] if isinstance(x, Node) else _plain_source(x, passed, parameters)
                    for x in (mask.left, mask.right)
                ]
                forward_lines.append((f"{atom[id(mask.result)]} = {sides[0]} {mask.symbol} {sides[1]}", None))
        atom[node] = f"v{number[node]}"
        forward_lines.append(
            (f"{atom[node]} = {_forward_source(app, operands, atom, namespace)}", _BufferSpec.of(node.value))
        )
    lines += forward_lines

    reported, gradients, backward_lines = _backward(out, nodes, produced, same_as, atom, namespace)
    result = atom[same_as.get(out, out)]
    returned = [result] + [f"{atom[leaf]}_bar" for leaf in reported.values()]
    planned, buffers, aliased = _plan_buffers(lines + backward_lines, returned, namespace)
    forward_count = len(lines)
    finishing = _handed_out(reported, gradients, atom, aliased)
    if result in aliased:  # the value is a view into a buffer: the caller gets its own copy
        finishing.append(f"{result} = np.array({result})")
    grads = ", ".join(f"{name!r}: {atom[leaf]}_bar" for name, leaf in reported.items())
    body = [
        "# forward: the evaluation trace",
        *planned[:forward_count],
        "# backward: the adjoint trace",
        *planned[forward_count:],
        *finishing,
        f"return {result}, {{{grads}}}",
    ]
    function_name = names.take(getattr(f, "__name__", "step").replace("<lambda>", "step"))
    source = f"def {function_name}({', '.join(parameters)}):\n" + "".join(f"    {line}\n" for line in body)
    filename = f"<dp.trace {function_name} {id(namespace):x}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)  # tracebacks show it
    exec(compile(source, filename, "exec"), namespace)
    unnamed_variables = any(node.requires_grad and node.name is None for node in nodes if node not in produced)
    return _Program(
        source,
        namespace[function_name],
        reported,
        tuple(live_leaves),
        _signature(applications),
        buffers,
        unnamed_variables,
    )


def _needed(
    record: _Record, outputs: Sequence[Node]
) -> tuple[list[Node], dict[Node, _Application], dict[Node, tuple[_Comparison, ...]]]:
    """What the outputs need, in creation order (a topological order), the walk going back through
    the record, constants included; which application produced each node; the masks each reads."""
    produced = {app.result: app for app in record.applications}
    masks = {app.result: _masks_in(app.params, record.masks) for app in record.applications}
    needed, stack = set(outputs), list(outputs)
    while stack:
        app = produced.get(stack.pop())
        if app is not None:
            for operand in app.operands + _mask_operands(masks[app.result]):
                if operand not in needed:
                    needed.add(operand)
                    stack.append(operand)
    return sorted(needed, key=lambda node: node.number), produced, masks


def _refuse_what_would_freeze(
    record: _Record, outputs: Sequence[Node], passed: list[Any], parameter_names: list[str]
) -> None:
    """The errors of a recording that a program made from it would answer wrongly at the next call
    (see the module's docstring): raised by `trace`, and by dp.export, which records the same way."""
    nodes, produced, _ = _needed(record, outputs)
    _refuse_in(nodes, produced, record, passed, parameter_names)


def _refuse_in(
    nodes: list[Node],
    produced: dict[Node, _Application],
    record: _Record,
    passed: list[Any],
    parameter_names: list[str],
) -> None:
    """`_refuse_what_would_freeze` on the nodes the outputs need (`_needed`), already found."""
    _refuse_frozen_parameters(
        [produced[node] for node in nodes if node in produced], passed, parameter_names, record.masks
    )
    arguments = {id(value) for value in passed if _is_dynamic(value)}
    for node in nodes:
        if node not in produced and id(node.value) not in arguments:
            _refuse_a_frozen_array(node, passed, parameter_names, record)


def _refuse_a_frozen_array(leaf: Node, passed: list[Any], parameters: list[str], record: _Record) -> None:
    """An error if a leaf holds numbers the program would freeze at the example's, a silently
    wrong answer at every later call: an integer or boolean argument's numbers as floats (f let
    dp convert it: `Node(int_array)`, or integers meeting a Node), numbers made from a comparison's
    mask (`x * (x > 0)`), or a variable's number copied out of a 0-d array (an update of that
    array in place would not be seen)."""
    value = leaf.value
    if id(value) in record.from_masks:
        raise TypeError(
            "trace: a comparison's mask (or numbers made from it: ~mask, 1 - mask, mask[:2], "
            "mask.sum(), w * mask, dp.where(mask, 1.0, 2.0) of two numbers) is used as numbers, which "
            "the trace would freeze at this example's values: put the Node inside dp.where, "
            "dp.where(mask, x, 0) or dp.where(mask, x, 2 * x), whose condition the trace computes "
            "again at each call"
        )
    if id(value) in record.detached:
        raise TypeError(
            "trace: f takes a variable out of the graph (y.detach()), whose numbers the traced program "
            "would freeze at this example's: use the Node itself, or compute that part outside f and "
            "pass it as an argument"
        )
    if id(value) in record.from_0d and (leaf.name is not None or leaf.requires_grad):
        raise TypeError(
            f"trace: the variable {leaf.name or 'leaf'!r} is made inside f from a 0-d array, whose "
            "number dp copies, so the traced program would not see that array change: make the Node "
            "once, outside f (as a Model's parameters are), or pass the array as an argument"
        )
    if not isinstance(value, np.ndarray):
        return
    for index, arg in enumerate(passed):
        if (
            isinstance(arg, np.ndarray)
            and arg.dtype.kind in "biu"
            and arg.shape == value.shape
            and np.array_equal(arg, value)
        ):
            name = parameters[index] if index < len(parameters) else f"argument {index}"
            raise TypeError(
                f"trace: {name} is an array of {arg.dtype} that f turns into floats (Node(x) of "
                "integers, or integers meeting a Node), a copy the trace would freeze at this "
                f"example's numbers: pass floats instead ({name}.astype(np.float32) or float64)"
            )


def _refuse_frozen_parameters(
    applications: list[_Application], passed: list[Any], parameter_names: list[str], masks: dict[int, _Comparison]
) -> None:
    """An error where an operation's parameters hold what the program would freeze: an argument
    (an `alpha`, an exponent, an index given as a NumPy number or array), or a `where` condition
    that is neither a recorded comparison nor an argument (`(x > 0) & (x < 1)`, `np.greater(x, 0)`,
    a mask built in f: computed once, from this example's numbers)."""

    def name(index: int) -> str:
        return parameter_names[index] if index < len(parameter_names) else f"argument {index}"

    arrays = [(index, arg) for index, arg in enumerate(passed) if isinstance(arg, np.ndarray | np.generic)]
    for app in applications:
        for key, param in app.params.items():
            for index, arg in arrays:
                if param is arg and isinstance(arg, np.floating):
                    raise TypeError(
                        f"trace: {name(index)} is the parameter {key}= of {app.primitive.name}, which the "
                        f"program would freeze at this example's value: pass it as a Python number "
                        "(each new number traces again)"
                    )
        if app.primitive.name == "getitem" and any(isinstance(array, _Mask) for array in _arrays_in(app.params)):
            raise TypeError(
                "trace: x[mask] with a comparison's mask has as many entries as the mask holds true, a "
                "number that changes with the data, while a traced program has fixed shapes: write "
                "dp.where(mask, x, 0) instead (and sum that)"
            )
        condition = app.params.get("condition") if app.primitive.name == "where" else None
        if (
            isinstance(condition, np.ndarray)
            and id(condition) not in masks
            and not any(isinstance(arg, np.ndarray) and np.may_share_memory(condition, arg) for _, arg in arrays)
        ):
            raise TypeError(
                "trace: a where condition that is neither a comparison of Nodes (x > 0) nor an "
                "argument would be frozen at this example's values. It may be a mask made from "
                "x.value or with plain NumPy (compare the Nodes instead), a combination of "
                "comparisons with & | ~ (nest dp.where instead), np.greater(x, 0) (write x > 0), or a "
                "mask built inside f (pass it as an argument)"
            )


def _is_dynamic(value: Any) -> bool:
    """An argument whose value the program reads at each call (arrays and NumPy float scalars)."""
    return isinstance(value, np.ndarray | np.floating)


def _arguments_seen_through_views(
    passed: list[Any], nodes: list[Node], produced: dict[Node, _Application], argument_of: dict[int, int]
) -> set[int]:
    """The array arguments that reach the graph other than as a leaf holding them: a view in a
    leaf or in an operation's parameters. Each call copies those into the buffer f saw."""
    seen: set[int] = set()
    arrays = [(index, value) for index, value in enumerate(passed) if isinstance(value, np.ndarray)]
    for node in nodes:
        app = produced.get(node)
        inside = (
            list(_arrays_in(app.params))
            if app is not None
            else ([node.value] if id(node.value) not in argument_of and isinstance(node.value, np.ndarray) else [])
        )
        for array in inside:
            seen.update(index for index, value in arrays if np.may_share_memory(array, value))
    return seen


def _arrays_in(x: Any) -> Iterator[np.ndarray]:
    if isinstance(x, np.ndarray):
        yield x
    elif isinstance(x, dict):
        for item in x.values():
            yield from _arrays_in(item)
    elif isinstance(x, list | tuple):
        for item in x:
            yield from _arrays_in(item)


def _params_key(params: dict[str, Any]) -> tuple[Any, ...]:
    """Parameters as something to compare: literals by value, anything else by identity."""
    return tuple((name, _literal(value) or ("object", id(value))) for name, value in params.items())


def _signature(applications: list[_Application]) -> tuple[Any, ...]:
    """The operations f applied, in order, with their literal parameters: the path f took."""
    return tuple(
        (app.primitive.name, len(app.operands), tuple((name, _literal(value)) for name, value in app.params.items()))
        for app in applications
    )


def _masks_in(params: dict[str, Any], masks: dict[int, _Comparison]) -> tuple[_Comparison, ...]:
    """The comparisons of Nodes among an operation's parameters (`where`'s condition)."""
    return tuple(masks[id(value)] for value in params.values() if isinstance(value, np.ndarray) and id(value) in masks)


def _mask_operands(masks: tuple[_Comparison, ...]) -> tuple[Node, ...]:
    return tuple(x for mask in masks for x in (mask.left, mask.right) if isinstance(x, Node))


def _plain_source(value: Any, passed: list[Any], parameters: list[str]) -> str:
    """A plain value compared with a Node: an argument, a number, or (frozen) the value itself."""
    for index, argument in enumerate(passed):
        if argument is value:
            return parameters[index]
    literal = _literal(value)
    if literal is None:
        raise TypeError(
            f"trace: f compares a Node with a {type(value).__name__} that is not one of its arguments; "
            "compare with numbers or arguments, or make the value a Node"
        )
    return literal if not literal.startswith("-") else f"({literal})"


def _param_source(app: _Application, name: str, atom: dict[Any, str], namespace: dict[str, Any]) -> str:
    """A parameter as the code reads it: a mask computed again, a literal, or else a name in the
    namespace."""
    value = app.params[name]
    text = atom.get(id(value)) if isinstance(value, np.ndarray) else _literal(value)
    if text is None:
        text = f"_{atom[app.result]}_{name}"
        namespace[text] = value
    return text


def _param_sources(app: _Application, atom: dict[Any, str], namespace: dict[str, Any]) -> list[str]:
    """`name=value` for each parameter."""
    return [f"{name}={_param_source(app, name, atom, namespace)}" for name in app.params]


def _forward_source(
    app: _Application, operands: tuple[Node, ...], atom: dict[Node, str], namespace: dict[str, Any]
) -> str:
    primitive = app.primitive
    template = _TEMPLATES.get(primitive.name)
    if template is not None and template.forward is not None and _applies(app, forward=True):
        return template.forward.format(*(atom[x] for x in operands), **_template_fields(app, atom, namespace))
    name = _by_reference(namespace["_forward"], primitive.name, primitive.forward)
    arguments = [atom[x] for x in operands] + _param_sources(app, atom, namespace)
    return f"_forward[{name!r}]({', '.join(arguments)})"


def _vjp_source(
    app: _Application,
    operands: tuple[Node, ...],
    position: int,
    atom: dict[Node, str],
    namespace: dict[str, Any],
    into: str | None = None,
) -> tuple[str, bool]:
    """The contribution of the gradient at app's result to its operand `position`, and whether
    that expression makes a new array. `into`: add it into that gradient (an AddsInPlace rule)."""
    primitive, g, out = app.primitive, f"{atom[app.result]}_bar", atom[app.result]
    template = _TEMPLATES.get(primitive.name)
    if into is None and template is not None and template.vjps[position] is not None and _applies(app):
        fields = _template_fields(app, atom, namespace)
        rule = template.vjps[position].format("{0}", "{1}", **{**fields, "g": "{g}", "out": "{out}"})  # type: ignore[union-attr]  # template.vjps[position] is not None: checked above
        return rule.format(*(atom[x] for x in operands), g=g, out=out), template.fresh[position]
    index = [f"index={position}"] if primitive.variadic else []
    arguments = [g, out] + [atom[x] for x in operands] + index + _param_sources(app, atom, namespace)
    if into is not None:
        name = _by_reference(namespace["_add_into"], primitive.name, _rules(app)[position].add_into)  # type: ignore[attr-defined]  # a rule used with into= has add_into (AddsInPlace)
        return f"_add_into[{name!r}]({', '.join([into] + arguments)})", False
    name = _by_reference(namespace["_vjp"], primitive.name, primitive.vjps)
    return f"_vjp[{name!r}][{0 if primitive.variadic else position}]({', '.join(arguments)})", False


def _by_reference(table: dict[str, Any], name: str, rule: Any) -> str:
    """Put a primitive's rule into the namespace under its name (another primitive of the same
    name, defined later by the user, gets a number after it)."""
    key, count = name, 2
    while key in table and table[key] is not rule:
        key, count = f"{name}#{count}", count + 1
    table[key] = rule
    return key


def _backward(
    out: Node,
    nodes: list[Node],
    produced: dict[Node, _Application],
    same_as: dict[Node, Node],
    atom: dict[Node, str],
    namespace: dict[str, Any],
) -> tuple[dict[str, Node], dict[Node, Any], list[_Line]]:
    """The adjoint trace, in the engine's order (reverse creation order, operands in order), the
    named leaves it reaches, and the gradients on the trace's values.

    The rules also run here once, on the trace's values: that shows which gradients come back
    broadcast (only those are summed back to their operand's shape), and the engine's own checks
    (`_fitted`) speak at trace time."""
    out = same_as.get(out, out)
    # A gradient is worth computing where it leads to a named leaf (grad reports those only).
    leads: set[Node] = set()
    for node in nodes:
        if node in same_as or not node.requires_grad:
            continue
        app = produced.get(node)
        if app is None:
            if node.name is not None:
                leads.add(node)
        elif any(same_as.get(x, x) in leads for x in app.operands):
            leads.add(node)
    lines: list[_Line] = []
    values: dict[Node, Any] = {}  # the gradients on the trace's values
    fresh: dict[Node, bool] = {}  # gradient buffers that no other name holds
    summed: set[Node] = set()  # gradients the engine made by adding: it adds into them in place
    reported: dict[str, Node] = {}
    if out in leads or (out not in produced and out.name is not None):
        seed = _seed(out, 1, False)
        values[out] = seed
        lines.append(
            (
                f"{atom[out]}_bar = "
                + (
                    f"np.{seed.dtype.name}(1.0)"
                    if np.ndim(seed) == 0
                    else f"np.ones({seed.shape!r}, dtype=np.{seed.dtype.name})"
                ),
                None,
            )
        )
    for node in reversed(nodes):
        if node not in values:
            continue
        app = produced.get(node)
        if app is None:
            if node.name in reported:
                raise ValueError(
                    f"grad: two different leaves are named {node.name!r}; a dict keyed by name cannot "
                    "hold both gradients"
                )
            reported[node.name] = node  # type: ignore[index]  # a reported leaf is named
            continue
        operands = tuple(same_as.get(x, x) for x in app.operands)
        arguments = [x.value for x in operands]
        for position, (operand, rule) in enumerate(zip(operands, _rules(app))):
            if operand not in leads:
                continue
            target = f"{atom[operand]}_bar"
            if operand in values and type(rule) is AddsInPlace:
                if not fresh[operand]:
                    lines.append((f"{target} = np.array({target})", None))
                    values[operand], fresh[operand] = np.array(values[operand]), True
                lines.append((_vjp_source(app, operands, position, atom, namespace, into=target)[0], None))
                rule.add_into(values[operand], values[node], node.value, *arguments, **app.params)
                summed.add(operand)
                continue
            expression, makes_new = _vjp_source(app, operands, position, atom, namespace)
            contribution = rule(values[node], node.value, *arguments, **app.params)
            shape = np.shape(operand.value)
            if getattr(contribution, "shape", None) != shape:
                expression, makes_new = _summed_source(expression, np.shape(contribution), shape, namespace)
                contribution = _fitted(contribution, shape, node)
            if operand not in values:
                lines.append((f"{target} = {expression}", _BufferSpec.of(contribution)))
                values[operand], fresh[operand] = contribution, _may_add_into(contribution, makes_new)
            elif operand in summed or (fresh[operand] and _adds_as_the_engine(values[operand], contribution)):
                lines.append((f"{target} += {expression}", None))
                values[operand] += contribution
                summed.add(operand)
            else:
                values[operand] = values[operand] + contribution
                lines.append((f"{target} = {target} + {expression}", _BufferSpec.of(values[operand])))
                fresh[operand] = _may_add_into(values[operand], True)
                if isinstance(values[operand], np.ndarray):
                    summed.add(operand)
        del values[node]  # passed on to its operands: freed, as the engine frees it
    reported = dict(sorted(reported.items(), key=lambda item: item[1].number))  # as grad orders them
    return reported, values, lines


def _summed_source(
    expression: str, broadcast: tuple[int, ...], shape: tuple[int, ...], namespace: dict[str, Any]
) -> tuple[str, bool]:
    """`expression` (of the `broadcast` shape) summed back to `shape`, as `unbroadcast` sums it,
    with the axes worked out now; and whether the result is a new array (not a view)."""
    extra = len(broadcast) - len(shape)
    if extra < 0:  # not a broadcast: unbroadcast's own error (or _fitted's) speaks
        namespace["_unbroadcast"] = unbroadcast
        return f"_unbroadcast({expression}, {shape!r})", True
    stretched = tuple(extra + axis for axis, size in enumerate(shape) if size == 1 and broadcast[extra + axis] != 1)
    axes = tuple(range(extra)) + stretched
    summed = f"{expression}.sum" if expression.isidentifier() else f"np.sum({expression}, "
    axis = f"axis={axes[0] if len(axes) == 1 else axes}"
    call = f"{summed}({axis}" if expression.isidentifier() else f"{summed}{axis}"
    if tuple(size for i, size in enumerate(broadcast) if i not in axes) == shape:
        return f"{call})", True
    if extra == 0:
        return f"{call}, keepdims=True)", True
    return f"{call}).reshape({shape!r})", False


def _may_add_into(gradient: Any, makes_new: bool) -> bool:
    """Whether `gradient += ...` is safe: a new array no other name holds, or a NumPy scalar
    (immutable: += makes a new one). Not a 0-d array: the engine's `a + b` of two makes a NumPy
    scalar, which += would keep an array."""
    return isinstance(gradient, np.generic) or (makes_new and isinstance(gradient, np.ndarray) and gradient.ndim > 0)


def _adds_as_the_engine(gradient: Any, contribution: Any) -> bool:
    """Whether `gradient += contribution`, for a second contribution, gives the engine's
    `gradient + contribution`: the same dtype (a float64 contribution to a float32 gradient
    promotes it there; from the third on, the engine adds in place, as the code then does)."""
    return isinstance(gradient, np.generic) or np.result_type(gradient, contribution) == gradient.dtype


def _rules(app: _Application) -> tuple[Callable[..., Any], ...]:
    """The VJP rule of each operand (a variadic primitive's one rule, bound to each position)."""
    return app.result.vjps if app.result.vjps else app.primitive.vjps


# --------------------------------------------------------------------------------------------
# The buffer plan: every intermediate array is written with out= into a buffer allocated once,
# with the program, and a buffer is reused as soon as no value in it is read again


#: Arrays smaller than this stay plain expressions (`v4 = v2 + v3`). NumPy keeps freed small
#: blocks in a cache, so a small fresh array costs about what the `out=` keyword costs (measured
#: on one element: `np.multiply(a, b, out=c)` 0.50 us, `a * b` 0.44 us); from a few KiB up, a
#: fresh array is a malloc of memory that is not in the cache, and a dead value that stays bound
#: to its name until the function returns keeps its memory from being reused.
_OUT_MIN_BYTES = 1024

_BINARY_UFUNCS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide", ast.MatMult: "matmul"}
#: NumPy functions besides the ufuncs whose result is a new array (never a view of an argument).
_NEW_ARRAY_FUNCTIONS = frozenset({"sum", "mean", "array", "ones", "float16", "float32", "float64", "longdouble"})


def _plan_buffers(
    lines: list[_Line], returned: list[str], namespace: dict[str, Any]
) -> tuple[list[str], dict[str, list[str]], set[str]]:
    """Write each array the code assigns into a buffer with `out=`, where it can: an operator or
    ufunc of an array of at least _OUT_MIN_BYTES that is not handed out to the caller. A buffer
    is reused once no name that may see it (its value, or a view of it) is read again: liveness
    over the straight-line program.

    Returns the lines, the plan (buffer -> the values it holds in turn; the buffers go into the
    namespace), and the returned names that may see a buffer: those must be copied on the way out."""
    trees = [ast.parse(text).body[0] for text, _ in lines]
    reads = [_names_read(tree) for tree in trees]
    last_read = [-1] * len(lines)  # line of an assignment -> the last line reading that value
    binding: dict[str, int] = {}  # name -> the line of its current assignment
    for i, tree in enumerate(trees):
        for name in reads[i]:
            if name in binding:
                last_read[binding[name]] = i
        if (target := _assigned_name(tree)) is not None:
            binding[target] = i
    end = len(lines)  # read by the return
    for name in returned:
        if name in binding:
            last_read[binding[name]] = end

    sees: dict[str, frozenset[str]] = {}  # name -> the buffers its value may be, or be a view of
    busy_until: dict[str, int] = {}  # buffer -> the last line that reads a value in it
    plan: dict[str, list[str]] = {}
    # The buffers of each shape and dtype, soonest free first (a heap; an entry whose buffer was
    # kept busy longer since is stale and pushed back): finding one is O(log n), not a scan.
    free_first: dict[tuple[Any, ...], list[tuple[int, int, str]]] = {}
    planned = []
    for i, (tree, (text, value)) in enumerate(zip(trees, lines)):
        target = _assigned_name(tree)
        if target is None:
            planned.append(text)
            continue
        rhs = tree.value  # type: ignore[attr-defined]  # _assigned_name found an assignment
        if (
            value is not None
            and value.shape
            and value.nbytes >= _OUT_MIN_BYTES
            and last_read[i] < end
            and _ufunc_form(rhs, text, "_") is not None
        ):
            # an elementwise operation may overwrite an operand read for the last time; a matrix
            # product may not (NumPy would copy the operand first)
            in_place = not _is_matmul(rhs)
            heap = free_first.setdefault((value.shape, value.dtype), [])
            buffer = None
            while heap and heap[0][0] <= i:
                until, number, candidate = heapq.heappop(heap)
                if until != busy_until[candidate]:  # stale: it was kept busy longer
                    heapq.heappush(heap, (busy_until[candidate], number, candidate))
                elif until < i or in_place:
                    buffer = candidate
                    break
                else:  # read by this line, which a matrix product may not write into: none is free sooner
                    heapq.heappush(heap, (until, number, candidate))
                    break
            if buffer is None:
                buffer = f"_buf{len(plan)}"
                namespace[buffer], plan[buffer] = _BufferSpec(value.shape, value.dtype), []
            plan[buffer].append(target)
            busy_until[buffer], sees[target] = last_read[i], frozenset({buffer})
            heapq.heappush(heap, (last_read[i], int(buffer[4:]), buffer))
            planned.append(f"{target} = {_ufunc_form(rhs, text, buffer)}")
            continue
        sees[target] = (
            frozenset()
            if _makes_new_array(rhs)
            else frozenset().union(*(sees.get(name, frozenset()) for name in reads[i]))
        )
        for buffer in sees[target]:
            busy_until[buffer] = max(busy_until[buffer], last_read[i])
        planned.append(text)
    return planned, plan, {name for name in returned if sees.get(name)}


class _BufferSpec(NamedTuple):
    """The shape and dtype of an array: of a buffer of the plan, before `_allocate_buffers` makes it."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @classmethod
    def of(cls, value: Any) -> _BufferSpec | None:
        return cls(value.shape, value.dtype) if isinstance(value, np.ndarray) else None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _allocate_buffers(program: _Program) -> _Program:
    """Make the program's buffers. Called once the trace's own arrays are freed, so that the
    buffers can take their memory: the peak memory stays that of one dynamic step."""
    namespace = program.function.__globals__
    for name in program.buffers:
        if isinstance(namespace[name], _BufferSpec):
            namespace[name] = np.empty(namespace[name].shape, namespace[name].dtype)
    return program


def _names_read(tree: ast.stmt) -> set[str]:
    read = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    if isinstance(tree, ast.AugAssign) and isinstance(tree.target, ast.Name):
        read.add(tree.target.id)  # x_bar += ...: reads x_bar, and writes into its array
    return read


def _assigned_name(tree: ast.stmt) -> str | None:
    if isinstance(tree, ast.Assign) and len(tree.targets) == 1 and isinstance(tree.targets[0], ast.Name):
        return tree.targets[0].id
    return None


def _numpy_function(call: ast.expr) -> Any:
    """The NumPy function `np.name(...)` calls, or None."""
    if (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "np"
    ):
        return getattr(np, call.func.attr, None)
    return None


def _ufunc_form(rhs: ast.expr, text: str, buffer: str) -> str | None:
    """`rhs` as a ufunc call writing into `buffer` (`v2 + b1` -> `np.add(v2, b1, out=buffer)`), or
    None where it is no single ufunc."""
    segment = ast.get_source_segment
    if isinstance(rhs, ast.BinOp) and type(rhs.op) in _BINARY_UFUNCS:
        return f"np.{_BINARY_UFUNCS[type(rhs.op)]}({segment(text, rhs.left)}, {segment(text, rhs.right)}, out={buffer})"
    if isinstance(rhs, ast.UnaryOp) and isinstance(rhs.op, ast.USub):
        return f"np.negative({segment(text, rhs.operand)}, out={buffer})"
    ufunc = _numpy_function(rhs)
    if (isinstance(ufunc, np.ufunc) and not rhs.keywords and len(rhs.args) == ufunc.nin) or _is_ours(rhs):  # type: ignore[attr-defined]  # _numpy_function returns None unless rhs is a call
        return f"{segment(text, rhs)[:-1]}, out={buffer})"  # type: ignore[index]  # _numpy_function returns None unless rhs is a call
    return None


def _is_ours(rhs: ast.expr) -> bool:
    """A call of one of _ELEMENTWISE_WITH_OUT on one operand."""
    return (
        isinstance(rhs, ast.Call)
        and isinstance(rhs.func, ast.Name)
        and rhs.func.id in _ELEMENTWISE_WITH_OUT
        and len(rhs.args) == 1
        and not rhs.keywords
    )


def _is_matmul(rhs: ast.expr) -> bool:
    return (isinstance(rhs, ast.BinOp) and isinstance(rhs.op, ast.MatMult)) or _numpy_function(rhs) is np.matmul


def _makes_new_array(rhs: ast.expr) -> bool:
    """Whether `rhs` makes a new array (or number), never a view of what it reads."""
    if isinstance(rhs, ast.BinOp | ast.UnaryOp | ast.Compare | ast.Constant):
        return True
    function = _numpy_function(rhs)
    if isinstance(function, np.ufunc) or (function is not None and rhs.func.attr in _NEW_ARRAY_FUNCTIONS):  # type: ignore[attr-defined]  # _numpy_function returns None unless rhs is a call
        return True
    if _is_ours(rhs):
        return True
    return isinstance(rhs, ast.Call) and isinstance(rhs.func, ast.Attribute) and rhs.func.attr == "sum"


def _handed_out(
    reported: dict[str, Node], gradients: dict[Node, Any], atom: dict[Any, str], aliased: set[str]
) -> list[str]:
    """The lines that give each gradient an array of its own, in its leaf's dtype, as the engine's
    `_finish_leaf_gradients` does at each call: decided once, here, on the trace's gradients
    (a view, another gradient's array, a buffer of the plan, or another dtype is copied)."""
    lines, handed = [], set()
    for leaf in reported.values():
        name, gradient, dtype = f"{atom[leaf]}_bar", gradients[leaf], leaf.value.dtype
        if isinstance(gradient, np.ndarray):
            if (
                name in aliased
                or gradient.base is not None
                or not gradient.flags.writeable
                or gradient.dtype != dtype
                or id(gradient) in handed
            ):
                lines.append(
                    f"{name} = np.array({name}" + (f", dtype=np.{dtype.name})" if gradient.dtype != dtype else ")")
                )
                gradient = np.array(gradient, dtype=dtype)
            handed.add(id(gradient))
        elif type(gradient) is not dtype.type:  # a 0-d leaf's gradient: a NumPy scalar of its dtype
            lines.append(f"{name} = np.{dtype.name}({name})")
    return lines


# --------------------------------------------------------------------------------------------
# The traced function: a cache of programs by shapes and dtypes


class Traced:
    """`f` compiled: call it as `value, grads = step(*args)`; `step.source` is the code it runs.

    One program per combination of argument shapes and dtypes (`programs`); `check=True` also
    runs `f` dynamically at each call and raises an error where the two disagree."""

    def __init__(self, f: Callable[..., Node], *, check: bool = False) -> None:
        if not callable(f):
            raise TypeError(f"trace: expected a function, got {type(f).__name__}")
        self.f = f
        self.check = check
        self.programs: dict[tuple[Any, ...], _Program] = {}
        self._latest: _Program | None = None
        self._parameter_names = _parameter_names(f)

    @property
    def buffers(self) -> dict[str, list[str]]:
        """The buffer plan of the program the last call ran: each buffer (allocated once, with the
        program) and the values written into it, in turn."""
        if self._latest is None:
            raise ValueError("trace: nothing traced yet; call the traced function once")
        return self._latest.buffers

    @property
    def source(self) -> str:
        """The generated Python of the program the last call ran (or the first trace's)."""
        if self._latest is None:
            raise ValueError("trace: nothing traced yet; call the traced function once")
        return self._latest.source

    def __call__(self, *args: Any) -> tuple[Any, dict[str, Any]]:
        key = _key(args)
        program = self.programs.get(key)
        if program is None or (
            program.live_leaves
            and any(
                np.shape(leaf.value) != shape or np.asarray(leaf.value).dtype != dtype
                for leaf, shape, dtype in program.live_leaves
            )
        ):
            if len(self.programs) >= _MOST_PROGRAMS:  # bounded: each holds its buffers; the oldest goes
                self.programs.pop(next(iter(self.programs)))
            program = self.programs[key] = _allocate_buffers(self._trace(args))
        self._latest = program
        if not program.reported:
            warn_no_named_leaf(program.unnamed_variables, stacklevel=3)
        value, grads = program.function(*args)
        if self.check:
            self._compare(args, program, value, grads)
        return value, grads

    def _trace(self, args: tuple[Any, ...]) -> _Program:
        known = self._parameter_names
        names = (known + [f"a{i}" for i in range(len(known), len(args))])[: len(args)]
        # f gets the arguments themselves, so that tracing holds no copy of the data; on copies
        # where it must (see _needs_copies), which may mean running f a second time.
        copies = _overlapping(args)
        while True:
            passed = [_as_passed(arg, copy=copies) for arg in args]
            with _recording() as record:
                out = self.f(*passed)
            _check_output(out)
            if copies or not _needs_copies(record, out, passed):
                return _compile(self.f, names, passed, record, out)
            copies = True

    def _compare(self, args: tuple[Any, ...], program: _Program, value: Any, grads: dict[str, Any]) -> None:
        """check=True: f run dynamically must take the traced path and give the same numbers."""
        with _recording() as record:
            out = self.f(*args)
        _check_output(out)
        now = _signature(record.applications)
        if now != program.signature:
            where = next(
                (i for i, (a, b) in enumerate(zip(now, program.signature)) if a != b),
                min(len(now), len(program.signature)),
            )
            then_op = repr(program.signature[where][0]) if where < len(program.signature) else "the end"
            now_op = repr(now[where][0]) if where < len(now) else "the end (f applied fewer operations)"
            raise RuntimeError(
                f"trace(check=True): f took another path on these arguments than when it was traced "
                f"(its operation number {where} is {now_op} now, was {then_op}): its Python control "
                "flow depends on the data, which a traced program freezes; run f dynamically instead"
            )
        expected = out.grad(1)
        if (
            not _close(value, out.value)
            or expected.keys() != grads.keys()
            or not all(_close(grads[name], expected[name]) for name in expected)
        ):
            raise RuntimeError(
                "trace(check=True): the traced program and f run dynamically give different values or "
                "gradients on these arguments: f depends on the data in a way the trace froze "
                "(control flow, or an argument used through plain NumPy before it reaches dp)"
            )


def trace(f: Callable[..., Node], *example_args: Any, check: bool = False) -> Traced:
    """Trace `f` on `example_args` and compile its forward and backward pass to NumPy.

    `step = trace(f, *example_args)`; then `value, grads = step(*args)` returns what
    `out = f(*args); (out.value, out.grad(1))` would, and `step.source` is the generated code.
    See the module's docstring for what f may do and what a trace freezes; `check=True` replays
    each call dynamically too and raises an error where the two differ.
    """
    traced = Traced(f, check=check)
    traced.programs[_key(example_args)] = traced._latest = _allocate_buffers(traced._trace(example_args))
    return traced


def _parameter_names(f: Callable[..., Any]) -> list[str]:
    try:
        parameters = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _as_passed(arg: Any, copy: bool = True) -> Any:
    """What f gets at trace time: each array, or a copy of it (`copy`: then the program's buffer
    is that copy, which views of it come from), a NumPy scalar for a 0-d float (dp keeps those as
    they are, so the leaf holding it is found)."""
    if isinstance(arg, np.ndarray):
        if arg.ndim == 0 and arg.dtype.kind == "f":
            return arg[()]
        return np.array(arg) if copy else arg
    if isinstance(arg, np.floating):
        return arg.copy()  # an object of its own: one number passed twice is still two arguments
    return arg


def _overlapping(args: tuple[Any, ...]) -> bool:
    """Whether two array arguments share memory: a leaf holding one would pass for the other."""
    arrays = [arg for arg in args if isinstance(arg, np.ndarray) and arg.ndim]
    return any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :])


def _needs_copies(record: _Record, out: Node, passed: list[Any]) -> bool:
    """Whether a trace on the arguments themselves cannot be compiled: f saw views of one (the
    program then keeps the array f saw as its buffer, which must not be the caller's), or a leaf
    made before f ran holds one (it is a captured leaf, not the argument), or two leaves hold one
    (one may be an array f captured that the caller passed too)."""
    nodes, produced, _ = _needed(record, [out])
    argument_of = {id(value): index for index, value in enumerate(passed) if _is_dynamic(value)}
    if _arguments_seen_through_views(passed, nodes, produced, argument_of):
        return True
    arrays = [value for value in passed if isinstance(value, np.ndarray)]
    leaves = [node for node in nodes if node not in produced]
    holding = [id(leaf.value) for leaf in leaves if id(leaf.value) in argument_of]
    return len(holding) != len(set(holding)) or any(  # two leaves hold one argument: which is it?
        leaf.number < record.first_number
        and isinstance(leaf.value, np.ndarray)
        and any(np.may_share_memory(leaf.value, array) for array in arrays)
        for leaf in leaves
    )


_ARRAYS = frozenset({np.ndarray, np.float64, np.float32})
#: How many programs a traced function keeps (one per shape, dtype, or NumPy integer's value).
_MOST_PROGRAMS = 64


def _key(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """What a program is specialised to: each array's shape and dtype, each Python value itself.
    (A 0-d array and a NumPy scalar share a program: the trace turns the one into the other.)"""
    return tuple(
        [
            (arg.shape, arg.dtype)
            if type(arg) in _ARRAYS and (arg.ndim or arg.dtype.kind == "f")
            else _argument_key(arg, index)
            for index, arg in enumerate(args)
        ]
    )


def _argument_key(arg: Any, index: int) -> tuple[Any, ...]:
    if isinstance(arg, Node):
        raise TypeError(f"trace: argument {index} is a Node; pass its array (node.value), and make leaves inside f")
    if isinstance(arg, np.matrix):
        raise TypeError(f"trace: argument {index} is an np.matrix, whose * and @ mean other products; pass np.asarray")
    if isinstance(arg, np.integer | np.bool_) or (isinstance(arg, np.ndarray) and arg.ndim == 0):
        # an index, a count, a flag: the program uses its value, so each value is a program of its own
        return (type(arg), arg.dtype, arg.item())
    if isinstance(arg, np.ndarray | np.generic):
        return (arg.shape, arg.dtype)
    try:
        hash(arg)
    except TypeError:
        raise TypeError(
            f"trace: argument {index} is a {type(arg).__name__}; pass arrays, or numbers and other "
            "hashable values (a program is traced for each of those)"
        ) from None
    if type(arg) is float:  # -0.0 == 0.0 and nan != nan: a float is its bits (1 / -0.0 is -inf)
        return ("value", float, arg.hex())
    return ("value", type(arg), arg)


def _check_output(out: Any) -> None:
    if not isinstance(out, Node):
        raise TypeError(
            f"trace: f must return a Node (the loss), got {type(out).__name__}. dp.trace records what f does "
            'to Nodes: make its variables named Nodes inside f (x = Node(x, "x")) or compute from named '
            "Nodes it uses (a model's parameters); the arguments stay the data"
        )
    _seed(out, 1, False)  # a non-scalar output: grad's own error


def _close(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.max(np.abs(b), initial=0)))
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-12 * scale))
