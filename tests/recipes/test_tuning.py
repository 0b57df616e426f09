"""keras-tuner searches over the registered builders: spaces, every tuner type, failures, resume
after SIGKILL, the distributed chief and workers, and the retrained, exported winner."""

import inspect
import json
import os
import signal
import subprocess
import sys
import time

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

import architectures
import recipes
from architectures.registry import search_spaces
from recipes.cli import main
from recipes.tuning import RecipeHyperModel, TuningError, launch_distributed, tune

SLICE = {"train_limit": 800, "test_limit": 200}
# Pins everything the mlp space and the training space search except what a test varies.
MLP_PINNED = {"hidden_layers": 1, "units": 64, "activation": "relu", "batch_norm": False, "dropout": 0.0,
              "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "weight_decay": 0.0,
              "augmentation_strength": 0.0}


def _pinned(*free):
    return {k: v for k, v in MLP_PINNED.items() if k not in free}


def _trials_on_disk(project_dir):
    return [json.loads(p.read_text()) for p in sorted(project_dir.glob("trial_*/trial.json"))]


def _worker_records(project_dir):
    return {path.stem: [json.loads(line) for line in path.read_text().splitlines()]
            for path in (project_dir / "workers").glob("*.jsonl")}


# --- search spaces ------------------------------------------------------------------------------

def _small_build(name, kwargs):
    kind, outputs = architectures.entry(name).inputs, architectures.entry(name).outputs
    classes = {"num_classes": 4} if outputs in ("classes", "class_map") else {}
    if kind in ("image", "latent"):
        size = max(32, architectures.min_input_size(name, **kwargs))
        return architectures.build(name, input_shape=(size, size, 3), **classes, **kwargs)
    if kind == "vector":
        return architectures.build(name, input_shape=(1,), **kwargs)
    shape = {"features": (12, 2), "tokens": (None,), "token_pairs": (None,)}[kind]
    extra = {"text_classifier": {"vocabulary_size": 50}, "seq2seq": {"source_vocabulary_size": 12}}.get(name, {})
    return architectures.build(name, input_shape=shape, num_classes=12, **extra, **kwargs)


def test_every_architecture_has_a_search_space_of_its_builders_arguments():
    for name in architectures.names():
        hp = keras_tuner.HyperParameters()
        kwargs = architectures.search_space(name)(hp)
        assert kwargs and hp.space, name
        parameters = inspect.signature(architectures.get(name).__wrapped__
                                       if hasattr(architectures.get(name), "__wrapped__")
                                       else architectures.get(name)).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        assert takes_any or set(kwargs) <= set(parameters), (name, set(kwargs) - set(parameters))


@pytest.mark.parametrize("space_name", sorted(search_spaces()))
def test_random_draws_from_each_space_build(space_name):
    """Each declared space, at one architecture that uses it, builds for random draws."""
    name = space_name if space_name in architectures.names() else next(
        n for n in architectures.names() if architectures.entry(n).family == space_name
        and architectures.search_space(n) is search_spaces()[space_name])
    hp = keras_tuner.HyperParameters()
    architectures.search_space(name)(hp)
    for seed in (1, 2):
        hp.values = {h.name: h.random_sample(seed) for h in hp.space}
        model = _small_build(name, architectures.search_space(name)(hp))
        assert isinstance(model, keras.Model) and model.count_params() > 0
        keras.backend.clear_session()


@pytest.mark.e2e
def test_searched_values_reach_the_builder(fashion_mnist_dir):
    recipe = recipes.with_overrides(recipes.get("fashion_mnist_cnn"), SLICE)
    hypermodel = RecipeHyperModel(recipe)
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    hp.values.update({"filters1": 16, "filters2": 64, "kernel_size": 5, "dense_units": 64, "dropout": 0.35,
                      "batch_size": 32, "augmentation_strength": 0.5})
    backbone = hypermodel.build(hp).get_layer("mnist_cnn")
    assert backbone.get_layer("conv1_conv").get_config()["filters"] == 16
    assert backbone.get_layer("conv2_conv").get_config()["filters"] == 64
    assert backbone.get_layer("conv2_conv").get_config()["kernel_size"] == (5, 5)
    assert backbone.get_layer("fc_dense").get_config()["units"] == 64
    assert backbone.get_layer("pool_dropout").get_config()["rate"] == pytest.approx(0.35)
    trial = hypermodel.trial_recipe(hp)
    assert trial.batch_size == 32 and trial.augmentation == {"translate": 0.05, "zoom": 0.05}


# --- searches -------------------------------------------------------------------------------------

