"""The models a server holds, found as TF Serving finds them, loaded as SavedModels and swapped for
newer versions when they appear.

Two ways to say what to serve:

- a folder of models (``ModelRepository(base_path)``): every ``<base>/<name>/<integer>/`` folder
  with a ``saved_model.pb`` (or a ``model.tflite``), the newest version of each model. Temporary
  export folders (``.tmp-export-*``), other names and links leading outside the base path are
  ignored.
- TF Serving's model configs (``ModelRepository.from_config_file(path)`` for ``--model_config_file``,
  ``ModelRepository.single_model(path, name)`` for ``--model_name``/``--model_base_path``, or
  ``models=``): each model's ``base_path`` holds its version folders, and its version policy says
  which of them to serve (the latest N, all, or specific ones); labels name versions.

As in TF Serving, a version becomes AVAILABLE only once loaded (and warmed up), so requests are
never sent to a half-loaded model; a version no longer wanted is unloaded only after a wanted one is
available (a failed new version leaves the old one serving). Requests already holding a version
finish on it, and it is released when the last of them is done.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from recipes.errors import ConfigError
from recipes.saved_models import version_folders
from recipes.serve.codec import RequestError
from recipes.serve.config import (
    MODEL_NAME,
    ModelConfig,
    read_model_config_file,
    single_model_config,
    valid_model_name,
    validate_models,
)
from recipes.serve.loading import SAVED_MODEL_FILE, TFLITE_MODEL_FILE, LoadError, ServedVersion, load_version

__all__ = ["MODEL_NAME", "ModelRepository", "valid_model_name"]

log = logging.getLogger("keras_recipes.serve")

Loader = Callable[[str, int, Path], ServedVersion]
Warmup = Callable[[ServedVersion], None]

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"
MODEL_FILES = (SAVED_MODEL_FILE, TFLITE_MODEL_FILE)  # a version folder holding either is complete
_LABELS_HINT = ("load that version first, or allow labels on versions that are not loaded yet "
                "(allow_version_labels_for_unavailable_models, TF Serving's flag of that name)")


def _freeze_long_lived_objects() -> None:
    """Exempt TensorFlow's and the models' objects from Python's cyclic garbage collector.

    Each predict request allocates a list per row of pixels; the collections those allocations
    trigger would otherwise walk the millions of objects TensorFlow keeps, and took most of the
    server's CPU under load. Unfreezing and collecting first releases any version just unloaded.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class _State:
    state: str
    error: str = ""  # why a version ended without being served; never names a server path


def _both_given(version: int | None, label: str | None) -> None:
    if version is not None and label is not None:
        raise RequestError(400, f"Both model version ({version}) and model version label ({label}) cannot be supplied.")


def _model_files_mtime(folder: Path) -> float:
    """When the version's model files last changed; OSError when it has none."""
    times = [(folder / name).stat().st_mtime for name in MODEL_FILES if (folder / name).is_file()]
    if not times:
        raise FileNotFoundError(f"no {' or '.join(MODEL_FILES)} in the version folder")
    return max(times)


def _retained(served: set[int], aspired: set[int]) -> set[int]:
    """TF Serving's AvailabilityPreservingPolicy: versions outside the policy stay loaded only while
    no wanted version is available, and then only the highest of them."""
    unwanted = served - aspired
    if not aspired or served & aspired or not unwanted:
        return served - unwanted
    return (served & aspired) | {max(unwanted)}


