"""`make test` proves that the benchmark suite works: `benchmarks/run.py --smoke` runs every
workload for every implementation (dp and dp traced included), checks their gradients against
hand-written NumPy and prints the tables, dp traced's tracing time among them. Timings are not
asserted: a smoke run's numbers mean nothing, so the table judges no target either, and each row
names the tiny size it really ran at.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
IMPLEMENTATIONS = ("numpy", "dp", "dp-traced", "torch", "autograd", "micrograd")
WORKLOADS = ("W1-f32", "W1-f64", "W2-1x1", "W2-32x32", "W3", "W4", "W5", "W6", "W7-f32", "W7-f64", "MEM")
#: (implementation, workload) pairs that do not apply, and the reason their row gives.
NOT_APPLICABLE = {
    **{("micrograd", w): "n/a (scalar-only)" for w in WORKLOADS if w not in ("W2-1x1", "W4")},
    ("autograd", "W5"): "n/a (no convolution without SciPy)",
}
#: The targets judged against PyTorch rather than hand-written NumPy.
TORCH_TARGETS = {
    "W5": "<= 1.50x PyTorch",
    "W6": "<= 1.20x PyTorch",
    "W7-f32": "<= 1.20x PyTorch",
    "W7-f64": "<= 1.20x PyTorch",
}
#: dp traced's targets (the static-graph issue), as the targets table states them.
TRACED_TARGETS = {
    "W1-f32": "<= 0.95x NumPy",
    "W1-f64": "<= 0.95x NumPy",
    "W2-1x1": "<= 1.30x NumPy",
    "W2-32x32": "<= 1.30x NumPy",
    "W3": "<= 0.95x NumPy",
    "W4": "<= 0.50x micrograd's time",
    "MEM": "<= 1.00x dp's peak",
}


def _section(text: str, heading: str) -> str:
    """The text under `## heading`, up to the next heading of that level."""
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _table_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """(workload, implementation) -> the row as {column header: cell}, for each row of the result
    tables (the first table a pair appears in); the workload is the name its Workload cell starts
    with."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    headers: list[str] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            headers = []
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not headers:
            headers = cells
            continue
        workload = cells[0].split(" (")[0]
        if len(cells) >= 3 and workload in WORKLOADS and cells[1] in IMPLEMENTATIONS:
            rows.setdefault((workload, cells[1]), dict(zip(headers, cells)))
    return rows


def test_smoke_run_reports_every_implementation_and_workload(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"

    rows = _table_rows(_section(proc.stdout, "Times")) | _table_rows(_section(proc.stdout, "Peak memory"))
    missing = [(w, i) for w in WORKLOADS for i in IMPLEMENTATIONS if (w, i) not in rows]
    assert not missing, f"rows missing from the table: {missing}\n{proc.stdout}"
    for (workload, impl), row in rows.items():
        measured = row["Median"] if workload != "MEM" else row["Peak RSS"]
        assert row["Workload"].startswith(f"{workload} (smoke: "), row  # the size it really ran at
        if (impl, workload) in NOT_APPLICABLE:
            assert measured == NOT_APPLICABLE[impl, workload], (workload, impl, row)
        else:
            # dp is required: a dp that cannot be imported gives "skipped" rows, a failure here.
            assert any(ch.isdigit() for ch in measured), (workload, impl, row)
    # Every timed row has its ratios to NumPy and to PyTorch (PyTorch's own is 1.00x).
    for (workload, impl), row in rows.items():
        if workload != "MEM" and (impl, workload) not in NOT_APPLICABLE:
            assert row["x NumPy"].endswith("x") and row["x PyTorch"].endswith("x"), row
            if impl == "torch":
                assert row["x PyTorch"] == "1.00x", row

    # W2-32x32 is named for the full run's size; the smoke run's row must not claim it.
    assert "32x32" not in rows["W2-32x32", "dp"]["Workload"].removeprefix("W2-32x32")
    # The layers' targets are against PyTorch, and say so.
    assert all(rows[w, "dp"]["Target"] == text for w, text in TORCH_TARGETS.items())
    # dp traced's targets, beside its rows and in the targets table, each with its ratio.
    targets = _table_rows(_section(proc.stdout, "dp's targets"))
    assert {w for w, i in targets if i == "dp-traced"} == set(TRACED_TARGETS)
    for workload, text in TRACED_TARGETS.items():
        assert targets[workload, "dp-traced"]["Target"] == text
        assert targets[workload, "dp-traced"]["Ratio to its baseline"][0].isdigit()
        assert rows[workload, "dp-traced"]["Target"] == text
    # No target is judged: the Met cells read "—", and no cell says "NO".
    assert all(rows[workload, "dp"]["Met"] == "—" for workload in WORKLOADS)
    assert all(
        row["Met"] == ("—" if workload in TRACED_TARGETS else "")
        for (workload, impl), row in rows.items()
        if impl == "dp-traced"
    )
    assert all(row["Met"] == "—" for row in targets.values())
    assert "**NO**" not in proc.stdout
    # The tracing time (the first call, compile included) of every workload dp traced runs.
    tracing = _table_rows(_section(proc.stdout, "Tracing time"))
    assert {w for w, _ in tracing} == set(WORKLOADS) - {"MEM"}
    assert all(
        row["First call (trace + compile + run)"].endswith(" ms")
        and row["First call (trace + compile + run)"][0].isdigit()
        for row in tracing.values()
    )

    # Every implementation's gradients were checked against NumPy's on every workload it runs.
    assert "## Gradient check" in proc.stdout
    checked = _table_rows(proc.stdout.split("## Gradient check")[1])
    timed = {(w, i) for w, i in rows if w != "MEM" and (i, w) not in NOT_APPLICABLE}
    assert timed == set(checked)
    written = out.read_text()
    assert "## Machine" in written and "## Tracing time" in written
    assert _table_rows(written) == _table_rows(proc.stdout)
