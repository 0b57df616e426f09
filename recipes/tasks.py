"""What differs between kinds of recipe: how data loads, how the trainable model wraps the
registered builder, what is measured beyond ``model.evaluate``, and what the export serves.

Training itself is the same for all of them (``recipes.training.compile_and_fit``). A recipe
names its task (``Recipe.task``); tasks are registered here by name.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import keras
import numpy as np

import architectures
from callbacks import plot_confusion_matrix, plot_decision_boundary
from recipes import data as datasets
from recipes.errors import UnknownNameError
from recipes.saved_models import export as export_model

_TASK_MODULES = ("recipes.text", "recipes.timeseries", "recipes.function_fit", "recipes.super_resolution",
                 "recipes.segmentation", "recipes.autoencoders", "recipes.gan")
_tasks: dict[str, "Task"] = {}


class Task:
    """Base class: subclass it, set ``name``, and decorate with ``@register_task``."""

    name = ""

    def load(self, recipe, *, data_dir=None, download=True) -> datasets.Data:
        raise NotImplementedError

    def build(self, recipe, data: datasets.Data) -> keras.Model:
        raise NotImplementedError

    def evaluate(self, recipe, model, data: datasets.Data, run_dir: Path) -> tuple[dict, list[Path]]:
        """Metrics beyond ``model.evaluate`` on the test split, and plots written to ``run_dir``."""
        return {}, []

    def export(self, recipe, model, data: datasets.Data, *, export_dir, metadata: dict) -> Path:
        raise NotImplementedError


def register_task(task_class):
    _tasks[task_class.name] = task_class()
    return task_class


def get(name: str) -> Task:
    if name not in _tasks:
        for module in _TASK_MODULES:
            importlib.import_module(module)
    if name not in _tasks:
        raise UnknownNameError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_tasks))}")
    return _tasks[name]


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


@register_task
class Classification(Task):
    """Images or feature vectors -> class probabilities (``pixels -> probabilities``)."""

    name = "classification"

    def load(self, recipe, *, data_dir=None, download=True):
        return datasets.load(
            recipe.dataset, data_dir=data_dir, batch_size=recipe.batch_size,
            validation_split=recipe.validation_split, seed=recipe.seed, train_limit=recipe.train_limit,
            test_limit=recipe.test_limit, augmentation=recipe.augmentation, download=download,
        )

    def build(self, recipe, data):
        return classifier_for(data.info, recipe.architecture, **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, run_dir):
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
        return {}, [path for path in written if path is not None]

    def export(self, recipe, model, data, *, export_dir, metadata):
        return export_model(model, recipe.name, export_dir=export_dir, input_name=data.info.input_name,
                            output_name=OUTPUT_NAME,
                            metadata={**metadata, "value_range": data.info.value_range})
