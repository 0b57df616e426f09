"""RunBackup: a fit interrupted at any epoch resumes with the decisions of an uninterrupted one,
from atomic backups that fall back to the one before when the latest cannot be read."""

import json
import logging

import keras
import numpy as np
import pytest

from callbacks import EpochLog, RunBackup, TrainingCurves, with_backup_last

from harness import EpochsStarted

# A scripted validation score, so that early stopping's decisions are known in advance: the best
# is at epoch 3 (0-based), and with patience 3 training stops after epoch 6.
SCORES = [5.0, 4.0, 3.5, 3.0, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8, 3.9]
EPOCHS, PATIENCE = 12, 3


class ScriptedScore(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = SCORES[epoch]


class Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt(f"killed at epoch {epoch}")


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model


DATA = (np.random.default_rng(0).normal(size=(64, 4)).astype("float32"),
        np.random.default_rng(1).normal(size=(64, 1)).astype("float32"))


def _fit(tmp_path, *extra, model=None):
    """One fit with the recipe's stateful callbacks; returns (early stopping, epochs started, model)."""
    model = model or _model()
    stopping = keras.callbacks.EarlyStopping(monitor="score", mode="min", patience=PATIENCE, restore_best_weights=True)
    started = EpochsStarted()
    callbacks = with_backup_last([started, ScriptedScore(), stopping, EpochLog(tmp_path / "log.csv"),
                                  TrainingCurves(tmp_path / "curves.png"), *extra,
                                  RunBackup(tmp_path / "backup")])
    try:
        model.fit(*DATA, epochs=EPOCHS, batch_size=16, verbose=0, callbacks=callbacks)
    except KeyboardInterrupt:
        pass
    return stopping, started.started, model


def test_an_interrupted_fit_makes_the_same_early_stopping_decision(tmp_path):
    uninterrupted, started, _ = _fit(tmp_path / "whole")
    assert started == list(range(7)) and uninterrupted.stopped_epoch == 6

    _, first, _ = _fit(tmp_path / "killed", Interrupt(at_epoch=5))
    assert first == list(range(6))
    resumed, second, model = _fit(tmp_path / "killed")
    assert second == [5, 6], "resumes at the first unfinished epoch and stops where the uninterrupted run did"
    assert (resumed.stopped_epoch, resumed.best_epoch, resumed.best) == (6, 3, 3.0)
    rows = (tmp_path / "killed" / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == [str(e) for e in range(7)], "one log row per epoch"
    curves = json.loads((tmp_path / "killed" / "curves.json").read_text())
    assert sorted(map(int, curves)) == list(range(7)), "the training curves keep the epochs before the kill"


def test_a_finished_fit_run_again_trains_no_epoch_and_restores_the_best_weights(tmp_path):
    _, _, finished = _fit(tmp_path)
    _, started, again = _fit(tmp_path)
    assert started == []
    for a, b in zip(finished.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_unreadable_latest_backup_falls_back_to_the_one_before(tmp_path, caplog):
    _fit(tmp_path, Interrupt(at_epoch=4))
    backups = RunBackup(tmp_path / "backup").backups()
    assert [b.name for b in backups] == ["epoch-0004", "epoch-0003"], "the two newest are kept"
    weights = backups[0] / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated, as by a failing disk
    with caplog.at_level(logging.WARNING, logger="keras_recipes"):
        _, started, _ = _fit(tmp_path)
    assert started[0] == 3
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "epoch-0004 is unreadable" in warning and "resuming from the one before, epoch-0003" in warning


def test_a_kill_while_writing_a_backup_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    _fit(tmp_path, Interrupt(at_epoch=2))

    def killed_mid_write(self, path, *args, **kwargs):
        open(path, "wb").write(b"\x89HDF")  # a few bytes, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save_weights", killed_mid_write)
    _fit(tmp_path)
    monkeypatch.undo()
    assert [b.name for b in RunBackup(tmp_path / "backup").backups()] == ["epoch-0002", "epoch-0001"]
    leftover = tmp_path / "backup" / ".incomplete-sigkill"  # what a SIGKILL mid-write leaves, with no finally run
    leftover.mkdir()
    (leftover / "model.weights.h5").write_bytes(b"\x89HDF")
    _, started, _ = _fit(tmp_path)
    assert started[0] == 2
    assert not leftover.exists(), "the unfinished write is cleared"


def test_discard_removes_the_backup(tmp_path):
    _fit(tmp_path, Interrupt(at_epoch=2))
    backup = RunBackup(tmp_path / "backup")
    backup.discard()
    assert not (tmp_path / "backup").exists()
    _, started, _ = _fit(tmp_path)
    assert started[0] == 0


@pytest.mark.parametrize("kind", [keras.callbacks.ModelCheckpoint, keras.callbacks.ReduceLROnPlateau])
def test_the_best_value_of_checkpoints_and_plateau_schedules_survives_a_resume(tmp_path, kind):
    def make():
        if kind is keras.callbacks.ModelCheckpoint:
            return kind(tmp_path / "best.keras", monitor="score", mode="min", save_best_only=True)
        return kind(monitor="score", mode="min", patience=10)

    first = make()
    _fit(tmp_path, first, Interrupt(at_epoch=5))
    second = make()
    _fit(tmp_path, second, Interrupt(at_epoch=6))
    assert first.best == second.best == 3.0
