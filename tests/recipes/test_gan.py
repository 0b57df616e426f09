"""The DCGAN recipe: the Fréchet distance checked on Gaussians whose answer is known, and a tiny
real run that measures floor and ceiling, saves sample grids and exports noise -> pixels."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.catalog import Recipe
from recipes.tasks import gan
from recipes.data import DatasetInfo
from recipes.errors import ConfigError
from recipes.tasks import RunContext
from recipes.tasks.options import GanOptions

FASHION = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple("0123456789"), "pixels", 255.0, "test", 1, 1, 1)


def test_frechet_distance_of_gaussians_is_known():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (200_000, 1))
    b = rng.normal(3.0, 2.0, (200_000, 1))
    assert gan.frechet_distance(a, b) == pytest.approx(9.0 + 1.0, abs=0.15)  # (mu diff)^2 + (sigma diff)^2
    cloud = rng.normal(size=(5000, 4)) @ rng.normal(size=(4, 4))
    assert abs(gan.frechet_distance(cloud, cloud)) < 1e-6


def test_a_missing_feature_classifier_says_what_to_give(tmp_path):
    context = RunContext(run_dir=tmp_path)
    with pytest.raises(ConfigError, match="give a .keras file of a trained classifier"):
        gan.feature_classifier(GanOptions(feature_classifier=str(tmp_path / "nope.keras")), context)
    with pytest.raises(ConfigError, match="set task_options.feature_classifier to a .keras file"):
        gan.feature_classifier(GanOptions(), context)


def test_without_a_classifier_the_runner_trains_the_feature_recipe_once(tmp_path):
    trained = []

    def train_recipe(name):
        trained.append(name)
        return recipes.classifier_for(FASHION, "linear")

    context = RunContext(run_dir=tmp_path, train_recipe=train_recipe)
    first = gan.feature_classifier(GanOptions(feature_recipe="fashion_mnist_linear"), context)
    again = gan.feature_classifier(GanOptions(feature_recipe="fashion_mnist_linear"), context)
    assert trained == ["fashion_mnist_linear"] and (tmp_path / "feature_classifier.keras").exists()
    assert first.count_params() == again.count_params() == 28 * 28 * 10 + 10


@pytest.mark.e2e
def test_dcgan_run_measures_floor_and_ceiling_saves_samples_and_exports_pixels(small_mnist_dir, tmp_path):
    keras.utils.set_random_seed(0)
    classifier = recipes.classifier_for(FASHION, "mnist_cnn", filters=(4, 4), dense_units=16)
    classifier.save(tmp_path / "classifier.keras")
    recipe = Recipe(
        name="tiny_dcgan", dataset="mnist", architecture="dcgan", task="gan", description="test",
        expected={"frechet_distance": 0.0}, architecture_kwargs={"latent_dim": 16, "filters": (16, 8)},
        task_options={"feature_classifier": str(tmp_path / "classifier.keras"), "frechet_samples": 150},
        optimizer="adam", optimizer_options={"beta_1": 0.5}, learning_rate=2e-4, loss=None, metrics=(), batch_size=64, epochs=2,
        train_limit=384, callbacks={"generated_samples": {"every": 1, "count": 16}, "csv_log": {}})
    result = recipes.run(recipe, data_dir=small_mnist_dir, work_dir=tmp_path / "runs", export_dir=tmp_path / "models",
                         verbose=0)
    metrics = result.test_metrics
    assert metrics["frechet_samples"] == 150
    assert 0 <= metrics["frechet_floor"] < metrics["frechet_ceiling"]
    assert np.isfinite(metrics["frechet_distance"])
    assert result.timings["epochs_run"] == 2
    assert result.model.generator_optimizer.get_config()["beta_1"] == 0.5
    written = sorted(path.name for path in (result.run_dir / "plots").glob("samples_epoch_*.png"))
    assert written == ["samples_epoch_001.png", "samples_epoch_002.png"]

    noise = np.random.default_rng(0).normal(size=(3, 16)).astype("float32")
    served = tf.saved_model.load(str(result.export_path)).signatures["serving_default"](noise=tf.constant(noise))
    expected = (keras.ops.convert_to_numpy(result.model.generator(noise)) + 1) * 127.5
    np.testing.assert_allclose(served["image"].numpy(), expected, rtol=1e-4, atol=1e-2)
    assert served["image"].numpy().min() >= 0 and served["image"].numpy().max() <= 255
