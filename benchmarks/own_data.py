"""Recipes on your own data, measured in one run against named baselines:

  tabular  the tabular recipes on CSV files written here (scikit-learn's breast cancer and wine, a
           seeded 12,000-row table with string categories, and diabetes for regression), against
           StandardScaler + LogisticRegression (Ridge for regression) and HistGradientBoosting on
           the same seeded splits: every model trains on the recipe's training rows and is tested
           on its test rows.
  images   fashion_mnist_cnn on a folder of Fashion-MNIST PNG files written here (train/ and test/),
           against the same recipe on the same images as arrays: accuracy, and the folder's cost as
           the ratio of training times plus the one-off decoding.

Writes benchmarks/results/own_data.json and prints the README tables. Not run in CI.

    python benchmarks/own_data.py [--only tabular|images] [--seeds 0 1 2 3 4] [--tables NAME ...] [--output FILE]
"""

import argparse
import csv
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import describe  # noqa: E402

import recipes  # noqa: E402
from recipes.data import tabular  # noqa: E402

RESULTS = HERE / "results" / "own_data.json"
SEED = 0
TABLE_SEEDS = (0, 1, 2, 3, 4)  # each seed is another split of the same table, and another initialisation
IMAGES_TRAIN, IMAGES_TEST, IMAGE_EPOCHS = 10_000, 2_000, 5


# --- tables ------------------------------------------------------------------------------------

def write_csv(path: Path, table: tabular.Table) -> Path:
    names = list(table.columns)
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow([*names, table.target_name])
        for i in range(len(table.target)):
            writer.writerow([*(table.columns[c][i] for c in names), table.target[i]])
    return path


def customers(rows: int = 12_000, seed: int = SEED) -> tabular.Table:
    """A seeded table with string categories whose effect depends on each other (plan x region)
    and on a numeric column, so that a linear model cannot capture all of it."""
    rng = np.random.default_rng(seed)
    regions, plans, devices = ["north", "south", "east", "west", "centre"], ["basic", "plus", "pro"], \
        ["phone", "tablet", "laptop", "tv"]
    region, plan, device = (rng.choice(values, rows) for values in (regions, plans, devices))
    tenure, spend, calls = rng.exponential(24, rows), rng.lognormal(3.5, 0.6, rows), rng.poisson(2, rows)
    interaction = np.where((plan == "pro") == np.isin(region, ["north", "east"]), 1.2, -1.2)
    score = (interaction + 0.8 * (device == "tv") - 0.04 * tenure + 0.5 * np.log(spend) - 0.6 * calls
             + 0.9 * np.sin(tenure / 6) + rng.normal(0, 0.8, rows))
    churned = np.where(score > np.median(score), "left", "stayed")
    columns = {"region": region, "plan": plan, "device": device, "tenure_months": tenure.round(1),
               "monthly_spend": spend.round(2), "support_calls": calls.astype(float)}
    kinds = {name: "categorical" if values.dtype.kind == "U" else "numeric" for name, values in columns.items()}
    return tabular.Table(columns, kinds, churned, "churn", "generated (customers, seed 0)")


