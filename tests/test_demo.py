"""`make demo` (python -m dp.demo) with a small step count: it trains, reports and writes its plot;
it stops before training when its optional dependencies are missing; `--download` fetches
Fashion-MNIST (from a fake here: the tests never touch the network) and nothing else does."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from dp import data, demo
from dp.data import FASHION_MNIST_DEBIAN_DIR

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_demo_module_runs_and_writes_its_plot_in_the_current_directory(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dp.demo", "--steps", "30", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "test accuracy:" in result.stdout and "2000 held-out images" in result.stdout
    assert (tmp_path / "dp-demo.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "step/s" not in result.stderr  # --quiet: no progress bar


def test_demo_prints_a_header_a_progress_bar_and_learns(tmp_path, capsys):
    out = tmp_path / "plots" / "demo.png"
    accuracy = demo.main(["--steps", "60", "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert "784-500-200-10" in stdout and "8000 training images" in stdout
    assert f"test accuracy: {accuracy:.2%}" in stdout and str(out) in stdout
    assert "60/60" in stderr  # the tqdm bar
    assert accuracy > 0.8  # ten classes: chance is 0.1; the full demo reaches about 97.5%
    assert out.read_bytes().startswith(PNG_SIGNATURE)


def test_demo_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--steps", "0"])
    with pytest.raises(SystemExit):
        demo.main(["--dataset", "cifar"])


@pytest.mark.skipif(not FASHION_MNIST_DEBIAN_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_demo_on_fashion_mnist(tmp_path, capsys):
    accuracy = demo.main(["--dataset", "fashion-mnist", "--steps", "5", "--quiet", "--out", str(tmp_path / "f.png")])
    stdout = capsys.readouterr().out
    assert "10000 held-out images" in stdout
    assert 0.0 <= accuracy <= 1.0


def _must_not_train(*args, **kwargs):
    raise AssertionError("the demo trained although it could not finish")


@pytest.mark.parametrize("module", ["matplotlib", "tqdm"])
def test_a_missing_optional_dependency_stops_the_demo_before_it_trains(module, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    monkeypatch.setattr(demo, "train", _must_not_train)
    with pytest.raises(SystemExit) as stop:
        demo.main(["--steps", "5"])
    assert stop.value.code == 2
    message = capsys.readouterr().err
    assert f"the demo needs {module}" in message and "pip install 'dp[demo]'" in message


def test_quiet_needs_no_tqdm(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    accuracy = demo.main(["--steps", "3", "--quiet", "--out", str(tmp_path / "d.png")])
    assert 0.0 <= accuracy <= 1.0 and (tmp_path / "d.png").is_file()


def test_the_demo_trains_on_one_blas_thread_and_keeps_freed_memory(tmp_path, monkeypatch, capsys):
    """Its defaults (see dp/threads.py and dp/allocator.py), whatever the process had before."""
    seen = {}
    real_train = demo.train

    def spy(*args, **kwargs):
        seen["blas_threads"] = {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
        return real_train(*args, **kwargs)

    kept = []
    monkeypatch.setattr(demo, "train", spy)
    monkeypatch.setattr(demo, "keep_freed_memory", lambda: kept.append(True) or True)
    with threadpool_limits(limits=2, user_api="blas"):
        demo.main(["--steps", "2", "--quiet", "--out", str(tmp_path / "d.png")])
        assert seen["blas_threads"] == {1}
        demo.main(["--steps", "2", "--quiet", "--threads", "2", "--out", str(tmp_path / "d.png")])
        assert seen["blas_threads"] == {2}
    assert kept == [True, True]


# ----------------------------------------------------------------- --download (no network: a fake fetch)

FAKE_SIZES = {"train": 150, "t10k": 40}


def _fake_idx(name: str) -> bytes:
    """A small gzip'd IDX file under an official Fashion-MNIST name: random 28 x 28 images, labels 0..9."""
    count = FAKE_SIZES[name.split("-")[0]]
    rng = np.random.default_rng(len(name))
    if "images" in name:
        header = struct.pack(">4B3I", 0, 0, 0x08, 3, count, 28, 28)
        body = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8).tobytes()
    else:
        header = struct.pack(">4BI", 0, 0, 0x08, 1, count)
        body = (np.arange(count) % 10).astype(np.uint8).tobytes()
    return gzip.compress(header + body)


