"""The speedrun's options, each on a tiny slice of real Fashion-MNIST: label smoothing, flip
test-time augmentation, EMA of the weights, whitening initialisation, the airbench builder, and
the recipes that combine them (their schedules: test_schedules.py)."""

import keras
import numpy as np
import pytest

import architectures
import recipes
from callbacks.whitening import WhiteningInit, first_conv, init_whitening, patches_of, whitening_weights
from recipes.errors import ConfigError
from recipes.training.losses import SmoothedSparseCategoricalCrossentropy, with_label_smoothing

TINY = {"epochs": 1, "batch_size": 64, "train_limit": 512, "test_limit": 256,
        "architecture_kwargs": {"filters": (8, 16, 16), "activation": "relu"}}


@pytest.fixture(scope="module")
def images(fashion_mnist_dir):
    return recipes.data.load_arrays("fashion_mnist", data_dir=fashion_mnist_dir).x_train[:300].astype("float32") / 255.0


@pytest.fixture(scope="module")
def speedrun(fashion_mnist_dir, tmp_path_factory):
    """One tiny run of the speedrun recipe, every option on."""
    return recipes.run("fashion_mnist_speedrun", data_dir=fashion_mnist_dir, export=False, verbose=0,
                       work_dir=tmp_path_factory.mktemp("runs"), **TINY)


def test_smoothed_sparse_cross_entropy_is_the_smoothed_one_hot_one():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(5), size=8).astype("float32")
    labels = rng.integers(0, 5, 8)
    targets = np.full((8, 5), 0.2 / 5) + 0.8 * np.eye(5)[labels]
    by_hand = np.mean(-np.sum(targets * np.log(probabilities), axis=-1))
    loss = SmoothedSparseCategoricalCrossentropy(label_smoothing=0.2)
    assert float(loss(labels, probabilities)) == pytest.approx(by_hand, rel=1e-5)
    plain = keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)
    assert float(SmoothedSparseCategoricalCrossentropy(0.0)(labels[:, None], probabilities)) == pytest.approx(
        float(plain), rel=1e-5)
    logits = np.log(probabilities)
    assert float(SmoothedSparseCategoricalCrossentropy(0.2, from_logits=True)(labels, logits)) == pytest.approx(
        by_hand, rel=1e-4)


def test_label_smoothing_by_loss_name_and_a_loss_it_cannot_smooth():
    assert with_label_smoothing("mse", 0.0) == "mse"
    assert with_label_smoothing("sparse_categorical_crossentropy", 0.1).label_smoothing == 0.1
    assert with_label_smoothing("categorical_crossentropy", 0.1).get_config()["label_smoothing"] == 0.1
    with pytest.raises(ConfigError, match="label_smoothing applies to the loss names.*Received: loss='mse'"):
        with_label_smoothing("mse", 0.1)
    with pytest.raises(ConfigError, match="task_options.label_smoothing must be a number of at least 0 and below 1"):
        recipes.with_overrides(recipes.get("fashion_mnist_speedrun"), {"task_options.label_smoothing": 1.5})


def test_a_keras_file_compiled_with_the_smoothed_loss_loads(tmp_path):
    model = architectures.build("linear", input_shape=(4,), num_classes=3)
    model.compile("sgd", SmoothedSparseCategoricalCrossentropy(0.3))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.loss, SmoothedSparseCategoricalCrossentropy) and loaded.loss.label_smoothing == 0.3


def test_whitening_makes_the_first_conv_outputs_decorrelated_unit_variance(images):
    model = architectures.build("airbench", input_shape=(28, 28, 1), filters=(8, 8, 8))
    conv = model.get_layer("whiten")
    assert conv.filters == 8  # 2 x 1 channel x 2 x 2
    init_whitening(conv, images, epsilon=0.0)
    assert not conv.trainable and all(v.path != conv.kernel.path for v in model.trainable_weights)
    outputs = keras.ops.convert_to_numpy(conv(images)).reshape(-1, 8)
    positive, negative = outputs[:, :4], outputs[:, 4:]
    np.testing.assert_allclose(positive.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.cov(positive, rowvar=False), np.eye(4), atol=2e-3)
    np.testing.assert_allclose(negative, -positive, atol=1e-5)


def test_whitening_epsilon_shrinks_by_eigenvalue_and_narrow_layers_keep_the_leading_pairs(images):
    patches = patches_of(images, 2)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(patches, rowvar=False)))[::-1]
    kernel, bias = whitening_weights(images, 2, epsilon=1e-3)
    whitened = patches @ kernel.reshape(4, 8)[:, :4] + bias[:4]
    np.testing.assert_allclose(np.var(whitened, axis=0), eigenvalues / (eigenvalues + 1e-3), rtol=2e-3)
    narrow, _ = whitening_weights(images, 2, filters=4, epsilon=1e-3)
    np.testing.assert_allclose(narrow.reshape(4, 4)[:, :2], kernel.reshape(4, 8)[:, :2], rtol=1e-6)


def test_whitening_refuses_a_strided_conv_and_the_callback_finds_the_first_conv(images):
    inputs = keras.Input((28, 28, 1))
    strided = keras.Model(inputs, keras.layers.Conv2D(4, 2, strides=2)(inputs))
    with pytest.raises(ValueError, match="stride 1"):
        init_whitening(strided.layers[-1], images)
    model = architectures.build("airbench", input_shape=(28, 28, 1), filters=(4, 4, 4))
    callback = WhiteningInit(images[:50])
    callback.set_model(model)
    callback.on_train_begin()
    assert first_conv(model).name == "whiten" and not model.get_layer("whiten").trainable


