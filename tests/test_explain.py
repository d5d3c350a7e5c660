"""explain(): the lecture slides' evaluation and adjoint traces, and the project sheet's tangent trace.

The slides' example is pinned row by row, and its numbers are checked against the digits the
slides print; every adjoint and tangent in a table is checked against dp's backward pass
(`backpropagate`, which can stop at any node) and forward mode (`dp.jvp`)."""

from __future__ import annotations

import doctest
import re

import numpy as np
import pytest

import dp
import dp.explain
from dp import Dual, Node
from dp.explain import explain_forward

SLIDES_TABLES = """\
Evaluation trace
  v0 = x1 = 2
  v1 = x2 = 3
  v2 = v0 · v1 = 2 · 3 = 6
  v3 = sin(v0) = sin(2) = 0.909
  v4 = v2 + v3 = 6 + 0.909 = 6.909
  y = v4 = 6.909
Adjoint trace (reverse mode)
  ∂y/∂v4 = 1
  ∂y/∂v3 = ∂y/∂v4 · ∂v4/∂v3 = 1 · 1 = 1
  ∂y/∂v2 = ∂y/∂v4 · ∂v4/∂v2 = 1 · 1 = 1
  ∂y/∂v1 = ∂y/∂v2 · ∂v2/∂v1 = 1 · v0 = 1 · 2 = 2
  ∂y/∂v0 = ∂y/∂v2 · ∂v2/∂v0 + ∂y/∂v3 · ∂v3/∂v0 = 1 · v1 + 1 · cos(v0) = 1 · 3 + 1 · cos(2) = 2.584"""

# Forward mode on the same program, seeded as the project sheet seeds: x1's seed 1, x2's 0. The
# dots are combining dots (U+0307) on every letter alike: v̇ has no precomposed form, so ẋ uses none.
DOT = "\u0307"
SHEET_TANGENT_TRACE = f"""\
Tangent trace (forward mode)
  v{DOT}0 = x{DOT}1 = 1 (seed)
  v{DOT}1 = x{DOT}2 = 0 (seed)
  v{DOT}2 = v{DOT}0 · v1 + v0 · v{DOT}1 = 1 · 3 + 2 · 0 = 3
  v{DOT}3 = cos(v0) · v{DOT}0 = cos(2) · 1 = -0.416
  v{DOT}4 = v{DOT}2 + v{DOT}3 = 3 + (-0.416) = 2.584"""


def slides_function(x1, x2):
    return x1 * x2 + np.sin(x1)


def slides_output() -> Node:
    return slides_function(Node(2.0, "x1"), Node(3.0, "x2"))


def network(rng: np.random.Generator):
    """A small layer with fan-out (h used twice), broadcasting (b) and a constant input (X)."""
    X = Node(rng.standard_normal((5, 3)))
    W = Node(rng.standard_normal((3, 4)), "W")
    b = Node(rng.standard_normal(4), "b")
    return layer(X, W, b), (X, W, b)


def layer(X, W, b):
    h = np.tanh(X @ W + b)
    return (h * h + h / 2).mean()


# --------------------------------------------------------------------------------------------
# The slides' example


def test_the_slides_tables_row_by_row():
    assert str(slides_output().explain()) == SLIDES_TABLES


def test_the_slides_numbers_are_dps_and_round_to_the_printed_digits():
    table = slides_output().explain()
    # the slides print v3 = 0.9, v4 = v5 = y = 6.9 and dy/dv0 = 2.58
    assert round(float(table.values["v3"]), 1) == 0.9
    assert round(float(table.values["v4"]), 1) == 6.9
    assert round(float(table.derivatives["v0"]), 2) == 2.58
    gradients = dp.grad(slides_function, argnum=(0, 1))(2.0, 3.0)
    assert float(table.derivatives["v0"]) == pytest.approx(gradients[0], abs=1e-15)
    assert float(table.derivatives["v1"]) == pytest.approx(gradients[1], abs=1e-15)


def test_the_project_sheets_tangent_trace_from_duals():
    table = explain_forward(slides_function, Dual(2.0, 1.0), Dual(3.0, 0.0))
    assert str(table) == SLIDES_TABLES.split("Adjoint trace")[0] + SHEET_TANGENT_TRACE


@pytest.mark.parametrize("seeds", [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])
def test_the_project_sheets_seeds_pick_the_derivative(seeds):
    """Seeds (1, 0) give dJ/dh, (0, 1) dJ/dtheta, and (1, 1) their sum (the sheet's question)."""
    table = explain_forward(slides_function, 2.0, 3.0, tangents=seeds)
    _, expected = dp.jvp(slides_function, (2.0, 3.0), seeds)
    gradient = dp.grad(slides_function, argnum=(0, 1))(2.0, 3.0)
    assert float(table.derivatives["v4"]) == pytest.approx(float(expected), abs=1e-15)
    assert float(table.derivatives["v4"]) == pytest.approx(seeds[0] * gradient[0] + seeds[1] * gradient[1])
    assert table.derivative_rows[-1].text.endswith(f"= {float(expected):.3f}".rstrip("0").rstrip("."))


