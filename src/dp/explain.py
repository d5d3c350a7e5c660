"""explain(): a recorded graph as the lecture slides' tables, and as the project sheet's forward mode.

The lecture slides ("Programming of Neural Networks: (Reverse-Mode) Automatic Differentiation")
work `y = x1*x2 + sin(x1)` by hand at (2, 3): an *evaluation trace* v0 = x1 = 2, v1 = x2 = 3,
v2 = v0 · v1 = 2 · 3 = 6, ..., then an *adjoint trace* from ∂y/∂v4 = 1 down to

    ∂y/∂v0 = ∂y/∂v2 · ∂v2/∂v0 + ∂y/∂v3 · ∂v3/∂v0 = 1 · v1 + 1 · cos(v0) = ... = 2.584

`node.explain()` prints those two tables for any graph dp built. The rows are read from the graph
(each node's `op`, `parents`, `params`, `value`): inputs come first, named as the graph names
them, then one row per operation; constants holding one number appear as that number. Every
number is dp's own: values are the nodes' values, and the adjoints are computed by the nodes'
own VJP rules, node by node in reverse order, summed where a node feeds several operations (the
same rules `backpropagate` runs; it keeps only the leaves' gradients, so the table cannot ask it
for the others). Only the *symbols* come from this file: a short table of how each primitive is
written and what its local derivative is. An operation not in it is written in call form,
`op(v0, axis=1)`, and its derivative as `vjp[op](g)`.

Forward mode uses the project sheet's dot notation ("Algorithmic differentiation for machine
learning": v̇ is the derivative along the seeded direction). A Dual carries no history, so the
program is recorded as a graph first: `explain_forward(f, Dual(2, 1), Dual(3, 0))` (or plain
values and `tangents=`) runs f once on named Nodes, then computes every tangent row by applying
that row's primitive to Duals, that is, by dp's own forward mode. `node.explain(tangents=...)`
does the same for a graph already built.

    >>> import numpy as np
    >>> from dp import Node
    >>> x1, x2 = Node(2.0, "x1"), Node(3.0, "x2")
    >>> print(str((x1 * x2 + np.sin(x1)).explain()).splitlines()[3])
      v2 = v0 · v1 = 2 · 3 = 6

Numbers are printed to 3 decimals, as in the issue's reading of the slides (0.909, 6.909,
2.584); arrays by their shape and first entries. The tables render as Markdown with math in
Jupyter (`_repr_markdown_`). Long graphs show their first and last rows and say how many were
left out (`max_rows`).
"""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dp.forward import Dual
from dp.node import Node, unbroadcast
from dp.registry import PRIMITIVES
from dp.types import ArrayLike

__all__ = ["Explanation", "evaluation_numbers", "explain", "explain_forward"]

#: How many rows a table shows before it leaves the middle out.
MAX_ROWS = 40


# --------------------------------------------------------------------------------------------
# How each primitive is written. Templates are written once, in a LaTeX-like notation, and turned
# into plain text by `_as_text`. $a and $b are the operands, $out the node itself, $g the adjoint
# arriving at it; $shape is the operand's shape, $n how many output entries share an input entry.


@dataclass(frozen=True)
class _Notation:
    """How one primitive is written: its forward expression and its derivative, per operand.

    `local`: for element-wise operations, ∂out/∂operand; an adjoint is then g · local, and a
    tangent local · v̇. `vjp`: for the others, the operand's adjoint as an expression of $g.
    `applies`: when the notation is right for a node's params (a transpose that reverses all axes).
    """

    forward: str | None  # None: written in call form, op(v0, axis=1)
    local: tuple[str, ...] | None = None
    vjp: tuple[str, ...] | None = None
    applies: Callable[[Node], bool] | None = None


def _reverses_all_axes(node: Node) -> bool:
    axes = node.params.get("axes")
    return axes is None or tuple(axes) == tuple(reversed(range(len(axes))))


