"""CartPole-v1 with ``cartpole_a2c``: the mean return over 100 evaluation episodes against a
uniformly random policy on the same episodes (about 22) and the "solved" threshold (475), over
seeds, with the episodes, environment steps and time training took.

    python benchmarks/cartpole.py [--seeds 0 1 2] [--epochs N]

Each seed runs the whole recipe once (``recipes.run``, no export). The evaluation episodes have
seeds of their own (``recipe.seed + 10000 + i``), never seen in training. ``return_mean`` is the
greedy policy's (the most probable action); ``sampled_return_mean`` draws actions from the
policy as training does. "First epoch at 475" is the first epoch whose training episodes (those
that ended in it, with sampled actions) averaged 475 or more; "stays at 475 from" the first from
which every later epoch's did too. Writes
benchmarks/results/cartpole.json and the learning curves, benchmarks/results/cartpole.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

RECIPE = "cartpole_a2c"
SOLVED = 475.0


def first_at(history: dict, threshold: float) -> dict | None:
    """Where the training curve first reached ``threshold``: its epoch (1-based), episodes and steps."""
    for index, value in enumerate(history["episode_return"]):
        if value >= threshold:
            return {"epoch": index + 1, "episodes": int(history["episodes"][index]),
                    "env_steps": int(history["env_steps"][index])}
    return None


def stays_at(history: dict, threshold: float) -> dict | None:
    """Where the training curve reached ``threshold`` for good: the first epoch from which every
    epoch's mean return is at least ``threshold``."""
    returns = history["episode_return"]
    for index in range(len(returns)):
        if all(value >= threshold for value in returns[index:]):
            return {"epoch": index + 1, "episodes": int(history["episodes"][index]),
                    "env_steps": int(history["env_steps"][index])}
    return None


def plot(runs: list[dict], random_return: float, path: Path) -> Path | None:
    from callbacks import new_figure, save_figure

    figure = new_figure("CartPole learning curves", figsize=(7, 4.2), dpi=110)
    if figure is None:
        return None
    axes = figure.subplots()
    for run in runs:
        axes.plot(run["curve"]["episodes"], run["curve"]["episode_return"], marker=".", markersize=3,
                  label=f"seed {run['seed']}: greedy eval {run['return_mean']:.1f}")
    axes.axhline(SOLVED, color="tab:green", linestyle="--", label=f"solved ({SOLVED:g})")
    axes.axhline(random_return, color="tab:red", linestyle=":", label=f"random policy ({random_return:.1f})")
    axes.set_xlabel("training episodes")
    axes.set_ylabel("episode return (mean of each epoch's episodes)")
    axes.set_title(f"{RECIPE} on CartPole-v1 (A2C, 8 environments, 5-step returns)")
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(alpha=0.3)
    return save_figure(figure, path)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="the recipe's own (60) unless given")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "cartpole.json")
    args = parser.parse_args(argv)

    import recipes
    from machine import describe

    overrides = {"epochs": args.epochs} if args.epochs else {}
    runs = []
    with tempfile.TemporaryDirectory(prefix="cartpole-") as work_dir:
        for seed in args.seeds:
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            result = recipes.run(RECIPE, seed=seed, export=False, work_dir=work_dir, verbose=2, **overrides)
            seconds = time.perf_counter() - started
            metrics, history = result.test_metrics, result.history
            runs.append({
                "seed": seed,
                **{key: round(metrics[key], 2) for key in ("return_mean", "return_std", "return_min",
                                                           "sampled_return_mean", "random_return_mean")},
                "evaluation_episodes": int(metrics["evaluation_episodes"]),
                "training_episodes": int(metrics["training_episodes"]),
                "training_env_steps": int(metrics["training_env_steps"]),
                "fit_seconds": round(result.timings["fit_seconds"], 1),
                "wall_seconds": round(seconds, 1),
                "first_epoch_at_475": first_at(history, SOLVED),
                "stays_at_475_from": stays_at(history, SOLVED),
                "load_average_before": round(load_before, 2),
                "curve": {key: [round(v, 2) for v in history[key]] for key in ("episodes", "episode_return",
                                                                               "env_steps")},
            })
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "curve"}), flush=True)

    recipe = recipes.get(RECIPE)
    random_return = statistics.mean(run["random_return_mean"] for run in runs)
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": describe(),
        "command": " ".join(["python benchmarks/cartpole.py", *(argv if argv is not None else sys.argv[1:])]),
        "recipe": RECIPE,
        "epochs": args.epochs or recipe.epochs,
        "solved_threshold": SOLVED,
        "evaluation": "100 episodes per seed, seeds recipe.seed + 10000 + i; greedy = most probable action",
        "mean_return_greedy": round(statistics.mean(run["return_mean"] for run in runs), 2),
        "mean_return_sampled": round(statistics.mean(run["sampled_return_mean"] for run in runs), 2),
        "mean_return_random": round(random_return, 2),
        "seeds_solved_greedy": sum(run["return_mean"] >= SOLVED for run in runs),
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    picture = plot(runs, random_return, args.output.with_suffix(".png"))
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))
    print("wrote", args.output, picture or "")
    return report


if __name__ == "__main__":
    main()
