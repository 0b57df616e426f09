"""MNIST and Fashion-MNIST: the IDX format they ship in (plain or gzip), and where to find them."""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recipes.data import checksums
from recipes.data._locate import DATA_DIR_ENV, find_or_download, from_tfds, keras_home, search_folders
from recipes.data.pipeline import RawData
from recipes.errors import CorruptDatasetError

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


def _read_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            return stream.read()
    except (EOFError, OSError, zlib.error) as error:
        raise CorruptDatasetError(f"{path} is corrupt or truncated ({error}). {_reinstall_hint(path)}") from None


def _parse_idx(path: Path, raw: bytes) -> np.ndarray:
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


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, checking its header and that it holds exactly the data it declares."""
    path = Path(path)
    return _parse_idx(path, _read_bytes(path))


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


def _check_labels(labels: np.ndarray, num_classes: int, where: str, hint: str) -> None:
    """Labels must be class indices, 0 to num_classes - 1: a one-line error naming ``where``."""
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        values = ", ".join(str(v) for v in np.unique(labels[bad])[:5])
        raise CorruptDatasetError(
            f"{where}: labels must be 0-{num_classes - 1} (the {num_classes} classes), but {bad.size:,} of "
            f"{labels.size:,} are not ({values}; the first at index {bad[0]}): the file is corrupt or holds "
            f"another dataset's labels. {hint}"
        )


def _check_roles(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Images files hold (count, rows, columns), labels files (count,), pairwise of one count, and
    train and test images of one size: else a one-line error naming the files."""
    for split in ("train", "test"):
        images, labels = IDX_FILES[f"x_{split}"], IDX_FILES[f"y_{split}"]
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1:
            expected = (f"{images} should hold the {split} images (3 dimensions: count, rows, columns) and "
                        f"{labels} the {split} labels (1 dimension)")
            found = f"{images} has shape {x.shape} and {labels} {y.shape}"
            if x.ndim == 1 and y.ndim == 3:
                raise CorruptDatasetError(f"{folder}: {expected}, but {found}: the two files are swapped. "
                                          f"Swap their names back.")
            wrong = folder / (images if x.ndim != 3 else labels)
            raise CorruptDatasetError(f"{folder}: {expected}, but {found}. Replace {wrong} with the "
                                      f"release file. {_reinstall_hint(wrong)}")
        if len(x) != len(y):
            raise CorruptDatasetError(
                f"{folder}: {images} holds {len(x):,} images but {labels} holds {len(y):,} labels; the two files "
                f"of a split must hold one count (they come from different sets, or one is cut short). "
                f"Replace them with a matching pair."
            )
    train, test = arrays["x_train"].shape[1:], arrays["x_test"].shape[1:]
    if train != test:
        raise CorruptDatasetError(
            f"{folder}: {IDX_FILES['x_train']} holds {train[0]}x{train[1]} images but {IDX_FILES['x_test']} "
            f"{test[0]}x{test[1]}; train and test images must have one size (the files come from different "
            f"datasets). Replace them with the four files of one dataset."
        )


def read_idx_folder(folder: Path, *, dataset: str | None = None, num_classes: int | None = None,
                    verify_checksums: bool | None = None) -> dict[str, np.ndarray]:
    """The four ``IDX_FILES`` of ``folder`` as arrays, each file's header checked, images and
    labels in their right files with matching counts; labels in ``0..num_classes-1`` when given;
    files that claim to be ``dataset``'s release files checked against their published SHA-256
    (``checksums``)."""
    arrays = {}
    for key, filename in IDX_FILES.items():
        path = folder / filename
        raw = _read_bytes(path)
        arrays[key] = _parse_idx(path, raw)
        if dataset is not None:
            checksums.check_release_file(path, dataset, raw, verify=verify_checksums, hint=_reinstall_hint(path))
    _check_roles(folder, arrays)
    if num_classes is not None:
        for key in ("y_train", "y_test"):
            path = folder / IDX_FILES[key]
            _check_labels(arrays[key], num_classes, str(path), _reinstall_hint(path))
    return arrays


def _read_keras_npz(path: Path, dataset: str, num_classes: int, verify_checksums: bool | None) -> dict:
    hint = f"Delete {path}; Keras downloads it again on first use (keras.datasets.mnist.load_data())."
    checksums.check_release_file(path, dataset, verify=verify_checksums, hint=hint)
    try:
        with np.load(path) as cached:
            arrays = {key: cached[key] for key in IDX_FILES}
    except (OSError, ValueError, KeyError, EOFError, zlib.error) as error:
        raise CorruptDatasetError(f"{path} is not a readable Keras mnist.npz ({type(error).__name__}: {error}). "
                                  f"{hint}") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise CorruptDatasetError(f"{path}: x_{split} must be (count, rows, columns) images and y_{split} "
                                      f"(count,) labels of one count; found {x.shape} and {y.shape}. {hint}")
        _check_labels(y, num_classes, f"{path} (y_{split})", hint)
    return arrays


def load_idx_set(name: str, data_dir=None, download=True, *, verify_checksums: bool | None = None) -> RawData:
    """The arrays of ``IDX_SETS[name]``, from ``data_dir`` when given, else the first folder holding
    its four IDX files (or, for MNIST, Keras's ``mnist.npz``), else downloaded by tensorflow-datasets.

    Files that claim to be the release files are checked against their published SHA-256;
    ``verify_checksums=False`` accepts a modified copy (``checksums``). Labels outside the classes,
    swapped or mismatched files are a ``CorruptDatasetError`` naming the file."""
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
        arrays = _read_keras_npz(found.folder / KERAS_MNIST_CACHE, name, len(spec.class_names), verify_checksums)
    else:
        arrays = read_idx_folder(found.folder, dataset=name, num_classes=len(spec.class_names),
                                 verify_checksums=verify_checksums)
    return RawData(
        x_train=arrays["x_train"][..., None], y_train=arrays["y_train"].astype(np.int32),
        x_test=arrays["x_test"][..., None], y_test=arrays["y_test"].astype(np.int32),
        class_names=spec.class_names, input_name="pixels", value_range=255.0, source=found.source,
    )