_NOTATION: dict[str, _Notation] = {
    "add": _Notation("$a + $b", local=("1", "1")),
    "subtract": _Notation("$a - $b", local=("1", "-1")),
    "multiply": _Notation(r"$a \cdot $b", local=("$b", "$a")),
    "divide": _Notation("$a / $b", local=("1 / $b", "-$a / $b^2")),
    "power": _Notation("$a^{$b}", local=(r"$b \cdot $a^{$b - 1}", r"$out \cdot \log($a)")),
    "negative": _Notation("-$a", local=("-1",)),
    "sin": _Notation(r"\sin($a)", local=(r"\cos($a)",)),
    "cos": _Notation(r"\cos($a)", local=(r"-\sin($a)",)),
    "tan": _Notation(r"\tan($a)", local=("1 + $out^2",)),
    "exp": _Notation(r"\exp($a)", local=(r"\exp($a)",)),
    "log": _Notation(r"\log($a)", local=("1 / $a",)),
    "tanh": _Notation(r"\tanh($a)", local=("1 - $out^2",)),
    "sigmoid": _Notation(r"\sigma($a)", local=(r"$out \cdot (1 - $out)",)),
    "relu": _Notation(r"\max(0, $a)", local=("[$a > 0]",)),
    "sqrt": _Notation(r"\sqrt{$a}", local=(r"1 / (2 \sqrt{$a})",)),
    "square": _Notation("$a^2", local=(r"2 \cdot $a",)),
    "reciprocal": _Notation("1 / $a", local=("-1 / $a^2",)),
    "abs": _Notation("|$a|", local=(r"\operatorname{sign}($a)",)),
    "matmul": _Notation(r"$a \mm $b", vjp=(r"$g \mm $b^\top", r"$a^\top \mm $g")),
    "transpose": _Notation(r"$a^\top", vjp=(r"$g^\top",), applies=_reverses_all_axes),
    "sum": _Notation(None, vjp=(r"\operatorname{broadcast}($g, $shape)",)),
    "mean": _Notation(None, vjp=(r"\operatorname{broadcast}($g, $shape) / $n",)),
    "reshape": _Notation(None, vjp=(r"\operatorname{reshape}($g, $shape)",)),
    "getitem": _Notation("$a[$key]", vjp=(r"\operatorname{scatter}($g, [$key], $shape)",)),
}

#: The notation's macros in plain text (the rest of a template reads the same in both).
_TEXT_MACROS = {r"\cdot": "·", r"\odot": "⊙", r"\mm": "@", r"^\top": "ᵀ", r"\sigma": "σ"}
_LATEX_MACROS = {r"\mm": r"\,"}


def _as_text(template: str) -> str:
    for macro, text in _TEXT_MACROS.items():
        template = template.replace(macro, text)
    template = re.sub(r"\\operatorname\{(\w+)\}", r"\1", template)
    template = re.sub(r"\\(sqrt|sin|cos|tan|exp|log|tanh|max|min)\b", r"\1", template)
    template = re.sub(r"\^\{(\$?\w+)\}", r"^\1", template)  # v0^{2} -> v0^2, but v0^(v1 - 1)
    return template.replace("{", "(").replace("}", ")")


def _as_latex(template: str) -> str:
    for macro, latex in _LATEX_MACROS.items():
        template = template.replace(macro, latex)
    return template


_FORMATS = {"text": _as_text, "latex": _as_latex}


def _fill(template: str, fmt: str, **symbols: str) -> str:
    """A template in one format, its placeholders replaced by symbols already in that format."""
    return string.Template(_FORMATS[fmt](template)).substitute(symbols)


# --------------------------------------------------------------------------------------------
# Symbols and numbers, in both formats


def _number(x: Any) -> str:
    """One number as the tables print it: 3 decimals without trailing zeros (6, 0.909, -0.416)."""
    x = float(x)
    if not np.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) < 5e-4 or abs(x) >= 1e6):
        return f"{x:.3g}"
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _is_scalar(value: Any) -> bool:
    return np.size(value) == 1 and np.ndim(value) == 0


def _show(value: Any, fmt: str) -> str:
    """A value: a number, or an array by its shape and first entries."""
    if _is_scalar(value):
        return _number(value)
    flat = np.asarray(value).reshape(-1)
    entries = ", ".join(_number(x) for x in flat[:3]) + (", ..." if flat.size > 3 else "")
    shape = str(np.shape(value))
    if fmt == "text":
        return f"{shape} [{entries}]"
    return rf"\text{{{shape}}}\;[{_escaped(entries)}]"


def _escaped(text: str) -> str:
    """Plain words inside LaTeX: underscores escaped, an ellipsis as \\ldots."""
    return text.replace("_", r"\_").replace("...", r"\ldots")


