"""What the checker tells a student: each mistake is planted, and its verdict must teach.

Every test makes one mistake a student makes (a difference in the 6th digit, a column where a
vector is expected, a forgotten `return`, a factor 2, a flipped sign, a crash in their own line,
a misspelled exercise name, an endless loop, an answer of another form than asked) and reads the
verdict that `run_check` or `check` gives for it.
"""

from __future__ import annotations

import math
import signal
import sys

import numpy as np
import pytest

from dp.exercises import EXERCISES, Exercise, check, exercise, run_check
from dp.exercises import attention as A
from dp.exercises import bayes_by_backprop as B
from dp.exercises import checker
from dp.exercises import convolution as C
from dp.exercises import differentiable_programs as D
from dp.exercises import recurrent as R
from dp.exercises import solutions as S
from dp.exercises.checker import show
from dp.exercises.differentiable_programs import newton_step
from dp.node import Node
from dp.ops import softplus, stack


@pytest.fixture(autouse=True)
def no_reported_errors():
    """Each test starts as if no check had run yet (a reported error lets the reference stand in)."""
    checker._raised_in_check.clear()
    yield
    checker._raised_in_check.clear()


@pytest.fixture
def toy_exp():
    """A throwaway exercise: np.exp of a vector of 1 + size numbers."""
    toy = Exercise(
        "toy.exp",
        "np.exp of a vector",
        inputs=lambda rng, size: {"x": rng.uniform(0, 1, size + 1)},
        solution=np.exp,
        wrong=np.sin,
        sizes=3,
        trials=1,
    )
    EXERCISES[toy.name] = toy
    yield toy
    del EXERCISES[toy.name]


@pytest.fixture
def toy_pair():
    """A throwaway exercise whose answer is a labelled tuple: (x², 2x)."""
    toy = Exercise(
        "toy.square",
        "x squared and its slope",
        inputs=lambda rng, size: {"x": float(size)},
        solution=lambda x: (x * x, 2 * x),
        wrong=lambda x: (x * x, x),
        labels=("value", "slope"),
        sizes=2,
        trials=1,
    )
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
        y[1] *= 1 + 4e-6  # one entry off in the 6th digit: shown rounded, both would read the same
        return y

    result = run_check("toy.exp", nearly)
    found = _what_differs(result.message)
    x = result.inputs["x"]
    assert "1 of 2 entries differ" in found
    assert f"the largest difference is {abs(nearly(x)[1] - np.exp(x[1])):.3g} (relative 4e-06) at index [1]" in found
    assert f"yours {float(nearly(x)[1])!r}, expected {float(np.exp(x[1]))!r}" in found  # every digit


def test_the_largest_relative_difference_is_placed_too():
    fixed = Exercise(
        "toy.fixed_exp",
        "np.exp at 0 and 3",
        inputs=lambda rng, size: {"x": np.array([0.0, 3.0])},
        solution=np.exp,
        wrong=np.sin,
        sizes=1,
        trials=1,
    )
    EXERCISES[fixed.name] = fixed
    try:
        found = _what_differs(run_check(fixed.name, lambda x: np.exp(x) + [0.5, 1.0]).message)
    finally:
        del EXERCISES[fixed.name]
    assert found.strip() == (
        f"2 of 2 entries differ; the largest difference is 1 (relative 0.0498) at index [1]: "
        f"yours {float(np.exp(3.0)) + 1.0!r}, expected {float(np.exp(3.0))!r}; "
        "the largest relative difference is 0.5 at index [0]: yours 1.5, expected 1.0"
    )


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
    assert (
        f"yours has shape ({n}, 1), expected shape ({n},): one axis of length 1 too many "
        "(a column where a vector is expected?"
    ) in _what_differs(result.message)


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
        _gradient(X, y, theta)  # computed, never returned

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
        return -2 * X @ residual  # X, not X.T: the shapes do not fit

    result = run_check("part0.least_squares_gradient", least_squares_gradient)
    assert result.status == "error"
    line = least_squares_gradient.__code__.co_firstlineno + 2
    assert (
        f"  at line {line} of test_checker_messages.py, in least_squares_gradient:\n"
        "      return -2 * X @ residual  # X, not X.T: the shapes do not fit\n"
    ) in result.message
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
        np.exp(x)  # forgot to return

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
        "✗ part1.dual_mull: there is no exercise of that name; did you mean part1.dual_mul"
    )
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

    EXERCISES["toy.broken"] = Exercise("toy.broken", "a broken check", inputs=broken_inputs, solution=abs, wrong=abs)
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
    assert (
        note.count(
            "Dual.exp raised TypeError here too, as its check above said, so the reference "
            "solution of part1.dual_exp stands in for it below"
        )
        == 1
    )
    assert run_check("part1.dual_exp", Dual).status == "error"  # the check still judges the student's


