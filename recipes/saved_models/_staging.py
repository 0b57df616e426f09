"""Writing a new integer version: into a temporary folder beside the versions, flushed to disk,
then renamed into place, so that neither a crash nor a power loss leaves a half-written version
that a server could pick up. Staging folders that a killed export left behind are removed by the
next export, once they are a few minutes old and no live process owns them."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Callable

from recipes.errors import ConfigError

log = logging.getLogger("keras_recipes")

STAGING_PREFIX = ".tmp-export-"
OWNER_FILE = "owner"
STALE_AFTER_SECONDS = 300


MAX_VERSION = 2**63 - 1  # TF Serving's versions are int64
_VERSION_NAME = re.compile(r"[0-9]+")


def version_number(text: str) -> int | None:
    """The version a folder name or URL segment means, as TF Serving reads it: ASCII digits
    (zero padding allowed, ``00000123`` is 123) within int64; None for anything else, such as
    ``²`` or the full-width ``２``, which Python's ``isdigit`` and ``int`` would accept."""
    if not _VERSION_NAME.fullmatch(text) or len(text.lstrip("0")) > 19:
        return None
    number = int(text)
    return number if number <= MAX_VERSION else None


def version_folders(model_dir) -> dict[int, Path]:
    """Version number -> folder under ``model_dir`` (temporary and other folders are ignored)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return {}
    found = {}
    for folder in sorted(model_dir.iterdir()):
        number = version_number(folder.name)
        if number is not None and folder.is_dir():
            found.setdefault(number, folder)
    return dict(sorted(found.items()))


def versions(model_dir) -> list[int]:
    """Integer versions present under ``model_dir`` (temporary and other folders are ignored)."""
    return list(version_folders(model_dir))


def publish_new_version(parent: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(folder)`` on an empty temporary folder under ``parent``, then rename it to the
    next integer version; returns the version folder. A failed ``write`` publishes nothing."""
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(parent)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
    try:
        (staging / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")
        folder = staging / "model"
        folder.mkdir()
        write(folder)
        flush_tree(folder)
        while True:
            version = (versions(parent) or [0])[-1] + 1
            target = parent / str(version)
            try:
                folder.rename(target)
                break
            except OSError:
                if not target.exists():
                    raise
        flush_folder(parent)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(parent: Path, *, older_than: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Delete the staging folders under ``parent`` that are older than ``older_than`` seconds and
    owned by no live process on this machine; returns those deleted."""
    removed = []
    for staging in Path(parent).glob(f"{STAGING_PREFIX}*"):
        try:
            age = time.time() - staging.stat().st_mtime
        except FileNotFoundError:
            continue
        if age < older_than or _owner_alive(staging):
            continue
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(staging)
    if removed:
        log.info("removed %d unfinished export folder(s) left by killed exports in %s", len(removed), parent)
    return removed


def _owner_alive(staging: Path) -> bool:
    try:
        host, pid = (staging / OWNER_FILE).read_text().split()
    except (OSError, ValueError):
        return False  # no owner recorded: a kill before it was written
    if host != socket.gethostname():
        return True  # another machine's export on shared storage: only its age can tell, and that is not enough
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def flush_tree(folder: Path) -> None:
    """fsync every file under ``folder`` and every folder, deepest first."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            with open(os.path.join(root, name), "rb") as stream:
                os.fsync(stream.fileno())
        flush_folder(Path(root))


def flush_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def ensure_writable(folder, *, what: str, change: str, needs_bytes: int = 0) -> Path:
    """Create ``folder`` and write a probe file in it, so that a read-only or full disk is found
    before hours of training rather than after; ``needs_bytes`` is the room the caller will need.
    Raises ``ConfigError`` naming the folder, the reason and ``change`` (how to pick another)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-") as probe:
            probe.write(b"\0" * 65536)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ConfigError(f"{what} {folder} cannot be written ({reason}); {change}") from error
    free = shutil.disk_usage(folder).free
    if needs_bytes and free < needs_bytes:
        raise ConfigError(f"{what} {folder} has {free / 2**20:.0f} MiB free, and this run needs about "
                          f"{needs_bytes / 2**20:.0f} MiB there; free some space, or {change}")
    return folder

