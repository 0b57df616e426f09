"""Images or feature vectors -> class probabilities: the task of every image recipe, on its own
dataset or on yours."""

from __future__ import annotations

import logging

import keras
import numpy as np

import architectures
from callbacks import augmentation_pipeline, plot_confusion_matrix, plot_decision_boundary
from recipes import data as datasets
from recipes.saved_models import export as export_model
from recipes.tasks import OUTPUT_NAME, Task, UserData, register_task

log = logging.getLogger("keras_recipes")

COLOR_MODES = {1: "grayscale", 3: "rgb"}


def classifier_for(info: datasets.DatasetInfo, architecture: str, **architecture_kwargs) -> keras.Model:
    """The registered architecture behind an input named after the data (``pixels``) that takes raw
    values and rescales them to [0, 1] inside the graph, so the exported model needs no client-side
    preprocessing. For data resized to ``info.resized_to``, the model takes images of any size and
    resizes them the same way first."""
    backbone = architectures.build(architecture, input_shape=info.input_shape,
                                   num_classes=info.num_classes, **architecture_kwargs)
    if info.resized_to:
        inputs = keras.Input((None, None, info.input_shape[-1]), name=info.input_name)
        x = keras.layers.Resizing(*info.resized_to, interpolation="bilinear", name="resize")(inputs)
    else:
        x = inputs = keras.Input(info.input_shape, name=info.input_name)
    if info.value_range is not None:
        x = keras.layers.Rescaling(1.0 / info.value_range, name="rescale")(x)
    return keras.Model(inputs, backbone(x), name=f"{architecture}_{info.name}")


def augmentation_for(recipe, input_shape, value_range):
    """The recipe's ``augmentation`` options as a Keras pipeline for these images (None if off)."""
    if not recipe.augmentation or len(input_shape) != 3:
        return None
    return augmentation_pipeline(input_shape=input_shape, value_range=(0, value_range or 1), seed=recipe.seed,
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
            augmentation=augmentation_for(recipe, raw.x_train.shape[1:], raw.value_range))

    def load_user_data(self, recipe, user: UserData):
        """Images are resized to the recipe's own input size and channels unless ``user`` says
        otherwise; the recipe's augmentation applies to image batches."""
        native = datasets.INPUT_SHAPES.get(recipe.dataset)
        image_size = user.image_size or (native[:2] if native else None)
        color_mode = user.color_mode or (COLOR_MODES.get(native[-1]) if native else None)
        data = datasets.as_data(user.source, batch_size=recipe.batch_size, validation_split=recipe.validation_split,
                                seed=recipe.seed, image_size=image_size, color_mode=color_mode,
                                bad_files=user.bad_files)
        augment = augmentation_for(recipe, data.info.input_shape, data.info.value_range)
        if augment is not None:
            data.train = datasets.with_augmentation(data.train, augment)
        return data

    def build(self, recipe, data):
        return classifier_for(data.info, recipe.architecture, **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        written = []
        plots = context.run_dir / "plots"
        if "confusion_matrix" in recipe.plots and data.test is not None and data.info.class_names:
            x_test, y_test = data.split_arrays("test")
            predicted = np.argmax(model.predict(x_test, verbose=0, batch_size=recipe.batch_size), axis=-1)
            written.append(plot_confusion_matrix(y_test, predicted, data.info.class_names,
                                                 plots / "confusion_matrix.png",
                                                 title=f"{recipe.name}: confusion matrix (test)"))
        if "decision_boundary" in recipe.plots and len(data.info.input_shape) == 1 and data.info.input_shape[0] == 2:
            x_train, y_train = data.split_arrays("train")
            written.append(plot_decision_boundary(lambda grid: model.predict(grid, verbose=0, batch_size=4096),
                                                  x_train, y_train, plots / "decision_boundary.png",
                                                  title=f"{recipe.name}: decision boundary"))
        return {}, [path for path in written if path is not None]

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        return export_model(model, name, export_dir=export_dir, input_name=data.info.input_name,
                            output_name=OUTPUT_NAME, class_names=data.info.class_names,
                            preprocessing=preprocessing_of(data.info),
                            metadata={**metadata, "value_range": data.info.value_range})


def preprocessing_of(info: datasets.DatasetInfo) -> dict:
    """What the exported graph does to raw inputs before the network, for clients and ``predict``."""
    steps = {"value_range": info.value_range}
    if info.resized_to:
        steps["resize_to"] = list(info.resized_to)
    if len(info.input_shape) == 3:
        steps["channels"] = int(info.input_shape[-1])
    return steps
