"""Semantic segmentation: a class for every pixel, on generated images of shapes.

    >>> result = recipes.run("shapes_unet")
    >>> result.test_metrics["mean_iou"], result.test_metrics["background_only_mean_iou"]

The ``shapes`` data (``shapes_images``) is seeded and documented here: each RGB image has a
textured background (a random smooth colour gradient, two random stripe patterns and per-pixel
noise) and 1 to ``max_shapes`` filled shapes (circle, square, triangle) of random size, position,
rotation (triangles) and colour; later shapes cover earlier ones. Labels: 0 background,
1 circle, 2 square, 3 triangle. The test split comes from its own seed.

Intersection over union is computed per class over the whole test split; the baseline is the
all-background guess. The export returns ``class_map`` (the arg-max class per pixel) and
``probabilities``, from raw 0-255 pixels.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

import architectures
from callbacks import matplotlib_available
from recipes import data as datasets
from recipes.errors import UnknownNameError
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task

log = logging.getLogger("keras_recipes")

SHAPE_CLASSES = ("background", "circle", "square", "triangle")
DEFAULT_OPTIONS = {"size": 64, "num_train": 4000, "num_test": 500, "max_shapes": 3}
TEST_SEED_OFFSET = 10_000
INPUT_NAME = "pixels"


def shapes_images(count: int, *, size: int = 64, max_shapes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images (count, size, size, 3) uint8 and their labels (count, size, size) uint8."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((count, size, size, 3), np.uint8)
    labels = np.zeros((count, size, size), np.uint8)
    for index in range(count):
        image = _background(rng, rows, columns, size)
        for _ in range(rng.integers(1, max_shapes + 1)):
            shape = rng.integers(1, len(SHAPE_CLASSES))
            mask = _shape_mask(shape, rng, rows, columns, size)
            image[mask] = rng.uniform(0, 255, 3)
            labels[index][mask] = shape
        image += rng.normal(0, 12, image.shape)
        images[index] = np.clip(image, 0, 255).astype(np.uint8)
    return images, labels


def _background(rng, rows, columns, size) -> np.ndarray:
    start, end = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    angle = rng.uniform(0, np.pi)
    ramp = ((np.cos(angle) * columns + np.sin(angle) * rows) / (np.sqrt(2) * size))[..., None]
    image = start + (end - start) * ramp
    for _ in range(2):
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 16)
        phase = 2 * np.pi * (np.cos(angle) * columns + np.sin(angle) * rows) / period
        image = image + rng.uniform(10, 30) * np.sin(phase)[..., None]
    return image.astype(np.float32)


def _shape_mask(shape: int, rng, rows, columns, size) -> np.ndarray:
    radius = rng.uniform(0.08, 0.2) * size
    center_row, center_column = rng.uniform(radius, size - radius, 2)
    if SHAPE_CLASSES[shape] == "circle":
        return (rows - center_row) ** 2 + (columns - center_column) ** 2 <= radius**2
    if SHAPE_CLASSES[shape] == "square":
        return (np.abs(rows - center_row) <= radius * 0.8) & (np.abs(columns - center_column) <= radius * 0.8)
    angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2, 4]) * np.pi / 3
    corners = np.stack([center_row + radius * np.sin(angles), center_column + radius * np.cos(angles)], axis=1)
    inside = np.ones(rows.shape, bool)
    for (r0, c0), (r1, c1) in zip(corners, np.roll(corners, -1, axis=0)):
        inside &= (c1 - c0) * (rows - r0) - (r1 - r0) * (columns - c0) >= 0
    return inside


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
    """Image -> a class per pixel (``pixels -> class_map, probabilities``). ``data_options``:
    ``size``, ``num_train``, ``num_test``, ``max_shapes``; ``train_limit`` and ``test_limit``
    cap the counts generated."""

    name = "segmentation"

    def load(self, recipe, *, data_dir=None, download=True):
        if recipe.dataset != "shapes":
            raise UnknownNameError(f"{recipe.name}: the segmentation task generates the 'shapes' data; "
                                   f"got dataset {recipe.dataset!r}")
        options = {**DEFAULT_OPTIONS, **recipe.data_options}
        shape_options = {"size": options["size"], "max_shapes": options["max_shapes"]}
        num_train = min(options["num_train"], recipe.train_limit or options["num_train"])
        num_test = min(options["num_test"], recipe.test_limit or options["num_test"])
        x_train, y_train = shapes_images(num_train, seed=recipe.seed, **shape_options)
        x_test, y_test = shapes_images(num_test, seed=recipe.seed + TEST_SEED_OFFSET, **shape_options)
        raw = datasets.RawData(x_train, y_train, x_test, y_test, SHAPE_CLASSES, INPUT_NAME, 255.0,
                               "generated (shapes on textured backgrounds, recipes/segmentation.py)")
        return datasets.from_arrays("shapes", raw, batch_size=recipe.batch_size, validation_split=recipe.validation_split,
                                    seed=recipe.seed)

    def build(self, recipe, data):
        return segmentation_model(data.info.input_shape, data.info.num_classes, architecture=recipe.architecture,
                                  name=f"{recipe.architecture}_shapes", **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, run_dir):
        images, truth = data.arrays["test"]
        predicted = np.argmax(model.predict(images, verbose=0, batch_size=64), axis=-1)
        names = data.info.class_names
        iou = intersection_over_union(truth, predicted, len(names))
        baseline = intersection_over_union(truth, np.zeros_like(truth), len(names))
        metrics = {"mean_iou": float(np.nanmean(iou)),
                   **{f"iou_{name}": float(value) for name, value in zip(names, iou)},
                   "background_only_mean_iou": float(np.nanmean(np.nan_to_num(baseline)))}
        plot = plot_segmentations(images[:4], truth[:4], predicted[:4], names,
                                  Path(run_dir) / "plots" / "segmentation.png", title=f"{recipe.name} (test images)")
        return metrics, [plot] if plot else []

    def export(self, recipe, model, data, *, export_dir, metadata):
        def serve(pixels):
            probabilities = model(pixels, training=False)
            return {"class_map": keras.ops.argmax(probabilities, axis=-1), "probabilities": probabilities}

        import tensorflow as tf

        spec = tf.TensorSpec((None, *data.info.input_shape), tf.float32, name=INPUT_NAME)
        return export_model(model, recipe.name, export_dir=export_dir, endpoint=serve, input_signature=[spec],
                            metadata={**metadata, "class_names": list(data.info.class_names)})


def plot_segmentations(images, truth, predicted, class_names, path, *, title="") -> Path | None:
    """One row per image: the image, the true classes, the predicted classes."""
    if not matplotlib_available():
        log.warning("plots skipped (segmentation): matplotlib is not installed; `pip install 'keras-recipes[plots]'`")
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 2.4 * len(images)), dpi=100)
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
