"""One process against two MultiWorkerMirroredStrategy workers on this machine, in one run: the
same recipe, the same global batch and learning rate, measured by test accuracy and training time.

    python benchmarks/distributed.py [--recipe fashion_mnist_cnn] [--train-limit 12000] [--epochs 3] [--rounds 2]

Both setups share the same cores, so two workers cannot be faster than one process here: each
worker computes half of every global batch on its share of the cores, then they average the
gradients over gRPC on 127.0.0.1. What this measures is that the two agree in accuracy and what
the collective communication costs: the overhead ratio (two workers' time / one process's). On
several machines each worker brings its own cores, and the same overhead buys a speed-up.
Writes benchmarks/results/distributed.json.
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def train(recipe: str, *, workers: int, batch_size: int, learning_rate: float, train_limit: int, epochs: int,
          folder: Path) -> dict:
    """One run through the CLI; with ``workers`` > 1 the recipe's per-replica batch is halved so
    the global batch stays ``batch_size`` (and the learning rate ``learning_rate``)."""
    per_replica = batch_size // workers
    command = [sys.executable, "-m", "recipes.cli", "run", recipe, "--epochs", str(epochs),
               "--batch-size", str(per_replica), "--set", f"learning_rate={learning_rate / workers}",
               "--set", f"train_limit={train_limit}", "--set", "callbacks.early_stopping=None",
               "--work-dir", str(folder / "runs"), "--no-export"]
    if workers > 1:
        command += ["--workers", str(workers)]
    environment = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    (result_file,) = (folder / "runs" / recipe).glob("*/result.json")
    result = json.loads(result_file.read_text())
    return {"workers": workers, "global_batch": result["recipe"]["batch_size"],
            "learning_rate": result["recipe"]["learning_rate"], "test_accuracy": result["test_metrics"]["accuracy"],
            "fit_seconds": result["timings"]["fit_seconds"],
            "train_examples_per_second": result["timings"]["train_examples_per_second"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fashion_mnist_cnn")
    parser.add_argument("--train-limit", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from machine import describe

    import recipes

    recipe = recipes.get(args.recipe)
    runs = {1: [], 2: []}
    for round_index in range(args.rounds):  # interleaved, so a slow spell of the host hits both
        for workers in (1, 2):
            folder = Path(tempfile.mkdtemp(prefix="distributed-"))
            try:
                measured = train(args.recipe, workers=workers, batch_size=recipe.batch_size,
                                 learning_rate=recipe.learning_rate, train_limit=args.train_limit,
                                 epochs=args.epochs, folder=folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            runs[workers].append(measured)
            print(f"round {round_index + 1}: {workers} worker(s): test accuracy {measured['test_accuracy']:.4f}, "
                  f"{measured['fit_seconds']:.1f} s", flush=True)
    one, two = (statistics.median(r["fit_seconds"] for r in runs[w]) for w in (1, 2))
    summary = {
        "date": datetime.date.today().isoformat(), "machine": describe(),
        "command": f"python benchmarks/distributed.py --recipe {args.recipe} --train-limit {args.train_limit} "
                   f"--epochs {args.epochs} --rounds {args.rounds}",
        "recipe": args.recipe, "global_batch": recipe.batch_size, "learning_rate": recipe.learning_rate,
        "runs": {f"workers_{w}": r for w, r in runs.items()},
        "mean_test_accuracy": {f"workers_{w}": statistics.mean(r["test_accuracy"] for r in runs[w]) for w in runs},
        "median_fit_seconds": {"workers_1": one, "workers_2": two},
        "overhead_two_workers_over_one": two / one,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "distributed.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n1 worker: {summary['mean_test_accuracy']['workers_1']:.4f} in {one:.1f} s; 2 workers: "
          f"{summary['mean_test_accuracy']['workers_2']:.4f} in {two:.1f} s; overhead {two / one:.2f}x")


if __name__ == "__main__":
    main()
