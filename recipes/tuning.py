"""keras-tuner searches over the registered builders and the named recipes.

    >>> found = recipes.tune("fashion_mnist_cnn", tuner="hyperband", max_epochs=6)
    >>> found.best_hyperparameters, found.test_metrics, found.export_path
    >>> print(found.table())

A trial is a recipe with some fields replaced: the architecture's search space (declared next to
its builder, ``architectures.search_space``) gives ``architecture_kwargs``, and
``training_space`` gives the optimizer, learning rate, batch size, weight decay and augmentation
strength. Every trial trains through ``compile_model`` and Keras's ``fit``, like ``recipes.run``,
and the winner is retrained by ``recipes.run`` itself on train + validation, evaluated on the
untouched test split and exported.

Searches live in ``<directory>/<project_name>/``; calling ``tune`` again with ``overwrite=False``
continues one (a trial cut short by a crash runs again under its own ID). Setting
``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` makes a process
keras-tuner's chief (the oracle) or a worker; ``launch_distributed`` starts both on one machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import gc
import hashlib
import itertools
import json
import logging
import math
import os
import socket
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import keras
import keras_tuner
from keras_tuner.src import config as keras_tuner_config

import architectures
from architectures import InputTooSmallError
from callbacks import build_callbacks
from recipes import config, tasks
from recipes.errors import ConfigError, RecipeError
from recipes.tables import format_table
from recipes.training import OPTIMIZERS, Result, compile_model

log = logging.getLogger("keras_recipes")

TUNERS = ("hyperband", "random", "bayesian", "grid")
DEFAULT_MAX_TRIALS = 10
OPTIMIZER_CHOICES = ("adam", "adamw", "nadam", "sgd+momentum")
BATCH_SIZES = (32, 64, 128, 256)
WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3)
LEARNING_RATE_RANGE = (1e-4, 3e-2)
AUGMENTATION_STRENGTHS = (0.0, 0.5, 1.0)
# What "augmentation_strength" scales for an image recipe that has no augmentation of its own:
# small shifts and zooms, which keep the label of any image (flips would not, for digits).
DEFAULT_AUGMENTATION = {"translate": 0.1, "zoom": 0.1}
TRIAL_CALLBACKS = ("terminate_on_nan", "early_stopping")  # the recipe's, where it has them
DATA_CACHE_SIZE = 2  # pipelines kept for (batch size, augmentation) combinations


class TuningError(RecipeError):
    """A search that cannot start, or that ended without one completed trial."""


class _ProcessTrialsSpent(Exception):
    """This process has run its share of trials (``trials_per_process``)."""


CHILD_ENV = "KERAS_RECIPES_TUNING_CHILD"
MORE_TRIALS_EXIT = 3  # a child's exit status when the search has trials left


def _choices(values, default):
    """``values`` plus ``default`` (the recipe's own setting), so a search can keep it."""
    return sorted({*values, default}, key=lambda v: (str(type(v)), v))


def scaled_augmentation(options: dict, strength: float) -> dict:
    """Augmentation options with every magnitude multiplied by ``strength`` (0 turns it off)."""
    if not strength:
        return {}
    scaled = {}
    for key, value in options.items():
        if key == "flip":
            scaled[key] = value
        elif key == "crop_padding":
            scaled[key] = max(1, round(value * strength))
        else:
            scaled[key] = value * strength
    return scaled


def training_space(hp, recipe: config.Recipe, *, augment: bool) -> dict:
    """Recipe fields drawn from ``hp``; defaults are the recipe's own settings."""
    low, high = LEARNING_RATE_RANGE
    fields = {
        "optimizer": hp.Choice("optimizer", _choices(OPTIMIZER_CHOICES, recipe.optimizer), default=recipe.optimizer),
        "learning_rate": hp.Float("learning_rate", low, high, sampling="log",
                                  default=min(max(recipe.learning_rate, low), high)),
        "batch_size": hp.Choice("batch_size", _choices(BATCH_SIZES, recipe.batch_size), default=recipe.batch_size),
        "weight_decay": hp.Choice("weight_decay", _choices(WEIGHT_DECAYS, float(recipe.weight_decay or 0.0)),
                                  default=float(recipe.weight_decay or 0.0)) or None,
    }
    if augment:
        strength = hp.Choice("augmentation_strength", list(AUGMENTATION_STRENGTHS),
                             default=1.0 if recipe.augmentation else 0.0)
        fields["augmentation"] = scaled_augmentation(recipe.augmentation or DEFAULT_AUGMENTATION, strength)
    return fields


class RecipeHyperModel(keras_tuner.HyperModel):
    """A named recipe as a keras-tuner ``HyperModel``: ``build`` builds the registered
    architecture with searched keyword arguments, ``fit`` compiles and trains it with searched
    training settings (so the batch size really changes per trial)."""

    def __init__(self, recipe: config.Recipe, *, data_dir=None, download: bool = True,
                 tune_training: bool = True):
        super().__init__(name=recipe.name)
        if recipe.optimizer not in OPTIMIZERS:
            raise ConfigError(f"recipe optimizer {recipe.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        self.recipe = recipe
        self.task = tasks.get(recipe.task)
        self.architecture_space = architectures.search_space(recipe.architecture)
        self.tune_training = tune_training
        self.data_dir, self.download = data_dir, download
        self._data = OrderedDict()
        self._image_classification = None

    def declare_hyperparameters(self, hp) -> None:
        self.trial_recipe(hp)

    def trial_recipe(self, hp) -> config.Recipe:
        """The recipe a trial with these hyperparameters trains."""
        fields = {}
        if self.tune_training:
            fields = training_space(hp, self.recipe, augment=self._takes_image_augmentation())
        architecture_kwargs = {**self.recipe.architecture_kwargs, **self.architecture_space(hp)}
        return dataclasses.replace(self.recipe, architecture_kwargs=architecture_kwargs, **fields)

    def _takes_image_augmentation(self) -> bool:
        if self._image_classification is None:
            self._image_classification = (self.recipe.task == "classification"
                                          and len(self.data_for(self.recipe).info.input_shape) == 3)
        return self._image_classification

    def data_for(self, recipe: config.Recipe):
        """Pipelines for this batch size and augmentation; the most recent few are kept."""
        key = (recipe.batch_size, json.dumps(recipe.augmentation, sort_keys=True))
        if key not in self._data:
            self._data[key] = self.task.load(recipe, data_dir=self.data_dir, download=self.download)
            while len(self._data) > DATA_CACHE_SIZE:
                self._data.popitem(last=False)
        self._data.move_to_end(key)
        return self._data[key]

    def build(self, hp) -> keras.Model:
        recipe = self.trial_recipe(hp)
        keras.utils.set_random_seed(recipe.seed)
        try:
            return self.task.build(recipe, self.data_for(recipe))
        except (InputTooSmallError, ValueError) as error:
            raise keras_tuner.errors.FailedTrialError(f"could not build the model: {error}") from error

    def fit(self, hp, model, *args, callbacks=(), epochs=1, initial_epoch=0, verbose=0, **kwargs):
        recipe = self.trial_recipe(hp)
        data = self.data_for(recipe)
        compile_model(model, data, optimizer=recipe.optimizer, learning_rate=recipe.learning_rate,
                      schedule=recipe.schedule, weight_decay=recipe.weight_decay, loss=recipe.loss,
                      metrics=recipe.metrics, epochs=max(1, epochs - initial_epoch))
        spec = {name: recipe.callbacks[name] for name in TRIAL_CALLBACKS if name in recipe.callbacks}
        spec.setdefault("terminate_on_nan", {})
        history = model.fit(data.train, validation_data=data.validation, epochs=epochs, initial_epoch=initial_epoch,
                            callbacks=[*callbacks, *build_callbacks(spec, Path.cwd())],
                            verbose=verbose, shuffle=False)
        for epoch, loss in enumerate(history.history.get("loss", []), start=initial_epoch + 1):
            if not math.isfinite(loss):
                raise keras_tuner.errors.FailedTrialError(
                    f"diverged: the training loss became {loss} in epoch {epoch} "
                    f"(optimizer {recipe.optimizer}, learning rate {recipe.learning_rate:.3g})")
        return history


@dataclass
class TrialRecord:
    trial_id: str
    status: str
    score: float | None
    epochs: int | None
    hyperparameters: dict
    reason: str = ""
    worker: str | None = None
    seconds: float | None = None
    rss_mb: float | None = None


@dataclass
class TuneResult:
    """What a search found: the best hyperparameters, every trial, and the retrained best model."""

    recipe: config.Recipe
    objective: str
    direction: str
    best_hyperparameters: dict
    trials: list[TrialRecord]
    project_dir: Path
    best_trial_id: str | None = None
    result: Result | None = None  # the best configuration retrained on train + validation
    extra: dict = field(default_factory=dict)

    @property
    def best_model(self):
        return self.result.model if self.result else None

    @property
    def test_metrics(self) -> dict:
        return self.result.test_metrics if self.result else {}

    @property
    def export_path(self):
        return self.result.export_path if self.result else None

    @property
    def failed(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.status != "COMPLETED"]

    def ranked(self) -> list[TrialRecord]:
        """Completed trials best first, then the ones that failed."""
        completed = [t for t in self.trials if t.status == "COMPLETED" and t.score is not None]
        completed.sort(key=lambda t: t.score, reverse=self.direction == "max")
        return completed + sorted(self.failed, key=lambda t: t.trial_id)

    def table(self, limit: int | None = None) -> str:
        rows = []
        for rank, trial in enumerate(self.ranked()[:limit], start=1):
            score = f"{trial.score:.4f}" if trial.score is not None else "-"
            settings = ", ".join(f"{k}={_short(v)}" for k, v in trial.hyperparameters.items())
            note = trial.reason if trial.status != "COMPLETED" else settings
            rows.append((rank, trial.trial_id, trial.status.lower(), score, trial.epochs or "-",
                         trial.worker or "-", note))
        headers = ("rank", "trial", "status", self.objective, "epochs", "worker", "hyperparameters / reason")
        return format_table(rows, headers)

    def __repr__(self) -> str:
        return (f"TuneResult({self.recipe.name}: {len(self.trials)} trials, best {self.best_trial_id}, "
                f"test {self.test_metrics}, export_path={self.export_path})")


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


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


class _RecipeTunerMixin:
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
            raise _ProcessTrialsSpent()

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_started = time.perf_counter()
        settings = ", ".join(f"{k}={_short(v)}" for k, v in _searched(trial.hyperparameters.values).items())
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
                  "rss_mb": round(_rss_mb(), 1), "pid": os.getpid()}
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


def _tuner_class(kind: str):
    base = {"hyperband": keras_tuner.Hyperband, "random": keras_tuner.RandomSearch,
            "bayesian": keras_tuner.BayesianOptimization, "grid": keras_tuner.GridSearch}[kind]
    return type(f"Recipe{base.__name__}", (_RecipeTunerMixin, base), {})


def _searched(values: dict) -> dict:
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}


