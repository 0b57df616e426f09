"""Reader and writer for the IDX format used by MNIST and Fashion-MNIST (plain or gzip)."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from recipes.errors import CorruptDatasetError

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