@pytest.fixture
def fetched(tmp_path, monkeypatch):
    """Fashion-MNIST absent (no system copy, an empty cache); fetches go to a fake and are listed."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_FASHION_MNIST", data._FASHION_MNIST._replace(system_dir=tmp_path / "absent"))
    names: list[str] = []

    def fake_fetch(source, name):
        names.append(name)
        return _fake_idx(name)

    monkeypatch.setattr(data, "_fetch", fake_fetch)
    return names


def test_without_download_nothing_is_fetched_and_the_error_names_the_flag(fetched, monkeypatch, capsys):
    monkeypatch.setattr(demo, "train", _must_not_train)
    with pytest.raises(SystemExit):
        demo.main(["--dataset", "fashion-mnist", "--steps", "5"])
    assert fetched == []
    assert "--dataset fashion-mnist --download" in capsys.readouterr().err


def test_download_fetches_fashion_mnist_once_then_trains_on_it(fetched, tmp_path, capsys):
    args = ["--dataset", "fashion-mnist", "--download", "--steps", "3", "--quiet", "--out", str(tmp_path / "f.png")]
    demo.main(args)
    assert sorted(fetched) == sorted(
        f"{split}-{kind}-idx{dims}-ubyte.gz" for split in FAKE_SIZES for kind, dims in (("images", 3), ("labels", 1))
    )
    assert f"{FAKE_SIZES['t10k']} held-out images" in capsys.readouterr().out
    fetched.clear()
    demo.main(args)  # in the cache now
    assert fetched == []


def test_a_failed_download_is_a_clear_error(fetched, monkeypatch, capsys):
    def offline(source, name):
        raise OSError(f"could not download {source.name} file {name}: no network")

    monkeypatch.setattr(data, "_fetch", offline)
    monkeypatch.setattr(demo, "train", _must_not_train)
    with pytest.raises(SystemExit):
        demo.main(["--dataset", "fashion-mnist", "--download"])
    assert "could not download fashion-mnist" in capsys.readouterr().err


def test_download_is_only_for_fashion_mnist(monkeypatch, capsys):
    monkeypatch.setattr(demo, "train", _must_not_train)
    with pytest.raises(SystemExit):
        demo.main(["--download"])
    assert "--download is for --dataset fashion-mnist" in capsys.readouterr().err


@pytest.mark.parametrize(
    "out, message",
    [
        ("plot", "must name a .png file"),
        ("plot.xyz", "must name a .png file"),
        (".", "must name a .png file"),
        ("a_file/x.png", "cannot make its folder"),
        ("/proc/dp-demo.png", "cannot write in '/proc'"),  # a folder that takes no new files, even as root
    ],
)
def test_a_wrong_plot_path_is_refused_before_training(out, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setattr(demo, "train", lambda *a, **k: pytest.fail("trained before checking --out"))
    with pytest.raises(SystemExit):
        demo.main(["--steps", "2", "--quiet", "--out", out])
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--steps", "0"], "--steps must be at least 1"),
        (["--threads", "0"], "--threads must be at least 1"),
        (["--seed", "-1"], "--seed must be 0 or more"),
    ],
)
def test_wrong_numbers_are_refused_by_the_command_line_before_training(flags, message, monkeypatch, capsys):
    monkeypatch.setattr(demo, "train", lambda *a, **k: pytest.fail("trained with a wrong flag"))
    with pytest.raises(SystemExit):
        demo.main([*flags, "--quiet"])
    assert message in capsys.readouterr().err
