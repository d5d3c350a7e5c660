"""dp benchmark suite: how far is dp from hand-written NumPy, PyTorch, autograd and micrograd?

Usage::

    python benchmarks/run.py                 # the full run (`make bench`); writes benchmarks/results/latest.md
    python benchmarks/run.py --update-docs   # the same, and rewrites the published docs/benchmarks.md
    python benchmarks/run.py --threads 2     # BLAS / PyTorch with two threads instead of one
    python benchmarks/run.py --smoke         # tiny sizes, a few steps, writes nothing (< 60 s)
    python benchmarks/run.py --smoke --out /tmp/bench.md
    python benchmarks/run.py --impl dp --workload W1-f32,W2-1x1   # a subset (NumPy always runs)
    python benchmarks/run.py --impl dp,dp-traced --workload W1-f32,W4 --no-memory

Workloads (definitions and seeded data in ``workloads.py``):

* **W1** the paper's MNIST network 784-500-200-10 (ReLU, ReLU, softmax cross-entropy from
  logits, mean over the batch), batch 128, one training step (forward, backward, SGD with
  lr 0.1), float32 (``W1-f32``) and float64 (``W1-f64``); He-initialised weights, random
  inputs and labels.  Minor page faults per step are reported too.
* **W2** per-operation overhead: ``y = tanh(y * 0.5 + 0.1)`` 333 times on a named leaf, then
  ``sum``; forward + backward, reported in microseconds per operation (time / 999), on a
  1x1 (``W2-1x1``) and a 32x32 (``W2-32x32``) array.
* **W3** the vanishing-gradient network: 10 sigmoid layers of width 100 (the last of width
  1), batch 64, binary cross-entropy, one training step, float64.
* **W4** the scalar neuron ``sigmoid(a*x + b*y + c)`` at (1, 2, -3, -1, 3): gradients per
  second.
* **W5** LeNet: conv 5x5 (1->6), ReLU, max-pool 2, conv 5x5 (6->16), ReLU, max-pool 2,
  linear 256->120, ReLU, linear 120->10, softmax cross-entropy; batch 64 of random 28x28
  one-channel images, one training step, float32.  Target: dp <= 1.5x PyTorch.
* **W6** an LSTM 32->128 over 50 steps (batch 32, batch first, zero initial state), a linear
  head 128->10 on the last hidden state, softmax cross-entropy; one training step, float32.
  Target: dp <= 1.2x PyTorch's ``nn.LSTM``.
* **W7** ``binary_cross_entropy_with_logits`` of 100x784 logits against targets in [0, 1],
  mean over all elements, forward + backward with respect to the logits, float32
  (``W7-f32``) and float64 (``W7-f64``).  Target: dp <= 1.2x PyTorch.
* **Peak memory**: W1 float32 for 35 steps, peak resident set of the process.

Implementations, one module each with the same interface per workload (``make_state``,
``step``, ``gradients``): ``impl_numpy`` (forward and backward derived by hand, the
practical limit), ``impl_dp``, ``impl_dp_traced`` (``dp-traced``: ``dp.trace`` of
impl_dp's own step functions, recorded once and replayed as generated NumPy),
``impl_torch`` (CPU eager), ``impl_autograd`` (HIPS; no convolution, so not W5) and
``impl_micrograd`` (scalar-only: W2 1x1 and W4).

Targets (the static-graph issue) for ``dp-traced``: W1 float32 and float64 and W3 <= 0.95x
hand-written NumPy, W2 1x1 and 32x32 <= 1.3x NumPy, W4 a time per gradient <= 0.5x
micrograd's, and a W1 peak memory at most dynamic dp's.  Its tracing time (the first call:
recording, compiling and running once, in the timing child) is reported per workload.

Method:

1. **Gradient check first.**  One fresh process per implementation computes the gradients
   of every workload from the same seeded weights and batch; they must match hand-written
   NumPy's (same dtype and shape; ``|g - ref| <= rtol * |ref| + rtol * max|ref|`` with
   rtol 1e-4 for float32 and 1e-9 for float64).  Any mismatch stops the run (exit 1)
   before anything is timed.
2. **Timing.**  Every (implementation, workload) pair runs in a fresh child process of the
   same Python, with BLAS pinned to ``--threads`` threads (``OPENBLAS_NUM_THREADS``,
   ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` in its environment, threadpoolctl inside it,
   ``torch.set_num_threads``) and with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``
   removed from its environment (only there).  The child warms up (>= 5 steps and 0.3 s),
   then takes its share of the samples; a sample times enough consecutive steps to last at
   least 10 ms and records the time per step.  ``--samples`` (default 100, at least 30) are
   taken in ``--rounds`` (default 5) interleaved rounds of fresh processes, the order of
   the implementations alternating, so that a slow spell of a shared machine does not land
   on one implementation only; the samples of the rounds are pooled.  Reported: median and
   inter-quartile range, ratios of the medians to hand-written NumPy's and to PyTorch's,
   minor page faults per step (``ru_minflt``), the child's CPU time over wall time (a
   contention gauge: this machine may be shared), and the targets for dp and dp traced, each
   against its own baseline (NumPy for W1-W3, micrograd for W4, PyTorch for W5-W7, dynamic dp
   for dp traced's memory; also in a table of their own).
   The garbage collector stays on (its cost is part of an engine's overhead).  A child that
   imports dp calls ``dp.allocator.keep_freed_memory()`` first, as ``python -m dp.demo`` does
   (importing dp alone leaves malloc alone): see ``dp/allocator.py``.
3. **Peak memory**: one more fresh process per implementation runs 35 W1 float32 steps and
   reports its peak resident set (``VmHWM``, Linux's per-process ``ru_maxrss`` that does not
   inherit the parent's), also minus its value after the imports.

A target missed is reported in the table, never an error; a ``--smoke`` run judges no target
(its Met column reads "—") and names each row's tiny size beside the workload's name (W2-32x32
runs on 3x3 there).  The tables go to stdout; the full run also writes them with the machine's
facts to ``benchmarks/results/latest.md``, which git ignores: your numbers are yours (``--out``
chooses another path; ``--smoke`` and subset runs write only where ``--out`` says).  Only
``--update-docs``, on a full run of everything, rewrites the published ``docs/benchmarks.md``.
A dp that cannot be imported yet gives skipped dp rows with a note instead of numbers.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import workloads as wl  # noqa: E402

REPO = HERE.parent
DOCS = REPO / "docs" / "benchmarks.md"  # published: rewritten only with --update-docs
LATEST = HERE / "results" / "latest.md"  # untracked: where a full run writes by default
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
REMOVED_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SEED = 0
RTOL = {"float32": 1e-4, "float64": 1e-9}
MIN_SAMPLES = 30
_LIMITS: Any = None  # the child's threadpoolctl limiter, kept alive for its lifetime


@dataclass(frozen=True)
class Settings:
    """What the driver passes to its children (as JSON) besides the tasks."""

    smoke: bool
    threads: int
    samples: int  # per child process: the total is samples * rounds
    rounds: int
    warmup_steps: int
    warmup_s: float
    min_sample_s: float

    @property
    def sizes(self) -> wl.Sizes:
        return wl.SMOKE if self.smoke else wl.FULL


SPECS: dict[str, wl.WorkloadSpec] = {s.id: s for s in wl.WORKLOAD_SPECS}
IMPLS: dict[str, wl.ImplInfo] = {i.name: i for i in wl.IMPLEMENTATIONS}


# =========================================================================== child side


def _pin_threads(module: Any, threads: int) -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info, threadpool_limits

    global _LIMITS
    if hasattr(module, "set_threads"):
        module.set_threads(threads)
    _LIMITS = threadpool_limits(limits=threads)
    return threadpool_info()


def _describe_library(impl: str) -> dict[str, Any]:
    """Facts only the child can see (the library is imported there and only there)."""
    if impl != "torch":
        return {}
    import torch

    blas = next(
        (
            line.strip(" -")
            for line in torch.__config__.show().splitlines()
            if "Math Kernel Library" in line or "OpenBLAS" in line
        ),
        "unknown",
    )
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_blas": blas,
    }


def _time_task(impl: wl.WorkloadImpl, spec: wl.WorkloadSpec, st: Settings) -> dict[str, Any]:
    """Samples of the time per step; and a traced implementation's first call (``first_call_s``
    of its state: tracing, compiling and running once), which happens in ``make_state``."""
    state = impl.make_state(SEED, np.dtype(spec.dtype), spec.sizes(st.sizes))
    start, n_warm = time.perf_counter(), 0
    while n_warm < st.warmup_steps or time.perf_counter() - start < st.warmup_s:
        impl.step(state)
        n_warm += 1
    per_step = (time.perf_counter() - start) / n_warm
    inner = max(1, round(st.min_sample_s / per_step)) if per_step > 0 else 1
    gc.collect()
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    samples = []
    for _ in range(st.samples):
        t0 = time.perf_counter()
        for _ in range(inner):
            impl.step(state)
        samples.append((time.perf_counter() - t0) / inner)
    cpu_share = (time.process_time() - cpu_before) / (time.perf_counter() - wall_before)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    finite = all(np.all(np.isfinite(g)) for g in impl.gradients(state).values())
    return {
        "samples": samples,
        "inner": inner,
        "warmup_steps": n_warm,
        "faults_per_step": faults / (st.samples * inner),
        "cpu_share": cpu_share,
        "finite_after": bool(finite),
        "first_call_s": getattr(state, "first_call_s", None),
    }


def _peak_rss_kib() -> int:
    """This process's peak resident set, in KiB.

    Linux: ``VmHWM`` of ``/proc/self/status``, which starts afresh at ``exec``.  (``ru_maxrss``
    does not: it carries the forking parent's resident set over, so a child of a large driver
    would report the driver's size.)  Elsewhere ``ru_maxrss`` is the best there is.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _memory_task(impl: wl.WorkloadImpl, spec: wl.WorkloadSpec, st: Settings) -> dict[str, Any]:
    kib_after_import = _peak_rss_kib()
    state = impl.make_state(SEED, np.dtype(spec.dtype), spec.sizes(st.sizes))
    for _ in range(st.sizes.memory_steps):
        impl.step(state)
    return {"peak_kib": _peak_rss_kib(), "import_kib": kib_after_import}


def child_main(spec_path: str) -> int:
    job = json.loads(Path(spec_path).read_text())
    st = Settings(**job["settings"])
    info = IMPLS[job["impl"]]
    out: dict[str, Any] = {"results": {}}
    try:
        module = importlib.import_module(info.module)
    except ImportError as exc:  # dp before node.py exists
        out["import_error"] = f"{type(exc).__name__}: {exc}"
        Path(job["result"]).write_text(json.dumps(out))
        return 0
    if "dp" in sys.modules:  # dp's implementations run as dp's own training loops do
        from dp.allocator import keep_freed_memory

        keep_freed_memory()
    out["threadpool"] = _pin_threads(module, st.threads)
    out["library"] = _describe_library(job["impl"])
    for task in job["tasks"]:
        spec = SPECS[task["workload"]]
        impl = module.WORKLOADS[spec.kind]
        key = f"{task['type']}:{spec.id}"
        if task["type"] == "check":
            state = impl.make_state(SEED, np.dtype(spec.dtype), spec.sizes(st.sizes))
            np.savez(task["path"], **impl.gradients(state))
            out["results"][key] = {"path": task["path"]}
        elif task["type"] == "time":
            out["results"][key] = _time_task(impl, spec, st)
        elif task["type"] == "memory":
            out["results"][key] = _memory_task(impl, spec, st)
        else:
            raise ValueError(task["type"])
    Path(job["result"]).write_text(json.dumps(out))
    return 0


# =========================================================================== driver side


class BenchmarkError(RuntimeError):
    pass


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in REMOVED_VARS:
        env.pop(var, None)
    for var in THREAD_VARS:
        env[var] = str(threads)
    return env


@dataclass
class Runner:
    settings: Settings
    workdir: Path
    counter: int = 0
    facts: dict[str, Any] = field(default_factory=dict)  # impl -> threadpool / library info

    def run(self, impl: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
        """One fresh child process of the same Python for ``tasks`` of one implementation."""
        self.counter += 1
        spec_path = self.workdir / f"job{self.counter}.json"
        result_path = self.workdir / f"result{self.counter}.json"
        spec_path.write_text(
            json.dumps(
                {
                    "impl": impl,
                    "tasks": tasks,
                    "result": str(result_path),
                    "settings": self.settings.__dict__,
                }
            )
        )
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)],
            env=child_env(self.settings.threads),
            capture_output=True,
            text=True,
            timeout=900,
            cwd=REPO,
        )
        if proc.returncode != 0 or not result_path.exists():
            what = ", ".join(t["type"] + " " + t["workload"] for t in tasks)
            raise BenchmarkError(
                f"the {impl} child process ({what}) failed with exit status {proc.returncode}:\n{proc.stderr[-4000:]}"
            )
        out = json.loads(result_path.read_text())
        if "threadpool" in out:
            self.facts.setdefault(impl, {"threadpool": out["threadpool"], "library": out["library"]})
        return out


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class CheckResult:
    errors: dict[tuple[str, str], float]  # (impl, workload) -> worst scaled error
    failures: list[str]
    skipped: dict[str, str]  # impl -> why


