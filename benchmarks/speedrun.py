"""Seconds and training FLOPs to 92% and 94% Fashion-MNIST test accuracy: the speedrun recipes
over seeds, against ``fashion_mnist_resnet20`` (40 epochs), measured in one run.

    python benchmarks/speedrun.py [--seeds 0 1 2] [--recipes fashion_mnist_speedrun fashion_mnist_speedrun_60s]

Rows of recipes already in the output file and not measured again are kept (each row has its
own date and load). Each recipe runs its whole schedule once per seed (``recipes.run``, no export); a speedrun's
time to X% is the training time of the cheapest recipe whose mean test accuracy over the seeds
reaches X% (its schedule, EMA and test-time flip are part of it: a truncated run is not the
same recipe). Training FLOPs are 3 x forward FLOPs (conv and dense multiply-adds x 2,
``throughput.forward_flops``) x training images x epochs; the budget is a sixth of
``fashion_mnist_resnet20``'s 40 epochs. ResNet-20's seconds and FLOPs to X% come from its
recorded run: the first epoch whose validation accuracy reaches X%, from the per-epoch curve that
``benchmarks/recipe_results.py`` records (``benchmarks/results/recipe_results.json``). Writes
benchmarks/results/speedrun.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

BASELINE = "fashion_mnist_resnet20"
BASELINE_EPOCHS = 40
SPEEDRUNS = ("fashion_mnist_speedrun", "fashion_mnist_speedrun_60s")
GOALS = (0.92, 0.94)
BUDGET_FRACTION = 1 / 6

def forward_flops_of(recipe) -> int:
    """Forward FLOPs per image of the recipe's model, built as ``recipes.run`` builds it (whitening
    changes its weights, not its FLOPs)."""
    from recipes import data as datasets
    from recipes.tasks.classification import classifier_for
    from throughput import forward_flops

    info = datasets.load(recipe.dataset, batch_size=recipe.batch_size).info
    return forward_flops(classifier_for(info, recipe.architecture, **recipe.architecture_kwargs))


def whitening_seconds(recipe) -> float | None:
    """Seconds of the whitening initialisation (before fit, so not in fit_seconds), timed on its own."""
    if not recipe.task_options.whitening_init:
        return None
    from recipes import tasks
    from recipes.tasks.classification import whiten_first_conv

    task = tasks.get(recipe.task)
    data = task.load(recipe)
    model = task.build(recipe.__class__(**{**recipe.to_dict(), "task_options": {}}), data)
    started = time.perf_counter()
    whiten_first_conv(model, data)
    return round(time.perf_counter() - started, 2)


def baseline_row(num_train: int, forward: int) -> dict:
    """ResNet-20's seconds and FLOPs to each goal, from its recorded run."""
    record = json.loads((HERE / "results" / "recipe_results.json").read_text())[BASELINE]
    curve = record.get("validation_accuracy_per_epoch")
    if not curve:
        raise SystemExit(f"recipe_results.json's {BASELINE} row has no validation_accuracy_per_epoch; "
                         f"run python benchmarks/recipe_results.py {BASELINE} first")
    per_epoch = {index + 1: value for index, value in enumerate(curve)}
    source = "recipe_results.json's per-epoch validation accuracy"
    seconds_per_epoch = record["fit_seconds"] / record["epochs_run"]
    flops_per_epoch = 3 * forward * num_train
    to_goal = {}
    for goal in GOALS:
        epoch = min((e for e, value in per_epoch.items() if value >= goal), default=None)
        to_goal[f"{goal:.2f}"] = None if epoch is None else {
            "epoch": epoch, "seconds": round(seconds_per_epoch * epoch, 1), "train_flops": flops_per_epoch * epoch,
            "measured_on": "validation accuracy"}
    return {"recipe": BASELINE, "epochs": record["epochs_run"], "test_accuracy": record["value"],
            "fit_seconds": record["fit_seconds"], "machine": record["machine"], "date": record["date"],
            "forward_flops_per_image": forward, "train_flops": flops_per_epoch * record["epochs_run"],
            "to_goal": to_goal, "curve_source": source}


def run_once(name: str, seed: int, work_dir: Path) -> dict:
    import recipes

    result = recipes.run(name, seed=seed, export=False, work_dir=work_dir, verbose=0)
    return {"seed": seed, "accuracy": result.test_metrics["accuracy"],
            "accuracy_without_flip": result.test_metrics.get("accuracy_without_flip"),
            "fit_seconds": round(result.timings["fit_seconds"], 1), "epochs": int(result.timings["epochs_run"]),
            "validation_accuracy": [round(v, 4) for v in result.history.get("val_accuracy", [])]}