def test_a_check_that_passes_again_ends_the_stand_in(dual_with_math_exp):
    Dual = dual_with_math_exp
    run_check("part1.dual_exp", Dual)
    run_check("part1.dual_exp", S.Dual)  # as if the student fixed exp and checked again
    with pytest.raises(TypeError):
        Dual(np.zeros(2), np.ones(2)).exp()


# ------------------------------------------------------------------------------------------------
# An answer that runs too long, or leaves: stopped, and said so


def _forgets_to_update(f, theta, x0, tol=1e-12, max_steps=50):
    x = x0
    while True:  # x is never updated: the step never shrinks
        _, step = newton_step(f, x, theta)
        if abs(float(step)) < tol:
            return x


def test_an_endless_loop_is_stopped_and_named():
    result = run_check("part1.newton_root", _forgets_to_update, time_limit=0.5)
    assert result.status == "timeout" and not result
    assert result.message.startswith(
        "✗ part1.newton_root: stopped after 0.5 s, the time a check may take: an endless loop?"
    )
    assert "The input it was working on:\n    f = lambda x, theta:" in result.message


def test_an_endless_loop_that_catches_everything_is_stopped_too():
    """The interruption comes again, every second, until it lands outside the student's `try`."""

    def catches_all(f, theta, x0, tol=1e-12, max_steps=50):
        while True:
            _, step = newton_step(f, x0, theta)
            try:
                if abs(float(step)) < tol:
                    return x0
            except BaseException:  # a bare `except:` swallows the checker's interruption too
                pass

    assert run_check("part1.newton_root", catches_all, time_limit=0.3).status == "timeout"


def test_the_time_limit_leaves_the_previous_alarm_as_it_was():
    def mine(signum, frame):
        raise AssertionError("not this one")

    previous = signal.signal(signal.SIGALRM, mine)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        run_check("part1.newton_root", _forgets_to_update, time_limit=0.2)
        assert signal.getsignal(signal.SIGALRM) is mine
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_off_the_main_thread_the_time_is_checked_between_cases(toy_exp):
    """No SIGALRM there: a slow answer is stopped after the case that ran past the limit."""
    import threading
    import time

    found = []

    def slow(x):
        time.sleep(0.2)
        return np.exp(x)

    worker = threading.Thread(target=lambda: found.append(run_check("toy.exp", slow, time_limit=0.1)))
    worker.start()
    worker.join()
    assert found[0].status == "timeout" and found[0].cases == 1


def test_sys_exit_in_an_answer_is_a_verdict_not_an_exit(capsys):
    check("part1.newton_root", lambda *args: sys.exit(3))
    assert capsys.readouterr().out.startswith("✗ part1.newton_root: yours raised SystemExit: 3")


@pytest.mark.parametrize("name", [None, 3, ["part1.dual_mul"]])
def test_a_name_that_is_no_text_is_a_verdict_not_a_bug_of_the_course(name, capsys):
    result = run_check(name, S.Dual)
    assert result.status == "unknown"
    assert result.message == (
        f'✗ {name!r}: the name of an exercise is a text, such as "part1.dual_mul" (in quotes), not {name!r}'
    )
    check(name, S.Dual)
    assert "bug in the course" not in capsys.readouterr().out


def test_a_deeply_nested_answer_is_shown_cut_short():
    def nested(n_in, n_out):
        answer = 1.0
        for _ in range(5000):
            answer = [answer]
        return answer

    result = run_check("part2.xavier_std", nested)
    assert result.status == "wrong" and "<a list nested too deep to show>" in result.message


def test_a_whole_float_input_is_shown_as_a_float():
    assert show(1.0) == "1.0" and show(-2.0) == "-2.0" and show(2.5) == "2.5" and show(3) == "3"


# ------------------------------------------------------------------------------------------------
# Numbers are real numbers: no text that reads as one, no complex number


@pytest.mark.parametrize("disguise", [lambda x: repr(float(x)), lambda x: complex(x, 5)])
def test_a_number_in_disguise_is_not_the_number(disguise):
    result = run_check("part2.xavier_std", lambda n_in, n_out: disguise(S.xavier_std(n_in, n_out)))
    assert result.status == "wrong", result.message


