"""Graph pictures: the DOT dp writes parses and renders (graphviz-pure, from the dev extra), shows
what the issue asks, summarises a 3-layer network, and fails clearly without a renderer."""

from __future__ import annotations

import json
import re
import subprocess
import warnings
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

import dp
import dp.graph
from dp import Node


def renderer() -> str:
    program = dp.graph._renderer()
    assert program is not None, "graphviz-pure (dev extra) or Graphviz's dot must be installed for these tests"
    return program


def layout(dot: str) -> dict:
    """Graphviz's own reading of the DOT text (its JSON output): proof that it parses."""
    result = subprocess.run([renderer(), "-Tjson"], input=dot, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def labels(parsed: dict) -> list[str]:
    return [node["label"] for node in parsed.get("objects", [])]


def three_layer_network(hand_written: bool = True):
    """The paper's kind of network, with sigmoid and softmax written out by hand: many nodes."""
    rng = np.random.default_rng(0)
    x = Node(rng.standard_normal((8, 5)))
    y = Node(np.eye(3)[rng.integers(0, 3, 8)])
    sizes = [5, 6, 6, 3]
    h = x
    for layer, (m, n) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        h = h @ Node(rng.standard_normal((m, n)), f"W{layer}") + Node(np.zeros(n), f"b{layer}")
        if layer < 3:
            h = 1 / (1 + np.exp(-h)) if hand_written else h.sigmoid()
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return -(y * (e / e.sum(axis=1, keepdims=True)).log()).sum() / 8


def test_dot_shows_names_operations_and_shapes_and_parses():
    a = Node(np.ones((2, 3)), "A")
    b = Node(np.ones((1, 3)), "B")
    out = (a * b).exp().sum()
    dot = dp.to_dot(out)
    assert dot.startswith("digraph dp {") and dot.rstrip().endswith("}")
    parsed = layout(dot)
    texts = labels(parsed)
    assert "A\\n(2, 3)" in texts and "B\\n(1, 3)" in texts
    assert "multiply\\n(2, 3)" in texts and "exp\\n(2, 3)" in texts and "sum\\nscalar" in texts
    assert len(parsed["edges"]) == 4  # A -> mul, B -> mul, mul -> exp, exp -> sum


def test_after_a_backward_pass_the_picture_shows_where_gradients_went():
    w = Node(np.ones((3, 2)), "W")
    x = Node(np.ones((4, 3)))  # a constant: no gradient reaches it
    loss = (x @ w).tanh().sum()
    before = dp.to_dot(loss)
    assert "#d4f5d0" not in before and "grad" not in before
    after = dp.to_dot(loss, grads=loss.grad())
    line = next(line for line in after.splitlines() if 'label="W' in line)
    assert "grad (3, 2)" in line and "#d4f5d0" in line
    constant = next(line for line in after.splitlines() if 'label="const' in line)
    assert "#d4f5d0" not in constant and "dashed" in constant
    by_node = dp.to_dot(loss, grads=dp.backpropagate(loss))  # the engine's dict, keyed by Node
    assert "grad (3, 2)" in by_node
    layout(after)


def test_a_three_layer_network_is_summarised_into_a_readable_picture():
    loss = three_layer_network()
    full = dp.to_dot(loss, max_nodes=1000)
    summary = dp.to_dot(loss, max_nodes=25)
    boxes = len(re.findall(r"^  n\d+ \[", summary, flags=re.M))
    assert len(re.findall(r"^  n\d+ \[", full, flags=re.M)) > 25 >= boxes
    texts = labels(layout(summary))
    for name in ["W1", "b1", "W2", "b2", "W3", "b3"]:  # the parameters always stay visible
        assert any(text.startswith(name + "\\n") for text in texts), name
    assert any("1 / _" in text and "->" in text for text in texts)  # the hand-written sigmoid, one box
    assert "summarised" in summary


def test_svg_renders_and_jupyter_shows_nodes_as_pictures():
    loss = three_layer_network(hand_written=False)
    svg = dp.to_svg(loss, grads=loss.grad())
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg")
    assert "W3" in svg and "log" in svg
    assert loss._repr_svg_().lstrip().startswith("<?xml")


def test_names_that_need_escaping():
    x = Node(2.0, 'a "quoted" \\ name\nwith a newline')
    parsed = layout(dp.to_dot(x * 3))
    assert len(parsed["objects"]) == 3


def test_without_a_renderer_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setattr(dp.graph, "_candidates", lambda: [None, None, None])
    node = Node(np.ones(2), "x") * 2
    with pytest.raises(RuntimeError, match="pip install graphviz-pure"):
        dp.to_svg(node)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert node._repr_svg_() is None  # Jupyter falls back to the text repr
    assert any("graphviz-pure" in str(warning.message) for warning in caught)
    assert "digraph" in dp.to_dot(node)  # DOT needs no renderer


def test_a_failing_renderer_is_reported(monkeypatch, tmp_path):
    program = tmp_path / "graphviz-pure"
    program.write_text("#!/bin/sh\necho 'Error: broken renderer' >&2\nexit 3\n")
    program.chmod(0o755)
    monkeypatch.setattr(dp.graph, "_candidates", lambda: [str(program)])
    with pytest.raises(RuntimeError, match="broken renderer"):
        dp.to_svg(Node(1.0, "x") * 2)


def test_deep_graphs_need_no_recursion():
    x = Node(0.5, "x")
    y = x
    for _ in range(20_000):
        y = y * 1.0
    dot = dp.to_dot(y, max_nodes=10)
    assert dot.count(" -> n") < 10  # the chain collapsed into a few boxes


def test_bad_input():
    with pytest.raises(TypeError, match="expected a Node"):
        dp.to_dot(np.ones(2))
