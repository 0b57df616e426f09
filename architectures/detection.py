"""A single-shot detector (SSD / RetinaNet style): a small strided conv backbone, a class-logit and
a box-delta head at each of a few feature levels, and the anchors, box coding, anchor matching and
loss that go with it.

Boxes are ``[y_min, x_min, y_max, x_max]`` normalised to [0, 1] by the image's height and width,
the convention of ``tf.image`` (``crop_and_resize``, ``combined_non_max_suppression``) and
KerasHub's ``"rel_yxyx"``.

The model maps an image to ``(batch, anchors, 4 + num_classes)``: per anchor, the box deltas
(``encode_boxes``) then one logit per class (sigmoid, no background logit: an anchor whose every
class score is low is background). ``detector_anchors`` gives the anchors of a built model, in the
order of its outputs; ``match_anchors`` turns one image's true boxes into the model's training
target, in TF ops, for a ``tf.data`` map; ``DetectionLoss`` is focal loss on the classes plus
Huber on the deltas of matched anchors.
"""

from __future__ import annotations

import inspect
import math

import keras
import numpy as np
from keras import layers, ops

from architectures.blocks import conv_bn_act, documents_norm
from architectures.registry import register, register_search_space

# Deltas are divided by these (the SSD "variances"), so that each coordinate's target is about unit-sized.
BOX_VARIANCES = (0.1, 0.1, 0.2, 0.2)
BACKGROUND = -1  # the class column of an anchor's target: a class id, background, or ignored
IGNORED = -2


def _check_levels(builder, input_shape, filters, feature_strides):
    deepest = 2 ** len(filters)
    for stride in feature_strides:
        if stride < 2 or stride & (stride - 1) or stride > deepest:
            raise ValueError(f"{builder}: feature_strides must be powers of two from 2 to 2 ** len(filters) "
                             f"({deepest}), one per feature level. Received: feature_strides={feature_strides}")
    if list(feature_strides) != sorted(set(feature_strides)):
        raise ValueError(f"{builder}: feature_strides must increase. Received: feature_strides={feature_strides}")


@register("ssd_detector", family="ssd", outputs="detections",
          paper="Liu et al. 2016, arXiv:1512.02325 (SSD); Lin et al. 2017, arXiv:1708.02002 (focal loss)")
