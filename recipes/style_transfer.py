"""Neural style transfer (Gatys et al. 2015, arXiv:1508.06576): optimise an image so that its
VGG19 features match a content image's at ``block5_conv2`` and its Gram matrices match a style
image's at ``block1_conv1`` ... ``block5_conv1``, with a total-variation term for smoothness.

    >>> result = style_transfer(content, style, weights="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")
    >>> result.image          # uint8 (height, width, 3)
    >>> result.losses         # total loss per step

It needs the standard Keras VGG19 ImageNet weights without the top
(``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``, 80 MB). Nothing is downloaded: pass the
file's path, or keep it in Keras's cache (``~/.keras/models/``), where ``keras.applications``
puts it when it is online. ``weights="random"`` runs the same loop on untrained features, which
only tests the machinery.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recipes.errors import ConfigError

log = logging.getLogger("keras_recipes")

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + WEIGHTS_FILE
CONTENT_LAYER = "block5_conv2"
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


@dataclass
class StyleTransferResult:
    image: np.ndarray  # uint8 (height, width, 3)
    losses: list[float]  # the weighted total loss before each step


def vgg19_weights(weights) -> str | None:
    """The weights file to use: ``weights`` itself, Keras's cached copy, or None for ``"random"``."""
    if weights == "random":
        return None
    if weights is not None:
        if not Path(weights).is_file():
            raise ConfigError(f"no VGG19 weights file at {weights}; it should be {WEIGHTS_FILE} ({WEIGHTS_URL})")
        return str(weights)
    cached = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / WEIGHTS_FILE
    if cached.is_file():
        return str(cached)
    raise ConfigError(
        f"style transfer needs the ImageNet VGG19 weights (no top), which cannot be downloaded here: "
        f"get {WEIGHTS_FILE} from {WEIGHTS_URL} on a machine that is online and pass weights=PATH "
        f"(or put it in {cached.parent}). weights='random' runs the loop on untrained features, for tests only.")


def feature_extractor(weights=None):
    """VGG19 without its top, returning the style layers' and the content layer's outputs."""
    import keras

    vgg = keras.applications.VGG19(include_top=False, weights=vgg19_weights(weights))
    outputs = {name: vgg.get_layer(name).output for name in (*STYLE_LAYERS, CONTENT_LAYER)}
    return keras.Model(vgg.inputs, outputs, name="vgg19_style_features")


def gram_matrix(features):
    """Channel-by-channel inner products over positions, (h, w, c) -> (c, c)."""
    from keras import ops

    flat = ops.reshape(features, (-1, ops.shape(features)[-1]))
    return ops.matmul(ops.transpose(flat), flat)


def style_transfer(content, style, *, weights=None, steps: int = 200, content_weight: float = 2.5e-8,
                   style_weight: float = 1e-6, total_variation_weight: float = 1e-6,
                   learning_rate: float = 5.0, log_every: int = 50) -> StyleTransferResult:
    """Optimise a copy of ``content`` (uint8 or float 0-255, (h, w, 3)) towards ``style``'s
    textures with Adam on the pixels. The style image is resized to the content's size."""
    import keras
    import tensorflow as tf
    from keras import ops

    content = np.asarray(content, np.float32)
    if content.ndim != 3 or content.shape[-1] != 3:
        raise ConfigError(f"content must be an RGB image (height, width, 3), got shape {content.shape}")
    height, width = content.shape[:2]
    style = tf.image.resize(np.asarray(style, np.float32), (height, width)).numpy()
    extractor = feature_extractor(weights)
    preprocess = keras.applications.vgg19.preprocess_input
    content_features = extractor(preprocess(content[None].copy()))
    style_grams = {name: gram_matrix(feature[0]) for name, feature in extractor(preprocess(style[None].copy())).items()
                   if name in STYLE_LAYERS}
    image = tf.Variable(preprocess(content[None].copy()))
    optimizer = keras.optimizers.Adam(learning_rate)
    mean = np.array([103.939, 116.779, 123.68], np.float32)  # the caffe preprocessing's BGR means

    def total_loss():
        features = extractor(image)
        content_term = ops.sum(ops.square(features[CONTENT_LAYER] - content_features[CONTENT_LAYER]))
        style_term = 0.0
        for name in STYLE_LAYERS:
            # Gatys's 1 / (4 N^2 M^2) with N = 3 and M = the image's pixels, as in the keras-io
            # example, so that its loss weights (the defaults here) carry over.
            difference = gram_matrix(features[name][0]) - style_grams[name]
            style_term += ops.sum(ops.square(difference)) / (4.0 * 9 * (height * width) ** 2) / len(STYLE_LAYERS)
        variation = (ops.sum(ops.square(image[:, 1:, :, :] - image[:, :-1, :, :]))
                     + ops.sum(ops.square(image[:, :, 1:, :] - image[:, :, :-1, :])))
        return content_weight * content_term + style_weight * style_term + total_variation_weight * variation

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = total_loss()
        optimizer.apply_gradients([(tape.gradient(loss, image), image)])
        image.assign(tf.clip_by_value(image, -mean, 255.0 - mean))
        return loss

    losses = []
    for index in range(steps):
        losses.append(float(step()))
        if log_every and (index + 1) % log_every == 0:
            log.info("style transfer: step %d/%d, loss %.4g", index + 1, steps, losses[-1])
    bgr = image.numpy()[0] + mean
    return StyleTransferResult(np.clip(bgr[..., ::-1], 0, 255).astype(np.uint8), losses)