def baselines(data, regression: bool) -> dict:
    """Both scikit-learn baselines, trained on the recipe's training rows, tested on its test rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import mean_absolute_error
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    names = [data.input_names[c] for c in data.kinds]
    numeric = [data.input_names[c] for c, kind in data.kinds.items() if kind == "numeric"]
    categorical = [data.input_names[c] for c, kind in data.kinds.items() if kind == "categorical"]

    def frame(split):
        import pandas as pd

        columns, y = data.arrays[split]
        return pd.DataFrame({name: columns[name] for name in names}), y

    (x_train, y_train), (x_test, y_test) = frame("train"), frame("test")
    linear_prep = ColumnTransformer([("numeric", StandardScaler(), numeric),
                                     ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)])
    tree_prep = ColumnTransformer([("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                                    categorical)], remainder="passthrough")
    categories = [True] * len(categorical) + [False] * len(numeric)
    if regression:
        linear = make_pipeline(linear_prep, Ridge(alpha=1.0))
        boosted = make_pipeline(tree_prep, HistGradientBoostingRegressor(categorical_features=categories,
                                                                         random_state=SEED))
        score = lambda model: float(mean_absolute_error(y_test, model.fit(x_train, y_train).predict(x_test)))  # noqa: E731
        return {"ridge_mae": score(linear), "gradient_boosting_mae": score(boosted)}
    linear = make_pipeline(linear_prep, LogisticRegression(max_iter=5000))
    boosted = make_pipeline(tree_prep, HistGradientBoostingClassifier(categorical_features=categories,
                                                                      random_state=SEED))
    score = lambda model: float(np.mean(model.fit(x_train, y_train).predict(x_test) == y_test))  # noqa: E731
    return {"logistic_accuracy": score(linear), "gradient_boosting_accuracy": score(boosted)}


def measure_tables(folder: Path, work_dir, seeds=TABLE_SEEDS, names=None) -> list[dict]:
    sets = [("breast_cancer", tabular.sklearn_table("breast_cancer"), "tabular_mlp"),
            ("wine", tabular.sklearn_table("wine"), "tabular_mlp"),
            ("customers", customers(), "tabular_mlp"),
            ("diabetes", tabular.sklearn_table("diabetes"), "tabular_mlp_regression")]
    rows = []
    for name, table, recipe_name in (entry for entry in sets if names is None or entry[0] in names):
        path = write_csv(folder / f"{name}.csv", table)
        recipe = recipes.get(recipe_name)
        regression = recipe.task_options.regression
        metric = "mae" if regression else "accuracy"
        runs = []
        for seed in seeds:
            seeded = recipes.with_overrides(recipe, {"seed": seed})
            started = time.perf_counter()
            result = recipes.run(seeded, data=path, target=table.target_name, work_dir=work_dir, export=False,
                                 verbose=0)
            seconds = time.perf_counter() - started
            data = recipes.tasks.get("tabular").load_user_data(seeded, recipes.tasks.UserData(path, table.target_name))
            runs.append({"seed": seed, f"recipe_{metric}": result.test_metrics[metric],
                         "epochs_run": result.timings["epochs_run"], "seconds": round(seconds, 1),
                         **baselines(data, regression)})
            print(name, json.dumps(runs[-1]), flush=True)
        keys = [key for key in runs[0] if key.endswith(("_accuracy", "_mae"))]
        rows.append({"dataset": name, "recipe": recipe_name, "rows": len(table.target), "columns": len(table.columns),
                     "categorical_columns": sum(kind == "categorical" for kind in table.kinds.values()),
                     "train_rows": data.info.num_train, "validation_rows": data.info.num_validation,
                     "test_rows": data.info.num_test, "seeds": list(seeds),
                     **{f"mean_{key}": float(np.mean([run[key] for run in runs])) for key in keys},
                     "mean_epochs_run": float(np.mean([run["epochs_run"] for run in runs])),
                     "mean_seconds": float(np.mean([run["seconds"] for run in runs])), "runs": runs})
    return rows


# --- images ------------------------------------------------------------------------------------

def measure_images(folder: Path, work_dir) -> dict:
    import tensorflow as tf

    raw = recipes.data.load_arrays("fashion_mnist")
    parts = {"train": (raw.x_train[:IMAGES_TRAIN], raw.y_train[:IMAGES_TRAIN]),
             "test": (raw.x_test[:IMAGES_TEST], raw.y_test[:IMAGES_TEST])}
    names = [name.replace("/", "-") for name in raw.class_names]
    started = time.perf_counter()
    for split, (images, labels) in parts.items():
        for i, (image, label) in enumerate(zip(images, labels)):
            target = folder / "fashion" / split / f"{label}_{names[label]}" / f"{i:05d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tf.io.encode_png(image).numpy())
    written = time.perf_counter() - started

    started = time.perf_counter()
    recipes.data.load_image_folder(folder / "fashion", color_mode="grayscale")
    decoding = time.perf_counter() - started
    # The arrays in the folder's order (class folder, then file name), so that both runs carve the
    # same validation split from the same training images and test on the same images.
    ordered = {}
    for split, (images, labels) in parts.items():
        order = np.lexsort((np.arange(len(labels)), labels))
        ordered[split] = (images[order], labels[order])
    sources = {"arrays": (ordered["train"], None, ordered["test"]), "folder": folder / "fashion"}
    runs = {}
    for kind, source in sources.items():
        result = recipes.run("fashion_mnist_cnn", data=source, epochs=IMAGE_EPOCHS, seed=SEED,
                             work_dir=work_dir / kind, export=False, verbose=2)
        runs[kind] = {"test_accuracy": result.test_metrics["accuracy"], "fit_seconds": result.timings["fit_seconds"],
                      "images_per_second": result.timings["train_examples_per_second"]}
        print(kind, json.dumps(runs[kind]), flush=True)
    return {"train_images": IMAGES_TRAIN, "test_images": IMAGES_TEST, "epochs": IMAGE_EPOCHS,
            "png_writing_seconds": round(written, 1), "folder_decoding_seconds": round(decoding, 1), **runs,
            "fit_time_ratio_folder_over_arrays": runs["folder"]["fit_seconds"] / runs["arrays"]["fit_seconds"]}


def markdown(report: dict) -> str:
    lines = []
    if report.get("tabular"):
        lines += ["| dataset | rows (categorical columns) | tabular recipe | StandardScaler + logistic / Ridge "
                  "| HistGradientBoosting | epochs | time per run |", "|---|---|---|---|---|---|---|"]
        for row in report["tabular"]:
            def cell(key, bold=False, percent=True):
                values = [run[key] for run in row["runs"]]
                mean = f"{np.mean(values):.2%}" if percent else f"{np.mean(values):.1f}"
                spread = ", ".join(f"{v:.1%}" if percent else f"{v:.1f}" for v in values)
                return f"{'**' + mean + '**' if bold else mean} ({spread})"

            if "mean_recipe_accuracy" in row:
                scores = (cell("recipe_accuracy", True), cell("logistic_accuracy"), cell("gradient_boosting_accuracy"))
            else:
                scores = (f"MAE {cell('recipe_mae', True, False)}", f"MAE {cell('ridge_mae', percent=False)}",
                          f"MAE {cell('gradient_boosting_mae', percent=False)}")
            lines.append(f"| {row['dataset']} | {row['rows']:,} ({row['categorical_columns']}) | "
                         f"{' | '.join(scores)} | {row['mean_epochs_run']:.0f} | {row['mean_seconds']:.0f} s |")
    if report.get("images"):
        images = report["images"]
        lines += ["", "| fashion_mnist_cnn, same images | test accuracy | training time | images/s |",
                  "|---|---|---|---|"]
        for kind in ("arrays", "folder"):
            run = images[kind]
            lines.append(f"| {kind} | {run['test_accuracy']:.2%} | {run['fit_seconds']:.0f} s | "
                         f"{run['images_per_second']:.0f} |")
        lines.append(f"\nfolder / arrays training time: {images['fit_time_ratio_folder_over_arrays']:.2f}x; "
                     f"decoding the {images['train_images'] + images['test_images']:,} PNG files once: "
                     f"{images['folder_decoding_seconds']:.0f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("tabular", "images"))
    parser.add_argument("--work-dir", default="benchmarks/runs/own_data")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(TABLE_SEEDS),
                        help="the tables' splits; other seeds than the default check a choice made on these")
    parser.add_argument("--tables", nargs="+", choices=("breast_cancer", "wine", "customers", "diabetes"))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # With --only, the other part's earlier measurement is kept, with its own date and machine.
    output = args.output
    report = json.loads(output.read_text()) if args.only and output.exists() else {}
    measured = {"date": datetime.date.today().isoformat(), "machine": describe(),
                "command": " ".join(["python", "benchmarks/own_data.py", *sys.argv[1:]])}
    with tempfile.TemporaryDirectory() as scratch:
        work_dir = Path(args.work_dir)
        if args.only in (None, "tabular"):
            report["tabular"] = measure_tables(Path(scratch), work_dir / "tabular", args.seeds, args.tables)
            report["tabular_measured"] = measured
        if args.only in (None, "images"):
            report["images"] = measure_images(Path(scratch), work_dir / "images")
            report["images_measured"] = measured
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


if __name__ == "__main__":
    main()
