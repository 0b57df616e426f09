"""What a search records and publishes means what it says: a weight decay of 0 is no decay (AdamW
included, and the applied value is kept per trial), the winner is exported under a name of its
own instead of replacing the recipe's served model, and the search's seed decides its draws."""

import json

import keras_tuner
import pytest

from recipes.catalog import get
from recipes.cli import main
from recipes.training import make_optimizer
from recipes.tuning import tune
from recipes.tuning.space import training_space

SLICE = {"train_limit": 300, "test_limit": 100}
PINNED = {"hidden_layers": 1, "units": 32, "activation": "relu", "batch_norm": False, "dropout": 0.0,
          "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "weight_decay": 0.0,
          "augmentation_strength": 0.0}


def _pinned(*free, **values):
    return {**{k: v for k, v in PINNED.items() if k not in free}, **values}


def _drawn(project_dir, name):
    trials = [json.loads(p.read_text()) for p in sorted(project_dir.glob("trial_*/trial.json"))]
    return [t["hyperparameters"]["values"][name] for t in trials]


# --- weight decay -----------------------------------------------------------------------------------

@pytest.mark.parametrize("weight_decay", [0, 0.0, None])
def test_no_weight_decay_means_none_for_adamw_too(weight_decay):
    assert make_optimizer("adamw", 1e-3, weight_decay=weight_decay).weight_decay == 0.0
    assert make_optimizer("adam", 1e-3, weight_decay=weight_decay).weight_decay in (None, 0.0)


def test_a_given_weight_decay_is_kept():
    assert make_optimizer("adamw", 1e-3, weight_decay=1e-4).weight_decay == pytest.approx(1e-4)
    assert make_optimizer("sgd", 1e-2, weight_decay=1e-4).weight_decay == pytest.approx(1e-4)


def test_a_drawn_zero_weight_decay_reaches_the_optimizer_as_zero():
    hp = keras_tuner.HyperParameters()
    hp.Fixed("optimizer", "adamw")
    hp.Fixed("weight_decay", 0.0)
    fields = training_space(hp, get("fashion_mnist_mlp"), augment=False)
    assert fields["optimizer"] == "adamw" and fields["weight_decay"] == 0.0
    assert make_optimizer(fields["optimizer"], fields["learning_rate"],
                          weight_decay=fields["weight_decay"]).weight_decay == 0.0


# --- searches -------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_the_winner_is_exported_under_its_own_name_with_the_decay_it_applied(fashion_mnist_dir, tmp_path):
    found = tune("fashion_mnist_mlp", tuner="random", max_trials=1, max_epochs=1, directory=tmp_path / "tuning",
                 fixed=_pinned(optimizer="adamw"), export_dir=tmp_path / "saved_models", seed=3, **SLICE)
    (trial,) = found.trials
    assert trial.hyperparameters["optimizer"] == "adamw" and trial.hyperparameters["weight_decay"] == 0.0
    assert trial.applied_weight_decay == 0.0  # Keras's AdamW would have applied 0.004
    (record,) = [json.loads(line) for line in
                 (tmp_path / "tuning" / "fashion_mnist_mlp" / "workers" / "tuner0.jsonl").read_text().splitlines()]
    assert record["optimizer_class"] == "AdamW" and record["applied_weight_decay"] == 0.0

    # a version of its own name: the served fashion_mnist_mlp (if any) is not replaced
    assert found.export_path == tmp_path / "saved_models" / "fashion_mnist_mlp_tuned" / "1"
    assert not (tmp_path / "saved_models" / "fashion_mnist_mlp").exists()
    tuning = json.loads((found.export_path / "metadata.json").read_text())["tuning"]
    assert tuning["export_name"] == "fashion_mnist_mlp_tuned" and tuning["seed"] == 3
    assert tuning["applied_weight_decay"] == 0.0
    assert found.best_model.optimizer.weight_decay == 0.0


@pytest.mark.e2e
def test_the_seed_decides_the_draws_and_the_cli_takes_seed_and_export_as(fashion_mnist_dir, tmp_path, capsys):
    searches = {}
    for name, seed in (("a", 7), ("b", 8)):
        tune("fashion_mnist_mlp", tuner="random", max_trials=2, max_epochs=1, directory=tmp_path / name,
             fixed=_pinned("learning_rate"), retrain=False, seed=seed, **SLICE)
        searches[name] = _drawn(tmp_path / name / "fashion_mnist_mlp", "learning_rate")
    assert searches["a"] != searches["b"]

    args = ["tune", "fashion_mnist_mlp", "--tuner", "random", "--max-trials", "2", "--max-epochs", "1",
            "--directory", str(tmp_path / "cli"), "--export-dir", str(tmp_path / "saved_models"),
            "--seed", "7", "--export-as", "mlp_candidate"]
    args += [f"--set={key}={value}" for key, value in SLICE.items()]
    for name, value in _pinned("learning_rate").items():
        args += ["--fix", f"{name}={value}"]
    assert main(args) == 0
    assert _drawn(tmp_path / "cli" / "fashion_mnist_mlp", "learning_rate") == searches["a"]  # same seed, same draws
    assert f"exported: {tmp_path / 'saved_models' / 'mlp_candidate' / '1'}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "saved_models").iterdir()) == ["mlp_candidate"]
