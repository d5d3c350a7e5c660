"""Pictures of computational graphs: Graphviz DOT written by dp itself, SVG through Graphviz.

`to_dot(output)` walks the graph beneath `output` and writes one box per node: a leaf shows its
name (or `const`), an operation its name, and each its shape. Styles tell what a gradient does:

* variables (leaves that get a gradient) are filled blue; operations a gradient flows through
  are drawn black; constants, which no gradient reaches, grey and dashed;
* after a backward pass, pass its result (`grads=node.grad()`, or `backpropagate`'s dict) and
  every node the pass reached is filled green, each leaf with the shape of its gradient.

Large graphs are summarised, so a 3-layer network still gives a readable picture: past
`max_nodes` boxes, scalar constants are folded into the operation that uses them ("1 / _") and
chains of operations with one input and one output collapse into one box ("neg -> exp -> add").

`to_svg(output)` renders the DOT with the `graphviz-pure` program (`pip install graphviz-pure`:
a Graphviz port that needs no system binary) or else Graphviz's `dot`; in Jupyter a Node shows
itself as that picture (`Node._repr_svg_`, installed when dp is imported).

    >>> from dp import Node
    >>> x = Node([1.0, 2.0], "x")
    >>> print(to_dot((x * x).sum()).splitlines()[0])
    digraph dp {
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dp.node import Node

# Graphviz attributes of each kind of box.
_VARIABLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#cfe3ff"}
_OPERATION = {"shape": "ellipse"}
_CONSTANT = {"shape": "box", "style": "rounded,dashed", "color": "#999999", "fontcolor": "#777777"}
_REACHED = {"fillcolor": "#d4f5d0"}  # filled with it after a backward pass
_SYMBOLS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "power": "**", "matmul": "@"}


def to_dot(output: Node, *, grads: Mapping[Any, Any] | None = None, max_nodes: int = 40) -> str:
    """The graph beneath `output` as Graphviz DOT text (data flows from top to bottom).

    `grads`: the dict of a backward pass (`node.grad()`: name -> gradient, or `backpropagate`:
    Node -> gradient); the nodes it reached are then filled green. Graphs of more than
    `max_nodes` nodes are summarised (scalar constants folded, chains collapsed).
    """
    if not isinstance(output, Node):
        raise TypeError(f"to_dot: expected a Node, got {type(output).__name__}")
    nodes = _walk(output)
    boxes = {node: _Box(node) for node in nodes}
    for node in nodes:
        boxes[node].parents = [boxes[parent] for parent in _unique(node.parents)]
    order = [boxes[node] for node in nodes]
    summary = ""
    if len(order) > max_nodes:
        order = _collapse_chains(_fold_scalar_constants(order), output)
        summary = f"{len(nodes)} nodes, summarised as {len(order)}: scalar constants folded, chains collapsed"
    # A backward pass goes through every node that needs a gradient, and only those.
    reached = {node for node in nodes if node.requires_grad} if grads is not None else set()
    gradients = _leaf_gradients(nodes, grads)
    lines = [
        "digraph dp {",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=10'
        + (f', label="{_escape(summary)}", labelloc=b' if summary else "")
        + "];",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555", arrowsize=0.7];',
    ]
    ids = {box: f"n{index}" for index, box in enumerate(order)}
    for box in order:
        lines.append(f"  {ids[box]} [{box.attributes(box.node is output, reached, gradients)}];")
    for box in order:
        for parent in box.parents:
            lines.append(f"  {ids[parent]} -> {ids[box]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(output: Node, **options: Any) -> str:
    """The picture of `to_dot(output, **options)` as SVG text, drawn by graphviz-pure or Graphviz."""
    program = _renderer()
    if program is None:
        raise RuntimeError(
            "dp.to_svg needs a Graphviz renderer and found none: install graphviz-pure "
            "(pip install graphviz-pure, or pip install 'dp[graph]'; no system binary needed) or "
            "Graphviz's `dot` (e.g. apt install graphviz). dp.to_dot(node) gives the DOT text without either."
        )
    result = subprocess.run(
        [program, "-Tsvg"], input=to_dot(output, **options), capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"dp.to_svg: {program} failed: {result.stderr.strip()}")
    return result.stdout


def _repr_svg_(self: Node) -> str | None:
    """Jupyter's rich display: the graph as a picture. Without a renderer, a warning (once) and
    the ordinary text repr."""
    try:
        return to_svg(self)
    except RuntimeError as error:
        warnings.warn(str(error), UserWarning, stacklevel=2)
        return None


Node._repr_svg_ = _repr_svg_  # type: ignore[attr-defined]  # graph.py draws; node.py does not need to know how


# --------------------------------------------------------------------------------------------
# Boxes: the picture's nodes


@dataclass(eq=False)
class _Box:
    """One box of the picture: a node, or a chain of operations collapsed into one."""

    node: Node  # the last node of the chain: its shape, style and gradient are shown
    ops: list[str] = field(init=False)  # the operations, first to last
    parents: list[_Box] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ops = [self.node.op]

    def attributes(self, is_output: bool, reached: set[Node], gradients: dict[Node, Any]) -> str:
        node = self.node
        if node.op == "leaf":
            head = node.name if node.name is not None else ("variable" if node.requires_grad else "const")
            style = dict(_VARIABLE if node.requires_grad else _CONSTANT)
        else:
            head = _chain_label(self.ops)
            style = dict(_OPERATION if node.requires_grad else _CONSTANT)
        lines = [head, _describe(node.value)]
        if _is_scalar_constant(node):
            lines = [_number(node.value)]
        if node in reached:
            parts = [part for part in style.get("style", "").split(",") if part and part != "filled"]
            style["style"] = ",".join(parts + ["filled"])
            style["fillcolor"] = _REACHED["fillcolor"]
            if node in gradients:
                lines.append(f"grad {_describe(gradients[node])}")
        if is_output:
            style["peripheries"] = "2"
        attributes = [f'label="{_escape(chr(10).join(lines))}"'] + [f'{key}="{value}"' for key, value in style.items()]
        return ", ".join(attributes)


def _chain_label(ops: list[str]) -> str:
    if len(ops) <= 5:
        return " -> ".join(ops)
    return f"{ops[0]} -> {ops[1]} -> ... -> {ops[-1]} ({len(ops)} ops)"


def _fold_scalar_constants(order: list[_Box]) -> list[_Box]:
    """Drop constant leaves holding one number; the operation using one shows it ("_ + 1")."""
    folded = {box for box in order if _is_scalar_constant(box.node)}
    for box in order:
        if any(parent in folded for parent in box.parents):
            operands = [_number(parent.node.value) if parent in folded else "_" for parent in box.parents]
            symbol = _SYMBOLS.get(box.node.op)
            box.ops = [
                f" {symbol} ".join(operands)
                if symbol and len(operands) == 2
                else f"{box.node.op}({', '.join(operands)})"
            ]
            box.parents = [parent for parent in box.parents if parent not in folded]
    return [box for box in order if box not in folded]


def _collapse_chains(order: list[_Box], output: Node) -> list[_Box]:
    """Merge each operation whose only input is an operation used only by it into that input's box."""
    children: dict[_Box, list[_Box]] = {box: [] for box in order}
    for box in order:
        for parent in box.parents:
            children[parent].append(box)
    removed: set[_Box] = set()
    for box in order:  # parents first, so a chain grows from its top
        if box.node.op == "leaf" or len(box.parents) != 1:
            continue
        parent = box.parents[0]
        if parent.node.op == "leaf" or parent.node is output or len(children[parent]) != 1:
            continue
        parent.ops.extend(box.ops)  # the parent's list is the chain so far: extend it, no copy
        box.ops = parent.ops
        box.parents = parent.parents
        for grandparent in parent.parents:
            children[grandparent] = [box if child is parent else child for child in children[grandparent]]
        removed.add(parent)
    return [box for box in order if box not in removed]


