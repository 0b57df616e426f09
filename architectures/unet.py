"""U-Net: a convolutional encoder-decoder whose decoder reuses the encoder's features through
skip connections, giving a class score for every pixel."""

import keras
from keras import layers

from architectures.blocks import conv_bn_act, documents_norm
from architectures.registry import register, register_search_space


@register("unet", family="unet", paper="Ronneberger et al. 2015, arXiv:1505.04597", outputs="class_map")
@documents_norm
def unet(input_shape=(64, 64, 3), num_classes=4, *, filters=(16, 32, 64), classifier_activation="softmax",
         norm="batch", name="unet") -> keras.Model:
    """(h, w, c) -> (h, w, num_classes): two conv-BN-ReLU per level, max-pool down, transposed
    convolution up and concatenation with the encoder's features at the same resolution.
    Height and width must be divisible by 2 ** (len(filters) - 1)."""
    factor = 2 ** (len(filters) - 1)
    height, width = input_shape[:2]
    if height % factor or width % factor:
        raise ValueError(f"unet with {len(filters)} levels needs height and width divisible by {factor}, "
                         f"got {height}x{width}; pad or resize the images, or pass fewer filters")
    inputs = keras.Input(input_shape, name="inputs")
    x, skips = inputs, []
    for level, size in enumerate(filters[:-1], start=1):
        x = conv_bn_act(x, size, norm=norm, name=f"down{level}_conv1")
        x = conv_bn_act(x, size, norm=norm, name=f"down{level}_conv2")
        skips.append(x)
        x = layers.MaxPooling2D(name=f"down{level}_pool")(x)
    x = conv_bn_act(x, filters[-1], norm=norm, name="bottom_conv1")
    x = conv_bn_act(x, filters[-1], norm=norm, name="bottom_conv2")
    for level, (size, skip) in reversed(list(enumerate(zip(filters[:-1], skips), start=1))):
        x = layers.Conv2DTranspose(size, 2, strides=2, name=f"up{level}_upsample")(x)
        x = layers.Concatenate(name=f"up{level}_skip")([x, skip])
        x = conv_bn_act(x, size, norm=norm, name=f"up{level}_conv1")
        x = conv_bn_act(x, size, norm=norm, name=f"up{level}_conv2")
    outputs = layers.Conv2D(num_classes, 1, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@register_search_space("unet")
def unet_search_space(hp) -> dict:
    base = hp.Choice("base_filters", [8, 16, 32], default=16)
    levels = hp.Int("levels", 2, 4, default=3)
    return {"filters": tuple(base * 2**level for level in range(levels))}
