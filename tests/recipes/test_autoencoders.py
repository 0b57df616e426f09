"""Autoencoder and VAE recipes: PCA checked by hand, and tiny real runs on Fashion-MNIST images
whose exports (encoder, reconstruction, VAE decoder) reproduce the in-memory models."""

import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.catalog import Recipe
from recipes.data import load_arrays
from recipes.tasks.reconstruction import PCA
from recipes.tasks.vae import mean_image_cross_entropy

TINY_AUTOENCODER = Recipe(
    name="tiny_autoencoder", dataset="mnist", architecture="autoencoder", task="reconstruction", description="test",
    expected={"reconstruction_mse": 1.0}, architecture_kwargs={"code_size": 8, "filters": (8, 16)}, loss="mse",
    metrics=(), batch_size=64, epochs=2, train_limit=512, test_limit=64, callbacks={})
TINY_VAE = Recipe(
    name="tiny_vae", dataset="mnist", architecture="vae", task="vae", description="test",
    expected={"negative_elbo": 1000.0}, architecture_kwargs={"latent_dim": 2, "filters": (8, 16)}, loss=None,
    metrics=(), batch_size=64, epochs=2, train_limit=512, test_limit=64, callbacks={})


def _serve(path):
    return tf.saved_model.load(str(path)).signatures["serving_default"]


def test_pca_recovers_data_on_a_line_with_one_component():
    rng = np.random.default_rng(0)
    points = np.outer(rng.normal(size=50), [1.0, 2.0, -1.0]) + [3.0, 0.0, 1.0]
    pca = PCA(1).fit(points)
    np.testing.assert_allclose(pca.reconstruct(points), points, atol=1e-9)
    assert abs(pca.basis[:, 0] @ np.array([1, 2, -1]) / np.sqrt(6)) == pytest.approx(1.0)


def test_mean_image_cross_entropy_by_hand():
    train = np.array([[1.0, 0.0], [0.0, 0.0]])  # mean image (0.5, 0) -> clipped to (0.5, 1e-7)
    test = np.array([[1.0, 0.0], [0.0, 1.0]])
    by_hand = np.mean([np.log(2) - np.log(1 - 1e-7), np.log(2) - np.log(1e-7)])
    assert mean_image_cross_entropy(train, test) == pytest.approx(by_hand)


@pytest.mark.e2e
def test_autoencoder_run_measures_pca_and_exports_encoder_and_reconstruction(small_mnist_dir, tmp_path):
    result = recipes.run(TINY_AUTOENCODER, data_dir=small_mnist_dir, work_dir=tmp_path / "runs",
                         export_dir=tmp_path / "models", verbose=0)
    metrics = result.test_metrics
    test_images = load_arrays("mnist", data_dir=small_mnist_dir).x_test[:64].astype("float32")
    mean_image_mse = np.mean((test_images / 255 - test_images.mean(axis=0) / 255) ** 2)
    assert metrics["code_size"] == 8 and 0 < metrics["pca_mse"] < mean_image_mse
    assert 0 < metrics["reconstruction_mse"] < 0.2
    assert any(path.name == "reconstructions.png" for path in result.plots)

    served = _serve(result.export_path)(pixels=tf.constant(test_images[:4]))["reconstruction"].numpy()
    np.testing.assert_allclose(served, result.model.predict(test_images[:4], verbose=0) * 255, rtol=1e-4, atol=1e-2)
    encoder = result.model.get_layer("autoencoder").get_layer("encoder")
    embedding = _serve(tmp_path / "models" / "tiny_autoencoder_encoder" / "1")(pixels=tf.constant(test_images[:4]))
    np.testing.assert_allclose(embedding["embedding"].numpy(), encoder.predict(test_images[:4] / 255, verbose=0),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.e2e
def test_vae_run_reports_the_elbo_terms_draws_samples_and_exports_the_decoder(small_mnist_dir, tmp_path):
    result = recipes.run(TINY_VAE, data_dir=small_mnist_dir, work_dir=tmp_path / "runs",
                         export_dir=tmp_path / "models", verbose=0)
    metrics = result.test_metrics
    assert metrics["negative_elbo"] == pytest.approx(metrics["reconstruction_loss"] + metrics["kl_loss"])
    assert metrics["kl_loss"] > 0 and metrics["reconstruction_loss"] > 0
    assert np.isfinite(metrics["mean_image_cross_entropy"]) and metrics["mean_image_cross_entropy"] > 0
    assert {"samples.png", "latent_space.png"} <= {path.name for path in result.plots}

    latent = np.random.default_rng(0).normal(size=(5, 2)).astype("float32")
    served = _serve(result.export_path)(latent=tf.constant(latent))["image"].numpy()
    assert served.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(served, result.model.decoder.predict(latent, verbose=0) * 255, rtol=1e-4, atol=1e-2)
