"""``norm=`` on every conv builder that normalizes: each value puts the right Keras layer in every
normalized place, trains a step, and survives a ``.keras`` save and load."""

import keras
import numpy as np
import pytest

import architectures
from architectures.blocks import group_count
from architectures.registry import NORMS, builder_keywords
from harness import DEEP_BUILDERS, assert_all_close, outputs_of

NORM_BUILDERS = [name for name in architectures.names() if "norm" in (builder_keywords(name) or ())]

# One builder per code path that places norms (the other depths repeat the same blocks), small
# enough to build in about a second.
SMALL_KWARGS = {
    "mnist_cnn": {"input_shape": (28, 28, 1), "filters": (4, 8), "dense_units": 16},
    "vgg16": {"input_shape": (32, 32, 3), "num_classes": 3, "head": "gap"},
    "resnet20": {"input_shape": (16, 16, 3), "num_classes": 3, "width": 4},
    "se_resnet20": {"input_shape": (16, 16, 3), "num_classes": 3, "width": 4},
    "resnet18": {"input_shape": (32, 32, 3), "num_classes": 3},
    "resnet50": {"input_shape": (32, 32, 3), "num_classes": 3},
    "googlenet": {"input_shape": (32, 32, 3), "num_classes": 3},
    "unet": {"input_shape": (16, 16, 3), "filters": (4, 8)},
    "airbench": {"input_shape": (16, 16, 3), "filters": (8, 8, 8)},
    "dcgan": {"input_shape": (16, 16, 1), "latent_dim": 8, "filters": (16, 8)},
    "ssd_detector": {"input_shape": (64, 64, 1), "num_classes": 3, "filters": (4, 4, 4, 4, 4), "head_width": 4},
}


def normalized_parts(model) -> list[keras.Model]:
    """The networks ``norm`` applies to: the model, or a GAN's discriminator (its generator keeps batch norm)."""
    return [model.discriminator] if hasattr(model, "discriminator") else [model]


def norm_layers(model):
    return [layer for part in normalized_parts(model) for layer in part.layers
            if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.GroupNormalization,
                                  keras.layers.LayerNormalization))]


def describe(layer) -> str:
    """What a normalization layer computes, in the terms of ``norm``."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return "batch_renorm" if layer.renorm else "batch"
    if isinstance(layer, keras.layers.LayerNormalization):
        return "layer norm (Dense)"
    if layer.groups == 1:
        return "layer"
    return "instance" if layer.groups in (-1, layer.input.shape[-1]) else "group"  # build() turns -1 into channels


def test_every_family_with_norm_is_checked():
    assert set(SMALL_KWARGS) <= set(NORM_BUILDERS)
    families = {architectures.entry(name).family for name in NORM_BUILDERS}
    missing = families - {architectures.entry(name).family for name in SMALL_KWARGS}
    assert not missing, f"give a builder of each of {sorted(missing)} small kwargs in SMALL_KWARGS"
    assert families >= {"cnn", "vgg", "resnet", "inception", "unet", "gan", "airbench", "ssd"}


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in DEEP_BUILDERS else n
                                  for n in SMALL_KWARGS])
def test_norm_reaches_every_normalized_layer(name, norm):
    model = architectures.build(name, norm=norm, **SMALL_KWARGS[name])
    found = {describe(layer) for layer in norm_layers(model)}
    if norm is None:
        assert not found
        return
    places = len(norm_layers(architectures.build(name, norm="batch", **SMALL_KWARGS[name])))
    assert len(norm_layers(model)) == places, "a normalized place was skipped or added"
    allowed = {norm} | ({"layer norm (Dense)"} if norm in ("layer", "instance", "group") else set())
    assert found <= allowed and norm in found, found


def test_defaults_keep_each_builders_normalization():
    defaults = {name: {describe(layer) for layer in norm_layers(architectures.build(name, **SMALL_KWARGS[name]))}
                for name in ("mnist_cnn", "resnet20", "unet", "dcgan", "airbench", "vgg16")}
    assert defaults == {"mnist_cnn": {"batch"}, "resnet20": {"batch"}, "unet": {"batch"}, "dcgan": {"batch"},
                        "airbench": {"batch"}, "vgg16": set()}


def test_preact_resnet_takes_norm_too():
    model = architectures.build("resnet20", preact=True, norm="group", **SMALL_KWARGS["resnet20"])
    assert {describe(layer) for layer in norm_layers(model)} == {"group"}
    assert model.get_layer("post_gn").groups == group_count(16)


@pytest.mark.parametrize("channels, groups", [(1, 1), (3, 1), (4, 2), (16, 8), (48, 24), (64, 32), (256, 32)])
def test_group_count_keeps_two_channels_per_group_and_at_most_32_groups(channels, groups):
    assert group_count(channels) == groups


def test_unknown_norm_names_the_choices():
    with pytest.raises(ValueError, match=r"norm must be one of batch, batch_renorm, layer, instance, group, None"):
        architectures.build("mnist_cnn", norm="bn")


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ["mnist_cnn", "resnet20"])
def test_each_norm_trains_a_step_and_round_trips(name, norm, tmp_path):
    kwargs = SMALL_KWARGS[name]
    model = architectures.build(name, norm=norm, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (8, *kwargs["input_shape"])).astype("float32")
    y = rng.integers(0, 3, 8)
    before = [w.copy() for w in model.get_weights()]
    first = float(model.train_on_batch(x, y))
    assert np.isfinite(first)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights())), "the step changed nothing"

    path = tmp_path / f"{name}_{norm}.keras"
    model.save(path)
    assert_all_close(outputs_of(keras.models.load_model(path), x), outputs_of(model, x))
