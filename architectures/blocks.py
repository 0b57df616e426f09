"""Layer blocks shared by the builders. Each takes a tensor and returns a tensor."""

import keras
from keras import layers

from architectures.layers import FusedBatchNormalization
from architectures.registry import NORMS


def classifier_head(x, num_classes: int, activation: str | None = "softmax", *,
                    kernel_regularizer=None, name="predictions"):
    """The final Dense layer; ``activation=None`` gives logits."""
    return layers.Dense(num_classes, activation=activation, kernel_regularizer=kernel_regularizer,
                        name=name)(x)


MAX_GROUPS = 32  # Wu & He 2018's default number of groups
# Batch renormalization's limits on its corrections r and d (Ioffe 2017 relaxes them to these
# during training); Keras's default, no limits, diverged at batch 128 in benchmarks/normalization.py.
RENORM_CLIPPING = {"rmin": 1 / 3, "rmax": 3.0, "dmax": 5.0}

NORMS_DOC = """``norm`` picks the normalization after each convolution (Keras's own layers):
        "batch": ``BatchNormalization`` (Ioffe & Szegedy 2015), statistics over the batch,
            computed by TensorFlow's fused kernel (``architectures.layers.FusedBatchNormalization``);
        "batch_renorm": ``BatchNormalization(renorm=True)`` (Ioffe 2017), which corrects batch
            statistics toward the moving ones (r in [1/3, 3], d in [-5, 5]), for small or
            non-i.i.d. batches;
        "layer": ``GroupNormalization(groups=1)``, over each example's height, width and channels
            (Ba et al. 2016, as Wu & He 2018 apply it to convolutions); ``LayerNormalization`` on
            a Dense layer's output;
        "instance": ``GroupNormalization(groups=-1)``, per example and channel over height and
            width (Ulyanov et al. 2016);
        "group": ``GroupNormalization`` (Wu & He 2018) with 32 groups, or for narrower layers
            the most groups that keep two channels each;
        a Dense layer's output has one value per channel, so "layer", "instance" and "group"
            are all ``LayerNormalization`` there;
        None: no normalization, and the convolution gets a bias.
    Only the batch norms depend on the other examples in a batch."""


def documents_norm(builder):
    """Appends ``NORMS_DOC`` to a builder's docstring, so ``help`` shows every ``norm``."""
    builder.__doc__ = builder.__doc__.rstrip() + "\n\n    " + NORMS_DOC + "\n"
    return builder


