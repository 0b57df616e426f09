"""keras-tuner's tuners with this library's progress lines, per-trial records (worker, time,
memory) and a per-process trial budget."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import logging
import os
import sys
import time
from pathlib import Path

import keras_tuner

from recipes.tuning.results import failure_reason, searched, short

log = logging.getLogger("keras_recipes")


class ProcessTrialsSpent(Exception):
    """This process has run its share of trials (``trials_per_process``)."""


def _release_memory() -> None:
    """Collect the finished trial's objects and hand freed heap pages back to the system."""
    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(libc).malloc_trim(0)
        except (OSError, AttributeError):
            pass


def _rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_save_json_in_place = keras_tuner.src.utils.save_json


def save_json_atomically(path, obj) -> str:
    """keras-tuner's ``utils.save_json``, but written to a temporary file, synced and renamed over
    ``path``. keras-tuner writes its oracle, trial and tuner state in place, so a search killed
    mid-write left an empty file that no later run could reload (``JSONDecodeError``). Remote
    paths (``gs://``...) keep keras-tuner's own writer."""
    if "://" in str(path):
        return _save_json_in_place(path, obj)
    text = json.dumps(obj)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    return text


keras_tuner.src.utils.save_json = save_json_atomically  # every keras-tuner state file goes through it


class RecipeTunerMixin:
    """Progress per trial, and a record of which worker ran it, how long it took and the
    process's memory afterwards (``<project>/workers/<tuner id>.jsonl``)."""

    def _populate_initial_space(self):
        # keras-tuner builds a model here to discover conditional hyperparameters; these spaces
        # have none, and a model that fails to build should fail its trial, not the search.
        space = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(space)
        self.oracle.update_space(space)

    trials_left: int | None = None  # in this process; None: no limit

    def pre_create_trial(self):
        super().pre_create_trial()
        if self.trials_left == 0:
            raise ProcessTrialsSpent()

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_started = time.perf_counter()
        self.hypermodel.applied = {}
        settings = ", ".join(f"{k}={short(v)}" for k, v in searched(trial.hyperparameters.values).items())
        log.info("trial %s started on %s: %s", trial.trial_id, self.tuner_id, settings)

    def on_epoch_end(self, trial, model, epoch, logs=None):
        super().on_epoch_end(trial, model, epoch, logs=logs)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if k in ("loss", "val_loss", self.oracle.objective.name))
        log.info("trial %s epoch %d: %s", trial.trial_id, epoch + 1, shown)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        _release_memory()
        if self.trials_left is not None:
            self.trials_left -= 1
        seconds = time.perf_counter() - getattr(self, "_trial_started", time.perf_counter())
        final = self.oracle.get_trial(trial.trial_id)
        record = {"trial_id": trial.trial_id, "status": final.status, "seconds": round(seconds, 2),
                  "rss_mb": round(_rss_mb(), 1), "pid": os.getpid(), **getattr(self.hypermodel, "applied", {})}
        workers = Path(self.project_dir) / "workers"
        workers.mkdir(parents=True, exist_ok=True)
        with open(workers / f"{self.tuner_id}.jsonl", "a") as stream:
            stream.write(json.dumps(record) + "\n")
        if final.status == "COMPLETED":
            log.info("trial %s completed in %.0f s: %s %.4f (best epoch %s)", trial.trial_id, seconds,
                     self.oracle.objective.name, final.score, (final.best_step or 0) + 1)
        else:
            log.info("trial %s %s after %.0f s: %s", trial.trial_id, final.status.lower(), seconds,
                     failure_reason(final.message))


def tuner_class(kind: str):
    base = {"hyperband": keras_tuner.Hyperband, "random": keras_tuner.RandomSearch,
            "bayesian": keras_tuner.BayesianOptimization, "grid": keras_tuner.GridSearch}[kind]
    return type(f"Recipe{base.__name__}", (RecipeTunerMixin, base), {})
