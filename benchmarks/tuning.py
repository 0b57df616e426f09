"""Does a Hyperband search beat the recipe's own configuration? Both measured in one run.

    python benchmarks/tuning.py                      # fashion_mnist_cnn, Hyperband, max 6 epochs a trial
    python benchmarks/tuning.py --max-epochs 4 --factor 3

1. The default configuration: ``recipes.run("fashion_mnist_cnn")`` (train on train, early-stop
   and select on validation, test once).
2. ``recipes.tune`` with Hyperband over the same recipe: the architecture's search space plus
   optimizer, learning rate, batch size, weight decay and augmentation strength. Its best
   configuration is retrained on train + validation and tested once on the same test split.

Writes benchmarks/results/tuning.json. Not run in CI.
"""

import argparse
import datetime
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

import recipes  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "tuning.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fashion_mnist_cnn")
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--directory", default="benchmarks/runs/tuning")
    parser.add_argument("--export-dir", default="saved_models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    started = time.perf_counter()
    default = recipes.run(args.recipe, work_dir="benchmarks/runs", export=False, verbose=2)
    default_seconds = time.perf_counter() - started

    started = time.perf_counter()
    found = recipes.tune(args.recipe, tuner="hyperband", max_epochs=args.max_epochs, factor=args.factor,
                         directory=args.directory, overwrite=True, export_dir=args.export_dir)
    search_seconds = time.perf_counter() - started

    row = {
        "recipe": args.recipe,
        "default": {"test_accuracy": default.test_metrics["accuracy"], "seconds": round(default_seconds),
                    "epochs_run": default.timings["epochs_run"]},
        "tuned": {"test_accuracy": found.test_metrics["accuracy"], "seconds": round(search_seconds),
                  "trials": len(found.trials), "failed_trials": len(found.failed),
                  "best_trial": found.best_trial_id, "best_validation_accuracy": found.ranked()[0].score,
                  "retrained_epochs": found.result.timings["epochs_run"],
                  "hyperparameters": found.best_hyperparameters, "export_path": str(found.export_path)},
        "search": {"tuner": "hyperband", "max_epochs": args.max_epochs, "factor": args.factor},
        "tuned_minus_default": found.test_metrics["accuracy"] - default.test_metrics["accuracy"],
        "date": datetime.date.today().isoformat(),
        "machine": describe(),
        "command": "python benchmarks/tuning.py " + " ".join(sys.argv[1:]),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(row, indent=2, default=float) + "\n")
    print(found.table())
    print(f"\ndefault {args.recipe}: test accuracy {row['default']['test_accuracy']:.4f} "
          f"({default_seconds / 60:.1f} min)")
    print(f"Hyperband best ({len(found.trials)} trials, {search_seconds / 60:.1f} min with the retrain): "
          f"test accuracy {row['tuned']['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
