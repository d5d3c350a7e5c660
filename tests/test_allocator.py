"""The allocator settings dp applies at import (see dp/allocator.py)."""

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
def test_a_training_step_stops_faulting_pages_in():
    """Repeated steps of the vanishing-gradient network: about 500 faults a step without the
    settings, none with them (counted in a fresh process each, as `make bench` does)."""
    script = """
import resource, sys, numpy as np
import dp
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
    def faults(env):
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        return float(out.stdout)

    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert faults(base) < 5
    assert faults({**base, "DP_MALLOC_DEFAULTS": "1"}) > 100
