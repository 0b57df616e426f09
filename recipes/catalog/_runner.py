"""``run(name, **overrides)``: a named recipe through the same public pieces a script would use:
the task's data -> architecture builder -> ``compile_and_fit`` -> ``export``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras

from recipes import tasks
from recipes.catalog._recipe import Recipe, get, with_overrides
from recipes.training import Result, compile_and_fit

log = logging.getLogger("keras_recipes")


def run(name: str | Recipe, *, data_dir=None, export_dir="saved_models", export: bool = True,
        work_dir="runs", extra_callbacks=(), verbose="auto", download: bool = True,
        extra_metadata: dict | None = None, **overrides) -> Result:
    """Train, evaluate and (by default) export a named recipe; keyword overrides replace config
    fields, e.g. ``run("fashion_mnist_cnn", epochs=3, architecture_kwargs={"dropout": 0.3})``.

    Checkpoints, logs and plots go to ``<work_dir>/<name>/<config hash>/``: running the same
    config again after a crash resumes from the last completed epoch. ``extra_metadata`` is added
    to the exported ``metadata.json`` and ``result.json``.
    """
    recipe = name if isinstance(name, Recipe) else get(name)
    recipe = with_overrides(recipe, overrides)
    keras.utils.set_random_seed(recipe.seed)

    task = tasks.get(recipe.task)
    data = task.load(recipe, data_dir=data_dir, download=download)
    info = data.info
    log.info("%s: %s from %s (%d train / %d validation / %d test)", recipe.name, info.name,
             info.source, info.num_train, info.num_validation, info.num_test)
    model = task.build(recipe, data)
    run_dir = Path(work_dir) / recipe.name / recipe.fingerprint()
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
        result.export_path = task.export(recipe, model, data, export_dir=export_dir, metadata=summary)
        log.info("%s: exported to %s", recipe.name, result.export_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "result.json").write_text(json.dumps(
        {**summary, "export_path": str(result.export_path) if result.export_path else None}, indent=2, default=str))
    return result
