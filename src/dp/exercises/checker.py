"""The checker: run a student's answer against the reference on random inputs and say what it found.

An `Exercise` is registered once (see `dp.exercises.catalog`) with everything the checker needs:
how to draw random inputs of a given size, the reference solution, how to run a candidate on the
inputs, what the right output is, how to compare two outputs, and a planted wrong answer that
the tests use to prove the check can fail.

`check(name, candidate)` prints one verdict:

    ✓ part1.dual_mul: correct (40 random inputs, sizes 1 to 8)
    ✗ part1.dual_mul: wrong answer. The smallest input where yours differs:   (then input, yours, expected)
    … part1.dual_mul: not written yet (the stub raises NotImplementedError). ...

Inputs are drawn from the smallest size up, so the first failure found is a smallest one. A wrong
answer's verdict then says what differs and by how much (largest absolute and relative difference,
and where; which parts of a tuple answer differ and which match; a shape or dtype that is not the
expected one) and hints at the common slips: a forgotten `return` (None), a factor of 2, a flipped
sign. An answer that raises is shown with the line of the student's own code that raised; an
answer that returns something of another form than asked (not a Node, too few parts, another
shape) is told so plainly (`WrongForm`), not as an error of theirs. A check that runs past
`TIME_LIMIT` seconds is stopped and reported as a likely endless loop. `check` never raises, not
even for a misspelled exercise name: it names the close ones instead.

`exercise(*names)` decorates the stub a student fills in; `DP_EXERCISES` picks what it returns
(see the package docstring in `dp/exercises/__init__.py`).
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import functools
import inspect
import io
import math
import os
import re
import signal
import sysconfig
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MODE_VARIABLE = "DP_EXERCISES"
MODES = ("student", "solutions")
#: How long one shown value may be before it is cut short.
SHOWN_LENGTH = 600
#: How many seconds one check (all its cases) may take before it is stopped as an endless loop.
#: Generous: the slowest right answer in the course takes under half a second. A call of
#: `run_check` may set another (`time_limit=`).
TIME_LIMIT = 20.0


# ------------------------------------------------------------------------------------------------
# Exercises and the registry


def call(candidate: Callable[..., Any], inputs: Mapping[str, Any]) -> Any:
    """The default way to run a candidate: call it with the inputs, in order."""
    return candidate(*inputs.values())


def close(got: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Equal structure (tuples, lists, dicts), equal shapes, and numbers equal to `rtol`/`atol`.

    Numbers must be real numbers: a text that reads as one, or a complex number, is not one
    (NumPy would parse the one and drop the imaginary part of the other). Texts equal texts.
    """
    if isinstance(expected, Mapping):
        return (
            isinstance(got, Mapping)
            and set(got) == set(expected)
            and all(close(got[key], expected[key], rtol, atol) for key in expected)
        )
    if isinstance(expected, tuple | list):
        return (
            isinstance(got, tuple | list)
            and len(got) == len(expected)
            and all(close(g, e, rtol, atol) for g, e in zip(got, expected))
        )
    if isinstance(expected, str):
        return isinstance(got, str) and got == expected
    try:
        got_array = np.asarray(got)
    except Exception:  # an object NumPy cannot hold (a Node refuses): not numbers
        return False
    if got_array.dtype.kind not in "biuf":
        return False
    expected_array = np.asarray(expected, dtype=float)
    return got_array.shape == expected_array.shape and bool(
        np.allclose(got_array, expected_array, rtol=rtol, atol=atol, equal_nan=True)
    )


