import keras
import numpy as np
import pytest

import architectures
import recipes
from recipes import data
from recipes.errors import ConfigError
from recipes.training.transfer import fine_tune, set_trainable, strip_head


@pytest.fixture(scope="module")
def tiny_fashion(fashion_mnist_dir):
    return data.load("fashion_mnist", batch_size=64, train_limit=384, test_limit=128, seed=1)


def _weights_by_layer(model):
    layers = {}
    for layer in model._flatten_layers(include_self=False):
        if layer.weights and not isinstance(layer, keras.Model):
            layers[layer.name] = [np.array(w) for w in layer.weights]
    return layers


@pytest.mark.e2e
def test_two_phases_train_exactly_what_they_say(tiny_fashion, tmp_path):
    pretrained = recipes.classifier_for(tiny_fashion.info, "mnist_cnn", filters=(8, 16), dense_units=32)
    path = tmp_path / "pretrained.keras"
    pretrained.save(path)
    before = _weights_by_layer(keras.models.load_model(path))

    result = fine_tune(path, tiny_fashion, head_epochs=1, fine_tune_epochs=1, unfreeze="conv2",
                       callbacks={}, run_dir=tmp_path / "ft", verbose=0)
    assert result.trainable_in_phase2 == ["conv2_conv"]  # conv2_bn matches the prefix but stays frozen
    after = _weights_by_layer(result.model)
    for name, weights in before.items():
        if name == "predictions":
            continue
        changed = any(not np.allclose(a, b) for a, b in zip(weights, after[name]))
        assert changed == (name == "conv2_conv"), name
    assert {"predictions", "head_dropout"} <= {layer.name for layer in result.model.layers}
    assert result.head_only.test_metrics and result.fine_tuned.test_metrics


def test_batch_norm_stays_in_inference_mode(tiny_fashion, tmp_path):
    backbone = architectures.build("resnet20", input_shape=(28, 28, 1), include_top=False, width=4)
    statistics = {w.path: np.array(w) for w in backbone.weights if "moving" in w.path}
    result = fine_tune(backbone, tiny_fashion, head_epochs=1, fine_tune_epochs=1, unfreeze=4,
                       callbacks={}, run_dir=tmp_path, verbose=0)
    assert statistics and all(np.allclose(np.array(w), statistics[w.path])
                              for w in backbone.weights if "moving" in w.path)
    # the top four layers with weights are the last block's two convs and their batch norms
    assert result.trainable_in_phase2 == ["stage3_block3_1_conv", "stage3_block3_2_conv"]
    assert "rescale" in [layer.name for layer in result.model.layers]  # a bare builder gets scaling
    assert not any(isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
                   for layer in backbone._flatten_layers())


@pytest.mark.e2e
def test_registered_builder_and_applications_backbones(tiny_fashion, tmp_path):
    result = fine_tune("lenet5", tiny_fashion, head_epochs=1, fine_tune_epochs=0, callbacks={},
                       run_dir=tmp_path / "a", verbose=0, activation="relu")
    assert result.fine_tuned is None and "rescale" in [layer.name for layer in result.model.layers]

    rgb = data.from_arrays("rgb", data.RawData(
        np.random.default_rng(0).integers(0, 255, (64, 32, 32, 3), dtype=np.uint8), np.arange(64) % 2,
        np.zeros((8, 32, 32, 3), np.uint8), np.zeros(8, np.int32), ("a", "b"), "pixels", 255.0, "test"),
        batch_size=16)
    weights = tmp_path / "mobilenet_notop.weights.h5"
    keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, include_top=False,
                                 weights=None).save_weights(weights)
    result = fine_tune("keras.applications.MobileNet", rgb, weights=weights, alpha=0.25, head_epochs=1,
                       fine_tune_epochs=1, unfreeze="conv_pw_13", callbacks={}, run_dir=tmp_path / "b", verbose=0)
    assert result.trainable_in_phase2 == ["conv_pw_13"]


def test_clear_errors(tiny_fashion, tmp_path):
    with pytest.raises(ConfigError, match="needs weights=<local"):
        fine_tune("keras.applications.ResNet50", tiny_fashion, run_dir=tmp_path)
    backbone = architectures.build("mnist_cnn", include_top=False)
    with pytest.raises(ConfigError, match="matches no layer"):
        set_trainable(backbone, "stage9")
    with pytest.raises(architectures.StripHeadError, match="no layer named 'predictions'"):
        strip_head(backbone)