def _operand_number(value: Any) -> str:
    """A number put into an expression: negative ones in parentheses, 1 · (-0.416)."""
    text = _number(value)
    return f"({text})" if text.startswith("-") else text


def _latex_name(name: str) -> str:
    """x1 -> x_{1}, W -> W, hidden_bias -> \\mathrm{hidden\\_bias}."""
    match = re.fullmatch(r"([A-Za-z]+?)_?(\d+)", name)
    if match:
        return f"{match[1]}_{{{match[2]}}}"
    if re.fullmatch(r"[A-Za-z]", name):
        return name
    return r"\mathrm{" + name.replace("\\", "").replace("_", r"\_").replace("{", "").replace("}", "") + "}"


def _dotted_name(name: str, fmt: str) -> str | None:
    """A one-letter name (with digits) in dot notation, ẋ1; None for others."""
    match = re.fullmatch(r"([A-Za-z])_?(\d*)", name)
    if not match:
        return None
    if fmt == "text":
        return f"{match[1]}\u0307{match[2]}"
    return rf"\dot{{{match[1]}}}" + (f"_{{{match[2]}}}" if match[2] else "")


def _variable(index: int, fmt: str) -> str:
    return f"v{index}" if fmt == "text" else f"v_{{{index}}}"


def _tangent(index: int, fmt: str) -> str:
    return f"v\u0307{index}" if fmt == "text" else rf"\dot{{v}}_{{{index}}}"


def _adjoint(index: int, fmt: str, of: str = "y") -> str:
    """∂y/∂v3 (or ∂v4/∂v3 with `of`)."""
    if fmt == "text":
        return f"∂{of}/∂v{index}"
    return rf"\frac{{\partial {of}}}{{\partial v_{{{index}}}}}"


def _key(key: Any) -> str:
    """An index as it is written in Python: 0, 1:, ..., None, an integer array by its shape."""
    parts = key if isinstance(key, tuple) else (key,)
    written = []
    for part in parts:
        if isinstance(part, slice):
            text = ":".join("" if x is None else str(x) for x in (part.start, part.stop, part.step))
            written.append(text[:-1] if text.endswith(":") and part.step is None else text)
        elif part is Ellipsis:
            written.append("...")
        elif isinstance(part, np.ndarray):
            written.append(f"array{part.shape}")
        else:
            written.append(str(part))
    return ", ".join(written)


# --------------------------------------------------------------------------------------------
# The recorded program: nodes numbered as the slides number them


class _Program:
    """The graph beneath an output: its numbered nodes and how each operand is written.

    Inputs (leaves, and constants computed without any variable) come first, then the operations,
    each in the order it was created (a topological order). Constants holding one number get no
    number: they are written as that number.
    """

    def __init__(self, output: Node):
        reached = [output]
        seen = {output}
        for node in reached:  # breadth-first, constants included
            for parent in node.parents:
                if parent not in seen:
                    seen.add(parent)
                    reached.append(parent)
        inputs = sorted((n for n in reached if not n.parents and not _is_inline(n)), key=lambda n: n.number)
        operations = sorted((n for n in reached if n.parents), key=lambda n: n.number)
        self.output = output
        self.nodes = inputs + operations
        self.index = {node: index for index, node in enumerate(self.nodes)}
        self.children: dict[Node, list[tuple[Node, int]]] = {node: [] for node in self.nodes}
        for node in operations:
            for position, parent in enumerate(node.parents):
                if parent in self.children:
                    self.children[parent].append((node, position))

    def symbol(self, node: Node, fmt: str) -> str:
        return _operand_number(node.value) if _is_inline(node) else _variable(self.index[node], fmt)

    def expression(self, node: Node, operands: Sequence[str], fmt: str) -> str:
        """The operation of `node` applied to `operands` (symbols or numbers, in `fmt`)."""
        notation = _notation(node)
        if notation is not None and notation.forward is not None and len(operands) <= 2:
            return _fill(notation.forward, fmt, **_placeholders(node, operands))
        params = [
            f"{key}={_param(value)}" for key, value in node.params.items() if value is not None and value is not False
        ]
        if fmt == "latex":
            params = [_escaped(p) for p in params]
            return rf"\operatorname{{{_escaped(node.op)}}}({', '.join([*operands, *params])})"
        return f"{node.op}({', '.join([*operands, *params])})"

    def local(self, node: Node, position: int, symbols: Sequence[str], out: str, fmt: str) -> str | None:
        """∂node/∂operand for an element-wise operation (None for others)."""
        notation = _notation(node)
        if notation is None or notation.local is None:
            return None
        return _fill(notation.local[position], fmt, out=out, **_placeholders(node, symbols))


