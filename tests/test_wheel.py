"""The release: `python -m build` makes a wheel that installs in a fresh environment and runs the papers' code.

The wheel is built offline (`--no-isolation`: this environment's setuptools) from a copy of the
files a build reads, so the checkout gets no build/ or egg-info. It is installed into a new
virtual environment with no access to the source tree; pip fetches NumPy from the index it is
configured with (a local mirror here and in CI). There, from a directory outside the repository,
tests/test_paper_examples.py runs as a script and dp reports the version pyproject.toml gives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def run(command: list[str | Path], cwd: Path, timeout: float = 120) -> str:
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_installs_and_runs_the_papers_examples(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))

    wheelhouse = tmp_path / "wheelhouse"
    # --skip-dependency-check: pyproject's build requirements name `wheel`, which setuptools >= 70.1
    # no longer needs and this environment does not have.
    run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check", "--outdir", wheelhouse],
        cwd=source,
    )
    (wheel,) = wheelhouse.glob("*.whl")
    assert wheel.name == f"dp-{VERSION}-py3-none-any.whl"
    contents = set(zipfile.ZipFile(wheel).namelist())
    assert {"dp/__init__.py", "dp/py.typed", "dp/datasets/mnist_10k.npz", "dp/nn/model.py"} <= contents
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in contents)  # MIT: the licence ships
    assert not any(name.startswith(("tests/", "notebooks/", "benchmarks/")) for name in contents)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel], cwd=tmp_path, timeout=300)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(ROOT / "tests" / "test_paper_examples.py", elsewhere)
    where = run([python, "-c", "import dp; print(dp.__version__); print(dp.__file__)"], cwd=elsewhere).split()
    assert where[0] == VERSION
    assert Path(where[1]).is_relative_to(venv), f"dp was imported from {where[1]}, not from the installed wheel"
    printed = run([python, "test_paper_examples.py"], cwd=elsewhere)
    examples = (elsewhere / "test_paper_examples.py").read_text(encoding="utf-8").count("\ndef test_")
    assert examples and sum(line.startswith("ok test_") for line in printed.splitlines()) == examples, printed


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout (an unpacked sdist): no file list")
def test_the_source_distribution_holds_what_the_tests_and_the_docs_read(tmp_path: Path) -> None:
    """An sdist unpacked elsewhere runs `make test` and `make docs`: every tracked file ships, and
    none of what the course, the demo and the benchmarks write into the tree."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    source = tmp_path / "source"
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    written = ["notebooks/mnist_network.npz", "notebooks/10_dual_numbers.ipynb", "benchmarks/results/latest.md"]
    for name in written:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("made by a run")
    run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--skip-dependency-check", "--outdir", tmp_path],
        cwd=source,
    )
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        shipped = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    missing = sorted(set(tracked) - shipped - {".gitignore"})  # git's own file: an sdist is no checkout
    assert not missing, f"the sdist lacks {missing}"
    assert not set(written) & shipped, f"the sdist ships files a run wrote: {sorted(set(written) & shipped)}"
