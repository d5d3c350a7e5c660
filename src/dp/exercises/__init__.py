"""dp.exercises: the course's self-checking exercises.

How an exercise looks in a notebook
-----------------------------------
The student fills in a stub, marked with `@exercise(name)`, and a check follows::

    @exercise("part1.dual_mul", "part1.dual_div", "part1.dual_exp")
    class Dual:
        ...
        def __mul__(self, other):
            # YOUR CODE HERE
            raise NotImplementedError

    check("part1.dual_mul", Dual)

`check(name, answer)` runs the answer and the reference on the same random inputs, drawn from
the smallest size up, and prints one verdict:

* ``✓ part1.dual_mul: correct (40 random inputs, sizes 1 to 8)``;
* ``✗ part1.dual_mul: wrong answer.`` with the smallest input where the answer differs, the
  answer's output, the expected value and what differs (by how much and where, which parts of a
  tuple, a wrong shape or dtype, hints at a missing `return`, a factor 2 or a flipped sign), or
  what the answer raised and the line of the student's code that raised it;
* ``… part1.dual_mul: not written yet`` while the stub still raises NotImplementedError, with an
  example input and its expected value to start from.

`check` never raises, not even for a misspelled name (it names the close ones), so a notebook
always runs from top to bottom. `run_check` returns the verdict as a `Result` instead of printing
it (the tests use it).

Unfinished stubs, and the solutions mode
----------------------------------------
`exercise(...)` decides what the name in the notebook refers to, from the environment variable
``DP_EXERCISES``:

* unset, or ``student``: the student's own function or class. While a part of it still raises
  NotImplementedError, the reference solution stands in for that part in the cells below (a note
  says so, once), so later cells that use it still run; `check` always judges the student's
  own code, never the stand-in.
* ``solutions``: the reference solution itself. The tests execute every notebook this way, so
  every check in every notebook must print "correct": each exercise is proved solvable there.

The registry
------------
Every exercise is registered (`EXERCISES`: name -> `Exercise`) with a generator of random
inputs (small to large), the reference solution, how to run an answer, what the right output is
(often dp itself), a comparison, a planted wrong answer and, for an answer that is a tuple, a
label for each part (``value``, ``d/da``, ...) that the messages print beside it.
tests/test_exercises.py proves, for every exercise, that the reference passes and that the
planted wrong answer fails with a message that names the input and the expected value.

Where they live: chapters 00-16, 20-24 and Part 3 register theirs in `dp.exercises.catalog`,
with the references in `dp.exercises.solutions`; each of the chapters 17 and 25-29 keeps its
references and checks together in a module named after it (`dp.exercises.differentiable_programs`,
`convolution`, `recurrent`, `attention`, `vae`, `bayes_by_backprop`), which the catalog imports.

`dp.exercises.course` holds the notebooks' shared helpers (plots, timing, showing source code).
"""

from dp.exercises import catalog as _catalog  # noqa: F401  (registers every exercise)
from dp.exercises.checker import EXERCISES, MODE_VARIABLE, Exercise, Result, check, exercise, mode, run_check

__all__ = ["EXERCISES", "MODE_VARIABLE", "Exercise", "Result", "check", "exercise", "mode", "run_check"]
