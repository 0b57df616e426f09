"""Run named recipes at their full documented settings and record what they reach.

    python benchmarks/recipe_results.py fashion_mnist_cnn fashion_mnist_mlp ...   # default: all offline ones
    python benchmarks/recipe_results.py fashion_mnist_cnn --set batch_size=256 --set precision=auto \
        --results benchmarks/results/recipe_variants.json                         # a changed setting
    KERAS_RECIPES_DATA_DIR=../shared/data python benchmarks/recipe_results.py mr_sentiment_lstm \
        --results benchmarks/results/sequence_results.json

Writes benchmarks/results/recipe_results.json, copies each run's pictures to
benchmarks/results/plots/<recipe>/ (the README links them) and prints the README table rows.
Not run in CI.
"""

import argparse
import datetime
import json
import logging
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

import recipes  # noqa: E402

OFFLINE = ["fashion_mnist_cnn", "fashion_mnist_mlp", "fashion_mnist_linear", "digits_mlp",
           "toy_spirals_mlp", "toy_spirals_linear"]
RESULTS = Path(__file__).resolve().parent / "results" / "recipe_results.json"
PICTURES = Path(__file__).resolve().parent / "results" / "plots"


def keep_pictures(name: str, run_dir: Path) -> list[str]:
    """Copy a run's PNGs (plots and sample grids) out of the git-ignored run folder."""
    kept = PICTURES / name
    if kept.exists():
        shutil.rmtree(kept)
    kept.mkdir(parents=True)
    for picture in sorted((Path(run_dir) / "plots").glob("*.png")):
        shutil.copy2(picture, kept / picture.name)
    return [str(path.relative_to(PICTURES.parent.parent.parent)) for path in sorted(kept.glob("*.png"))]


def replaced_runs(row: dict | None) -> list[dict]:
    """The runs a new measurement replaces: the old row's own history plus the old row itself."""
    if not row:
        return []
    metric = row.get("metric", "accuracy")
    summary = {metric: row.get("value"), **{key: row[key] for key in
               ("epochs_run", "fit_seconds", "date", "machine") if key in row}}
    return [*row.get("other_runs", []), summary]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=OFFLINE)
    parser.add_argument("--work-dir", default="benchmarks/runs")
    parser.add_argument("--export-dir", default="saved_models")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to add the rows to")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="run the recipes with this setting changed (as keras-recipes run --set); the row "
                             "is then named NAME[KEY=VALUE,...]")
    args = parser.parse_args()
    from recipes import catalog

    overrides = dict(catalog.parse_assignment(item) for item in args.set)
    suffix = f"[{','.join(args.set)}]" if args.set else ""
    changes = "".join(f" --set {item}" for item in args.set)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    machine = describe()
    for recipe_name in args.names:
        name = recipe_name + suffix
        recipe = recipes.with_overrides(recipes.get(recipe_name), overrides) if overrides else recipe_name
        result = recipes.run(recipe, work_dir=args.work_dir, export_dir=args.export_dir, verbose=2)
        recipe = result.recipe
        metric, goal = next(iter(recipe.expected.items()))
        earlier_runs = replaced_runs(results.get(name))
        results[name] = {
            "metric": metric,
            "value": result.test_metrics[metric],
            "goal": goal,
            "test_metrics": result.test_metrics,
            "epochs_run": result.timings["epochs_run"],
            "fit_seconds": round(result.timings["fit_seconds"], 1),
            # the curve benchmarks/speedrun.py reads a recipe's time and FLOPs to each accuracy from
            **({"validation_accuracy_per_epoch": [round(v, 4) for v in result.history["val_accuracy"]]}
               if "val_accuracy" in result.history else {}),
            "parameters": result.model.count_params(),
            "date": datetime.date.today().isoformat(),
            "machine": machine,
            "command": f"python benchmarks/recipe_results.py {recipe_name}{changes}",
            "export_path": str(result.export_path),
            "pictures": keep_pictures(name, result.run_dir) if not suffix else [],
        }
        if earlier_runs:
            results[name]["other_runs"] = earlier_runs
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=2) + "\n")
        print(f"{name}: test {metric} {result.test_metrics[metric]:.4f} in "
              f"{result.timings['fit_seconds']:.0f} s", flush=True)

    print("\n| recipe | test result | goal | epochs | training time | date | machine |")
    print("|---|---|---|---|---|---|---|")
    for name, row in results.items():
        metric = row.get("metric", "accuracy")
        value, goal = row.get("value", row.get("test_accuracy")), row.get("goal", row.get("documented_accuracy"))
        shown = (f"{value:.2%}", f"{goal:.0%}") if metric in ("accuracy", "exact_match") else (f"{value:.3f}", f"{goal}")
        print(f"| `{name}` | {metric} {shown[0]} | {shown[1]} | {row['epochs_run']} | "
              f"{row['fit_seconds'] / 60:.1f} min | {row['date']} | {row['machine']} |")


if __name__ == "__main__":
    main()
