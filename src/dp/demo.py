"""`make demo`: train the paper's MNIST network with dp and report its test accuracy.

    python -m dp.demo [--steps N] [--dataset mnist|fashion-mnist [--download]] [--out PATH.png]
                      [--threads N] [--quiet]

The network is the paper's, 784-500-200-10 with ReLUs, in float32. Its loss is the stable
cross-entropy on the logits (the paper's softmax-then-log works too, but can take log(0) once the
network grows confident). It trains with Adam on minibatches of the bundled MNIST subset (8 000
digits), with two cheap additions that are worth about a point of test accuracy here: each batch
is shifted by up to one pixel (data augmentation), and the learning rate decays to 0 along a
cosine, so the last steps settle instead of jumping around. It then reports the accuracy on the
2 000 held-out digits (about 97.5%) and writes a plot of the training loss and the test accuracy
(`dp-demo.png` in the current directory by default). About 15 seconds (one core of a 2-core Xeon).
With `--dataset fashion-mnist` it uses the full Fashion-MNIST instead, when it is installed, or
with `--download` after fetching it (about 30 MB, into ~/.cache/dp/fashion-mnist); nothing is
ever downloaded without `--download`.

It needs matplotlib and tqdm (`pip install 'dp[demo]'`, which `make demo` does) and checks for
them before it trains. It trains on one BLAS thread unless `--threads` says otherwise (see
dp/threads.py: one thread is never wrecked by a busy machine), with glibc told to keep the memory
each step frees for the next (see dp/allocator.py).
"""

from __future__ import annotations

import argparse
import importlib
import math
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dp.allocator import keep_freed_memory
from dp.data import load_fashion_mnist, load_mnist, minibatches
from dp.nn import Adam, Model, cross_entropy
from dp.threads import limit_blas_threads

LEARNING_RATE = 1e-3
BATCH_SIZE = 128
EVALUATIONS = 20  # points on the test-accuracy curve
INSTALL_EXTRAS = "pip install 'dp[demo]' (in a checkout of dp: pip install -e '.[demo]', or make demo)"


class Network(Model):
    """The paper's MNIST network: two ReLU layers and a linear one, returning logits."""

    def __init__(self, rng: int | None = None) -> None:
        super().__init__(rng=rng, dtype=np.float32)
        self.h1 = self.ReLu_Layer(784, 500, "h1")
        self.h2 = self.ReLu_Layer(500, 200, "h2")
        self.h3 = self.Linear_Layer(200, 10, "h3")

    def forward(self, x):
        return self.h3(self.h2(self.h1(x)))

    def loss(self, x, y):
        return cross_entropy(self.forward(x), y)

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        return float((self.forward(x).value.argmax(axis=1) == labels).mean())


def main(argv: list[str] | None = None) -> float:
    """Run the demo; return the test accuracy."""
    parser = argparse.ArgumentParser(prog="python -m dp.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2500, help="training steps (default: 2500)")
    parser.add_argument(
        "--dataset",
        choices=["mnist", "fashion-mnist"],
        default="mnist",
        help="mnist: the bundled 10 000 digits (default); "
        "fashion-mnist: the full data set, if installed (or with --download)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="with --dataset fashion-mnist: download it (about 30 MB) if it is not found",
    )
    parser.add_argument("--out", type=Path, default=Path("dp-demo.png"), help="where to write the plot (PNG)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the batch order")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (default: 1, which a busy machine cannot slow down much)"
    )
    parser.add_argument("--quiet", action="store_true", help="no header and no progress bar")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.seed < 0:
        parser.error("--seed must be 0 or more")
    if args.download and args.dataset != "fashion-mnist":
        parser.error("--download is for --dataset fashion-mnist: the MNIST subset comes with dp")
    # The plot's path is checked before training too: a wrong one must not cost the training.
    if args.out.suffix.lower() != ".png" or args.out.is_dir():
        parser.error(f"--out must name a .png file, got {str(args.out)!r}")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"--out: cannot make its folder {str(args.out.parent)!r} ({error.strerror})")
    try:  # a folder that exists may still refuse new files: try one
        tempfile.TemporaryFile(dir=args.out.parent).close()
    except OSError as error:
        parser.error(f"--out: cannot write in {str(args.out.parent)!r} ({error.strerror})")
    # Before anything slow: a missing plotting library must not cost a whole training first.
    missing = _missing_modules(["matplotlib"] + ([] if args.quiet else ["tqdm"]))
    if missing:
        parser.error(
            f"the demo needs {' and '.join(missing)}, which a plain `pip install dp` does not install: {INSTALL_EXTRAS}"
        )
    try:
        (x_train, y_train), (x_test, y_test), data = _load(args.dataset, args.download)
    except OSError as error:  # not found (FileNotFoundError), or the download failed
        parser.error(str(error))

    net = Network(rng=args.seed)
    if not args.quiet:
        print(
            f"dp demo: the paper's 784-500-200-10 ReLU network, float32, cross-entropy loss, Adam "
            f"(learning rate {LEARNING_RATE}, cosine decay), {args.steps} steps of {BATCH_SIZE} examples\n"
            f"data: {data}: {len(x_train)} training images, {len(x_test)} held-out test images"
        )
    keep_freed_memory()  # the demo owns its process: see dp/allocator.py
    start = time.perf_counter()
    with limit_blas_threads(args.threads):
        losses, curve = train(net, x_train, y_train, x_test, y_test, args.steps, args.seed, progress=not args.quiet)
    seconds = time.perf_counter() - start
    accuracy = curve[-1][1]
    print(f"test accuracy: {accuracy:.2%} on the {len(x_test)} held-out images ({args.steps} steps in {seconds:.1f} s)")
    path = plot(losses, curve, args.out, title=f"dp: the paper's network on {data}")
    print(f"plot: {path.resolve()}")
    return accuracy


