"""Images or feature vectors -> class probabilities: the task of every image recipe."""

from __future__ import annotations

import keras
import numpy as np

import architectures
from callbacks import augmentation_pipeline, plot_confusion_matrix, plot_decision_boundary
from recipes import data as datasets
from recipes.saved_models import export as export_model
from recipes.tasks import OUTPUT_NAME, Task, register_task


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


def augmentation_for(recipe, raw: datasets.RawData):
    """The recipe's ``augmentation`` options as a Keras pipeline for these images (None if off)."""
    if not recipe.augmentation:
        return None
    value_range = (0, raw.value_range) if raw.value_range else (0, 1)
    return augmentation_pipeline(input_shape=raw.x_train.shape[1:], value_range=value_range, seed=recipe.seed,
                                 **recipe.augmentation)


@register_task
class Classification(Task):
    """Images or feature vectors -> class probabilities (``pixels -> probabilities``)."""

    name = "classification"

    def load(self, recipe, *, data_dir=None, download=True):
        raw = datasets.load_arrays(recipe.dataset, data_dir=data_dir, download=download, seed=recipe.seed)
        return datasets.from_arrays(
            recipe.dataset, raw, batch_size=recipe.batch_size, validation_split=recipe.validation_split,
            seed=recipe.seed, train_limit=recipe.train_limit, test_limit=recipe.test_limit,
            augmentation=augmentation_for(recipe, raw))

    def build(self, recipe, data):
        return classifier_for(data.info, recipe.architecture, **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        written = []
        plots = context.run_dir / "plots"
        x_test, y_test = data.arrays["test"]
        if "confusion_matrix" in recipe.plots:
            predicted = np.argmax(model.predict(data.test, verbose=0), axis=-1)
            written.append(plot_confusion_matrix(y_test, predicted, data.info.class_names,
                                                 plots / "confusion_matrix.png",
                                                 title=f"{recipe.name}: confusion matrix (test)"))
        if "decision_boundary" in recipe.plots:
            x_train, y_train = data.arrays["train"]
            written.append(plot_decision_boundary(lambda grid: model.predict(grid, verbose=0, batch_size=4096),
                                                  x_train, y_train, plots / "decision_boundary.png",
                                                  title=f"{recipe.name}: decision boundary"))
        return {}, [path for path in written if path is not None]

    def export(self, recipe, model, data, *, export_dir, metadata):
        return export_model(model, recipe.name, export_dir=export_dir, input_name=data.info.input_name,
                            output_name=OUTPUT_NAME,
                            metadata={**metadata, "value_range": data.info.value_range})
