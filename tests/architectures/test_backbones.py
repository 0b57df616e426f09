"""strip_head and leaf_layers on the models transfer learning starts from: a builder's own, and a
recipe's, which nests the builder behind its rescaling input."""

import keras
import numpy as np
import pytest

import architectures
from architectures import StripHeadError, leaf_layers, strip_head
from harness import outputs_of


def _recipe_model(backbone):
    """As recipes build classifiers: raw pixels, rescaled inside the graph, then the builder's model."""
    inputs = keras.Input(backbone.input_shape[1:], name="pixels")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    return keras.Model(inputs, backbone(x), name=f"{backbone.name}_recipe")


def _pixels(shape=(28, 28, 1)):
    return np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype("float32")


def test_strip_head_ends_at_the_input_of_predictions_and_shares_weights():
    model = architectures.build("lenet", num_classes=4)
    features = strip_head(model)
    assert features.name == "lenet_features" and features.output_shape == (None, 500)
    assert "predictions" not in [layer.name for layer in features.layers]
    assert {id(w) for w in features.weights} <= {id(w) for w in model.weights}
    expected = keras.Model(model.input, model.get_layer("fc1").output)
    np.testing.assert_allclose(outputs_of(features, _pixels()), outputs_of(expected, _pixels()), rtol=1e-6)


def test_strip_head_cuts_the_head_out_of_a_builder_nested_behind_a_rescaling_input():
    backbone = architectures.build("mnist_cnn", num_classes=4, dense_units=16)
    model = _recipe_model(backbone)
    features = strip_head(model)
    assert features.input.name == "pixels" and features.output_shape == (None, 16)
    assert "predictions" not in {layer.name for layer in leaf_layers(features)}
    assert {id(w) for w in features.weights} <= {id(w) for w in model.weights}
    headless = keras.Model(backbone.input, backbone.get_layer("predictions").input)
    np.testing.assert_allclose(outputs_of(features, _pixels()), outputs_of(headless, _pixels() / 255), rtol=1e-5,
                               atol=1e-6)


def test_strip_head_keeps_the_input_dtype_of_a_nested_token_model():
    backbone = architectures.build("lstm", input_shape=(None, 3), num_classes=2, units=4)
    inputs = keras.Input((None, 3), name="series")
    features = strip_head(keras.Model(inputs, backbone(keras.layers.Identity(name="upstream")(inputs))))
    assert features.output_shape == (None, 4)
    token_model = architectures.build("text_classifier", vocabulary_size=12, embedding_dim=8, units=4)
    ids = keras.Input((None,), dtype="int32", name="ids")
    stripped = strip_head(keras.Model(ids, token_model(keras.layers.Identity(name="upstream")(ids))))
    assert stripped.input.dtype == "int32" and stripped.output_shape == (None, 8)


def test_strip_head_of_a_headless_model_says_to_pass_a_backbone():
    backbone = architectures.build("lenet", include_top=False)
    with pytest.raises(StripHeadError, match="^lenet has no layer named 'predictions' to cut off; pass a headless "
                                             "backbone$"):
        strip_head(backbone)
    assert issubclass(StripHeadError, ValueError)


def test_strip_head_refuses_a_nested_model_that_is_not_a_simple_chain():
    backbone = architectures.build("mlp", input_shape=(4,), num_classes=3, hidden_units=(8,))
    first, second = keras.Input((4,), name="first"), keras.Input((4,), name="second")
    two_inputs = keras.Model([first, second], keras.layers.Add()([backbone(first), backbone(second)]), name="pair")
    with pytest.raises(StripHeadError, match="^pair: can only cut the head out of a nested model in a simple chain$"):
        strip_head(two_inputs)


def test_leaf_layers_flatten_nested_models_in_graph_order_without_inputs():
    backbone = architectures.build("mlp", input_shape=(28, 28, 1), num_classes=3, hidden_units=(8,))
    leaves = leaf_layers(_recipe_model(backbone))
    assert [layer.name for layer in leaves] == ["rescale", "flatten", "hidden1_dense", "hidden1_act", "predictions"]
    assert leaves[2] is backbone.get_layer("hidden1_dense")
