"""The exercises of the course chapter on recurrent networks: reference solutions and their checks.

The student writes the LSTM cell from the lecture slides' gate equation, g = x·Wx + h·Wh + b,
then the loop that runs it over a sequence. Both checks compare the values *and* the gradients
(for the inputs, the state and every parameter) with dp's own `LSTMCell` and `LSTM`, given the
same parameter Nodes, so an answer is right exactly when it is dp's layer written out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dp.exercises.checker import Exercise, WrongForm, hanging, nice, parts_of, register, shape_difference, show
from dp.nn.recurrent import LSTM, LSTMCell
from dp.node import Node
from dp.ops import stack

__all__ = ["lstm_step", "lstm_sequence"]


# ------------------------------------------------------------------------------------------------
# Reference solutions


def lstm_step(x: Any, h: Any, c: Any, Wx: Any, Wh: Any, b: Any) -> tuple[Any, Any]:
    """One LSTM step. With the gate equation [i, f, g, o] = x·Wx + h·Wh + b (blocks of H columns):
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g), h' = sigmoid(o) * tanh(c'); returns (h', c')."""
    H = Wh.shape[0]
    gates = x @ Wx + h @ Wh + b
    input_gate = gates[:, :H].sigmoid()
    forget_gate = gates[:, H : 2 * H].sigmoid()
    candidate = gates[:, 2 * H : 3 * H].tanh()
    output_gate = gates[:, 3 * H :].sigmoid()
    c = forget_gate * c + input_gate * candidate
    return output_gate * c.tanh(), c


def lstm_sequence(x: Any, Wx: Any, Wh: Any, b: Any) -> tuple[Any, tuple[Any, Any]]:
    """The LSTM over sequences x (N, T, in), from h = c = 0: (outputs (N, T, H), the last (h, c)),
    with one `lstm_step` per time step; outputs[:, t] is the h after step t."""
    n, steps = x.shape[0], x.shape[1]
    h = c = np.zeros((n, Wh.shape[0]))
    outputs = []
    for t in range(steps):
        h, c = lstm_step(x[:, t], h, c, Wx, Wh, b)
        outputs.append(h)
    return stack(outputs, axis=1), (h, c)


# ------------------------------------------------------------------------------------------------
# What the checks run


def _nodes(inputs: Mapping[str, Any], names: tuple[str, ...]) -> list[Node]:
    """The inputs `names` as fresh Nodes under their own names, so that `grad` reports each."""
    return [Node(np.array(inputs[name], dtype=float), name) for name in names]


def _results(h: Any, c: Any, outputs: Any, inputs: Mapping[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    """The values, and the gradients for the inputs `names` of a weighted sum of them (weights drawn
    with the inputs, so that every element of every output counts, each differently); an input the
    answer does not depend on gets a zero gradient, a named leaf of the answer's own is no matter."""
    loss = (c * inputs["seed_c"]).sum() + ((h if outputs is None else outputs) * inputs["seed_h"]).sum()
    grads = loss.grad(1)
    values = (h.value, c.value) if outputs is None else (outputs.value, h.value, c.value)
    return (*values, {name: grads.get(name, np.zeros(np.shape(inputs[name]))) for name in names})


def _nodes_of(answer: Any, parts: dict[str, Any]) -> tuple[Node, ...]:
    """The Nodes of an answer of the form `parts` names (part -> an output gradient of its shape), in order,
    or a WrongForm that says how the answer differs from it."""
    answer = parts_of(answer, tuple(parts))
    for (name, seed), part in zip(parts.items(), answer):
        if not isinstance(part, Node):
            raise WrongForm(f"{name} is a {type(part).__name__}, not a Node (built with Node operations)")
        if part.shape != np.shape(seed):
            raise WrongForm(f"{name}: {shape_difference(part.shape, np.shape(seed))}")
    return answer


_STEP_INPUTS = ("x", "h", "c", "Wx", "Wh", "b")
_SEQUENCE_INPUTS = ("x", "Wx", "Wh", "b")


def _run_step(candidate: Any, inputs: Mapping[str, Any]) -> tuple[Any, ...]:
    answer = candidate(*_nodes(inputs, _STEP_INPUTS))
    h, c = _nodes_of(answer, {"h'": inputs["seed_h"], "c'": inputs["seed_c"]})
    return _results(h, c, None, inputs, _STEP_INPUTS)


def _dp_cell(x: Node, h: Node, c: Node, Wx: Node, Wh: Node, b: Node) -> tuple[Any, Any]:
    """dp's own LSTMCell, with the given Nodes as its parameters."""
    cell = LSTMCell(Wx.shape[0], Wh.shape[0])
    cell.Wx, cell.Wh, cell.b = Wx, Wh, b
    return cell(x, (h, c))


