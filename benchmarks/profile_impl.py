"""Profile one implementation on one workload with cProfile, in this process.

    python benchmarks/profile_impl.py dp W1-f32            # top 25 by own time
    python benchmarks/profile_impl.py dp W2-1x1 --steps 300 --sort cumulative
    python benchmarks/profile_impl.py dp W1-f32 --save /tmp/w1.prof   # for snakeviz & co.
    py-spy record --native -o w2.svg -- python benchmarks/profile_impl.py dp W2-1x1 --loop 10

Threads are pinned as in ``run.py``'s children (set ``OPENBLAS_NUM_THREADS=1`` in the
environment too, for BLAS to start that way).  cProfile does not see NumPy's ufuncs or the
``@`` operator as calls of their own: their time is the *own* time of the Python function
that invoked them, so a derivative rule's own time is mostly the NumPy work it does, and
``{built-in ...}`` rows and Python functions with many calls show the interpreter overhead.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pstats
import sys
import time

import numpy as np

import run
import workloads as wl


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("impl", choices=list(run.IMPLS))
    p.add_argument("workload", choices=list(run.SPECS))
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative, ...)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--smoke", action="store_true", help="the smoke run's tiny sizes")
    p.add_argument("--save", help="also write the raw profile to this file")
    p.add_argument(
        "--loop", type=float, metavar="SECONDS", help="no cProfile: just run steps this long, for a sampling profiler"
    )
    args = p.parse_args(argv)

    module = importlib.import_module(run.IMPLS[args.impl].module)
    run._pin_threads(module, args.threads)
    spec = run.SPECS[args.workload]
    impl = module.WORKLOADS[spec.kind]
    state = impl.make_state(run.SEED, np.dtype(spec.dtype), spec.sizes(wl.SMOKE if args.smoke else wl.FULL))
    for _ in range(5):
        impl.step(state)
    if args.loop:
        end = time.perf_counter() + args.loop
        while time.perf_counter() < end:
            impl.step(state)
        return 0

    start = time.perf_counter()
    for _ in range(args.steps):
        impl.step(state)
    plain = (time.perf_counter() - start) / args.steps

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.steps):
        impl.step(state)
    profiler.disable()

    print(f"{args.impl} {args.workload}: {plain * 1e3:.4f} ms/step without the profiler, {args.steps} steps profiled\n")
    stats = pstats.Stats(profiler)
    stats.sort_stats(args.sort).print_stats(args.top)
    if args.save:
        stats.dump_stats(args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
