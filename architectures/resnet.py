"""Residual networks (He et al. 2016): CIFAR-style ResNet-20...110 with basic blocks, ImageNet-style
ResNet-18...152, pre-activation (v2) ordering and squeeze-excitation, each by a flag."""

import keras
from keras import layers

from architectures.blocks import (NORMS_DOC, bn_act, classifier_head, conv_bn_act, pooled_features,
                                  residual_block)
from architectures.registry import register, register_search_space

_IMAGENET = {  # depth -> (blocks per stage, bottleneck)
    18: ((2, 2, 2, 2), False),
    34: ((3, 4, 6, 3), False),
    50: ((3, 4, 6, 3), True),
    101: ((3, 4, 23, 3), True),
    152: ((3, 8, 36, 3), True),
}


def _head(inputs, x, *, num_classes, include_top, pooling, classifier_activation, preact, norm, name):
    if preact:
        x = bn_act(x, norm=norm, name="post")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = classifier_head(x, num_classes, classifier_activation)
    else:
        x = pooled_features(x, pooling)
    return keras.Model(inputs, x, name=name)


def cifar_resnet(depth, input_shape=(32, 32, 3), num_classes=10, *, include_top=True, pooling="avg",
                 classifier_activation="softmax", width=16, preact=False, se_ratio=None, norm="batch",
                 name=None) -> keras.Model:
    """3 stages of (depth - 2) / 6 basic blocks at width, 2x width and 4x width (He et al. 2016,
    section 4.2), with 1x1 projection shortcuts where the shape changes."""
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2 (20, 32, 44, 56, 110), not {depth}")
    blocks = (depth - 2) // 6
    inputs = keras.Input(input_shape, name="inputs")
    x = conv_bn_act(inputs, width, 3, activation=None if preact else "relu", norm=None if preact else norm,
                    use_bias=not preact and norm is None, name="stem")
    for stage in range(3):
        for block in range(blocks):
            x = residual_block(x, width * 2**stage, stride=2 if stage and not block else 1, preact=preact,
                               se_ratio=se_ratio, norm=norm, name=f"stage{stage + 1}_block{block + 1}")
    return _head(inputs, x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                 classifier_activation=classifier_activation, preact=preact, norm=norm,
                 name=name or f"resnet{depth}")


def imagenet_resnet(depth, input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling="avg",
                    classifier_activation="softmax", preact=False, se_ratio=None, conv_bias=True,
                    norm="batch", name=None) -> keras.Model:
    """7x7/2 stem, 3x3/2 max-pool, four stages at 64-512 filters (x4 in bottleneck blocks).

    ``conv_bias=True`` gives every convolution a bias, as keras.applications does, so ResNet-50,
    101 and 152 have exactly its parameter counts; ``conv_bias=False`` gives torchvision's.
    """
    stages, bottleneck = _IMAGENET[depth]
    inputs = keras.Input(input_shape, name="inputs")
    x = layers.ZeroPadding2D(3, name="stem_pad")(inputs)
    x = conv_bn_act(x, 64, 7, strides=2, padding="valid", activation=None if preact else "relu",
                    norm=None if preact else norm, use_bias=conv_bias, name="stem")
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for stage, blocks in enumerate(stages):
        for block in range(blocks):
            x = residual_block(x, 64 * 2**stage, stride=2 if stage and not block else 1, bottleneck=bottleneck,
                               preact=preact, se_ratio=se_ratio, conv_bias=conv_bias, norm=norm,
                               name=f"stage{stage + 1}_block{block + 1}")
    return _head(inputs, x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                 classifier_activation=classifier_activation, preact=preact, norm=norm,
                 name=name or f"resnet{depth}")


_CIFAR_OPTIONS_DOC = """

    Options of every CIFAR ResNet (``cifar_resnet`` does the work):
        width: filters in the first stage; the second and third have 2x and 4x as many.
        preact: the pre-activation (v2) ordering: BN-ReLU before each convolution.
        se_ratio: squeeze-excitation in every block with this reduction ratio; None for none.
""" + "    " + NORMS_DOC + "\n"

_IMAGENET_OPTIONS_DOC = """

    Options of every ImageNet ResNet (``imagenet_resnet`` does the work):
        preact: the pre-activation (v2) ordering: BN-ReLU before each convolution.
        se_ratio: squeeze-excitation in every block with this reduction ratio; None for none.
        conv_bias: a bias in every convolution, as keras.applications has (its parameter
            counts); False gives torchvision's.
""" + "    " + NORMS_DOC + "\n"


def _documented(options_doc: str):
    """Appends the options shared by a family of variants to a builder's own docstring."""
    def decorate(builder):
        builder.__doc__ = builder.__doc__.rstrip() + options_doc
        return builder
    return decorate