def failure_reason(message: str | None) -> str:
    """The last line of keras-tuner's stored traceback, without the exception's module path."""
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    name, sep, text = last.partition(": ")
    return text if sep and "Error" in name.rsplit(".", 1)[-1] else last


def _objective(recipe: config.Recipe, objective) -> keras_tuner.Objective:
    if isinstance(objective, keras_tuner.Objective):
        return objective
    name = objective or ("val_accuracy" if "accuracy" in recipe.metrics else "val_loss")
    if isinstance(name, (tuple, list)):
        return keras_tuner.Objective(*name)
    metric = name.removeprefix("val_")
    if metric == "loss" or metric in ("mae", "mse", "mean_absolute_error", "mean_squared_error"):
        return keras_tuner.Objective(name, "min")
    if metric in ("accuracy", "exact_match", "auc", "precision", "recall") or metric.endswith("accuracy"):
        return keras_tuner.Objective(name, "max")
    raise ConfigError(f"cannot tell whether {name!r} should go up or down; pass objective=({name!r}, 'max') "
                      "or ('...', 'min')")


def _distributed_role() -> str | None:
    """None when not distributed, else "chief" or "worker" (keras-tuner's environment variables)."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if v not in os.environ]
    if missing:
        raise ConfigError(f"KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} is not; set all three "
                          "(see README, distributed tuning)")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def _fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _check_same_search(project_dir: Path, settings: dict) -> None:
    """Refuse to continue a search that was started with different settings."""
    marker = project_dir / "search.json"
    if marker.exists() and json.loads(marker.read_text()).get("fingerprint") != _fingerprint(settings):
        raise TuningError(
            f"{project_dir} holds a search with other settings (recipe, tuner, objective or fixed values "
            "differ). Pass overwrite=True (CLI: --overwrite) to start over, or choose another project_name "
            "(CLI: --directory).")


def _record_search(project_dir: Path, settings: dict) -> None:
    project_dir.mkdir(parents=True, exist_ok=True)
    (project_dir / "search.json").write_text(
        json.dumps({"fingerprint": _fingerprint(settings), "settings": settings}, indent=2, default=str))


def tune(recipe_name: str | config.Recipe, *, tuner: str = "hyperband", max_trials: int | None = None,
         max_epochs: int = 10, objective=None, directory="tuning", project_name: str | None = None,
         overwrite: bool = False, fixed: dict | None = None, max_model_size: int | None = None,
         factor: int = 3, tune_training: bool = True, max_consecutive_failed_trials: int = 3,
         retrain: bool = True, export: bool = True, export_dir="saved_models", data_dir=None,
         download: bool = True, extra_callbacks=(), trials_per_process: int | None = None, verbose: int = 0,
         **overrides) -> TuneResult:
    """Search hyperparameters for a named recipe, then retrain the best on train + validation,
    evaluate it on the test split and export it.

    ``tuner``: ``hyperband`` (``max_epochs`` is the most any trial trains; ``max_trials``, if
    given, caps the number of trials, which cuts the bracket schedule short), ``random``,
    ``bayesian`` or ``grid`` (``max_trials`` trials, default 10, each training ``max_epochs``
    epochs with the recipe's early stopping). ``objective`` defaults to
    ``val_accuracy`` (or ``val_loss``); give ``(name, "min"|"max")`` for other metrics.
    ``fixed`` pins hyperparameters by name, e.g. ``{"batch_size": 64}``; ``overrides`` change the
    recipe itself, as in ``recipes.run``. ``extra_callbacks`` go to every trial's ``fit`` (keras-tuner
    gives each trial a deep copy). ``max_model_size`` fails trials with more parameters.
    A trial that diverges or cannot be built is recorded as failed and the search goes on
    (up to ``max_consecutive_failed_trials`` in a row).

    ``trials_per_process`` runs the trials in child processes of that many trials each, one
    after the other, continuing the same search. TensorFlow keeps some memory from every model
    it has built, even after ``clear_session``; a process that ends gives it all back, so a
    long search stays within a fixed footprint.
    """
    if tuner not in TUNERS:
        raise ConfigError(f"unknown tuner {tuner!r}; choose one of {', '.join(TUNERS)}")
    if max_trials is None and tuner != "hyperband":
        max_trials = DEFAULT_MAX_TRIALS
    if max_trials is not None and max_trials < 1:
        raise ConfigError(f"max_trials must be at least 1, got {max_trials}")
    if max_epochs < 1:
        raise ConfigError(f"max_epochs must be at least 1, got {max_epochs}")
    recipe = recipe_name if isinstance(recipe_name, config.Recipe) else config.get(recipe_name)
    recipe = config.with_overrides(recipe, overrides)
    role = _distributed_role()
    # keras-tuner prints the whole traceback of every failed trial; the summary gives its reason.
    keras_tuner_config.DEBUG = bool(os.environ.get("KERAS_RECIPES_DEBUG"))
    objective = _objective(recipe, objective)
    project_dir = Path(directory) / (project_name or recipe.name)
    settings = {"recipe": recipe.to_dict(), "tuner": tuner, "objective": [objective.name, objective.direction],
                "max_trials": max_trials, "max_epochs": max_epochs, "fixed": fixed or {},
                "tune_training": tune_training, "max_model_size": max_model_size}
    owner = role != "worker"  # workers share the chief's folder and never reset it
    if not overwrite:
        _check_same_search(project_dir, settings)
    child = bool(os.environ.get(CHILD_ENV))
    if trials_per_process and not child and role is None:
        if not isinstance(recipe_name, str) or extra_callbacks:
            raise ConfigError("trials_per_process needs the recipe by name and no extra_callbacks "
                              "(they cannot cross into the child processes)")
        _run_in_children(dict(recipe_name=recipe_name, tuner=tuner, max_trials=max_trials, max_epochs=max_epochs,
                              objective=[objective.name, objective.direction], directory=str(directory),
                              project_name=project_name, overwrite=overwrite, fixed=fixed,
                              max_model_size=max_model_size, factor=factor, tune_training=tune_training,
                              max_consecutive_failed_trials=max_consecutive_failed_trials, retrain=False,
                              data_dir=None if data_dir is None else str(data_dir), download=download,
                              trials_per_process=trials_per_process, verbose=verbose, **overrides))
        overwrite = False  # the first child started the search over if asked to

    hypermodel = RecipeHyperModel(recipe, data_dir=data_dir, download=download, tune_training=tune_training)
    hyperparameters = keras_tuner.HyperParameters()
    for name, value in (fixed or {}).items():
        hyperparameters.Fixed(name, value)
    common = dict(hypermodel=hypermodel, objective=objective, hyperparameters=hyperparameters,
                  directory=str(directory), project_name=project_name or recipe.name,
                  overwrite=overwrite and owner, seed=recipe.seed, max_model_size=max_model_size,
                  max_consecutive_failed_trials=max_consecutive_failed_trials)
    if tuner == "hyperband":
        search = _tuner_class(tuner)(max_epochs=max_epochs, factor=factor, **common)
        if max_trials:
            search.oracle.max_trials = max_trials
    else:
        search = _tuner_class(tuner)(max_trials=max_trials, **common)
    if owner:
        _record_search(project_dir, settings)

    remaining = search.oracle.remaining_trials() if owner else None
    log.info("%s: %s search over %s (%s); %s", recipe.name, tuner, recipe.architecture, project_dir,
             f"{remaining} trials to go" if remaining is not None else "trials from the chief")
    if child and trials_per_process:
        search.trials_left = trials_per_process
    if not (trials_per_process and not child and role is None):  # else the children ran it
        try:
            search.search(epochs=max_epochs, callbacks=list(extra_callbacks), verbose=verbose)
        except _ProcessTrialsSpent:
            raise SystemExit(MORE_TRIALS_EXIT) from None

    if role == "worker":
        return TuneResult(recipe, objective.name, objective.direction, {}, _worker_trials(project_dir, search.tuner_id),
                          project_dir)
    found = summarize(search, recipe, project_dir)
    completed = [t for t in found.trials if t.status == "COMPLETED"]
    if not completed:
        reasons = "; ".join(f"trial {t.trial_id}: {t.reason}" for t in found.trials) or "no trial ran"
        raise TuningError(f"no trial of {recipe.name} completed ({reasons}). Narrow the search with fixed=... "
                          "or lower the learning rate range.")
    log.info("%s: best trial %s, %s %.4f\n%s", recipe.name, found.best_trial_id, objective.name,
             found.ranked()[0].score, found.table())
    if retrain:
        found.result = retrain_best(found, hypermodel, export=export, export_dir=export_dir, data_dir=data_dir,
                                    download=download, verbose=verbose)
    return found


def _run_in_children(arguments: dict) -> None:
    """Run the search in fresh processes of ``trials_per_process`` trials each until it is done."""
    environment = {**os.environ, CHILD_ENV: "1"}
    for process_number in itertools.count(1):
        log.info("tuning process %d starts", process_number)
        status = subprocess.run([sys.executable, "-m", "recipes.tuning", json.dumps(arguments, default=str)],
                                env=environment).returncode
        if status == 0:
            return
        if status != MORE_TRIALS_EXIT:
            raise TuningError(f"tuning process {process_number} exited with status {status}; its output is "
                              "above. Run the same call again to continue the search.")
        arguments["overwrite"] = False


def summarize(search, recipe: config.Recipe, project_dir: Path) -> TuneResult:
    """Every trial the oracle holds, with the worker that ran it where that was recorded."""
    runs = {}
    for path in sorted((project_dir / "workers").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            runs[json.loads(line)["trial_id"]] = {**json.loads(line), "worker": path.stem}
    oracle = search.oracle
    trials = []
    for trial_id, trial in sorted(oracle.trials.items()):
        run = runs.get(trial_id, {})
        trials.append(TrialRecord(
            trial_id=trial_id, status=trial.status, score=trial.score,
            epochs=None if trial.best_step is None or trial.score is None else trial.best_step + 1,
            hyperparameters=_searched(trial.hyperparameters.values), reason=failure_reason(trial.message),
            worker=run.get("worker"), seconds=run.get("seconds"), rss_mb=run.get("rss_mb")))
    best = oracle.get_best_trials(1)
    objective = oracle.objective
    return TuneResult(recipe, objective.name, objective.direction,
                      _searched(best[0].hyperparameters.values) if best else {}, trials, project_dir,
                      best_trial_id=best[0].trial_id if best else None, extra={"best_trial": best[0] if best else None})


def _worker_trials(project_dir: Path, tuner_id: str) -> list[TrialRecord]:
    path = project_dir / "workers" / f"{tuner_id}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [TrialRecord(r["trial_id"], r["status"], None, None, {}, worker=tuner_id, seconds=r["seconds"],
                        rss_mb=r["rss_mb"]) for r in rows]


def retrain_best(found: TuneResult, hypermodel: RecipeHyperModel, *, export: bool, export_dir, data_dir,
                 download: bool, verbose) -> Result:
    """Train the winning configuration on train + validation for the epochs that scored best,
    through ``recipes.run``, and export it with the search recorded in its metadata."""
    from recipes.runner import run

    best_trial = found.extra["best_trial"]
    best = dataclasses.replace(hypermodel.trial_recipe(best_trial.hyperparameters), validation_split=0.0)
    epochs = (best_trial.best_step or 0) + 1
    merged = hypermodel.task.load(best, data_dir=data_dir, download=download).validation is None
    tuning = {
        "tuner": json.loads((found.project_dir / "search.json").read_text())["settings"]["tuner"],
        "objective": found.objective, "direction": found.direction, "best_trial": found.best_trial_id,
        "best_score": best_trial.score, "hyperparameters": found.best_hyperparameters,
        "trials_completed": sum(t.status == "COMPLETED" for t in found.trials),
        "trials_failed": len(found.failed), "retrained_epochs": epochs,
        "retrained_on": "train+validation" if merged else "train (this task keeps a fixed validation split)",
        "directory": str(found.project_dir),
    }
    log.info("%s: retraining trial %s's configuration on %s for %d epochs", best.name, found.best_trial_id,
             tuning["retrained_on"], epochs)
    result = run(best, epochs=epochs, export=export, export_dir=export_dir,
                 work_dir=found.project_dir / "best", data_dir=data_dir, download=download,
                 verbose=2 if verbose else 0, extra_metadata={"tuning": tuning})
    return result


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def launch_distributed(recipe_name: str, *, workers: int = 2, host: str = "127.0.0.1", port: int | None = None,
                       timeout: float | None = None, **tune_kwargs) -> int:
    """Run one search as keras-tuner's chief (the oracle, which also retrains and exports the
    winner) plus ``workers`` worker processes on this machine; returns the chief's exit status.

    Every process runs ``tune(recipe_name, **tune_kwargs)`` with keras-tuner's environment
    variables set. On several machines, start the same processes yourself (README).
    """
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    port = port or free_port(host)
    arguments = json.dumps({"recipe_name": recipe_name, **tune_kwargs}, default=str)
    processes = {}
    try:
        for tuner_id in ["chief", *(f"worker{i}" for i in range(1, workers + 1))]:
            environment = {**os.environ, "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": host,
                           "KERASTUNER_ORACLE_PORT": str(port)}
            processes[tuner_id] = subprocess.Popen([sys.executable, "-m", "recipes.tuning", arguments],
                                                   env=environment)
        log.info("started a chief and %d workers on %s:%d", workers, host, port)
        deadline = None if timeout is None else time.monotonic() + timeout
        while any(p.poll() is None for p in processes.values()):
            failed = [t for t, p in processes.items() if p.poll() not in (None, 0)]
            if failed:
                raise TuningError(f"{', '.join(failed)} exited with status "
                                  f"{', '.join(str(processes[t].returncode) for t in failed)}; stopping the others")
            if deadline is not None and time.monotonic() > deadline:
                raise TuningError(f"distributed search did not finish within {timeout:.0f} s")
            time.sleep(0.5)
        return processes["chief"].returncode
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _main(arguments: str) -> int:
    """Entry point of one process started by ``launch_distributed``."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    logging.basicConfig(level=logging.INFO, format=f"[{tuner_id}] %(message)s")
    found = tune(**json.loads(arguments))
    if found.export_path:
        print(f"[{tuner_id}] exported: {found.export_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
