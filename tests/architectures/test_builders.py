"""Every registered image classifier, tested by being registered (sequence builders:
test_sequence_builders.py; keras.applications' keywords: test_classifier_keywords.py)."""

import numpy as np
import pytest

import architectures
from harness import DEEP_BUILDERS, outputs_of, run_builder_test, run_saving_test, slow_if_deep

SMALL_INPUTS = [(28, 28, 1), (32, 32, 3)]
SMALL = (32, 32, 3)  # every builder must take CIFAR-size inputs; ImageNet defaults would be slow here


def _sample(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (4, *shape)).astype("float32")


IMAGE_BUILDERS = architectures.names(inputs="image", outputs="classes")


@pytest.mark.parametrize("name, input_shape", [
    pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}",
                 marks=[pytest.mark.slow] if name in DEEP_BUILDERS and shape != SMALL else [])
    for shape in SMALL_INPUTS for name in IMAGE_BUILDERS])
def test_builds_uncompiled_functional_model_with_right_output(name, input_shape):
    x = _sample(input_shape)[:2]
    model = run_builder_test(name, {"input_shape": input_shape, "num_classes": 7, "name": f"my_{name}"}, x, (2, 7))
    assert model.name == f"my_{name}"
    assert model.output_shape == (None, 7)
    np.testing.assert_allclose(outputs_of(model, x).sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", slow_if_deep(IMAGE_BUILDERS))
def test_keras_file_and_savedmodel_round_trips(name, tmp_path):
    # The export's fused kernels round differently, and more so through many layers: resnet44's
    # probabilities once differed by 1.6e-5 from the eager model's. A real export fault (batch norm in
    # training mode, weights not restored) moves them by far more than 1e-4.
    run_saving_test(architectures.build(name, input_shape=SMALL, num_classes=3), _sample(SMALL), tmp_path,
                    export_atol=1e-4)


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


def test_lenet5_subsampling_is_average_or_max_pooling():
    layer_type = lambda model: type(model.get_layer("pool1")).__name__  # noqa: E731
    assert layer_type(architectures.build("lenet5")) == "AveragePooling2D"
    assert layer_type(architectures.build("lenet5", activation="relu", subsampling="max")) == "MaxPooling2D"
    with pytest.raises(ValueError, match=r"subsampling must be 'average' or 'max'\. Received: subsampling='min'"):
        architectures.build("lenet5", subsampling="min")
    with pytest.raises(ValueError, match=r"the subsampling layers' type is subsampling='max'\)\. Received: pooling"):
        architectures.build("lenet5", pooling="max")


def test_vit_pooling_is_the_token_or_the_mean_and_none_leaves_the_sequence():
    def layer_names(model):
        return {layer.name for layer in model.layers}

    token = architectures.build("vit", include_top=False)
    mean = architectures.build("vit", include_top=False, pooling="mean")
    sequence = architectures.build("vit", include_top=False, pooling=None)
    assert token.output_shape == mean.output_shape == (None, 64)
    assert "class_token" in layer_names(token) and "class_token" not in layer_names(mean)
    assert sequence.output_shape == (None, 49, 64)
    with pytest.raises(ValueError, match="head needs one vector per image.*Received: pooling=None, include_top=True"):
        architectures.build("vit", pooling=None)
    with pytest.raises(ValueError, match="pooling must be 'token', 'mean' or.*Received: pooling='avg'"):
        architectures.build("vit", pooling="avg")