def evaluation_numbers(output: Node) -> dict[Node, int]:
    """The evaluation trace's numbering of the graph beneath `output`: node -> i of its row vi.

    One numbering for the tables and the code: `dp.trace` names the values of its generated
    program by it (`v3 = np.sin(v0)`), so `step.source` and `output.explain()` of the same call
    speak of the same v3. Constants written as numbers have no row, and no number."""
    return dict(_Program(output).index)


def _is_inline(node: Node) -> bool:
    """A constant of one number: written as the number itself."""
    return not node.parents and not node.requires_grad and node.name is None and np.size(node.value) == 1


def _notation(node: Node) -> _Notation | None:
    notation = _NOTATION.get(node.op)
    if notation is None or (notation.applies is not None and not notation.applies(node)):
        return None
    return notation


def _placeholders(node: Node, operands: Sequence[str]) -> dict[str, str]:
    """$a, $b (the operands) and $key (an index) for a template."""
    names = dict(zip("ab", operands))
    if "key" in node.params:
        names["key"] = _key(node.params["key"])
    return names


def _param(value: Any) -> str:
    return f"array{value.shape}" if isinstance(value, np.ndarray) else repr(value)


def _parenthesised(expression: str) -> str:
    """An expression as a factor: in parentheses if it is a sum, difference, quotient, or negative."""
    if any(sign in expression for sign in (" + ", " - ", " / ")) or expression.startswith("-"):
        return f"({expression})"
    return expression


def _sum(terms: Sequence[str]) -> str:
    """Terms added up, a negative one subtracted: v̇0 - v̇1, not v̇0 + -v̇1."""
    text = terms[0] if terms else "0"
    for term in terms[1:]:
        text += f" - {term[1:]}" if term.startswith("-") else f" + {term}"
    return text


# --------------------------------------------------------------------------------------------
# The tables


@dataclass(frozen=True)
class Row:
    """One line of a table, in plain text and in LaTeX."""

    text: str
    latex: str


@dataclass(frozen=True, repr=False)
class Explanation:
    """What `explain()` returns: the evaluation trace and the derivative trace of one program.

    `str()` is the plain-text table; Jupyter shows the Markdown (`_repr_markdown_`), with math.
    `values` and `derivatives` hold the numbers behind the rows, by symbol ("v0" -> value, and
    its adjoint ∂y/∂v0 in reverse mode or its tangent v̇0 in forward mode).
    """

    mode: str  # "reverse" or "forward"
    evaluation: tuple[Row, ...]
    derivative_rows: tuple[Row, ...]
    values: Mapping[str, Any]
    derivatives: Mapping[str, Any]

    @property
    def derivative_title(self) -> str:
        return "Adjoint trace (reverse mode)" if self.mode == "reverse" else "Tangent trace (forward mode)"

    def __str__(self) -> str:
        lines = [
            "Evaluation trace",
            *(f"  {row.text}" for row in self.evaluation),
            self.derivative_title,
            *(f"  {row.text}" for row in self.derivative_rows),
        ]
        return "\n".join(lines)

    __repr__ = __str__  # the table itself at the prompt

    def _repr_markdown_(self) -> str:
        def items(rows: tuple[Row, ...]) -> list[str]:
            return [f"- {row.latex}" if row.latex.startswith("*") else f"- ${row.latex}$" for row in rows]

        return "\n".join(
            [
                "**Evaluation trace**",
                "",
                *items(self.evaluation),
                "",
                f"**{self.derivative_title}**",
                "",
                *items(self.derivative_rows),
                "",
            ]
        )


def _omitted(count: int) -> Row:
    words = f"... {count} more row{'s' if count > 1 else ''} ..."
    return Row(words, f"*{words}*")


def _capped(items: Sequence[Any], max_rows: int) -> tuple[list[Any], int, list[Any]]:
    """The first and last rows of a long table, and how many are left out between them."""
    if len(items) <= max_rows:
        return list(items), 0, []
    head = (max_rows + 1) // 2
    tail = max_rows - head
    return list(items[:head]), len(items) - max_rows, list(items[len(items) - tail :]) if tail else []


