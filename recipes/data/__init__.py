"""Datasets as ``tf.data`` pipelines: train, validation (carved from train by seed) and test.

    >>> data = recipes.data.load("fashion_mnist", batch_size=128, seed=0)
    >>> data.info.class_names[:2]
    ('T-shirt/top', 'Trouser')

Inputs stay in their raw range (pixels 0-255); models rescale inside the graph, so an exported
model takes what a client naturally has.

One module per kind of source: ``idx`` (MNIST, Fashion-MNIST), ``cifar``, ``digits``
(scikit-learn), ``synthetic`` (seeded generators), ``text`` (corpora), ``series`` (time series);
``pipeline`` turns arrays into pipelines. Every file-based source finds its files through one
mechanism (``_locate.find_or_download``).
"""

from __future__ import annotations

import difflib
from typing import Callable

from recipes.data import cifar, digits, idx, synthetic
from recipes.data._locate import DATA_DIR_ENV, OFFLINE_ENV
from recipes.data.cifar import CIFAR10_CLASSES, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, read_cifar_batch
from recipes.data.idx import DIGIT_CLASSES, FASHION_MNIST_CLASSES, IDX_FILES
from recipes.data.pipeline import Data, DatasetInfo, RawData, batched, from_arrays, pipeline, split_indices
from recipes.data.synthetic import TOY_TEST_SEED, TOY_TEST_SIZE, TOY_TRAIN_SIZE
from recipes.errors import UnknownNameError

_LOADERS: dict[str, Callable[..., RawData]] = {
    "fashion_mnist": lambda data_dir=None, download=True, seed=0: idx.load_idx_set("fashion_mnist", data_dir, download),
    "mnist": lambda data_dir=None, download=True, seed=0: idx.load_idx_set("mnist", data_dir, download),
    "cifar10": lambda data_dir=None, download=True, seed=0: cifar.load_cifar10(data_dir, download),
    "digits": lambda data_dir=None, download=True, seed=0: digits.load_digits(data_dir, download),
    **{f"toy_{name}": synthetic.toy_loader(generate) for name, generate in synthetic.TOYS.items()},
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


def load(name: str, *, data_dir=None, batch_size: int = 128, validation_split: float = 0.1,
         seed: int = 0, train_limit: int | None = None, test_limit: int | None = None,
         augmentation: Callable | None = None, download: bool = True) -> Data:
    """Load a dataset as train/validation/test pipelines plus its metadata.

    The validation split is carved from the (optionally limited) training set by ``seed``;
    ``augmentation`` (a callable taking ``(batch, training=True)``, such as
    ``callbacks.augmentation_pipeline(...)``) is applied to train batches only.
    """
    raw = load_arrays(name, data_dir=data_dir, download=download, seed=seed)
    return from_arrays(name, raw, batch_size=batch_size, validation_split=validation_split, seed=seed,
                       train_limit=train_limit, test_limit=test_limit, augmentation=augmentation)


__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_TEST_FILE", "CIFAR10_TRAIN_FILES", "DATA_DIR_ENV", "DIGIT_CLASSES",
    "FASHION_MNIST_CLASSES", "IDX_FILES", "OFFLINE_ENV", "TOY_TEST_SEED", "TOY_TEST_SIZE", "TOY_TRAIN_SIZE",
    "Data", "DatasetInfo", "RawData", "batched", "from_arrays", "load", "load_arrays", "names", "pipeline",
    "read_cifar_batch", "split_indices",
]
