"""The Keras callbacks a recipe switches on by name, each writing under one run folder."""

from __future__ import annotations

from pathlib import Path

import keras

from callbacks.backup import RunBackup
from callbacks.defaults import EARLY_STOPPING
from callbacks.plots import TrainingCurves
from callbacks.samples import GeneratedSamples


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs (CSV, history, plots)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def _early_stopping(run_dir: Path, **options):
    options = {**EARLY_STOPPING, "restore_best_weights": True, **options}
    return keras.callbacks.EarlyStopping(**options)


def _checkpoint(run_dir: Path, monitor="val_loss", **options):
    path = run_dir / "checkpoints" / "best.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    return keras.callbacks.ModelCheckpoint(path, monitor=monitor, save_best_only=True, **options)


class EpochLog(keras.callbacks.CSVLogger):
    """``CSVLogger`` that a resumed run continues: it keeps the rows of the epochs the backup
    restored (``set_state``) and drops any written after them, so each epoch has one row. A run
    that does not resume starts the file afresh."""

    def __init__(self, filename, **options):
        super().__init__(str(filename), append=True, **options)
        self.epochs_kept = 0
        self._opened = False

    def get_state(self) -> dict:
        return {"epochs_kept": self.epochs_kept}

    def set_state(self, state: dict) -> None:
        self.epochs_kept = int(state["epochs_kept"])

    def on_train_begin(self, logs=None):
        self.epochs_kept, self._opened = 0, False  # the file is opened at the first epoch, once set_state had its say

    def on_epoch_end(self, epoch, logs=None):
        if not self._opened:
            path = Path(self.filename)
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = path.read_text().splitlines(keepends=True) if path.exists() else []
            path.write_text("".join(lines[:1 + self.epochs_kept]) if self.epochs_kept else "")
            super().on_train_begin()
            self._opened = True
        super().on_epoch_end(epoch, logs)
        self.epochs_kept = epoch + 1


class AveragedWeightsSwap(keras.callbacks.SwapEMAWeights):
    """``SwapEMAWeights`` that holds the optimizer's moving average in the model from each epoch's
    end to the next epoch's start (``swap_on_epoch=True``), so that validation, early stopping,
    checkpoints and backups all see the averaged weights, the ones the model keeps when fit ends.
    Without it, early stopping's ``restore_best_weights`` puts back raw weights over the average.
    Its state (which weights the model holds) is kept in a backup, so a resumed run swaps back."""

    def __init__(self, swap_on_epoch: bool = True):
        super().__init__(swap_on_epoch=swap_on_epoch)

    def get_state(self) -> dict:
        return {"averaged_weights_in_model": self._ema_weights_in_model}

    def set_state(self, state: dict) -> None:
        self._ema_weights_in_model = bool(state["averaged_weights_in_model"])


def _csv_log(run_dir: Path, **options):
    return EpochLog(run_dir / "training_log.csv", **options)


# Order matters: the learning-rate logger must write into the logs before the loggers read them,
# and the averaged weights must be in the model before early stopping, checkpoint and backup look.
FACTORIES = {
    "learning_rate_log": lambda run_dir, **o: LearningRateLogger(**o),
    "terminate_on_nan": lambda run_dir, **o: keras.callbacks.TerminateOnNaN(**o),
    "swap_ema_weights": lambda run_dir, **o: AveragedWeightsSwap(**o),
    "early_stopping": _early_stopping,
    "checkpoint": _checkpoint,
    "backup": lambda run_dir, **o: RunBackup(run_dir / "backup", **o),
    "csv_log": _csv_log,
    "tensorboard": lambda run_dir, **o: keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), **o),
    "training_curves": lambda run_dir, **o: TrainingCurves(run_dir / "plots" / "training_curves.png", **o),
    "generated_samples": lambda run_dir, **o: GeneratedSamples(run_dir / "plots", **o),
}


def build_callbacks(spec: dict[str, dict | None], run_dir) -> list[keras.callbacks.Callback]:
    """Callbacks named in ``spec`` (name -> options; None switches one off), in a working order."""
    unknown = set(spec) - set(FACTORIES)
    if unknown:
        raise ValueError(
            f"unknown callback(s) {', '.join(sorted(unknown))}; known: {', '.join(FACTORIES)}"
        )
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return [FACTORIES[name](run_dir, **(spec[name] or {}))
            for name in FACTORIES if name in spec and spec[name] is not None]


def with_backup_last(callbacks) -> list[keras.callbacks.Callback]:
    """``callbacks`` with the ``RunBackup`` among them moved to the end and tracking all the others:
    it must save their state after they have seen an epoch, and restore it after they reset."""
    backups = [callback for callback in callbacks if isinstance(callback, RunBackup)]
    others = [callback for callback in callbacks if not isinstance(callback, RunBackup)]
    return others + [backup.track(others) for backup in backups]
