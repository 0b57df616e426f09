"""The one find-or-download mechanism every data source uses.

A source names the files it needs (one or more layouts) and the folders to look in, in order:
``search_folders`` gives ``data_dir`` and ``$KERAS_RECIPES_DATA_DIR`` (with the source's usual
subfolders), and the source adds places of its own (a Debian package, Keras's cache). Then it
downloads. When everything fails, one ``DatasetNotFoundError`` lists every place searched and how
to get the data.
A ``data_dir`` the user names is exclusive: the dataset is found there (or in its usual subfolders)
or the error names the files missing from it; nothing else is searched, nothing is downloaded.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from recipes.errors import DatasetNotFoundError

DATA_DIR_ENV = "KERAS_RECIPES_DATA_DIR"
OFFLINE_ENV = "KERAS_RECIPES_OFFLINE"


@dataclass(frozen=True)
class Found:
    """Where a dataset was found: a folder holding one of the source's layouts, or what a download
    returned (arrays, for tensorflow-datasets)."""

    source: str
    folder: Path | None = None
    layout: tuple[str, ...] = ()
    downloaded: object = None


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def unreachable(host: str) -> str | None:
    """Why ``host`` can't be reached, or None. tensorflow-datasets retries for minutes offline."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return None
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as error:
        return f"{host} is unreachable ({error})"
    return None


def match_layout(folder: Path, layouts: Sequence[Sequence[str]]) -> tuple[tuple[str, ...] | None, list[str]]:
    """``(the first layout whose files are all in folder, [])``, or ``(None, files missing from the
    layout that is most complete)``."""
    best_missing: list[str] = []
    best_present = 0
    for layout in layouts:
        present = [name for name in layout if (folder / name).is_file()]
        if len(present) == len(layout):
            return tuple(layout), []
        if len(present) > best_present:
            best_present, best_missing = len(present), sorted(set(layout) - set(present))
    return None, best_missing


def search_folders(data_dir, subfolders: Sequence[str] = ()) -> list[tuple[str, Path | None]]:
    """``data_dir`` and ``$KERAS_RECIPES_DATA_DIR``, each as given and with each of ``subfolders``
    appended, labelled for the error message (None where one is not set)."""
    folders: list[tuple[str, Path | None]] = []
    for label, base in (("data_dir", data_dir), (f"${DATA_DIR_ENV}", os.environ.get(DATA_DIR_ENV))):
        if base:
            folders += [(label, Path(base)), *((label, Path(base) / sub) for sub in subfolders)]
        else:
            folders.append((label, None))
    return folders


def find_or_download(title: str, layouts: Sequence[Sequence[str]], folders: Sequence[tuple[str, Path | None]], *,
                     download: Callable[[], Found] | None = None, download_label: str = "download",
                     host: str | None = None, allow_download: bool = True, how_to_get: Sequence[str] = ()) -> Found:
    """The first of ``folders`` holding every file of one of ``layouts``; else what ``download``
    returns (skipped when ``allow_download`` is false, ``$KERAS_RECIPES_OFFLINE`` is set or ``host``
    cannot be reached). Raises ``DatasetNotFoundError`` listing every place tried and ``how_to_get``.

    A folder the user named (label ``data_dir``, with its subfolders) is the only place searched:
    the dataset is there, or the error names the files missing from it."""
    named = [folder for label, folder in folders if label == "data_dir" and folder is not None]
    if named:
        return _only_in(title, layouts, named, folders, download_label if download else None, how_to_get)
    searched = []
    for label, folder in folders:
        if folder is None:
            searched.append(f"{label}: not set")
            continue
        layout, missing = match_layout(folder, layouts)
        if layout:
            return Found(f"{label} {folder}", folder, layout)
        if missing:
            searched.append(f"{label}: {folder} is missing {', '.join(missing)}")
        elif folder.is_dir():
            searched.append(f"{label}: {folder} (no {' or '.join(' + '.join(files) for files in layouts)})")
        else:
            searched.append(f"{label}: {folder} (not found)")
    if download is not None:
        if not allow_download or os.environ.get(OFFLINE_ENV):
            searched.append(f"{download_label}: skipped (download=False or ${OFFLINE_ENV} set)")
        else:
            problem = unreachable(host) if host else None
            if problem is None:
                try:
                    return download()
                except Exception as error:  # offline, or the downloader is missing: reported with the rest
                    first_line = str(error).splitlines()[0][:200] if str(error) else ""
                    problem = f"{type(error).__name__}: {first_line}"
            searched.append(f"{download_label}: {problem}")
    raise DatasetNotFoundError(
        f"{title} was not found. Searched:\n  - " + "\n  - ".join(searched)
        + "\nTo get it:\n  - " + "\n  - ".join(how_to_get)
    )


def _only_in(title: str, layouts: Sequence[Sequence[str]], named: Sequence[Path],
             folders: Sequence[tuple[str, Path | None]], download_label: str | None,
             how_to_get: Sequence[str]) -> Found:
    """The first of ``named`` (data_dir and its subfolders) holding a layout, else a one-line error
    naming the files missing from the most complete of them."""
    closest: tuple[int, Path, list[str]] | None = None
    for folder in named:
        layout, _ = match_layout(folder, layouts)
        if layout:
            return Found(f"data_dir {folder}", folder, layout)
        for files in layouts:
            present = sum((folder / name).is_file() for name in files)
            if present and (closest is None or present > closest[0]):
                closest = (present, folder, sorted(name for name in files if not (folder / name).is_file()))
    base = named[0]
    if closest is not None:
        problem = f"{closest[1]} is missing {', '.join(closest[2])}"
    elif not base.exists():
        problem = f"{base} does not exist"
    elif not base.is_dir():
        problem = f"{base} is not a folder"
    else:
        expected = " or ".join(" + ".join(files) for files in layouts)
        problem = f"{base} holds none of its files ({expected})"
    others: dict[str, str] = {}
    for label, folder in folders:
        if label != "data_dir" and label not in others:
            others[label] = label if folder is None or label.startswith("$") else f"{label} {folder}"
    others = [*others.values(), *([download_label] if download_label else [])]
    raise DatasetNotFoundError(
        f"{title} was not found. Searched: data_dir: {problem} (a data_dir you name is the only place searched). "
        f"Put the files there, or leave data_dir unset (CLI: no --data-dir) to search {', '.join(others)}."
        + (f" To get it: {'; '.join(how_to_get)}." if how_to_get else "")
    )


def from_tfds(tfds_name: str) -> Callable[[], Found]:
    """A download step: ``((x_train, y_train), (x_test, y_test))`` as numpy, by tensorflow-datasets."""

    def download() -> Found:
        import tensorflow_datasets as tfds

        splits = tfds.as_numpy(tfds.load(tfds_name, split=["train", "test"], batch_size=-1, as_supervised=True))
        return Found(f"tensorflow-datasets {tfds_name}", downloaded=splits)

    return download
