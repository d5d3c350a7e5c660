"""Memory allocator settings: ask glibc to keep freed memory for the next training step.

Why: a training step builds a graph, allocates every intermediate array and gradient, and frees
them all at the end of the step. With glibc's default settings, once more than 128 KiB lies free
at the top of the heap it is handed back to the operating system, and the next step faults every
page in again. On the machines dp is benchmarked on a page fault costs about 4 µs: the paper's
10-layer sigmoid network (W3 in `make bench`) took 2.6x the time of hand-written NumPy with about
500 faults a step, and 1.4x with none. Hand-written NumPy avoids this by allocating its buffers once;
a graph-building library cannot, so it keeps what it freed instead.

`keep_freed_memory()` raises glibc's trim threshold (freed memory stays with the process, up to
that much) and fixes the mmap threshold at its usual ceiling (arrays up to 32 MiB come from the
heap and are reused, as glibc's own adaptive rule would end up doing). The cost: the process's
resident memory does not shrink after a peak. It is called once when dp is imported; set the
environment variable `DP_MALLOC_DEFAULTS=1` to leave the allocator alone. Elsewhere than glibc it
does nothing.
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
    """Apply the settings above; True if glibc accepted them."""
    if os.environ.get("DP_MALLOC_DEFAULTS") == "1" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # only glibc has it (musl's mallopt does nothing)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
