"""CIFAR-10, from its binary release (``cifar-10-batches-bin``: no pickles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes.data._locate import DATA_DIR_ENV, find_or_download, from_tfds, search_folders
from recipes.data.pipeline import RawData
from recipes.errors import CorruptDatasetError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch.bin"
CIFAR10_FOLDER = "cifar-10-batches-bin"
_RECORD = 1 + 32 * 32 * 3


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 32, 32, 3) uint8 and labels from one CIFAR-10 binary batch file."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _RECORD:
        raise CorruptDatasetError(
            f"{path} is truncated or not a CIFAR-10 binary batch: {raw.size:,} bytes is not a whole "
            f"number of {_RECORD}-byte records. Delete it and download the binary release again."
        )
    records = raw.reshape(-1, _RECORD)
    labels = records[:, 0].astype(np.int32)
    if labels.max() >= len(CIFAR10_CLASSES):
        raise CorruptDatasetError(f"{path}: label {labels.max()} is out of range; the file is corrupt.")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def load_cifar10(data_dir=None, download=True) -> RawData:
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
        train = [read_cifar_batch(found.folder / name) for name in CIFAR10_TRAIN_FILES]
        x_train, y_train = np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])
        x_test, y_test = read_cifar_batch(found.folder / CIFAR10_TEST_FILE)
    return RawData(x_train, y_train.astype(np.int32), x_test, y_test.astype(np.int32), CIFAR10_CLASSES,
                   "pixels", 255.0, found.source)