def test_node_explain_with_tangents_is_the_same_forward_table():
    from_node = slides_output().explain(tangents={"x1": 1.0})  # x2 not named: seed 0
    from_duals = explain_forward(slides_function, Dual(2.0, 1.0), Dual(3.0, 0.0))
    assert str(from_node) == str(from_duals)


def test_markdown_has_every_row_as_math():
    table = slides_output().explain()
    markdown = table._repr_markdown_()
    assert "**Evaluation trace**" in markdown and "**Adjoint trace (reverse mode)**" in markdown
    for row in (*table.evaluation, *table.derivative_rows):
        assert f"- ${row.latex}$" in markdown
    assert r"- $v_{3} = \sin(v_{0}) = \sin(2) = 0.909$" in markdown
    assert (
        r"\frac{\partial y}{\partial v_{0}} = \frac{\partial y}{\partial v_{2}} \cdot "
        r"\frac{\partial v_{2}}{\partial v_{0}} + "
    ) in markdown
    forward = explain_forward(slides_function, Dual(2.0, 1.0), Dual(3.0, 0.0))._repr_markdown_()
    assert r"- $\dot{v}_{0} = \dot{x}_{1} = 1\quad\text{(seed)}$" in forward
    assert r"\dot{v}_{2} = \dot{v}_{0} \cdot v_{1} + v_{0} \cdot \dot{v}_{1}" in forward


# --------------------------------------------------------------------------------------------
# Any graph: every number is dp's


def test_every_adjoint_is_dps_backward_pass_at_that_node():
    output, _ = network(np.random.default_rng(0))
    table = output.explain()
    program = dp.explain._Program(output)
    checked = 0
    for node in program.nodes:
        if node.requires_grad:
            expected = dp.backpropagate(output, inputs=[node])[node]
            np.testing.assert_allclose(table.derivatives[f"v{program.index[node]}"], expected, rtol=1e-12, atol=1e-15)
            checked += 1
    assert checked == 9  # W, b and 7 operations (the constant X gets no adjoint)
    assert "v0" not in table.derivatives


def test_a_reused_node_sums_its_adjoints():
    x = Node(1.5, "x")
    table = (x * x * 2 - 1 / x).explain()
    row = table.derivative_rows[-1].text
    # x feeds the product twice and the division once: three contributions, summed
    chain = "∂y/∂v1 · ∂v1/∂v0 + ∂y/∂v1 · ∂v1/∂v0 + ∂y/∂v3 · ∂v3/∂v0"
    assert row.startswith(f"∂y/∂v0 = {chain} = ")
    assert "= 2 · v0 + 2 · v0 + (-1) · (-1 / v0^2) = " in row
    expected = 4 * 1.5 + 1 / 1.5**2  # d/dx (2x^2 - 1/x)
    assert float(table.derivatives["v0"]) == pytest.approx(expected, rel=1e-14)
    assert row.endswith(f"= {expected:.3f}")


def test_forward_tangents_agree_with_jvp_and_with_reverse_mode():
    rng = np.random.default_rng(1)
    output, (X, W, b) = network(rng)
    seeds = {"W": rng.standard_normal(W.shape), "b": rng.standard_normal(b.shape)}
    table = output.explain(tangents=seeds)
    gradients = output.grad()
    along = sum(np.sum(gradients[name] * seed) for name, seed in seeds.items())
    assert float(table.derivatives["v9"]) == pytest.approx(along, rel=1e-12)

    def f(W, b):
        return layer(X, W, b)

    forward = explain_forward(f, W.value, b.value, tangents=(seeds["W"], seeds["b"]))
    _, expected = dp.jvp(f, (W.value, b.value), (seeds["W"], seeds["b"]))
    assert float(forward.derivatives["v9"]) == pytest.approx(float(expected), rel=1e-12)


def test_matrices_are_shown_by_shape_and_a_few_entries():
    rng = np.random.default_rng(2)
    W = Node(rng.standard_normal((50, 40)), "W")
    table = (W @ Node(rng.standard_normal((40, 30)))).sum().explain()
    text = str(table)
    first = np.asarray(W.value).reshape(-1)[:3]
    assert "v0 = W = (50, 40) [" + ", ".join(f"{x:.3f}".rstrip("0").rstrip(".") for x in first) + ", ...]" in text
    assert "∂y/∂v0 = ∂y/∂v2 · ∂v2/∂v0 = ∂y/∂v2 @ v1ᵀ = (50, 40) [" in text
    assert max(len(line) for line in text.splitlines()) < 120
    assert r"\text{(50, 40)}\;[" in table._repr_markdown_()


