"""The checker: run a student's answer against the reference on random inputs and say what it found.

An `Exercise` is registered once (see `dp.exercises.catalog`) with everything the checker needs:
how to draw random inputs of a given size, the reference solution, how to run a candidate on the
inputs, what the right output is, how to compare two outputs, and a planted wrong answer that
the tests use to prove the check can fail.

`check(name, candidate)` prints one verdict:

    ✓ part1.dual_mul: correct (40 random inputs, sizes 1 to 8)
    ✗ part1.dual_mul: wrong answer. The smallest input where yours differs:   (then input, yours, expected)
    … part1.dual_mul: not written yet (the stub raises NotImplementedError). ...

Inputs are drawn from the smallest size up, so the first failure found is a smallest one.

`exercise(*names)` decorates the stub a student fills in; `DP_EXERCISES` picks what it returns
(see the package docstring in `dp/exercises/__init__.py`).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MODE_VARIABLE = "DP_EXERCISES"
MODES = ("student", "solutions")
#: How long one shown value may be before it is cut short.
SHOWN_LENGTH = 600


# ------------------------------------------------------------------------------------------------
# Exercises and the registry


def call(candidate: Callable[..., Any], inputs: Mapping[str, Any]) -> Any:
    """The default way to run a candidate: call it with the inputs, in order."""
    return candidate(*inputs.values())


def close(got: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Equal structure (tuples, lists, dicts), equal shapes, and numbers equal to `rtol`/`atol`."""
    if isinstance(expected, Mapping):
        return (isinstance(got, Mapping) and set(got) == set(expected)
                and all(close(got[key], expected[key], rtol, atol) for key in expected))
    if isinstance(expected, tuple | list):
        return (isinstance(got, tuple | list) and len(got) == len(expected)
                and all(close(g, e, rtol, atol) for g, e in zip(got, expected)))
    try:
        got_array = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return False
    expected_array = np.asarray(expected, dtype=float)
    return got_array.shape == expected_array.shape and bool(
        np.allclose(got_array, expected_array, rtol=rtol, atol=atol, equal_nan=True))


@dataclass(frozen=True)
class Exercise:
    """One exercise: what to draw, what to run, what is right.

    name      "part1.dual_mul": the part, then the exercise.
    title     one line shown in listings.
    inputs    (rng, size) -> dict name -> value; size runs from 1 up to `sizes`, and size 1 should
              give small, readable values (it is what a student sees first when something fails).
    solution  the reference: a drop-in replacement for the student's function or class.
    wrong     a planted wrong answer of the same kind, which the check must reject.
    run       (candidate, inputs) -> output: how to call a candidate (default: candidate(*inputs)).
    expected  inputs -> the right output (default: run the solution); a few exercises ask dp itself.
    compare   (got, expected) -> bool (default: `close`).
    method    for a class exercise: the method the student writes (the class is the candidate).
    describe  inputs -> text, when "name = value" lines would not be readable (graphs, functions).
    judges    the other exercises whose stubs this check judges too (no reference stands in for them).
    labels    for an answer that is a tuple: what each part is, e.g. ("value", "d/da", "d/db"); the
              messages then show one labelled part per line instead of a bare tuple.
    """

    name: str
    title: str
    inputs: Callable[[np.random.Generator, int], dict[str, Any]]
    solution: Any
    wrong: Any
    run: Callable[[Any, Mapping[str, Any]], Any] = call
    expected: Callable[[Mapping[str, Any]], Any] | None = None
    compare: Callable[[Any, Any], bool] = close
    method: str | None = None
    describe: Callable[[Mapping[str, Any]], str] | None = None
    judges: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    sizes: int = 8
    trials: int = 5

    def right_answer(self, inputs: Mapping[str, Any]) -> Any:
        if self.expected is not None:
            return self.expected(inputs)
        return self.run(self.solution, inputs)

    def cases(self, seed: int = 0):
        """The inputs the check tries, smallest sizes first (the same ones every time)."""
        rng = np.random.default_rng(seed)
        for size in range(1, self.sizes + 1):
            for _ in range(self.trials):
                yield self.inputs(rng, size)


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry; names are unique."""
    if exercise.name in EXERCISES:
        raise ValueError(f"exercise {exercise.name!r} is registered twice")
    EXERCISES[exercise.name] = exercise
    return exercise


def get(name: str) -> Exercise:
    """The registered exercise called `name`, or a KeyError listing the names there are."""
    try:
        return EXERCISES[name]
    except KeyError:
        raise KeyError(f"no exercise called {name!r}; there are: {', '.join(sorted(EXERCISES))}") from None


# ------------------------------------------------------------------------------------------------
# Checking


@dataclass
class Result:
    """What a check found. `status` is "correct", "wrong", "error" or "not implemented"."""

    name: str
    status: str
    message: str
    cases: int = 0
    inputs: Mapping[str, Any] | None = None
    got: Any = None
    expected: Any = None
    error: BaseException | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return self.status == "correct"

    def __str__(self) -> str:
        return self.message


#: The exercises whose stubs the running check judges: no reference may stand in for them.
_under_check: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("under_check", default=frozenset())


def run_check(name: str, candidate: Any, *, seed: int = 0) -> Result:
    """Check `candidate` on the exercise's inputs, smallest first; return the first failure or success."""
    exercise = get(name)
    token = _under_check.set(frozenset((name, *exercise.judges)))
    try:
        count = 0
        for inputs in exercise.cases(seed):
            count += 1
            expected = exercise.right_answer(inputs)
            try:
                got = exercise.run(candidate, inputs)
            except NotImplementedError as error:
                return Result(name, "not implemented", _not_written(exercise, inputs, expected),
                              count, inputs, None, expected, error)
            except Exception as error:  # the student's code failed: show where, do not raise
                return Result(name, "error", _raised(exercise, inputs, expected, error),
                              count, inputs, None, expected, error)
            try:
                same = exercise.compare(got, expected)
            except Exception:  # an answer of the wrong kind cannot be compared: it is wrong
                same = False
            if not same:
                return Result(name, "wrong", _differs(exercise, inputs, got, expected), count, inputs, got, expected)
    finally:
        _under_check.reset(token)
    sizes = f"sizes 1 to {exercise.sizes}" if exercise.sizes > 1 else "size 1"
    return Result(name, "correct", f"✓ {name}: correct ({count} random inputs, {sizes})", count)


