"""Every registered builder that does not classify a whole input (reconstructions, generated and
super-resolved images, per-pixel class maps, regression values), tested by being registered:
output shape, get_config round trip, .keras save/load and SavedModel export."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures
from architectures.layers import PixelShuffle
from recipes.saved_models import export

BUILDERS = [e.name for e in architectures.entries()
            if e.inputs in ("image", "vector", "latent") and e.outputs != "classes"]
IMAGE = (28, 28, 1)


def _build(name, **kwargs):
    kind = architectures.entry(name).inputs
    shape = {"image": {"unet": (32, 32, 3), "espcn": (14, 14, 1)}.get(name, IMAGE), "vector": (1,), "latent": IMAGE}[kind]
    return architectures.build(name, input_shape=shape, **kwargs)


def _sample(name, model, seed=0):
    rng = np.random.default_rng(seed)
    if architectures.entry(name).inputs == "latent":
        return rng.normal(size=(3, model.latent_dim)).astype("float32")
    shape = model.input_shape[1:] if not hasattr(model, "encoder") else model.encoder.input_shape[1:]
    return rng.uniform(0, 1, (3, *shape)).astype("float32")


def _outputs(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _functional_parts(model):
    """The model itself, or for a model with its own train_step, the functional models inside."""
    if isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False) or type(model) is keras.Model:
        return [model]
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


@pytest.fixture(scope="module", params=BUILDERS)
def built(request):
    model = _build(request.param)
    yield request.param, model
    keras.backend.clear_session()


def test_every_kind_is_registered():
    assert {"autoencoder", "vae", "dcgan", "espcn", "unet", "shallow_relu"} <= set(BUILDERS)


def test_output_shape_and_range(built):
    name, model = built
    x = _sample(name, model)
    out = _outputs(model, x)
    kind = architectures.entry(name).outputs
    assert np.all(np.isfinite(out))
    if name == "espcn":
        assert out.shape == (3, 28, 28, 1)
    elif kind == "image":
        assert out.shape == (3, *IMAGE)
        low, high = (-1, 1) if name == "dcgan" else (0, 1)
        assert out.min() >= low and out.max() <= high
    elif kind == "class_map":
        assert out.shape == (3, 32, 32, 4)
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)
    else:
        assert out.shape == (3, 1)


def test_get_config_round_trip(built):
    name, model = built
    clone = type(model).from_config(model.get_config())
    x = _sample(name, model)
    clone(x)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(_outputs(clone, x), _outputs(model, x), rtol=1e-5, atol=1e-6)


def test_keras_file_save_and_load(built, tmp_path):
    name, model = built
    model.save(tmp_path / f"{name}.keras")
    loaded = keras.models.load_model(tmp_path / f"{name}.keras")
    assert type(loaded) is type(model)
    x = _sample(name, model)
    np.testing.assert_allclose(_outputs(loaded, x), _outputs(model, x), rtol=1e-5, atol=1e-6)


def test_functional_parts_export_and_reload(built, tmp_path):
    name, model = built
    for part in _functional_parts(model):
        path = export(part, part.name, export_dir=tmp_path)
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        x = np.random.default_rng(1).uniform(0, 1, (2, *part.input_shape[1:])).astype("float32")
        (input_name,) = serve.structured_input_signature[1]
        served = serve(**{input_name: tf.constant(x)})
        expected = part(x, training=False)
        expected = expected if isinstance(expected, dict) else {"outputs": expected}
        assert set(served) == set(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(served[key].numpy(), keras.ops.convert_to_numpy(value), rtol=1e-5, atol=1e-5)


def test_pixel_shuffle_matches_depth_to_space():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 12)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(PixelShuffle(2)(x)),
                                  tf.nn.depth_to_space(x, 2).numpy())


@pytest.mark.parametrize("name, shape, message", [
    ("unet", (30, 30, 3), "divisible by 4"),
    ("autoencoder", (30, 30, 1), "divisible by 4"),
    ("dcgan", (30, 30, 1), "divisible by 4"),
])
def test_sizes_that_do_not_divide_are_refused_with_what_to_do(name, shape, message):
    with pytest.raises(ValueError, match=f"{message}.*pad or resize"):
        architectures.build(name, input_shape=shape)


@pytest.mark.parametrize("name, arguments, message", [
    ("espcn", {"upscale": 1}, "upscale must be an integer of at least 2, got 1; 2 doubles"),
    ("espcn", {"upscale": 2.5}, "upscale must be an integer of at least 2, got 2.5"),
    ("vae", {"latent_dim": 0}, "latent_dim must be an integer of at least 1, got 0; 2 gives a latent map"),
    ("vae", {"latent_dim": -3}, "latent_dim must be an integer of at least 1, got -3"),
    ("dcgan", {"latent_dim": 0}, "latent_dim must be an integer of at least 1, got 0"),
    ("autoencoder", {"code_size": 0}, "code_size must be an integer of at least 1, got 0"),
])
def test_out_of_range_arguments_say_what_they_need(name, arguments, message):
    with pytest.raises(ValueError, match=f"^{name}: {re.escape(message)}"):
        architectures.build(name, **arguments)


def test_autoencoder_kinds_and_denoising():
    dense = architectures.build("autoencoder", kind="dense", code_size=8, noise_stddev=0.2)
    assert dense.get_layer("encoder").output_shape == (None, 8)
    x = np.random.default_rng(0).uniform(0, 1, (2, *IMAGE)).astype("float32")
    np.testing.assert_allclose(_outputs(dense, x), _outputs(dense, x))  # no noise at inference
    assert not np.allclose(keras.ops.convert_to_numpy(dense(x, training=True)), _outputs(dense, x))
    with pytest.raises(ValueError, match="kind must be 'conv' or 'dense'"):
        architectures.build("autoencoder", kind="recurrent")


def test_shallow_relu_has_one_hidden_layer_of_the_given_width():
    model = architectures.build("shallow_relu", hidden_units=64)
    assert [layer.name for layer in model.layers] == ["inputs", "hidden", "predictions"]
    assert model.count_params() == 64 * 2 + 64 + 1