def compare_gradients(ref: dict[str, np.ndarray], got: dict[str, np.ndarray], rtol: float) -> tuple[float, list[str]]:
    """Worst error relative to each tensor's largest |reference| entry, and the problems."""
    problems, worst = [], 0.0
    if set(got) != set(ref):
        problems.append(f"gradient names {sorted(got)} != {sorted(ref)}")
    for name in sorted(set(ref) & set(got)):
        r, g = ref[name], got[name]
        if g.shape != r.shape or g.dtype != r.dtype:
            problems.append(f"{name}: {g.dtype}{list(g.shape)} != reference {r.dtype}{list(r.shape)}")
            continue
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        err = float(np.max(np.abs(g.astype(np.float64) - r))) / scale if scale else 0.0
        worst = max(worst, err if np.isfinite(err) else np.inf)
        if not np.allclose(g, r, rtol=rtol, atol=rtol * scale):
            problems.append(f"{name}: max |g - ref| / max|ref| = {err:.3g} (rtol {rtol:g})")
    return worst, problems


def check_gradients(runner: Runner, impls: Sequence[str], specs: Sequence[wl.WorkloadSpec]) -> CheckResult:
    grads: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    skipped: dict[str, str] = {}
    for impl in impls:
        todo = [s for s in specs if IMPLS[impl].applies(s)]
        tasks = [
            {"type": "check", "workload": s.id, "path": str(runner.workdir / f"grad-{impl}-{s.id}.npz")} for s in todo
        ]
        out = runner.run(impl, tasks)
        if "import_error" in out:
            skipped[impl] = out["import_error"]
            _progress(f"[check] {impl}: SKIPPED, not importable ({out['import_error']})")
            continue
        for s in todo:
            with np.load(out["results"][f"check:{s.id}"]["path"]) as f:
                grads[impl, s.id] = {k: f[k] for k in f.files}
        _progress(f"[check] {impl}: gradients computed")
    if wl.REFERENCE in skipped:
        raise BenchmarkError(f"the reference implementation failed to import: {skipped}")
    errors, failures = {}, []
    for (impl, sid), got in grads.items():
        spec = SPECS[sid]
        worst, problems = compare_gradients(grads[wl.REFERENCE, sid], got, RTOL[spec.dtype])
        errors[impl, sid] = worst
        failures += [f"{impl} {sid}: {p}" for p in problems]
    return CheckResult(errors, failures, skipped)


