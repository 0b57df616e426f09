"""A run killed with SIGKILL after its first epoch resumes at epoch 2 when started again."""

import csv
import os
import re
import signal
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e  # a real training process, killed and started again

COMMAND = [sys.executable, "-m", "recipes.cli", "run", "fashion_mnist_mlp", "--epochs", "4",
           "--set", "train_limit=12000", "--set", "test_limit=500", "--no-export"]


def _start(work_dir):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([*COMMAND, "--work-dir", str(work_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def test_killed_run_resumes_from_its_last_epoch(fashion_mnist_dir, tmp_path):
    first = _start(tmp_path)
    seen = []
    for line in first.stdout:
        seen.append(line)
        if line.startswith("Epoch 2/4"):
            first.send_signal(signal.SIGKILL)
            break
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL, "".join(seen)

    (log_path,) = tmp_path.glob("fashion_mnist_mlp/*/training_log.csv")
    completed = len(list(csv.DictReader(log_path.open())))
    assert completed >= 1

    second = subprocess.run([*COMMAND, "--work-dir", str(tmp_path)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    epochs_started = [int(n) for n in re.findall(r"^Epoch (\d+)/4", second.stdout, re.MULTILINE)]
    assert epochs_started[0] == completed + 1 >= 2, second.stdout
    assert epochs_started[-1] == 4
    rows = list(csv.DictReader(log_path.open()))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2, 3]
    assert not (log_path.parent / "backup").exists(), "the backup is removed once the run has finished"
