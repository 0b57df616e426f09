"""Writing a new integer version: into a temporary folder beside the versions, then renamed into
place, so a crash never leaves a half-written version that a server could pick up."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

STAGING_PREFIX = ".tmp-export-"


def versions(model_dir) -> list[int]:
    """Integer versions present under ``model_dir`` (temporary and other folders are ignored)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def publish_new_version(parent: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(folder)`` on an empty temporary folder under ``parent``, then rename it to the
    next integer version; returns the version folder. A failed ``write`` publishes nothing."""
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
    try:
        folder = staging / "model"
        folder.mkdir()
        write(folder)
        while True:
            version = (versions(parent) or [0])[-1] + 1
            target = parent / str(version)
            try:
                folder.rename(target)
                return target
            except OSError:
                if not target.exists():
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