@register("resnet20", family="resnet", paper="He et al. 2016, arXiv:1512.03385")
@_documented(_CIFAR_OPTIONS_DOC)
def resnet20(input_shape=(32, 32, 3), num_classes=10, *, include_top=True, pooling="avg",
             classifier_activation="softmax", width=16, preact=False, se_ratio=None, norm="batch",
             name="resnet20") -> keras.Model:
    """CIFAR ResNet-20, 3 x 3 basic blocks: 274,042 parameters (0.27 M) at 32x32x3, 10 classes."""
    return cifar_resnet(20, input_shape, num_classes, include_top=include_top, pooling=pooling,
                        classifier_activation=classifier_activation, width=width, preact=preact,
                        se_ratio=se_ratio, norm=norm, name=name)


@register("resnet32", family="resnet", paper="He et al. 2016, arXiv:1512.03385")
@_documented(_CIFAR_OPTIONS_DOC)
def resnet32(input_shape=(32, 32, 3), num_classes=10, *, include_top=True, pooling="avg",
             classifier_activation="softmax", width=16, preact=False, se_ratio=None, norm="batch",
             name="resnet32") -> keras.Model:
    """CIFAR ResNet-32, 3 x 5 basic blocks: 469,370 parameters (0.47 M)."""
    return cifar_resnet(32, input_shape, num_classes, include_top=include_top, pooling=pooling,
                        classifier_activation=classifier_activation, width=width, preact=preact,
                        se_ratio=se_ratio, norm=norm, name=name)


@register("resnet44", family="resnet", paper="He et al. 2016, arXiv:1512.03385")
@_documented(_CIFAR_OPTIONS_DOC)
def resnet44(input_shape=(32, 32, 3), num_classes=10, *, include_top=True, pooling="avg",
             classifier_activation="softmax", width=16, preact=False, se_ratio=None, norm="batch",
             name="resnet44") -> keras.Model:
    """CIFAR ResNet-44, 3 x 7 basic blocks: 664,698 parameters (0.66 M)."""
    return cifar_resnet(44, input_shape, num_classes, include_top=include_top, pooling=pooling,
                        classifier_activation=classifier_activation, width=width, preact=preact,
                        se_ratio=se_ratio, norm=norm, name=name)


@register("resnet56", family="resnet", paper="He et al. 2016, arXiv:1512.03385")
@_documented(_CIFAR_OPTIONS_DOC)
def resnet56(input_shape=(32, 32, 3), num_classes=10, *, include_top=True, pooling="avg",
             classifier_activation="softmax", width=16, preact=False, se_ratio=None, norm="batch",
             name="resnet56") -> keras.Model:
    """CIFAR ResNet-56, 3 x 9 basic blocks: 860,026 parameters (0.85 M in the paper)."""
    return cifar_resnet(56, input_shape, num_classes, include_top=include_top, pooling=pooling,
                        classifier_activation=classifier_activation, width=width, preact=preact,
                        se_ratio=se_ratio, norm=norm, name=name)


@register("resnet110", family="resnet", paper="He et al. 2016, arXiv:1512.03385")
@_documented(_CIFAR_OPTIONS_DOC)
def resnet110(input_shape=(32, 32, 3), num_classes=10, *, include_top=True, pooling="avg",
              classifier_activation="softmax", width=16, preact=False, se_ratio=None, norm="batch",
              name="resnet110") -> keras.Model:
    """CIFAR ResNet-110, 3 x 18 basic blocks: 1,739,002 parameters (1.7 M)."""
    return cifar_resnet(110, input_shape, num_classes, include_top=include_top, pooling=pooling,
                        classifier_activation=classifier_activation, width=width, preact=preact,
                        se_ratio=se_ratio, norm=norm, name=name)


@register("resnet18", family="resnet", paper="He et al. 2016, arXiv:1512.03385")
@_documented(_IMAGENET_OPTIONS_DOC)
def resnet18(input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling="avg",
             classifier_activation="softmax", preact=False, se_ratio=None, conv_bias=True, norm="batch",
             name="resnet18") -> keras.Model:
    """ImageNet ResNet-18, basic blocks: 11,689,512 trainable parameters with conv_bias=False,
    as torchvision's resnet18 (which does not count batch-norm moving statistics)."""
    return imagenet_resnet(18, input_shape, num_classes, include_top=include_top, pooling=pooling,
                           classifier_activation=classifier_activation, preact=preact, se_ratio=se_ratio,
                           conv_bias=conv_bias, norm=norm, name=name)


@register("resnet34", family="resnet", paper="He et al. 2016, arXiv:1512.03385")
@_documented(_IMAGENET_OPTIONS_DOC)
def resnet34(input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling="avg",
             classifier_activation="softmax", preact=False, se_ratio=None, conv_bias=True, norm="batch",
             name="resnet34") -> keras.Model:
    """ImageNet ResNet-34, basic blocks: 21,797,672 trainable parameters with conv_bias=False,
    as torchvision's resnet34."""
    return imagenet_resnet(34, input_shape, num_classes, include_top=include_top, pooling=pooling,
                           classifier_activation=classifier_activation, preact=preact, se_ratio=se_ratio,
                           conv_bias=conv_bias, norm=norm, name=name)