@dataclass
class Timing:
    median: float  # seconds per step
    q1: float
    q3: float
    faults_per_step: float
    cpu_share: float  # process CPU time / wall time while timing: < 1 means it had to wait
    finite_after: bool
    first_call: float | None = None  # a traced implementation's first call (median over rounds)

    @classmethod
    def from_children(cls, results: Sequence[dict[str, Any]]) -> Timing:
        """The samples of every round pooled; page faults averaged over the rounds."""
        s = [x for r in results for x in r["samples"]]
        q1, _, q3 = statistics.quantiles(s, n=4, method="inclusive") if len(s) > 1 else (s[0],) * 3
        first_calls = [r["first_call_s"] for r in results if r.get("first_call_s") is not None]
        return cls(
            statistics.median(s),
            q1,
            q3,
            statistics.fmean(r["faults_per_step"] for r in results),
            min(r["cpu_share"] for r in results),
            all(r["finite_after"] for r in results),
            statistics.median(first_calls) if first_calls else None,
        )


def time_all(
    runner: Runner, impls: Sequence[str], specs: Sequence[wl.WorkloadSpec], rounds: int, group_per_impl: bool
) -> dict[tuple[str, str], Timing]:
    """A fresh process per (implementation, workload, round); per implementation in smoke mode.

    The rounds interleave the implementations (in alternating order), so that a slow spell
    of a shared machine is spread over all of them instead of landing on one.
    """
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in range(rounds):
        order = list(impls) if r % 2 == 0 else list(reversed(impls))
        if group_per_impl:
            jobs = [(impl, [s for s in specs if IMPLS[impl].applies(s)]) for impl in order]
        else:
            jobs = [(impl, [s]) for s in specs for impl in order if IMPLS[impl].applies(s)]
        for impl, group in jobs:
            out = runner.run(impl, [{"type": "time", "workload": s.id} for s in group])
            for s in group:
                res = out["results"][f"time:{s.id}"]
                results.setdefault((impl, s.id), []).append(res)
                _progress(
                    f"[time {r + 1}/{rounds}] {impl:9s} {s.id:9s} median "
                    f"{statistics.median(res['samples']) * 1e3:9.4f} ms/step"
                )
    return {key: Timing.from_children(res) for key, res in results.items()}