def test_the_recipe_whitens_smooths_and_reports_the_flip_tta_accuracy(speedrun, fashion_mnist_dir):
    model = speedrun.model
    assert isinstance(model.loss, SmoothedSparseCategoricalCrossentropy) and model.loss.label_smoothing == 0.2
    whiten = first_conv(model)
    assert whiten.name == "whiten" and not whiten.trainable

    x_test, y_test = recipes.data.load("fashion_mnist", data_dir=fashion_mnist_dir, test_limit=256).arrays["test"]
    plain = model.predict(x_test, verbose=0)
    mirrored = model.predict(x_test[:, :, ::-1], verbose=0)
    by_hand = np.mean(np.argmax(plain + mirrored, axis=-1) == y_test)
    assert speedrun.test_metrics["accuracy"] == pytest.approx(by_hand)
    assert speedrun.test_metrics["accuracy_without_flip"] == pytest.approx(np.mean(np.argmax(plain, -1) == y_test))


def test_the_trained_model_holds_the_ema_weights(fashion_mnist_dir, tmp_path):
    """With ``optimizer_options={"use_ema": True}`` Keras swaps the moving average into the model
    when fit ends, before on_train_end: what is evaluated and exported is the average, not the
    last step's weights."""
    seen = {}

    class Weights(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen["last_step"] = [keras.ops.convert_to_numpy(v) for v in self.model.trainable_weights]

        def on_train_end(self, logs=None):
            seen["at_end"] = [keras.ops.convert_to_numpy(v) for v in self.model.trainable_weights]
            seen["average"] = [keras.ops.convert_to_numpy(v)
                               for v in self.model.optimizer._model_variables_moving_average]

    result = recipes.run("fashion_mnist_speedrun", data_dir=fashion_mnist_dir, export=False, verbose=0,
                         work_dir=tmp_path, extra_callbacks=[Weights()], optimizer_options={"use_ema": True,
                                                                                            "ema_momentum": 0.9},
                         **{**TINY, "test_limit": 64})
    assert result.model.optimizer.use_ema
    for at_end, average in zip(seen["at_end"], seen["average"]):
        np.testing.assert_allclose(at_end, average)
    assert any(not np.allclose(a, b) for a, b in zip(seen["at_end"], seen["last_step"]))
    final = [keras.ops.convert_to_numpy(v) for v in result.model.trainable_weights]
    for kept, average in zip(final, seen["average"]):
        np.testing.assert_allclose(kept, average)


def test_tta_needs_images():
    from recipes.tasks.classification import tta_predictions

    model = architectures.build("mlp", input_shape=(2,), num_classes=2, hidden_units=(4,))
    with pytest.raises(ConfigError, match="test-time augmentation mirrors and shifts images.*test_time_flip=False"):
        tta_predictions(model, np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="test_time_shift must be a whole number of at least 0"):
        recipes.with_overrides(recipes.get("fashion_mnist_speedrun"), {"task_options.test_time_shift": -1})


def test_shifted_moves_pixels_and_fills_zeros():
    from recipes.tasks.classification import shifted

    x = np.arange(1, 10, dtype="float32").reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(shifted(x, 1, 1)[0, :, :, 0], [[0, 0, 0], [0, 1, 2], [0, 4, 5]])
    np.testing.assert_array_equal(shifted(x, -1, -1)[0, :, :, 0], [[5, 6, 0], [8, 9, 0], [0, 0, 0]])


def test_shift_tta_is_half_flip_views_half_shifted_flip_views(speedrun, fashion_mnist_dir, tmp_path):
    from recipes import tasks
    from recipes.tasks.classification import shifted

    model = speedrun.model
    recipe = recipes.with_overrides(speedrun.recipe, {"task_options.test_time_shift": 1, "plots": ()})
    data = recipes.data.load("fashion_mnist", data_dir=fashion_mnist_dir, test_limit=256)
    metrics, _ = tasks.get("classification").evaluate(recipe, model, data, tasks.RunContext(run_dir=tmp_path))
    x, y = data.arrays["test"]

    def both(images):
        return model.predict(images, verbose=0) + model.predict(images[:, :, ::-1], verbose=0)

    by_hand = both(x) / 2 / 2 + (both(shifted(x, -1, -1)) + both(shifted(x, 1, 1))) / 4 / 2
    assert metrics["accuracy"] == pytest.approx(np.mean(np.argmax(by_hand, -1) == y))
    assert metrics["accuracy_without_flip"] == pytest.approx(np.mean(np.argmax(model.predict(x, verbose=0), -1) == y))


def test_airbench_builder_names_and_options():
    model = architectures.build("airbench", input_shape=(28, 28, 1), filters=(8, 16, 24), whitening_size=3,
                                batch_norm_momentum=0.4, activation="relu", classifier_activation=None)
    assert model.get_layer("whiten").filters == 18 and model.get_layer("whiten").kernel_size == (3, 3)
    assert model.get_layer("group3_conv2").filters == 24
    assert model.get_layer("group1_conv1_bn").momentum == pytest.approx(0.6)
    assert model.get_layer("predictions").activation.__name__ == "linear"
    backbone = architectures.build("airbench", input_shape=(28, 28, 1), filters=(8, 16, 24), include_top=False,
                                   pooling=None)
    assert backbone.output_shape == (None, 3, 3, 24)
    with pytest.raises(ValueError, match="filters must be three widths"):
        architectures.build("airbench", filters=(8, 16))
    with pytest.raises(architectures.InputTooSmallError):
        architectures.build("airbench", input_shape=(8, 8, 1))
