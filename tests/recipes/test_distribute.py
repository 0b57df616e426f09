"""tf.distribute: MultiWorkerMirroredStrategy across two local worker processes (the same result
as one process, one export, resume after a killed worker), MirroredStrategy over two logical CPU
devices, and the pieces (TF_CONFIG roles, the scaling rule, the launcher's flags)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from recipes.cli import without_workers_flag
from recipes.errors import ConfigError
from recipes.training import distribute

ROOT = Path(__file__).resolve().parents[2]
# digits_mlp without dropout: the workers then compute exactly the gradients one process would
SMALL = ["digits_mlp", "--set", "architecture_kwargs.dropout=0.0", "--set", "callbacks.tensorboard=None"]
# two workers at digits_mlp's 32 per replica train with a global batch of 64 at twice its learning rate
ONE_PROCESS_EQUIVALENT = ["--batch-size", "64", "--set", "learning_rate=0.006"]


def keras_recipes(*arguments, folder: Path, timeout=300, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [sys.executable, "-m", "recipes.cli", "run", *arguments, "--work-dir", str(folder / "runs"),
               "--export-dir", str(folder / "models")]
    environment = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    if popen:
        return subprocess.Popen(command, cwd=ROOT, env=environment, text=True, **popen)
    return subprocess.run(command, cwd=ROOT, env=environment, text=True, capture_output=True, timeout=timeout)


def finished_run(folder: Path) -> dict:
    (result,) = (folder / "runs" / "digits_mlp").glob("*/result.json")
    return json.loads(result.read_text())


def versions(folder: Path) -> list[str]:
    return sorted(path.name for path in (folder / "models" / "digits_mlp").iterdir())


@pytest.mark.slow
@pytest.mark.e2e
def test_two_workers_train_to_the_result_of_one_process_and_only_the_chief_exports(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    single = keras_recipes(*SMALL, "--epochs", "8", *ONE_PROCESS_EQUIVALENT, folder=one)
    assert single.returncode == 0, single.stderr[-3000:]
    launched = keras_recipes(*SMALL, "--epochs", "8", "--workers", "2", folder=two)
    assert launched.returncode == 0, launched.stderr[-3000:]

    alone, together = finished_run(one), finished_run(two)
    assert together["distribution"] == {"strategy": "MultiWorkerMirroredStrategy", "replicas_in_sync": 2,
                                        "workers": 2}
    assert together["recipe"]["batch_size"] == 64 and together["recipe"]["learning_rate"] == pytest.approx(0.006)
    # Adam turns the workers' differently ordered float sums into slightly different steps; after
    # 8 epochs the two runs agree to within 3 points of test accuracy (360 digits: 11 of them).
    assert abs(alone["test_metrics"]["accuracy"] - together["test_metrics"]["accuracy"]) <= 0.03
    assert together["test_metrics"]["accuracy"] > 0.85
    assert versions(two) == ["1"]
    assert "worker1 finished; the chief writes the run folder" in \
        (two / "runs" / "digits_mlp" / "workers" / "worker1.log").read_text()


@pytest.mark.slow
@pytest.mark.e2e
def test_a_killed_worker_stops_the_run_and_the_same_command_resumes_it(tmp_path):
    arguments = (*SMALL, "--epochs", "12", "--set", "callbacks.early_stopping=None", "--workers", "2")
    launcher = keras_recipes(*arguments, folder=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not list((tmp_path / "runs" / "digits_mlp").glob("*/backup/epoch-0002")):
            assert launcher.poll() is None, launcher.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no backup of epoch 2 appeared"
            time.sleep(0.05)
        workers = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) == 2
        non_chief = max(workers, key=int)  # started second
        os.kill(int(non_chief), signal.SIGKILL)
        _, stderr = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode != 0
    assert "worker 1 exited with status -9" in stderr and "Run the same command again to resume" in stderr
    assert not (tmp_path / "models" / "digits_mlp").exists()

    resumed = keras_recipes(*arguments, folder=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from the backup of epoch" in resumed.stderr
    run = finished_run(tmp_path)
    assert run["timings"]["epochs_run"] == 12
    assert run["test_metrics"]["accuracy"] > 0.85
    assert versions(tmp_path) == ["1"]


MIRRORED_SCRIPT = textwrap.dedent("""
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import recipes
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = (x / 16).astype("float32"), y.astype("int32")

    def model():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                 keras.layers.Dense(10, activation="softmax")])

    measured = {}
    batches = tf.data.Dataset.from_tensor_slices((x[:1200], y[:1200])).batch(64)  # your batches: kept as they are
    for name, strategy in (("mirrored", "mirrored"), ("one", None)):
        result = recipes.compile_and_fit(model(), batches, strategy=strategy, optimizer="sgd", learning_rate=0.1,
                                         validation_split=0.0, epochs=3, callbacks={}, seed=0, verbose=0)
        measured[name] = {"replicas": result.model.distribute_strategy.num_replicas_in_sync,
                          "loss": result.history["loss"], "weights": [w.tolist() for w in result.model.get_weights()]}
    # arrays: this call batches them, 32 per replica, so the global batch is 64 and the learning rate doubles
    scaled = recipes.compile_and_fit(model(), (x[:1200], y[:1200]), strategy="mirrored", batch_size=32,
                                     optimizer="sgd", learning_rate=0.05, validation_split=0.0, epochs=1,
                                     callbacks={}, seed=0, verbose=0)
    measured["scaled"] = {"steps": int(scaled.model.optimizer.iterations.numpy()),
                          "learning_rate": float(scaled.model.optimizer.learning_rate.numpy())}
    print("RESULT " + json.dumps(measured))
