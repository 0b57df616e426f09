"""Forecast recipes against the naive (last value) and seasonal-naive (one season ago) forecasts on
the same held-out test tail.

    python benchmarks/forecasting.py                      # sine_forecast and sunspots_forecast

Writes benchmarks/results/forecasting.json and prints README table rows. A ratio below 1 means the
model's test MAE beats that baseline. Not run in CI.
"""

import argparse
import dataclasses
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

RECIPES = ["sine_forecast", "sunspots_forecast"]
RESULTS = Path(__file__).resolve().parent / "results" / "forecasting.json"


def measure(name: str, work_dir, export_dir) -> dict:
    result = recipes.run(name, work_dir=work_dir, export_dir=export_dir, verbose=2)
    metrics = result.test_metrics
    dataset = json.loads((result.run_dir / "result.json").read_text())["dataset"]
    return {
        "test_mae": metrics["mae"],
        "naive_mae": metrics["naive_mae"],
        "seasonal_naive_mae": metrics["seasonal_naive_mae"],
        "mae_over_naive": metrics["mae"] / metrics["naive_mae"],
        "mae_over_seasonal_naive": metrics["mae"] / metrics["seasonal_naive_mae"],
        "beats_both_baselines": metrics["mae"] < min(metrics["naive_mae"], metrics["seasonal_naive_mae"]),
        "windows": {split: dataset[f"num_{split}"] for split in ("train", "validation", "test")},
        "task_options": dataclasses.asdict(result.recipe.task_options),
        "architecture_kwargs": result.recipe.architecture_kwargs,
        "epochs_run": result.timings["epochs_run"],
        "fit_seconds": round(result.timings["fit_seconds"], 1),
        "parameters": result.model.count_params(),
        "date": datetime.date.today().isoformat(),
        "machine": describe(),
        "command": f"python benchmarks/forecasting.py {name}",
        "export_path": str(result.export_path),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=RECIPES)
    parser.add_argument("--work-dir", default="benchmarks/runs")
    parser.add_argument("--export-dir", default="saved_models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in args.names:
        results[name] = measure(name, args.work_dir, args.export_dir)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    print("\n| recipe | test MAE | naive MAE (ratio) | seasonal-naive MAE (ratio) | epochs | training time | date | machine |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in results.items():
        print(f"| `{name}` | {row['test_mae']:.4g} | {row['naive_mae']:.4g} ({row['mae_over_naive']:.2f}) | "
              f"{row['seasonal_naive_mae']:.4g} ({row['mae_over_seasonal_naive']:.2f}) | {row['epochs_run']} | "
              f"{row['fit_seconds']:.0f} s | {row['date']} | {row['machine']} |")
    losers = [name for name, row in results.items() if not row["beats_both_baselines"]]
    if losers:
        sys.exit(f"does not beat both baselines: {', '.join(losers)}")


if __name__ == "__main__":
    main()
