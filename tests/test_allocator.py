"""The allocator settings of dp/allocator.py: opt-in (importing dp leaves malloc alone), and they
stop a training step from faulting its memory in again."""

import os
import platform
import subprocess
import sys

import pytest

from dp.allocator import keep_freed_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's; elsewhere dp leaves malloc alone")
def test_glibc_accepts_the_settings():
    assert keep_freed_memory() is True


def test_the_environment_variable_leaves_malloc_alone(monkeypatch):
    monkeypatch.setenv("DP_MALLOC_DEFAULTS", "1")
    assert keep_freed_memory() is False


@pytest.mark.skipif(not GLIBC, reason="page faults are counted on glibc Linux only")
def test_importing_dp_leaves_malloc_alone_and_keep_freed_memory_stops_the_faults():
    """Repeated steps of the vanishing-gradient network, counted in a fresh process each as
    `make bench` does: about 500 faults a step after `import dp` alone, none once
    `keep_freed_memory()` is called, and about 500 again when DP_MALLOC_DEFAULTS=1 refuses it."""
    script = """
import resource, sys, numpy as np
import dp
from dp.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    keep_freed_memory()
rng = np.random.default_rng(0)
x = dp.Node(rng.standard_normal((64, 100)))
params = [(dp.Node(rng.standard_normal((100, 100)) * 0.1, f"W{i}"), dp.Node(np.zeros(100), f"b{i}")) for i in range(10)]
def step():
    h = x
    for w, b in params:
        h = (h @ w + b).sigmoid()
    h.mean().grad(1)
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""

    def faults(how, env):
        out = subprocess.run([sys.executable, "-c", script, how], env=env, capture_output=True, text=True, check=True)
        return float(out.stdout)

    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "DP_MALLOC_DEFAULTS"}
    assert faults("import", base) > 100
    assert faults("keep", base) < 5
    assert faults("keep", {**base, "DP_MALLOC_DEFAULTS": "1"}) > 100
