"""Reference parameter counts, the smallest-input rule, and the zoo's options."""

import keras
import numpy as np
import pytest

import architectures
from architectures import InputTooSmallError
from architectures.resnet import cifar_resnet


def _trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.slow  # 25-144 M parameters each, built twice
@pytest.mark.parametrize("name, application", [
    ("vgg16", "VGG16"), ("vgg19", "VGG19"), ("resnet50", "ResNet50"), ("resnet101", "ResNet101"),
    ("resnet152", "ResNet152"),
])
def test_counts_equal_keras_applications(name, application):
    reference = getattr(keras.applications, application)(weights=None).count_params()
    assert architectures.build(name).count_params() == reference
    keras.backend.clear_session()


# (name, builder kwargs, count, how it is counted, source) at 224x224x3 / 1000 classes unless given
DOCUMENTED = [
    ("lenet5", {"input_shape": (32, 32, 1)}, 61_706, "all", "LeCun et al. 1998"),
    ("lenet5", {"input_shape": (28, 28, 1)}, 61_706, "all", "same maps with a 'same' first conv"),
    ("lenet", {}, 431_080, "all", "Caffe LeNet"),
    ("alexnet", {}, 61_100_840, "all", "torchvision alexnet"),
    ("resnet18", {"conv_bias": False}, 11_689_512, "trainable", "torchvision resnet18"),
    ("resnet34", {"conv_bias": False}, 21_797_672, "trainable", "torchvision resnet34"),
    ("resnet20", {}, 274_042, "all", "He et al. 2016: 0.27 M"),
    ("resnet32", {}, 469_370, "all", "He et al. 2016: 0.46 M"),
    ("resnet44", {}, 664_698, "all", "He et al. 2016: 0.66 M"),
    ("resnet56", {}, 860_026, "all", "He et al. 2016: 0.85 M"),
    ("resnet110", {}, 1_739_002, "all", "He et al. 2016: 1.7 M"),
    ("se_resnet50", {"conv_bias": False}, 28_088_024, "trainable", "timm seresnet50"),
    ("se_resnet20", {}, 276_415, "all", "documented"),
    ("googlenet", {}, 7_020_392, "all", "documented"),
    ("googlenet", {"norm": None}, 6_998_552, "all", "documented"),
    ("vit", {}, 205_962, "all", "documented"),
    ("actor_critic", {}, 9_155, "all", "documented"),
    ("ssd_detector", {}, 780_236, "all", "documented"),
]


SLOW_TO_COUNT = {"alexnet", "resnet18", "resnet34", "se_resnet50"}  # over 10 M parameters at 224x224


@pytest.mark.parametrize("name, kwargs, count, counted, source", [
    pytest.param(*row, id=f"{row[0]}-{row[3]}-{i}", marks=[pytest.mark.slow] if row[0] in SLOW_TO_COUNT else [])
    for i, row in enumerate(DOCUMENTED)])
def test_documented_counts(name, kwargs, count, counted, source):
    model = architectures.build(name, **kwargs)
    assert (_trainable(model) if counted == "trainable" else model.count_params()) == count, source
    assert f"{count:,}" in architectures.get(name).__doc__, "the docstring states the count"


def test_googlenet_matches_the_paper_table_within_half_a_percent():
    model = architectures.build("googlenet", norm=None)
    weights = sum(int(np.prod(w.shape)) for w in model.weights if w.name != "bias")
    table_1 = sum([2.7, 112, 159, 380, 364, 437, 463, 580, 840, 1072, 1388, 1000]) * 1024
    assert abs(weights - table_1) / table_1 < 0.005


def _breaks(builder, size) -> bool:
    """True when Keras cannot build at this size, or builds a feature map with a side below 1."""
    try:
        model = builder(input_shape=(size, size, 1), num_classes=3)
    except Exception:
        return True
    return any(len(layer.output.shape) == 4 and min(layer.output.shape[1:3]) < 1 for layer in model.layers)


@pytest.mark.parametrize("name", [n for n in architectures.names() if architectures.min_input_size(n) > 1])
def test_smallest_input_is_exact_and_named_in_the_error(name):
    smallest = architectures.min_input_size(name)
    architectures.build(name, input_shape=(smallest, smallest, 1), num_classes=3).predict(
        np.zeros((1, smallest, smallest, 1)), verbose=0)
    with pytest.raises(InputTooSmallError, match=f"at least {smallest}x{smallest} pixels, got {smallest - 1}x"):
        architectures.build(name, input_shape=(smallest - 1, smallest - 1, 1), num_classes=3)
    assert _breaks(architectures.get(name).__wrapped__, smallest - 1), "the check is stricter than needed"


def test_vit_minimum_follows_the_patch_size():
    assert architectures.min_input_size("vit", patch_size=7) == 7
    with pytest.raises(InputTooSmallError, match="at least 7x7"):
        architectures.build("vit", input_shape=(6, 6, 1), patch_size=7)


@pytest.mark.parametrize("name", ["vgg16", "resnet50", "googlenet", "alexnet", "resnet20", "vit", "lenet5"])
def test_whole_zoo_takes_fashion_mnist_size(name):
    model = architectures.build(name, input_shape=(28, 28, 1), num_classes=10)
    assert model.predict(np.zeros((2, 28, 28, 1)), verbose=0).shape == (2, 10)


def test_vgg_gap_head_and_pooled_backbone():
    gap = architectures.build("vgg16", input_shape=(32, 32, 3), num_classes=10, head="gap")
    assert "avg_pool" in [layer.name for layer in gap.layers] and "fc1" not in [layer.name for layer in gap.layers]
    assert gap.count_params() == 14_714_688 + 512 * 10 + 10  # conv base + one Dense
    assert architectures.build("vgg16", input_shape=(32, 32, 3), include_top=False, pooling="avg").output_shape == (None, 512)


def test_resnet_flags():
    plain = architectures.build("resnet20")
    v2 = architectures.build("resnet20", preact=True)
    se = architectures.build("resnet20", se_ratio=4)
    names = lambda model: [layer.name for layer in model.layers]  # noqa: E731
    assert "stage1_block1_preact_bn" in names(v2) and "post_bn" in names(v2) and "stage1_block1_out" not in names(v2)
    assert "stage3_block3_se_scale" in names(se) and not any("_se_" in n for n in names(plain))
    assert architectures.build("resnet56").get_layer("stage3_block9_add") is not None
    with pytest.raises(ValueError, match="6n \\+ 2"):
        cifar_resnet(21)


def test_googlenet_aux_heads_give_three_outputs():
    model = architectures.build("googlenet", input_shape=(32, 32, 3), num_classes=10, aux_heads=True)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 10)] * 3
    assert {"aux1_predictions", "aux2_predictions"} <= {layer.name for layer in model.layers}
