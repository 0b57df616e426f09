"""Vanishing gradients, measured: a SimpleRNN and an LSTM tagger learn the running parity of random
bits at sequence lengths 10, 50 and 200, with the same units, data, epochs and optimizer (the
recipes' defaults), each with two seeds.

    python benchmarks/parity.py

Per-step test accuracy is the mean over every position; last-position accuracy is the parity of
the whole sequence, where one slip anywhere makes the answer wrong. Early stopping is off so both
cells get every epoch. Writes benchmarks/results/parity.json and prints a markdown table. Not run
in CI; about 12 minutes on 2 CPU cores.
"""

import argparse
import dataclasses
import datetime
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

import recipes  # noqa: E402
from callbacks.defaults import without  # noqa: E402

CELLS = ("simple_rnn", "lstm")
LENGTHS = (10, 50, 200)
SEEDS = (0, 1)
RESULTS = Path(__file__).resolve().parent / "results" / "parity.json"
SOLVED = 0.99


def epochs_to_solve(history: dict) -> int | None:
    """The first epoch whose per-step validation accuracy reaches ``SOLVED``, or None."""
    for epoch, accuracy in enumerate(history.get("val_accuracy", []), start=1):
        if accuracy >= SOLVED:
            return epoch
    return None


def shared_settings() -> dict:
    """What both recipes share (everything but the cell), checked rather than assumed."""
    simple, lstm = (recipes.get(f"parity_tagger_{cell}") for cell in CELLS)
    compared = ("task_options", "validation_split", "epochs", "batch_size", "optimizer", "learning_rate", "schedule")
    different = [key for key in compared if getattr(simple, key) != getattr(lstm, key)]
    different += ["architecture_kwargs"] if simple.architecture_kwargs["units"] != lstm.architecture_kwargs["units"] else []
    if different:
        sys.exit(f"the parity recipes differ in {', '.join(different)}; a side-by-side needs them equal")
    settings = {key: getattr(lstm, key) for key in compared}
    return {**settings, "task_options": dataclasses.asdict(lstm.task_options),
            "units": lstm.architecture_kwargs["units"]}


def measure(cell: str, length: int, seed: int, work_dir, export_dir) -> dict:
    recipe = recipes.get(f"parity_tagger_{cell}")
    result = recipes.run(recipe, work_dir=work_dir, export_dir=export_dir, verbose=2,
                         callbacks=without("early_stopping"), seed=seed,
                         task_options=dataclasses.replace(recipe.task_options, length=length))
    return {
        "cell": cell,
        "length": length,
        "seed": seed,
        "per_step_accuracy": result.test_metrics["accuracy"],
        "last_position_accuracy": result.test_metrics["last_position_accuracy"],
        "epochs_to_99_percent_validation": epochs_to_solve(result.history),
        "fit_seconds": round(result.timings["fit_seconds"], 1),
        "parameters": result.model.count_params(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default="benchmarks/runs")
    parser.add_argument("--export-dir", default=None, help="default: a temporary folder, deleted afterwards")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    settings = shared_settings()
    with tempfile.TemporaryDirectory() as scratch:
        rows = [measure(cell, length, seed, args.work_dir, args.export_dir or scratch)
                for length in LENGTHS for cell in CELLS for seed in SEEDS]
    report = {"settings": {**settings, "seeds": list(SEEDS), "early_stopping": False},
              "date": datetime.date.today().isoformat(), "machine": describe(),
              "command": "python benchmarks/parity.py", "runs": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


def markdown(report: dict) -> str:
    """One row per length; each cell lists the runs seed by seed, simple_rnn / lstm."""
    settings = report["settings"]
    options = settings.get("task_options") or settings["data_options"]  # results measured before the rename
    lines = [f"{settings['units']} units, {options['num_train']} training sequences "
             f"({settings['validation_split']:.0%} for validation), "
             f"{options['num_test']} test sequences, {settings['epochs']} epochs, seeds "
             f"{', '.join(map(str, settings['seeds']))}; {report['machine']}, {report['date']}", "",
             "| length | per-step accuracy, simple_rnn / lstm | last-position accuracy, simple_rnn / lstm "
             "| epochs to 99% (validation), simple_rnn / lstm | fit time, simple_rnn / lstm |",
             "|---|---|---|---|---|"]

    def runs(length, cell, field, form):
        values = [row[field] for row in report["runs"] if row["length"] == length and row["cell"] == cell]
        return ", ".join("never" if value is None else form.format(value) for value in values)

    for length in LENGTHS:
        columns = [" / ".join(runs(length, cell, field, form) for cell in CELLS)
                   for field, form in (("per_step_accuracy", "{:.1%}"), ("last_position_accuracy", "{:.1%}"),
                                       ("epochs_to_99_percent_validation", "{}"), ("fit_seconds", "{:.0f} s"))]
        lines.append(f"| {length} | " + " | ".join(columns) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
