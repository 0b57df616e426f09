"""Layer blocks shared by the builders. Each takes a tensor and returns a tensor."""

import keras
from keras import layers


def classifier_head(x, num_classes: int, activation: str | None = "softmax", *,
                    kernel_regularizer=None, name="predictions"):
    """The final Dense layer; ``activation=None`` gives logits."""
    return layers.Dense(num_classes, activation=activation, kernel_regularizer=kernel_regularizer,
                        name=name)(x)


def dense_bn_act(x, units, *, activation="relu", batch_norm=True, dropout=0.0,
                 kernel_initializer="glorot_uniform", kernel_regularizer=None, name):
    """Dense -> (BatchNorm) -> activation -> (Dropout), with layers named ``{name}_dense`` etc."""
    x = layers.Dense(
        units,
        use_bias=not batch_norm,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_dense",
    )(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.Activation(activation, name=f"{name}_act")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def conv_bn_act(x, filters, kernel_size=3, *, strides=1, activation="relu", padding="same", name):
    """Conv2D (no bias) -> BatchNorm -> activation, with layers named ``{name}_conv`` etc."""
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False,
        kernel_initializer="he_normal", name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation(activation, name=f"{name}_act")(x)


def weight_penalty(l1: float = 0.0, l2: float = 0.0):
    """An L1/L2 kernel regularizer, or None when both are zero."""
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