def measure_memory(runner: Runner, impls: Sequence[str]) -> dict[str, dict[str, int]]:
    memory = {}
    spec = wl.MEMORY_SPEC
    for impl in impls:
        if IMPLS[impl].applies(spec):
            out = runner.run(impl, [{"type": "memory", "workload": spec.id}])
            memory[impl] = out["results"][f"memory:{spec.id}"]
            _progress(f"[memory] {impl}: peak RSS {memory[impl]['peak_kib'] / 1024:.1f} MiB")
    return memory


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    text: str
    baseline: str  # the implementation the judged one is measured against
    limit: float  # the largest ratio of its median to the baseline's that meets it
    impl: str = "dp"  # the implementation judged

    def ratio(self, timings: dict[str, Timing]) -> float | None:
        """The judged implementation's median over the baseline's, or None where either was
        not run."""
        if self.impl not in timings or self.baseline not in timings:
            return None
        return timings[self.impl].median / timings[self.baseline].median

    def met(self, timings: dict[str, Timing]) -> bool | None:
        ratio = self.ratio(timings)
        return None if ratio is None else ratio <= self.limit


BASELINE_NAMES = {"numpy": "NumPy", "torch": "PyTorch", "micrograd": "micrograd", "dp": "dp"}
TRACED = "dp-traced"


def _ratio_at_most(limit: float, baseline: str = wl.REFERENCE, impl: str = "dp") -> Target:
    return Target(f"<= {limit:.2f}x {BASELINE_NAMES[baseline]}", baseline, limit, impl)


#: (judged implementation, workload) -> its target.
TARGETS: dict[tuple[str, str], Target] = {
    ("dp", "W1-f32"): _ratio_at_most(1.10),
    ("dp", "W1-f64"): _ratio_at_most(1.10),
    ("dp", "W2-1x1"): _ratio_at_most(2.0),
    ("dp", "W2-32x32"): _ratio_at_most(1.3),
    ("dp", "W3"): _ratio_at_most(1.15),
    # A rate at least micrograd's is a time per gradient at most micrograd's.
    ("dp", "W4"): Target(">= micrograd's rate", "micrograd", 1.0),
    # The layers issue: side by side with PyTorch CPU eager.
    ("dp", "W5"): _ratio_at_most(1.5, "torch"),
    ("dp", "W6"): _ratio_at_most(1.2, "torch"),
    ("dp", "W7-f32"): _ratio_at_most(1.2, "torch"),
    ("dp", "W7-f64"): _ratio_at_most(1.2, "torch"),
    # The static-graph issue: the traced program against hand-written NumPy and micrograd.
    (TRACED, "W1-f32"): _ratio_at_most(0.95, impl=TRACED),
    (TRACED, "W1-f64"): _ratio_at_most(0.95, impl=TRACED),
    (TRACED, "W2-1x1"): _ratio_at_most(1.3, impl=TRACED),
    (TRACED, "W2-32x32"): _ratio_at_most(1.3, impl=TRACED),
    (TRACED, "W3"): _ratio_at_most(0.95, impl=TRACED),
    (TRACED, "W4"): Target("<= 0.50x micrograd's time", "micrograd", 0.5, TRACED),
}
#: Peak memory of the MEM run: (judged implementation) -> (baseline, largest ratio of the peaks).
MEMORY_TARGETS: dict[str, tuple[str, float]] = {"dp": (wl.REFERENCE, 1.2), TRACED: ("dp", 1.0)}