def test_operations_without_notation_fall_back_to_vjp_and_jvp():
    x = Node(np.array([0.5, -1.0, 2.0]), "x")
    output = dp.ops.logsumexp(x)
    backward = output.explain()
    assert "∂y/∂v0 = ∂y/∂v1 · ∂v1/∂v0 = vjp[logsumexp](1) = (3,) [" in str(backward)
    assert "v1 = logsumexp(v0) = " in str(backward)
    np.testing.assert_allclose(backward.derivatives["v0"], output.grad()["x"], rtol=1e-14)
    forward = output.explain(tangents={"x": [1.0, 0.0, 0.0]})
    assert f"v{DOT}1 = jvp[logsumexp](v{DOT}0) = " in str(forward)


def test_constants_inline_as_numbers_or_as_rows():
    x = Node(np.array([1.0, 2.0]), "x")
    c = Node(np.array([3.0, 4.0]))
    text = str((x * 2 + c).sum().explain())
    assert "v2 = v0 · 2 = (2,) [2, 4]" in text  # a one-number constant is written as the number
    assert "v1 = (2,) [3, 4] (constant)" in text
    assert "∂y/∂v1" not in text  # no gradient reaches a constant


def test_subtraction_and_transpose_notation():
    a, b = Node(np.ones((2, 3)), "a"), Node(np.ones((3, 2)), "b")
    table = (a.T - b).sum().explain(tangents={"a": 1.0, "b": 1.0})
    text = str(table)
    assert "v2 = v0ᵀ = (3, 2)" in text
    assert f"v{DOT}3 = v{DOT}2 - v{DOT}1 = (3, 2) [0, 0, 0, ...]" in text


# --------------------------------------------------------------------------------------------
# Long graphs and bad input


def test_a_long_graph_shows_its_first_and_last_rows():
    x = Node(0.5, "x")
    y = x
    for _ in range(100):
        y = np.sin(y)
    table = y.explain(max_rows=10)
    text = str(table)
    assert "... 91 more rows ..." in text  # 101 rows, 10 shown
    assert table.evaluation[0].text == "v0 = x = 0.5"
    assert table.evaluation[-2].text.startswith("v100 = sin(v99) = ")
    assert table.derivative_rows[0].text == "∂y/∂v100 = 1"
    assert table.derivative_rows[-1].text.startswith("∂y/∂v0 = ")
    assert len(table.derivative_rows) == 11
    assert "- *... 91 more rows ...*" in table._repr_markdown_()
    assert float(table.derivatives["v0"]) == pytest.approx(float(y.grad()["x"]), rel=1e-13)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: Node(2.0, "x1").explain(), ValueError, "this Node is a leaf (x1 = 2)"),
        (lambda: (Node(2.0) * 3).explain(), ValueError, "computed from constants only"),
        (lambda: dp.explain.explain(3.0), TypeError, "expected a Node"),
        (lambda: (Node(np.ones(3), "x") * 2).explain(), ValueError, "the output has shape (3,), not one number"),
        (lambda: (Node(np.ones(3), "x") * 2).explain(np.ones(2)), ValueError, "gradient has shape (2,), but"),
        (lambda: slides_output().explain(tangents={"x3": 1.0}), ValueError, "tangents names ['x3']"),
        (lambda: slides_output().explain(2.0, tangents={"x1": 1.0}), ValueError, "not both"),
        (lambda: slides_output().explain(max_rows=0), ValueError, "max_rows must be a positive integer"),
        (lambda: explain_forward(lambda x: 3.0, 1.0, tangents=(1.0,)), TypeError, "f returned float, not a Node"),
        (lambda: explain_forward(lambda x: x, 1.0, tangents=(1.0,)), ValueError, "this Node is a leaf"),
        (lambda: explain_forward(slides_function, 2.0, 3.0), TypeError, "give every argument as a Dual"),
        (
            lambda: explain_forward(slides_function, 2.0, 3.0, tangents=(1.0,)),
            ValueError,
            "2 argument(s) but tangents has 1",
        ),
        (lambda: explain_forward(slides_function, 2.0, 3.0, tangents=1.0), TypeError, "tangents must be a tuple"),
    ],
)
def test_bad_input_is_explained(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_a_non_scalar_output_with_a_seed():
    x = Node(np.array([1.0, 2.0]), "x")
    table = (x * x).explain(np.array([1.0, -1.0]))
    assert str(table).splitlines()[5] == "  ∂y/∂v1 = seed = (2,) [1, -1]"
    np.testing.assert_allclose(table.derivatives["v0"], [2.0, -4.0])


def test_the_modules_examples_run():
    results = doctest.testmod(dp.explain, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted >= 2 and results.failed == 0
