"""Does a long search grow without bound? Resident memory after each of 20 small trials.

    python benchmarks/tuning_memory.py

Two fresh processes, one after the other, each doing 20 one-epoch trainings of a Fashion-MNIST
MLP on 5,000 images:

- ``tune``: ``recipes.tune`` with random search (keras-tuner clears the Keras session before
  every trial); RSS is recorded at the end of every trial.
- ``tune_5_per_process``: the same search with ``trials_per_process=5``: four child processes
  of five trials each; RSS is that of the process that ran the trial.
- ``plain``: a bare Keras loop that builds, compiles and fits the same kind of model 20 times
  without clearing the session, the baseline.

Reports the RSS after trials 5 and 20, their ratio (1.0 = no growth) and the peak. Writes
benchmarks/results/tuning_memory.json. Not run in CI.
"""

import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "tuning_memory.json"
TRIALS = 20
SLICE = {"train_limit": 5000, "test_limit": 500}


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_tune(trials_per_process=None) -> dict:
    import recipes

    with tempfile.TemporaryDirectory() as directory:
        found = recipes.tune("fashion_mnist_mlp", tuner="random", max_trials=TRIALS, max_epochs=1,
                             directory=directory, retrain=False, trials_per_process=trials_per_process, **SLICE)
        rss = [t.rss_mb for t in sorted(found.trials, key=lambda t: t.trial_id)]
    peak = _peak_mb() if trials_per_process is None else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"rss_mb": rss, "peak_mb": peak}


def measure_plain() -> dict:
    import architectures
    import keras
    from recipes import data

    fashion = data.load("fashion_mnist", batch_size=128, **SLICE)
    rss = []
    for trial in range(TRIALS):
        units = (64, 128, 256, 512)[trial % 4]
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255),
                                  architectures.build("mlp", hidden_units=(units, units), dropout=0.2)])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(fashion.train, validation_data=fashion.validation, epochs=1, verbose=0)
        rss.append(_rss_mb())
    return {"rss_mb": rss, "peak_mb": _peak_mb()}


def main() -> None:
    if len(sys.argv) > 1:  # a child process measuring one mode
        modes = {"tune": measure_tune, "tune_5_per_process": lambda: measure_tune(5), "plain": measure_plain}
        print(json.dumps(modes[sys.argv[1]]()))
        return
    rows = {}
    for mode in ("tune", "tune_5_per_process", "plain"):
        done = subprocess.run([sys.executable, __file__, mode], capture_output=True, text=True, check=True)
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        rss = measured["rss_mb"]
        rows[mode] = {"rss_after_trial_5_mb": round(rss[4]), "rss_after_trial_20_mb": round(rss[-1]),
                      "growth_20_over_5": round(rss[-1] / rss[4], 3), "peak_mb": round(measured["peak_mb"]),
                      "rss_mb": [round(r) for r in rss]}
        print(f"{mode}: RSS after trial 5 {rss[4]:.0f} MB, after trial 20 {rss[-1]:.0f} MB "
              f"({rss[-1] / rss[4]:.3f}x), peak {measured['peak_mb']:.0f} MB", flush=True)
    result = {**rows, "trials": TRIALS, "date": datetime.date.today().isoformat(), "machine": describe(),
              "command": "python benchmarks/tuning_memory.py"}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
