"""The variational autoencoder (``vae`` task): trained by its own ``train_step`` on [0, 1] images.

    >>> result = recipes.run("fashion_mnist_vae")
    >>> result.test_metrics["negative_elbo"], result.test_metrics["mean_image_cross_entropy"]

The baseline is the cross-entropy of the mean training image, a decoder that ignores its code.
The export is the decoder (``latent -> image``) in raw 0-255 pixel values.
"""

from __future__ import annotations

import keras
import numpy as np

import architectures
from callbacks import plot_image_grid, plot_latent_map
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task
from recipes.tasks.reconstruction import unit_images


def mean_image_cross_entropy(train_images: np.ndarray, test_images: np.ndarray, epsilon: float = 1e-7) -> float:
    """Nats per test image under independent Bernoulli pixels with the mean training image as
    their probabilities: the VAE's reconstruction term for a decoder that ignores its code (KL 0)."""
    probabilities = np.clip(train_images.reshape(len(train_images), -1).mean(axis=0), epsilon, 1 - epsilon)
    pixels = test_images.reshape(len(test_images), -1)
    return float(-np.mean(np.sum(pixels * np.log(probabilities) + (1 - pixels) * np.log(1 - probabilities), axis=1)))


@register_task
class VAE(Task):
    """The variational autoencoder: trained by its own ``train_step`` on [0, 1] images; the test
    split's reconstruction and KL terms and their sum, the negative ELBO (nats per image)."""

    name = "vae"

    def load(self, recipe, *, data_dir=None, download=True):
        return unit_images(recipe, data_dir=data_dir, download=download, targets="labels")

    def build(self, recipe, data):
        return architectures.build(recipe.architecture, input_shape=data.info.input_shape, seed=recipe.seed,
                                   name=f"{recipe.architecture}_{recipe.dataset}", **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        terms = model.evaluate(data.test, verbose=0, return_dict=True)
        metrics = {"reconstruction_loss": float(terms["reconstruction_loss"]), "kl_loss": float(terms["kl_loss"]),
                   "negative_elbo": float(terms["reconstruction_loss"] + terms["kl_loss"]),
                   "mean_image_cross_entropy": mean_image_cross_entropy(data.arrays["train"][0],
                                                                        data.arrays["test"][0])}
        plots = context.run_dir / "plots"
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

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        latent = keras.Input(model.decoder.input_shape[1:], name="latent")
        decoder = keras.Model(latent, keras.layers.Rescaling(data.info.value_range, name="to_pixel_values")(
            model.decoder(latent)), name=f"{name}_decoder")
        return export_model(decoder, name, export_dir=export_dir, input_name="latent", output_name="image",
                            metadata={**metadata, "part": "decoder", "value_range": data.info.value_range})