@documents_norm
def ssd_detector(input_shape=(96, 96, 1), num_classes=10, *, filters=(16, 32, 64, 96, 128),
                 feature_strides=(8, 16, 32), head_width=64, anchor_sizes=(16, 32, 64),
                 anchor_scales=(1.0, 1.5), aspect_ratios=(0.5, 1.0, 2.0), prior_probability=0.01,
                 backbone=None, backbone_kwargs=None, feature_layers=(), norm="batch",
                 name="ssd_detector") -> keras.Model:
    """(h, w, c) -> (anchors, 4 + num_classes): box deltas and class logits for every anchor.
    780,236 parameters at the defaults (96x96x1, 10 classes).

    The backbone is ``len(filters)`` stages of conv-BN-ReLU with stride 2 (then one with stride 1
    from the second stage on), so stage ``i`` has stride ``2 ** i``; the stages whose strides are
    ``feature_strides`` feed a head each: a conv-BN-ReLU of ``head_width`` channels, then a 3x3
    convolution to ``k * num_classes`` logits and one to ``k * 4`` deltas, with ``k =
    len(anchor_scales) * len(aspect_ratios)`` anchors per cell. The anchors of the level of stride
    ``s`` are ``anchor_sizes[level] * scale`` pixels across, of height/width ``aspect_ratio``.
    The logits' bias starts at ``-log((1 - p) / p)`` with ``p = prior_probability``, as in RetinaNet,
    so that the focal loss of the many background anchors does not swamp the first steps.

    ``backbone`` names a registered classifier to use instead, built with ``include_top=False,
    pooling=None`` and ``backbone_kwargs``; ``feature_layers`` name its layers that feed the
    heads, one per entry of ``feature_strides`` (their strides: e.g. ``resnet20`` at 32x32 with
    ``feature_layers=("stage2_block3_out", "stage3_block3_out"), feature_strides=(2, 4)``).
    ``filters`` is then unused. ``norm`` applies to the built-in backbone and the heads (RetinaNet's
    heads use "group").
    """
    if backbone is None:
        _check_levels("ssd_detector", input_shape, filters, feature_strides)
    if len(anchor_sizes) != len(feature_strides):
        raise ValueError(f"ssd_detector: give one anchor size per feature level ({len(feature_strides)}). "
                         f"Received: anchor_sizes={anchor_sizes}, feature_strides={feature_strides}")
    per_cell = len(anchor_scales) * len(aspect_ratios)
    bias = keras.initializers.Constant(-math.log((1 - prior_probability) / prior_probability))
    inputs = keras.Input(input_shape, name="inputs")
    if backbone is None:
        x, levels = inputs, {}
        for stage, width in enumerate(filters, start=1):
            x = conv_bn_act(x, width, strides=2, norm=norm, name=f"stage{stage}_down")
            if stage > 1:
                x = conv_bn_act(x, width, norm=norm, name=f"stage{stage}_conv")
            levels[2**stage] = x
    else:
        levels = _backbone_levels(inputs, input_shape, backbone, backbone_kwargs or {}, feature_layers,
                                  feature_strides)
    deltas, logits = [], []
    for stride in feature_strides:
        head = conv_bn_act(levels[stride], head_width, norm=norm, name=f"level{stride}_head")
        level_logits = layers.Conv2D(per_cell * num_classes, 3, padding="same", bias_initializer=bias,
                                     name=f"level{stride}_class_logits")(head)
        level_deltas = layers.Conv2D(per_cell * 4, 3, padding="same", kernel_initializer="zeros",
                                     name=f"level{stride}_box_deltas")(head)
        logits.append(layers.Reshape((-1, num_classes), name=f"level{stride}_class_logits_flat")(level_logits))
        deltas.append(layers.Reshape((-1, 4), name=f"level{stride}_box_deltas_flat")(level_deltas))
    deltas = layers.Concatenate(axis=1, name="box_deltas")(deltas)
    logits = layers.Concatenate(axis=1, name="class_logits")(logits)
    outputs = layers.Concatenate(axis=-1, name="predictions")([deltas, logits])
    return keras.Model(inputs, outputs, name=name)


@register_search_space("ssd")
def ssd_search_space(hp) -> dict:
    base = hp.Choice("base_filters", [8, 16, 32], default=16)
    return {"filters": tuple(base * factor for factor in (1, 2, 4, 6, 8)),
            "head_width": hp.Choice("head_width", [32, 64, 128], default=64)}


def _backbone_levels(inputs, input_shape, backbone, backbone_kwargs, feature_layers, feature_strides) -> dict:
    """{stride: feature map} from the registered classifier ``backbone``'s ``feature_layers``."""
    from architectures.registry import build

    if len(feature_layers) != len(feature_strides):
        raise ValueError(f"ssd_detector: with a backbone, name one feature layer per feature stride. Received: "
                         f"feature_layers={tuple(feature_layers)}, feature_strides={tuple(feature_strides)}")
    network = build(backbone, input_shape=input_shape, include_top=False, pooling=None, **backbone_kwargs)
    names = [layer.name for layer in network.layers]
    missing = [layer for layer in feature_layers if layer not in names]
    if missing:
        raise ValueError(f"ssd_detector: {backbone} has no layer {missing[0]!r}; its layers include "
                         f"{', '.join(n for n in names if n.endswith('_out') or 'pool' in n) or ', '.join(names[-5:])}. "
                         f"Received: feature_layers={tuple(feature_layers)}")
    features = keras.Model(network.inputs, [network.get_layer(layer).output for layer in feature_layers],
                           name=f"{backbone}_features")(inputs)
    features = features if isinstance(features, (list, tuple)) else [features]
    height, width = tuple(input_shape)[:2]
    for layer, stride, feature in zip(feature_layers, feature_strides, features):
        expected = (math.ceil(height / stride), math.ceil(width / stride))
        if tuple(feature.shape[1:3]) != expected:
            raise ValueError(f"ssd_detector: {backbone}'s {layer} is {feature.shape[1]}x{feature.shape[2]} at "
                             f"{height}x{width}, not the {expected[0]}x{expected[1]} of stride {stride}; give its "
                             f"real stride. Received: feature_strides={tuple(feature_strides)}")
    return dict(zip(feature_strides, features))


