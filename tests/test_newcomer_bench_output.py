"""Where `benchmarks/run.py` writes its report: `make bench` (a full run) writes the untracked
benchmarks/results/latest.md, and only `--update-docs` rewrites the published docs/benchmarks.md."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def written(run, *argv: str) -> list[Path]:
    return run.output_paths(run.parse_args(list(argv)))


def test_a_full_run_writes_the_untracked_results_not_the_docs(run):
    latest = ROOT / "benchmarks" / "results" / "latest.md"
    assert written(run) == [latest]
    assert written(run, "--update-docs") == [latest, ROOT / "docs" / "benchmarks.md"]
    assert written(run, "--out", "/tmp/x.md") == [Path("/tmp/x.md")]
    assert written(run, "--out", "/tmp/x.md", "--update-docs") == [Path("/tmp/x.md"), ROOT / "docs" / "benchmarks.md"]


def test_smoke_and_subset_runs_write_only_where_out_says(run):
    assert written(run, "--smoke") == []
    assert written(run, "--impl", "dp", "--workload", "W3", "--no-memory") == []
    assert written(run, "--smoke", "--out", "/tmp/s.md") == [Path("/tmp/s.md")]


@pytest.mark.parametrize("partial", [["--smoke"], ["--impl", "dp"], ["--workload", "W3"], ["--no-memory"]])
def test_only_a_full_run_of_everything_may_update_the_docs(run, partial, capsys):
    with pytest.raises(SystemExit):
        run.parse_args([*partial, "--update-docs"])
    assert "--update-docs publishes a full run of everything" in capsys.readouterr().err


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout: nothing to ignore")
def test_git_ignores_the_results():
    ignored = subprocess.run(["git", "check-ignore", "-q", "benchmarks/results/latest.md"], cwd=ROOT)
    assert ignored.returncode == 0