# --------------------------------------------------------------------------- report


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt_time(spec: wl.WorkloadSpec, seconds: float, sizes: wl.Sizes) -> str:
    if spec.kind == "chain":
        return f"{seconds / (3 * sizes.chain_links) * 1e6:.3f} us/op"
    if spec.kind == "neuron":
        return f"{seconds * 1e6:.3f} us ({1 / seconds:,.0f} grad/s)"
    return f"{seconds * 1e3:.3f} ms/step"


def _fmt_iqr(spec: wl.WorkloadSpec, t: Timing, sizes: wl.Sizes) -> str:
    return _fmt_time(spec, t.q3 - t.q1, sizes).split(" (")[0]


def _workload_cell(name: str, smoke_size: str, settings: Settings) -> str:
    """A table's Workload cell.  The names give the full run's sizes (W2-32x32); a smoke run
    runs them tiny, so it says the size it really ran at next to the name."""
    return f"{name} (smoke: {smoke_size})" if settings.smoke else name


def _met_cell(met: bool | None, settings: Settings, not_run: str = "") -> str:
    """Whether dp met its target.  A smoke run judges none: its numbers mean nothing, and a
    column of "NO" would only alarm.  Nor does a run without what the target compares (None)."""
    if settings.smoke:
        return "—"
    if met is None:
        return f"— ({not_run} not run)"
    return "yes" if met else "**NO**"


def _target_met_cell(target: Target, timings: dict[str, Timing], settings: Settings) -> str:
    missing = [impl for impl in (target.impl, target.baseline) if impl not in timings]
    return _met_cell(target.met(timings), settings, " and ".join(missing))


def _ratio_cell(timing: Timing, baseline: Timing | None) -> str:
    return f"{timing.median / baseline.median:.2f}x" if baseline else ""


def timing_table(
    timings: dict[tuple[str, str], Timing],
    specs: Sequence[wl.WorkloadSpec],
    impls: Sequence[str],
    skipped: dict[str, str],
    settings: Settings,
) -> str:
    sizes = settings.sizes
    headers = [
        "Workload",
        "Implementation",
        "Median",
        "IQR",
        "x NumPy",
        "x PyTorch",
        "Target",
        "Met",
        "Minor faults/step",
        "CPU/wall",
    ]
    rows = []
    for spec in specs:
        workload = _workload_cell(spec.id, spec.describe(sizes), settings)
        by_impl = {i: timings[i, spec.id] for i in impls if (i, spec.id) in timings}
        for impl in impls:
            why_not = IMPLS[impl].not_applicable(spec)
            if why_not:
                rows.append([workload, impl, f"n/a ({why_not})"] + [""] * 7)
                continue
            if impl in skipped:
                rows.append([workload, impl, "skipped: not importable"] + [""] * 7)
                continue
            t = by_impl[impl]
            target, met = "", ""
            if (impl, spec.id) in TARGETS:
                target = TARGETS[impl, spec.id].text
                met = _target_met_cell(TARGETS[impl, spec.id], by_impl, settings)
            median = _fmt_time(spec, t.median, sizes) + ("" if t.finite_after else " (non-finite!)")
            rows.append(
                [
                    workload,
                    impl,
                    median,
                    _fmt_iqr(spec, t, sizes),
                    _ratio_cell(t, by_impl.get(wl.REFERENCE)),
                    _ratio_cell(t, by_impl.get("torch")),
                    target,
                    met,
                    f"{t.faults_per_step:.1f}",
                    f"{t.cpu_share:.2f}",
                ]
            )
    return md_table(headers, rows)


def targets_table(
    timings: dict[tuple[str, str], Timing],
    specs: Sequence[wl.WorkloadSpec],
    memory: dict[str, dict[str, int]] | None,
    settings: Settings,
) -> str:
    """dp's and dp traced's targets on their own: the ratio each is judged by, against its own
    baseline; the peak-memory targets last (when memory was measured)."""
    rows = []
    for spec in specs:
        by_impl = {i: t for (i, sid), t in timings.items() if sid == spec.id}
        for (impl, sid), target in TARGETS.items():
            if sid != spec.id:
                continue
            ratio = target.ratio(by_impl)
            rows.append(
                [
                    _workload_cell(spec.id, spec.describe(settings.sizes), settings),
                    impl,
                    target.text,
                    "" if ratio is None else f"{ratio:.2f}x {BASELINE_NAMES[target.baseline]}",
                    _target_met_cell(target, by_impl, settings),
                ]
            )
    for impl, (baseline, limit) in MEMORY_TARGETS.items():
        if memory is not None and impl in memory and baseline in memory:
            ratio = memory[impl]["peak_kib"] / memory[baseline]["peak_kib"]
            rows.append(
                [
                    _memory_workload_cell(settings),
                    impl,
                    _memory_target_text(baseline, limit),
                    f"{ratio:.2f}x {BASELINE_NAMES[baseline]}",
                    _met_cell(ratio <= limit, settings),
                ]
            )
    return md_table(["Workload", "Implementation", "Target", "Ratio to its baseline", "Met"], rows)


def _memory_workload_cell(settings: Settings) -> str:
    return _workload_cell(
        "MEM", f"{settings.sizes.memory_steps} steps of {wl.MEMORY_SPEC.describe(settings.sizes)}", settings
    )


def _memory_target_text(baseline: str, limit: float) -> str:
    return f"<= {limit:.2f}x {BASELINE_NAMES[baseline]}'s peak"


