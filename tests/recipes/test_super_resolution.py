"""Super-resolution: downsampling, the bicubic baseline and the quality measures checked by hand,
and a tiny real run on Fashion-MNIST images that exports raw pixels -> raw pixels."""

import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.catalog import Recipe
from recipes.tasks import super_resolution
from recipes.errors import ConfigError

TINY = Recipe(name="tiny_espcn", dataset="mnist", architecture="espcn", task="super_resolution",
              description="test", expected={"psnr": 0.0}, architecture_kwargs={"filters": (16, 8)},
              loss="mse", metrics=(), batch_size=64, epochs=2, train_limit=512, test_limit=64,
              callbacks={"training_curves": {}})


def test_downsample_averages_blocks():
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(super_resolution.downsample(image, 2)[0, ..., 0], [[2.5, 4.5], [10.5, 12.5]])


def test_bicubic_keeps_a_flat_image_flat():
    flat = np.full((2, 7, 7, 1), 100.0, np.float32)
    np.testing.assert_allclose(super_resolution.bicubic_upscale(flat, 2), 100.0, atol=1e-3)


def test_psnr_and_ssim_by_hand():
    truth = np.zeros((1, 16, 16, 1), np.float32)
    quality = super_resolution.image_quality(np.full_like(truth, 25.5), truth)  # MSE 650.25 -> 20 dB
    assert quality["psnr"] == pytest.approx(20.0, abs=1e-3)
    same = np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 1)).astype(np.float32)
    assert super_resolution.image_quality(same, same)["ssim"] == pytest.approx(1.0)


@pytest.mark.e2e
def test_super_resolution_run_reports_both_and_exports_raw_pixels(small_mnist_dir, tmp_path):
    result = recipes.run(TINY, data_dir=small_mnist_dir, work_dir=tmp_path / "runs", export_dir=tmp_path / "models",
                         verbose=0)
    assert {"psnr", "ssim", "bicubic_psnr", "bicubic_ssim"} <= set(result.test_metrics)
    assert 5 < result.test_metrics["bicubic_psnr"] < 40
    assert any(path.name == "super_resolution.png" for path in result.plots)

    low = super_resolution.downsample(np.random.default_rng(0).uniform(0, 255, (3, 28, 28, 1)), 2)
    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    served = serve(low_res=tf.constant(low))["high_res"].numpy()
    assert served.shape == (3, 28, 28, 1)
    np.testing.assert_allclose(served, result.model.predict(low, verbose=0), rtol=1e-4, atol=1e-2)


def test_an_upscale_that_does_not_divide_the_images_names_the_ones_that_do(small_mnist_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"upscale 3 does not divide the 28x28 images.*choose one of \[2, 4, 7, 14, 28\]"):
        recipes.run(TINY, data_dir=small_mnist_dir, task_options={"upscale": 3}, work_dir=tmp_path, export=False)
