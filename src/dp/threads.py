"""BLAS threads: run dp's own training loops on one BLAS thread unless told otherwise.

Why: a training step of the paper's MNIST network (784-500-200-10, batch 128, float32) is a
handful of matrix products of a millisecond or less each. OpenBLAS splits every product over all
the cores it finds, and its threads wait for each other at the end of each one. On an idle
machine two threads are faster than one; but as soon as something else holds one of the cores
(another program, a second test worker), the thread that lost its core stalls the other at every
product. Measured on a 2-core Xeon (OpenBLAS 0.3.31, one step = forward, backward and Adam,
median of 40 samples of 5 steps; the load is the 1-minute load average):

    machine (1-minute load average)              1 thread    2 threads
    idle (0.7-1.0)                               4.6 ms      3.7 ms (15 ms in a second run)
    a busy loop on the other core (0.9-1.1)      5.1 ms      8.0 ms
    other people's jobs (1.6-2.7)                4.3-4.6 ms  6.7-40 ms
    other jobs and a busy loop (3-5)             9-27 ms     85-121 ms

The whole demo (2 500 steps) beside other jobs (load 3.3): 14 s on one thread, 125 s on two;
with a busy loop as well (load 3.7-4.1): 35 s and 261 s.

One thread is never much slower and never wrecked, so the demo uses one by default (and so
should `Optimizer.train`).

`limit_blas_threads(n)` is a context manager that sets NumPy's BLAS to `n` threads inside the
`with` block and restores the previous count after it; `n=None` leaves BLAS alone. It uses
threadpoolctl when it is installed (any BLAS: OpenBLAS, MKL, BLIS); without it, it calls
OpenBLAS's own `openblas_set_num_threads` (as exported by NumPy's wheels) through ctypes on
Linux; where neither is possible it does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# The names OpenBLAS's thread functions have in NumPy's wheels (scipy-openblas, 64-bit integers)
# and in a system OpenBLAS.
_OPENBLAS_SYMBOLS = (
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


@contextmanager
def limit_blas_threads(threads: int | None = 1) -> Iterator[bool]:
    """Run the `with` block with NumPy's BLAS on `threads` threads; yield whether it could.

    `None` leaves the BLAS thread count as it is (and yields False).
    """
    if threads is None:
        yield False
        return
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"limit_blas_threads: threads must be a positive int or None, got {threads!r}")
    threads = int(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        with _openblas_threads(threads) as limited:
            yield limited
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield True


@contextmanager
def _openblas_threads(threads: int) -> Iterator[bool]:
    """The fallback without threadpoolctl: OpenBLAS's own setter, found among the loaded libraries."""
    pools = _loaded_openblas()
    previous = [get() for get, _ in pools]
    for _, set_threads in pools:
        set_threads(threads)
    try:
        yield bool(pools)
    finally:
        for (_, set_threads), count in zip(pools, previous):
            set_threads(count)


def _loaded_openblas() -> list[tuple[Callable[[], int], Callable[[int], None]]]:
    """(get, set) of the number of threads of every OpenBLAS this process has loaded (Linux only:
    the libraries are read from /proc/self/maps; NumPy has loaded its BLAS once dp is imported)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    fields = (line.split(maxsplit=5) for line in maps.splitlines())  # address perms offset dev inode path
    paths = {f[5] for f in fields if len(f) == 6 and "openblas" in Path(f[5]).name.lower()}
    pools = []
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _OPENBLAS_SYMBOLS:
            get, set_threads = getattr(library, get_name, None), getattr(library, set_name, None)
            if get is not None and set_threads is not None:
                get.restype, set_threads.argtypes = ctypes.c_int, [ctypes.c_int]
                pools.append((get, set_threads))
                break
    return pools
