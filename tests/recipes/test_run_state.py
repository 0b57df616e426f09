"""A run keeps its state until it has finished, export included: a run stopped after training
goes on from where it stopped and never retrains, the folders it writes are checked before any
training, and an export that fails keeps the trained model and names the command that retries."""

import errno
import json

import pytest

import recipes
from recipes.saved_models import _staging, tf_saved_model

from harness import EpochsStarted

SMALL = {"epochs": 3, "batch_size": 64}


def _run(tmp_path, **options):
    started = EpochsStarted()
    folders = {"work_dir": tmp_path / "runs", "export_dir": tmp_path / "models"}
    result = recipes.run("digits_mlp", extra_callbacks=[started], verbose=0, **{**folders, **SMALL, **options})
    return result, started.started


def test_a_run_whose_export_failed_exports_when_run_again_without_training(tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tf_saved_model, "publish_new_version", disk_full)
    with pytest.raises(recipes.ExportFailedError) as failed:
        _run(tmp_path)
    message = str(failed.value)
    (run_dir,) = (tmp_path / "runs" / "digits_mlp").iterdir()
    assert "No space left on device" in message and f"keras-recipes export {run_dir}" in message
    assert "\n" not in message
    assert (run_dir / "backup" / "run.json").exists(), "the trained state is kept"
    monkeypatch.undo()

    result = recipes.finish(run_dir)  # what `keras-recipes export RUN_DIR` calls
    assert result.export_path == tmp_path / "models" / "digits_mlp" / "1"
    assert result.timings["epochs_run"] == 3 and result.test_metrics["accuracy"] > 0.5
    assert not (run_dir / "backup").exists(), "a finished run keeps no state"
    assert json.loads((run_dir / "result.json").read_text())["export_path"] == str(result.export_path)


def test_a_run_killed_during_evaluation_goes_on_without_retraining(tmp_path, monkeypatch):
    from recipes.tasks import classification

    evaluate = classification.Classification.evaluate

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a SIGKILL would stop it, minus the cleanup a SIGKILL skips anyway

    monkeypatch.setattr(classification.Classification, "evaluate", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path)
    monkeypatch.setattr(classification.Classification, "evaluate", evaluate)
    result, started = _run(tmp_path)
    assert started == [], "training had finished: no epoch is trained again"
    assert result.timings["epochs_run"] == 3 and len(result.history["loss"]) == 3
    assert result.export_path.name == "1"


def test_a_run_killed_after_its_export_does_not_publish_a_second_version(tmp_path, monkeypatch):
    from recipes.catalog import _runner

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_runner, "_write_atomically", lambda path, text: killed() if path.name == "result.json"
                        else _write(path, text))
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path)
    monkeypatch.undo()
    result, started = _run(tmp_path)
    assert started == [] and result.export_path.name == "1"
    assert _staging.versions(tmp_path / "models" / "digits_mlp") == [1]


def _write(path, text):
    path.write_text(text)


def test_a_finished_run_trains_again_when_asked_again(tmp_path):
    _run(tmp_path, epochs=1)
    result, started = _run(tmp_path, epochs=1)
    assert started == [0] and result.export_path.name == "2"


@pytest.mark.parametrize("folder", ["work_dir", "export_dir"])
def test_a_folder_that_cannot_be_written_stops_the_run_before_training(tmp_path, folder):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(recipes.ConfigError) as refused:
        _run(tmp_path, **{folder: blocker / "below"})
    flag = "--work-dir" if folder == "work_dir" else "--export-dir"
    assert str(blocker / "below") in str(refused.value) and flag in str(refused.value)


def test_a_disk_without_room_for_the_model_stops_the_run_before_training(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(recipes.ConfigError, match="MiB free, and this run needs about"):
        _run(tmp_path)


def test_stale_export_staging_folders_are_removed_and_live_ones_kept(tmp_path):
    import os
    import time

    def staging(name, owner, age):
        folder = tmp_path / f"{_staging.STAGING_PREFIX}{name}"
        (folder / "model").mkdir(parents=True)
        if owner is not None:
            (folder / _staging.OWNER_FILE).write_text(owner)
        os.utime(folder, (time.time() - age, time.time() - age))
        return folder

    import socket

    host = socket.gethostname()
    dead = staging("dead", f"{host} 999999999", age=3600)
    orphan = staging("orphan", None, age=3600)
    live = staging("live", f"{host} {os.getpid()}", age=3600)
    fresh = staging("fresh", f"{host} 999999999", age=5)
    removed = _staging.remove_stale_staging(tmp_path)
    assert sorted(removed) == sorted([dead, orphan])
    assert live.exists() and fresh.exists()


def test_deterministic_reaches_compile_and_fit_from_the_command_line(tmp_path, monkeypatch):
    from recipes.catalog import _runner
    from recipes.cli import main

    seen = []

    def recording(*args, deterministic, **kwargs):
        seen.append(deterministic)  # determinism is process-wide: the switch itself is tested in a process of its own
        return compile_and_fit(*args, deterministic=False, **kwargs)

    compile_and_fit = _runner.compile_and_fit
    monkeypatch.setattr(_runner, "compile_and_fit", recording)
    assert main(["run", "digits_mlp", "--epochs", "1", "--deterministic", "--no-export",
                 "--work-dir", str(tmp_path)]) == 0
    assert seen == [True]
