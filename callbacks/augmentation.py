"""Training-time data augmentation as a pipeline of Keras preprocessing layers.

The pipeline runs in the ``tf.data`` training pipeline only, never in the exported model.
"""

from __future__ import annotations

import keras
from keras import layers


def augmentation_pipeline(*, input_shape=None, flip: str | None = None, translate: float = 0.0,
                          crop_padding: int = 0, zoom: float = 0.0, rotation: float = 0.0,
                          contrast: float = 0.0, brightness: float = 0.0,
                          value_range=(0, 255), seed: int | None = None) -> keras.Sequential | None:
    """A ``keras.Sequential`` of random layers, or None when every option is off.

    flip: "horizontal", "vertical" or "horizontal_and_vertical".
    translate, zoom: fractions of height/width. rotation: a fraction of a full turn.
    crop_padding: pad by this many pixels, then randomly crop back to ``input_shape``.
    contrast, brightness: jitter factors on inputs in ``value_range``.
    """
    pipeline = []
    if flip:
        pipeline.append(layers.RandomFlip(flip, seed=seed, name="flip"))
    if crop_padding:
        if input_shape is None:
            raise ValueError("augmentation_pipeline: crop_padding needs input_shape")
        height, width = input_shape[:2]
        pipeline += [layers.ZeroPadding2D(crop_padding, name="crop_pad"),
                     layers.RandomCrop(height, width, seed=seed, name="crop")]
    if translate:
        pipeline.append(layers.RandomTranslation(translate, translate, fill_mode="constant",
                                                 seed=seed, name="translate"))
    if zoom:
        pipeline.append(layers.RandomZoom(zoom, fill_mode="constant", seed=seed, name="zoom"))
    if rotation:
        pipeline.append(layers.RandomRotation(rotation, fill_mode="constant", seed=seed, name="rotate"))
    if contrast:
        pipeline.append(layers.RandomContrast(contrast, value_range=value_range, seed=seed, name="contrast"))
    if brightness:
        pipeline.append(layers.RandomBrightness(brightness, value_range=value_range, seed=seed,
                                                name="brightness"))
    return keras.Sequential(pipeline, name="augmentation") if pipeline else None
