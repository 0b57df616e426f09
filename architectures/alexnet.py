"""AlexNet, the single-tower ImageNet network."""

import keras
from keras import layers

from architectures.blocks import classifier_head, pooled_features
from architectures.registry import register, register_search_space


@register("alexnet", family="alexnet",
          paper="Krizhevsky et al. 2012; single tower as in Krizhevsky 2014, arXiv:1404.5997",
          min_input_size=7)
def alexnet(input_shape=(224, 224, 3), num_classes=1000, *, include_top=True, pooling=None,
            classifier_activation="softmax", dropout=0.5, name="alexnet") -> keras.Model:
    """5 conv + 3 fc, ReLU, max-pool, dropout: 61,100,840 parameters at 224x224x3, 1000 classes.

    That equals torchvision's ``alexnet`` (the same single-tower layout: 64-192-384-256-256
    filters, a 6x6 adaptive average pool, 4096-4096 fc). The max-pools pad "same" so the network
    also runs on 28x28 inputs, where the last map (1x1 or 2x2) is repeated up to 6x6; the
    classifier is the same size at any input. Headless (``include_top=False``), the model ends at
    that 6x6x256 map, or its global pooling with ``pooling="avg"`` or ``"max"``.
    """
    inputs = keras.Input(input_shape, name="inputs")
    x = layers.ZeroPadding2D(2, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 11, strides=4, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = layers.Conv2D(192, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    for index, filters in ((3, 384), (4, 256), (5, 256)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{index}")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool5")(x)
    if min(x.shape[1:3]) < 6:  # Keras's adaptive pool cannot enlarge a map; repeat it as torchvision does
        x = layers.Resizing(6, 6, interpolation="nearest", name="upsample_to_6x6")(x)
    else:
        x = layers.AdaptiveAveragePooling2D(6, name="adaptive_pool")(x)
    if not include_top:
        return keras.Model(inputs, pooled_features(x, pooling), name=name)
    x = layers.Flatten(name="flatten")(x)
    for index in (6, 7):
        x = layers.Dropout(dropout, name=f"fc{index}_dropout")(x)
        x = layers.Dense(4096, activation="relu", name=f"fc{index}")(x)
    return keras.Model(inputs, classifier_head(x, num_classes, classifier_activation), name=name)


@register_search_space("alexnet")
def alexnet_search_space(hp) -> dict:
    return {"dropout": hp.Float("dropout", 0.2, 0.7, step=0.1, default=0.5)}