def test_a_complex_derivative_is_not_a_real_one():
    result = run_check(
        "part1.implicit_derivative", lambda f, x_star, theta: D.implicit_derivative(f, x_star, theta) + 3j
    )
    assert result.status == "wrong" and "yours is complex (-0.3113473907280795+3j), not real numbers" in result.message


# ------------------------------------------------------------------------------------------------
# An answer of another form: said plainly, before the check works on it


def test_a_forgotten_return_is_hinted_at_before_the_check_works_on_the_answer():
    result = run_check("part1.hvp_forward_over_reverse", lambda loss, theta, v: None)
    assert result.status == "wrong"
    assert "yours is None: does your function `return` its result?" in _what_differs(result.message)


def test_a_none_part_of_an_answer_is_named():
    result = run_check("part2.attention", lambda q, k, v, mask: (A.attention(q, k, v, mask)[0], None))
    assert result.message.startswith("✗ part2.attention: wrong answer: part 2 of yours is None")


def test_an_answer_that_is_no_node_is_told_so_not_that_it_raised():
    result = run_check("part2.gaussian_kl", lambda mu, rho, prior_std: 3.0)
    assert result.status == "wrong"
    assert result.message.startswith("✗ part2.gaussian_kl: wrong answer: yours returned a float, not a Node")
    assert "raised" not in result.message and "\n  yours\n    3.0\n" in result.message


@pytest.mark.parametrize(
    ("name", "answer", "said"),
    [
        ("part2.lstm_step", lambda *args: R.lstm_step(*args)[0], "yours returned a Node, expected the pair (h', c')"),
        ("part2.lstm_step", lambda *args: [R.lstm_step(*args)[0]], "yours returned 1 part, expected the pair (h', c')"),
        (
            "part2.attention",
            lambda *args: A.attention(*args)[0],
            "yours returned a Node, expected the pair (output, weights)",
        ),
        ("part1.flight", lambda *args: D.flight(*args)[0], "yours returned a Node, expected the pair (distance, path)"),
        (
            "part1.newton_root",
            lambda f, theta, *rest: float(theta.value),
            "with theta a Node, yours returned float, not a Node that depends on theta",
        ),
    ],
)
def test_an_answer_of_another_form_is_told_what_form_is_asked(name, answer, said):
    result = run_check(name, answer)
    assert result.status == "wrong" and result.message.startswith(f"✗ {name}: wrong answer: {said}"), result.message


def test_an_answer_the_check_cannot_use_is_wrong_not_raised():
    """The check's own work on what the answer returned fails: that is not the student's error."""
    toy = Exercise(
        "toy.first",
        "the first of a pair",
        inputs=lambda rng, size: {"x": 1.0},
        solution=lambda x: (x, x),
        wrong=lambda x: 0,
        run=lambda candidate, inputs: candidate(1.0)[0],
        sizes=1,
        trials=1,
    )
    EXERCISES[toy.name] = toy
    try:
        result = run_check(toy.name, lambda x: 5)
    finally:
        del EXERCISES[toy.name]
    assert result.status == "wrong"
    assert result.message.startswith("✗ toy.first: wrong answer: the check could not use it (TypeError: ")
    assert "\n  yours\n    5\n" in result.message


def test_an_output_of_the_wrong_shape_says_the_shape_only():
    result = run_check("part2.max_pool2d", lambda x, k: C.im2col(x, k, k, 1))
    assert result.message.startswith(
        "✗ part2.max_pool2d: wrong answer: yours has shape (1, 3, 3, 4), expected shape (1, 1, 2, 2)"
    )
    assert "not computed" not in result.message and "str" not in result.message


def test_outputs_stacked_along_the_wrong_axis_are_named():
    def lstm_sequence(x, Wx, Wh, b):
        h = c = np.zeros((x.shape[0], Wh.shape[0]))
        outputs = []
        for t in range(x.shape[1]):
            h, c = R.lstm_step(x[:, t], h, c, Wx, Wh, b)
            outputs.append(h)
        return stack(outputs, axis=0), (h, c)  # (T, N, H), not (N, T, H)

    message = run_check("part2.lstm_sequence", lstm_sequence).message
    assert message.startswith(
        "✗ part2.lstm_sequence: wrong answer: outputs: yours has shape (2, 1, 1), "
        "expected shape (1, 2, 1): the right axes in another order?"
    )


def test_a_kl_with_keepdims_gets_the_keepdims_hint():
    def kl_divergence(mu, log_var):
        return -0.5 * (1 + log_var - mu * mu - log_var.exp()).sum(axis=-1, keepdims=True)

    message = run_check("part2.kl_divergence", kl_divergence).message
    assert "one axis of length 1 too many (a column where a vector is expected? .ravel() or keepdims=False)" in message
    assert "sum over axis -1" not in message


