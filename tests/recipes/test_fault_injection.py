"""Fault injection: one run of a small recipe is killed with SIGKILL 10 times, at seeded random
moments in training, evaluation and export, and started again after each kill. Over all kills no
completed epoch is lost, none is trained twice, and no half-written version is ever visible."""

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # real processes, killed and started again

EPOCHS = 30
# Kills during training come first: once training has ended, a rerun trains no epoch.
PLAN = ["fit"] * 4 + random.Random(17).sample(["evaluate"] * 3 + ["export"] * 3, 6)
# The line each phase begins with, and how long after it the kill may fall (seconds).
PHASES = {"fit": (re.compile(r"^Epoch \d+/"), 1.0), "evaluate": (re.compile(r"evaluating on the test split"), 0.05),
          "export": (re.compile(r"exporting to "), 0.25)}
EPOCH_LINE = re.compile(r"^Epoch (\d+)/")
PROCESS_TIMEOUT = 240


def _command(tmp_path: Path) -> list[str]:
    return [sys.executable, "-m", "recipes.cli", "run", "digits_mlp", "--epochs", str(EPOCHS), "--set",
            "callbacks.early_stopping=None", "--work-dir", str(tmp_path / "runs"),
            "--export-dir", str(tmp_path / "models")]


def _start(tmp_path):
    return subprocess.Popen(_command(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _durable_epochs(tmp_path) -> int:
    """Epochs the run's newest backup holds."""
    names = [p.name for p in tmp_path.glob("runs/digits_mlp/*/backup/epoch-*")]
    return max((int(name.split("-")[1]) for name in names), default=0)


def _check_versions(tmp_path):
    """Every visible version is complete: its graph, its variables and its metadata."""
    for version in (tmp_path / "models" / "digits_mlp").glob("[0-9]*"):
        assert (version / "saved_model.pb").stat().st_size > 0, version
        assert list((version / "variables").glob("variables.data-*")), version
        assert json.loads((version / "metadata.json").read_text())["run_id"], version


def test_ten_kills_lose_no_epoch_retrain_none_and_publish_nothing_half_written(tmp_path):
    rng = random.Random(0)
    started_at = time.monotonic()
    kills = []
    for phase in PLAN:
        marker, spread = PHASES[phase]
        process, lines = _start(tmp_path), []
        timer = threading.Timer(PROCESS_TIMEOUT, process.kill)
        timer.start()
        for line in process.stdout:
            lines.append(line)
            if marker.search(line):
                time.sleep(rng.uniform(0, spread))
                process.send_signal(signal.SIGKILL)
                break
        process.wait()
        timer.cancel()
        output = "".join(lines)
        assert process.returncode == -signal.SIGKILL, f"the {phase} kill did not land:\n{output}"
        epochs_begun = [int(m.group(1)) for m in map(EPOCH_LINE.match, lines) if m]
        kills.append({"phase": phase, "epochs_begun": epochs_begun, "durable": _durable_epochs(tmp_path)})
        _check_versions(tmp_path)

    final = subprocess.run(_command(tmp_path), capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert final.returncode == 0, final.stdout + final.stderr
    _check_versions(tmp_path)

    lost = retrained = 0
    durable_before = 0
    for kill in kills:
        begun = kill["epochs_begun"]
        if begun:
            retrained += sum(1 for epoch in begun if epoch <= durable_before)  # 1-based: epoch k trains index k-1
            completed = begun[-1] - 1  # epoch k began, so k-1 had ended and been backed up
            lost += max(0, completed - kill["durable"])
        durable_before = kill["durable"]
    assert (lost, retrained) == (0, 0), kills
    assert [kill["durable"] for kill in kills[4:]] == [EPOCHS] * 6, "training had ended before the other kills"

    (run_dir,) = (tmp_path / "runs" / "digits_mlp").iterdir()
    rows = list(csv.DictReader((run_dir / "training_log.csv").open()))
    assert [int(row["epoch"]) for row in rows] == list(range(EPOCHS)), "each epoch trained once, none missing"
    versions = sorted(int(p.name) for p in (tmp_path / "models" / "digits_mlp").glob("[0-9]*"))
    assert versions == [1], "one run publishes one version, however often it was killed"
    assert not (run_dir / "backup").exists()
    assert time.monotonic() - started_at < 15 * 60
