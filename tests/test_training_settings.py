"""dp's own training loops set up the process for training, and importing dp does not:
`Optimizer.train` runs on one BLAS thread unless told otherwise, and the first gradient of a
Model or optimizer step asks glibc to keep freed memory (dp/threads.py, dp/allocator.py)."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from dp import nn
from dp.nn import model as model_module
from dp.nn import optim as optim_module


def blas_threads() -> int:
    return max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")


def tiny_problem():
    rng = np.random.default_rng(0)
    net = nn.Sequential([nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)], loss=nn.cross_entropy)
    return net, rng.normal(size=(16, 3)), rng.integers(0, 2, size=16)


@pytest.mark.parametrize("asked, expected", [(1, 1), (2, 2), (None, "as it was")])
def test_train_runs_on_the_blas_threads_asked_for_and_restores_them(monkeypatch, asked, expected):
    from threadpoolctl import threadpool_limits

    net, x, y = tiny_problem()
    seen = []
    get_grad = net.get_grad
    monkeypatch.setattr(net, "get_grad", lambda *a, **k: (seen.append(blas_threads()), get_grad(*a, **k))[1])
    with threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        nn.SGD(net, x, y, learning_rate=0.1).train(steps=2, print_each=None, progress=False, blas_threads=asked)
        assert blas_threads() == before
    assert seen == [before if expected == "as it was" else expected] * 2


def test_a_models_gradient_and_an_optimizer_step_keep_freed_memory(monkeypatch):
    calls = []
    monkeypatch.setattr(model_module, "keep_freed_memory", lambda: calls.append("get_grad") or True)
    monkeypatch.setattr(optim_module, "keep_freed_memory", lambda: calls.append("step") or True)
    net, x, y = tiny_problem()
    grads, _ = net.get_grad(x, y)
    nn.SGD(learning_rate=0.1).step(net, grads)
    assert calls == ["get_grad", "step"]