def _run_sequence(candidate: Any, inputs: Mapping[str, Any]) -> tuple[Any, ...]:
    outputs, state = parts_of(candidate(*_nodes(inputs, _SEQUENCE_INPUTS)), ("outputs", "(h, c)"))
    (outputs,) = _nodes_of((outputs,), {"outputs": inputs["seed_h"]})
    h, c = _nodes_of(state, {"h": inputs["seed_c"], "c": inputs["seed_c"]})
    return _results(h, c, outputs, inputs, _SEQUENCE_INPUTS)


def _dp_layer(x: Node, Wx: Node, Wh: Node, b: Node) -> tuple[Any, tuple[Any, Any]]:
    """dp's own LSTM sequence layer, with the given Nodes as its parameters."""
    layer = LSTM(Wx.shape[0], Wh.shape[0])
    layer.Wx, layer.Wh, layer.b = Wx, Wh, b
    return layer(x)


def _describe(by_seed_h: str, by_seed_c: str) -> Any:
    """The inputs as "name = value" lines, then what the gradients are gradients of, naming the
    parts of the answer that `seed_h` and `seed_c` weigh."""

    def describe(inputs: Mapping[str, Any]) -> str:
        lines = [hanging(f"{name} = ", show(value)) for name, value in inputs.items()]
        return "\n".join([*lines, f"(gradients of sum({by_seed_h} * seed_h) + sum({by_seed_c} * seed_c))"])

    return describe


def _parameters(rng: np.random.Generator, size: int, n_in: int, hidden: int) -> dict[str, Any]:
    # Weights in (-1, 1) (whole numbers at size 1): gates neither all saturated nor all near 0.5.
    return {
        "Wx": nice(rng, size, (n_in, 4 * hidden), -1, 1),
        "Wh": nice(rng, size, (hidden, 4 * hidden), -1, 1),
        "b": nice(rng, size, (4 * hidden,), -1, 1),
    }


def _step_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    # The batch and the input width differ from size 2 on: x.shape[0] taken for the other fails.
    n, n_in, hidden = 1 + size // 3, 1 + (size + 1) // 3 + size % 2, 1 + size // 2
    return {
        "x": nice(rng, size, (n, n_in)),
        "h": nice(rng, size, (n, hidden), -1, 1),
        "c": nice(rng, size, (n, hidden)),
        **_parameters(rng, size, n_in, hidden),
        "seed_h": nice(rng, size, (n, hidden)),
        "seed_c": nice(rng, size, (n, hidden)),
    }


def _sequence_inputs(rng: np.random.Generator, size: int) -> dict[str, Any]:
    n, steps, n_in, hidden = 1 + size // 4, 1 + (size + 1) // 2, 1 + (size + 2) // 3, 1 + size // 3
    return {
        "x": nice(rng, size, (n, steps, n_in)),
        **_parameters(rng, size, n_in, hidden),
        "seed_h": nice(rng, size, (n, steps, hidden)),
        "seed_c": nice(rng, size, (n, hidden)),
    }


# ------------------------------------------------------------------------------------------------
# The planted wrong answers: the mistakes students make most


def _gates_in_another_order(x, h, c, Wx, Wh, b):
    """The blocks of columns read as i, f, o, g, not as dp's (and PyTorch's) i, f, g, o: the right
    step on weights whose g and o blocks are swapped."""
    H = Wh.shape[0]
    swapped = np.r_[: 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]
    return lstm_step(x, h, c, Wx[:, swapped], Wh[:, swapped], b[swapped])


def _memory_reset_every_step(x, Wx, Wh, b):
    """h is carried from step to step, but the cell state c starts from zeros at every step."""
    n, steps = x.shape[0], x.shape[1]
    h = zeros = np.zeros((n, Wh.shape[0]))
    outputs = []
    for t in range(steps):
        h, c = lstm_step(x[:, t], h, zeros, Wx, Wh, b)
        outputs.append(h)
    return stack(outputs, axis=1), (h, c)


register(
    Exercise(
        "part2.lstm_step",
        "one LSTM step from the gate equation: (h, c) -> (h', c'), gates i, f, g, o",
        inputs=_step_inputs,
        solution=lstm_step,
        wrong=_gates_in_another_order,
        run=_run_step,
        expected=lambda inputs: _run_step(_dp_cell, inputs),
        describe=_describe("h'", "c'"),
        labels=("h'", "c'", "gradients"),
    )
)

register(
    Exercise(
        "part2.lstm_sequence",
        "the LSTM over a sequence: one step per time step, from zero state",
        inputs=_sequence_inputs,
        solution=lstm_sequence,
        wrong=_memory_reset_every_step,
        run=_run_sequence,
        expected=lambda inputs: _run_sequence(_dp_layer, inputs),
        describe=_describe("outputs", "c"),
        labels=("outputs", "h", "c", "gradients"),
        judges=("part2.lstm_step",),
    )
)
