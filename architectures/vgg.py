"""VGG-16 and VGG-19 (Simonyan & Zisserman 2014), with the fully connected or the global-average-
pooling head."""

import keras
from keras import layers

from architectures.blocks import classifier_head, conv_bn_act, documents_norm, pooled_features
from architectures.registry import register, register_search_space

_STAGES = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)


def vgg(depth, input_shape, num_classes, *, include_top, classifier_activation, head="fc", pooling=None,
        dropout=0.5, norm=None, name) -> keras.Model:
    """Five stages of 3x3 convolutions, each ended by a 2x2 max-pool (padded "same", which changes
    nothing at 224x224 and lets 28x28 inputs through), then the head.

    head="fc": flatten -> fc4096 -> fc4096 -> classes, as in the paper and keras.applications.
    head="gap": global average pooling -> classes (the course slides' lighter head).
    norm: None (the paper's VGG, keras.applications' layers and weights' names), or a
    normalization between each convolution and its ReLU ("batch" gives torchvision's vgg16_bn).
    """
    if head not in ("fc", "gap"):
        raise ValueError(f"{name}: head must be 'fc' or 'gap', not {head!r}")
    inputs = keras.Input(input_shape, name="inputs")
    x = inputs
    for stage, (convs, width) in enumerate(zip(_STAGES[depth], _WIDTHS), start=1):
        for index in range(1, convs + 1):
            if norm is None:
                x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{stage}_conv{index}")(x)
            else:
                x = conv_bn_act(x, width, 3, norm=norm, use_bias=True, name=f"block{stage}_conv{index}")
        x = layers.MaxPooling2D(2, padding="same", name=f"block{stage}_pool")(x)
    if not include_top:
        return keras.Model(inputs, pooled_features(x, pooling), name=name)
    if head == "fc":
        x = layers.Flatten(name="flatten")(x)
        for index in (1, 2):
            x = layers.Dense(4096, activation="relu", name=f"fc{index}")(x)
            x = layers.Dropout(dropout, name=f"fc{index}_dropout")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, classifier_head(x, num_classes, classifier_activation), name=name)


@register("vgg16", family="vgg", paper="Simonyan & Zisserman 2014, arXiv:1409.1556")
@documents_norm
def vgg16(input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling=None,
          classifier_activation="softmax", head="fc", dropout=0.5, norm=None,
          name="vgg16") -> keras.Model:
    """VGG-16: 138,357,544 parameters at 224x224x3 and 1000 classes, as keras.applications.VGG16."""
    return vgg(16, input_shape, num_classes, include_top=include_top, classifier_activation=classifier_activation,
               head=head, pooling=pooling, dropout=dropout, norm=norm, name=name)


@register("vgg19", family="vgg", paper="Simonyan & Zisserman 2014, arXiv:1409.1556")
@documents_norm
def vgg19(input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling=None,
          classifier_activation="softmax", head="fc", dropout=0.5, norm=None,
          name="vgg19") -> keras.Model:
    """VGG-19: 143,667,240 parameters at 224x224x3 and 1000 classes, as keras.applications.VGG19."""
    return vgg(19, input_shape, num_classes, include_top=include_top, classifier_activation=classifier_activation,
               head=head, pooling=pooling, dropout=dropout, norm=norm, name=name)


@register_search_space("vgg")
def vgg_search_space(hp) -> dict:
    return {"head": hp.Choice("head", ["fc", "gap"], default="fc"),
            "dropout": hp.Float("dropout", 0.0, 0.6, step=0.1, default=0.5)}