@register("resnet50", family="resnet", paper="He et al. 2016, arXiv:1512.03385")
@_documented(_IMAGENET_OPTIONS_DOC)
def resnet50(input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling="avg",
             classifier_activation="softmax", preact=False, se_ratio=None, conv_bias=True, norm="batch",
             name="resnet50") -> keras.Model:
    """ImageNet ResNet-50, bottleneck blocks: 25,636,712 parameters, as keras.applications.ResNet50."""
    return imagenet_resnet(50, input_shape, num_classes, include_top=include_top, pooling=pooling,
                           classifier_activation=classifier_activation, preact=preact, se_ratio=se_ratio,
                           conv_bias=conv_bias, norm=norm, name=name)


@register("resnet101", family="resnet", paper="He et al. 2016, arXiv:1512.03385")
@_documented(_IMAGENET_OPTIONS_DOC)
def resnet101(input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling="avg",
              classifier_activation="softmax", preact=False, se_ratio=None, conv_bias=True, norm="batch",
              name="resnet101") -> keras.Model:
    """ImageNet ResNet-101: 44,707,176 parameters, as keras.applications.ResNet101."""
    return imagenet_resnet(101, input_shape, num_classes, include_top=include_top, pooling=pooling,
                           classifier_activation=classifier_activation, preact=preact, se_ratio=se_ratio,
                           conv_bias=conv_bias, norm=norm, name=name)


@register("resnet152", family="resnet", paper="He et al. 2016, arXiv:1512.03385")
@_documented(_IMAGENET_OPTIONS_DOC)
def resnet152(input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling="avg",
              classifier_activation="softmax", preact=False, se_ratio=None, conv_bias=True, norm="batch",
              name="resnet152") -> keras.Model:
    """ImageNet ResNet-152: 60,419,944 parameters, as keras.applications.ResNet152."""
    return imagenet_resnet(152, input_shape, num_classes, include_top=include_top, pooling=pooling,
                           classifier_activation=classifier_activation, preact=preact, se_ratio=se_ratio,
                           conv_bias=conv_bias, norm=norm, name=name)


@register("se_resnet20", family="resnet", paper="Hu et al. 2018, arXiv:1709.01507")
@_documented(_CIFAR_OPTIONS_DOC)
def se_resnet20(input_shape=(32, 32, 3), num_classes=10, *, include_top=True, pooling="avg",
                classifier_activation="softmax", width=16, preact=False, se_ratio=16, norm="batch",
                name="se_resnet20") -> keras.Model:
    """CIFAR ResNet-20 with squeeze-excitation (ratio 16) in every block: 276,415 parameters."""
    return cifar_resnet(20, input_shape, num_classes, include_top=include_top, pooling=pooling,
                        classifier_activation=classifier_activation, width=width, preact=preact,
                        se_ratio=se_ratio, norm=norm, name=name)


@register("se_resnet50", family="resnet", paper="Hu et al. 2018, arXiv:1709.01507")
@_documented(_IMAGENET_OPTIONS_DOC)
def se_resnet50(input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling="avg",
                classifier_activation="softmax", preact=False, se_ratio=16, conv_bias=True, norm="batch",
                name="se_resnet50") -> keras.Model:
    """SE-ResNet-50: 28,088,024 trainable parameters with conv_bias=False, as timm's seresnet50
    (25,557,032 for ResNet-50 plus 2,530,992 in the squeeze-excitation gates)."""
    return imagenet_resnet(50, input_shape, num_classes, include_top=include_top, pooling=pooling,
                           classifier_activation=classifier_activation, preact=preact, se_ratio=se_ratio,
                           conv_bias=conv_bias, norm=norm, name=name)


@register_search_space("resnet")
def resnet_search_space(hp) -> dict:
    """Block ordering and squeeze-excitation (ratio 0 = none), which every ResNet takes."""
    se_ratio = hp.Choice("se_ratio", [0, 8, 16], default=0)
    return {"preact": hp.Boolean("preact", default=False), "se_ratio": se_ratio or None}


@register_search_space("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")
def cifar_resnet_search_space(hp) -> dict:
    return {**resnet_search_space(hp), "width": hp.Choice("width", [8, 16, 32], default=16)}


@register_search_space("se_resnet50")
def se_resnet_search_space(hp) -> dict:
    return {"preact": hp.Boolean("preact", default=False), "se_ratio": hp.Choice("se_ratio", [4, 8, 16], default=16)}


@register_search_space("se_resnet20")
def cifar_se_resnet_search_space(hp) -> dict:
    return {**se_resnet_search_space(hp), "width": hp.Choice("width", [8, 16, 32], default=16)}
