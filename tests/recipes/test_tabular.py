"""Tables from CSV files: typed columns, string labels as named classes, preprocessing inside the
exported model, serving by column name, predict on CSV rows, and the errors bad files get."""

import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.cli import main
from recipes.data import tabular
from recipes.errors import ConfigError, InputError
from recipes.serve import Client

from harness import Server

CITIES = ("Lyon", "Oslo", "Porto", "Turku")


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def patients(tmp_path_factory):
    """A seeded table: two numeric columns on very different scales, a string column, and a string
    label that depends on all three."""
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(600):
        age, income, city = rng.uniform(20, 80), rng.uniform(1e4, 1e5), CITIES[rng.integers(4)]
        score = (age - 50) / 15 + (income - 55e3) / 2e4 + (1.5 if city in ("Oslo", "Turku") else -1.5)
        rows.append([f"{age:.1f}", f"{income:.0f}", city, "sick" if score + rng.normal(0, 0.5) > 0 else "well"])
    return _write_csv(tmp_path_factory.mktemp("table") / "patients.csv", ["age", "income (EUR)", "city", "outcome"],
                      rows)


def test_columns_are_typed_and_named_for_the_model(patients):
    table = tabular.read_csv(patients, "outcome")
    assert table.kinds == {"age": "numeric", "income (EUR)": "numeric", "city": "categorical"}
    assert table.columns["age"].dtype == np.float32 and set(table.columns["city"]) == set(CITIES)
    assert tabular.input_name("income (EUR)") == "income_EUR" and tabular.input_name("2nd") == "c_2nd"
    data = recipes.data.load_csv(patients, "outcome", seed=1)
    assert data.info.class_names == ("sick", "well")
    assert (data.info.num_train, data.info.num_validation, data.info.num_test) == (420, 60, 120)
    again = recipes.data.load_csv(patients, "outcome", seed=1)
    np.testing.assert_array_equal(data.arrays["test"][1], again.arrays["test"][1])


