"""``RunBackup``: Keras's ``BackupAndRestore`` made safe to kill at any moment.

Each epoch's backup is a folder, ``backup/epoch-NNNN/``, written under a temporary name, flushed
to disk and then renamed, so a kill mid-write never leaves a broken backup in its place. The two
newest are kept: when the latest cannot be read, training resumes from the one before and says so.

A backup holds the model and optimizer weights, the epoch logs so far, and the state of every
stateful callback of the same ``fit`` (early stopping's counters and best weights, the best value
of a checkpoint or a plateau schedule, and any callback with ``get_state()``/``set_state()``), so
a resumed run makes the decisions an uninterrupted one would. When training ended, by early
stopping or after its last epoch, a rerun trains no further epoch and only restores the final
weights. The backup outlives ``fit``: whoever owns the run deletes it with ``discard()`` once the
run's last step is done.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

log = logging.getLogger("keras_recipes")

PREFIX, KEEP = "epoch-", 2
WEIGHTS, STATE, ARRAYS = "model.weights.h5", "state.json", "callback_weights.npz"

# Keras callbacks whose decisions depend on what they saw in earlier epochs, and the attributes
# that hold it. Arrays (early stopping's best weights) are stored beside the JSON.
KERAS_STATE = (
    (keras.callbacks.EarlyStopping, ("wait", "stopped_epoch", "best", "best_epoch"), "best_weights"),
    (keras.callbacks.ReduceLROnPlateau, ("wait", "cooldown_counter", "best"), None),
    (keras.callbacks.ModelCheckpoint, ("best",), None),
)


class UnreadableBackup(Exception):
    pass


class RunBackup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` with atomic, rotated, callback-aware backups in ``backup_dir``.

    Give it the other callbacks of the same ``fit`` with ``track(callbacks)``, and put it last in
    the list, so that it saves their state after they have seen the epoch and restores it after
    they have reset themselves in ``on_train_begin``.

    ``read_only=True`` restores from ``backup_dir`` but never writes or deletes there: the
    non-chief workers of a multi-worker run resume from the chief's backup this way.
    """

    def __init__(self, backup_dir, save_freq="epoch", *, read_only: bool = False):
        super().__init__(str(backup_dir), save_freq=save_freq, delete_checkpoint=False)
        self.directory = Path(backup_dir)
        self.read_only = read_only
        self.tracked: list[keras.callbacks.Callback] = []
        self.epoch_logs: list[dict[str, float]] = []
        self.fit_seconds_before = 0.0
        self.resumed_from: int | None = None

    def track(self, callbacks) -> RunBackup:
        self.tracked = [callback for callback in callbacks if callback is not self]
        return self

    # --- restoring ------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self.epoch_logs, self.resumed_from, self.fit_seconds_before = [], None, 0.0
        self._started = time.perf_counter()
        self._remove_incomplete()
        backups = self.backups()
        for position, folder in enumerate(backups):
            try:
                state = self._restore(folder)
            except UnreadableBackup as error:
                older = backups[position + 1].name if position + 1 < len(backups) else None
                log.warning("backup %s is unreadable (%s); %s", folder, error,
                            f"resuming from the one before, {older}" if older else "training starts from epoch 1")
                continue
            self._resume_at(state)
            return

    def _restore(self, folder: Path) -> dict:
        try:
            state = json.loads((folder / STATE).read_text())
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(folder / WEIGHTS)
            arrays = dict(np.load(folder / ARRAYS)) if (folder / ARRAYS).exists() else {}
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            raise UnreadableBackup(f"{type(error).__name__}: {error}".splitlines()[0]) from error
        for key, callback in self._keyed():
            if key in state["callbacks"]:
                set_callback_state(callback, state["callbacks"][key], _arrays_for(arrays, key))
        return state

    def _resume_at(self, state: dict):
        epoch, epochs = state["epoch"], self.params.get("epochs", state["epoch"])
        self.epoch_logs = state["epoch_logs"]
        self.fit_seconds_before = state.get("fit_seconds", 0.0)
        self.resumed_from = epoch
        if state["finished"]:
            self.model._initial_epoch = max(epoch, epochs)  # fit runs no epoch; on_train_end restores the best weights
            log.info("training finished in an earlier run after %d epochs; reusing its weights", epoch)
        else:
            self.model._initial_epoch = epoch
            log.info("resuming from the backup of epoch %d of %d in %s", epoch, epochs, self.directory)

    # --- saving ---------------------------------------------------------------------------------

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_logs = self.epoch_logs[:epoch] + [{k: float(v) for k, v in (logs or {}).items()}]
        super().on_epoch_end(epoch, logs)

    def _save_model(self):
        if self.read_only:
            return
        epochs = self.params.get("epochs")
        finished = bool(self.model.stop_training) or (epochs is not None and self._current_epoch >= epochs)
        state, arrays = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "finished": finished,
                         "epoch_logs": self.epoch_logs, "callbacks": {},
                         "fit_seconds": self.fit_seconds_before + time.perf_counter() - self._started}, {}
        for key, callback in self._keyed():
            values, weights = callback_state(callback)
            if values is not None:
                state["callbacks"][key] = values
            for index, array in enumerate(weights or ()):
                arrays[f"{key}/{index}"] = array
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incomplete-", dir=self.directory))
        try:
            self.model.save_weights(staging / WEIGHTS)
            (staging / STATE).write_text(json.dumps(state))
            if arrays:
                np.savez(staging / ARRAYS, **arrays)
            _flush(staging)
            target = self.directory / f"{PREFIX}{self._current_epoch:04d}"
            if target.exists():  # the same epoch saved again (batch-level saving): replace it
                shutil.rmtree(target)
            staging.rename(target)
            _flush_folder(self.directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for old in self.backups()[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)

    def on_train_end(self, logs=None):
        pass  # the backup is kept until the run's owner calls discard()

    # --- helpers --------------------------------------------------------------------------------

    def backups(self) -> list[Path]:
        """Complete backup folders, newest first."""
        if not self.directory.is_dir():
            return []
        return sorted((p for p in self.directory.iterdir() if p.is_dir() and p.name.startswith(PREFIX)),
                      key=lambda p: p.name, reverse=True)

    def discard(self) -> None:
        """Delete the backup folder and all it holds, in one step: it is renamed away first."""
        if self.read_only or not self.directory.exists():
            return
        gone = self.directory.with_name(f".{self.directory.name}-discarded-{os.getpid()}")
        shutil.rmtree(gone, ignore_errors=True)
        self.directory.rename(gone)
        shutil.rmtree(gone, ignore_errors=True)

    @property
    def history(self) -> dict[str, list[float]]:
        """Every epoch's logs, those of earlier runs of the same training included."""
        keys = list(dict.fromkeys(k for row in self.epoch_logs for k in row))
        return {k: [row.get(k, float("nan")) for row in self.epoch_logs] for k in keys}

    def _keyed(self):
        return [(f"{index}:{type(callback).__name__}", callback) for index, callback in enumerate(self.tracked)]

    def _remove_incomplete(self):
        if self.directory.is_dir() and not self.read_only:
            for leftover in self.directory.glob(".incomplete-*"):
                shutil.rmtree(leftover, ignore_errors=True)


def callback_state(callback) -> tuple[dict | None, list | None]:
    """(JSON-able state, list of arrays) of a stateful callback; (None, None) for a stateless one."""
    if hasattr(callback, "get_state") and hasattr(callback, "set_state"):
        return callback.get_state(), None
    for kind, attributes, weights in KERAS_STATE:
        if isinstance(callback, kind):
            values = {name: _plain(getattr(callback, name, None)) for name in attributes}
            return values, (getattr(callback, weights, None) if weights else None)
    return None, None


def set_callback_state(callback, values: dict, arrays: list) -> None:
    if hasattr(callback, "get_state") and hasattr(callback, "set_state"):
        callback.set_state(values)
        return
    for kind, attributes, weights in KERAS_STATE:
        if isinstance(callback, kind):
            for name in attributes:
                if name in values:
                    setattr(callback, name, values[name])
            if weights and arrays:
                setattr(callback, weights, arrays)
            return


def _plain(value):
    if isinstance(value, (np.generic, np.ndarray)) or keras.ops.is_tensor(value):
        return float(np.asarray(keras.ops.convert_to_numpy(value)))
    return value


def _arrays_for(arrays: dict, key: str) -> list:
    indices = sorted(int(name.rpartition("/")[2]) for name in arrays if name.startswith(f"{key}/"))
    return [arrays[f"{key}/{index}"] for index in indices]


def _flush(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as stream:
            os.fsync(stream.fileno())
    _flush_folder(folder)


def _flush_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
