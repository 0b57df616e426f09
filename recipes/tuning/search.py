"""``tune``: a keras-tuner search over a named recipe, resumable, then the winner retrained on
train + validation, tested once and exported."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import keras_tuner
from keras_tuner.src import config as keras_tuner_config

from recipes.catalog import Recipe, get, with_overrides
from recipes.errors import ConfigError, TuningError
from recipes.tasks import UserData
from recipes.training import Result, make_optimizer
from recipes.training.distribute import make_strategy
from recipes.tuning.distributed import distributed_role
from recipes.tuning.hypermodel import RecipeHyperModel, applied_settings
from recipes.tuning.results import TuneResult, summarize, worker_trials
from recipes.tuning.tuners import ProcessTrialsSpent, tuner_class

log = logging.getLogger("keras_recipes")

TUNERS = ("hyperband", "random", "bayesian", "grid")
DEFAULT_MAX_TRIALS = 10
CHILD_ENV = "KERAS_RECIPES_TUNING_CHILD"
MORE_TRIALS_EXIT = 3  # a child's exit status when the search has trials left


def _objective(recipe: Recipe, objective) -> keras_tuner.Objective:
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


def tune(recipe_name: str | Recipe, *, tuner: str = "hyperband", max_trials: int | None = None,
         max_epochs: int = 10, objective=None, directory="tuning", project_name: str | None = None,
         overwrite: bool = False, fixed: dict | None = None, max_model_size: int | None = None,
         factor: int = 3, tune_training: bool = True, max_consecutive_failed_trials: int = 3,
         retrain: bool = True, export: bool = True, export_dir="saved_models", export_name: str | None = None,
         seed: int | None = None, data_dir=None,
         download: bool = True, extra_callbacks=(), trials_per_process: int | None = None, verbose: int = 0,
         data=None, target: str | None = None, image_size=None, color_mode: str | None = None,
         bad_files: str = "stop", distribute=None,
         **overrides) -> TuneResult:
    """Search hyperparameters for a named recipe, then retrain the best on train + validation,
    evaluate it on the test split and export it.

    The winner is exported under a name of its own, ``<recipe>_tuned`` (on your own data
    ``<recipe>_<data name>_tuned``), or ``export_name``, never as a new version of the recipe's own
    model: a search's winner is tested once, and it should not silently become the model a server
    already serves. To publish it in the recipe's place, pass ``export_name=<recipe>`` yourself.

    ``seed`` is the search's seed: the tuner's draws and every trial's training (set into the
    recipe, so the retrain uses it too); None keeps the recipe's own ``seed``.

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

    ``data`` (with ``target``, ``image_size``, ``color_mode``, ``bad_files``) searches on your own data, as
    ``recipes.run`` takes it; across processes (``trials_per_process``, distributed search) it must
    be a path.

    ``distribute`` gives every trial keras-tuner's ``distribution_strategy``: ``"mirrored"``,
    ``"multi_worker"`` or a ``tf.distribute`` strategy (``recipes.training.distribute``); each trial's
    model is built and trained under it, and a trial's batch size is then the global batch. Trials
    are built under the recipe's ``precision``.

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
    recipe = recipe_name if isinstance(recipe_name, Recipe) else get(recipe_name)
    if seed is not None:
        overrides = {**overrides, "seed": seed}
    recipe = with_overrides(recipe, overrides)
    role = distributed_role()
    # keras-tuner prints the whole traceback of every failed trial; the summary gives its reason.
    keras_tuner_config.DEBUG = bool(os.environ.get("KERAS_RECIPES_DEBUG"))
    objective = _objective(recipe, objective)
    project_dir = Path(directory) / (project_name or recipe.name)
    user_data = None if data is None else UserData(data, target=target,
                                                   image_size=tuple(image_size) if image_size else None,
                                                   color_mode=color_mode, bad_files=bad_files)
    settings = {"recipe": recipe.to_dict(), "tuner": tuner, "objective": [objective.name, objective.direction],
                "max_trials": max_trials, "max_epochs": max_epochs, "fixed": fixed or {},
                "tune_training": tune_training, "max_model_size": max_model_size,
                **({"data": _describe_data(user_data)} if user_data else {})}
    owner = role != "worker"  # workers share the chief's folder and never reset it
    if not overwrite:
        _check_same_search(project_dir, settings)
    child = bool(os.environ.get(CHILD_ENV))
    if trials_per_process and not child and role is None:
        if not isinstance(recipe_name, str) or extra_callbacks or not _is_path(data):
            raise ConfigError("trials_per_process needs the recipe by name, no extra_callbacks and data (if any) "
                              "as a path: they cross into the child processes")
        _run_in_children(dict(recipe_name=recipe_name, tuner=tuner, max_trials=max_trials, max_epochs=max_epochs,
                              objective=[objective.name, objective.direction], directory=str(directory),
                              project_name=project_name, overwrite=overwrite, fixed=fixed,
                              max_model_size=max_model_size, factor=factor, tune_training=tune_training,
                              max_consecutive_failed_trials=max_consecutive_failed_trials, retrain=False,
                              data_dir=None if data_dir is None else str(data_dir), download=download,
                              trials_per_process=trials_per_process, verbose=verbose,
                              distribute=distribute if isinstance(distribute, str) else None,
                              **({"data": str(data), "target": target, "image_size": image_size,
                                  "color_mode": color_mode, "bad_files": bad_files} if data is not None else {}),
                              **overrides))
        overwrite = False  # the first child started the search over if asked to

    hypermodel = RecipeHyperModel(recipe, data_dir=data_dir, download=download, tune_training=tune_training,
                                  user_data=user_data)
    hyperparameters = keras_tuner.HyperParameters()
    for name, value in (fixed or {}).items():
        hyperparameters.Fixed(name, value)
    common = dict(hypermodel=hypermodel, objective=objective, hyperparameters=hyperparameters,
                  directory=str(directory), project_name=project_name or recipe.name,
                  overwrite=overwrite and owner, seed=recipe.seed, max_model_size=max_model_size,
                  max_consecutive_failed_trials=max_consecutive_failed_trials,
                  distribution_strategy=make_strategy(distribute))
    if tuner == "hyperband":
        search = tuner_class(tuner)(max_epochs=max_epochs, factor=factor, **common)
        if max_trials:
            search.oracle.max_trials = max_trials
    else:
        search = tuner_class(tuner)(max_trials=max_trials, **common)
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
        except ProcessTrialsSpent:
            raise SystemExit(MORE_TRIALS_EXIT) from None

    if role == "worker":
        return TuneResult(recipe, objective.name, objective.direction, {}, worker_trials(project_dir, search.tuner_id),
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
                                    download=download, verbose=verbose, export_name=export_name)
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


