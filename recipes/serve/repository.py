"""The models a server holds: the newest integer version of each model under the base path, loaded
as a SavedModel and swapped for a newer one when it appears.

Only ``<base>/<name>/<integer>/saved_model.pb`` folders are candidates: temporary export folders
(``.tmp-export-*``), other names and links leading outside the base path are ignored. A new
version is loaded completely before it replaces the old one; requests already holding the old
version finish on it, and it is released when the last of them is done.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
import time
from pathlib import Path

from recipes.errors import ConfigError
from recipes.saved_models import version_folders
from recipes.serve.codec import RequestError
from recipes.serve.loading import LoadError, ServedVersion, load_version

log = logging.getLogger("keras_recipes.serve")

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def valid_model_name(name: str) -> bool:
    return bool(MODEL_NAME.match(name)) and ".." not in name


def _freeze_long_lived_objects() -> None:
    """Exempt TensorFlow's and the models' objects from Python's cyclic garbage collector.

    Each predict request allocates a list per row of pixels; the collections those allocations
    trigger would otherwise walk the millions of objects TensorFlow keeps, and took most of the
    server's CPU under load. Unfreezing and collecting first releases any version just unloaded.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ModelRepository:
    """Serves the newest version of every model under ``base_path`` and polls for new ones."""

    def __init__(self, base_path, *, poll_seconds: float = 2.0, loader=load_version):
        self.base_path = Path(base_path).resolve()
        if not self.base_path.is_dir():
            raise ConfigError(f"{base_path} is not a folder of exported models; export one first "
                              "(`keras-recipes run NAME` writes saved_models/NAME/1) or pass the right path")
        self.poll_seconds = poll_seconds
        self._loader = loader
        self._lock = threading.Lock()
        self._served: dict[str, ServedVersion] = {}
        self._ended: dict[str, dict[int, str]] = {}  # name -> {version: error message or ""}
        self._failed_mtimes: dict[Path, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- discovery ---------------------------------------------------------------------------

    def _candidates(self) -> dict[str, tuple[int, Path]]:
        """Newest complete version folder of each model under the base path."""
        found = {}
        for model_dir in sorted(self.base_path.iterdir()):
            if not valid_model_name(model_dir.name) or not model_dir.is_dir():
                continue
            if not model_dir.resolve().is_relative_to(self.base_path):
                continue  # a link leading outside the base path
            versions = [(number, version_dir) for number, version_dir in version_folders(model_dir).items()
                        if (version_dir / "saved_model.pb").is_file()
                        and version_dir.resolve().is_relative_to(self.base_path)]
            if versions:
                found[model_dir.name] = max(versions)
        return found

    def refresh(self) -> list[str]:
        """Load what is new, swap it in and release what is gone; returns what changed."""
        changes = []
        candidates = self._candidates()
        for name, (version, path) in candidates.items():
            current = self._served.get(name)
            if current is not None and current.version >= version:
                continue
            mtime = (path / "saved_model.pb").stat().st_mtime
            if self._failed_mtimes.get(path) == mtime:
                continue  # failed before and unchanged since
            try:
                started = time.perf_counter()
                served = self._loader(name, version, path)
            except Exception as error:  # a broken export must not stop the server
                self._failed_mtimes[path] = mtime
                self._ended.setdefault(name, {})[version] = (  # clients see no server paths
                    str(error) if isinstance(error, LoadError) else f"could not load version {version}: {type(error).__name__}")
                log.error("could not load %s version %d from %s: %s", name, version, path, error)
                continue
            with self._lock:
                old = self._served.get(name)
                self._served[name] = served
                if old is not None:
                    self._ended.setdefault(name, {})[old.version] = ""
                self._ended.get(name, {}).pop(version, None)
            changes.append(f"{name} version {version} loaded in {time.perf_counter() - started:.1f} s"
                           + (f", replacing version {old.version}" if old else ""))
        with self._lock:
            for name in [n for n in self._served if n not in candidates]:
                old = self._served.pop(name)
                self._ended.setdefault(name, {})[old.version] = ""
                changes.append(f"{name} version {old.version} unloaded (its folder is gone)")
        for change in changes:
            log.info("%s", change)
        if changes:
            _freeze_long_lived_objects()
        return changes

    def start(self) -> None:
        self.refresh()
        if self.poll_seconds and self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="model-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # keep polling whatever happens on disk
                log.exception("polling %s failed", self.base_path)

    # --- lookups -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._served)

    def get(self, name: str, version: int | None = None) -> ServedVersion:
        """The served version (the newest, or exactly ``version``); 404 when there is none."""
        request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        if not valid_model_name(name):
            raise RequestError(404, f"Servable not found for request: {request}")
        with self._lock:
            served = self._served.get(name)
        if served is None or (version is not None and served.version != version):
            raise RequestError(404, f"Servable not found for request: {request}")
        return served

    def status(self, name: str, version: int | None = None) -> list[dict]:
        """TF Serving's ``model_version_status`` entries, newest first."""
        with self._lock:
            served = self._served.get(name) if valid_model_name(name) else None
            ended = dict(self._ended.get(name, {})) if valid_model_name(name) else {}
        entries = {}
        if served is not None:
            entries[served.version] = ("AVAILABLE", "OK", "")
        for number, error in ended.items():
            entries.setdefault(number, ("END", "UNKNOWN" if error else "OK", error))
        if version is not None:
            entries = {k: v for k, v in entries.items() if k == version}
        if not entries:
            request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            raise RequestError(404, f"Could not find any versions of model {name}" if version is None
                               else f"Servable not found for request: {request}")
        return [{"version": str(number), "state": state, "status": {"error_code": code, "error_message": message}}
                for number, (state, code, message) in sorted(entries.items(), reverse=True)]