def train(
    net: Network,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    steps: int,
    seed: int,
    progress: bool = True,
) -> tuple[list[float], list[tuple[int, float]]]:
    """Train `net`; return the loss of every step and (step, test accuracy) at EVALUATIONS points.

    `progress` shows a tqdm progress bar (tqdm must then be installed)."""
    optimizer = Adam(learning_rate=LEARNING_RATE)
    rng = np.random.default_rng(seed)
    batches = _endless(x_train, y_train, rng)
    evaluate_at = set(np.linspace(0, steps, EVALUATIONS + 1).round().astype(int)[1:])
    losses: list[float] = []
    curve: list[tuple[int, float]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, unit="step", desc="training", mininterval=1)
    for step in range(1, steps + 1):
        # Cosine decay of the learning rate to 0: big steps early, small ones to settle at the end.
        optimizer.learning_rate = LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
        x, y = next(batches)
        grads, loss = net.get_grad(_jitter(x, rng), y)
        optimizer.step(net, grads)
        losses.append(loss)
        if step in evaluate_at:
            curve.append((step, net.accuracy(x_test, y_test)))
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.3f}", test_accuracy=f"{curve[-1][1]:.2%}" if curve else "-", refresh=False)
            bar.update()
    if bar is not None:
        bar.close()
    return losses, curve


def plot(losses: list[float], curve: list[tuple[int, float]], path: Path, title: str) -> Path:
    """Write the training loss and the test accuracy, side by side, to a PNG at `path`."""
    from matplotlib.figure import Figure  # no pyplot: no global backend, no window, works headless

    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    steps = np.arange(1, len(losses) + 1)
    window = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    loss_axes.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.5, label="each step")
    loss_axes.plot(steps[window - 1 :], smooth, color="tab:blue", label=f"mean of {window} steps")
    loss_axes.set(xlabel="step", ylabel="training loss (cross-entropy)", yscale="log", title="training loss")
    loss_axes.legend()
    accuracy_axes.plot(*zip(*curve), marker="o", color="tab:green")
    accuracy_axes.set(xlabel="step", ylabel="accuracy", title=f"test accuracy (final {curve[-1][1]:.2%})")
    accuracy_axes.grid(alpha=0.3)
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
    return path


def _missing_modules(names: list[str]) -> list[str]:
    """The modules of `names` that cannot be imported."""
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _load(dataset: str, download: bool) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    if dataset == "fashion-mnist":
        return (
            load_fashion_mnist(split="train", download=download),
            load_fashion_mnist(split="test", download=download),
            "Fashion-MNIST",
        )
    return load_mnist("train"), load_mnist("test"), "the bundled MNIST subset"


def _endless(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Minibatches forever: one shuffled pass over the data after another."""
    while True:
        yield from minibatches(x, y, BATCH_SIZE, rng=rng)  # type: ignore[misc]  # labelled data: minibatches yields (x, y) pairs


def _jitter(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The batch's 28 x 28 images shifted by -1, 0 or 1 pixel down and right (the same for the
    whole batch, so it costs one copy). The digits' borders are blank, so wrapping around is harmless."""
    shift = tuple(rng.integers(-1, 2, size=2))
    return np.roll(images.reshape(-1, 28, 28), shift, axis=(1, 2)).reshape(len(images), -1)


if __name__ == "__main__":
    main()
