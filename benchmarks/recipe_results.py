"""Run named recipes at their full documented settings and record what they reach.

    python benchmarks/recipe_results.py fashion_mnist_cnn fashion_mnist_mlp ...   # default: all offline ones

Writes benchmarks/results/recipe_results.json and prints the README table rows. Not run in CI.
"""

import argparse
import datetime
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

import recipes  # noqa: E402

OFFLINE = ["fashion_mnist_cnn", "fashion_mnist_mlp", "fashion_mnist_linear", "digits_mlp",
           "toy_spirals_mlp", "toy_spirals_linear"]
RESULTS = Path(__file__).resolve().parent / "results" / "recipe_results.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=OFFLINE)
    parser.add_argument("--work-dir", default="benchmarks/runs")
    parser.add_argument("--export-dir", default="saved_models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    machine = describe()
    for name in args.names:
        result = recipes.run(name, work_dir=args.work_dir, export_dir=args.export_dir, verbose=2)
        recipe = result.recipe
        results[name] = {
            "test_accuracy": result.test_metrics["accuracy"],
            "test_loss": result.test_metrics["loss"],
            "documented_accuracy": recipe.expected["accuracy"],
            "epochs_run": result.timings["epochs_run"],
            "fit_seconds": round(result.timings["fit_seconds"], 1),
            "parameters": result.model.count_params(),
            "date": datetime.date.today().isoformat(),
            "machine": machine,
            "command": f"python benchmarks/recipe_results.py {name}",
            "export_path": str(result.export_path),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"{name}: test accuracy {result.test_metrics['accuracy']:.4f} in "
              f"{result.timings['fit_seconds']:.0f} s", flush=True)

    print("\n| recipe | test accuracy | goal | epochs | training time | date | machine |")
    print("|---|---|---|---|---|---|---|")
    for name, row in results.items():
        print(f"| `{name}` | {row['test_accuracy']:.2%} | {row['documented_accuracy']:.0%} | "
              f"{row['epochs_run']} | {row['fit_seconds'] / 60:.1f} min | {row['date']} | {row['machine']} |")


if __name__ == "__main__":
    main()