@dataclass(frozen=True)
class Exercise:
    """One exercise: what to draw, what to run, what is right.

    name      "part1.dual_mul": the part, then the exercise.
    title     one line shown in listings.
    inputs    (rng, size) -> dict name -> value; size runs from 1 up to `sizes`, and size 1 should
              give small, readable values (it is what a student sees first when something fails).
    solution  the reference: a drop-in replacement for the student's function or class.
    wrong     a planted wrong answer of the same kind, which the check must reject.
    run       (candidate, inputs) -> output: how to call a candidate (default: candidate(*inputs)); it
              raises `WrongForm` for an answer of another form than asked (`parts_of` helps).
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
    """The registered exercise called `name`, or a KeyError naming the ones meant most likely."""
    try:
        return EXERCISES[name]
    except KeyError:
        raise KeyError(f"no exercise called {name!r}; {_suggestions(name)}") from None


def _suggestions(name: str) -> str:
    """The registered names closest to a misspelled one, else those of its part, else all of them."""
    close_names = difflib.get_close_matches(name, EXERCISES, n=3, cutoff=0.6)
    if close_names:
        return f"did you mean {' or '.join(close_names)}?"
    part = name.split(".")[0] + "."
    same_part = sorted(known for known in EXERCISES if known.startswith(part))
    return f"the exercises are: {', '.join(same_part or sorted(EXERCISES))}"


# ------------------------------------------------------------------------------------------------
# Checking


class WrongForm(Exception):
    """An answer of another form than the exercise asks for: not a Node, a tuple of the wrong
    length, an output of the wrong shape. An exercise's `run` raises it with a plain sentence
    ("yours returned a float, not a Node ..."); the verdict is "wrong", not "yours raised"."""


@dataclass
class Result:
    """What a check found. `status` is "correct", "wrong", "error" (the answer raised), "not
    implemented", "timeout" (the check ran past its time limit) or "unknown" (no exercise has
    that name)."""

    name: str
    status: str
    message: str
    cases: int = 0
    inputs: Mapping[str, Any] | None = None
    got: Any = None
    expected: Any = None
    error: BaseException | None = field(default=None, repr=False)
    #: What the student's code printed on the input the verdict is about, with a line saying so.
    printed: str = ""

    def __bool__(self) -> bool:
        return self.status == "correct"

    def __str__(self) -> str:
        return self.message


#: The exercises whose stubs the running check judges: no reference may stand in for them.
_under_check: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("under_check", default=frozenset())

#: The exercises whose latest check found that the student's answer raises. The verdict has said so
#: already, so where the same answer raises again in a later cell, the reference stands in for it
#: (see `_standing_in`): one mistake, one message, and the notebook still runs to the end.
_raised_in_check: set[str] = set()


def run_check(name: str, candidate: Any, *, seed: int = 0, time_limit: float | None = None) -> Result:
    """Check `candidate` on the exercise's inputs, smallest first; return the first failure or success.

    An unknown `name` (or one that is no text at all) is a Result too (status "unknown"), whose
    message names the close ones. The whole check may take `time_limit` seconds (default
    `TIME_LIMIT`); an answer still running then is stopped, and the verdict asks about an
    endless loop.
    """
    if not isinstance(name, str):
        return Result(
            str(name),
            "unknown",
            f'✗ {name!r}: the name of an exercise is a text, such as "part1.dual_mul" (in quotes), not {name!r}',
        )
    if name not in EXERCISES:
        return Result(name, "unknown", f"✗ {name}: there is no exercise of that name; {_suggestions(name)}")
    limit = TIME_LIMIT if time_limit is None else time_limit
    result = _run_cases(EXERCISES[name], candidate, seed, limit)
    if result.status == "error":
        _raised_in_check.add(name)
    else:
        _raised_in_check.discard(name)
    return result


def _run_cases(exercise: Exercise, candidate: Any, seed: int, limit: float) -> Result:
    """`_judge`, with what the student's code printed kept back: an answer with a `print` runs on
    every input, and only its output on the input the verdict is about (the first, if it is right)
    is shown, by `check`, before the verdict."""
    outputs: list[io.StringIO] = []
    result = _judge(exercise, candidate, seed, limit, outputs)
    if outputs:
        shown = outputs[0] if result.status == "correct" else outputs[-1]
        which = "the first input" if result.status == "correct" else "that input"
        if shown.getvalue():
            count = f"{result.cases} input{'' if result.cases == 1 else 's'}"
            result.printed = f"(what your code printed on {which}, of the {count} it ran on:)\n{shown.getvalue()}"
    return result


def _judge(exercise: Exercise, candidate: Any, seed: int, limit: float, outputs: list[io.StringIO]) -> Result:
    name = exercise.name
    watched, returned = _watched(candidate, none_is_wrong=exercise.run is not call)
    token = _under_check.set(frozenset((name, *exercise.judges)))
    started, count, inputs = time.monotonic(), 0, None
    try:
        with _interrupted_after(limit):
            for inputs in exercise.cases(seed):
                if time.monotonic() - started > limit:
                    raise _TimeUp
                count += 1
                expected = exercise.right_answer(inputs)
                returned.clear()
                outputs.append(io.StringIO())
                try:
                    with contextlib.redirect_stdout(outputs[-1]), warnings.catch_warnings():
                        # An answer cut off from its inputs gets zero gradients, which the verdict
                        # shows; dp's warning about it would only add a paragraph to every case.
                        warnings.filterwarnings("ignore", message="grad: no named leaf")
                        got = exercise.run(watched, inputs)
                except NotImplementedError as error:
                    return Result(
                        name,
                        "not implemented",
                        _not_written(exercise, inputs, expected),
                        count,
                        inputs,
                        None,
                        expected,
                        error,
                    )
                except _NoneAnswer:
                    return Result(
                        name, "wrong", _differs(exercise, inputs, None, expected), count, inputs, None, expected
                    )
                except WrongForm as error:
                    return Result(
                        name,
                        "wrong",
                        _other_form(exercise, inputs, returned, expected, str(error)),
                        count,
                        inputs,
                        returned[-1] if returned else None,
                        expected,
                        error,
                    )
                except (Exception, SystemExit) as error:  # do not raise: say where, or what was returned
                    if returned and _raised_by_the_check(error):
                        reason = f"the check could not use it ({type(error).__name__}: {_cut(str(error))})"
                        return Result(
                            name,
                            "wrong",
                            _other_form(exercise, inputs, returned, expected, reason),
                            count,
                            inputs,
                            returned[-1],
                            expected,
                            error,
                        )
                    return Result(
                        name, "error", _raised(exercise, inputs, expected, error), count, inputs, None, expected, error
                    )
                try:
                    same = exercise.compare(got, expected)
                except Exception:  # an answer of the wrong kind cannot be compared: it is wrong
                    same = False
                if not same:
                    return Result(
                        name, "wrong", _differs(exercise, inputs, got, expected), count, inputs, got, expected
                    )
    except _TimeUp:
        return Result(name, "timeout", _too_slow(exercise, inputs, limit), count, inputs)
    finally:
        _under_check.reset(token)
    sizes = f"sizes 1 to {exercise.sizes}" if exercise.sizes > 1 else "size 1"
    return Result(name, "correct", f"✓ {name}: correct ({count} random inputs, {sizes})", count)


def check(name: str, candidate: Any) -> None:
    """Check a student's answer to the exercise `name` and print the verdict (never raises)."""
    try:
        result = run_check(name, candidate)
        message = result.printed + result.message
    except Exception as error:  # a bug of the check's own must not stop the student's notebook
        message = (
            f"✗ {name}: the check itself failed ({type(error).__name__}: {_cut(str(error))}). "
            "This is a bug in the course, not in your answer: please report it."
        )
    print(message)


