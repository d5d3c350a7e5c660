"""The development habits `make test` keeps: ruff's lint rules and its formatting on the code, mypy on src/dp.

Both read their settings from pyproject.toml ([tool.ruff], [tool.mypy]). A failure shows the
tool's own report, so the fix is where it points.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    """The tool installed next to this Python (the dev extra installs both), else one on PATH."""
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: `make .venv/.dev` installs the dev extra, which has it")
    return found


def _passes(*command: str) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"`{' '.join(command)}` failed:\n{result.stdout}{result.stderr}"


def test_ruff_finds_nothing():
    _passes(_tool("ruff"), "check", "--no-cache", "src", "tests", "benchmarks", "scripts")


def test_the_code_is_formatted_as_ruff_formats_it():
    """`ruff format` (120 columns; a few packed tables keep their shape between `# fmt: off/on`)."""
    _passes(_tool("ruff"), "format", "--check", "--diff", "--no-cache", "src", "tests", "benchmarks", "scripts")


def test_mypy_finds_nothing_in_dp():
    _passes(_tool("mypy"), "src/dp")


USER_CODE = """
import numpy as np
import dp
from dp.nn import Linear, Sequential, mse, relu

x = dp.Node(np.ones(3), "x")
first: dp.Node = x[0]
mask: np.ndarray = x > 1.0
grads = (x * x).sum().grad(1)
net = Sequential([Linear(3, 2), relu, Linear(2, 1)], loss=mse)
opt = dp.Adam(net, np.ones((4, 3)), np.ones((4, 1)), learning_rate=0.1)
dp.Adam(lr=0.1)  # wrong: 1
Sequential(Linear(3, 2), relu, Linear(2, 1))  # wrong: 2
"""


def test_mypy_reads_dps_signatures_in_a_users_code(tmp_path):
    """Right code type-checks, and a wrong call is caught, through the optimizers' and Sequential's checks."""
    script = tmp_path / "user.py"
    script.write_text(USER_CODE)
    result = subprocess.run(
        [_tool("mypy"), "--no-incremental", "--follow-imports=silent", str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(ROOT / "src")},
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    lines = USER_CODE.splitlines()
    flagged = {lines[int(error.split(":")[1]) - 1].split("  # ")[-1] for error in errors}
    assert flagged == {"wrong: 1", "wrong: 2"}, result.stdout