def anchor_boxes(image_size, feature_strides, anchor_sizes, anchor_scales=(1.0,), aspect_ratios=(1.0,)) -> np.ndarray:
    """``(anchors, 4)`` float32 anchors in normalised yxyx, in the order of ``ssd_detector``'s
    outputs: level by level, then row, column, scale, aspect ratio. A level of stride ``s`` has
    ``ceil(h / s) x ceil(w / s)`` cells (what "same"-padded stride-2 convolutions give), each
    anchor centred on its cell."""
    height, width = image_size
    boxes = []
    for stride, size in zip(feature_strides, anchor_sizes):
        rows, columns = math.ceil(height / stride), math.ceil(width / stride)
        shapes = np.array([(size * scale * math.sqrt(ratio), size * scale / math.sqrt(ratio))
                           for scale in anchor_scales for ratio in aspect_ratios])  # (k, 2): pixel heights, widths
        centre_y, centre_x = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(columns) + 0.5) * stride,
                                         indexing="ij")
        centres = np.stack([centre_y, centre_x], axis=-1).reshape(-1, 1, 2)
        level = np.concatenate([centres - shapes / 2, centres + shapes / 2], axis=-1).reshape(-1, 4)
        boxes.append(level / np.array([height, width, height, width]))
    return np.concatenate(boxes).astype("float32")


def detector_anchors(input_shape, **architecture_kwargs) -> np.ndarray:
    """The anchors of ``ssd_detector(input_shape, **architecture_kwargs)``: its defaults for what
    ``architecture_kwargs`` leaves out, so a recipe's targets always line up with its model."""
    bound = inspect.signature(ssd_detector).bind_partial(input_shape=input_shape, **architecture_kwargs)
    bound.apply_defaults()
    options = bound.arguments
    return anchor_boxes(tuple(input_shape)[:2], options["feature_strides"], options["anchor_sizes"],
                        options["anchor_scales"], options["aspect_ratios"])


def _centres_and_sizes(boxes):
    y_min, x_min, y_max, x_max = ops.unstack(boxes, 4, axis=-1)
    return (y_min + y_max) / 2, (x_min + x_max) / 2, y_max - y_min, x_max - x_min


def encode_boxes(boxes, anchors, variances=BOX_VARIANCES):
    """Boxes (yxyx, ``(..., 4)``) as deltas from ``anchors`` (broadcastable): the centre's offset in
    anchor sizes and the log of the size ratio, each divided by its variance."""
    box_y, box_x, box_h, box_w = _centres_and_sizes(boxes)
    anchor_y, anchor_x, anchor_h, anchor_w = _centres_and_sizes(anchors)
    tiny = 1e-8
    deltas = ops.stack([(box_y - anchor_y) / anchor_h, (box_x - anchor_x) / anchor_w,
                        ops.log(ops.maximum(box_h, tiny) / anchor_h), ops.log(ops.maximum(box_w, tiny) / anchor_w)],
                       axis=-1)
    return deltas / ops.convert_to_tensor(variances, dtype=deltas.dtype)


def decode_boxes(deltas, anchors, variances=BOX_VARIANCES):
    """The inverse of ``encode_boxes``: deltas from ``anchors`` back to yxyx boxes."""
    deltas = deltas * ops.convert_to_tensor(variances, dtype=deltas.dtype)
    anchors = ops.cast(anchors, deltas.dtype)
    anchor_y, anchor_x, anchor_h, anchor_w = _centres_and_sizes(anchors)
    d_y, d_x, d_h, d_w = ops.unstack(deltas, 4, axis=-1)
    centre_y, centre_x = anchor_y + d_y * anchor_h, anchor_x + d_x * anchor_w
    half_h, half_w = anchor_h * ops.exp(d_h) / 2, anchor_w * ops.exp(d_w) / 2
    return ops.stack([centre_y - half_h, centre_x - half_w, centre_y + half_h, centre_x + half_w], axis=-1)


