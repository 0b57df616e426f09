"""Datasets as ``tf.data`` pipelines: train, validation (carved from train by seed) and test.

    >>> data = recipes.data.load("fashion_mnist", batch_size=128, seed=0)
    >>> data.info.class_names[:2]
    ('T-shirt/top', 'Trouser')

Inputs stay in their raw range (pixels 0-255); models rescale inside the graph, so an exported
model takes what a client naturally has.

One module per kind of source: ``idx`` (MNIST, Fashion-MNIST), ``cifar``, ``digits``
(scikit-learn), ``synthetic`` (seeded generators), ``text`` (corpora), ``series`` (time series);
``pipeline`` turns arrays into pipelines. Every file-based source finds its files through one
mechanism (``_locate.find_or_download``); a ``data_dir`` you name is the only place searched.

Data is validated, not trusted: a file whose name and size are a release file's (the Fashion-MNIST
and MNIST IDX files, the CIFAR-10 batches, the MR corpus, Tiny Shakespeare) is checked against its
published SHA-256 (``checksums``), and labels, IDX headers and text content are checked as they are
read. To use a modified copy on purpose: ``load(..., verify_checksums=False)``,
``with recipes.data.accept_modified_data(): ...`` or ``KERAS_RECIPES_ACCEPT_MODIFIED_DATA=1``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path
from typing import Callable

from recipes.data import checksums, cifar, digits, idx, synthetic, tfds
from recipes.data._locate import DATA_DIR_ENV, OFFLINE_ENV
from recipes.data.checksums import ACCEPT_MODIFIED_ENV, accept_modified_data
from recipes.data.cifar import CIFAR10_CLASSES, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, read_cifar_batch
from recipes.data.idx import DIGIT_CLASSES, FASHION_MNIST_CLASSES, IDX_FILES
from recipes.data.native import from_native, is_native
from recipes.data.pipeline import (
    Data,
    DatasetInfo,
    RawData,
    batched,
    from_arrays,
    pipeline,
    split_indices,
    with_augmentation,
)
from recipes.data.synthetic import TOY_TEST_SEED, TOY_TEST_SIZE, TOY_TRAIN_SIZE
from recipes.errors import ConfigError, UnknownNameError

_LOADERS: dict[str, Callable[..., RawData]] = {
    "fashion_mnist": lambda data_dir=None, download=True, seed=0: idx.load_idx_set("fashion_mnist", data_dir, download),
    "mnist": lambda data_dir=None, download=True, seed=0: idx.load_idx_set("mnist", data_dir, download),
    "cifar10": lambda data_dir=None, download=True, seed=0: cifar.load_cifar10(data_dir, download),
    "digits": lambda data_dir=None, download=True, seed=0: digits.load_digits(data_dir, download),
    **{f"toy_{name}": synthetic.toy_loader(generate) for name, generate in synthetic.TOYS.items()},
}


# The input each built-in image dataset gives; a recipe trained on one resizes a user's images to it.
INPUT_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3), "digits": (8, 8, 1)}


def names() -> list[str]:
    return sorted(_LOADERS)


def register_dataset(name: str, loader: Callable) -> None:
    """Name a dataset of yours like a built-in: ``load(name)``, ``recipes.run(..., dataset=name)``,
    ``--data name``. ``loader`` takes any of ``data_dir``, ``download`` and ``seed`` as keywords and
    returns a ``RawData`` or ``(x_train, y_train, x_test, y_test)`` arrays."""
    import inspect

    if name in _LOADERS:
        raise ConfigError(f"a dataset named {name!r} is registered already; choose another name")
    if not callable(loader):
        raise ConfigError(f"register_dataset({name!r}, loader): loader must be a function. Received: {loader!r}")
    accepted = inspect.signature(loader).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())

    def load_registered(data_dir=None, download=True, seed=0) -> RawData:
        given = {"data_dir": data_dir, "download": download, "seed": seed}
        loaded = loader(**{k: v for k, v in given.items() if takes_any or k in accepted})
        if isinstance(loaded, RawData):
            return loaded
        if isinstance(loaded, (tuple, list)) and len(loaded) == 4:
            return RawData(*loaded, source=f"registered dataset {name}")
        raise ConfigError(f"the loader registered as {name!r} must return a RawData or (x_train, y_train, x_test, "
                          f"y_test) arrays. Received: {type(loaded).__name__}")

    _LOADERS[name] = load_registered


def load_arrays(name: str, *, data_dir=None, download=True, seed=0, verify_checksums: bool | None = None) -> RawData:
    """The dataset's raw train and test arrays (no validation split, no batching).

    ``data_dir``, when given, is the only place searched. ``verify_checksums=False`` accepts
    modified copies of release files; None (the default) checks them unless
    ``accept_modified_data()`` or ``$KERAS_RECIPES_ACCEPT_MODIFIED_DATA`` says otherwise."""
    if name not in _LOADERS:
        close = difflib.get_close_matches(name, names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(names())}.")
    with checksums.verifying(verify_checksums):
        return _LOADERS[name](data_dir=data_dir, download=download, seed=seed)


def load(name: str, *, data_dir=None, batch_size: int = 128, validation_split: float = 0.1,
         seed: int = 0, train_limit: int | None = None, test_limit: int | None = None,
         augmentation: Callable | None = None, download: bool = True, verify_checksums: bool | None = None) -> Data:
    """Load a dataset as train/validation/test pipelines plus its metadata.

    The validation split is carved from the (optionally limited) training set by ``seed``;
    ``augmentation`` (a callable taking ``(batch, training=True)``, such as
    ``callbacks.augmentation_pipeline(...)``) is applied to train batches only. ``data_dir`` and
    ``verify_checksums`` are as in ``load_arrays``.
    """
    raw = load_arrays(name, data_dir=data_dir, download=download, seed=seed, verify_checksums=verify_checksums)
    return from_arrays(name, raw, batch_size=batch_size, validation_split=validation_split, seed=seed,
                       train_limit=train_limit, test_limit=test_limit, augmentation=augmentation)


def as_data(source, *, data_dir=None, batch_size: int = 128, validation_split: float = 0.1, seed: int = 0,
            train_limit: int | None = None, test_limit: int | None = None, augmentation: Callable | None = None,
            download: bool = True, image_size=None, color_mode: str | None = None, bad_files: str = "stop",
            class_names=None) -> Data:
    """Any data this library takes, as a ``Data``: a ``Data`` as it is; a dataset name; a folder of
    class subfolders of images; or what Keras's ``fit`` takes (``from_native``)."""
    if isinstance(source, Data):
        return source
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text.startswith(tfds.PREFIX):
            return tfds.load_tfds(text[len(tfds.PREFIX):], batch_size=batch_size, validation_split=validation_split,
                                  seed=seed, download=download, augmentation=augmentation)
        if text in _LOADERS:
            return load(text, data_dir=data_dir, batch_size=batch_size, validation_split=validation_split, seed=seed,
                        train_limit=train_limit, test_limit=test_limit, augmentation=augmentation, download=download)
        path = Path(text)
        if path.suffix.lower() == ".csv":
            raise ConfigError(f"{path}: a CSV file needs its label column: load it with "
                              f"recipes.data.load_csv(path, target='<column>'), or run a tabular recipe with "
                              f"data=path, target='<column>'")
        if path.is_dir():
            return load_image_folder(path, batch_size=batch_size, validation_split=validation_split, seed=seed,
                                     image_size=image_size, color_mode=color_mode, bad_files=bad_files,
                                     augmentation=augmentation)
        close = difflib.get_close_matches(text, names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        what = "no such file or folder" if not path.exists() else "not a folder of class subfolders"
        raise UnknownNameError(f"unknown dataset {text!r} ({what}).{hint} Give a dataset name "
                               f"({', '.join(names())}), 'tfds:NAME' or a folder of class subfolders of images.")
    return from_native(source, batch_size=batch_size, validation_split=validation_split, seed=seed,
                       class_names=class_names, augmentation=augmentation)


def load_csv(path, target: str, *, regression: bool = False, batch_size: int = 128, validation_split: float = 0.1,
             test_split: float = 0.2, seed: int = 0, numeric=(), categorical=()):
    """A CSV file with a header row as a ``TableData`` (``tabular.table_data``): train, validation
    and test rows split by seed, their inputs a dict of raw columns."""
    from recipes.data.tabular import read_csv, table_data

    table = read_csv(path, target, numeric=numeric, categorical=categorical)
    return table_data(table, regression=regression, batch_size=batch_size, validation_split=validation_split,
                      test_split=test_split, seed=seed, name=Path(path).stem)


def load_image_folder(path, *, batch_size: int = 128, validation_split: float = 0.1, seed: int = 0, image_size=None,
                      color_mode: str | None = None, bad_files: str = "stop", augmentation: Callable | None = None) -> Data:
    """A folder of class subfolders of images (``image_folder.read_image_folder``) as a ``Data``
    whose inputs are raw pixels named ``pixels``."""
    from recipes.data.image_folder import read_image_folder

    folder = read_image_folder(path, image_size=image_size, color_mode=color_mode, bad_files=bad_files)
    parts = tuple(folder.splits.get(split) for split in ("train", "validation", "test"))
    data = from_native(parts, name=Path(path).name, batch_size=batch_size, validation_split=validation_split,
                       seed=seed, class_names=folder.class_names, value_range=255.0, input_name="pixels",
                       augmentation=augmentation)
    data.info = dataclasses.replace(data.info, source=folder.source, resized_to=folder.resized_to)
    return data


__all__ = [
    "ACCEPT_MODIFIED_ENV", "accept_modified_data", "checksums",
    "CIFAR10_CLASSES", "CIFAR10_TEST_FILE", "CIFAR10_TRAIN_FILES", "DATA_DIR_ENV", "DIGIT_CLASSES",
    "FASHION_MNIST_CLASSES", "IDX_FILES", "OFFLINE_ENV", "TOY_TEST_SEED", "TOY_TEST_SIZE", "TOY_TRAIN_SIZE",
    "INPUT_SHAPES", "Data", "DatasetInfo", "RawData", "as_data", "batched", "from_arrays", "from_native",
    "is_native", "load", "load_arrays", "load_csv", "load_image_folder", "names", "pipeline", "register_dataset",
    "with_augmentation",
    "read_cifar_batch", "split_indices",
]
