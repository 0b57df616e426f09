"""CIFAR-10, from its binary release (``cifar-10-batches-bin``: no pickles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes.data import checksums
from recipes.data._locate import DATA_DIR_ENV, find_or_download, from_tfds, search_folders
from recipes.data.pipeline import RawData
from recipes.errors import CorruptDatasetError, ModifiedDatasetError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch.bin"
CIFAR10_FOLDER = "cifar-10-batches-bin"
_RECORD = 1 + 32 * 32 * 3


_RELEASE_RECORDS = 10000  # each batch file of the release holds 10,000 images
_HINT = "Delete it and unpack the binary release (cifar-10-binary.tar.gz) again."


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 32, 32, 3) uint8 and labels from one CIFAR-10 binary batch file."""
    path = Path(path)
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _RECORD:
        raise CorruptDatasetError(
            f"{path} is truncated or not a CIFAR-10 binary batch: {raw.size:,} bytes is not a whole "
            f"number of {_RECORD}-byte records. {_HINT}"
        )
    records = raw.reshape(-1, _RECORD)
    labels = records[:, 0].astype(np.int32)
    bad = np.flatnonzero(labels >= len(CIFAR10_CLASSES))
    if bad.size:
        raise CorruptDatasetError(
            f"{path}: labels must be 0-{len(CIFAR10_CLASSES) - 1} (the {len(CIFAR10_CLASSES)} classes), but "
            f"{bad.size:,} of {labels.size:,} records are not (label {labels[bad[0]]} in record {bad[0]}): the "
            f"file is corrupt or not a CIFAR-10 batch. {_HINT}"
        )
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _check_release_counts(folder: Path, labels: dict[str, np.ndarray]) -> None:
    """Files of the release's size must hold its published class counts: 1,000 test images of each
    class, and 5,000 of each in the five training batches together."""
    expected = {CIFAR10_TEST_FILE: 1000, "the five training batches": 5000}
    groups = {CIFAR10_TEST_FILE: [CIFAR10_TEST_FILE], "the five training batches": list(CIFAR10_TRAIN_FILES)}
    for what, names in groups.items():
        if any(len(labels[name]) != _RELEASE_RECORDS for name in names):
            continue  # not the release's size: a subset or a set of one's own
        counts = np.bincount(np.concatenate([labels[name] for name in names]), minlength=len(CIFAR10_CLASSES))
        if (counts != expected[what]).any():
            where = folder / CIFAR10_TEST_FILE if what == CIFAR10_TEST_FILE else folder
            raise ModifiedDatasetError(
                f"{where} has the size of the CIFAR-10 release but not its labels: {what} must hold "
                f"{expected[what]:,} images of each class, and hold {counts.tolist()}. The files are corrupt or "
                f"were modified: unpack the binary release again; {checksums.ACCEPT_HINT}."
            )


def load_cifar10(data_dir=None, download=True, *, verify_checksums: bool | None = None) -> RawData:
    """CIFAR-10 from ``data_dir`` when given (or its ``cifar-10-batches-bin`` subfolder), else
    ``$KERAS_RECIPES_DATA_DIR``, else downloaded by tensorflow-datasets. Every label is checked;
    batch files of the release's size must hold its class counts (``verify_checksums=False``
    accepts a modified copy)."""
    found = find_or_download(
        "CIFAR-10", [(*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)], search_folders(data_dir, (CIFAR10_FOLDER,)),
        download=from_tfds("cifar10"), download_label="tensorflow-datasets 'cifar10'", host="www.cs.toronto.edu",
        allow_download=download,
        how_to_get=[f"download and unpack the binary version (cifar-10-binary.tar.gz, folder {CIFAR10_FOLDER}) "
                    f"and pass data_dir=... (CLI: --data-dir) or set ${DATA_DIR_ENV}",
                    "online: `pip install tensorflow-datasets` downloads it on first use"])
    if found.downloaded is not None:
        (x_train, y_train), (x_test, y_test) = found.downloaded
    else:
        batches = {name: read_cifar_batch(found.folder / name) for name in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)}
        if checksums.checks_enabled(verify_checksums):
            _check_release_counts(found.folder, {name: labels for name, (_, labels) in batches.items()})
        x_train = np.concatenate([batches[name][0] for name in CIFAR10_TRAIN_FILES])
        y_train = np.concatenate([batches[name][1] for name in CIFAR10_TRAIN_FILES])
        x_test, y_test = batches[CIFAR10_TEST_FILE]
    return RawData(x_train, y_train.astype(np.int32), x_test, y_test.astype(np.int32), CIFAR10_CLASSES,
                   "pixels", 255.0, found.source)