class StepsPerEpoch(keras.callbacks.Callback):
    """Writes each trial's steps per epoch to a file (trials get deep copies of callbacks)."""

    def __init__(self, path):
        super().__init__()
        self.path = str(path)

    def on_train_begin(self, logs=None):
        with open(self.path, "a") as stream:
            stream.write(f"{self.params['steps']}\n")


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["hyperband", "random", "bayesian", "grid"])
def test_each_tuner_completes_a_tiny_search_on_real_data(kind, fashion_mnist_dir, tmp_path):
    steps_file = tmp_path / "steps.txt"
    found = tune("fashion_mnist_mlp", tuner=kind, max_trials=3, max_epochs=2, directory=tmp_path,
                 fixed=_pinned("units", "batch_size"), retrain=False, extra_callbacks=[StepsPerEpoch(steps_file)],
                 **SLICE)
    completed = [t for t in found.trials if t.status == "COMPLETED"]
    # Hyperband's bracket at max_epochs=2 may hold fewer trials than the cap.
    assert len(completed) == len(found.trials) == 3 or (kind == "hyperband" and len(completed) >= 2)
    assert len({t.trial_id for t in completed}) == len(completed)
    assert found.best_hyperparameters == found.ranked()[0].hyperparameters
    assert found.ranked()[0].score == max(t.score for t in completed)
    assert 0.3 < found.ranked()[0].score <= 1.0
    assert "rank" in found.table() and found.ranked()[0].trial_id in found.table()
    # Trials differ in batch size or units; where the batch size differs, so does the step count.
    train_examples = round(SLICE["train_limit"] * 0.9)
    batch_sizes = [t.hyperparameters["batch_size"] for t in completed]
    steps = {int(s) for s in steps_file.read_text().split()}
    assert steps >= {-(-train_examples // b) for b in batch_sizes}
    assert len({tuple(sorted(t.hyperparameters.items())) for t in completed}) == len(completed)


@pytest.mark.e2e
def test_batch_size_really_changes_between_trials(fashion_mnist_dir, tmp_path):
    steps_file = tmp_path / "steps.txt"
    found = tune("fashion_mnist_mlp", tuner="grid", max_trials=4, max_epochs=1, directory=tmp_path,
                 fixed=_pinned("batch_size"), retrain=False, extra_callbacks=[StepsPerEpoch(steps_file)], **SLICE)
    batch_sizes = sorted(t.hyperparameters["batch_size"] for t in found.trials)
    assert batch_sizes == [32, 64, 128, 256]
    steps = sorted(int(s) for s in steps_file.read_text().split())
    assert steps == sorted(-(-720 // b) for b in batch_sizes) == [3, 6, 12, 23]


@pytest.mark.e2e
def test_failed_trials_are_recorded_and_the_search_goes_on(fashion_mnist_dir, tmp_path):
    found = tune("fashion_mnist_mlp", tuner="random", max_trials=4, max_epochs=1, directory=tmp_path,
                 fixed=_pinned("units"), max_model_size=150_000, retrain=False, **SLICE)
    by_units = {t.hyperparameters["units"]: t for t in found.trials}
    assert sorted(by_units) == [64, 128, 256, 512]
    assert by_units[64].status == by_units[128].status == "COMPLETED"
    for units in (256, 512):
        assert by_units[units].status == "FAILED"
        assert by_units[units].reason.startswith("Oversized model")
    table = found.table()
    assert table.count("failed") == 2 and "Oversized model" in table
    assert [t.status for t in found.ranked()][-2:] == ["FAILED", "FAILED"]


@pytest.mark.e2e
def test_a_diverging_trial_fails_with_its_reason(fashion_mnist_dir, tmp_path):
    pins = {**_pinned(), "optimizer": "sgd+momentum", "learning_rate": 1e30}
    with pytest.raises(TuningError, match=r"no trial of fashion_mnist_mlp completed \(trial 0: diverged: "
                                          r"the training loss became (nan|inf)"):
        tune("fashion_mnist_mlp", tuner="random", max_trials=1, max_epochs=2, directory=tmp_path, fixed=pins, **SLICE)
    (trial,) = _trials_on_disk(tmp_path / "fashion_mnist_mlp")
    assert trial["status"] == "FAILED" and "diverged" in trial["message"]


@pytest.mark.e2e
def test_a_too_small_input_fails_the_trial_with_the_builders_message(fashion_mnist_dir, tmp_path):
    with pytest.raises(TuningError, match="could not build the model: vit needs inputs of at least 30x30"):
        tune("fashion_mnist_vit", tuner="random", max_trials=1, max_epochs=1, directory=tmp_path,
             fixed={"patch_size": 30}, **SLICE)


@pytest.mark.e2e
def test_continuing_with_other_settings_is_refused(fashion_mnist_dir, tmp_path):
    tune("fashion_mnist_mlp", tuner="random", max_trials=1, max_epochs=1, directory=tmp_path, fixed=_pinned(),
         retrain=False, **SLICE)
    with pytest.raises(TuningError, match="holds a search with other settings.*overwrite=True"):
        tune("fashion_mnist_mlp", tuner="random", max_trials=1, max_epochs=1, directory=tmp_path,
             fixed=_pinned("units"), retrain=False, **SLICE)
    again = tune("fashion_mnist_mlp", tuner="random", max_trials=2, max_epochs=1, directory=tmp_path,
                 fixed=_pinned("units"), retrain=False, overwrite=True, **SLICE)
    assert len(again.trials) == 2


@pytest.mark.e2e
def test_best_model_is_retrained_exported_and_reloads(fashion_mnist_dir, tmp_path):
    found = tune("fashion_mnist_mlp", tuner="random", max_trials=2, max_epochs=2, directory=tmp_path / "tuning",
                 fixed=_pinned("units"), export_dir=tmp_path / "saved_models", **SLICE)
    assert found.export_path == tmp_path / "saved_models" / "fashion_mnist_mlp_tuned" / "1"
    assert 0.3 < found.test_metrics["accuracy"] <= 1.0
    metadata = json.loads((found.export_path / "metadata.json").read_text())
    tuning = metadata["tuning"]
    assert tuning["hyperparameters"] == found.best_hyperparameters
    assert tuning["tuner"] == "random" and tuning["trials_completed"] == 2
    assert tuning["retrained_on"] == "train+validation" and metadata["dataset"]["num_validation"] == 0
    assert metadata["dataset"]["num_train"] == SLICE["train_limit"]
    hidden = found.best_model.get_layer("mlp").get_layer("hidden1_dense")
    assert hidden.get_config()["units"] == found.best_hyperparameters["units"]

    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1)).astype("float32")
    serve, _ = recipes.load_exported(found.export_path)
    served = serve(pixels=tf.constant(images))["probabilities"].numpy()
    np.testing.assert_allclose(served, found.best_model.predict(images, verbose=0), atol=1e-5)


@pytest.mark.e2e
def test_text_recipes_tune_and_retrain_on_train_plus_validation(text_data_dir, tmp_path):
    found = tune("mr_sentiment_conv1d", tuner="random", max_trials=1, max_epochs=1, directory=tmp_path / "tuning",
                 fixed={"batch_size": 64, "embedding_dim": 64}, export_dir=tmp_path / "saved_models",
                 data_dir=text_data_dir, test_limit=100)
    (trial,) = found.trials
    assert trial.status == "COMPLETED" and trial.hyperparameters["embedding_dim"] == 64
    metadata = json.loads((found.export_path / "metadata.json").read_text())
    assert metadata["tuning"]["retrained_on"] == "train+validation"
    assert metadata["dataset"]["num_validation"] == 0 and metadata["dataset"]["num_train"] == 720
    serve, _ = recipes.load_exported(found.export_path)
    probability = serve(text=tf.constant(["a gripping , beautifully acted film"]))["positive_probability"]
    assert 0.0 <= float(probability[0]) <= 1.0


@pytest.mark.e2e
def test_cli_tune_prints_a_ranked_table_and_the_export(fashion_mnist_dir, tmp_path, capsys):
    args = ["tune", "fashion_mnist_mlp", "--tuner", "random", "--max-trials", "2", "--max-epochs", "1",
            "--directory", str(tmp_path / "tuning"), "--export-dir", str(tmp_path / "saved_models"),
            "--set", "train_limit=600", "--set", "test_limit=100"]
    for name, value in _pinned("learning_rate").items():
        args += ["--fix", f"{name}={value}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "fashion_mnist_mlp: 2 trials (0 failed), ranked by val_accuracy" in out
    assert "rank  trial  status" in out and "learning_rate=" in out
    assert f"exported: {tmp_path / 'saved_models' / 'fashion_mnist_mlp_tuned' / '1'}" in out


def test_cli_tune_usage_errors_are_one_line(capsys):
    assert main(["tune", "fashion_mnist_mlp", "--max-epochs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "keras-recipes: error: max_epochs must be at least 1, got 0"


# --- resume and distribution (separate processes) -------------------------------------------------

def _tuning_process(arguments, env=None):
    return subprocess.Popen([sys.executable, "-m", "recipes.tuning", json.dumps(arguments)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


@pytest.mark.e2e
def test_search_killed_with_sigkill_resumes_without_repeating_trials(fashion_mnist_dir, tmp_path):
    arguments = {"recipe_name": "fashion_mnist_mlp", "tuner": "random", "max_trials": 4, "max_epochs": 3,
                 "directory": str(tmp_path), "fixed": _pinned("units", "learning_rate"), "retrain": False,
                 "train_limit": 4000, "test_limit": 200}
    project = tmp_path / "fashion_mnist_mlp"
    first = _tuning_process(arguments)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and first.poll() is None:
        records = _worker_records(project).get("tuner0", []) if (project / "workers").exists() else []
        if records:
            first.send_signal(signal.SIGKILL)
            break
        time.sleep(0.1)
    output = first.communicate(timeout=60)[0]
    assert first.returncode == -signal.SIGKILL, output
    done_before = [r["trial_id"] for r in _worker_records(project)["tuner0"]]
    assert 1 <= len(done_before) < 4

    second = _tuning_process(arguments)
    output = second.communicate(timeout=300)[0]
    assert second.returncode == 0, output
    trials = _trials_on_disk(project)
    assert len(trials) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    completed_ids = [r["trial_id"] for r in _worker_records(project)["tuner0"] if r["status"] == "COMPLETED"]
    assert sorted(completed_ids) == sorted({t["trial_id"] for t in trials})  # each ran to completion once
    assert not set(done_before) & set(completed_ids[len(done_before):])


@pytest.mark.e2e
def test_trials_per_process_continues_one_search_in_fresh_processes(fashion_mnist_dir, tmp_path):
    found = tune("fashion_mnist_mlp", tuner="random", max_trials=3, max_epochs=1, directory=tmp_path,
                 fixed=_pinned("units"), trials_per_process=2, export_dir=tmp_path / "saved_models", **SLICE)
    assert len(found.trials) == 3 and all(t.status == "COMPLETED" for t in found.trials)
    records = _worker_records(tmp_path / "fashion_mnist_mlp")["tuner0"]
    processes = [r["pid"] for r in records]
    assert len(set(processes)) == 2 and processes[0] == processes[1] != processes[2] != os.getpid()
    assert found.export_path.exists()


@pytest.mark.e2e
def test_chief_and_two_workers_share_one_search(fashion_mnist_dir, tmp_path):
    status = launch_distributed("fashion_mnist_mlp", workers=2, timeout=420, tuner="random", max_trials=6,
                                max_epochs=2, directory=str(tmp_path), fixed=_pinned("units", "learning_rate"),
                                retrain=False, train_limit=3000, test_limit=200)
    assert status == 0
    project = tmp_path / "fashion_mnist_mlp"
    records = _worker_records(project)
    assert set(records) == {"worker1", "worker2"}
    assert all(any(r["status"] == "COMPLETED" for r in rows) for rows in records.values())
    ran = sorted(r["trial_id"] for rows in records.values() for r in rows)
    oracle = json.loads((project / "oracle.json").read_text())
    trials = _trials_on_disk(project)
    assert ran == sorted(t["trial_id"] for t in trials) and len(trials) == 6
    assert all(t["status"] == "COMPLETED" for t in trials)
    assert sorted(oracle["end_order"]) == ran


class TrainsUnder(keras.callbacks.Callback):
    """Records the strategy each trial's model trains under."""

    seen: list = []

    def on_train_begin(self, logs=None):
        TrainsUnder.seen.append(self.model.distribute_strategy)


def test_trials_train_under_the_given_distribution_strategy(fashion_mnist_dir, tmp_path):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    TrainsUnder.seen = []
    found = tune("fashion_mnist_mlp", tuner="random", max_trials=2, max_epochs=1, directory=tmp_path, retrain=False,
                 fixed=_pinned("units"), distribute=strategy, extra_callbacks=[TrainsUnder()], **SLICE)
    assert len(found.trials) == 2 and all(t.status == "COMPLETED" for t in found.trials)
    assert len(TrainsUnder.seen) == 2 and all(seen is strategy for seen in TrainsUnder.seen)


def test_keras_tuner_state_files_are_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """A process killed while keras-tuner saves its state leaves the previous file, never a torn one."""
    from recipes.tuning import tuners

    assert keras_tuner.src.utils.save_json is tuners.save_json_atomically
    path = tmp_path / "oracle.json"
    keras_tuner.src.utils.save_json(str(path), {"trials": [1]})
    assert keras_tuner.src.utils.load_json(str(path)) == {"trials": [1]}

    def killed(descriptor):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        keras_tuner.src.utils.save_json(str(path), {"trials": [1, 2]})
    assert keras_tuner.src.utils.load_json(str(path)) == {"trials": [1]}
