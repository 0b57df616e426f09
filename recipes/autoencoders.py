"""Unsupervised image models: the autoencoder (``reconstruction`` task), measured against PCA
with the same code size, and the variational autoencoder (``vae`` task).

    >>> result = recipes.run("fashion_mnist_autoencoder")
    >>> result.test_metrics["reconstruction_mse"], result.test_metrics["pca_mse"]
    >>> result = recipes.run("fashion_mnist_vae")
    >>> result.test_metrics["negative_elbo"], result.test_metrics["mean_image_cross_entropy"]

Errors are on [0, 1] pixel values over the test split. PCA is fitted on the same training images.
The VAE's baseline is the cross-entropy of the mean training image, a decoder that ignores its code.
Exports take and return raw 0-255 pixel values: the autoencoder (``pixels -> reconstruction``),
its encoder on its own (``<name>_encoder``: ``pixels -> embedding``) and the VAE's decoder
(``latent -> image``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

import architectures
from recipes import data as datasets
from recipes.pictures import plot_image_grid, plot_image_rows, plot_latent_map
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


def mean_image_cross_entropy(train_images: np.ndarray, test_images: np.ndarray, epsilon: float = 1e-7) -> float:
    """Nats per test image under independent Bernoulli pixels with the mean training image as
    their probabilities: the VAE's reconstruction term for a decoder that ignores its code (KL 0)."""
    probabilities = np.clip(train_images.reshape(len(train_images), -1).mean(axis=0), epsilon, 1 - epsilon)
    pixels = test_images.reshape(len(test_images), -1)
    return float(-np.mean(np.sum(pixels * np.log(probabilities) + (1 - pixels) * np.log(1 - probabilities), axis=1)))


def _unit_images(recipe, *, data_dir, download, targets: str):
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
        return _unit_images(recipe, data_dir=data_dir, download=download, targets="images")

    def build(self, recipe, data):
        return autoencoder_model(data.info.input_shape, data.info.value_range, architecture=recipe.architecture,
                                 name=f"{recipe.architecture}_{recipe.dataset}", **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, run_dir):
        pixels, truth = data.arrays["test"]
        train_images = data.arrays["train"][1]
        encoder = model.get_layer(recipe.architecture).get_layer("encoder")
        pca = PCA(encoder.output_shape[-1]).fit(train_images)
        reconstructed = model.predict(pixels, verbose=0, batch_size=512)
        by_pca = np.clip(pca.reconstruct(truth), 0, 1)
        metrics = {"reconstruction_mse": float(np.mean((reconstructed - truth) ** 2)),
                   "pca_mse": float(np.mean((by_pca - truth) ** 2)), "code_size": int(pca.components)}
        plot = plot_image_rows({"original": truth[:8], "autoencoder": reconstructed[:8], "PCA": by_pca[:8]},
                               Path(run_dir) / "plots" / "reconstructions.png",
                               title=f"{recipe.name}: test images, code size {pca.components}")
        return metrics, [plot] if plot else []

    def export(self, recipe, model, data, *, export_dir, metadata):
        value_range = data.info.value_range
        network = model.get_layer(recipe.architecture)
        inputs = keras.Input(data.info.input_shape, name=INPUT_NAME)
        rescaled = keras.layers.Rescaling(1 / value_range, name="rescale")(inputs)
        encoder = keras.Model(inputs, network.get_layer("encoder")(rescaled), name=f"{recipe.name}_encoder")
        reconstruction = keras.Model(
            inputs, keras.layers.Rescaling(value_range, name="to_pixel_values")(model(inputs)), name=recipe.name)
        encoder_path = export_model(encoder, f"{recipe.name}_encoder", export_dir=export_dir, input_name=INPUT_NAME,
                                    output_name="embedding", metadata={**metadata, "part": "encoder"})
        log.info("%s: encoder exported to %s", recipe.name, encoder_path)
        return export_model(reconstruction, recipe.name, export_dir=export_dir, input_name=INPUT_NAME,
                            output_name="reconstruction",
                            metadata={**metadata, "value_range": value_range, "encoder_export": str(encoder_path)})


@register_task
class VAE(Task):
    """The variational autoencoder: trained by its own ``train_step`` on [0, 1] images; the test
    split's reconstruction and KL terms and their sum, the negative ELBO (nats per image)."""

    name = "vae"

    def load(self, recipe, *, data_dir=None, download=True):
        return _unit_images(recipe, data_dir=data_dir, download=download, targets="labels")

    def build(self, recipe, data):
        return architectures.build(recipe.architecture, input_shape=data.info.input_shape, seed=recipe.seed,
                                   name=f"{recipe.architecture}_{recipe.dataset}", **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, run_dir):
        terms = model.evaluate(data.test, verbose=0, return_dict=True)
        metrics = {"reconstruction_loss": float(terms["reconstruction_loss"]), "kl_loss": float(terms["kl_loss"]),
                   "negative_elbo": float(terms["reconstruction_loss"] + terms["kl_loss"]),
                   "mean_image_cross_entropy": mean_image_cross_entropy(data.arrays["train"][0],
                                                                        data.arrays["test"][0])}
        plots = Path(run_dir) / "plots"
        latent_dim = model.decoder.input_shape[-1]
        prior = np.random.default_rng(recipe.seed).normal(size=(64, latent_dim)).astype(np.float32)
        written = [plot_image_grid(model.decoder.predict(prior, verbose=0), plots / "samples.png",
                                   title=f"{recipe.name}: 64 samples from the prior")]
        if latent_dim == 2:
            images, labels = data.arrays["test"]
            means = model.encoder.predict(images, verbose=0, batch_size=512)["z_mean"]
            written.append(plot_latent_map(means, labels, data.info.class_names, plots / "latent_space.png",
                                           title=f"{recipe.name}: test images' latent means"))
        return metrics, [path for path in written if path is not None]

    def export(self, recipe, model, data, *, export_dir, metadata):
        latent = keras.Input(model.decoder.input_shape[1:], name="latent")
        decoder = keras.Model(latent, keras.layers.Rescaling(data.info.value_range, name="to_pixel_values")(
            model.decoder(latent)), name=f"{recipe.name}_decoder")
        return export_model(decoder, recipe.name, export_dir=export_dir, input_name="latent", output_name="image",
                            metadata={**metadata, "part": "decoder", "value_range": data.info.value_range})
