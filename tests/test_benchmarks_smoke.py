"""`make test` proves that the benchmark suite works: `benchmarks/run.py --smoke` runs every
workload for every implementation (dp included), checks their gradients against hand-written
NumPy and prints the table.  Timings are not asserted: a smoke run's numbers mean nothing.
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
    """(workload, implementation) -> the remaining cells, for each row of the result tables."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] in WORKLOADS and cells[1] in IMPLEMENTATIONS:
            rows.setdefault((cells[0], cells[1]), cells[2:])
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
        measured = cells[0]
        if impl == "micrograd" and workload not in MICROGRAD_WORKLOADS:
            assert measured.startswith("n/a"), (workload, impl, cells)
        else:
            # dp is required: a dp that cannot be imported gives "skipped" rows, a failure here.
            assert any(ch.isdigit() for ch in measured), (workload, impl, cells)

    assert "## Gradient check" in proc.stdout
    written = out.read_text()
    assert "## Machine" in written and _table_rows(written) == rows