def tuned_name(recipe_name: str, data_name: str | None = None) -> str:
    """The name a search's winner is exported under unless told otherwise."""
    from recipes.catalog._runner import _safe_name

    return _safe_name(f"{recipe_name}_{data_name}_tuned" if data_name else f"{recipe_name}_tuned")


def retrain_best(found: TuneResult, hypermodel: RecipeHyperModel, *, export: bool, export_dir, data_dir,
                 download: bool, verbose, export_name: str | None = None) -> Result:
    """Train the winning configuration on train + validation for the epochs that scored best,
    through ``recipes.run``, and export it as ``export_name`` (default ``tuned_name(...)``) with
    the search recorded in its metadata."""
    from recipes.catalog._runner import run

    best_trial = found.extra["best_trial"]
    best = dataclasses.replace(hypermodel.trial_recipe(best_trial.hyperparameters), validation_split=0.0)
    epochs = (best_trial.best_step or 0) + 1
    loaded = hypermodel.load(best)
    merged = loaded.validation is None
    if export_name is None:
        export_name = tuned_name(best.name, loaded.info.name if hypermodel.user_data is not None else None)
    tuning = {
        "tuner": json.loads((found.project_dir / "search.json").read_text())["settings"]["tuner"],
        "objective": found.objective, "direction": found.direction, "best_trial": found.best_trial_id,
        "best_score": best_trial.score, "hyperparameters": found.best_hyperparameters,
        "trials_completed": sum(t.status == "COMPLETED" for t in found.trials),
        "trials_failed": len(found.failed), "retrained_epochs": epochs, "seed": best.seed,
        "export_name": export_name, "applied_weight_decay": applied_settings(make_optimizer(
            best.optimizer, 1e-3, weight_decay=best.weight_decay, **best.optimizer_options))["applied_weight_decay"],
        "retrained_on": "train+validation" if merged else "train (this task keeps a fixed validation split)",
        "directory": str(found.project_dir),
    }
    log.info("%s: retraining trial %s's configuration on %s for %d epochs", best.name, found.best_trial_id,
             tuning["retrained_on"], epochs)
    user = hypermodel.user_data
    own = {} if user is None else {"data": user.source, "target": user.target, "image_size": user.image_size,
                                   "color_mode": user.color_mode, "bad_files": user.bad_files}
    result = run(best, epochs=epochs, export=export, export_dir=export_dir,
                 work_dir=found.project_dir / "best", data_dir=data_dir, download=download,
                 verbose=2 if verbose else 0, extra_metadata={"tuning": tuning}, export_name=export_name, **own)
    return result


def _is_path(data) -> bool:
    return data is None or isinstance(data, (str, os.PathLike))


def _describe_data(user: UserData) -> dict:
    """What the search's settings record of its data, to refuse continuing a search on other data."""
    source = str(Path(user.source).resolve()) if _is_path(user.source) else f"{type(user.source).__name__} in memory"
    return {"source": source, "target": user.target, "image_size": user.image_size, "color_mode": user.color_mode}