# ------------------------------------------------------------------------------------------------
# Watching the answer: what it returned, whether it raised, how long it ran


def _watched(candidate: Any, none_is_wrong: bool) -> tuple[Any, list[Any]]:
    """`candidate` wrapped so that the check knows what it returned (the list fills with each
    return), and can tell an error of the student's code from one of the exercise's own `run`
    on what the code returned. With `none_is_wrong` (an exercise whose `run` works on the answer
    before comparing it) a None answer, or a None part of a tuple answer, is a `WrongForm` at
    once: that `run` would only fail on it in words of its own. A class is not wrapped."""
    returned: list[Any] = []
    if inspect.isclass(candidate) or not callable(candidate):
        return candidate, returned

    @functools.wraps(candidate)
    def watched(*args: Any, **kwargs: Any) -> Any:
        answer = candidate(*args, **kwargs)
        returned.append(answer)
        if none_is_wrong and answer is None:
            raise _NoneAnswer
        if none_is_wrong and isinstance(answer, tuple | list) and any(part is None for part in answer):
            parts = [str(i + 1) for i, part in enumerate(answer) if part is None]
            raise WrongForm(
                f"part{'' if len(parts) == 1 else 's'} {_listed(parts)} of yours "
                f"{'is' if len(parts) == 1 else 'are'} None "
                "(a variable never assigned, or a function that does not `return`?)"
            )
        return answer

    return watched, returned


