"""``run(name, **overrides)``: a named recipe through the same public pieces a script would use:
the task's data -> architecture builder -> ``compile_and_fit`` -> ``export``."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import keras

from recipes import tasks
from recipes.catalog._recipe import Recipe, get, with_overrides
from recipes.training import Result, compile_and_fit

log = logging.getLogger("keras_recipes")


def run(name: str | Recipe, *, data=None, target: str | None = None, image_size=None, color_mode: str | None = None,
        bad_files: str = "stop",
        data_dir=None, export_dir="saved_models", export: bool = True, export_name: str | None = None,
        work_dir="runs", extra_callbacks=(), verbose="auto", download: bool = True,
        extra_metadata: dict | None = None, **overrides) -> Result:
    """Train, evaluate and (by default) export a named recipe; keyword overrides replace config
    fields, e.g. ``run("fashion_mnist_cnn", epochs=3, architecture_kwargs={"dropout": 0.3})``.

    ``data`` runs the recipe's training configuration on your own data instead of its dataset:
    a folder of class subfolders of images, numpy ``(x, y)``, a ``tf.data.Dataset``, a
    ``keras.utils.PyDataset`` or a ``(train, validation[, test])`` tuple of them
    (``recipes.data.as_data``), or for the tabular recipes a CSV file whose ``target`` column is
    the label; the architecture adapts to its input shape and classes. Images
    are resized to the recipe's input size and channels unless ``image_size`` (height, width) or
    ``color_mode`` say otherwise; ``bad_files="skip"`` leaves unreadable images out. The export is
    then named ``<recipe>_<data name>`` unless ``export_name`` is given.

    Checkpoints, logs and plots go to ``<work_dir>/<name>/<config hash>/``: running the same
    config again after a crash resumes from the last completed epoch. ``extra_metadata`` is added
    to the exported ``metadata.json`` and ``result.json``.
    """
    recipe = name if isinstance(name, Recipe) else get(name)
    recipe = with_overrides(recipe, overrides)
    keras.utils.set_random_seed(recipe.seed)

    task = tasks.get(recipe.task)
    own_data = data is not None
    if not own_data:
        data = task.load(recipe, data_dir=data_dir, download=download)
    else:
        data = task.load_user_data(recipe, tasks.UserData(data, target=target, image_size=image_size,
                                                           color_mode=color_mode, bad_files=bad_files))
    info = data.info
    log.info("%s: %s from %s (%d train / %d validation / %d test)", recipe.name, info.name,
             info.source, info.num_train, info.num_validation, info.num_test)
    model = task.build(recipe, data)
    run_dir = Path(work_dir) / recipe.name / _fingerprint(recipe, info, own_data=own_data)
    log.info("%s: %s, %s parameters; run folder %s", recipe.name, recipe.architecture,
             f"{model.count_params():,}", run_dir)

    result = compile_and_fit(
        model, data, optimizer=recipe.optimizer, learning_rate=recipe.learning_rate,
        schedule=recipe.schedule, weight_decay=recipe.weight_decay, optimizer_options=recipe.optimizer_options,
        loss=recipe.loss, metrics=recipe.metrics, epochs=recipe.epochs, callbacks=recipe.callbacks,
        extra_callbacks=extra_callbacks, run_dir=run_dir, verbose=verbose,
    )
    result.recipe = recipe

    def train_recipe(other: str) -> keras.Model:
        return run(other, data_dir=data_dir, download=download, export=False, work_dir=run_dir / "runs",
                   verbose=verbose).model

    context = tasks.RunContext(run_dir=run_dir, data_dir=data_dir, download=download, train_recipe=train_recipe)
    extra_metrics, result.plots = task.evaluate(recipe, model, data, context)
    result.test_metrics.update(extra_metrics)
    if (run_dir / "plots" / "training_curves.png").exists():
        result.plots.insert(0, run_dir / "plots" / "training_curves.png")

    summary = {
        "recipe": recipe.to_dict(),
        "dataset": {"name": info.name, "source": info.source, "num_train": info.num_train,
                    "num_validation": info.num_validation, "num_test": info.num_test,
                    "class_names": list(info.class_names)},
        "test_metrics": result.test_metrics,
        "expected": recipe.expected,
        "timings": result.timings,
        **(extra_metadata or {}),
    }
    if export:
        if export_name is None:
            export_name = _safe_name(f"{recipe.name}_{info.name}") if own_data else recipe.name
        result.export_path = task.export(recipe, model, data, export_dir=export_dir, metadata=summary,
                                         name=export_name)
        log.info("%s: exported to %s", recipe.name, result.export_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "result.json").write_text(json.dumps(
        {**summary, "export_path": str(result.export_path) if result.export_path else None}, indent=2, default=str))
    return result


def _fingerprint(recipe: Recipe, info, *, own_data: bool) -> str:
    """The run folder's name: the recipe's hash, and on your own data also the data's, so that a
    run resumes only on the data it started on."""
    if not own_data:
        return recipe.fingerprint()
    described = json.dumps([recipe.fingerprint(), info.source, info.num_train, info.num_validation, info.num_test,
                            list(info.input_shape) if isinstance(info.input_shape, tuple) else str(info.input_shape),
                            list(info.class_names)], default=str)
    return hashlib.sha256(described.encode()).hexdigest()[:10]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-") or "model"