def test_the_vae_gradients_say_what_they_are_gradients_of():
    message = run_check("part2.kl_divergence", EXERCISES["part2.kl_divergence"].wrong).message
    assert "gradients of sum(KL * seed): d/dmu = " in message


# ------------------------------------------------------------------------------------------------
# Right answers with leaves of their own are right


def test_a_named_leaf_of_the_answers_own_is_no_matter():
    def lstm_sequence(x, Wx, Wh, b):
        h = Node(np.zeros((x.shape[0], Wh.shape[0])), "h0")
        c = Node(np.zeros((x.shape[0], Wh.shape[0])), "c0")
        outputs = []
        for t in range(x.shape[1]):
            h, c = R.lstm_step(x[:, t], h, c, Wx, Wh, b)
            outputs.append(h)
        return stack(outputs, axis=1), (h, c)

    def conv2d(x, W, b, stride, padding):
        return C.conv2d(x, W, b, stride, padding) + 0 * Node(np.zeros(1), "zero")

    def gaussian_kl(mu, rho, prior_std):
        return B.gaussian_kl(mu, rho, prior_std) + 0 * Node(0.0, "zero")

    assert run_check("part2.lstm_sequence", lstm_sequence).status == "correct"
    assert run_check("part2.conv2d", conv2d).status == "correct"
    assert run_check("part2.gaussian_kl", gaussian_kl).status == "correct"


# ------------------------------------------------------------------------------------------------
# What the checks of the second half must catch


def _newton_fixed_count(f, theta, x0, tol=1e-12, max_steps=50):
    x = x0
    for _ in range(50):  # plenty of steps, but no stopping rule: never a RuntimeError
        x, _ = newton_step(f, x, theta)
    return x


def test_newton_without_a_stopping_rule_is_told_to_raise():
    result = run_check("part1.newton_root", _newton_fixed_count)
    assert result.status == "wrong"
    assert (
        "newton must raise a RuntimeError; yours returned a root (a fixed number of steps is no stopping rule)"
        in result.message
    )


def test_newton_that_works_on_nodes_only_fails_on_a_plain_theta():
    def newton(f, theta, x0, tol=1e-12, max_steps=50):
        x = x0
        for _ in range(max_steps):
            x, step = newton_step(f, x, theta)
            if abs(step.value) < tol:  # a Node's value: a plain theta has none
                return x
        raise RuntimeError("no convergence")

    result = run_check("part1.newton_root", newton)
    assert result.status == "error"
    assert (
        "AttributeError" in result.message
        and "(this was the second call, with theta the plain float)" in result.message
    )


def test_newton_that_takes_the_steps_from_x_value_is_right():
    """Only the last step needs theta: its derivative at the root is the implicit function theorem's."""

    def newton(f, theta, x0, tol=1e-12, max_steps=50):
        x = x0
        for _ in range(max_steps):
            x, step = newton_step(f, x.value if isinstance(x, Node) else x, theta)
            if abs(float(step)) < tol:
                return x
        raise RuntimeError("no convergence")

    assert run_check("part1.newton_root", newton).status == "correct"


def test_newton_with_a_fixed_five_steps_fails_from_a_far_start():
    def newton(f, theta, x0, tol=1e-12, max_steps=50):
        x = x0
        for _ in range(5):
            x, _ = newton_step(f, x, theta)
        return x

    assert run_check("part1.newton_root", newton).status == "wrong"


def test_a_flight_without_its_path_or_its_error_is_wrong():
    def without_origin(angle, drag, speed=20.0, dt=0.01, max_steps=100_000):
        distance, path = D.flight(angle, drag, speed, dt, max_steps)
        return distance, path[1:]

    def never_raising(angle, drag, speed=20.0, dt=0.01, max_steps=100_000):
        return D.flight(angle, drag, speed, dt, 10**9)

    def path_as_a_list(angle, drag, speed=20.0, dt=0.01, max_steps=100_000):
        distance, path = D.flight(angle, drag, speed, dt, max_steps)
        return distance, path.tolist()

    assert "path: yours has shape" in _what_differs(run_check("part1.flight", without_origin).message)
    assert "flight must raise a RuntimeError; yours returned" in run_check("part1.flight", never_raising).message
    assert (
        "the path is a list, not a NumPy array of floats of shape (n, 2)"
        in run_check("part1.flight", path_as_a_list).message
    )