def collect_once(name: str, seed: int, work_dir: Path) -> dict:
    """The row ``run_once`` gives, read back from the newest finished run of ``name`` with ``seed``
    in ``work_dir`` (its result.json and training_log.csv), without training again."""
    import csv

    finished = sorted((path for path in (work_dir / name).glob("*/result.json")
                       if json.loads(path.read_text())["recipe"]["seed"] == seed), key=lambda p: p.stat().st_mtime)
    if not finished:
        raise SystemExit(f"no finished run of {name} with seed {seed} under {work_dir}; run without --collect")
    result = json.loads(finished[-1].read_text())
    with open(finished[-1].parent / "training_log.csv") as stream:
        curve = [float(row["val_accuracy"]) for row in csv.DictReader(stream)]
    return {"seed": seed, "accuracy": result["test_metrics"]["accuracy"],
            "accuracy_without_flip": result["test_metrics"].get("accuracy_without_flip"),
            "fit_seconds": round(result["timings"]["fit_seconds"], 1), "epochs": int(result["timings"]["epochs_run"]),
            "validation_accuracy": [round(v, 4) for v in curve], "collected_from": str(finished[-1].parent)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", default=list(SPEEDRUNS))
    parser.add_argument("--output", type=Path, default=HERE / "results" / "speedrun.json")
    parser.add_argument("--collect", action="store_true",
                        help="read the seeds' finished runs from benchmarks/runs/speedrun instead of training again")
    args = parser.parse_args()

    import recipes
    from machine import describe
    from recipes.training.precision import resolve_precision

    baseline = recipes.get(BASELINE)
    num_train = round(60000 * (1 - baseline.validation_split))
    baseline_forward = forward_flops_of(baseline)
    budget = BUDGET_FRACTION * 3 * baseline_forward * num_train * BASELINE_EPOCHS
    rows = []
    for name in args.recipes:
        recipe = recipes.get(name)
        forward = forward_flops_of(recipe)
        runs = []
        for seed in args.seeds:
            started = time.perf_counter()
            measure = collect_once if args.collect else run_once
            runs.append(measure(name, seed, HERE / "runs" / "speedrun"))
            print(f"{name} seed {seed}: {runs[-1]['accuracy']:.4f} (without flip {runs[-1]['accuracy_without_flip']}) "
                  f"in {runs[-1]['fit_seconds']} s of training ({time.perf_counter() - started:.0f} s in all)",
                  flush=True)
        train_flops = 3 * forward * num_train * recipe.epochs
        setup = whitening_seconds(recipe)
        accuracies = [run["accuracy"] for run in runs]
        rows.append({
            "recipe": name, "precision": f"{recipe.precision} ({resolve_precision(recipe.precision)} here)",
            "epochs": recipe.epochs, "forward_flops_per_image": forward, "train_flops": train_flops,
            "budget_fraction": round(train_flops / budget, 4),
            "flops_ratio_to_resnet20_40_epochs": round(train_flops / (budget / BUDGET_FRACTION), 4),
            "mean_accuracy": statistics.mean(accuracies), "min_accuracy": min(accuracies),
            "mean_fit_seconds": round(statistics.mean(run["fit_seconds"] for run in runs), 1),
            "max_fit_seconds": max(run["fit_seconds"] for run in runs), "whitening_init_seconds": setup,
            "runs": runs,
            "date": datetime.date.today().isoformat(), "load_average_after": os.getloadavg(),
            "command": "python benchmarks/speedrun.py " + " ".join(sys.argv[1:])})

    if args.output.exists():  # rows of recipes measured by an earlier call stay
        earlier = json.loads(args.output.read_text()).get("speedruns", [])
        rows = [row for row in earlier if row["recipe"] not in args.recipes] + rows
    to_goal = {}
    for goal in GOALS:
        reaching = [row for row in rows if row["mean_accuracy"] >= goal]
        best = min(reaching, key=lambda row: row["train_flops"], default=None)
        to_goal[f"{goal:.2f}"] = None if best is None else {
            "recipe": best["recipe"], "seconds": best["mean_fit_seconds"], "train_flops": best["train_flops"],
            "mean_accuracy": best["mean_accuracy"]}
    report = {
        "date": datetime.date.today().isoformat(), "machine": describe(),
        "command": "python benchmarks/speedrun.py " + " ".join(sys.argv[1:]),
        "seeds": args.seeds, "train_images": num_train,
        "budget_train_flops": budget, "budget": f"1/6 of {BASELINE_EPOCHS} epochs of {BASELINE}",
        "speedruns": rows, "speedrun_to_goal": to_goal,
        "baseline": baseline_row(num_train, baseline_forward),
        "load_average_at_end": os.getloadavg(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    for row in rows:
        print(f"{row['recipe']}: {row['mean_accuracy']:.4f} mean (min {row['min_accuracy']:.4f}) over seeds "
              f"{args.seeds}, {row['train_flops'] / 1e12:.1f} TFLOP ({row['budget_fraction']:.2f} of the budget), "
              f"{row['mean_fit_seconds']} s")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