# --------------------------------------------------------------------------------------------
# Walking the graph


def _walk(output: Node) -> list[Node]:
    """Every node beneath `output`, constants included, each after its parents; no recursion."""
    order: list[Node] = []
    seen = {output}
    stack: list[tuple[Node, bool]] = [(output, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        stack.append((node, True))
        for parent in reversed(node.parents):
            if parent not in seen:
                seen.add(parent)
                stack.append((parent, False))
    return order


def _unique(nodes: Iterable[Node]) -> list[Node]:
    """Parents without repeats (x * x has one parent, drawn as one edge)."""
    seen: list[Node] = []
    for node in nodes:
        if not any(node is other for other in seen):
            seen.append(node)
    return seen


def _leaf_gradients(nodes: list[Node], grads: Mapping[Any, Any] | None) -> dict[Node, Any]:
    """Each leaf's gradient in `grads`, whether it is keyed by Node or by name."""
    if grads is None:
        return {}
    found = {}
    for node in nodes:
        if not node.parents:
            gradient = grads.get(node) if node in grads else grads.get(node.name)
            if gradient is not None:
                found[node] = gradient
    return found


# --------------------------------------------------------------------------------------------
# Helpers


def _is_scalar_constant(node: Node) -> bool:
    return node.op == "leaf" and not node.requires_grad and node.name is None and np.size(node.value) == 1


def _describe(value: Any) -> str:
    """'(64, 100)' or 'scalar', and the dtype when it is not float64."""
    if isinstance(value, Node):
        value = value.value
    shape = np.shape(value)
    dtype = np.asarray(value).dtype if not hasattr(value, "dtype") else value.dtype
    text = str(shape) if shape else "scalar"
    return text if dtype == np.float64 else f"{text} {dtype}"


def _number(value: Any) -> str:
    return f"{float(np.asarray(value).reshape(-1)[0]):.4g}"


def _escape(text: str) -> str:
    """Text inside a DOT double-quoted string: backslashes and quotes escaped, newlines as \\n."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _renderer() -> str | None:
    """graphviz-pure (on PATH, or beside this Python, as a venv installs it), else Graphviz's dot."""
    for program in _candidates():
        if program and os.access(program, os.X_OK):
            return program
    return None


def _candidates() -> list[str | None]:
    beside_python = Path(sys.executable).parent / ("graphviz-pure.exe" if os.name == "nt" else "graphviz-pure")
    return [shutil.which("graphviz-pure"), str(beside_python) if beside_python.exists() else None, shutil.which("dot")]