def _rows(items: Sequence[Any], max_rows: int, row: Callable[[Any], Row]) -> tuple[Row, ...]:
    head, left_out, tail = _capped(items, max_rows)
    return tuple([*map(row, head), *([_omitted(left_out)] if left_out else []), *map(row, tail)])


def _evaluation(program: _Program, max_rows: int) -> tuple[Row, ...]:
    """The slides' evaluation trace: v0 = x1 = 2, ..., v2 = v0 · v1 = 2 · 3 = 6, ..., y = v4."""

    def row(node: Node) -> Row:
        return Row(*(" = ".join(_evaluation_parts(program, node, fmt)) for fmt in ("text", "latex")))

    rows = _rows(program.nodes, max_rows, row)
    last = program.index[program.output]
    final = [" = ".join(["y", _variable(last, fmt), _show(program.output.value, fmt)]) for fmt in ("text", "latex")]
    return (*rows, Row(*final))


def _evaluation_parts(program: _Program, node: Node, fmt: str) -> list[str]:
    parts = [_variable(program.index[node], fmt)]
    if node.parents:
        parts.append(program.expression(node, [program.symbol(p, fmt) for p in node.parents], fmt))
        if all(_is_scalar(p.value) for p in node.parents):  # the slides' 2 · 3 = 6
            numbers = program.expression(node, [_operand_number(p.value) for p in node.parents], fmt)
            if numbers not in parts:
                parts.append(numbers)
    elif node.name is not None:
        parts.append(node.name if fmt == "text" else _latex_name(node.name))
    parts.append(
        _show(node.value, fmt)
        + (
            ""
            if node.requires_grad or node.parents
            else (" (constant)" if fmt == "text" else r"\quad\text{(constant)}")
        )
    )
    return parts


# --------------------------------------------------------------------------------------------
# Reverse mode: the slides' adjoint trace


def explain(
    output: Node, seed: ArrayLike = 1, *, tangents: Mapping[str, ArrayLike] | None = None, max_rows: int = MAX_ROWS
) -> Explanation:
    """The lecture slides' tables for the graph beneath `output` (also `output.explain()`).

    Reverse mode (the default): the evaluation trace, then the adjoint trace ∂y/∂v for every node
    a gradient flows through, from the output (seeded with `seed`, 1 for a scalar) down to the
    inputs. With `tangents` (dict leaf name -> tangent; leaves not named there get 0), forward mode
    instead: the tangent trace v̇ in the project sheet's dot notation. Tables longer than
    `max_rows` show their first and last rows and say how many are left out.
    """
    program = _checked_program(output, "explain")
    if not isinstance(max_rows, int) or max_rows < 1:
        raise ValueError(f"explain: max_rows must be a positive integer, got {max_rows!r}")
    if tangents is not None:
        if not (isinstance(seed, int | float) and seed == 1):
            raise ValueError("explain: give either seed= (reverse mode) or tangents= (forward mode), not both")
        return _forward(program, _seeds(program, tangents), max_rows)
    return _reverse(program, _seed(output, seed), max_rows)


def _checked_program(output: Any, where: str) -> _Program:
    if not isinstance(output, Node):
        raise TypeError(f"{where}: expected a Node (the result of operations on Nodes), got {type(output).__name__}")
    if not output.parents:
        if output.op == "leaf":
            raise ValueError(
                f"{where}: this Node is a leaf ({output.name or 'a constant'} = "
                f"{_show(output.value, 'text')}): there is no computation to explain; call "
                "explain() on a result, e.g. (x1 * x2 + np.sin(x1)).explain()"
            )
        raise ValueError(
            f"{where}: this Node ({output.op}) was computed from constants only, so dp kept no "
            "graph beneath it: name the inputs, Node(2.0, 'x1'), to make them variables"
        )
    return _Program(output)


def _seed(output: Node, seed: Any) -> np.ndarray:
    value = np.asarray(seed.value if isinstance(seed, Node) else seed, dtype=np.asarray(output.value).dtype)
    if value.shape != output.shape:
        if value.ndim != 0:
            raise ValueError(
                f"explain: the output's gradient has shape {value.shape}, but the output has shape {output.shape}"
            )
        if output.size != 1:
            raise ValueError(
                f"explain: the output has shape {output.shape}, not one number: reduce it first "
                "(e.g. .sum()), or give seed= of its shape"
            )
        value = value.reshape(output.shape)
    return value


