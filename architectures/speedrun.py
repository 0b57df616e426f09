"""Fast-training networks after airbench (Jordan 2024) and hlb-CIFAR10 (Balsam 2023): a frozen
whitening convolution, then three conv -> max-pool -> BN -> GELU -> conv -> BN -> GELU groups,
global max pooling and one linear layer. Narrow and shallow, so an epoch is cheap, and made to
train in few epochs with the recipe-side tricks (label smoothing, flip test-time augmentation,
EMA of weights, whitening initialisation, short warm-up and linear decay).

The whitening layer is an ordinary ``Conv2D`` named ``whiten`` with ``2 x channels x
whitening_size**2`` filters; ``callbacks.whitening.init_whitening`` (the classification task's
``whitening_init`` option) sets it from training patches and freezes it.
"""

import keras
from keras import layers

from architectures.blocks import classifier_head, documents_norm, normalization, pooled_features
from architectures.registry import register, register_search_space


def _min_size(whitening_size=2, **_):
    # whitening (valid) then three halvings, each leaving a map of at least 1x1
    return whitening_size - 1 + 8


def whitening_filters(channels: int, whitening_size: int) -> int:
    """Filters of the whitening layer: a positive and a negative copy of each of the
    ``channels x whitening_size**2`` patch eigenvectors."""
    return 2 * channels * whitening_size * whitening_size


def conv_group(x, filters: int, *, batch_norm_momentum: float = 0.6, activation="gelu", norm="batch", name: str):
    """airbench's ConvGroup: conv -> 2x2 max-pool -> BN -> GELU -> conv -> BN -> GELU, with layers
    named ``{name}_conv1``, ``_pool``, ``_conv1_bn``, ``_act1``, ``_conv2``, ``_conv2_bn``, ``_act2``.
    The norms have a shift but no scale (airbench freezes the scale at 1)."""
    momentum = 1.0 - batch_norm_momentum  # Keras keeps momentum x old, PyTorch momentum x new
    x = layers.Conv2D(filters, 3, padding="same", use_bias=norm is None, name=f"{name}_conv1")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = normalization(x, norm, scale=False, momentum=momentum, epsilon=1e-5, name=f"{name}_conv1")
    x = layers.Activation(activation, name=f"{name}_act1")(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=norm is None, name=f"{name}_conv2")(x)
    x = normalization(x, norm, scale=False, momentum=momentum, epsilon=1e-5, name=f"{name}_conv2")
    return layers.Activation(activation, name=f"{name}_act2")(x)


@register("airbench", family="airbench", paper="Jordan 2024, arXiv:2404.00498; hlb-CIFAR10 (Balsam 2023)",
          min_input_size=_min_size)
@documents_norm
def airbench(input_shape=(32, 32, 3), num_classes=10, *, include_top=True, pooling="max",
             classifier_activation="softmax", filters=(64, 256, 256), whitening_size=2,
             batch_norm_momentum=0.6, activation="gelu", norm="batch", name="airbench") -> keras.Model:
    """airbench94's network: whitening conv, three conv groups, global max pooling, linear head.
    1.97 M parameters at the defaults (32x32x3); Fashion-MNIST's speedrun uses filters=(32, 64, 128).

    Options:
        filters: the widths of the three conv groups (airbench94: 64, 256, 256).
        whitening_size: the whitening convolution's kernel (valid padding), 2 as in airbench;
            it has ``2 x channels x whitening_size**2`` filters.
        batch_norm_momentum: the weight of each new batch in the running statistics, as in
            PyTorch (airbench: 0.6, a fast average that suits short runs); Keras's
            ``BatchNormalization(momentum=)`` is one minus it.
        activation: after the whitening and each batch norm; GELU as airbench (ReLU is cheaper on a CPU).
        pooling: the global pooling of the headless backbone (``include_top=False``); with the
            head, global max pooling as airbench (its MaxPool2d(3) over the last 3x3 map).
    """
    if len(filters) != 3:
        raise ValueError(f"airbench: filters must be three widths, one per conv group. Received: filters={filters!r}")
    if not 0 < batch_norm_momentum <= 1:
        raise ValueError(f"airbench: batch_norm_momentum must be above 0 and at most 1 (the weight of a new "
                         f"batch). Received: batch_norm_momentum={batch_norm_momentum!r}")
    inputs = keras.Input(input_shape, name="inputs")
    x = layers.Conv2D(whitening_filters(input_shape[-1], whitening_size), whitening_size, padding="valid",
                      use_bias=True, name="whiten")(inputs)
    x = layers.Activation(activation, name="whiten_act")(x)
    for index, width in enumerate(filters, start=1):
        x = conv_group(x, width, batch_norm_momentum=batch_norm_momentum, activation=activation, norm=norm,
                       name=f"group{index}")
    if include_top:
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
        x = classifier_head(x, num_classes, classifier_activation)
    else:
        x = pooled_features(x, pooling)
    return keras.Model(inputs, x, name=name)


@register_search_space("airbench")
def airbench_search_space(hp) -> dict:
    return {
        "filters": (hp.Choice("filters1", [16, 24, 32, 64], default=32),
                    hp.Choice("filters2", [32, 48, 64, 128], default=64),
                    hp.Choice("filters3", [64, 96, 128, 256], default=128)),
        "whitening_size": hp.Choice("whitening_size", [2, 3], default=2),
        "activation": hp.Choice("activation", ["relu", "gelu"], default="relu"),
    }
