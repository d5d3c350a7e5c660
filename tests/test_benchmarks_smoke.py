"""`make test` proves that the benchmark suite works: `benchmarks/run.py --smoke` runs every
workload for every implementation (dp included), checks their gradients against hand-written
NumPy and prints the table.  Timings are not asserted: a smoke run's numbers mean nothing, so
the table judges no target either, and each row names the tiny size it really ran at.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
IMPLEMENTATIONS = ("numpy", "dp", "torch", "autograd", "micrograd")
WORKLOADS = ("W1-f32", "W1-f64", "W2-1x1", "W2-32x32", "W3", "W4", "MEM")
MICROGRAD_WORKLOADS = ("W2-1x1", "W4")  # micrograd is scalar-only


def _table_rows(text: str) -> dict[tuple[str, str], list[str]]:
    """(workload, implementation) -> all the cells, for each row of the result tables (the first
    table a pair appears in); the workload is the name its Workload cell starts with."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        workload = cells[0].split(" (")[0]
        if len(cells) >= 3 and workload in WORKLOADS and cells[1] in IMPLEMENTATIONS:
            rows.setdefault((workload, cells[1]), cells)
    return rows


def test_smoke_run_reports_every_implementation_and_workload(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"

    rows = _table_rows(proc.stdout)
    missing = [(w, i) for w in WORKLOADS for i in IMPLEMENTATIONS if (w, i) not in rows]
    assert not missing, f"rows missing from the table: {missing}\n{proc.stdout}"
    for (workload, impl), cells in rows.items():
        measured = cells[2]
        assert cells[0].startswith(f"{workload} (smoke: "), cells  # the size it really ran at
        if impl == "micrograd" and workload not in MICROGRAD_WORKLOADS:
            assert measured.startswith("n/a"), (workload, impl, cells)
        else:
            # dp is required: a dp that cannot be imported gives "skipped" rows, a failure here.
            assert any(ch.isdigit() for ch in measured), (workload, impl, cells)

    # W2-32x32 is named for the full run's size; the smoke run's row must not claim it.
    assert "32x32" not in rows["W2-32x32", "dp"][0].removeprefix("W2-32x32")
    # No target is judged: dp's Met cells (7th of the timing table, last of the memory table)
    # read "—", and no cell says "NO".
    assert all(rows[workload, "dp"][6] == "—" for workload in WORKLOADS if workload != "MEM")
    assert rows["MEM", "dp"][-1] == "—" and "**NO**" not in proc.stdout

    assert "## Gradient check" in proc.stdout
    written = out.read_text()
    assert "## Machine" in written and _table_rows(written) == rows
