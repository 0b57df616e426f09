"""A small vision transformer (Dosovitskiy et al. 2020) for 28x28 and 32x32 inputs."""

import keras
from keras import layers

from architectures.blocks import classifier_head, transformer_encoder_block
from architectures.layers import ClassToken, PositionEmbedding
from architectures.registry import register, register_search_space


@register("vit", family="vit", paper="Dosovitskiy et al. 2020, arXiv:2010.11929",
          min_input_size=lambda patch_size, **_: patch_size)
def vit(input_shape=(28, 28, 1), num_classes=10, *, include_top=True, pooling="token",
        classifier_activation="softmax", patch_size=4, width=64, depth=6, heads=4, mlp_dim=128,
        dropout=0.1, name="vit") -> keras.Model:
    """Patch embedding -> class token (or mean pooling) + positions -> pre-norm encoder blocks -> head.

    205,962 parameters at the defaults (28x28x1: 49 patches of 4x4, width 64, 6 blocks, 4 heads).
    Inputs need not be a multiple of the patch size; the border that is left over is dropped.

    ``pooling`` follows KerasHub's ViT: how the token sequence becomes one vector, with or without
    the head. "token" prepends a learned class token and keeps its output; "mean" (no class
    token) averages the patch tokens, as keras.applications' "avg". With ``include_top=False``,
    None returns the whole sequence, (patches, width), unpooled.
    """
    if pooling not in ("token", "mean", None):
        raise ValueError(f"vit: pooling must be 'token', 'mean' or (with include_top=False) None. "
                         f"Received: pooling={pooling!r}")
    if pooling is None and include_top:
        raise ValueError("vit: the classifier head needs one vector per image; pass pooling='token' or 'mean', "
                         "or include_top=False for the unpooled sequence. Received: pooling=None, include_top=True")
    if width % heads:
        raise ValueError(f"vit: width ({width}) must be divisible by heads ({heads})")
    inputs = keras.Input(input_shape, name="inputs")
    x = layers.Conv2D(width, patch_size, strides=patch_size, name="patch_embedding")(inputs)
    x = layers.Reshape((x.shape[1] * x.shape[2], width), name="patches")(x)
    if pooling == "token":
        x = ClassToken(name="class_token")(x)
    x = PositionEmbedding(name="position_embedding")(x)
    x = layers.Dropout(dropout, name="embedding_dropout")(x)
    for index in range(1, depth + 1):
        x = transformer_encoder_block(x, heads=heads, mlp_dim=mlp_dim, dropout=dropout, name=f"encoder{index}")
    x = layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    if pooling == "token":
        x = layers.Cropping1D((0, x.shape[1] - 1), name="class_token_out")(x)  # keep position 0
        x = layers.Flatten(name="class_features")(x)
    elif pooling == "mean":
        x = layers.GlobalAveragePooling1D(name="mean_pool")(x)
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


@register_search_space("vit")
def vit_search_space(hp) -> dict:
    return {
        "patch_size": hp.Choice("patch_size", [4, 7], default=4),
        "width": hp.Choice("width", [32, 64, 128], default=64),
        "heads": hp.Choice("heads", [2, 4], default=4),
        "depth": hp.Int("depth", 2, 8, step=2, default=6),
        "mlp_dim": hp.Choice("mlp_dim", [64, 128, 256], default=128),
        "dropout": hp.Float("dropout", 0.0, 0.3, step=0.1, default=0.1),
    }
