"""Semantic segmentation: a class for every pixel, on generated images of shapes.

    >>> result = recipes.run("shapes_unet")
    >>> result.test_metrics["mean_iou"], result.test_metrics["background_only_mean_iou"]

The ``shapes`` data is seeded and documented in ``recipes.data.synthetic.shapes_images``. The
test split comes from its own seed.

Intersection over union is computed per class over the whole test split; the baseline is the
all-background guess. The export returns ``class_map`` (the arg-max class per pixel) and
``probabilities``, from raw 0-255 pixels.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

import architectures
from callbacks import new_figure, save_figure
from recipes import data as datasets
from recipes.data.synthetic import SEGMENTATION_SETS, SHAPE_CLASSES, named
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task

TEST_SEED_OFFSET = 10_000
INPUT_NAME = "pixels"


def intersection_over_union(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """IoU per class over all pixels (NaN for a class absent from both)."""
    truth, predicted = truth.reshape(-1).astype(np.int64), predicted.reshape(-1).astype(np.int64)
    counts = np.bincount(truth * num_classes + predicted, minlength=num_classes**2).reshape(num_classes, num_classes)
    intersection = np.diag(counts).astype(np.float64)
    union = counts.sum(axis=0) + counts.sum(axis=1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def segmentation_model(input_shape, num_classes: int, *, architecture="unet", name="segmentation",
                       **architecture_kwargs) -> keras.Model:
    """The registered per-pixel classifier behind a rescaling of raw 0-255 pixels to [0, 1]."""
    network = architectures.build(architecture, input_shape=input_shape, num_classes=num_classes,
                                  **architecture_kwargs)
    inputs = keras.Input(input_shape, name=INPUT_NAME)
    return keras.Model(inputs, network(keras.layers.Rescaling(1 / 255, name="rescale")(inputs)), name=name)


@register_task
class Segmentation(Task):
    """Image -> a class per pixel (``pixels -> class_map, probabilities``). Options
    (``SegmentationOptions``): ``size``, ``num_train``, ``num_test``, ``max_shapes``;
    ``train_limit`` and ``test_limit`` cap the counts generated."""

    name = "segmentation"

    def load(self, recipe, *, data_dir=None, download=True):
        generate = named(SEGMENTATION_SETS, recipe.dataset, "segmentation")
        options = recipe.task_options
        shape_options = {"size": options.size, "max_shapes": options.max_shapes}
        num_train = min(options.num_train, recipe.train_limit or options.num_train)
        num_test = min(options.num_test, recipe.test_limit or options.num_test)
        x_train, y_train = generate(num_train, seed=recipe.seed, **shape_options)
        x_test, y_test = generate(num_test, seed=recipe.seed + TEST_SEED_OFFSET, **shape_options)
        raw = datasets.RawData(x_train, y_train, x_test, y_test, SHAPE_CLASSES, INPUT_NAME, 255.0,
                               "generated (shapes on textured backgrounds, recipes/data/synthetic.py)")
        return datasets.from_arrays(recipe.dataset, raw, batch_size=recipe.batch_size,
                                    validation_split=recipe.validation_split, seed=recipe.seed)

    def build(self, recipe, data):
        return segmentation_model(data.info.input_shape, data.info.num_classes, architecture=recipe.architecture,
                                  name=f"{recipe.architecture}_shapes", **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        images, truth = data.arrays["test"]
        predicted = np.argmax(model.predict(images, verbose=0, batch_size=64), axis=-1)
        names = data.info.class_names
        iou = intersection_over_union(truth, predicted, len(names))
        baseline = intersection_over_union(truth, np.zeros_like(truth), len(names))
        metrics = {"mean_iou": float(np.nanmean(iou)),
                   **{f"iou_{name}": float(value) for name, value in zip(names, iou)},
                   "background_only_mean_iou": float(np.nanmean(np.nan_to_num(baseline)))}
        plot = plot_segmentations(images[:4], truth[:4], predicted[:4], names,
                                  context.run_dir / "plots" / "segmentation.png", title=f"{recipe.name} (test images)")
        return metrics, [plot] if plot else []

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        def serve(pixels):
            probabilities = model(pixels, training=False)
            return {"class_map": keras.ops.argmax(probabilities, axis=-1), "probabilities": probabilities}

        import tensorflow as tf

        spec = tf.TensorSpec((None, *data.info.input_shape), tf.float32, name=INPUT_NAME)
        return export_model(model, name, export_dir=export_dir, endpoint=serve, input_signature=[spec],
                            metadata={**metadata, "class_names": list(data.info.class_names)})


def plot_segmentations(images, truth, predicted, class_names, path, *, title="") -> Path | None:
    """One row per image: the image, the true classes, the predicted classes."""
    figure = new_figure("segmentation", figsize=(7.5, 2.4 * len(images)), dpi=100)
    if figure is None:
        return None
    grid = figure.subplots(len(images), 3, squeeze=False)
    for row in range(len(images)):
        panels = (("image", images[row], {}),
                  ("truth", truth[row], {"cmap": "tab10", "vmin": 0, "vmax": 9}),
                  ("predicted", predicted[row], {"cmap": "tab10", "vmin": 0, "vmax": 9}))
        for column, (label, picture, style) in enumerate(panels):
            axes = grid[row, column]
            axes.imshow(picture, interpolation="nearest", **style)
            axes.set_axis_off()
            if row == 0:
                axes.set_title(label, fontsize=9)
    legend = ", ".join(f"{index} {name}" for index, name in enumerate(class_names))
    figure.suptitle(f"{title}\nclasses (tab10 colours): {legend}", fontsize=9)
    return save_figure(figure, path)
