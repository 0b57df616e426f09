"""LeCun's convolutional networks: LeNet-5 and the Caffe-tutorial LeNet from the course slides."""

import keras
from keras import layers

from architectures.blocks import classifier_head, require_no_pooling
from architectures.registry import register, register_search_space

_SUBSAMPLING = {"average": layers.AveragePooling2D, "max": layers.MaxPooling2D}


@register("lenet5", family="lenet", paper="LeCun et al. 1998, Proc. IEEE 86(11)", min_input_size=12)
def lenet5(input_shape=(32, 32, 1), num_classes=10, *, include_top=True, pooling=None,
           classifier_activation="softmax", activation="tanh", subsampling="average",
           name="lenet5") -> keras.Model:
    """conv6-5x5 -> pool -> conv16-5x5 -> pool -> fc120 -> fc84 -> fc10: 61,706 parameters.

    The count holds at 32x32 (valid convolutions, as in the paper) and at 28x28, where the first
    convolution pads "same" so the feature maps match. ``subsampling`` is the type of the two
    subsampling layers, "average" (the paper's) or "max"; ``activation="relu", subsampling="max"``
    is the modern variant.
    """
    require_no_pooling("lenet5", pooling, hint=(
        f" (the subsampling layers' type is subsampling={pooling!r})" if pooling in _SUBSAMPLING else ""))
    if subsampling not in _SUBSAMPLING:
        raise ValueError(f"lenet5: subsampling must be 'average' or 'max'. Received: subsampling={subsampling!r}")
    pool = _SUBSAMPLING[subsampling]
    first_padding = "valid" if min(input_shape[:2]) >= 32 else "same"
    inputs = keras.Input(input_shape, name="inputs")
    x = layers.Conv2D(6, 5, padding=first_padding, activation=activation, name="conv1")(inputs)
    x = pool(2, name="pool1")(x)
    x = layers.Conv2D(16, 5, activation=activation, name="conv2")(x)
    x = pool(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation=activation, name="fc1")(x)
    x = layers.Dense(84, activation=activation, name="fc2")(x)
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


@register("lenet", family="lenet", paper="Caffe LeNet tutorial (after LeCun et al. 1998)", min_input_size=16)
def lenet(input_shape=(28, 28, 1), num_classes=10, *, include_top=True, pooling=None,
          classifier_activation="softmax", fc_units=500, name="lenet") -> keras.Model:
    """conv20-5x5 -> max-pool -> conv50-5x5 -> max-pool -> fc500 -> classes: 431,080 parameters at 28x28."""
    require_no_pooling("lenet", pooling)
    inputs = keras.Input(input_shape, name="inputs")
    x = layers.Conv2D(20, 5, name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(50, 5, name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc_units, activation="relu", name="fc1")(x)
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


@register_search_space("lenet5")
def lenet5_search_space(hp) -> dict:
    return {"activation": hp.Choice("activation", ["tanh", "relu"], default="tanh"),
            "subsampling": hp.Choice("subsampling", ["average", "max"], default="average")}


@register_search_space("lenet")
def lenet_search_space(hp) -> dict:
    return {"fc_units": hp.Choice("fc_units", [128, 256, 500, 1024], default=500)}
