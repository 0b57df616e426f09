"""Whitening initialisation of a first convolution (hlb-CIFAR10, airbench).

The filters of the first ``Conv2D`` are set to the eigenvectors of the covariance of the
training images' patches, each divided by the square root of its eigenvalue (plus ``epsilon``),
once as it is and once negated, so that the layer's outputs are decorrelated, unit-variance
features of the patches (ZCA-like, in the eigenbasis) whose positive and negative halves both
survive the activation. The bias centres them, and the layer is frozen: it is not trained.

    init_whitening(model.get_layer("whiten"), x_train[:5000] / 255.0)

``WhiteningInit(images)`` does the same as a callback when training begins, for your own
``model.fit``. Imports neither ``architectures`` nor ``recipes``.
"""

from __future__ import annotations

import keras
import numpy as np


def patches_of(images, size: int) -> np.ndarray:
    """Every ``size x size`` patch (valid positions) of ``images`` (N, H, W, C), flattened to
    (patches, size * size * C) in the order of a Keras ``Conv2D`` kernel (rows, columns, channels)."""
    images = np.asarray(images, dtype="float64")
    if images.ndim != 4:
        raise ValueError(f"whitening needs images of shape (count, height, width, channels). "
                         f"Received: shape {images.shape}")
    windows = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))  # N, H', W', C, k, k
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, size * size * images.shape[-1])


def whitening_weights(images, size: int, filters: int | None = None, *, epsilon: float = 5e-4):
    """(kernel, bias) of a ``size x size`` valid convolution that whitens ``images``' patches.

    The first half of the ``2 x size**2 x channels`` filters are the patch covariance's
    eigenvectors over the square root of (eigenvalue + ``epsilon``), largest first; the second
    half are their negatives. With ``filters`` fewer than that, the leading pairs are kept
    (``filters`` must then be even); more, and the remaining filters are zero, for the caller to
    keep as they were. The bias subtracts the patches' mean, so outputs are centred.
    """
    images = np.asarray(images)
    dimension = size * size * images.shape[-1]
    filters = 2 * dimension if filters is None else filters
    total, outer, count = np.zeros(dimension), np.zeros((dimension, dimension)), 0
    for start in range(0, len(images), 256):  # a few MB of patches at a time
        patches = patches_of(images[start:start + 256], size)
        total += patches.sum(axis=0)
        outer += patches.T @ patches
        count += len(patches)
    if count < 2:
        raise ValueError(f"whitening needs at least two patches of {size}x{size}. Received: images of shape "
                         f"{images.shape}")
    mean = total / count
    covariance = outer / count - np.outer(mean, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    order = np.argsort(eigenvalues)[::-1]
    scaled = eigenvectors[:, order] / np.sqrt(np.maximum(eigenvalues[order], 0) + epsilon)  # (dimension, dimension)
    pairs = min(filters // 2, dimension)
    columns = np.concatenate([scaled[:, :pairs], -scaled[:, :pairs]], axis=1)
    kernel = np.zeros((dimension, filters))
    kernel[:, :2 * pairs] = columns
    bias = np.zeros(filters)
    bias[:2 * pairs] = -(mean @ columns)
    channels = dimension // (size * size)
    return kernel.reshape(size, size, channels, filters).astype("float32"), bias.astype("float32")


def init_whitening(layer, images, *, epsilon: float = 5e-4, freeze: bool = True) -> None:
    """Set ``layer`` (a ``keras.layers.Conv2D`` with valid padding and a bias, seeing ``images``
    as they are, scaled as the model scales them) to whiten its patches, and freeze it
    (``freeze=False`` leaves it trainable). Filters beyond the ``2 x kernel**2 x channels``
    whitening ones keep their initial values."""
    if not isinstance(layer, keras.layers.Conv2D):
        raise ValueError(f"whitening initialises a Conv2D layer. Received: {type(layer).__name__} {layer.name!r}")
    height, width = layer.kernel_size
    if height != width or tuple(layer.strides) != (1, 1) or tuple(layer.dilation_rate) != (1, 1):
        raise ValueError(f"whitening needs a square kernel, stride 1 and no dilation. Received: layer {layer.name!r} "
                         f"with kernel_size={layer.kernel_size}, strides={layer.strides}")
    kernel, bias = whitening_weights(images, height, layer.filters, epsilon=epsilon)
    current = layer.get_weights()
    used = min(layer.filters, 2 * height * width * kernel.shape[2]) // 2 * 2
    current[0][..., :used] = kernel[..., :used]
    if layer.use_bias:
        current[1][:used] = bias[:used]
    layer.set_weights(current)
    if freeze:
        layer.trainable = False


def first_conv(model) -> "keras.layers.Conv2D":
    """The first ``Conv2D`` of ``model``, looking inside nested models (a backbone)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            return layer
        if isinstance(layer, keras.Model):
            found = first_conv(layer)
            if found is not None:
                return found
    return None


class WhiteningInit(keras.callbacks.Callback):
    """``init_whitening`` of the model's first ``Conv2D`` (or the layer named ``layer``) when
    training begins. ``images`` are as that layer sees them (scaled as the model scales them)."""

    def __init__(self, images, *, layer: str | None = None, epsilon: float = 5e-4, freeze: bool = True):
        super().__init__()
        self.images, self.layer_name, self.epsilon, self.freeze = images, layer, epsilon, freeze

    def on_train_begin(self, logs=None):
        layer = self.model.get_layer(self.layer_name) if self.layer_name else first_conv(self.model)
        init_whitening(layer, self.images, epsilon=self.epsilon, freeze=self.freeze)
