"""Memory allocator settings: ask glibc to keep freed memory for the next training step.

Why: a training step builds a graph, allocates every intermediate array and gradient, and frees
them all at the end of the step. With glibc's default settings, once more than 128 KiB lies free
at the top of the heap it is handed back to the operating system, and the next step faults every
page in again. Hand-written NumPy avoids this by allocating its buffers once; a graph-building
library cannot, so it keeps what it freed instead.

`keep_freed_memory()` raises glibc's trim threshold (freed memory stays with the process, up to
that much) and fixes the mmap threshold at its usual ceiling (arrays up to 32 MiB come from the
heap and are reused, as glibc's own adaptive rule would end up doing). The cost: the process's
resident memory does not shrink after a peak, and the setting holds for the whole process (glibc
cannot say what it was before, so it cannot be undone).

It is not applied when dp is imported, because the process is the user's: importing dp leaves
malloc alone. dp applies it where it trains: the first `Model.get_grad` or optimizer step (and so
`Optimizer.train`), `python -m dp.demo` and the benchmark children that import dp
(`benchmarks/run.py`). A loop of your own on Nodes alone (`loss.grad(1)`, no Model) can call it
once itself. Setting the
environment variable `DP_MALLOC_DEFAULTS=1` makes it do nothing, and elsewhere than glibc it
does nothing.

What it is worth (2-core Xeon, glibc 2.36, one BLAS thread, `benchmarks/run.py --impl dp --workload
W1-f32,W3,W5 --no-memory --samples 30 --rounds 3`, with `DP_MALLOC_DEFAULTS=1` for "without";
CPU/wall 0.98-1.00, i.e. the children had their core; median time a step, ratio to hand-written
NumPy, minor page faults a step):

    workload                                 with it                 without it
    W1-f32  784-500-200-10, batch 128, f32   2.97 ms, 1.08x, 0       3.09 ms, 1.11x, 0
    W3      10 sigmoid layers of 100, f64    1.55 ms, 1.30x, 0       2.35 ms, 1.89x, 474
    W5      LeNet, batch 64, f32             6.83 ms, 1.50x, 0       9.42 ms, 1.98x, 1762

Where glibc's adaptive thresholds settle by themselves (W1: freeing its large arrays raises them)
the setting changes little; where they do not (W3's arrays are all under 128 KiB, so glibc never
adapts; W5) a step is about 40-50% slower without it.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 512 * 2**20
MMAP_THRESHOLD = 32 * 2**20


def keep_freed_memory() -> bool:
    """Apply the settings above (once: later calls cost a check); True if glibc accepted them."""
    global _kept
    if os.environ.get("DP_MALLOC_DEFAULTS") == "1" or not sys.platform.startswith("linux"):
        return False
    if _kept:
        return True
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  only glibc has it (musl's mallopt does nothing)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    _kept = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _kept


_kept = False  # whether glibc took the settings in this process
