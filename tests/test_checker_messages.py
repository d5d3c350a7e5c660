"""What the checker tells a student: each mistake is planted, and its verdict must teach.

Every test makes one mistake a student makes (a difference in the 6th digit, a column where a
vector is expected, a forgotten `return`, a factor 2, a flipped sign, a crash in their own line,
a misspelled exercise name) and reads the verdict that `run_check` or `check` gives for it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dp.exercises import EXERCISES, Exercise, check, exercise, run_check
from dp.exercises import checker
from dp.exercises import solutions as S


@pytest.fixture(autouse=True)
def no_reported_errors():
    """Each test starts as if no check had run yet (a reported error lets the reference stand in)."""
    checker._raised_in_check.clear()
    yield
    checker._raised_in_check.clear()


@pytest.fixture
def toy_exp():
    """A throwaway exercise: np.exp of a vector of 1 + size numbers."""
    toy = Exercise("toy.exp", "np.exp of a vector", inputs=lambda rng, size: {"x": rng.uniform(0, 1, size + 1)},
                   solution=np.exp, wrong=np.sin, sizes=3, trials=1)
    EXERCISES[toy.name] = toy
    yield toy
    del EXERCISES[toy.name]


@pytest.fixture
def toy_pair():
    """A throwaway exercise whose answer is a labelled tuple: (x², 2x)."""
    toy = Exercise("toy.square", "x squared and its slope", inputs=lambda rng, size: {"x": float(size)},
                   solution=lambda x: (x * x, 2 * x), wrong=lambda x: (x * x, x), labels=("value", "slope"),
                   sizes=2, trials=1)
    EXERCISES[toy.name] = toy
    yield toy
    del EXERCISES[toy.name]


def _what_differs(message: str) -> str:
    assert "  what differs\n" in message, message
    return message.split("  what differs\n")[1]


# ------------------------------------------------------------------------------------------------
# A wrong number: by how much, and where


def test_a_difference_in_the_sixth_digit_is_spelled_out(toy_exp):
    def nearly(x):
        y = np.exp(x)
        y[1] *= 1 + 4e-6   # one entry off in the 6th digit: shown rounded, both would read the same
        return y

    result = run_check("toy.exp", nearly)
    found = _what_differs(result.message)
    x = result.inputs["x"]
    assert "1 of 2 entries differ" in found
    assert f"the largest difference is {abs(nearly(x)[1] - np.exp(x[1])):.3g} (relative 4e-06) at index [1]" in found
    assert f"yours {float(nearly(x)[1])!r}, expected {float(np.exp(x[1]))!r}" in found  # every digit


def test_the_largest_relative_difference_is_placed_too():
    fixed = Exercise("toy.fixed_exp", "np.exp at 0 and 3", inputs=lambda rng, size: {"x": np.array([0.0, 3.0])},
                     solution=np.exp, wrong=np.sin, sizes=1, trials=1)
    EXERCISES[fixed.name] = fixed
    try:
        found = _what_differs(run_check(fixed.name, lambda x: np.exp(x) + [0.5, 1.0]).message)
    finally:
        del EXERCISES[fixed.name]
    assert found.strip() == (
        f"2 of 2 entries differ; the largest difference is 1 (relative 0.0498) at index [1]: "
        f"yours {float(np.exp(3.0)) + 1.0!r}, expected {float(np.exp(3.0))!r}; "
        "the largest relative difference is 0.5 at index [0]: yours 1.5, expected 1.0")


def test_a_part_of_a_tuple_answer_is_named_and_the_others_said_to_match(toy_pair):
    found = _what_differs(run_check("toy.square", EXERCISES["toy.square"].wrong).message)
    assert found.splitlines()[0] == "    slope differs; value matches"
    assert "slope: yours is expected / 2: a factor 2 missing?" in found


def test_the_parts_of_a_dual_number_are_named_by_their_fields():
    found = _what_differs(run_check("part1.dual_exp", EXERCISES["part1.dual_exp"].wrong).message)
    assert found.splitlines()[0] == "    tangent differs; value matches"


def test_a_dict_of_gradients_names_the_key_that_differs():
    message = run_check("part1.one_layer_step", EXERCISES["part1.one_layer_step"].wrong).message
    assert "gradients['b'] differs; gradients['W'] matches" in _what_differs(message)


# ------------------------------------------------------------------------------------------------
# Shape and dtype


def _gradient(X, y, theta):
    return -2 * X.T @ (y - X @ theta)


def test_a_column_where_a_vector_is_expected_is_named():
    result = run_check("part0.least_squares_gradient", lambda X, y, theta: _gradient(X, y, theta)[:, None])
    n = result.expected.shape[0]
    assert (f"yours has shape ({n}, 1), expected shape ({n},): one axis of length 1 too many "
            "(a column where a vector is expected?") in _what_differs(result.message)


def test_a_transposed_matrix_is_named():
    message = run_check("part3.to_torch_state", EXERCISES["part3.to_torch_state"].wrong).message
    assert "transposed? (.T)" in _what_differs(message)


def test_an_integer_answer_where_floats_are_expected_is_named(toy_exp):
    found = _what_differs(run_check("toy.exp", lambda x: np.exp(x).astype(int)).message)
    assert "yours has dtype int64, expected float64: whole numbers cannot hold the fractions" in found


def test_an_answer_that_is_no_number_says_what_it_is(toy_exp):
    found = _what_differs(run_check("toy.exp", lambda x: "e to the x").message)
    assert found.strip().startswith("yours is a str ('e to the x'), expected an array of shape (2,)")


# ------------------------------------------------------------------------------------------------
# The common slips: a forgotten return, a factor 2, a sign


def test_a_forgotten_return_is_hinted_at():
    def least_squares_gradient(X, y, theta):
        _gradient(X, y, theta)   # computed, never returned

    message = run_check("part0.least_squares_gradient", least_squares_gradient).message
    assert "  yours\n    None\n" in message
    assert "yours is None: does your function `return` its result?" in _what_differs(message)


def test_a_forgotten_return_is_hinted_at_in_a_part_of_the_answer(toy_pair):
    found = _what_differs(run_check("toy.square", lambda x: (x * x, None)).message)
    assert "slope: yours is None: does your function `return` its result?" in found


def test_a_missing_factor_2_is_hinted_at():
    message = run_check("part0.least_squares_gradient", EXERCISES["part0.least_squares_gradient"].wrong).message
    assert _what_differs(message).strip() == "yours is expected / 2: a factor 2 missing?"


def test_a_factor_2_too_many_is_hinted_at():
    message = run_check("part0.least_squares_gradient", lambda X, y, theta: 2 * _gradient(X, y, theta)).message
    assert _what_differs(message).strip() == "yours is 2 × expected: a factor 2 too many?"


def test_a_flipped_sign_is_hinted_at():
    message = run_check("part0.least_squares_gradient", lambda X, y, theta: -_gradient(X, y, theta)).message
    assert _what_differs(message).strip() == "yours is −expected: the sign is flipped"


def test_entries_with_the_wrong_sign_are_counted(toy_exp):
    def one_flipped(x):
        y = np.exp(x)
        y[-1] = -y[-1]
        return y

    assert "1 entry has the wrong sign" in _what_differs(run_check("toy.exp", one_flipped).message)


def test_a_check_of_its_own_kind_adds_no_numeric_findings():
    """A topological order is judged by its own rule: differences of numbers would mislead."""
    message = run_check("part1.topological_order", EXERCISES["part1.topological_order"].wrong).message
    assert message.startswith("✗ part1.topological_order: wrong answer") and "what differs" not in message


# ------------------------------------------------------------------------------------------------
# An answer that raises: the student's own line


def test_the_students_line_that_raised_is_shown_not_dps_internals():
    def least_squares_gradient(X, y, theta):
        residual = y - X @ theta
        return -2 * X @ residual   # X, not X.T: the shapes do not fit

    result = run_check("part0.least_squares_gradient", least_squares_gradient)
    assert result.status == "error"
    line = least_squares_gradient.__code__.co_firstlineno + 2
    assert (f"  at line {line} of test_checker_messages.py, in least_squares_gradient:\n"
            "      return -2 * X @ residual   # X, not X.T: the shapes do not fit\n") in result.message
    assert "catalog.py" not in result.message and "checker.py" not in result.message


def test_math_exp_on_an_array_is_hinted_at():
    class Dual(S.Dual):
        def exp(self):
            return Dual(math.exp(self.value), self.tangent * math.exp(self.value))

    message = run_check("part1.dual_exp", Dual).message
    assert "return Dual(math.exp(self.value), self.tangent * math.exp(self.value))" in message
    assert "hint: math.exp takes one number, not an array: np.exp works on both" in message


def test_a_none_inside_the_students_code_is_hinted_at(toy_exp):
    def helper(x):
        np.exp(x)   # forgot to return

    message = run_check("toy.exp", lambda x: helper(x) * 1.0).message
    assert "TypeError" in message
    assert "hint: a value here is None: does a function it calls forget to `return`?" in message


def test_without_a_frame_of_the_students_no_line_is_invented():
    """The planted answers live in dp's catalog: no line of them is the student's."""
    message = run_check("part1.huber_traceable", EXERCISES["part1.huber_traceable"].wrong).message
    assert "  at line" not in message


# ------------------------------------------------------------------------------------------------
# check never raises


def test_a_misspelled_name_gets_the_close_names_not_a_keyerror(capsys):
    result = run_check("part1.dual_mull", S.Dual)
    assert result.status == "unknown" and not result
    assert result.message.startswith(
        "✗ part1.dual_mull: there is no exercise of that name; did you mean part1.dual_mul")
    check("part1.dual_mull", S.Dual)
    assert capsys.readouterr().out == result.message + "\n"


def test_a_stub_decorated_with_a_misspelled_name_names_the_close_ones():
    """Only the author of a notebook writes @exercise(...): a typo there is an error, not a verdict."""
    with pytest.raises(KeyError, match="did you mean part1.dual_mul"):
        exercise("part1.dual_mull")


def test_a_name_like_no_other_lists_the_exercises_of_its_part():
    message = run_check("part0.gradient_of_everything", None).message
    assert "the exercises are: part0.central_difference, part0.least_squares_gradient" in message
    assert "part1." not in message


def test_a_check_that_breaks_itself_still_prints_a_verdict(capsys):
    def broken_inputs(rng, size):
        raise RuntimeError("no inputs today")

    EXERCISES["toy.broken"] = Exercise("toy.broken", "a broken check", inputs=broken_inputs,
                                       solution=abs, wrong=abs)
    try:
        check("toy.broken", abs)
    finally:
        del EXERCISES["toy.broken"]
    out = capsys.readouterr().out
    assert out.startswith("✗ toy.broken: the check itself failed (RuntimeError: no inputs today)")


def test_an_answer_whose_repr_raises_is_still_shown(toy_exp):
    class Unprintable:
        def __repr__(self):
            raise ValueError("no")

    message = run_check("toy.exp", lambda x: Unprintable()).message
    assert "<a Unprintable, whose repr raised ValueError>" in message


# ------------------------------------------------------------------------------------------------
# One mistake, one message: once a check has said that an answer raises, later cells run


@pytest.fixture
def dual_with_math_exp(monkeypatch):
    """A student's Dual whose exp uses math.exp: right on numbers, a TypeError on arrays."""
    monkeypatch.setenv("DP_EXERCISES", "student")

    @exercise("part1.dual_mul", "part1.dual_div", "part1.dual_exp")
    class Dual(S.Dual):
        def exp(self):
            return Dual(math.exp(self.value), self.tangent * math.exp(self.value))

    return Dual


def test_an_error_no_check_has_reported_is_raised(dual_with_math_exp):
    with pytest.raises(TypeError):
        dual_with_math_exp(np.zeros(3), np.ones(3)).exp()


def test_after_its_check_reported_the_error_the_reference_stands_in(dual_with_math_exp, capsys):
    Dual = dual_with_math_exp
    assert run_check("part1.dual_exp", Dual).status == "error"
    z = Dual(np.linspace(-1, 1, 5), np.ones(5))
    out = z.exp()
    np.testing.assert_allclose(out.tangent, np.exp(z.value))
    z.exp()
    note = capsys.readouterr().out
    assert note.count("Dual.exp raised TypeError here too, as its check above said, so the reference "
                      "solution of part1.dual_exp stands in for it below") == 1
    assert run_check("part1.dual_exp", Dual).status == "error"   # the check still judges the student's


def test_a_check_that_passes_again_ends_the_stand_in(dual_with_math_exp):
    Dual = dual_with_math_exp
    run_check("part1.dual_exp", Dual)
    run_check("part1.dual_exp", S.Dual)   # as if the student fixed exp and checked again
    with pytest.raises(TypeError):
        Dual(np.zeros(2), np.ones(2)).exp()
