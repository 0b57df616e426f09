"""Single-image super-resolution: a network learns to undo a 2x2 average downsampling.

    >>> result = recipes.run("fashion_mnist_espcn")
    >>> result.test_metrics["psnr"], result.test_metrics["bicubic_psnr"]

Low-resolution inputs are the dataset's images averaged over ``upscale`` x ``upscale`` blocks
(28x28 -> 14x14 for Fashion-MNIST); the target is the original. The baseline is bicubic
upscaling of the same input. PSNR (dB) and SSIM are computed on [0, 1] images over the test split.
Model and export take and return raw pixel values (0-255); the rescaling is inside the graph.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

import architectures
from callbacks import new_figure, save_figure
from recipes import data as datasets
from recipes.errors import ConfigError
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task

INPUT_NAME, OUTPUT_NAME = "low_res", "high_res"


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """Average over ``factor`` x ``factor`` blocks: (n, h, w, c) -> (n, h / factor, w / factor, c)."""
    n, height, width, channels = images.shape
    blocks = images[:, : height - height % factor, : width - width % factor].astype(np.float32)
    return blocks.reshape(n, height // factor, factor, width // factor, factor, channels).mean(axis=(2, 4))


def bicubic_upscale(images: np.ndarray, factor: int) -> np.ndarray:
    import tensorflow as tf

    height, width = images.shape[1:3]
    return tf.image.resize(images, (height * factor, width * factor), method="bicubic").numpy()


def image_quality(predicted: np.ndarray, truth: np.ndarray, max_value: float = 255.0) -> dict:
    """Mean PSNR (dB) and SSIM over a batch, after clipping ``predicted`` to the valid range."""
    import tensorflow as tf

    predicted = tf.clip_by_value(tf.constant(predicted, tf.float32), 0.0, max_value)
    truth = tf.constant(truth, tf.float32)
    return {"psnr": float(tf.reduce_mean(tf.image.psnr(predicted, truth, max_value))),
            "ssim": float(tf.reduce_mean(tf.image.ssim(predicted, truth, max_value)))}


def super_resolution_model(input_shape, value_range: float, *, architecture="espcn", upscale=2,
                           name="super_resolution", **architecture_kwargs) -> keras.Model:
    """The registered builder between a rescaling to [0, 1] and back, so the model maps raw
    low-resolution pixels to raw high-resolution pixels."""
    network = architectures.build(architecture, input_shape=input_shape, upscale=upscale, **architecture_kwargs)
    inputs = keras.Input(input_shape, name=INPUT_NAME)
    x = keras.layers.Rescaling(1.0 / value_range, name="rescale")(inputs)
    outputs = keras.layers.Rescaling(value_range, name="to_pixel_values")(network(x))
    return keras.Model(inputs, outputs, name=name)


@register_task
class SuperResolution(Task):
    """Low-resolution image -> image ``upscale`` times larger (``low_res -> high_res``).
    Options (``SuperResolutionOptions``): ``upscale``."""

    name = "super_resolution"

    def load(self, recipe, *, data_dir=None, download=True):
        upscale = recipe.task_options.upscale
        raw = datasets.load_arrays(recipe.dataset, data_dir=data_dir, download=download, seed=recipe.seed)
        height, width = raw.x_train.shape[1:3]
        if height % upscale or width % upscale:
            fitting = [factor for factor in range(2, min(height, width) + 1) if not height % factor and not width % factor]
            raise ConfigError(f"{recipe.name}: upscale {upscale} does not divide the {height}x{width} images of "
                              f"{recipe.dataset}, so the low-resolution inputs cannot be exact block averages; "
                              f"choose one of {fitting}")
        pairs = datasets.RawData(
            downsample(raw.x_train, upscale), raw.x_train.astype(np.float32),
            downsample(raw.x_test, upscale), raw.x_test.astype(np.float32),
            (), INPUT_NAME, raw.value_range, f"{raw.source}, averaged over {upscale}x{upscale} blocks")
        return datasets.from_arrays(recipe.dataset, pairs, batch_size=recipe.batch_size,
                                    validation_split=recipe.validation_split, seed=recipe.seed,
                                    train_limit=recipe.train_limit, test_limit=recipe.test_limit)

    def build(self, recipe, data):
        return super_resolution_model(data.info.input_shape, data.info.value_range, architecture=recipe.architecture,
                                      upscale=recipe.task_options.upscale, name=f"{recipe.architecture}_{recipe.dataset}",
                                      **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        low, high = data.arrays["test"]
        value_range = data.info.value_range
        predicted = model.predict(low, verbose=0, batch_size=512)
        bicubic = bicubic_upscale(low, recipe.task_options.upscale)
        metrics = image_quality(predicted, high, value_range)
        metrics.update({f"bicubic_{key}": value for key, value in image_quality(bicubic, high, value_range).items()})
        plot = plot_triplets(low[:6], bicubic[:6], predicted[:6], high[:6], context.run_dir / "plots" / "super_resolution.png",
                             value_range=value_range, title=f"{recipe.name} (test images)")
        return metrics, [plot] if plot else []

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        return export_model(model, name, export_dir=export_dir, input_name=INPUT_NAME, output_name=OUTPUT_NAME,
                            metadata={**metadata, "value_range": data.info.value_range,
                                      "upscale": recipe.task_options.upscale})


def plot_triplets(low, bicubic, predicted, truth, path, *, value_range=255.0, title="") -> Path | None:
    """One row per image: the low-resolution input, bicubic, the network's output, the original."""
    columns = {"input": low, "bicubic": bicubic, "network": predicted, "original": truth}
    figure = new_figure("super-resolution", figsize=(2 * len(columns), 2 * len(low)), dpi=100)
    if figure is None:
        return None
    grid = figure.subplots(len(low), len(columns), squeeze=False)
    for column, (label, images) in enumerate(columns.items()):
        for row, image in enumerate(images):
            axes = grid[row, column]
            axes.imshow(np.clip(image[..., 0], 0, value_range), cmap="gray", vmin=0, vmax=value_range,
                        interpolation="nearest")
            axes.set_axis_off()
            if row == 0:
                axes.set_title(label, fontsize=9)
    figure.suptitle(title, fontsize=10)
    return save_figure(figure, path)
