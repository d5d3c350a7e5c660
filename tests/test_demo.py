"""`make demo` (python -m dp.demo) with a small step count: it trains, reports and writes its plot."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dp import demo
from dp.data import FASHION_MNIST_DEBIAN_DIR

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_demo_module_runs_and_writes_its_plot_in_the_current_directory(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dp.demo", "--steps", "30", "--quiet"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
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
