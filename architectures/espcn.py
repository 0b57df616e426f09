"""Sub-pixel super-resolution: convolutions at low resolution, then a pixel shuffle."""

import keras
from keras import layers

from architectures.layers import PixelShuffle
from architectures.registry import register, register_search_space, require_integer_at_least


@register("espcn", family="super_resolution", paper="Shi et al. 2016, arXiv:1609.05158", outputs="image")
def espcn(input_shape=(14, 14, 1), *, upscale=2, filters=(64, 32), name="espcn") -> keras.Model:
    """ESPCN: (h, w, c) -> (h * upscale, w * upscale, c); 5x5 then 3x3 tanh convolutions, and a
    last 3x3 convolution to c * upscale**2 channels rearranged by ``PixelShuffle``."""
    require_integer_at_least("espcn", "upscale", upscale, 2, "2 doubles the height and width")
    channels = input_shape[-1]
    inputs = keras.Input(input_shape, name="inputs")
    x = inputs
    for index, (width, kernel) in enumerate(zip(filters, (5,) + (3,) * (len(filters) - 1)), start=1):
        x = layers.Conv2D(width, kernel, padding="same", activation="tanh", name=f"conv{index}")(x)
    x = layers.Conv2D(channels * upscale**2, 3, padding="same", name="subpixel_conv")(x)
    outputs = PixelShuffle(upscale, name="pixel_shuffle")(x)
    return keras.Model(inputs, outputs, name=name)


@register_search_space("super_resolution")
def espcn_search_space(hp) -> dict:
    width = hp.Choice("filters", [32, 64, 128], default=64)
    return {"filters": (width, width // 2)}
