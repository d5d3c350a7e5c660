"""dp.threads.limit_blas_threads: NumPy's BLAS on the asked number of threads inside the block,
as it was after it; with threadpoolctl and with the ctypes fallback that works without it."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from dp.threads import limit_blas_threads


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def two_threads():
    """BLAS on two threads around the test, whatever OPENBLAS_NUM_THREADS said: one thread inside
    the block is then a change that the test can see."""
    np.ones(1) @ np.ones(1)  # NumPy's BLAS is loaded
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() and set(blas_threads()) == {2}
        yield


@pytest.mark.parametrize("one", [1, np.int64(1)], ids=["int", "numpy int"])
@pytest.mark.parametrize("with_threadpoolctl", [True, False], ids=["threadpoolctl", "ctypes"])
def test_one_thread_inside_the_block_and_the_old_count_after(two_threads, monkeypatch, with_threadpoolctl, one):
    if not with_threadpoolctl:
        monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # `import threadpoolctl` fails
    with limit_blas_threads(one) as limited:
        assert limited is True
        assert set(blas_threads()) == {1}
    assert set(blas_threads()) == {2}


def test_the_count_is_restored_when_the_block_raises(two_threads):
    with pytest.raises(KeyError), limit_blas_threads(1):
        raise KeyError("stop")
    assert set(blas_threads()) == {2}


def test_none_leaves_blas_alone(two_threads):
    with limit_blas_threads(None) as limited:
        assert limited is False
        assert set(blas_threads()) == {2}


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "1"])
def test_bad_thread_counts_are_refused(bad):
    refused = pytest.raises(ValueError, match="limit_blas_threads: threads must be a positive int or None")
    with refused, limit_blas_threads(bad):
        pass


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_train_refuses_a_bad_blas_thread_count_by_name_before_any_step(bad):
    import dp
    from dp import nn

    net = nn.Sequential([nn.Linear(2, 1)], loss=nn.mse)
    x = np.ones((4, 2))
    opt = dp.SGD(net, x, x[:, :1], learning_rate=0.1)
    before = net.parameters()["0.W"].value.copy()
    with pytest.raises(ValueError, match="train: blas_threads must be a positive integer"):
        opt.train(2, progress=False, blas_threads=bad)
    assert opt.steps_taken == 0 and np.array_equal(net.parameters()["0.W"].value, before)
