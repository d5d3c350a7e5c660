"""The exercise checker: every exercise is solvable, every check can fail, and fails usefully.

For EVERY registered exercise: the reference solution passes, and the planted wrong answer fails
with a message that shows the failing input and the expected value. Then the checker's own
behaviour: the smallest failing case is the one reported, empty stubs are reported (not raised),
the `exercise` decorator's two modes, and the notebooks' stubs match the registry one to one.
What a verdict says about a mistake (what differs, the line that raised, ...) is tested in
tests/test_checker_messages.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dp.exercises import EXERCISES, Exercise, check, exercise, mode, run_check
from dp.exercises import solutions as S
from dp.exercises.checker import describe_inputs, show, show_answer
from dp.nn import Adam, BatchNorm, Momentum, RMSProp
from dp.node import Node

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.py"))
NAMES = sorted(EXERCISES)


# ------------------------------------------------------------------------------------------------
# Every exercise: solvable, and checkable


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_solution_passes(name):
    result = run_check(name, EXERCISES[name].solution)
    assert result.status == "correct", result.message
    assert result.message.startswith(f"✓ {name}: correct")
    assert result.cases == EXERCISES[name].sizes * EXERCISES[name].trials


@pytest.mark.parametrize("name", NAMES)
def test_the_planted_wrong_answer_fails_and_says_where(name):
    exercise_ = EXERCISES[name]
    result = run_check(name, exercise_.wrong)
    assert result.status in ("wrong", "error"), result.message
    assert result.message.startswith(f"✗ {name}:")
    assert _indented(describe_inputs(exercise_, result.inputs)) in result.message  # the failing input
    assert "  expected\n" + _indented(show_answer(exercise_, result.expected)) in result.message  # the right value
    assert exercise_.right_answer(result.inputs) is not None


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_stub_is_reported_not_raised(name):
    exercise_ = EXERCISES[name]

    def stub(*args, **kwargs):
        raise NotImplementedError

    if isinstance(exercise_.solution, type):  # a class: leave its method(s) empty
        methods = (
            [exercise_.method]
            if exercise_.method
            else [EXERCISES[judged].method for judged in exercise_.judges if EXERCISES[judged].method]
        )
        candidate = type("Stub", (exercise_.solution,), dict.fromkeys(methods, stub))
    else:
        candidate = stub
    result = run_check(name, candidate)
    assert result.status == "not implemented", result.message
    assert "not written yet" in result.message and "the expected value is" in result.message


def _indented(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def test_the_checks_are_deterministic():
    first = run_check("part1.dual_mul", EXERCISES["part1.dual_mul"].wrong)
    second = run_check("part1.dual_mul", EXERCISES["part1.dual_mul"].wrong)
    assert first.message == second.message


# ------------------------------------------------------------------------------------------------
# The checker's behaviour


@pytest.fixture
def toy_exercise():
    """A throwaway exercise: double a whole number; inputs are 1, 2, ... by size."""
    toy = Exercise(
        "toy.double",
        "double n",
        inputs=lambda rng, size: {"n": size},
        solution=lambda n: 2 * n,
        wrong=lambda n: n + 2,
        sizes=6,
        trials=2,
    )
    EXERCISES[toy.name] = toy
    yield toy
    del EXERCISES[toy.name]


def test_the_smallest_failing_case_is_reported(toy_exercise):
    result = run_check("toy.double", lambda n: 2 * n if n < 4 else 0)
    assert result.status == "wrong"
    assert result.inputs == {"n": 4}
    assert "n = 4" in result.message and "yours\n    0" in result.message and "expected\n    8" in result.message


def test_an_answer_that_raises_is_reported_with_its_input(toy_exercise):
    result = run_check("toy.double", lambda n: [][n])
    assert result.status == "error"
    assert "IndexError" in result.message and "n = 1" in result.message and "expected\n    2" in result.message


def test_an_answer_of_the_wrong_kind_is_wrong_not_a_crash(toy_exercise):
    assert run_check("toy.double", lambda n: "two").status == "wrong"
    assert run_check("toy.double", lambda n: None).status == "wrong"


def test_check_prints_one_verdict(toy_exercise, capsys):
    check("toy.double", lambda n: 2 * n)
    assert capsys.readouterr().out == "✓ toy.double: correct (12 random inputs, sizes 1 to 6)\n"


def test_the_parts_of_a_tuple_answer_are_labelled():
    """(value, d/da, d/db) is shown one labelled part a line, not as a bare tuple to decode."""
    result = run_check("part1.node_mul", EXERCISES["part1.node_mul"].wrong)
    yours, expected = result.message.split("  yours\n")[1].split("  expected\n")
    for shown in (yours, expected):
        assert [line.split("=")[0].strip() for line in shown.splitlines() if "=" in line] == ["value", "d/da", "d/db"]
    assert "    d/da  = " + show(result.expected[1]) in expected


def test_labelled_exercises_label_every_part_of_the_reference_answer():
    for name, exercise_ in EXERCISES.items():
        if exercise_.labels:
            inputs = next(exercise_.cases())
            answer = exercise_.right_answer(inputs)
            assert isinstance(answer, tuple) and len(answer) == len(exercise_.labels), name


def test_an_answer_that_does_not_fit_the_labels_is_shown_as_it_is(toy_exercise):
    labelled = Exercise(
        "toy.pair",
        "a pair",
        inputs=toy_exercise.inputs,
        solution=lambda n: (n, 2 * n),
        wrong=lambda n: (n,),
        labels=("n", "twice n"),
    )
    assert show_answer(labelled, (1, 2)) == "n       = 1\ntwice n = 2"
    assert show_answer(labelled, (1,)) == show((1,)) and show_answer(labelled, 3) == "3"


# ------------------------------------------------------------------------------------------------
# The stubs: DP_EXERCISES picks the student's answer (with stand-ins) or the reference


def test_the_mode_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("DP_EXERCISES", raising=False)
    assert mode() == "student"
    monkeypatch.setenv("DP_EXERCISES", "solutions")
    assert mode() == "solutions"
    monkeypatch.setenv("DP_EXERCISES", "answers")
    with pytest.raises(ValueError, match="DP_EXERCISES"):
        mode()


def test_solutions_mode_puts_the_reference_in_place(monkeypatch):
    monkeypatch.setenv("DP_EXERCISES", "solutions")

    @exercise("part1.unbroadcast")
    def unbroadcast(g, shape):
        raise NotImplementedError

    assert unbroadcast is S.unbroadcast

    @exercise("part1.dual_mul", "part1.dual_div", "part1.dual_exp")
    class Dual:
        pass

    assert Dual is S.Dual


def test_student_mode_lets_the_reference_stand_in_for_an_empty_stub(monkeypatch, capsys):
    monkeypatch.setenv("DP_EXERCISES", "student")

    @exercise("part1.unbroadcast")
    def unbroadcast(g, shape):
        raise NotImplementedError

    g = np.ones((2, 3))
    np.testing.assert_array_equal(unbroadcast(g, (1, 3)), [[2.0, 2.0, 2.0]])
    unbroadcast(g, (3,))
    assert capsys.readouterr().out.count("stands in") == 1  # said once
    assert run_check("part1.unbroadcast", unbroadcast).status == "not implemented"  # still judged


def test_student_mode_keeps_a_written_answer(monkeypatch):
    monkeypatch.setenv("DP_EXERCISES", "student")

    @exercise("part0.central_difference")
    def central_difference(f, x, h):
        return (f(x + h) - f(x)) / h  # written, but wrong: it must be used, and judged, as it is

    assert central_difference(lambda x: x * x, 1.0, 0.5) == 2.5
    assert run_check("part0.central_difference", central_difference).status == "wrong"


def test_student_mode_stands_in_method_by_method(monkeypatch, capsys):
    monkeypatch.setenv("DP_EXERCISES", "student")

    @exercise("part1.dual_mul", "part1.dual_div", "part1.dual_exp")
    class Dual(S.Dual):
        def __mul__(self, other):  # written
            other = self._lift(other)
            return Dual(self.value * other.value, self.value * other.tangent + self.tangent * other.value)

        def exp(self):  # not yet
            raise NotImplementedError

    out = (Dual(1.0, 1.0) * Dual(2.0)).exp()  # exp: the reference stands in, on the student's class
    assert type(out) is Dual and out.tangent == pytest.approx(2 * np.exp(2.0))
    assert "Dual.exp is not written yet" in capsys.readouterr().out
    assert run_check("part1.dual_mul", Dual).status == "correct"
    assert run_check("part1.dual_exp", Dual).status == "not implemented"


def test_an_integration_check_judges_the_parts_it_needs(monkeypatch):
    """node_figure1 uses unbroadcast, mul, exp and sum: none of them may be a stand-in there."""
    monkeypatch.setenv("DP_EXERCISES", "student")

    @exercise("part1.node_mul", "part1.node_exp", "part1.node_sum")
    class MiniNode(S.MiniNode):
        def exp(self):
            raise NotImplementedError

    assert run_check("part1.node_mul", MiniNode).status == "correct"
    assert run_check("part1.node_figure1", MiniNode).status == "not implemented"


def test_each_node_operation_is_judged_without_the_students_engine():
    """node_mul, node_exp and node_sum run the reference backward pass on the student's graph, so
    a broken engine or `unbroadcast` (the student's `grad` calls the student's `unbroadcast`)
    cannot fail a right operation; node_figure1 runs the student's whole engine, and says which
    answers it runs together."""

    class MiniNode(S.MiniNode):
        def grad(self, seed=1.0):  # as if the student's unbroadcast were broken
            raise ValueError("operands could not be broadcast together")

    for name in ("part1.node_mul", "part1.node_exp", "part1.node_sum"):
        assert run_check(name, MiniNode).status == "correct", name
    figure1 = run_check("part1.node_figure1", MiniNode)
    assert figure1.status == "error"
    assert (
        "This check uses your part1.unbroadcast, part1.node_mul, part1.node_exp and part1.node_sum; "
        "if one of their checks fails, fix that first."
    ) in figure1.message


def test_unbroadcast_gets_arrays_as_the_notebook_says():
    """ "A gradient of shape ...": g is always an array (0-d for shape ()), so g.ndim works."""
    gradients = [inputs["g"] for inputs in EXERCISES["part1.unbroadcast"].cases()]
    assert all(isinstance(g, np.ndarray) for g in gradients)
    assert any(g.ndim == 0 for g in gradients)

    def unbroadcast(g, shape):  # uses g.ndim and g.shape, no np.asarray
        while g.ndim > len(shape):
            g = g.sum(axis=0)
        for axis, size in enumerate(shape):
            if size == 1 and g.shape[axis] != 1:
                g = g.sum(axis=axis, keepdims=True)
        return g

    assert run_check("part1.unbroadcast", unbroadcast).status == "correct"


def test_the_huber_check_judges_the_trace_not_only_the_function():
    """The planted answer (a Python `if` per element) is right when run dynamically, so its check
    fails only because a trace freezes its branches; a mask made with plain NumPy is refused by the
    trace itself (it would be frozen)."""
    exercise_ = EXERCISES["part1.huber_traceable"]
    for inputs in exercise_.cases():
        out = exercise_.wrong(inputs["x"])
        value, grads = exercise_.right_answer(inputs)
        np.testing.assert_allclose(out.value, value, rtol=1e-12)
        np.testing.assert_allclose(out.grad(1)["x"], grads["x"], rtol=1e-12)
    assert "f took another path" in run_check("part1.huber_traceable", exercise_.wrong).message

    def frozen_mask(x):
        x = Node(x, "x")
        return np.where(np.abs(x.value) <= 1, 0.5 * x * x, abs(x) - 0.5).sum()

    result = run_check("part1.huber_traceable", frozen_mask)
    assert result.status == "error" and "would be frozen" in result.message


# ------------------------------------------------------------------------------------------------
# The notebooks and the registry match, and no notebook holds a solution


def _notebook_sources() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in NOTEBOOKS}


def test_every_exercise_is_checked_in_a_notebook_and_every_check_is_registered():
    checked = {
        name
        for source in _notebook_sources().values()
        for name in re.findall(r"^check\(\"([\w.]+)\"", source, re.MULTILINE)
    }
    assert checked == set(EXERCISES)


def test_every_stub_in_the_notebooks_is_empty():
    """Each @exercise stub body raises NotImplementedError after `# YOUR CODE HERE`."""
    stubs = 0
    for name, source in _notebook_sources().items():
        for match in re.finditer(r"^@exercise\((.*?)\)\n(?:class|def) .*?(?=^\S)", source, re.MULTILINE | re.DOTALL):
            block = match.group(0)
            names = re.findall(r"\"([\w.]+)\"", match.group(1))
            assert all(n in EXERCISES for n in names), (name, names)
            assert block.count("# YOUR CODE HERE") == len(names), (name, block)
            assert block.count("raise NotImplementedError") >= len(names), (name, block)
            stubs += len(names)
    assert stubs == len(EXERCISES) - 1  # node_figure1 checks the MiniNode of three other exercises


# ------------------------------------------------------------------------------------------------
# The references agree with dp's own layers and optimizers, as the notebooks say


def test_the_optimizer_references_take_dp_optimizer_steps():
    rng = np.random.default_rng(0)
    start, grads = rng.normal(size=4), [rng.normal(size=4) for _ in range(3)]
    cases = [
        (Momentum(learning_rate=0.1, momentum=0.9), lambda p, g, s, t: S.momentum_step(p, g, s[0], 0.1, 0.9)),
        (
            RMSProp(learning_rate=0.01, decay=0.9, eps=1e-8),
            lambda p, g, s, t: S.rmsprop_step(p, g, s[0], 0.01, 0.9, 1e-8),
        ),
        (Adam(learning_rate=0.01), lambda p, g, s, t: S.adam_step(p, g, s[0], s[1], t, 0.01, 0.9, 0.999, 1e-8)),
    ]
    for optimizer, reference in cases:
        params = {"p": start.copy()}
        mine, state = start.copy(), (np.zeros(4), np.zeros(4))
        for t, g in enumerate(grads, start=1):
            optimizer.step(params, {"p": g})
            mine, *new_state = reference(mine, g, state, t)
            state = tuple(new_state) + state[len(new_state) :]
            np.testing.assert_allclose(mine, params["p"], rtol=1e-12)


def test_the_batchnorm_reference_is_dp_batchnorm_in_training_mode():
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(6, 3))
    layer = BatchNorm(3)
    expected = layer(x).value
    got = S.batchnorm(Node(x), layer.gamma, layer.beta, layer.eps).value
    np.testing.assert_allclose(got, expected, rtol=1e-12)