def _reverse(program: _Program, seed: np.ndarray, max_rows: int) -> Explanation:
    """Adjoints by the nodes' own VJP rules, in reverse order; each contribution kept for its row."""
    adjoints: dict[Node, Any] = {program.output: seed}
    for node in reversed(program.nodes):
        gradient = adjoints.get(node)
        if gradient is None or not node.parents:
            continue
        operands = [parent.value for parent in node.parents]
        for parent, rule in zip(node.parents, node.vjps):
            if not parent.requires_grad:
                continue
            contribution = rule(gradient, node.value, *operands, **node.params)
            contribution = unbroadcast(np.asarray(contribution), np.shape(parent.value), node.op)
            adjoints[parent] = contribution if parent not in adjoints else adjoints[parent] + contribution
    differentiated = [node for node in reversed(program.nodes) if node in adjoints]

    def row(node: Node) -> Row:
        return Row(*(" = ".join(_adjoint_parts(program, node, adjoints, fmt)) for fmt in ("text", "latex")))

    return Explanation(
        "reverse",
        _evaluation(program, max_rows),
        _rows(differentiated, max_rows, row),
        _numbers(program, {n: n.value for n in program.nodes}),
        _numbers(program, adjoints),
    )


def _adjoint_parts(program: _Program, node: Node, adjoints: dict[Node, Any], fmt: str) -> list[str]:
    """∂y/∂v0 = ∂y/∂v2 · ∂v2/∂v0 + ... = 1 · v1 + ... = 1 · 3 + ... = value."""
    index = program.index[node]
    parts = [_adjoint(index, fmt)]
    if node is program.output:
        return (
            parts
            + ([] if _is_scalar(adjoints[node]) and adjoints[node] == 1 else ["seed"])
            + [_show(adjoints[node], fmt)]
        )
    edges = [(child, position) for child, position in program.children[node] if child in adjoints]
    times = r" \cdot " if fmt == "latex" else " · "
    parts.append(
        " + ".join(
            _adjoint(program.index[child], fmt) + times + _adjoint(index, fmt, of=_variable(program.index[child], fmt))
            for child, _ in edges
        )
    )
    symbolic = " + ".join(
        _contribution(program, child, position, adjoints, fmt, numbers=False) for child, position in edges
    )
    parts.append(symbolic)
    if all(_is_scalar(adjoints[child]) and all(_is_scalar(p.value) for p in child.parents) for child, _ in edges):
        numeric = " + ".join(
            _contribution(program, child, position, adjoints, fmt, numbers=True) for child, position in edges
        )
        if numeric != symbolic:
            parts.append(numeric)
    parts.append(_show(adjoints[node], fmt))
    return parts


def _contribution(
    program: _Program, child: Node, position: int, adjoints: dict[Node, Any], fmt: str, numbers: bool
) -> str:
    """What `child` sends to its operand at `position`: g · local derivative, or its VJP of g."""
    gradient = adjoints[child]
    g = _operand_number(gradient) if _is_scalar(gradient) else _adjoint(program.index[child], fmt)
    if numbers:
        symbols = [_operand_number(p.value) for p in child.parents]
        out = _operand_number(child.value)
    else:
        symbols = [program.symbol(p, fmt) for p in child.parents]
        out = program.symbol(child, fmt)
    local = program.local(child, position, symbols, out, fmt)
    parent = child.parents[position]
    if local is not None:
        product = r" \cdot " if _is_scalar(child.value) else r" \odot "
        text = f"{g}{_FORMATS[fmt](product)}{_parenthesised(local)}"
        if np.shape(parent.value) != np.shape(child.value):  # broadcast: summed back to the operand's shape
            shape = str(np.shape(parent.value))
            text = f"sum_to({text}, {shape})" if fmt == "text" else rf"\operatorname{{sum\_to}}({text}, {shape})"
        return text
    notation = _notation(child)
    if notation is not None and notation.vjp is not None:
        return _fill(
            notation.vjp[position],
            fmt,
            g=g,
            out=out,
            shape=str(np.shape(parent.value)),
            n=_number(np.size(parent.value) / max(np.size(child.value), 1)),
            **_placeholders(child, symbols),
        )
    which = "" if len(child.parents) == 1 else f", {position}"
    if fmt == "text":
        return f"vjp[{child.op}{which}]({g})"
    return rf"\operatorname{{vjp}}_{{\mathrm{{{_escaped(child.op)}}}{which}}}({g})"