def tracing_table(timings: dict[tuple[str, str], Timing], specs: Sequence[wl.WorkloadSpec], settings: Settings) -> str:
    """Each traced workload's first call (trace, compile, run once) beside one replayed step."""
    rows = []
    for spec in specs:
        t = timings.get((TRACED, spec.id))
        if t is None or t.first_call is None:
            continue
        rows.append(
            [
                _workload_cell(spec.id, spec.describe(settings.sizes), settings),
                TRACED,
                f"{t.first_call * 1e3:.3f} ms",
                f"{t.median * 1e3:.4f} ms",
                f"{t.first_call / t.median:,.0f}",
            ]
        )
    return md_table(
        ["Workload", "Implementation", "First call (trace + compile + run)", "Replayed step", "First call / step"], rows
    )


def memory_table(
    memory: dict[str, dict[str, int]], impls: Sequence[str], skipped: dict[str, str], settings: Settings
) -> str:
    headers = [
        "Workload",
        "Implementation",
        "Peak RSS",
        "RSS after imports",
        "Growth",
        "x NumPy (peak)",
        "x NumPy (growth)",
        "Target",
        "Met",
    ]
    workload = _memory_workload_cell(settings)
    ref = memory.get(wl.REFERENCE)
    rows = []
    for impl in impls:
        why_not = IMPLS[impl].not_applicable(wl.MEMORY_SPEC)
        if why_not:
            rows.append([workload, impl, f"n/a ({why_not})"] + [""] * 6)
            continue
        if impl in skipped:
            rows.append([workload, impl, "skipped: not importable"] + [""] * 6)
            continue
        m = memory[impl]
        growth = m["peak_kib"] - m["import_kib"]
        ratio = m["peak_kib"] / ref["peak_kib"]
        ref_growth = ref["peak_kib"] - ref["import_kib"]
        g_ratio = f"{growth / ref_growth:.2f}x" if ref_growth > 0 else ""
        target = met = ""
        if impl in MEMORY_TARGETS:
            baseline, limit = MEMORY_TARGETS[impl]
            target = _memory_target_text(baseline, limit)
            met = _met_cell(
                memory[impl]["peak_kib"] / memory[baseline]["peak_kib"] <= limit if baseline in memory else None,
                settings,
                baseline,
            )
        rows.append(
            [
                workload,
                impl,
                f"{m['peak_kib'] / 1024:.1f} MiB",
                f"{m['import_kib'] / 1024:.1f} MiB",
                f"{growth / 1024:.1f} MiB",
                f"{ratio:.2f}x",
                g_ratio,
                target,
                met,
            ]
        )
    return md_table(headers, rows)


def check_table(check: CheckResult, specs: Sequence[wl.WorkloadSpec], impls: Sequence[str], settings: Settings) -> str:
    rows = []
    for spec in specs:
        workload = _workload_cell(spec.id, spec.describe(settings.sizes), settings)
        for impl in impls:
            if (impl, spec.id) in check.errors:
                rows.append([workload, impl, f"{check.errors[impl, spec.id]:.2e}", f"{RTOL[spec.dtype]:g}"])
    return md_table(["Workload", "Implementation", "max abs(g - ref) / max abs(ref)", "rtol"], rows)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts(runner: Runner, settings: Settings, load: Sequence[float]) -> list[str]:
    facts = [
        f"Date: {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M UTC}",
        f"CPU: {_cpu_model()} ({os.cpu_count()} logical CPUs), {platform.platform()}",
        f"Python {platform.python_version()}, NumPy {np.__version__}, torch {_version('torch')}, "
        f"autograd {_version('autograd')}, micrograd {_version('micrograd')}, "
        f"dp {_version('dp')}",
        f"Threads requested: {settings.threads} ({', '.join(THREAD_VARS)}={settings.threads}, "
        f"threadpoolctl, torch.set_num_threads); {', '.join(REMOVED_VARS)} removed from the "
        "children's environment",
        "Load average (1 min) at the start and at the end of the run: "
        + " / ".join(f"{x:.2f}" for x in load)
        + " (anything else running shares the CPUs)",
    ]
    numpy_pools = runner.facts.get(wl.REFERENCE, {}).get("threadpool", [])
    for pool in numpy_pools:
        facts.append(
            f"NumPy's {pool.get('user_api')} library (threadpoolctl): "
            f"{pool.get('internal_api')} {pool.get('version')}, "
            f"{pool.get('num_threads')} thread(s) in use, "
            f"kernel {pool.get('architecture', 'n/a')}, threading layer "
            f"{pool.get('threading_layer', 'n/a')}, {Path(pool.get('filepath', '')).name}"
        )
    torch_facts = runner.facts.get("torch")
    if torch_facts:
        lib = torch_facts["library"]
        pools = ", ".join(
            f"{p.get('internal_api')} {p.get('num_threads')} thread(s)" for p in torch_facts["threadpool"]
        )
        facts.append(
            f"PyTorch: {lib['torch_blas']}; intra-op threads {lib['torch_threads']}, "
            f"inter-op threads {lib['torch_interop_threads']}; threadpoolctl: {pools}"
        )
    return facts