@pytest.fixture(scope="module")
def trained(patients, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tabular")
    return recipes.run("tabular_mlp", data=patients, target="outcome", work_dir=folder / "runs",
                       export_dir=folder / "models", verbose=0, epochs=40), folder


@pytest.mark.e2e
def test_tabular_recipe_on_a_csv_learns_exports_and_serves_by_column_name(patients, trained):
    result, folder = trained
    labels = tabular.read_csv(patients, "outcome").target
    majority = max(np.mean(labels == "sick"), np.mean(labels == "well"))
    assert result.test_metrics["accuracy"] > majority + 0.1, (result.test_metrics, majority)
    assert result.export_path == folder / "models" / "tabular_mlp_patients" / "1"
    metadata = json.loads((result.export_path / "metadata.json").read_text())
    assert metadata["class_names"] == ["sick", "well"]
    assert metadata["columns"]["income (EUR)"] == {"input": "income_EUR", "kind": "numeric"}

    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    assert set(serve.structured_input_signature[1]) == {"age", "income_EUR", "city"}
    row = {"age": tf.constant([70.0]), "income_EUR": tf.constant([90000.0]), "city": tf.constant(["Oslo"])}
    served = serve(**row)["probabilities"].numpy()
    assert served[0, 0] > 0.5  # old, rich and in Oslo: sick
    unseen = serve(**{**row, "city": tf.constant(["Atlantis"])})["probabilities"].numpy()
    np.testing.assert_allclose(unseen.sum(), 1.0, rtol=1e-5)  # an unseen category still gets an answer

    with Server(folder / "models") as server:
        answer = Client(server.url).predict("tabular_mlp_patients", [{"age": 70, "income_EUR": 90000, "city": "Oslo"}])
    np.testing.assert_allclose(answer, served, rtol=1e-5)


@pytest.mark.e2e
def test_predict_and_evaluate_read_csv_rows_by_column_name(trained, patients, tmp_path, capsys):
    result, _ = trained
    rows = _write_csv(tmp_path / "new.csv", ["city", "age", "income (EUR)"], [["Oslo", "70", "90000"],
                                                                             ["Lyon", "25", "12000"]])
    assert main(["predict", str(result.export_path), str(rows)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"{rows} row 1: sick ") and lines[1].startswith(f"{rows} row 2: well ")
    assert main(["evaluate", str(result.export_path), "--data", str(patients)]) == 0
    shown = capsys.readouterr().out
    accuracy = float(shown.split("accuracy ")[1].split(",")[0])
    assert "all (600 examples)" in shown and accuracy > 0.8


@pytest.mark.e2e
def test_regression_recipe_on_a_csv_returns_values_in_the_targets_units(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, (400, 2))
    price = 1000 + 300 * x[:, 0] - 120 * x[:, 1] + rng.normal(0, 20, 400)
    path = _write_csv(tmp_path / "houses.csv", ["rooms", "distance", "price"],
                      [[f"{a:.3f}", f"{b:.3f}", f"{p:.2f}"] for (a, b), p in zip(x, price)])
    result = recipes.run("tabular_mlp_regression", data=path, target="price", work_dir=tmp_path / "runs",
                         export_dir=tmp_path / "models", verbose=0, epochs=60)
    spread = np.mean(np.abs(price - price.mean()))
    assert result.test_metrics["mae"] < 0.25 * spread, (result.test_metrics, spread)
    rows = _write_csv(tmp_path / "ask.csv", ["rooms", "distance"], [["5", "5"]])
    assert main(["predict", str(result.export_path), str(rows)]) == 0
    value = float(capsys.readouterr().out.split(": ")[1])
    assert abs(value - (1000 + 300 * 5 - 120 * 5)) < 0.2 * spread


@pytest.mark.parametrize("header, rows, target, message", [
    (["a", "b", "y"], [["1", "2", "x"], ["3", "4"]], "y", r"line 3: 2 values, but the header has 3 columns"),
    (["a", "b", "y"], [["1", "2", "x"]], "label", r"there is no column 'label' to predict; its columns are a, b, y"),
    (["a", "y"], [[str(i), "x"] for i in range(40)] + [["n/a", "x"]], "y",
     r"line 42, column 'a': 'n/a' is not a number.*categorical=\('a',\)"),
    (["a", "y"], [], "y", r"needs a header row and at least one row of values"),
])
def test_bad_csv_files_say_where(header, rows, target, message, tmp_path):
    path = _write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(InputError, match=message):
        tabular.read_csv(path, target)


def test_tabular_recipes_say_what_they_need(patients, tmp_path):
    with pytest.raises(ConfigError, match=r"say which column to predict with target='<column>' \(CLI: --target"):
        recipes.run("tabular_mlp", data=patients, export=False)
    with pytest.raises(ConfigError, match="reads a table from a CSV file"):
        recipes.run("tabular_mlp", data=tmp_path, target="y", export=False)
    with pytest.raises(InputError, match="holds real values, so its rows are not classes.*tabular_mlp_regression"):
        recipes.run("tabular_mlp", data=patients, target="age", export=False)
    with pytest.raises(ConfigError, match=r"a CSV file needs its label column.*load_csv"):
        recipes.data.as_data(str(patients))


def test_the_wide_path_and_a_regression_loss_that_does_not_depend_on_the_targets_units(tmp_path):
    task = recipes.tasks.get("tabular")
    recipe = recipes.get("tabular_mlp_regression")
    data = task.load(recipe)
    wide = task.build(recipe, data)
    assert "wide" in [layer.name for layer in wide.layers], "a linear path beside the MLP, by default"
    deep = task.build(recipes.with_overrides(recipe, {"task_options.wide": False}), data)
    assert "wide" not in [layer.name for layer in deep.layers]

    (weight,) = task.compile_options(recipe, data).values()
    assert weight == pytest.approx(1 / np.var(data.arrays["train"][1]))
    assert task.compile_options(recipes.get("tabular_mlp"), task.load(recipes.get("tabular_mlp"))) == {}
    penalised = recipes.run(recipe, epochs=2, architecture_kwargs={"hidden_units": (32,), "l2": 0.1},
                            work_dir=tmp_path, export=False, verbose=0)
    plain = recipes.run(recipes.with_overrides(recipe, {"task_options.weight_penalty": 0}), epochs=2,
                        architecture_kwargs={"hidden_units": (32,)}, work_dir=tmp_path, export=False, verbose=0)
    # In the target's units (variance ~6000) a penalty of this size would vanish in the loss.
    assert penalised.history["loss"][0] - plain.history["loss"][0] > 0.5


def test_the_weight_penalty_is_spread_over_the_training_rows_on_every_kernel():
    task = recipes.tasks.get("tabular")
    recipe = recipes.get("tabular_mlp")
    data = task.load(recipe)

    def penalties(model):
        found = {}
        for layer in model.layers:
            for inner in getattr(layer, "layers", [layer]):
                if isinstance(inner, keras.layers.Dense):
                    regularizer = inner.kernel_regularizer
                    found[inner.name] = None if regularizer is None else regularizer.get_config()["l2"]
        return found

    spread = penalties(task.build(recipe, data))
    assert set(spread) == {"hidden1_dense", "hidden2_dense", "predictions", "wide"}, spread
    expected = recipe.task_options.weight_penalty / data.info.num_train
    assert all(value == pytest.approx(expected) for value in spread.values()), spread
    assert set(penalties(task.build(recipes.with_overrides(recipe, {"task_options.weight_penalty": 0}),
                                    data)).values()) == {None}
    chosen = penalties(task.build(recipes.with_overrides(recipe, {"architecture_kwargs.l2": 0.5}), data))
    assert all(value == pytest.approx(0.5) for value in chosen.values())
    with pytest.raises(ConfigError, match="weight_penalty must be at least 0"):
        recipes.with_overrides(recipe, {"task_options.weight_penalty": -1})