def check(name: str, candidate: Any) -> None:
    """Check a student's answer to the exercise `name` and print the verdict (never raises)."""
    print(run_check(name, candidate).message)


def _not_written(exercise: Exercise, inputs: Mapping[str, Any], expected: Any) -> str:
    what = exercise.method or ("a part of it" if exercise.judges else "the function")
    return (f"… {exercise.name}: not written yet ({what} raises NotImplementedError).\n"
            f"  For example, for the input\n{_indent(describe_inputs(exercise, inputs))}\n"
            f"  the expected value is\n{_indent(show_answer(exercise, expected))}")


def _raised(exercise: Exercise, inputs: Mapping[str, Any], expected: Any, error: BaseException) -> str:
    return (f"✗ {exercise.name}: yours raised {type(error).__name__}: {_cut(str(error))}\n"
            f"  on the input\n{_indent(describe_inputs(exercise, inputs))}\n"
            f"  expected\n{_indent(show_answer(exercise, expected))}" + _judged_too(exercise))


def _differs(exercise: Exercise, inputs: Mapping[str, Any], got: Any, expected: Any) -> str:
    return (f"✗ {exercise.name}: wrong answer. The smallest input where yours differs:\n"
            f"{_indent(describe_inputs(exercise, inputs))}\n"
            f"  yours\n{_indent(show_answer(exercise, got))}\n"
            f"  expected\n{_indent(show_answer(exercise, expected))}" + _judged_too(exercise))


def _judged_too(exercise: Exercise) -> str:
    """For a check that runs several of the student's answers together: which ones, so that a
    failure is not blamed on the last one written (their own checks say which is wrong)."""
    if not exercise.judges:
        return ""
    return (f"\n  This check runs your answers to {', '.join(exercise.judges)} together:\n"
            "  if one of their own checks fails, fix that one first.")


def show_answer(exercise: Exercise, value: Any) -> str:
    """An answer (the student's or the expected one) as the messages show it.

    When the exercise labels the parts of a tuple answer, each part gets a line of its own
    under its label, e.g. ``value = ...`` then ``d/da  = ...``, so that nobody has to guess
    what the third number of a bare tuple means. Anything else (no labels, not a tuple, a tuple
    of the wrong length) is shown as it is.
    """
    labels = exercise.labels
    if not labels or not isinstance(value, tuple) or len(value) != len(labels):
        return show(value)
    width = max(len(label) for label in labels)
    return "\n".join(hanging(f"{label:<{width}} = ", show(part)) for label, part in zip(labels, value))


def describe_inputs(exercise: Exercise, inputs: Mapping[str, Any]) -> str:
    """The inputs of a case as the checker shows them."""
    if exercise.describe is not None:
        return _cut(exercise.describe(inputs))
    return "\n".join(hanging(f"{key} = ", show(value)) for key, value in inputs.items())


def hanging(prefix: str, text: str) -> str:
    """`prefix` then `text`, its later lines indented under the first one's start."""
    return prefix + text.replace("\n", "\n" + " " * len(prefix))


