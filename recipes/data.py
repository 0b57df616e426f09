"""Datasets as ``tf.data`` pipelines: train, validation (carved from train by seed) and test.

    >>> data = recipes.data.load("fashion_mnist", batch_size=128, seed=0)
    >>> data.info.class_names[:2]
    ('T-shirt/top', 'Trouser')

Inputs stay in their raw range (pixels 0-255); models rescale inside the graph, so an exported
model takes what a client naturally has.
"""

from __future__ import annotations

import difflib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from recipes.errors import CorruptDatasetError, DatasetNotFoundError, UnknownNameError
from recipes.idx import read_idx

DATA_DIR_ENV = "KERAS_RECIPES_DATA_DIR"
OFFLINE_ENV = "KERAS_RECIPES_OFFLINE"
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))
TOY_TRAIN_SIZE = 1000
TOY_TEST_SIZE = 1000
TOY_TEST_SEED = 12345


@dataclass(frozen=True)
class RawData:
    """A dataset's arrays before splitting and batching."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    input_name: str
    value_range: float | None
    source: str


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: tuple[str, ...]
    input_name: str
    value_range: float | None
    source: str
    num_train: int
    num_validation: int
    num_test: int
    extras: dict = field(default_factory=dict)  # what a task needs besides (vocabulary, window, ...)


@dataclass
class Data:
    train: object
    validation: object
    test: object
    info: DatasetInfo
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)


# --- MNIST-format image sets ------------------------------------------------------------------

@dataclass(frozen=True)
class _IdxSet:
    title: str
    folder: str
    tfds_name: str
    class_names: tuple[str, ...]
    keras_cache: str
    debian_package: str | None
    download_host: str


_IDX_SETS = {
    "fashion_mnist": _IdxSet("Fashion-MNIST", "fashion-mnist", "fashion_mnist",
                             FASHION_MNIST_CLASSES, "fashion-mnist", "dataset-fashion-mnist",
                             "fashion-mnist.s3-website.eu-central-1.amazonaws.com"),
    "mnist": _IdxSet("MNIST", "mnist", "mnist", DIGIT_CLASSES, "mnist.npz", None,
                     "storage.googleapis.com"),
}


def _keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def _idx_candidates(spec: _IdxSet, data_dir) -> list[tuple[str, Path | None]]:
    candidates = []
    for label, base in (("data_dir", data_dir), (f"${DATA_DIR_ENV}", os.environ.get(DATA_DIR_ENV))):
        if base:
            candidates += [(label, Path(base)), (label, Path(base) / spec.folder)]
        else:
            candidates.append((label, None))
    candidates.append(("Debian package", Path("/usr/share/datasets") / spec.folder))
    candidates.append(("Keras cache", _keras_home() / "datasets" / spec.keras_cache))
    return candidates


def _read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    arrays = {key: read_idx(folder / filename) for key, filename in IDX_FILES.items()}
    for split in ("train", "test"):
        if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise DatasetNotFoundError(
                f"{folder}: {split} images and labels differ in length "
                f"({len(arrays[f'x_{split}'])} vs {len(arrays[f'y_{split}'])})."
            )
    return arrays


def _unreachable(host: str) -> str | None:
    """Why ``host`` can't be reached, or None. tensorflow-datasets retries for minutes offline."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return None
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as error:
        return f"{host} is unreachable ({error})"
    return None


def _from_tfds(tfds_name: str, host: str, download: bool, searched: list[str]):
    """``((x_train, y_train), (x_test, y_test))`` downloaded by tensorflow-datasets, or None (with
    the reason appended to ``searched``) when offline, disabled or failing."""
    if not download or os.environ.get(OFFLINE_ENV):
        searched.append(f"tensorflow-datasets: skipped (download=False or ${OFFLINE_ENV} set)")
        return None
    try:
        problem = _unreachable(host)
        if problem:
            raise ConnectionError(problem)
        import tensorflow_datasets as tfds

        return tfds.as_numpy(tfds.load(tfds_name, split=["train", "test"], batch_size=-1, as_supervised=True))
    except Exception as error:  # offline, or tensorflow-datasets not installed
        first_line = str(error).splitlines()[0][:200] if str(error) else ""
        searched.append(f"tensorflow-datasets {tfds_name!r}: {type(error).__name__}: {first_line}")
        return None


