"""GoogLeNet / Inception v1 (Szegedy et al. 2014)."""

import keras
from keras import layers

from architectures.blocks import classifier_head, conv_bn_act, documents_norm, inception_module, pooled_features
from architectures.registry import register, register_search_space

# Table 1 of the paper: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}
_POOL_AFTER = {"3b", "4e"}
_AUX_AFTER = ("4a", "4d")


def _auxiliary_head(x, num_classes, classifier_activation, norm, name):
    """avg-pool to 4x4 -> 1x1 conv 128 -> fc1024 -> dropout 0.7 -> classes (the paper's side classifier)."""
    x = layers.AdaptiveAveragePooling2D(4, name=f"{name}_pool")(x)
    x = conv_bn_act(x, 128, 1, norm=norm, name=f"{name}_proj")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return classifier_head(x, num_classes, classifier_activation, name=f"{name}_predictions")


@register("googlenet", family="inception", paper="Szegedy et al. 2014, arXiv:1409.4842")
@documents_norm
def googlenet(input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling="avg",
              classifier_activation="softmax", aux_heads=False, norm="batch", dropout=0.4,
              name="googlenet") -> keras.Model:
    """Inception v1: stem, nine Inception modules, global average pooling, dropout 0.4, linear.

    7,020,392 parameters at 224x224x3 with 1000 classes (conv-BN-ReLU). With
    ``norm=None`` (the paper's plain convolutions) 6,998,552: 6,990,272 weights and 8,280
    biases. Table 1 of the paper sums to 6,797.7 K weights with K = 1,024 (6,960,845), within
    0.5%; its conv1 entry (2.7 K) is smaller than a 7x7x3x64 kernel (9,408).
    ``aux_heads=True`` adds the two side classifiers after 4a and 4d and returns three outputs
    (main, aux1, aux2), to be trained with loss weights such as (1, 0.3, 0.3). Every pool pads
    "same", so 28x28 inputs work.
    """
    inputs = keras.Input(input_shape, name="inputs")
    x = conv_bn_act(inputs, 64, 7, strides=2, norm=norm, name="conv1")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = conv_bn_act(x, 64, 1, norm=norm, name="conv2_reduce")
    x = conv_bn_act(x, 192, 3, norm=norm, name="conv2")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    auxiliary = []
    for module, widths in INCEPTION.items():
        x = inception_module(x, *widths, norm=norm, name=f"inception{module}")
        if module in _AUX_AFTER and include_top and aux_heads:
            auxiliary.append(_auxiliary_head(x, num_classes, classifier_activation, norm,
                                             name=f"aux{len(auxiliary) + 1}"))
        if module in _POOL_AFTER:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool_{module}")(x)
    if not include_top:
        return keras.Model(inputs, pooled_features(x, pooling), name=name)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = classifier_head(x, num_classes, classifier_activation)
    return keras.Model(inputs, [outputs, *auxiliary] if auxiliary else outputs, name=name)


@register_search_space("inception")
def googlenet_search_space(hp) -> dict:
    return {"norm": "batch" if hp.Boolean("batch_norm", default=True) else None,
            "dropout": hp.Float("dropout", 0.2, 0.6, step=0.1, default=0.4)}