def render(
    settings: Settings,
    specs: Sequence[wl.WorkloadSpec],
    impls: Sequence[str],
    check: CheckResult,
    timings: dict[tuple[str, str], Timing],
    memory: dict[str, dict[str, int]] | None,
    facts: list[str],
    argv: Sequence[str],
) -> str:
    sizes = settings.sizes
    if settings.smoke:
        mode = (
            "SMOKE run (tiny sizes, a few steps: the numbers mean nothing, so no target is "
            "judged; each row says the size it ran at)"
        )
    else:
        mode = "full sizes"
    parts = [
        "# Benchmarks",
        "",
        f"Written by `python benchmarks/run.py{' ' + ' '.join(argv) if argv else ''}` "
        f"({mode}); regenerate it rather than editing it.  The method is described in the "
        "docstring of `benchmarks/run.py`.",
        "",
        "## Machine",
        "",
        *[f"- {fact}" for fact in facts],
        "",
        "## Workloads",
        "",
        *(["The names give the full run's sizes; this smoke run used the sizes below.", ""] if settings.smoke else []),
        *[f"- **{s.id}**: {s.title}; {s.describe(sizes)}" for s in specs],
        f"- **MEM**: peak RSS of a process running {sizes.memory_steps} steps of {wl.MEMORY_SPEC.id}",
        "",
        "Implementations: " + "; ".join(f"`{i.name}` = {i.label}" for i in wl.IMPLEMENTATIONS) + ".",
        "",
        "## Times",
        "",
        f"Median and inter-quartile range of {settings.samples * settings.rounds} samples per "
        f"row, taken in {settings.rounds} interleaved round(s) of fresh processes; `x NumPy` "
        "and `x PyTorch` are the ratios of the medians to hand-written NumPy's and to "
        "PyTorch's (lower is faster).  W2 is per operation (time / "
        f"{3 * sizes.chain_links}); W4 is per gradient evaluation; W7 is per evaluation of "
        "the loss and its gradient.  `CPU/wall` is the lowest, "
        "over the rounds, of the child's CPU time over wall time while timing: well below 1 "
        f"(with {settings.threads} thread(s)) means that something else had the CPU.",
        "",
        timing_table(timings, specs, impls, check.skipped, settings),
        "",
        "## dp's targets",
        "",
        "Each target against its own baseline: hand-written NumPy, PyTorch CPU eager (W5-W7) "
        "or micrograd (W4: for dp a rate at least micrograd's, for dp traced at most half its "
        "time per gradient); dp traced's peak memory against dynamic dp's.",
        "",
        targets_table(timings, specs, memory, settings),
        "",
    ]
    tracing = tracing_table(timings, specs, settings)
    if tracing.count("\n") > 1:
        parts += [
            "## Tracing time",
            "",
            "dp traced's first call, in the timing child: `dp.trace` records the graph, compiles "
            "it to NumPy source and runs it once (median over the rounds), beside the median time "
            "of one replayed step.",
            "",
            tracing,
            "",
        ]
    if memory is not None:
        parts += [
            "## Peak memory",
            "",
            "Peak resident set (`VmHWM`) of a fresh process, at the end; the growth is over its value after "
            "the imports (the libraries' own footprint differs a lot: PyTorch's is large).",
            "",
            memory_table(memory, impls, check.skipped, settings),
            "",
        ]
    parts += [
        "## Gradient check",
        "",
        "Every implementation's gradients against hand-written NumPy's, same weights and batch.",
        "",
        check_table(check, specs, impls, settings),
    ]
    parts += ["", "## Notes", ""]
    parts += [f"- **{impl} rows skipped**: `{why}`" for impl, why in check.skipped.items()]
    parts += [f"- {note}" for note in NOTES]
    return "\n".join(parts) + "\n"