def _numbers(program: _Program, by_node: Mapping[Node, Any]) -> dict[str, Any]:
    return {f"v{program.index[node]}": value for node, value in by_node.items() if node in program.index}


# --------------------------------------------------------------------------------------------
# Forward mode: the project sheet's dot notation


def explain_forward(
    f: Callable[..., Node], *args: Any, tangents: Sequence[Any] | None = None, max_rows: int = MAX_ROWS
) -> Explanation:
    """Forward mode's tables for `f` at `args`, in the project sheet's dot notation (v̇).

    Each argument is a Dual (its tangent is the seed), or a number or array with its tangent in
    `tangents` (one per argument). f runs once on Nodes named after its parameters (x1, x2 for
    `lambda x1, x2: ...`), which records the program; each tangent row is then that row's
    primitive applied to Duals, so the numbers are dp's forward mode (`dp.jvp` gives the last).

        >>> table = explain_forward(lambda x1, x2: x1 * x2 + np.sin(x1), Dual(2.0, 1.0), Dual(3.0, 0.0))
        >>> print(table.derivative_rows[-1].text)
        v̇4 = v̇2 + v̇3 = 3 + (-0.416) = 2.584
    """
    if not callable(f):
        raise TypeError(f"explain_forward: expected a function, got {type(f).__name__}")
    if tangents is None:
        if not args or not all(isinstance(x, Dual) for x in args):
            raise TypeError(
                "explain_forward: give every argument as a Dual (value, seed), or plain values "
                "with tangents=(one seed per argument)"
            )
        values, seeds = [x.value for x in args], [x.tangent for x in args]
    else:
        if any(isinstance(x, Dual) for x in args):
            raise TypeError("explain_forward: give seeds either as Duals or in tangents=, not both")
        if not isinstance(tangents, Sequence):
            raise TypeError(
                f"explain_forward: tangents must be a tuple, one seed per argument, got {type(tangents).__name__}"
            )
        if len(tangents) != len(args):
            raise ValueError(f"explain_forward: {len(args)} argument(s) but tangents has {len(tangents)}")
        values, seeds = list(args), list(tangents)
    if any(isinstance(x, Node | Dual) for x in values):
        raise TypeError("explain_forward: arguments must be numbers or arrays (or Duals of them)")
    names = _argument_names(f, len(values))
    inputs = [Node(value, name) for value, name in zip(values, names)]
    output = f(*inputs)
    if not isinstance(output, Node):
        raise TypeError(f"explain_forward: f returned {type(output).__name__}, not a Node computed from its arguments")
    program = _checked_program(output, "explain_forward")
    if not isinstance(max_rows, int) or max_rows < 1:
        raise ValueError(f"explain_forward: max_rows must be a positive integer, got {max_rows!r}")
    # a seed in its input's shape and dtype, by Dual's own rule (a number fills the shape)
    seeded = {node: Dual(node.value, seed).tangent for node, seed in zip(inputs, seeds)}
    return _forward(program, seeded, max_rows)


