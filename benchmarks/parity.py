"""Vanishing gradients, measured: a SimpleRNN and an LSTM tagger learn the running parity of random
bits at sequence lengths 10, 50 and 200, with the same units, data, epochs and optimizer.

    python benchmarks/parity.py

Per-step test accuracy is the mean over every position; last-position accuracy is the parity of
the whole sequence, where one slip anywhere makes the answer wrong. Early stopping is off so both
cells get every epoch. Writes benchmarks/results/parity.json and prints a markdown table. Not run
in CI; about 10 minutes on 2 CPU cores.
"""

import argparse
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
from recipes.config import DEFAULT_CALLBACKS  # noqa: E402

CELLS = ("simple_rnn", "lstm")
LENGTHS = (10, 50, 200)
SETTINGS = {"units": 32, "num_train": 3000, "num_test": 1000, "epochs": 20, "batch_size": 64,
            "learning_rate": 3e-3}
RESULTS = Path(__file__).resolve().parent / "results" / "parity.json"
SOLVED = 0.99


def epochs_to_solve(history: dict) -> int | None:
    """The first epoch whose per-step validation accuracy reaches ``SOLVED``, or None."""
    for epoch, accuracy in enumerate(history.get("val_accuracy", []), start=1):
        if accuracy >= SOLVED:
            return epoch
    return None


def measure(cell: str, length: int, work_dir, export_dir) -> dict:
    callbacks = {k: v for k, v in DEFAULT_CALLBACKS.items() if k != "early_stopping"}
    result = recipes.run(
        f"parity_tagger_{cell}", work_dir=work_dir, export_dir=export_dir, verbose=2, callbacks=callbacks,
        data_options={"length": length, "num_train": SETTINGS["num_train"], "num_test": SETTINGS["num_test"]},
        architecture_kwargs={"cell": cell, "units": SETTINGS["units"]}, epochs=SETTINGS["epochs"],
        batch_size=SETTINGS["batch_size"], learning_rate=SETTINGS["learning_rate"],
    )
    return {
        "cell": cell,
        "length": length,
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

    with tempfile.TemporaryDirectory() as scratch:
        rows = [measure(cell, length, args.work_dir, args.export_dir or scratch)
                for length in LENGTHS for cell in CELLS]
    report = {"settings": SETTINGS, "date": datetime.date.today().isoformat(), "machine": describe(),
              "command": "python benchmarks/parity.py", "runs": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")

    by_key = {(row["cell"], row["length"]): row for row in rows}
    print(f"\n{SETTINGS['units']} units, {SETTINGS['num_train']} training sequences (10% for validation), "
          f"{SETTINGS['num_test']} test sequences, {SETTINGS['epochs']} epochs; {report['machine']}, {report['date']}\n")
    print("| length | per-step acc. simple_rnn / lstm | last-position acc. simple_rnn / lstm "
          "| epochs to 99% (val) simple_rnn / lstm | fit time simple_rnn / lstm |")
    print("|---|---|---|---|---|")
    for length in LENGTHS:
        simple, lstm = by_key[("simple_rnn", length)], by_key[("lstm", length)]
        epochs = [row["epochs_to_99_percent_validation"] or "never" for row in (simple, lstm)]
        print(f"| {length} | {simple['per_step_accuracy']:.1%} / {lstm['per_step_accuracy']:.1%} | "
              f"{simple['last_position_accuracy']:.1%} / {lstm['last_position_accuracy']:.1%} | "
              f"{epochs[0]} / {epochs[1]} | {simple['fit_seconds']:.0f} s / {lstm['fit_seconds']:.0f} s |")


if __name__ == "__main__":
    main()
