"""The autoencoder (``reconstruction`` task), measured against PCA with the same code size.

    >>> result = recipes.run("fashion_mnist_autoencoder")
    >>> result.test_metrics["reconstruction_mse"], result.test_metrics["pca_mse"]

Errors are on [0, 1] pixel values over the test split. PCA is fitted on the same training images.
Exports take and return raw 0-255 pixel values: the autoencoder (``pixels -> reconstruction``)
and its encoder on its own (``<name>_encoder``: ``pixels -> embedding``).
"""

from __future__ import annotations

import logging

import keras
import numpy as np

import architectures
from callbacks import plot_image_rows
from recipes import data as datasets
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task

log = logging.getLogger("keras_recipes")

INPUT_NAME = "pixels"


class PCA:
    """Principal component analysis by eigen-decomposition of the training covariance."""

    def __init__(self, components: int):
        self.components = components

    def fit(self, x: np.ndarray) -> "PCA":
        flat = x.reshape(len(x), -1).astype(np.float64)
        self.mean = flat.mean(axis=0)
        centered = flat - self.mean
        _, vectors = np.linalg.eigh(centered.T @ centered / len(flat))
        self.basis = vectors[:, ::-1][:, : self.components]
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        return (x.reshape(len(x), -1) - self.mean) @ self.basis

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return (self.encode(x) @ self.basis.T + self.mean).reshape(x.shape)


def unit_images(recipe, *, data_dir, download, targets: str):
    """The dataset's images scaled to [0, 1], as ``(raw pixels, [0, 1] images)`` pairs when
    ``targets == "images"``, or ``([0, 1] images, labels)``."""
    raw = datasets.load_arrays(recipe.dataset, data_dir=data_dir, download=download, seed=recipe.seed)
    scale = raw.value_range or 1.0
    if targets == "images":
        pairs = datasets.RawData(raw.x_train.astype(np.float32), (raw.x_train / scale).astype(np.float32),
                                 raw.x_test.astype(np.float32), (raw.x_test / scale).astype(np.float32),
                                 raw.class_names, INPUT_NAME, scale, raw.source)
    else:
        pairs = datasets.RawData((raw.x_train / scale).astype(np.float32), raw.y_train,
                                 (raw.x_test / scale).astype(np.float32), raw.y_test,
                                 raw.class_names, INPUT_NAME, scale, raw.source)
    return datasets.from_arrays(recipe.dataset, pairs, batch_size=recipe.batch_size,
                                validation_split=recipe.validation_split, seed=recipe.seed,
                                train_limit=recipe.train_limit, test_limit=recipe.test_limit)


def autoencoder_model(input_shape, value_range: float, *, architecture="autoencoder", name="autoencoder",
                      **architecture_kwargs) -> keras.Model:
    """The registered autoencoder behind a rescaling of raw pixels to [0, 1]; it reconstructs
    [0, 1] images. ``model.get_layer(architecture).get_layer("encoder")`` is the encoder."""
    network = architectures.build(architecture, input_shape=input_shape, name=architecture, **architecture_kwargs)
    inputs = keras.Input(input_shape, name=INPUT_NAME)
    return keras.Model(inputs, network(keras.layers.Rescaling(1 / value_range, name="rescale")(inputs)), name=name)


@register_task
class Reconstruction(Task):
    """Image -> the same image through a small code (``pixels -> reconstruction``)."""

    name = "reconstruction"

    def load(self, recipe, *, data_dir=None, download=True):
        return unit_images(recipe, data_dir=data_dir, download=download, targets="images")

    def build(self, recipe, data):
        return autoencoder_model(data.info.input_shape, data.info.value_range, architecture=recipe.architecture,
                                 name=f"{recipe.architecture}_{recipe.dataset}", **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        pixels, truth = data.arrays["test"]
        train_images = data.arrays["train"][1]
        encoder = model.get_layer(recipe.architecture).get_layer("encoder")
        pca = PCA(encoder.output_shape[-1]).fit(train_images)
        reconstructed = model.predict(pixels, verbose=0, batch_size=512)
        by_pca = np.clip(pca.reconstruct(truth), 0, 1)
        metrics = {"reconstruction_mse": float(np.mean((reconstructed - truth) ** 2)),
                   "pca_mse": float(np.mean((by_pca - truth) ** 2)), "code_size": int(pca.components)}
        plot = plot_image_rows({"original": truth[:8], "autoencoder": reconstructed[:8], "PCA": by_pca[:8]},
                               context.run_dir / "plots" / "reconstructions.png",
                               title=f"{recipe.name}: test images, code size {pca.components}")
        return metrics, [plot] if plot else []

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        value_range = data.info.value_range
        network = model.get_layer(recipe.architecture)
        inputs = keras.Input(data.info.input_shape, name=INPUT_NAME)
        rescaled = keras.layers.Rescaling(1 / value_range, name="rescale")(inputs)
        encoder = keras.Model(inputs, network.get_layer("encoder")(rescaled), name=f"{name}_encoder")
        reconstruction = keras.Model(
            inputs, keras.layers.Rescaling(value_range, name="to_pixel_values")(model(inputs)), name=name)
        encoder_path = export_model(encoder, f"{name}_encoder", export_dir=export_dir, input_name=INPUT_NAME,
                                    output_name="embedding", metadata={**metadata, "part": "encoder"})
        log.info("%s: encoder exported to %s", recipe.name, encoder_path)
        return export_model(reconstruction, name, export_dir=export_dir, input_name=INPUT_NAME,
                            output_name="reconstruction",
                            metadata={**metadata, "value_range": value_range, "encoder_export": str(encoder_path)})