NOTES = (
    "Hand-written NumPy keeps activations, deltas and gradients in buffers allocated once "
    "(`out=`, in-place operators); W2 uses plain expressions, one NumPy call per operation "
    "forward and backward (faster than `out=` on tiny arrays); W4 uses Python floats and "
    "`math.exp`, the fastest scalar path.",
    "dp wraps the weight arrays in fresh named leaves every step (`Node(W, 'W1')`), data "
    "and labels in unnamed ones, and updates the arrays in place from `loss.grad(1)`; W1's "
    "loss is `-(logits.log_softmax() * one_hot).sum() / n`.",
    "dp traced runs the same functions as dp through `dp.trace`, traced once per child on another "
    "batch of the same shapes (so the gradient check would catch data the trace froze), then "
    "`value, grads = step(*data)` and the same SGD update; the weights are captured leaves, read "
    "at every call.",
    "PyTorch uses `F.cross_entropy` and `F.binary_cross_entropy`, `backward()`, and "
    "`p.add_(p.grad, alpha=-lr)` under `no_grad`; W2 and W4 use `torch.autograd.grad`.",
    "autograd differentiates a loss of a parameter dict; the log-softmax is written out "
    "(`autograd.scipy` needs SciPy, which is not installed).",
    "micrograd 0.1.0 has no `tanh` or `exp`: the benchmark adds `tanh` and `sigmoid` the "
    "way micrograd's own operations are written (one `Value` with a `_backward` closure), "
    "and raises the recursion limit for its recursive topological sort on W2's chain.",
    "The SGD update of dp and autograd (shared, `workloads.sgd_update`) scales the returned "
    "gradient arrays in place and subtracts them: no temporary the size of a weight.",
    "W5 by hand: im2col by 25 slice copies into a (C*k*k, OH*OW*N) matrix, activations kept "
    "as (C, H, W, N) so that no transposes are needed between the stages, pooling by four "
    "strided views, col2im as 25 strided additions.  dp: `dp.nn.conv2d`, `.relu()`, "
    "`dp.nn.max_pool2d`, `reshape`, `@`, `dp.nn.cross_entropy` on fresh named leaves.  "
    "PyTorch: `F.conv2d`, `F.relu`, `F.max_pool2d`, `F.linear`, `F.cross_entropy`.",
    "W6 by hand: the input projection of all 50 steps as one matrix product, the gates "
    "through one `tanh` call per step (sigmoid(x) = (1 + tanh(x/2)) / 2), the local "
    "derivatives of every step formed at once before back-propagation through time, the "
    "weight gradients as one product each after it.  dp: a `dp.nn.Model` with a "
    "`dp.nn.LSTM` and a `dp.nn.Linear` head.  PyTorch: `nn.LSTM(batch_first=True)` with "
    "`weight_ih_l0 = Wx.T`, `weight_hh_l0 = Wh.T`, `bias_ih_l0 = b` and `bias_hh_l0` zero "
    "and frozen (dp's LSTM has the one bias), and `nn.Linear`.",
    "W7 by hand: the one-pass form max(z, 0) - z*y + log1p(exp(-|z|)) with the sums of "
    "max(z, 0) and z*y as reductions, and sigmoid(z) from `tanh`.  dp: "
    "`dp.nn.binary_cross_entropy_with_logits(Node(z, 'z'), y).grad(1)`.  PyTorch: "
    "`F.binary_cross_entropy_with_logits` and `torch.autograd.grad`.",
)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--smoke", action="store_true", help="tiny sizes and a few steps; writes nothing unless --out")
    p.add_argument("--threads", type=int, default=1, help="BLAS / PyTorch threads (default 1)")
    p.add_argument("--samples", type=int, help=f"timed samples per row (>= {MIN_SAMPLES}; default 100, 3 with --smoke)")
    p.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds of fresh processes sharing the samples (default 5)"
    )
    p.add_argument(
        "--out",
        type=Path,
        help="markdown file to write (default for a full run of "
        f"everything: {LATEST.relative_to(REPO)}, which git ignores)",
    )
    p.add_argument(
        "--update-docs",
        action="store_true",
        help=f"also rewrite the published {DOCS.relative_to(REPO)} (a full run of everything only)",
    )
    p.add_argument("--impl", help="comma-separated implementations (NumPy always runs): " + ",".join(IMPLS))
    p.add_argument("--workload", help="comma-separated workloads: " + ",".join(SPECS))
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.samples is not None and args.samples < MIN_SAMPLES and not args.smoke:
        p.error(f"--samples must be at least {MIN_SAMPLES}")
    if args.rounds < 1:
        p.error("--rounds must be positive")
    if args.threads < 1:
        p.error("--threads must be positive")
    if args.update_docs and not _full_everything(args):
        p.error(
            f"--update-docs publishes a full run of everything to {DOCS.relative_to(REPO)}: "
            "it takes no --smoke, --impl, --workload or --no-memory"
        )
    return args


def _full_everything(args: argparse.Namespace) -> bool:
    return not (args.smoke or args.impl or args.workload or args.no_memory)


def output_paths(args: argparse.Namespace) -> list[Path]:
    """Where the report is written: ``--out``, else the untracked latest results for a full run
    of everything; and the published docs too with ``--update-docs``."""
    paths = [args.out] if args.out else [LATEST] if _full_everything(args) else []
    return paths + [DOCS] if args.update_docs else paths


def _select(text: str | None, known: dict[str, Any], what: str) -> list[str]:
    if not text:
        return list(known)
    chosen = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return [k for k in known if k in chosen]


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    impls = _select(args.impl, IMPLS, "implementation")
    if wl.REFERENCE not in impls:
        impls.insert(0, wl.REFERENCE)
    specs = [SPECS[s] for s in _select(args.workload, SPECS, "workload")]
    rounds = 1 if args.smoke else args.rounds
    settings = Settings(
        smoke=args.smoke,
        threads=args.threads,
        samples=3 if args.smoke else -(-(args.samples or 100) // rounds),
        rounds=rounds,
        warmup_steps=1 if args.smoke else 5,
        warmup_s=0.0 if args.smoke else 0.3,
        min_sample_s=0.0 if args.smoke else 0.010,
    )
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="dp-bench-") as tmp:
        runner = Runner(settings, Path(tmp))
        try:
            check = check_gradients(runner, impls, specs)
            if check.failures:
                _progress("\n" + check_table(check, specs, impls, settings))
                _progress("\nGRADIENT CHECK FAILED, nothing was timed:\n  " + "\n  ".join(check.failures))
                return 1
            live = [i for i in impls if i not in check.skipped]
            timings = time_all(runner, live, specs, settings.rounds, group_per_impl=settings.smoke)
            memory = None if args.no_memory else measure_memory(runner, live)
        except BenchmarkError as exc:
            _progress(f"\nBENCHMARK FAILED: {exc}")
            return 1
        facts = machine_facts(runner, settings, (load_start, os.getloadavg()[0]))
    report = render(settings, specs, impls, check, timings, memory, facts, argv)
    print(report)
    for out in output_paths(args):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        _progress(f"wrote {out}")
    for impl, why in check.skipped.items():
        _progress(f"NOTE: {impl} rows skipped, not importable: {why}")
    _progress(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
