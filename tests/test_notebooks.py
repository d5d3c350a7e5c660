"""Every course notebook runs from top to bottom, offline, and every exercise in it checks out.

Each `notebooks/*.py` (jupytext percent format) is read with jupytext and executed with nbclient
in a fresh kernel of this Python (the venv's ipykernel), in a temporary working directory, with
DP_EXERCISES=solutions: every stub is then the reference solution, so every `check(...)` cell
must print "✓ ...: correct". A cell that raises fails the test with the cell and its traceback.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import nbclient
import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.py"))
# The longest notebooks run first, so that `pytest -n 2` does not end waiting for one of them.
LONGEST_FIRST = sorted(NOTEBOOKS, key=lambda path: path.stem not in ("24_mnist", "23_dropout_batchnorm"))
CELL_TIMEOUT = 300  # seconds; the longest cell (MNIST training) takes well under a minute

CHECK_CALL = re.compile(r"^check\(\s*\"([\w.]+)\"", re.MULTILINE)
CORRECT = re.compile(r"^✓ ([\w.]+): correct", re.MULTILINE)


def _code(notebook) -> str:
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def _printed(notebook) -> str:
    """Everything the notebook printed (streams and plain-text results)."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_the_course_is_there():
    """The chapters exist, and notebooks/README.md lists every one of them."""
    assert len(NOTEBOOKS) >= 12
    readme = (NOTEBOOKS_DIR / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"\((\d\d_\w+)\.(?:py|ipynb)\)", readme)
    assert listed == [path.stem for path in NOTEBOOKS], "README.md must list every notebook, in order"


@pytest.mark.parametrize("path", LONGEST_FIRST, ids=[path.stem for path in LONGEST_FIRST])
def test_notebook_runs_and_its_exercises_check_out(path, tmp_path, monkeypatch):
    monkeypatch.setenv("DP_EXERCISES", "solutions")
    monkeypatch.setenv("DP_COURSE_FAST", "1")  # long trainings take fewer steps (dp.exercises.course.FAST)
    # One BLAS/OpenMP thread per kernel: the tests run two at a time on two cores, and spinning
    # BLAS threads that compete for a core make NumPy tens of times slower.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(variable, "1")
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell raises

    checks = CHECK_CALL.findall(_code(notebook))
    printed = _printed(notebook)
    assert sorted(CORRECT.findall(printed)) == sorted(checks), printed
    assert "not written yet" not in printed and "stands in" not in printed


def test_the_pytorch_notebook_says_so_plainly_without_pytorch(monkeypatch, capsys):
    """Without PyTorch, Part 3's first cell explains what to install and stops "Run all" quietly."""
    notebook = jupytext.read(NOTEBOOKS_DIR / "30_to_pytorch.py")
    setup = next(cell.source for cell in notebook.cells if cell.cell_type == "code" and "import torch" in cell.source)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    namespace: dict = {}
    with pytest.raises(Exception) as stopped:
        exec(compile(setup, "30_to_pytorch.py", "exec"), namespace)
    assert type(stopped.value).__name__ == "StopHere" and stopped.value._render_traceback_() == []
    assert "PyTorch is not installed" in capsys.readouterr().out
