"""Generative adversarial networks (``gan`` task): a DCGAN on Fashion-MNIST, measured with a
Fréchet distance on this library's own Fashion-MNIST classifier.

    >>> result = recipes.run("fashion_mnist_dcgan")
    >>> result.test_metrics["frechet_distance"]     # generated vs real test images
    >>> result.test_metrics["frechet_floor"]        # real training vs real test images
    >>> result.test_metrics["frechet_ceiling"]      # an untrained generator vs real test images

The Fréchet distance compares the mean and covariance of the classifier's penultimate-layer
features (the input of its ``predictions`` layer) over two sets of images, as FID does with
Inception features. The classifier is ``GanOptions.feature_classifier`` (a ``.keras`` file of a
recipe's classifier), or else ``GanOptions.feature_recipe`` (``fashion_mnist_cnn``) trained once
into the run folder by the runner (``RunContext.train_recipe``). The export is the generator:
``noise -> image`` in raw 0-255 pixel values.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

import architectures
from callbacks import plot_image_grid
from recipes import data as datasets
from recipes.errors import ConfigError
from recipes.saved_models import export as export_model
from recipes.tasks import RunContext, Task, register_task

log = logging.getLogger("keras_recipes")


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two sets of feature rows."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    covariance_a, covariance_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # The eigenvalues of a product of two covariance matrices are real and non-negative (up to
    # rounding), so the trace of its square root is the sum of their square roots.
    eigenvalues = np.linalg.eigvals(covariance_a @ covariance_b)
    trace_of_root = np.sum(np.sqrt(np.clip(eigenvalues.real, 0, None)))
    return float(np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2)
                 + np.trace(covariance_a) + np.trace(covariance_b) - 2 * trace_of_root)


def to_pixels(images: np.ndarray, value_range: float = 255.0) -> np.ndarray:
    """Generator output in [-1, 1] -> raw pixel values in [0, value_range]."""
    return (np.clip(images, -1, 1) + 1) * (value_range / 2)


def generate(generator, count: int, latent_dim: int, *, seed: int = 0, batch_size: int = 500) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=(count, latent_dim)).astype(np.float32)
    return generator.predict(noise, verbose=0, batch_size=batch_size)


def feature_classifier(options, context: RunContext) -> keras.Model:
    """The classifier whose penultimate features measure sample quality: ``options.feature_classifier``
    (a ``.keras`` file), or ``options.feature_recipe`` trained once and kept at
    ``<run folder>/feature_classifier.keras``."""
    if options.feature_classifier:
        if not Path(options.feature_classifier).exists():
            raise ConfigError(f"feature_classifier {options.feature_classifier} does not exist; give a .keras file of "
                              f"a trained classifier, e.g. runs/{options.feature_recipe}/<hash>/checkpoints/best.keras")
        return keras.models.load_model(options.feature_classifier)
    kept = Path(context.run_dir) / "feature_classifier.keras"
    if kept.exists():
        return keras.models.load_model(kept)
    if context.train_recipe is None:
        raise ConfigError(f"the gan task needs a feature classifier: set task_options.feature_classifier to a "
                          f".keras file, or run it through recipes.run, which trains {options.feature_recipe}")
    log.info("training %s once, to measure Fréchet distances with its features", options.feature_recipe)
    model = context.train_recipe(options.feature_recipe)
    model.save(kept)
    return model


@register_task
class GenerativeAdversarial(Task):
    """Noise -> image, trained adversarially on [-1, 1] images (``noise -> image``). Options
    (``GanOptions``): ``feature_classifier`` (a ``.keras`` path), ``feature_recipe``, ``frechet_samples``."""

    name = "gan"

    def load(self, recipe, *, data_dir=None, download=True):
        raw = datasets.load_arrays(recipe.dataset, data_dir=data_dir, download=download, seed=recipe.seed)
        half = (raw.value_range or 1.0) / 2
        scaled = datasets.RawData((raw.x_train / half - 1).astype(np.float32), raw.y_train,
                                  (raw.x_test / half - 1).astype(np.float32), raw.y_test,
                                  raw.class_names, "image", raw.value_range, raw.source)
        return datasets.from_arrays(recipe.dataset, scaled, batch_size=recipe.batch_size,
                                    validation_split=recipe.validation_split, seed=recipe.seed,
                                    train_limit=recipe.train_limit, test_limit=recipe.test_limit)

    def build(self, recipe, data):
        return architectures.build(recipe.architecture, input_shape=data.info.input_shape, seed=recipe.seed,
                                   name=f"{recipe.architecture}_{recipe.dataset}", **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        value_range = data.info.value_range
        options = recipe.task_options
        features = architectures.strip_head(feature_classifier(options, context))
        count = min(options.frechet_samples, len(data.arrays["test"][0]), len(data.arrays["train"][0]))

        def embed(images):
            return features.predict(to_pixels(images, value_range), verbose=0, batch_size=500)

        real_test = embed(data.arrays["test"][0][:count])
        untrained = architectures.build(recipe.architecture, input_shape=data.info.input_shape,
                                        seed=recipe.seed + 1, **recipe.architecture_kwargs)
        metrics = {
            "frechet_distance": frechet_distance(embed(generate(model, count, model.latent_dim, seed=recipe.seed)),
                                                 real_test),
            "frechet_floor": frechet_distance(embed(data.arrays["train"][0][:count]), real_test),
            "frechet_ceiling": frechet_distance(embed(generate(untrained, count, untrained.latent_dim)), real_test),
            "frechet_samples": count,
        }
        plot = plot_image_grid(generate(model, 64, model.latent_dim, seed=recipe.seed), context.run_dir / "plots" / "samples.png",
                               title=f"{recipe.name}: 64 generated images", value_range=(-1, 1))
        return metrics, [plot] if plot else []

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        noise = keras.Input((model.latent_dim,), name="noise")
        half = data.info.value_range / 2
        pixels = keras.layers.Rescaling(half, offset=half, name="to_pixel_values")(model.generator(noise))
        generator = keras.Model(noise, pixels, name=f"{name}_generator")
        return export_model(generator, name, export_dir=export_dir, input_name="noise", output_name="image",
                            metadata={**metadata, "part": "generator", "latent_dim": model.latent_dim,
                                      "value_range": data.info.value_range})