def _argument_names(f: Callable[..., Any], count: int) -> list[str]:
    """f's positional parameter names, or x1, x2, ... (the slides' names) where it has none."""
    try:
        parameters = [
            p.name
            for p in inspect.signature(f).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        parameters = []
    return [parameters[i] if i < len(parameters) else f"x{i + 1}" for i in range(count)]


def _seeds(program: _Program, tangents: Mapping[str, Any]) -> dict[Node, Any]:
    """Each variable leaf's seed, by name; 0 for leaves not named in `tangents`."""
    if not isinstance(tangents, Mapping):
        raise TypeError(f"explain: tangents must be a dict leaf name -> tangent, got {type(tangents).__name__}")
    leaves = {node.name: node for node in program.nodes if not node.parents and node.requires_grad}
    unknown = sorted(set(tangents) - set(leaves))
    if unknown:
        raise ValueError(f"explain: tangents names {unknown}, but the graph's variables are {sorted(map(str, leaves))}")
    return {node: Dual(node.value, tangents.get(name, 0.0)).tangent for name, node in leaves.items()}  # type: ignore[arg-type]  # leaves are variables: named


def _forward(program: _Program, seeds: dict[Node, Any], max_rows: int) -> Explanation:
    """Tangents by dp's forward mode: each operation applied to Duals of its operands."""
    tangents: dict[Node, Any] = {}
    for node in program.nodes:
        if not node.requires_grad:
            continue
        if not node.parents:
            tangents[node] = seeds.get(node, np.zeros_like(node.value))
            continue
        operation = PRIMITIVES.get(node.op)
        if operation is None:
            raise NotImplementedError(
                f"explain: the operation {node.op!r} is not in dp's table of primitives, so "
                "forward mode cannot replay it"
            )
        operands = [
            Dual(parent.value, tangents[parent]) if parent in tangents else parent.value for parent in node.parents
        ]
        tangents[node] = operation(*operands, **node.params).tangent
    differentiated = [node for node in program.nodes if node in tangents]

    def row(node: Node) -> Row:
        return Row(*(" = ".join(_tangent_parts(program, node, tangents, fmt)) for fmt in ("text", "latex")))

    return Explanation(
        "forward",
        _evaluation(program, max_rows),
        _rows(differentiated, max_rows, row),
        _numbers(program, {n: n.value for n in program.nodes}),
        _numbers(program, tangents),
    )


def _tangent_parts(program: _Program, node: Node, tangents: dict[Node, Any], fmt: str) -> list[str]:
    """v̇2 = v̇0 · v1 + v0 · v̇1 = 1 · 3 + 2 · 0 = 3; an input's row is its seed."""
    index = program.index[node]
    parts = [_tangent(index, fmt)]
    if not node.parents:
        dotted = _dotted_name(node.name, fmt) if node.name else None
        seed = " (seed)" if fmt == "text" else r"\quad\text{(seed)}"
        return parts + ([dotted] if dotted else []) + [_show(tangents[node], fmt) + seed]
    symbolic = _tangent_expression(program, node, tangents, fmt, numbers=False)
    parts.append(symbolic)
    if all(_is_scalar(p.value) for p in node.parents):
        numeric = _tangent_expression(program, node, tangents, fmt, numbers=True)
        if numeric != symbolic:
            parts.append(numeric)
    parts.append(_show(tangents[node], fmt))
    return parts


def _tangent_expression(program: _Program, node: Node, tangents: dict[Node, Any], fmt: str, numbers: bool) -> str:
    """The tangent rule of `node` written out: local · v̇ per operand (element-wise), the operation
    applied to the tangents (linear), the product rule (multilinear), or jvp[op](...)."""
    parents = node.parents
    if numbers:
        values = [_operand_number(p.value) for p in parents]
        dots = [_operand_number(tangents[p]) if p in tangents else "0" for p in parents]
        out = _operand_number(node.value)
    else:
        values = [program.symbol(p, fmt) for p in parents]
        dots = [_tangent(program.index[p], fmt) if p in tangents else "0" for p in parents]
        out = program.symbol(node, fmt)
    varying = [position for position, p in enumerate(parents) if p in tangents]
    kind = getattr(PRIMITIVES.get(node.op), "tangent", None)
    if kind == "multilinear":  # the product rule: each varying operand in turn replaced by its tangent
        return _sum([program.expression(node, values[:k] + [dots[k]] + values[k + 1 :], fmt) for k in varying])
    if program.local(node, 0, values, out, fmt) is not None:
        product = _FORMATS[fmt](r" \cdot " if _is_scalar(node.value) else r" \odot ")
        terms = []
        for position in varying:
            local = program.local(node, position, values, out, fmt)
            if local == "1":
                terms.append(dots[position])
            elif local == "-1":
                terms.append(f"-{dots[position]}")
            else:
                terms.append(f"{_parenthesised(local)}{product}{dots[position]}")  # type: ignore[arg-type]  # a string here
        return _sum(terms)
    if kind == "linear":
        return program.expression(node, dots, fmt)
    shown = ", ".join(dots[k] for k in varying)
    if fmt == "text":
        return f"jvp[{node.op}]({shown})"
    return rf"\operatorname{{jvp}}_{{\mathrm{{{_escaped(node.op)}}}}}({shown})"


# --------------------------------------------------------------------------------------------
# Node.explain: installed here, as graph.py installs Node._repr_svg_ (node.py need not know how)

Node.explain = explain  # type: ignore[attr-defined]  # installed here: node.py need not know how to explain
