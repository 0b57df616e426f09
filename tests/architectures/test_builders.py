"""Every registered image builder, tested by being registered (sequence builders:
test_sequence_builders.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures

SMALL_INPUTS = [(28, 28, 1), (32, 32, 3)]
SMALL = (32, 32, 3)  # every builder must take CIFAR-size inputs; ImageNet defaults would be slow here


def _sample(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (4, *shape)).astype("float32")


def _outputs(model, x):
    """Eager call: ``predict`` would trace a new function per model, slow for the deep ones."""
    return keras.ops.convert_to_numpy(model(x, training=False))


IMAGE_BUILDERS = architectures.names(inputs="image", outputs="classes")


@pytest.fixture(scope="module", params=IMAGE_BUILDERS)
def built(request):
    """(name, model at 32x32x3 with 3 classes), built once per builder for the checks below."""
    model = architectures.build(request.param, input_shape=SMALL, num_classes=3)
    yield request.param, model
    keras.backend.clear_session()


@pytest.mark.parametrize("name", IMAGE_BUILDERS)
@pytest.mark.parametrize("input_shape", SMALL_INPUTS)
def test_builds_uncompiled_functional_model_with_right_output(name, input_shape):
    model = architectures.build(name, input_shape=input_shape, num_classes=7, name=f"my_{name}")
    assert isinstance(model, keras.Model) and not isinstance(model, keras.Sequential)
    assert model.name == f"my_{name}"
    assert getattr(model, "optimizer", None) is None
    assert model.output_shape == (None, 7)
    probabilities = _outputs(model, _sample(input_shape)[:2])
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", IMAGE_BUILDERS)
def test_logits_and_headless_backbone(name):
    logits = architectures.build(name, input_shape=SMALL, num_classes=5, classifier_activation=None)
    assert not np.allclose(_outputs(logits, _sample(SMALL)[:2]).sum(axis=-1), 1.0)
    backbone = architectures.build(name, input_shape=SMALL, include_top=False)
    assert "predictions" not in [layer.name for layer in backbone.layers]
    assert len(backbone.output_shape) >= 2
    keras.backend.clear_session()


def test_get_config_round_trip(built):
    _, model = built
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = _sample(SMALL)
    np.testing.assert_allclose(_outputs(clone, x), _outputs(model, x), rtol=1e-5, atol=1e-6)


def test_keras_file_save_and_load(built, tmp_path):
    name, model = built
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = _sample(SMALL)
    np.testing.assert_allclose(_outputs(loaded, x), _outputs(model, x), rtol=1e-5, atol=1e-6)


def test_exports_and_reloads_as_savedmodel(built, tmp_path):
    from recipes.saved_models import export

    name, model = built
    path = export(model, name, export_dir=tmp_path)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    x = _sample(SMALL)
    np.testing.assert_allclose(serve(inputs=tf.constant(x))["outputs"].numpy(), _outputs(model, x),
                               rtol=1e-5, atol=1e-6)


def test_mlp_options_shape_the_network():
    model = architectures.build("mlp", hidden_units=(32, 16), activation="gelu", batch_norm=True,
                                dropout=0.1, l2=1e-4, kernel_initializer="he_normal")
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["inputs", "flatten"]
    assert {"hidden1_dense", "hidden1_bn", "hidden1_act", "hidden1_dropout", "hidden2_dense"} <= set(names)
    assert model.get_layer("hidden1_act").get_config()["activation"] == "gelu"
    assert model.get_layer("hidden1_dense").kernel_regularizer is not None
    assert model.get_layer("hidden2_dense").units == 16
    assert len(model.losses) == 3  # one L2 penalty per Dense kernel, the classifier's included


def test_mlp_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of relu, leaky_relu"):
        architectures.build("mlp", activation="swishy")


def test_mnist_cnn_sizes_are_parameters():
    model = architectures.build("mnist_cnn", filters=(8, 16), dense_units=24)
    assert model.get_layer("conv2_conv").filters == 16
    assert model.get_layer("fc_dense").units == 24


def test_linear_parameter_count():
    assert architectures.build("linear").count_params() == 28 * 28 * 10 + 10