def show(value: Any) -> str:
    """A short, readable text for a value: arrays rounded, long texts cut."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        text = show(value.item())
    elif isinstance(value, np.ndarray):
        body = np.array2string(value, precision=6, separator=", ", threshold=40, edgeitems=3, prefix="array(")
        text = f"array({body})"
    elif isinstance(value, float | np.floating):
        text = f"{float(value):.10g}"
    elif isinstance(value, tuple) and not hasattr(value, "_fields"):
        text = _joined("(", [show(item) for item in value], ",)" if len(value) == 1 else ")")
    elif isinstance(value, list):
        text = _joined("[", [show(item) for item in value], "]")
    elif isinstance(value, Mapping):
        text = _joined("{", [hanging(f"{key!r}: ", show(item)) for key, item in value.items()], "}")
    else:
        text = repr(value)
    return _cut(text)


def _joined(opening: str, parts: list[str], closing: str) -> str:
    """Items on one line when they fit on one, else one item per line, aligned after `opening`."""
    if not any("\n" in part for part in parts):
        return opening + ", ".join(parts) + closing
    pad = " " * len(opening)
    return opening + (",\n" + pad).join(part.replace("\n", "\n" + pad) for part in parts) + closing


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


# ------------------------------------------------------------------------------------------------
# The stubs in the notebooks


def mode() -> str:
    """"student" (the default) or "solutions", from the environment variable DP_EXERCISES."""
    value = os.environ.get(MODE_VARIABLE, "student").strip().lower() or "student"
    if value not in MODES:
        raise ValueError(f"{MODE_VARIABLE}={value!r}: expected one of {', '.join(MODES)}")
    return value


def exercise(*names: str) -> Callable[[Any], Any]:
    """Mark a student's function, or class, as the answer to the exercises `names`.

    With DP_EXERCISES=solutions it returns the reference solution instead. Otherwise it returns
    the student's own answer, made safe to use in later cells: while a part still raises
    NotImplementedError, the reference stands in for it (with a note, printed once), so the
    notebook runs from top to bottom. `check` always judges the student's own code.
    """
    if not names:
        raise TypeError("exercise() needs the name of at least one exercise")
    exercises = [get(name) for name in names]
    solutions = {id(ex.solution) for ex in exercises}
    if len(solutions) != 1:
        raise ValueError(f"exercises {names} have different reference solutions: decorate them one by one")
    solution = exercises[0].solution

    def decorate(answer: Any) -> Any:
        if mode() == "solutions":
            return solution
        if inspect.isclass(answer):
            for ex in exercises:
                if ex.method is None:
                    raise TypeError(f"{ex.name} asks for a function, not a class")
                setattr(answer, ex.method, _standing_in(ex, getattr(answer, ex.method),
                                                        getattr(solution, ex.method),
                                                        f"{answer.__name__}.{ex.method}"))
            return answer
        if len(exercises) != 1 or exercises[0].method is not None:
            raise TypeError(f"{', '.join(names)}: decorate a function with exactly one function exercise")
        return _standing_in(exercises[0], answer, solution, answer.__name__)

    return decorate


def _standing_in(ex: Exercise, answer: Callable[..., Any], reference: Callable[..., Any], label: str):
    """`answer`, except that the reference answers for it while it raises NotImplementedError."""
    answer = getattr(answer, "__wrapped__", answer)  # decorating twice must not stack wrappers
    noted = False

    @functools.wraps(answer)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal noted
        try:
            return answer(*args, **kwargs)
        except NotImplementedError:
            if ex.name in _under_check.get():
                raise  # the check is judging this very answer
            if not noted:
                noted = True
                print(f"(note: {label} is not written yet, so the reference solution of {ex.name} "
                      "stands in for it below)")
            return reference(*args, **kwargs)

    wrapper.__exercise__ = ex.name
    return wrapper


# ------------------------------------------------------------------------------------------------
# Helpers for registering exercises


def named(function: Callable[..., Any], text: str) -> Callable[..., Any]:
    """`function` with a readable repr (`text`), for functions that are inputs of an exercise."""
    return _Named(function, text)


class _Named:
    def __init__(self, function: Callable[..., Any], text: str) -> None:
        self.function, self.text = function, text
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return self.text


def nice(rng: np.random.Generator, size: int, shape: tuple[int, ...] = (), low: float = -3, high: float = 3,
         avoid_zero: bool = False) -> Any:
    """Random numbers for `size`: small whole numbers at size 1 (easy to read), floats after."""
    if size == 1:
        choices = [v for v in range(math.ceil(low), math.floor(high) + 1) if not (avoid_zero and v == 0)]
        values = rng.choice(np.array(choices, dtype=float), size=shape)
    else:
        values = rng.uniform(low, high, size=shape)
        if avoid_zero:
            values = np.where(np.abs(values) < 0.25, np.copysign(0.25, values) + values, values)
    return float(values) if shape == () else values