def parts_of(answer: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    """`answer` as a tuple, if it is a tuple (or list) of as many parts as `names` names; else a
    WrongForm that says what it is instead. For an exercise's `run`, before it unpacks an answer."""
    if isinstance(answer, tuple | list) and len(answer) == len(names):
        return tuple(answer)
    what = (
        f"{len(answer)} part{'' if len(answer) == 1 else 's'}"
        if isinstance(answer, tuple | list)
        else f"a {type(answer).__name__}"
    )
    raise WrongForm(
        f"yours returned {what}, expected {'the pair' if len(names) == 2 else 'the tuple'} ({', '.join(names)})"
    )


class _NoneAnswer(WrongForm):
    """The answer is None: the verdict is that of a wrong answer, with the hint of a forgotten `return`."""


def _raised_by_the_check(error: BaseException) -> bool:
    """Whether `error` is the exercise's own `run` failing on what the student's code returned: it did
    not come out of that code (through the wrapper of `_watched`), nor out of dp's library outside
    the exercises (where, say, a trace refuses what the student's code did)."""
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    if any(frame.f_code is _WATCHED_CODE for frame in frames):
        return False
    last = Path(frames[-1].f_code.co_filename).resolve() if frames else _EXERCISES_DIRECTORY
    return last.is_relative_to(_EXERCISES_DIRECTORY) or not last.is_relative_to(_EXERCISES_DIRECTORY.parent)


_EXERCISES_DIRECTORY = Path(__file__).resolve().parent


_WATCHED_CODE = _watched(lambda: None, False)[0].__code__


class _TimeUp(BaseException):
    """The check's time is up. A BaseException, so that the student's `except Exception` lets it through."""


@contextlib.contextmanager
def _interrupted_after(seconds: float):
    """Raise `_TimeUp` in whatever runs after `seconds` (and every second after that, should the
    student's code catch it), then restore the previous SIGALRM handler and timer. Only on the main
    thread of a Unix system; elsewhere `_run_cases` checks the time between cases only."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable or seconds <= 0:
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise _TimeUp

    try:
        previous = signal.signal(signal.SIGALRM, ring)
    except ValueError:  # not the main interpreter: the time is checked between cases only
        yield
        return
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
        if outer_delay:  # someone else's timer was running: it goes on, less the time the check took
            signal.setitimer(signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - started), 1e-3), outer_interval)


def _too_slow(exercise: Exercise, inputs: Mapping[str, Any] | None, limit: float) -> str:
    where = (
        f"\n  The input it was working on:\n{_indent(describe_inputs(exercise, inputs))}" if inputs is not None else ""
    )
    return (
        f"✗ {exercise.name}: stopped after {limit:g} s, the time a check may take: an endless loop?\n"
        "  (a loop whose test never changes, say because a variable in it is never updated)" + where
    )


def _not_written(exercise: Exercise, inputs: Mapping[str, Any], expected: Any) -> str:
    what = exercise.method or ("a part of it" if exercise.judges else "the function")
    return (
        f"… {exercise.name}: not written yet ({what} raises NotImplementedError).\n"
        f"  For example, for the input\n{_indent(describe_inputs(exercise, inputs))}\n"
        f"  the expected value is\n{_indent(show_answer(exercise, expected))}"
    )


def _other_form(exercise: Exercise, inputs: Mapping[str, Any], returned: list[Any], expected: Any, reason: str) -> str:
    """The verdict on an answer that returned, but not in the form asked for (`reason` says how)."""
    yours = f"  yours\n{_indent(show(returned[-1]))}\n" if returned else ""
    return (
        f"✗ {exercise.name}: wrong answer: {reason}\n"
        f"  on the input\n{_indent(describe_inputs(exercise, inputs))}\n"
        + yours
        + f"  expected\n{_indent(show_answer(exercise, expected))}"
        + _judged_too(exercise)
    )


def _raised(exercise: Exercise, inputs: Mapping[str, Any], expected: Any, error: BaseException) -> str:
    notes = "".join(f"  {note}\n" for note in getattr(error, "__notes__", ()))
    return (
        f"✗ {exercise.name}: yours raised {type(error).__name__}: {_cut(str(error))}\n"
        + notes
        + _where_raised(error)
        + f"  on the input\n{_indent(describe_inputs(exercise, inputs))}\n"
        f"  expected\n{_indent(show_answer(exercise, expected))}" + _judged_too(exercise)
    )


def _differs(exercise: Exercise, inputs: Mapping[str, Any], got: Any, expected: Any) -> str:
    try:
        findings = diagnose(exercise, got, expected)
    except Exception:  # the findings only add to the verdict: an answer too odd to analyse still gets it
        findings = []
    return (
        f"✗ {exercise.name}: wrong answer. The smallest input where yours differs:\n"
        f"{_indent(describe_inputs(exercise, inputs))}\n"
        f"  yours\n{_indent(show_answer(exercise, got))}\n"
        f"  expected\n{_indent(show_answer(exercise, expected))}"
        + ("\n  what differs\n" + _indent("\n".join(findings)) if findings else "")
        + _judged_too(exercise)
    )


def _judged_too(exercise: Exercise) -> str:
    """For a check that runs several of the student's answers together: which ones, so that a
    failure is not blamed on the last one written (their own checks say which is wrong)."""
    if not exercise.judges:
        return ""
    if len(exercise.judges) == 1:
        return f"\n  This check uses your {exercise.judges[0]}; if its check fails, fix that first."
    return f"\n  This check uses your {_listed(list(exercise.judges))}; if one of their checks fails, fix that first."


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


def show(value: Any, depth: int = 0) -> str:
    """A short, readable text for a value: arrays rounded, long texts cut, floats with a point
    (1.0, not 1), nesting shown six levels deep."""
    if depth > _DEEPEST:
        return f"<a {type(value).__name__} nested too deep to show>"
    if isinstance(value, np.ndarray) and value.ndim == 0:
        text = show(value.item())
    elif isinstance(value, np.ndarray):
        body = np.array2string(value, precision=6, separator=", ", threshold=40, edgeitems=3, prefix="array(")
        text = f"array({body})"
    elif isinstance(value, float | np.floating):
        text = f"{float(value):.10g}"
        text += ".0" if text.lstrip("-").isdigit() else ""
    elif isinstance(value, tuple) and not hasattr(value, "_fields"):
        text = _joined("(", [show(item, depth + 1) for item in value], ",)" if len(value) == 1 else ")")
    elif isinstance(value, list):
        text = _joined("[", [show(item, depth + 1) for item in value], "]")
    elif isinstance(value, Mapping):
        text = _joined("{", [hanging(f"{key!r}: ", show(item, depth + 1)) for key, item in value.items()], "}")
    else:
        try:
            text = repr(value)
        except Exception as error:  # a student's broken __repr__ must not break the verdict
            text = f"<a {type(value).__name__}, whose repr raised {type(error).__name__}>"
    return _cut(text)


#: How deep `show` goes into lists, tuples and dicts.
_DEEPEST = 6


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
# What differs, and where it raised: the part of a verdict that says what to fix

#: (factor, what it means): a wrong answer that is this multiple of the right one, everywhere.
_FACTORS = (
    (-1.0, "yours is −expected: the sign is flipped"),
    (2.0, "yours is 2 × expected: a factor 2 too many?"),
    (0.5, "yours is expected / 2: a factor 2 missing?"),
)
#: How many differing parts of an answer are looked into; the rest are only named.
_PARTS_SHOWN = 3


def diagnose(exercise: Exercise, got: Any, expected: Any) -> list[str]:
    """What differs between a wrong answer and the right one, one finding a line.

    A None answer gets the hint of a forgotten `return`. The rest compares numbers as `close`
    does, so it is said only for exercises that compare with `close` (a check of its own kind,
    such as "a valid topological order", has its own notion of right).
    """
    if got is None and expected is not None:
        return [_NONE_HINT]
    if exercise.compare is not close:
        return []
    return _findings(got, expected, exercise.labels, "")


def _findings(got: Any, expected: Any, labels: tuple[str, ...], path: str) -> list[str]:
    """The findings for `got` against `expected`; `path` names the part they are ("" for the whole)."""
    where = f"{path}: " if path else ""
    if got is None:
        return [f"{where}{_NONE_HINT}"]
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            return [f"{where}yours is a {type(got).__name__}, expected a dict (keys {', '.join(map(repr, expected))})"]
        findings = [
            f"{where}keys {title} {', '.join(map(repr, keys))}"
            for title, keys in (
                ("missing:", [k for k in expected if k not in got]),
                ("not expected:", [k for k in got if k not in expected]),
            )
            if keys
        ]
        titles = {key: f"{path}[{key!r}]" for key in expected}
        return findings + _parts(got, expected, [k for k in expected if k in got], titles)
    if isinstance(expected, tuple | list) and not _is_numbers(expected):
        if not isinstance(got, tuple | list):
            return [
                f"{where}yours is a {type(got).__name__}, expected a {type(expected).__name__} of {len(expected)} parts"
            ]
        if len(got) != len(expected):
            return [f"{where}yours has {len(got)} parts, expected {len(expected)}"]
        if path:
            part_titles: Sequence[str] = [f"{path}[{i}]" for i in range(len(expected))]
        else:
            fields = getattr(expected, "_fields", None)
            numbered = [f"part {i + 1}" for i in range(len(expected))]
            part_titles = labels if len(labels) == len(expected) else fields or numbered
        return _parts(got, expected, list(range(len(expected))), dict(enumerate(part_titles)))
    return _number_findings(got, expected, where)


_NONE_HINT = "yours is None: does your function `return` its result? (one without `return` gives None)"


def _is_numbers(value: Any) -> bool:
    """A list of plain numbers, which reads best compared as one array (a tuple is parts)."""
    return isinstance(value, list) and all(isinstance(item, int | float | np.number) for item in value)


def _parts(got: Any, expected: Any, keys: list[Any], titles: Mapping[Any, str]) -> list[str]:
    """Which parts differ and which match; then what differs in each of the first that do."""
    differing = [key for key in keys if not close(got[key], expected[key])]
    if not differing:
        return []
    matching = [titles[key] for key in keys if key not in differing]
    findings = [
        f"{_listed([titles[key] for key in differing])} {'differs' if len(differing) == 1 else 'differ'}"
        + (f"; {_listed(matching)} {'matches' if len(matching) == 1 else 'match'}" if matching else "")
    ]
    findings += _swapped(got, expected, differing, titles)
    for key in differing[:_PARTS_SHOWN]:
        findings += _findings(got[key], expected[key], (), titles[key])
    if len(differing) > _PARTS_SHOWN:
        more = len(differing) - _PARTS_SHOWN
        findings.append(f"{more} more part{' differs' if more == 1 else 's differ'}")
    return findings


def _swapped(got: Any, expected: Any, differing: list[Any], titles: Mapping[Any, str]) -> list[str]:
    """Two differing parts that are each other's right value: returned in the wrong order."""
    return [
        f"{titles[a]} and {titles[b]} are swapped: yours has them in the other order"
        for i, a in enumerate(differing)
        for b in differing[i + 1 :]
        if close(got[a], expected[b]) and close(got[b], expected[a])
    ]


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _number_findings(got: Any, expected: Any, where: str) -> list[str]:
    """Shape, dtype, then the size and place of the largest differences."""
    try:
        mine = np.asarray(got)
    except Exception:  # an object NumPy cannot even hold: its kind is the finding
        mine = np.asarray(None)
    if mine.dtype.kind not in "biuf":
        return [f"{where}yours is {_kind(got)}, expected {_kind(expected)}"]
    right = np.asarray(expected, dtype=float)
    findings = []
    if mine.dtype.kind in "biu" and np.asarray(expected).dtype.kind == "f":
        findings.append(
            f"{where}yours has dtype {mine.dtype}, expected {np.asarray(expected).dtype}: "
            "whole numbers cannot hold the fractions (an array made from ints, e.g. np.zeros_like?)"
        )
    if mine.shape != right.shape:
        return findings + [f"{where}{shape_difference(mine.shape, right.shape)}"]
    mine = mine.astype(float)
    for factor, meaning in _FACTORS:
        if close(mine, factor * right):
            return findings + [f"{where}{meaning}"]
    return findings + _largest_differences(mine, right, where)


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    shape = np.shape(value) if isinstance(value, np.ndarray) else None
    if shape:
        return f"an array of shape {shape} and dtype {value.dtype}"
    if isinstance(value, int | float | np.number):
        return f"a {type(value).__name__}"
    return f"a {type(value).__name__} ({show(value)[:60]})"


def shape_difference(mine: tuple[int, ...], right: tuple[int, ...]) -> str:
    """ "yours has shape ..., expected shape ...", and what the difference suggests."""
    return f"yours has shape {tuple(mine)}, expected shape {tuple(right)}" + _shape_hint(tuple(mine), tuple(right))


def _shape_hint(mine: tuple[int, ...], right: tuple[int, ...]) -> str:
    if 1 in mine and tuple(n for i, n in enumerate(mine) if i != mine.index(1)) == right:
        return ": one axis of length 1 too many (a column where a vector is expected? .ravel() or keepdims=False)"
    if 1 in right and tuple(n for i, n in enumerate(right) if i != right.index(1)) == mine:
        return ": an axis of length 1 is missing (keepdims=True?)"
    if len(mine) == 2 and mine == right[::-1]:
        return ": transposed? (.T)"
    if len(mine) > 1 and sorted(mine) == sorted(right):
        return ": the right axes in another order? (stacked or transposed along another axis)"
    if math.prod(mine) == 1 and math.prod(right) > 1:
        return ": one number where an array is expected (summed too much?)"
    return ""


def _largest_differences(mine: np.ndarray, right: np.ndarray, where: str) -> list[str]:
    """How many entries differ, the largest absolute and relative differences, and where.

    A relative difference is taken only where the expected entry is not 0.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        differs = ~np.isclose(mine, right, rtol=1e-6, atol=1e-9, equal_nan=True)
        absolute = np.where(differs, np.abs(mine - right), 0.0)
        relative = np.where(differs & (right != 0), absolute / np.abs(right), 0.0)
    nan = np.argwhere(differs & (np.isnan(mine) | np.isnan(right)))
    if len(nan):
        return [
            f"{where}not a number (nan) on one side {_pair(mine, right, tuple(nan[0]))}"
            + (f" ({len(nan)} entries)" if len(nan) > 1 else "")
        ]
    at = np.unravel_index(np.argmax(absolute), mine.shape)
    at_relative = np.unravel_index(np.argmax(relative), mine.shape)
    if mine.size == 1:
        finding = f"{where}difference {_size(absolute, relative, at)}: {_pair(mine, right, at, index=False)}"
    else:
        finding = (
            f"{where}{int(differs.sum())} of {mine.size} entries differ; the largest difference is "
            f"{_size(absolute, relative, at)} {_pair(mine, right, at)}"
        )
        if relative[at_relative] > relative[at]:
            finding += (
                f"; the largest relative difference is {relative[at_relative]:.3g} {_pair(mine, right, at_relative)}"
            )
    # Small whole numbers are often -expected by chance: only most of the differences say "sign".
    flipped = differs & (right != 0) & np.isclose(mine, -right, rtol=1e-6, atol=1e-9)
    if 2 * int(flipped.sum()) > int(differs.sum()):
        count = int(flipped.sum())
        finding += f"; {count} entr{'y has' if count == 1 else 'ies have'} the wrong sign"
    return [finding]


def _size(absolute: np.ndarray, relative: np.ndarray, at: tuple[int | np.integer, ...]) -> str:
    return f"{absolute[at]:.3g}" + (f" (relative {relative[at]:.3g})" if relative[at] else "")


def _pair(mine: np.ndarray, right: np.ndarray, at: tuple[int | np.integer, ...], index: bool = True) -> str:
    """`at index [i, j]: yours 2.7765781, expected 2.7765792`, every digit shown (repr of the float)."""
    place = f"at index [{', '.join(str(int(i)) for i in at)}]: " if at and index else ""
    return f"{place}yours {float(mine[at])!r}, expected {float(right[at])!r}"


#: The places of dp and of installed packages: a frame there is not the student's code.
_NOT_STUDENTS = tuple(
    Path(path).resolve()  # type: ignore[arg-type]  # sysconfig paths are strings
    for path in (
        Path(__file__).resolve().parent.parent,
        *(sysconfig.get_path(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")),
    )
)


def _where_raised(error: BaseException) -> str:
    """The line of the student's own code that raised: the deepest frame outside dp and packages."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if _is_students(frame.filename)]
    if not frames:
        return ""
    frame = frames[-1]
    place = (
        "its cell"
        if "ipykernel_" in frame.filename or frame.filename.startswith("<ipython")
        else Path(frame.filename).name
    )
    text = f"  at line {frame.lineno} of {place}, in {frame.name}:\n"
    if frame.line:
        text += f"      {frame.line}\n" + _hint_for_line(frame.line, error)
    return text


def _is_students(filename: str) -> bool:
    if filename.startswith("<") and not filename.startswith("<ipython"):
        return False  # <frozen ...>, <string>: no file of the student's
    path = Path(filename).resolve()
    return not any(path.is_relative_to(place) for place in _NOT_STUDENTS)


#: What math's functions say when given an array or a Node instead of one number.
_MATH_REFUSES = (
    "must be real number, not",
    "only length-1 arrays can be converted",
    "only 0-dimensional arrays can be converted",
    "only size-1 arrays can be converted",
)


def _hint_for_line(line: str, error: BaseException) -> str:
    functions = re.findall(r"\bmath\.(\w+)\(", line)
    if functions and isinstance(error, TypeError) and any(text in str(error) for text in _MATH_REFUSES):
        name = functions[0]
        return f"  hint: math.{name} takes one number, not an array: np.{name} works on both\n"
    if "NoneType" in str(error):
        return "  hint: a value here is None: does a function it calls forget to `return`?\n"
    return ""


# ------------------------------------------------------------------------------------------------
# The stubs in the notebooks


def mode() -> str:
    """ "student" (the default) or "solutions", from the environment variable DP_EXERCISES."""
    value = os.environ.get(MODE_VARIABLE, "student").strip().lower() or "student"
    if value not in MODES:
        raise ValueError(f"{MODE_VARIABLE}={value!r}: expected one of {', '.join(MODES)}")
    return value


def exercise(*names: str) -> Callable[[Any], Any]:
    """Mark a student's function, or class, as the answer to the exercises `names`.

    With DP_EXERCISES=solutions it returns the reference solution instead. Otherwise it returns
    the student's own answer, made safe to use in later cells: while a part still raises
    NotImplementedError, or raises where its check has already reported that it does, the
    reference stands in for it (with a note, printed once), so the notebook runs from top to
    bottom and one mistake gives one message. `check` always judges the student's own code.
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
                setattr(
                    answer,
                    ex.method,
                    _standing_in(
                        ex, getattr(answer, ex.method), getattr(solution, ex.method), f"{answer.__name__}.{ex.method}"
                    ),
                )
            return answer
        if len(exercises) != 1 or exercises[0].method is not None:
            raise TypeError(f"{', '.join(names)}: decorate a function with exactly one function exercise")
        return _standing_in(exercises[0], answer, solution, answer.__name__)

    return decorate


def _standing_in(ex: Exercise, answer: Callable[..., Any], reference: Callable[..., Any], label: str):
    """`answer`, except that the reference answers for it while it raises NotImplementedError, or
    raises after its check has reported that it does (the student has had that message once)."""
    answer = getattr(answer, "__wrapped__", answer)  # decorating twice must not stack wrappers
    noted: set[str] = set()

    def note(why: str) -> None:
        if why not in noted:
            noted.add(why)
            print(f"(note: {label} {why}, so the reference solution of {ex.name} stands in for it below)")

    @functools.wraps(answer)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return answer(*args, **kwargs)
        except NotImplementedError:
            if ex.name in _under_check.get():
                raise  # the check is judging this very answer
            note("is not written yet")
        except Exception as error:
            if ex.name in _under_check.get() or ex.name not in _raised_in_check:
                raise  # the check is judging it, or no check has told the student yet
            note(f"raised {type(error).__name__} here too, as its check above said")
        return reference(*args, **kwargs)

    wrapper.__exercise__ = ex.name  # type: ignore[attr-defined]  # the mark the course's tooling reads
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


def nice(
    rng: np.random.Generator,
    size: int,
    shape: tuple[int, ...] = (),
    low: float = -3,
    high: float = 3,
    avoid_zero: bool = False,
) -> Any:
    """Random numbers for `size`: small whole numbers at size 1 (easy to read), floats after."""
    if size == 1:
        choices = [v for v in range(math.ceil(low), math.floor(high) + 1) if not (avoid_zero and v == 0)]
        values = rng.choice(np.array(choices, dtype=float), size=shape)
    else:
        values = rng.uniform(low, high, size=shape)
        if avoid_zero:
            values = np.where(np.abs(values) < 0.25, np.copysign(0.25, values) + values, values)
    return float(values) if shape == () else values
