"""MNIST and Fashion-MNIST: the IDX format they ship in (plain or gzip), and where to find them."""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recipes.data._locate import DATA_DIR_ENV, find_or_download, from_tfds, keras_home, search_folders
from recipes.data.pipeline import RawData
from recipes.errors import CorruptDatasetError, DatasetNotFoundError

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
DEBIAN_DATASETS = Path("/usr/share/datasets")
KERAS_MNIST_CACHE = "mnist.npz"  # what keras.datasets.mnist.load_data keeps in ~/.keras/datasets

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}


def _reinstall_hint(path: Path) -> str:
    return f"Delete {path} and download or reinstall it (e.g. `apt-get install --reinstall dataset-fashion-mnist`)."


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, checking its header and that it holds exactly the data it declares."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (EOFError, OSError, zlib.error) as error:
        raise CorruptDatasetError(f"{path} is corrupt or truncated ({error}). {_reinstall_hint(path)}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise CorruptDatasetError(f"{path} is not an IDX file (bad magic number). {_reinstall_hint(path)}")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise CorruptDatasetError(f"{path} is truncated inside its header. {_reinstall_hint(path)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    found = len(raw) - header_size
    if found != expected:
        raise CorruptDatasetError(
            f"{path} is truncated or padded: its header declares shape {shape} ({expected:,} bytes) "
            f"but it holds {found:,} bytes of data. {_reinstall_hint(path)}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8/int8 array as an IDX file, gzip-compressed when the name ends in .gz."""
    path = Path(path)
    array = np.ascontiguousarray(array)
    if array.dtype not in _CODES:
        raise ValueError(f"write_idx supports uint8 and int8 arrays, not {array.dtype}")
    header = bytes([0, 0, _CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as stream:
        stream.write(header + array.tobytes())
    return path


@dataclass(frozen=True)
class IdxSet:
    """A dataset released as the four IDX files of ``IDX_FILES``."""

    title: str
    folder: str
    tfds_name: str
    class_names: tuple[str, ...]
    debian_package: str | None
    download_host: str


IDX_SETS = {
    "fashion_mnist": IdxSet("Fashion-MNIST", "fashion-mnist", "fashion_mnist", FASHION_MNIST_CLASSES,
                            "dataset-fashion-mnist", "fashion-mnist.s3-website.eu-central-1.amazonaws.com"),
    "mnist": IdxSet("MNIST", "mnist", "mnist", DIGIT_CLASSES, None, "storage.googleapis.com"),
}


def read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    arrays = {key: read_idx(folder / filename) for key, filename in IDX_FILES.items()}
    for split in ("train", "test"):
        if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise DatasetNotFoundError(
                f"{folder}: {split} images and labels differ in length "
                f"({len(arrays[f'x_{split}'])} vs {len(arrays[f'y_{split}'])})."
            )
    return arrays


def load_idx_set(name: str, data_dir=None, download=True) -> RawData:
    """The arrays of ``IDX_SETS[name]``, from the first folder holding its four IDX files (or, for
    MNIST, Keras's ``mnist.npz``), else downloaded by tensorflow-datasets."""
    spec = IDX_SETS[name]
    layouts = [tuple(IDX_FILES.values()), (KERAS_MNIST_CACHE,)] if name == "mnist" else [tuple(IDX_FILES.values())]
    cache = keras_home() / "datasets"
    folders = [*search_folders(data_dir, (spec.folder,)), ("Debian package", DEBIAN_DATASETS / spec.folder),
               ("Keras cache", cache / spec.folder if name != "mnist" else cache)]
    how_to_get = [f"put the four IDX files ({', '.join(IDX_FILES.values())}) in a folder and pass "
                  f"data_dir=... (CLI: --data-dir) or set ${DATA_DIR_ENV}"]
    if spec.debian_package:
        how_to_get.insert(0, f"offline on Debian/Ubuntu: `sudo apt-get install {spec.debian_package}`")
    if name == "mnist":
        how_to_get.append(f"or keep Keras's {KERAS_MNIST_CACHE} in {cache}")
    how_to_get.append("online: `pip install tensorflow-datasets` downloads it on first use")
    found = find_or_download(spec.title, layouts, folders, download=from_tfds(spec.tfds_name),
                             download_label=f"tensorflow-datasets {spec.tfds_name!r}", host=spec.download_host,
                             allow_download=download, how_to_get=how_to_get)
    if found.downloaded is not None:
        (x_train, y_train), (x_test, y_test) = found.downloaded
        arrays = {"x_train": x_train[..., 0], "y_train": y_train, "x_test": x_test[..., 0], "y_test": y_test}
    elif found.layout == (KERAS_MNIST_CACHE,):
        with np.load(found.folder / KERAS_MNIST_CACHE) as cached:
            arrays = {key: cached[key] for key in IDX_FILES}
    else:
        arrays = read_idx_folder(found.folder)
    return RawData(
        x_train=arrays["x_train"][..., None], y_train=arrays["y_train"].astype(np.int32),
        x_test=arrays["x_test"][..., None], y_test=arrays["y_test"].astype(np.int32),
        class_names=spec.class_names, input_name="pixels", value_range=255.0, source=found.source,
    )
