"""Small convolutional classifiers."""

import keras
from keras import layers

from architectures.blocks import classifier_head, conv_bn_act, dense_bn_act, documents_norm, require_no_pooling
from architectures.registry import register, register_search_space


@register("mnist_cnn", family="cnn",
          paper="Keras mnist_cnn example; Ioffe & Szegedy 2015, arXiv:1502.03167 (batch norm)")
@documents_norm
def mnist_cnn(input_shape=(28, 28, 1), num_classes=10, *, include_top=True, pooling=None,
              classifier_activation="softmax", filters=(32, 64), kernel_size=3,
              dense_units=128, dropout=0.25, head_dropout=0.5, norm="batch", name="mnist_cnn") -> keras.Model:
    """Conv-BN-ReLU x2 -> max-pool -> dropout -> Dense-BN-ReLU -> Dense: the ~99.5% MNIST net.
    ``norm`` applies to both convolutions and the hidden Dense layer."""
    require_no_pooling("mnist_cnn", pooling)
    inputs = keras.Input(input_shape, name="inputs")
    x = inputs
    for index, width in enumerate(filters, start=1):
        x = conv_bn_act(x, width, kernel_size, norm=norm, name=f"conv{index}")
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Dropout(dropout, name="pool_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = dense_bn_act(x, dense_units, norm=norm, dropout=head_dropout if include_top else 0.0, name="fc")
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


@register_search_space("cnn")
def cnn_search_space(hp) -> dict:
    return {
        "filters": (hp.Choice("filters1", [16, 32, 64], default=32), hp.Choice("filters2", [32, 64], default=32)),
        "kernel_size": hp.Choice("kernel_size", [3, 5], default=3),
        "dense_units": hp.Choice("dense_units", [64, 128, 256], default=128),
        "dropout": hp.Float("dropout", 0.0, 0.5, step=0.05, default=0.25),
        "head_dropout": hp.Float("head_dropout", 0.0, 0.6, step=0.1, default=0.5),
    }
