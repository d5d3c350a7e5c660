"""The development habits `make test` keeps: ruff's lint rules and its formatting on the code, mypy on src/dp.

Both read their settings from pyproject.toml ([tool.ruff], [tool.mypy]). A failure shows the
tool's own report, so the fix is where it points.
"""

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