def _load_idx_set(name: str, data_dir=None, download=True) -> RawData:
    spec = _IDX_SETS[name]
    searched = []
    for label, folder in _idx_candidates(spec, data_dir):
        if folder is None:
            searched.append(f"{label}: not set")
            continue
        npz = folder if folder.suffix == ".npz" else None
        if npz is not None and npz.is_file():
            with np.load(npz) as cache:
                arrays = {key: cache[key] for key in IDX_FILES}
            return _idx_raw(spec, arrays, f"{label} {npz}")
        present = [f for f in IDX_FILES.values() if (folder / f).is_file()]
        if len(present) == len(IDX_FILES):
            return _idx_raw(spec, _read_idx_folder(folder), f"{label} {folder}")
        if present:
            missing = sorted(set(IDX_FILES.values()) - set(present))
            searched.append(f"{label}: {folder} is missing {', '.join(missing)}")
        else:
            searched.append(f"{label}: {folder} (not found)")
    downloaded = _from_tfds(spec.tfds_name, spec.download_host, download, searched)
    if downloaded is not None:
        (x_train, y_train), (x_test, y_test) = downloaded
        arrays = {"x_train": x_train[..., 0], "y_train": y_train, "x_test": x_test[..., 0], "y_test": y_test}
        return _idx_raw(spec, arrays, f"tensorflow-datasets {spec.tfds_name}")
    install = [f"put the four IDX files ({', '.join(IDX_FILES.values())}) in a folder and pass "
               f"data_dir=... (CLI: --data-dir) or set ${DATA_DIR_ENV}"]
    if spec.debian_package:
        install.insert(0, f"offline on Debian/Ubuntu: `sudo apt-get install {spec.debian_package}`")
    install.append("online: `pip install tensorflow-datasets` downloads it on first use")
    raise DatasetNotFoundError(
        f"{spec.title} was not found. Searched:\n  - " + "\n  - ".join(searched)
        + "\nTo get it:\n  - " + "\n  - ".join(install)
    )


def _idx_raw(spec: _IdxSet, arrays: dict[str, np.ndarray], source: str) -> RawData:
    return RawData(
        x_train=arrays["x_train"][..., None], y_train=arrays["y_train"].astype(np.int32),
        x_test=arrays["x_test"][..., None], y_test=arrays["y_test"].astype(np.int32),
        class_names=spec.class_names, input_name="pixels", value_range=255.0, source=source,
    )


# --- CIFAR-10 (the binary release: cifar-10-batches-bin) --------------------------------------

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch.bin"
_CIFAR_RECORD = 1 + 32 * 32 * 3


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 32, 32, 3) uint8 and labels from one CIFAR-10 binary batch file."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _CIFAR_RECORD:
        raise CorruptDatasetError(
            f"{path} is truncated or not a CIFAR-10 binary batch: {raw.size:,} bytes is not a whole "
            f"number of {_CIFAR_RECORD}-byte records. Delete it and download the binary release again."
        )
    records = raw.reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0].astype(np.int32)
    if labels.max() >= len(CIFAR10_CLASSES):
        raise CorruptDatasetError(f"{path}: label {labels.max()} is out of range; the file is corrupt.")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _load_cifar10(data_dir=None, download=True) -> RawData:
    searched = []
    needed = (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)
    for label, base in (("data_dir", data_dir), (f"${DATA_DIR_ENV}", os.environ.get(DATA_DIR_ENV))):
        if not base:
            searched.append(f"{label}: not set")
            continue
        for folder in (Path(base), Path(base) / "cifar-10-batches-bin"):
            missing = [f for f in needed if not (folder / f).is_file()]
            if not missing:
                train = [read_cifar_batch(folder / f) for f in CIFAR10_TRAIN_FILES]
                x_test, y_test = read_cifar_batch(folder / CIFAR10_TEST_FILE)
                return RawData(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
                               x_test, y_test, CIFAR10_CLASSES, "pixels", 255.0, f"{label} {folder}")
            searched.append(f"{label}: {folder} is missing {', '.join(missing)}")
    downloaded = _from_tfds("cifar10", "www.cs.toronto.edu", download, searched)
    if downloaded is not None:
        (x_train, y_train), (x_test, y_test) = downloaded
        return RawData(x_train, y_train.astype(np.int32), x_test, y_test.astype(np.int32),
                       CIFAR10_CLASSES, "pixels", 255.0, "tensorflow-datasets cifar10")
    raise DatasetNotFoundError(
        "CIFAR-10 was not found. Searched:\n  - " + "\n  - ".join(searched)
        + "\nTo get it: download and unpack the binary version (cifar-10-binary.tar.gz, folder "
          "cifar-10-batches-bin) and pass data_dir=... (CLI: --data-dir) or set "
          f"${DATA_DIR_ENV}; online, tensorflow-datasets downloads it on first use."
    )