def test_max_pooling_that_needs_sides_that_are_multiples_of_k_fails():
    def max_pool2d(x, k):
        n, c, height, width = x.shape
        return x.reshape(n, c, height // k, k, width // k, k).max(axis=(3, 5))

    assert run_check("part2.max_pool2d", max_pool2d).status == "error"


def test_attention_without_its_scale_fails_on_the_first_input():
    result = run_check("part2.attention", A.MISTAKES["no 1/sqrt(d) scale"])
    assert result.cases == 1 and result.inputs["q"].shape[-1] >= 2


# ------------------------------------------------------------------------------------------------
# Hints only where they hold


def test_a_tuple_in_the_wrong_order_is_called_swapped():
    found = _what_differs(run_check("part2.lstm_step", lambda *args: R.lstm_step(*args)[::-1]).message)
    assert found.splitlines()[1] == "    h' and c' are swapped: yours has them in the other order"


def test_more_differing_parts_are_counted_in_words():
    found = _what_differs(run_check("part2.lstm_step", lambda *args: R.lstm_step(*args)[::-1]).message)
    assert "    2 more parts differ" in found.splitlines()
    toy = Exercise(
        "toy.four",
        "four numbers",
        inputs=lambda rng, size: {"x": 1.0},
        solution=lambda x: (x, x, x, x),
        wrong=lambda x: (0, 0, 0, 0),
        sizes=1,
        trials=1,
    )
    EXERCISES[toy.name] = toy
    try:
        found = _what_differs(run_check(toy.name, toy.wrong).message)
    finally:
        del EXERCISES[toy.name]
    assert found.splitlines()[-1] == "    1 more part differs"


def test_a_sign_hint_needs_most_differing_entries_flipped(toy_exp):
    def mostly_off(x):
        y = np.exp(x) + 1.0
        y[-1] = -np.exp(x[-1])  # one flipped, the others off by one
        return y

    result = run_check("toy.exp", mostly_off)
    assert result.inputs["x"].size == 2 and "wrong sign" not in _what_differs(result.message)


def test_a_flipped_kernel_gets_no_sign_hint_from_chance():
    assert "wrong sign" not in run_check("part2.conv2d", EXERCISES["part2.conv2d"].wrong).message


def test_no_math_hint_for_an_error_not_of_maths():
    def gaussian_kl(mu, rho, prior_std):
        return (math.log(prior_std) - np.log(softplus(rho)) + mu.size()).sum()  # size is no method

    message = run_check("part2.gaussian_kl", gaussian_kl).message
    assert "TypeError" in message and "hint: math." not in message


def test_the_math_hint_for_a_node_given_to_math():
    def gaussian_kl(mu, rho, prior_std):
        return (math.log(softplus(rho)) + mu).sum()

    assert "hint: math.log takes one number" in run_check("part2.gaussian_kl", gaussian_kl).message


# ------------------------------------------------------------------------------------------------
# What the answer prints, and what dp warns, does not flood the verdict


def test_what_an_answer_prints_is_shown_once_before_the_verdict(toy_exp, capsys):
    def noisy(x):
        print("x is", x.shape)
        return np.exp(x)

    check("toy.exp", noisy)
    out = capsys.readouterr().out
    assert out.count("x is") == 1
    assert out.startswith(
        "(what your code printed on the first input, of the 3 inputs it ran on:)\nx is (2,)\n✓ toy.exp"
    )


def test_what_a_wrong_answer_printed_is_that_of_the_input_it_failed_on(toy_exp, capsys):
    def noisy(x):
        print("size", x.size)
        return np.exp(x) if x.size < 3 else x

    check("toy.exp", noisy)
    assert capsys.readouterr().out.startswith(
        "(what your code printed on that input, of the 2 inputs it ran on:)\nsize 3\n✗ toy.exp: wrong answer"
    )


def test_an_answer_cut_off_from_its_inputs_gets_no_warning_but_zero_gradients(recwarn):
    result = run_check(
        "part2.gaussian_kl", lambda mu, rho, prior_std: B.gaussian_kl(mu.detach(), rho.detach(), prior_std)
    )
    assert result.status == "wrong" and not [w for w in recwarn if "no named leaf" in str(w.message)]
    assert "gradients['mu']" in _what_differs(result.message)


def test_a_runtime_error_where_none_is_asked_for_is_the_answers_own():
    def newton(f, theta, x0, tol=1e-12, max_steps=50):
        raise RuntimeError("gave up at once")

    result = run_check("part1.newton_root", newton)
    assert result.status == "error" and "yours raised RuntimeError: gave up at once" in result.message