class ModelRepository:
    """Serves models by TF Serving's rules and polls their folders (and config file) for changes.

    ``loader(name, version, path)`` loads one version folder; ``warmup(served)``, if given, runs on
    each loaded version before it becomes AVAILABLE (its status is LOADING meanwhile) and, by
    raising, keeps it out of service with its error in the status.
    """

    def __init__(self, base_path=None, *, models: Sequence[ModelConfig] | None = None, poll_seconds: float = 2.0,
                 config_poll_seconds: float = 0.0, loader: Loader = load_version, warmup: Warmup | None = None,
                 allow_version_labels_for_unavailable_models: bool = False):
        if (base_path is None) == (models is None):
            raise ConfigError("ModelRepository serves either a folder of models (base_path) or model configs "
                              "(models=, from_config_file, single_model); give exactly one")
        self._folder_of_models = base_path is not None
        if self._folder_of_models:
            self.base_path = Path(base_path).resolve()
            if not self.base_path.is_dir():
                raise ConfigError(f"{base_path} is not a folder of exported models; export one first "
                                  "(`keras-recipes run NAME` writes saved_models/NAME/1) or pass the right path")
        else:
            models = validate_models(models, source="model configs")
            self.base_path = models[0].base_path if len(models) == 1 else None
        self.poll_seconds = poll_seconds
        self.config_poll_seconds = config_poll_seconds
        self.config_file: Path | None = None
        self.allow_version_labels_for_unavailable_models = allow_version_labels_for_unavailable_models
        self._loader = loader
        self._warmup = warmup
        self._lock = threading.Lock()  # guards what requests read: _served, _status, _labels, _models
        self._refresh_lock = threading.Lock()  # one refresh at a time; loads run outside _lock
        self._models: dict[str, ModelConfig] = {model.name: model for model in models or ()}
        self._wanted_labels = self._labels_of(self._models.values())
        self._labels: dict[str, dict[str, int]] = {}
        self._label_error: str | None = None
        self._served: dict[str, dict[int, ServedVersion]] = {}
        self._status: dict[str, dict[int, _State]] = {}
        self._failed_mtimes: dict[Path, float] = {}
        self._missing: set[str] = set()
        self._config_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def warmup(self) -> Warmup | None:
        """What runs on each loaded version before it is AVAILABLE (TF Serving's warmup replay)."""
        return self._warmup

    @warmup.setter
    def warmup(self, warmup: Warmup | None) -> None:
        self._warmup = warmup

    @classmethod
    def from_config_file(cls, path, *, poll_seconds: float = 2.0, config_poll_seconds: float = 0.0,
                         loader: Loader = load_version, warmup: Warmup | None = None,
                         allow_version_labels_for_unavailable_models: bool = False) -> ModelRepository:
        """TF Serving's ``--model_config_file``, re-read every ``config_poll_seconds`` (0: never,
        as ``--model_config_file_poll_wait_seconds``); a malformed file raises ConfigError here."""
        repository = cls(models=read_model_config_file(path), poll_seconds=poll_seconds,
                         config_poll_seconds=config_poll_seconds, loader=loader, warmup=warmup,
                         allow_version_labels_for_unavailable_models=allow_version_labels_for_unavailable_models)
        repository.config_file = repository.base_path = Path(path)
        return repository

    @classmethod
    def single_model(cls, base_path, name: str = "default", **options) -> ModelRepository:
        """TF Serving's ``--model_name NAME --model_base_path PATH``: the newest version under PATH."""
        return cls(models=[single_model_config(base_path, name)], **options)

    @staticmethod
    def _labels_of(models) -> dict[str, dict[str, int]]:
        return {model.name: dict(model.version_labels) for model in models if model.version_labels}

    # --- discovery ---------------------------------------------------------------------------

    def _scan_folder_of_models(self) -> dict[str, ModelConfig]:
        found = {}
        for model_dir in sorted(self.base_path.iterdir()):
            if not valid_model_name(model_dir.name) or not model_dir.is_dir():
                continue
            if not model_dir.resolve().is_relative_to(self.base_path):
                continue  # a link leading outside the base path
            found[model_dir.name] = ModelConfig(model_dir.name, model_dir)
        return found

    def _on_disk(self, model: ModelConfig) -> dict[int, Path] | None:
        """Complete version folders (with a saved_model.pb or a model.tflite, which the loader may
        serve or refuse); None when the base path is missing."""
        if not model.base_path.is_dir():
            return None
        inside = self.base_path if self._folder_of_models else None
        return {number: folder for number, folder in version_folders(model.base_path).items()
                if any((folder / name).is_file() for name in MODEL_FILES)
                and (inside is None or folder.resolve().is_relative_to(inside))}

    # --- loading and unloading ---------------------------------------------------------------

    def _set_state(self, name: str, version: int, state: str, error: str = "") -> None:
        with self._lock:
            self._status.setdefault(name, {})[version] = _State(state, error)

    def _load(self, name: str, version: int, path: Path) -> float | None:
        """Load, warm up and publish one version; the seconds it took, or None if it failed."""
        try:
            mtime = _model_files_mtime(path)
        except OSError:
            self._set_state(name, version, END)  # removed while waiting to load
            return None
        self._set_state(name, version, LOADING)
        started = time.perf_counter()
        try:
            served = self._loader(name, version, path)
        except Exception as error:  # noqa: BLE001  (a broken export must not stop the server)
            message = str(error) if isinstance(error, LoadError) else \
                f"could not load version {version}: {type(error).__name__}"
            self._failed(name, version, path, mtime, message, error)
            return None
        if self._warmup is not None:
            try:
                self._warmup(served)
            except Exception as error:  # noqa: BLE001  (whatever warmup raises keeps the version out)
                message = (str(error) if isinstance(error, LoadError) else
                           f"warmup of version {version} failed: {error.message}" if isinstance(error, RequestError)
                           else f"warmup of version {version} failed: {type(error).__name__}")
                self._failed(name, version, path, mtime, message, error)
                return None
        with self._lock:
            self._served.setdefault(name, {})[version] = served
            self._status.setdefault(name, {})[version] = _State(AVAILABLE)
        self._failed_mtimes.pop(path, None)
        return time.perf_counter() - started

    def _failed(self, name: str, version: int, path: Path, mtime: float, message: str, error: Exception) -> None:
        self._failed_mtimes[path] = mtime  # not retried until its model files change
        self._set_state(name, version, END, message)  # clients see no server paths
        log.error("could not load %s version %d from %s: %s", name, version, path, error)

    def _unload(self, name: str, versions: set[int]) -> None:
        """Stop serving ``versions``; they stay UNLOADING until refresh has collected them."""
        with self._lock:
            served = self._served.get(name, {})
            for version in versions:
                served.pop(version, None)
                self._status.setdefault(name, {})[version] = _State(UNLOADING)
            if not served:
                self._served.pop(name, None)

    def refresh(self) -> list[str]:
        """Load what the version policies now want, release what they no longer want; returns what
        changed. Version labels wanted by the config are applied once their versions are AVAILABLE."""
        with self._refresh_lock:
            changes, unloaded = self._refresh_versions()
            self._update_labels()
        for change in changes:
            log.info("%s", change)
        if changes:
            _freeze_long_lived_objects()
        with self._lock:
            for name, versions in unloaded.items():
                for version in versions:
                    if self._status.get(name, {}).get(version) == _State(UNLOADING):
                        self._status[name][version] = _State(END)
        return changes

    def _refresh_versions(self) -> tuple[list[str], dict[str, set[int]]]:
        if self._folder_of_models:
            models = self._scan_folder_of_models()
            with self._lock:
                self._models = models
        else:
            with self._lock:
                models = dict(self._models)
        with self._lock:
            served = {name: set(versions) for name, versions in self._served.items()}
        plans, loads = {}, []
        for name, model in models.items():
            on_disk = self._on_disk(model)
            if on_disk is None:  # as TF Serving: a missing base path unloads nothing
                if name not in self._missing:
                    log.warning("Could not find base path %s for servable %s", model.base_path, name)
                    self._missing.add(name)
                continue
            self._missing.discard(name)
            aspired = model.model_version_policy.select(on_disk)
            plans[name] = (aspired, on_disk)
            for version in sorted(aspired - served.get(name, set()), reverse=True):
                path = on_disk[version]
                try:
                    unchanged = self._failed_mtimes.get(path) == _model_files_mtime(path)
                except OSError:
                    continue
                if not unchanged:
                    loads.append((name, version, path))
        for name, version, _ in loads:
            self._set_state(name, version, START)
        loaded: dict[str, list[tuple[int, float]]] = {}
        for name, version, path in loads:
            seconds = self._load(name, version, path)
            if seconds is not None:
                loaded.setdefault(name, []).append((version, seconds))

        with self._lock:
            served = {name: set(versions) for name, versions in self._served.items()}
        changes, unloaded = [], {}
        for name in sorted(set(served) | set(loaded)):
            reasons = {}
            if name in plans:
                aspired, on_disk = plans[name]
                reasons = {version: "its folder is gone" if version not in on_disk else "outside its version policy"
                           for version in served.get(name, set()) - _retained(served.get(name, set()), aspired)}
            elif name not in models:
                reasons = dict.fromkeys(served.get(name, set()), "its folder is gone" if self._folder_of_models
                                        else "its model is no longer in the model config")
            gone = set(reasons)
            if gone:
                self._unload(name, gone)
                unloaded[name] = gone
            versions_loaded = sorted(loaded.get(name, []), reverse=True)
            for index, (version, seconds) in enumerate(versions_loaded):
                replaced = f", replacing version {', '.join(map(str, sorted(gone)))}" if gone and index == 0 else ""
                changes.append(f"{name} version {version} loaded in {seconds:.1f} s{replaced}")
            if not versions_loaded:
                changes.extend(f"{name} version {version} unloaded ({reasons[version]})" for version in sorted(gone))
        return changes, unloaded

    # --- labels ------------------------------------------------------------------------------

    def _update_labels(self) -> None:
        """Apply the wanted label map, all or nothing, if every label names an AVAILABLE version
        (TF Serving's rule); otherwise keep the previous map and remember why."""
        with self._lock:
            wanted, current = self._wanted_labels, self._labels
            available = {name: set(versions) for name, versions in self._served.items()}
        error = None if wanted == current else self._label_problem(wanted, current, available)
        if wanted != current and error is None:
            with self._lock:
                self._labels = {name: dict(labels) for name, labels in wanted.items()}
            log.info("version labels now %s", self._labels or "none")
        if error and error != self._label_error:
            log.error("version labels not changed: %s; %s", error, _LABELS_HINT)
        self._label_error = error

    def _label_problem(self, wanted: dict, current: dict, available: dict) -> str | None:
        for name, labels in sorted(wanted.items()):
            for label, version in sorted(labels.items()):
                if version in available.get(name, set()):
                    continue
                if (self.allow_version_labels_for_unavailable_models
                        and current.get(name, {}).get(label, version) == version):
                    continue  # a new label, or one kept where it was, may wait for its version
                return (f"Request to assign label to version {version} of model {name}, "
                        "which is not currently available for inference")
        return None

    # --- config ------------------------------------------------------------------------------

    def model_configs(self) -> tuple[ModelConfig, ...]:
        with self._lock:
            return tuple(self._models.values())

    def reload(self, models: Sequence[ModelConfig]) -> list[str]:
        """Serve ``models`` instead (added, removed, new policies and labels) and load now; returns
        what changed. Raises ConfigError if a label names a version that is not AVAILABLE: the
        models are applied, the previous labels kept."""
        changes = self._apply(models)
        if self._label_error:
            raise ConfigError(f"{self._label_error}; {_LABELS_HINT}")
        return changes

    def _apply(self, models: Sequence[ModelConfig]) -> list[str]:
        if self._folder_of_models:
            raise ConfigError(f"this repository serves the model folders under {self.base_path}; "
                              "serve model configs with ModelRepository.from_config_file or models=")
        models = validate_models(models, source=str(self.config_file or "model configs"))
        with self._lock:
            self._models = {model.name: model for model in models}
            self._wanted_labels = self._labels_of(models)
        return self.refresh()

    def reload_config(self) -> list[str]:
        """Re-read the config file and apply it if it changed. A malformed file keeps the current
        config, and is logged once (one line) until it changes."""
        if self.config_file is None:
            return []
        try:
            models = read_model_config_file(self.config_file)
        except ConfigError as error:
            if str(error) != self._config_error:
                log.error("%s (keeping the model config read before)", error)
            self._config_error = str(error)
            return []
        if self._config_error is not None:
            log.info("%s is valid again", self.config_file)
            self._config_error = None
        if models == self.model_configs():
            return []
        return self._apply(models)  # a refused label is logged by refresh

    # --- polling -----------------------------------------------------------------------------

    def start(self) -> None:
        """Load what the config wants (raising ConfigError for labels on versions that did not
        load, as TF Serving refuses to start), then poll in a thread."""
        self.refresh()
        if self._label_error:
            raise ConfigError(f"{self.config_file or 'model configs'}: {self._label_error}; {_LABELS_HINT}")
        polls_config = self.config_file is not None and self.config_poll_seconds > 0
        if (self.poll_seconds > 0 or polls_config) and self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="model-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _poll(self) -> None:
        never = float("inf")
        now = time.monotonic()
        next_scan = now + self.poll_seconds if self.poll_seconds > 0 else never
        next_config = now + self.config_poll_seconds if self.config_file and self.config_poll_seconds > 0 else never
        while not self._stop.wait(max(0.0, min(next_scan, next_config) - time.monotonic())):
            now = time.monotonic()
            try:
                if now >= next_config:
                    next_config = now + self.config_poll_seconds
                    self.reload_config()
                if now >= next_scan:
                    next_scan = now + self.poll_seconds
                    self.refresh()
            except Exception:  # keep polling whatever happens on disk
                log.exception("polling %s failed", self.config_file or self.base_path)

    # --- lookups -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Models with at least one AVAILABLE version."""
        with self._lock:
            return sorted(self._served)

    def get(self, name: str, version: int | None = None, label: str | None = None) -> ServedVersion:
        """The highest AVAILABLE version, exactly ``version``, or the one ``label`` names; 404 when it
        is not served, 400 for an unknown label or for both a version and a label."""
        _both_given(version, label)
        if label is not None:
            with self._lock:
                version = self._labels.get(name, {}).get(label)
            if version is None:
                raise RequestError(400, f"Unrecognized servable version label: {label}")
        request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        served = None
        if valid_model_name(name):
            with self._lock:
                versions = self._served.get(name, {})
                served = versions.get(version) if version is not None else versions[max(versions)] if versions else None
        if served is None:
            raise RequestError(404, f"Servable not found for request: {request}")
        return served

    def status(self, name: str, version: int | None = None, label: str | None = None) -> list[dict]:
        """TF Serving's ``model_version_status`` entries, newest first. As in TF Serving's
        GetModelStatus, a label does not narrow the answer: every version is listed."""
        _both_given(version, label)
        with self._lock:
            states = dict(self._status.get(name, {})) if valid_model_name(name) else {}
        if version is not None:
            states = {number: state for number, state in states.items() if number == version}
        if not states:
            raise RequestError(404, f"Could not find any versions of model {name}" if version is None
                               else f"Could not find version {version} of model {name}")
        return [{"version": str(number), "state": entry.state,
                 "status": {"error_code": "UNKNOWN" if entry.error else "OK", "error_message": entry.error}}
                for number, entry in sorted(states.items(), reverse=True)]