# --- digits (scikit-learn) --------------------------------------------------------------------

def _load_digits(data_dir=None, download=True) -> RawData:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DatasetNotFoundError(
            "digits ships inside scikit-learn, which is not installed: "
            "`pip install 'keras-recipes[datasets]'` (or `pip install scikit-learn`)."
        ) from None
    digits = load_digits()
    images = digits.images.astype(np.float32)[..., None]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target.astype(np.int32), test_size=0.2, stratify=digits.target,
        random_state=0,
    )
    return RawData(x_train, y_train, x_test, y_test, DIGIT_CLASSES, "pixels", 16.0,
                   "scikit-learn load_digits")


# --- toy 2-D sets, as in the TensorFlow playground --------------------------------------------

def _two_spirals(n, rng, noise=0.25):
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    labels = rng.integers(0, 2, n)
    angle = t + np.pi * labels
    points = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / np.pi
    return points + rng.normal(0, noise, points.shape), labels


def _circles(n, rng, noise=0.1):
    labels = rng.integers(0, 2, n)
    radius = np.where(labels == 0, rng.uniform(0, 0.5, n), rng.uniform(0.7, 1.0, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return points + rng.normal(0, noise, points.shape), labels


def _moons(n, rng, noise=0.15):
    labels = rng.integers(0, 2, n)
    angle = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    points = np.where(labels[:, None] == 0, upper, lower)
    return points + rng.normal(0, noise, points.shape), labels


def _xor(n, rng, noise=0.1):
    points = rng.uniform(-1, 1, (n, 2))
    labels = (points[:, 0] * points[:, 1] < 0).astype(int)
    return points + rng.normal(0, noise, points.shape), labels


_TOYS = {"spirals": _two_spirals, "circles": _circles, "moons": _moons, "xor": _xor}


def _toy_loader(generate: Callable) -> Callable:
    def load_toy(data_dir=None, download=True, seed=0) -> RawData:
        x_train, y_train = generate(TOY_TRAIN_SIZE, np.random.default_rng(seed))
        x_test, y_test = generate(TOY_TEST_SIZE, np.random.default_rng(TOY_TEST_SEED))
        return RawData(x_train.astype(np.float32), y_train.astype(np.int32),
                       x_test.astype(np.float32), y_test.astype(np.int32),
                       ("0", "1"), "features", None, f"generated ({generate.__name__.strip('_')})")
    return load_toy


_LOADERS: dict[str, Callable[..., RawData]] = {
    "fashion_mnist": lambda data_dir=None, download=True, seed=0: _load_idx_set("fashion_mnist", data_dir, download),
    "mnist": lambda data_dir=None, download=True, seed=0: _load_idx_set("mnist", data_dir, download),
    "cifar10": lambda data_dir=None, download=True, seed=0: _load_cifar10(data_dir, download),
    "digits": lambda data_dir=None, download=True, seed=0: _load_digits(data_dir, download),
    **{f"toy_{name}": _toy_loader(generate) for name, generate in _TOYS.items()},
}


def names() -> list[str]:
    return sorted(_LOADERS)


def load_arrays(name: str, *, data_dir=None, download=True, seed=0) -> RawData:
    """The dataset's raw train and test arrays (no validation split, no batching)."""
    if name not in _LOADERS:
        close = difflib.get_close_matches(name, names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(names())}.")
    return _LOADERS[name](data_dir=data_dir, download=download, seed=seed)


def split_indices(num_examples: int, *, validation_split: float, seed: int, limit: int | None = None):
    """Seeded (train, validation) index arrays; ``limit`` keeps only that many examples first."""
    order = np.random.default_rng(seed).permutation(num_examples)
    if limit is not None:
        order = order[:limit]
    num_validation = int(round(len(order) * validation_split))
    return np.sort(order[num_validation:]), np.sort(order[:num_validation])


def pipeline(x, y, batch_size: int, *, shuffle_seed: int | None = None, augment: Callable | None = None):
    """A batched, cached, prefetched ``tf.data`` pipeline of float32 inputs and int labels."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle_seed is not None:
        ds = ds.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda xb, yb: (tf.cast(xb, tf.float32), yb),
                                  num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        ds = ds.map(lambda xb, yb: (augment(xb, training=True), yb), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def load(name: str, *, data_dir=None, batch_size: int = 128, validation_split: float = 0.1,
         seed: int = 0, train_limit: int | None = None, test_limit: int | None = None,
         augmentation: dict | Callable | None = None, download: bool = True) -> Data:
    """Load a dataset as train/validation/test pipelines plus its metadata.

    The validation split is carved from the (optionally limited) training set by ``seed``;
    ``augmentation`` (options for ``callbacks.augmentation_pipeline``, or any callable taking
    ``(batch, training=True)``) is applied to train batches only.
    """
    raw = load_arrays(name, data_dir=data_dir, download=download, seed=seed)
    return from_arrays(name, raw, batch_size=batch_size, validation_split=validation_split, seed=seed,
                       train_limit=train_limit, test_limit=test_limit, augmentation=augmentation)


def from_arrays(name: str, raw: RawData, *, batch_size: int = 128, validation_split: float = 0.1,
                seed: int = 0, train_limit: int | None = None, test_limit: int | None = None,
                augmentation: dict | Callable | None = None) -> Data:
    """Pipelines and metadata for arrays you hold yourself (a ``RawData``), split as ``load`` does."""
    augment = augmentation
    if isinstance(augmentation, dict):
        from callbacks import augmentation_pipeline

        value_range = (0, raw.value_range) if raw.value_range else (0, 1)
        augment = augmentation_pipeline(input_shape=raw.x_train.shape[1:], value_range=value_range,
                                        seed=seed, **augmentation) if augmentation else None
    train_index, validation_index = split_indices(
        len(raw.x_train), validation_split=validation_split, seed=seed, limit=train_limit
    )
    arrays = {
        "train": (raw.x_train[train_index], raw.y_train[train_index]),
        "validation": (raw.x_train[validation_index], raw.y_train[validation_index]),
        "test": (raw.x_test[:test_limit], raw.y_test[:test_limit]),
    }
    info = DatasetInfo(
        name=name, input_shape=tuple(raw.x_train.shape[1:]), num_classes=len(raw.class_names),
        class_names=raw.class_names, input_name=raw.input_name, value_range=raw.value_range,
        source=raw.source, num_train=len(train_index), num_validation=len(validation_index),
        num_test=len(arrays["test"][0]),
    )
    return Data(
        train=pipeline(*arrays["train"], batch_size, shuffle_seed=seed, augment=augment),
        validation=pipeline(*arrays["validation"], batch_size) if len(validation_index) else None,
        test=pipeline(*arrays["test"], batch_size),
        info=info,
        arrays=arrays,
    )