def group_count(channels: int, maximum: int = MAX_GROUPS) -> int:
    """The most groups up to ``maximum`` that divide ``channels`` and keep at least 2 channels each
    (1 for a single channel)."""
    return max((g for g in range(1, min(maximum, channels // 2) + 1) if channels % g == 0), default=1)


def normalization(x, norm: str | None, *, name: str, center: bool = True, scale: bool = True, **batch_options):
    """``x`` normalized as ``norm`` says (see ``NORMS_DOC``), by a layer named ``{name}_bn``,
    ``_ln``, ``_in`` or ``_gn``; ``x`` itself for ``norm=None``. ``batch_options`` (momentum,
    epsilon) go to ``BatchNormalization`` only."""
    if norm is None:
        return x
    if norm == "batch":
        return FusedBatchNormalization(center=center, scale=scale, **batch_options, name=f"{name}_bn")(x)
    if norm == "batch_renorm":
        return layers.BatchNormalization(renorm=True, renorm_clipping=RENORM_CLIPPING, center=center, scale=scale,
                                         **batch_options, name=f"{name}_bn")(x)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(map(repr, NORMS))}. Received: norm={norm!r}")
    if len(x.shape) == 2:  # a Dense layer's output: one value per channel, so one group over all of them
        return layers.LayerNormalization(center=center, scale=scale, name=f"{name}_ln")(x)
    groups = {"layer": 1, "instance": -1, "group": group_count(x.shape[-1])}[norm]
    suffix = {"layer": "ln", "instance": "in", "group": "gn"}[norm]
    return layers.GroupNormalization(groups, center=center, scale=scale, name=f"{name}_{suffix}")(x)


def dense_bn_act(x, units, *, activation="relu", norm="batch", dropout=0.0,
                 kernel_initializer="glorot_uniform", kernel_regularizer=None, name):
    """Dense -> (normalization) -> activation -> (Dropout), with layers named ``{name}_dense`` etc."""
    x = layers.Dense(
        units,
        use_bias=norm is None,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_dense",
    )(x)
    x = normalization(x, norm, name=name)
    x = layers.Activation(activation, name=f"{name}_act")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def conv_bn_act(x, filters, kernel_size=3, *, strides=1, activation="relu", padding="same",
                norm="batch", use_bias=None, name):
    """Conv2D -> normalization -> activation, with layers named ``{name}_conv``, ``_bn``, ``_act``.

    Without normalization the convolution has a bias and the activation; ``use_bias`` overrides.
    """
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding,
        use_bias=(norm is None) if use_bias is None else use_bias,
        kernel_initializer="he_normal", name=f"{name}_conv",
    )(x)
    x = normalization(x, norm, name=name)
    return layers.Activation(activation, name=f"{name}_act")(x) if activation else x


def bn_act(x, activation="relu", *, norm="batch", name):
    """Normalization -> activation: the pre-activation of ResNet v2."""
    x = normalization(x, norm, name=name)
    return layers.Activation(activation, name=f"{name}_act")(x)


def squeeze_excite(x, ratio: int = 16, *, name):
    """Squeeze-and-excitation (Hu et al. 2018): rescale channels by a gate from their global average."""
    channels = x.shape[-1]
    gate = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    gate = layers.Dense(max(1, channels // ratio), activation="relu", name=f"{name}_reduce")(gate)
    gate = layers.Dense(channels, activation="sigmoid", name=f"{name}_expand")(gate)
    return layers.Multiply(name=f"{name}_scale")([x, gate])


def residual_block(x, filters, *, stride=1, bottleneck=False, preact=False, se_ratio=None,
                   conv_bias=False, norm="batch", name):
    """A ResNet basic block (two 3x3 convs) or bottleneck block (1x1, 3x3, 1x1 with 4x filters).

    ``preact`` gives the v2 ordering (BN-ReLU before each conv, no activation after the add);
    ``norm`` replaces batch norm (``NORMS_DOC``; with None every convolution has a bias);
    ``se_ratio`` adds squeeze-excitation before the add. The shortcut is a 1x1 projection when
    the stride or the width changes, the identity otherwise.
    """
    out_filters = filters * 4 if bottleneck else filters
    project = stride != 1 or x.shape[-1] != out_filters
    convs = ([(filters, 1, 1), (filters, 3, stride), (out_filters, 1, 1)] if bottleneck
             else [(filters, 3, stride), (out_filters, 3, 1)])

    shortcut = x
    if preact:
        x = bn_act(x, norm=norm, name=f"{name}_preact")
    if project:
        shortcut = layers.Conv2D(out_filters, 1, strides=stride, use_bias=conv_bias or norm is None,
                                 name=f"{name}_0_conv")(x)
        if not preact:
            shortcut = normalization(shortcut, norm, name=f"{name}_0")

    y = x
    for index, (width, kernel, conv_stride) in enumerate(convs, start=1):
        last = index == len(convs)
        if preact:
            if index > 1:
                y = bn_act(y, norm=norm, name=f"{name}_{index}")
            y = layers.Conv2D(width, kernel, strides=conv_stride, padding="same", use_bias=conv_bias or norm is None,
                              kernel_initializer="he_normal", name=f"{name}_{index}_conv")(y)
        else:
            y = conv_bn_act(y, width, kernel, strides=conv_stride, use_bias=conv_bias or norm is None,
                            activation=None if last else "relu", norm=norm, name=f"{name}_{index}")
    if se_ratio:
        y = squeeze_excite(y, se_ratio, name=f"{name}_se")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return y if preact else layers.Activation("relu", name=f"{name}_out")(y)


def inception_module(x, filters_1x1, reduce_3x3, filters_3x3, reduce_5x5, filters_5x5, pool_projection,
                     *, norm="batch", name):
    """GoogLeNet's Inception module (Szegedy et al. 2014): four parallel branches, concatenated."""
    conv = lambda t, f, k, n: conv_bn_act(t, f, k, norm=norm, name=f"{name}_{n}")  # noqa: E731
    branch_1x1 = conv(x, filters_1x1, 1, "1x1")
    branch_3x3 = conv(conv(x, reduce_3x3, 1, "3x3_reduce"), filters_3x3, 3, "3x3")
    branch_5x5 = conv(conv(x, reduce_5x5, 1, "5x5_reduce"), filters_5x5, 5, "5x5")
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = conv(pooled, pool_projection, 1, "pool_proj")
    return layers.Concatenate(name=f"{name}_concat")([branch_1x1, branch_3x3, branch_5x5, branch_pool])


def transformer_encoder_block(x, *, heads, mlp_dim, dropout=0.0, name):
    """Pre-norm encoder block: x + MHA(LN(x)), then x + MLP(LN(x))."""
    width = x.shape[-1]
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln1")(x)
    y = layers.MultiHeadAttention(heads, width // heads, dropout=dropout, name=f"{name}_attention")(y, y)
    x = layers.Add(name=f"{name}_add1")([x, layers.Dropout(dropout, name=f"{name}_dropout1")(y)])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln2")(x)
    y = layers.Dense(mlp_dim, activation="gelu", name=f"{name}_mlp1")(y)
    y = layers.Dense(width, name=f"{name}_mlp2")(layers.Dropout(dropout, name=f"{name}_dropout2")(y))
    return layers.Add(name=f"{name}_add2")([x, layers.Dropout(dropout, name=f"{name}_dropout3")(y)])


RECURRENT_LAYERS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}


def recurrent_stack(x, cell: str = "lstm", units: int = 64, *, depth: int = 1, bidirectional: bool = False,
                    dropout: float = 0.0, recurrent_dropout: float = 0.0, return_sequences: bool = False,
                    name: str = "rnn"):
    """``depth`` recurrent layers (``{name}1``, ``{name}2``, ...); every layer but the last returns
    sequences, the last one only if ``return_sequences``. Padded steps are skipped when ``x``
    carries a Keras mask (an ``Embedding(mask_zero=True)`` or ``Masking`` before it)."""
    if cell not in RECURRENT_LAYERS:
        raise ValueError(f"cell must be one of {', '.join(RECURRENT_LAYERS)}, not {cell!r}")
    for index in range(1, depth + 1):
        layer = RECURRENT_LAYERS[cell](
            units, return_sequences=return_sequences or index < depth, dropout=dropout,
            recurrent_dropout=recurrent_dropout, name=f"{name}{index}",
        )
        if bidirectional:
            layer = layers.Bidirectional(layer, name=f"{name}{index}_bidirectional")
        x = layer(x)
    return x


def pooled_features(x, pooling: str | None, *, name="pool"):
    """Global average or max pooling for a headless backbone (``pooling=None`` keeps the map)."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=f"avg_{name}")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=f"max_{name}")(x)
    if pooling is None:
        return x
    raise ValueError(f"pooling must be 'avg', 'max' or None, not {pooling!r}")


def require_no_pooling(builder: str, pooling, *, features: str = "one vector per example", hint: str = "") -> None:
    """keras.applications' ``pooling`` for a builder with no feature map to pool: only None is valid."""
    if pooling is not None:
        raise ValueError(f"{builder}: pooling is the global pooling of a feature map, and {builder}'s features are "
                         f"already {features}, so only pooling=None is valid{hint}. Received: pooling={pooling!r}")


def weight_penalty(l1: float = 0.0, l2: float = 0.0):
    """An L1/L2 kernel regularizer, or None when both are zero."""
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