def box_iou(boxes, others):
    """Pairwise intersection over union of yxyx boxes: ``(n, 4)`` and ``(m, 4)`` give ``(n, m)``."""
    top_left = ops.maximum(boxes[:, None, :2], others[None, :, :2])
    bottom_right = ops.minimum(boxes[:, None, 2:], others[None, :, 2:])
    overlap = ops.prod(ops.maximum(bottom_right - top_left, 0.0), axis=-1)
    area = ops.prod(ops.maximum(boxes[:, 2:] - boxes[:, :2], 0.0), axis=-1)
    other_area = ops.prod(ops.maximum(others[:, 2:] - others[:, :2], 0.0), axis=-1)
    return overlap / ops.maximum(area[:, None] + other_area[None, :] - overlap, 1e-8)


def match_anchors(boxes, labels, anchors, *, positive_iou=0.5, negative_iou=0.4):
    """One image's training target, ``(anchors, 5)``: the encoded deltas of each anchor's matched
    box, then its class column (the box's label, ``BACKGROUND`` or ``IGNORED``).

    ``boxes`` ``(m, 4)`` and ``labels`` ``(m,)`` may be padded with label -1. An anchor is positive
    when its best IoU with a true box is at least ``positive_iou``, background below
    ``negative_iou``, ignored in between; each true box's best anchor is positive whatever its IoU,
    so that no object goes without one. Pure tensor ops, for a ``tf.data`` map."""
    boxes = ops.cast(boxes, "float32")
    labels = ops.cast(labels, "int32")
    anchors = ops.convert_to_tensor(anchors, dtype="float32")
    valid = labels >= 0
    iou = ops.where(valid[None, :], box_iou(anchors, boxes), -1.0)  # (anchors, m)
    best_anchor = ops.argmax(iou, axis=0)  # (m,)
    forced = ops.logical_and(ops.transpose(ops.one_hot(best_anchor, ops.shape(anchors)[0])) > 0, valid[None, :])
    iou = ops.where(forced, 2.0, iou)
    matched = ops.argmax(iou, axis=1)
    best_iou = ops.max(iou, axis=1)
    matched_labels = ops.take(labels, matched)
    classes = ops.where(best_iou >= positive_iou, matched_labels,
                        ops.where(best_iou < negative_iou, BACKGROUND, IGNORED))
    deltas = encode_boxes(ops.take(boxes, matched, axis=0), anchors)
    deltas = ops.where((classes >= 0)[:, None], deltas, 0.0)
    return ops.concatenate([deltas, ops.cast(classes, "float32")[:, None]], axis=-1)


@keras.saving.register_keras_serializable(package="keras_recipes")
class DetectionLoss(keras.losses.Loss):
    """Focal loss on every non-ignored anchor's classes (sigmoid, background = all zeros) plus
    ``box_weight`` x Huber on the deltas of the positive anchors, each summed per image and divided
    by its number of positive anchors (at least one), as RetinaNet does.

    ``y_true`` is ``match_anchors``'s target, ``(batch, anchors, 5)``; ``y_pred`` the detector's
    output, ``(batch, anchors, 4 + num_classes)``."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, box_weight: float = 1.0, huber_delta: float = 1.0,
                 *, reduction="sum_over_batch_size", name="detection_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha, self.gamma, self.box_weight, self.huber_delta = float(alpha), float(gamma), float(box_weight), float(huber_delta)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        num_classes = ops.shape(y_pred)[-1] - 4
        classes = ops.cast(y_true[..., 4], "int32")
        positive = ops.cast(classes >= 0, "float32")
        counted = ops.cast(classes != IGNORED, "float32")
        targets = ops.one_hot(ops.maximum(classes, 0), num_classes) * positive[..., None]
        focal = keras.losses.binary_focal_crossentropy(targets[..., None], y_pred[..., 4:, None], apply_class_balancing=True,
                                                       alpha=self.alpha, gamma=self.gamma, from_logits=True)
        class_loss = ops.sum(ops.sum(focal, axis=-1) * counted, axis=-1)
        box_loss = ops.sum(keras.losses.huber(y_true[..., :4, None], y_pred[..., :4, None], delta=self.huber_delta)
                           * positive[..., None], axis=(-2, -1))
        normaliser = ops.maximum(ops.sum(positive, axis=-1), 1.0)
        return (class_loss + self.box_weight * box_loss) / normaliser

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma, "box_weight": self.box_weight,
                "huber_delta": self.huber_delta}
