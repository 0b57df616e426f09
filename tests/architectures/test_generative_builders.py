"""Every registered builder that does not classify a whole input (reconstructions, generated and
super-resolved images, per-pixel class maps, regression values, actor-critic policies, detections),
tested by being registered: output shape and range, get_config round trip, .keras save/load and
SavedModel export."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures
from architectures.detection import detector_anchors
from architectures.layers import PixelShuffle
from harness import outputs_of, run_builder_test, run_saving_test

BUILDERS = [e.name for e in architectures.entries()
            if e.inputs in ("image", "vector", "latent") and e.outputs != "classes"]
IMAGE = (28, 28, 1)
LATENT = 16


def _kwargs(name):
    kind = architectures.entry(name).inputs
    if kind == "latent":
        return {"input_shape": IMAGE, "latent_dim": LATENT}
    image = {"unet": (32, 32, 3), "espcn": (14, 14, 1)}.get(name, IMAGE)
    return {"input_shape": {"image": image, "vector": (1,)}[kind]}


def _sample(name, seed=0):
    rng = np.random.default_rng(seed)
    if architectures.entry(name).inputs == "latent":
        return rng.normal(size=(3, LATENT)).astype("float32")
    return rng.uniform(0, 1, (3, *_kwargs(name)["input_shape"])).astype("float32")


def _expected_shape(name):
    kind = architectures.entry(name).outputs
    if name == "espcn":
        return (3, 28, 28, 1)
    if kind == "detections":  # box deltas and 10 class logits per anchor
        return (3, len(detector_anchors(IMAGE)), 4 + 10)
    return {"image": (3, *IMAGE), "class_map": (3, 32, 32, 4), "values": (3, 1),
            "policy": {"action_probabilities": (3, 2), "value": (3, 1)}}[kind]


def test_every_kind_is_registered():
    assert {"autoencoder", "vae", "dcgan", "espcn", "unet", "shallow_relu", "actor_critic",
            "ssd_detector"} <= set(BUILDERS)


@pytest.mark.parametrize("name", BUILDERS)
def test_output_shape_range_and_config_round_trip(name):
    model = run_builder_test(name, _kwargs(name), _sample(name), _expected_shape(name))
    out = outputs_of(model, _sample(name))
    kind = architectures.entry(name).outputs
    if kind == "image" and name != "espcn":  # super-resolution is linear; the others end in sigmoid or tanh
        low, high = (-1, 1) if name == "dcgan" else (0, 1)
        assert out.min() >= low and out.max() <= high
    elif kind == "class_map":
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)
    elif kind == "policy":
        np.testing.assert_allclose(out["action_probabilities"].sum(axis=-1), 1.0, rtol=1e-5)
    keras.backend.clear_session()


@pytest.mark.parametrize("name", BUILDERS)
def test_keras_file_and_functional_parts_savedmodel_round_trips(name, tmp_path):
    run_saving_test(architectures.build(name, **_kwargs(name)), _sample(name), tmp_path, export_atol=1e-5)
    keras.backend.clear_session()


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
    np.testing.assert_allclose(outputs_of(dense, x), outputs_of(dense, x))  # no noise at inference
    assert not np.allclose(keras.ops.convert_to_numpy(dense(x, training=True)), outputs_of(dense, x))
    with pytest.raises(ValueError, match="kind must be 'conv' or 'dense'"):
        architectures.build("autoencoder", kind="recurrent")


def test_shallow_relu_has_one_hidden_layer_of_the_given_width():
    model = architectures.build("shallow_relu", hidden_units=64)
    assert [layer.name for layer in model.layers] == ["inputs", "hidden", "predictions"]
    assert model.count_params() == 64 * 2 + 64 + 1


def test_actor_critic_torsos_are_shared_or_separate_and_the_policy_starts_near_uniform():
    separate = architectures.build("actor_critic", input_shape=(4,), num_actions=3, hidden_units=(8,))
    shared = architectures.build("actor_critic", input_shape=(4,), num_actions=3, hidden_units=(8,), shared_torso=True)
    assert {"policy_dense1", "value_dense1"} <= {layer.name for layer in separate.layers}
    assert "torso_dense1" in {layer.name for layer in shared.layers}
    assert separate.count_params() == 2 * (4 * 8 + 8) + (8 * 3 + 3) + (8 + 1)
    assert shared.count_params() == (4 * 8 + 8) + (8 * 3 + 3) + (8 + 1)
    probabilities = outputs_of(separate, np.random.default_rng(0).normal(size=(5, 4)).astype("float32"))
    np.testing.assert_allclose(probabilities["action_probabilities"], 1 / 3, atol=0.02)
    with pytest.raises(ValueError, match=r"^actor_critic: num_actions must be an integer of at least 1, got 0"):
        architectures.build("actor_critic", num_actions=0)
    with pytest.raises(ValueError, match=r"shared_torso must be True or False\. Received: shared_torso='yes'"):
        architectures.build("actor_critic", shared_torso="yes")