""")


@pytest.mark.slow
@pytest.mark.e2e
def test_mirrored_strategy_over_two_logical_cpus_takes_the_steps_of_one_device():
    done = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=240, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    import numpy as np

    assert measured["mirrored"]["replicas"] == 2 and measured["one"]["replicas"] == 1
    # each global batch of 64 split 32 + 32 over the two devices: the same SGD steps as one device,
    # up to the order of float sums
    np.testing.assert_allclose(measured["mirrored"]["loss"], measured["one"]["loss"], rtol=1e-5)
    for mirrored, one in zip(measured["mirrored"]["weights"], measured["one"]["weights"]):
        np.testing.assert_allclose(mirrored, one, atol=1e-5)
    assert measured["mirrored"]["loss"][-1] < measured["mirrored"]["loss"][0]
    assert measured["scaled"] == {"steps": 19, "learning_rate": pytest.approx(0.1)}  # ceil(1200 / 64) steps


def test_tf_config_roles(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.worker_role().is_chief and distribute.worker_role().num_workers == 1
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    role = distribute.worker_role()
    assert not role.is_chief and role.num_workers == 2 and role.label == "worker1"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {**cluster, "chief": ["127.0.0.1:3"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert not distribute.worker_role().is_chief and distribute.worker_role().num_workers == 3
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 5}}))
    with pytest.raises(ConfigError, match="task worker:5 is not in its cluster"):
        distribute.worker_role()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG is not a valid cluster description"):
        distribute.worker_role()


def test_the_scaling_rule_and_unknown_strategies():
    assert distribute.scaled_for_replicas(128, 1e-3, 4) == (512, 4e-3)
    assert distribute.scaled_for_replicas(128, 1e-3, 1) == (128, 1e-3)
    with pytest.raises(ConfigError, match="unknown distribution strategy 'horovod'; choose one of mirrored, multi_worker"):
        distribute.make_strategy("horovod")
    assert distribute.make_strategy(None) is None


def test_each_launched_worker_runs_the_command_without_the_workers_flag():
    assert without_workers_flag(["run", "digits_mlp", "--workers", "2", "--epochs", "3"]) == \
        ["run", "digits_mlp", "--epochs", "3"]
    assert without_workers_flag(["run", "x", "--workers=4"]) == ["run", "x"]


def test_workers_does_not_combine_with_mirrored(tmp_path, capsys):
    from recipes.cli import main

    assert main(["run", "digits_mlp", "--workers", "2", "--distribute", "mirrored",
                 "--work-dir", str(tmp_path)]) == 2
    assert "--workers starts multi_worker processes" in capsys.readouterr().err
