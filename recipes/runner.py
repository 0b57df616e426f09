"""``run(name, **overrides)``: a named recipe through the same public pieces a script would use:
``data.load`` -> architecture builder -> ``compile_and_fit`` -> ``export``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

import architectures
from callbacks import plot_confusion_matrix, plot_decision_boundary
from recipes import config, data as datasets
from recipes.saved_models import export as export_model
from recipes.training import Result, compile_and_fit

log = logging.getLogger("keras_recipes")
OUTPUT_NAME = "probabilities"


def classifier_for(info: datasets.DatasetInfo, architecture: str, **architecture_kwargs) -> keras.Model:
    """The registered architecture behind an input named after the data (``pixels``) that takes raw
    values and rescales them to [0, 1] inside the graph, so the exported model needs no client-side
    preprocessing."""
    backbone = architectures.build(architecture, input_shape=info.input_shape,
                                   num_classes=info.num_classes, **architecture_kwargs)
    inputs = keras.Input(info.input_shape, name=info.input_name)
    x = inputs
    if info.value_range is not None:
        x = keras.layers.Rescaling(1.0 / info.value_range, name="rescale")(inputs)
    return keras.Model(inputs, backbone(x), name=f"{architecture}_{info.name}")


def run(name: str | config.Recipe, *, data_dir=None, export_dir="saved_models", export: bool = True,
        work_dir="runs", extra_callbacks=(), verbose="auto", download: bool = True,
        **overrides) -> Result:
    """Train, evaluate and (by default) export a named recipe; keyword overrides replace config
    fields, e.g. ``run("fashion_mnist_cnn", epochs=3, architecture_kwargs={"dropout": 0.3})``.

    Checkpoints, logs and plots go to ``<work_dir>/<name>/<config hash>/``: running the same
    config again after a crash resumes from the last completed epoch.
    """
    recipe = name if isinstance(name, config.Recipe) else config.get(name)
    recipe = config.with_overrides(recipe, overrides)
    keras.utils.set_random_seed(recipe.seed)

    data = datasets.load(
        recipe.dataset, data_dir=data_dir, batch_size=recipe.batch_size,
        validation_split=recipe.validation_split, seed=recipe.seed, train_limit=recipe.train_limit,
        test_limit=recipe.test_limit, augmentation=recipe.augmentation, download=download,
    )
    info = data.info
    log.info("%s: %s from %s (%d train / %d validation / %d test)", recipe.name, info.name,
             info.source, info.num_train, info.num_validation, info.num_test)
    model = classifier_for(info, recipe.architecture, **recipe.architecture_kwargs)
    run_dir = Path(work_dir) / recipe.name / recipe.fingerprint()
    log.info("%s: %s, %s parameters; run folder %s", recipe.name, recipe.architecture,
             f"{model.count_params():,}", run_dir)

    result = compile_and_fit(
        model, data, optimizer=recipe.optimizer, learning_rate=recipe.learning_rate,
        schedule=recipe.schedule, weight_decay=recipe.weight_decay, loss=recipe.loss,
        metrics=recipe.metrics, epochs=recipe.epochs, callbacks=recipe.callbacks,
        extra_callbacks=extra_callbacks, run_dir=run_dir, verbose=verbose,
    )
    result.recipe = recipe
    result.plots = _plots(recipe, model, data, run_dir)
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
    }
    if export:
        result.export_path = export_model(
            model, recipe.name, export_dir=export_dir, input_name=info.input_name,
            output_name=OUTPUT_NAME, metadata={**summary, "value_range": info.value_range},
        )
        log.info("%s: exported to %s", recipe.name, result.export_path)
    (run_dir / "result.json").write_text(json.dumps(
        {**summary, "export_path": str(result.export_path) if result.export_path else None}, indent=2, default=str))
    return result


def _plots(recipe: config.Recipe, model: keras.Model, data: datasets.Data, run_dir: Path) -> list[Path]:
    written = []
    x_test, y_test = data.arrays["test"]
    if "confusion_matrix" in recipe.plots:
        predicted = np.argmax(model.predict(data.test, verbose=0), axis=-1)
        written.append(plot_confusion_matrix(y_test, predicted, data.info.class_names,
                                             run_dir / "plots" / "confusion_matrix.png",
                                             title=f"{recipe.name}: confusion matrix (test)"))
    if "decision_boundary" in recipe.plots:
        x_train, y_train = data.arrays["train"]
        written.append(plot_decision_boundary(lambda grid: model.predict(grid, verbose=0, batch_size=4096),
                                              x_train, y_train,
                                              run_dir / "plots" / "decision_boundary.png",
                                              title=f"{recipe.name}: decision boundary"))
    return [path for path in written if path is not None]
