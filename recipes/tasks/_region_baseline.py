"""The region-based baseline detector, the deck's pseudo-code made runnable:

    for each window in sliding_windows(image):        # proposals: a few sizes and aspect ratios
        patch = crop_and_resize(image, window)         # tf.image.crop_and_resize, to 28x28
        scores[window] = classifier(patch)             # a registered classifier, one extra "background" class
    detections = non_max_suppression(windows, scores)  # tf.image.combined_non_max_suppression

The classifier (``mnist_cnn`` by default) is trained on patches of the training images: windows
whose IoU with a true box is at least 0.5 take its class, windows overlapping every box by less
than 0.3 are "background", and the true boxes themselves are added as patches of their class.
A window's box is the window itself: nothing regresses it closer to the object, which is what the
single-shot detector's box deltas add (and what Faster R-CNN's second stage adds).
"""

from __future__ import annotations

import math

import keras
import numpy as np

import architectures

CROP_SIZE = (28, 28)


def sliding_windows(image_size, *, sizes=(16, 24, 36, 48), aspect_ratios=(0.5, 1.0, 2.0),
                    step: float = 1 / 3) -> np.ndarray:
    """``(windows, 4)`` normalised yxyx boxes: for each size (pixels across) and aspect ratio
    (height / width), windows every ``step * size`` pixels, clipped to the image."""
    height, width = image_size
    found = []
    for size in sizes:
        stride = max(1.0, step * size)
        for ratio in aspect_ratios:
            box_h, box_w = size * math.sqrt(ratio), size / math.sqrt(ratio)
            tops = np.arange(-box_h / 4, height - 3 * box_h / 4 + 1e-6, stride)
            lefts = np.arange(-box_w / 4, width - 3 * box_w / 4 + 1e-6, stride)
            top, left = np.meshgrid(tops, lefts, indexing="ij")
            found.append(np.stack([top, left, top + box_h, left + box_w], axis=-1).reshape(-1, 4))
    windows = np.concatenate(found) / np.array([height, width, height, width])
    return np.unique(np.clip(windows, 0, 1).astype("float32"), axis=0)


def _iou(boxes, others):
    top_left = np.maximum(boxes[:, None, :2], others[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=-1)
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
    other_areas = np.prod(others[:, 2:] - others[:, :2], axis=-1)
    return overlap / np.maximum(areas[:, None] + other_areas[None, :] - overlap, 1e-12)


def _crops(images, boxes, box_indices):
    import tensorflow as tf

    return tf.image.crop_and_resize(tf.cast(images, tf.float32), boxes, box_indices, CROP_SIZE).numpy()


def training_patches(images, targets, windows, num_classes: int, *, seed: int, per_image: int = 12,
                     positive_iou: float = 0.5, negative_iou: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Patches and labels (``num_classes`` is background) to train the window classifier: per
    image, its true boxes, up to ``per_image`` windows matching a box and as many background windows."""
    rng = np.random.default_rng(seed)
    boxes, labels, owners = [], [], []
    for index, (image_boxes, image_labels) in enumerate(zip(targets["boxes"], targets["labels"])):
        real = image_labels >= 0
        truth, truth_labels = image_boxes[real], image_labels[real]
        iou = _iou(windows, truth) if len(truth) else np.zeros((len(windows), 0))
        best = iou.max(axis=1) if len(truth) else np.zeros(len(windows))
        positive = np.flatnonzero(best >= positive_iou)
        negative = np.flatnonzero(best < negative_iou)
        positive = rng.choice(positive, min(per_image, len(positive)), replace=False)
        negative = rng.choice(negative, min(max(per_image, len(positive)), len(negative)), replace=False)
        boxes += [truth, windows[positive], windows[negative]]
        labels += [truth_labels, truth_labels[iou[positive].argmax(axis=1)] if len(positive) else np.zeros(0, int),
                   np.full(len(negative), num_classes)]
        owners.append(np.full(len(truth) + len(positive) + len(negative), index))
    boxes, labels, owners = np.concatenate(boxes), np.concatenate(labels), np.concatenate(owners)
    patches = np.concatenate([_crops(images, boxes[i:i + 4096], owners[i:i + 4096]) for i in range(0, len(boxes), 4096)])
    return patches, labels.astype("int32")


def window_classifier(num_classes: int, *, architecture: str = "mnist_cnn", name="window_classifier",
                      **architecture_kwargs) -> keras.Model:
    """A registered classifier of 28x28 raw-pixel patches into ``num_classes`` + background."""
    network = architectures.build(architecture, input_shape=(*CROP_SIZE, 1), num_classes=num_classes + 1,
                                  **architecture_kwargs)
    inputs = keras.Input((*CROP_SIZE, 1), name="patches")
    return keras.Model(inputs, network(keras.layers.Rescaling(1 / 255, name="rescale")(inputs)), name=name)


def train_window_classifier(images, targets, windows, num_classes: int, *, seed: int, epochs: int = 3,
                            batch_size: int = 128, architecture: str = "mnist_cnn", verbose=0,
                            **architecture_kwargs) -> keras.Model:
    """``window_classifier`` fitted on ``training_patches`` with Adam (learning rate 1e-3)."""
    patches, labels = training_patches(images, targets, windows, num_classes, seed=seed)
    keras.utils.set_random_seed(seed)
    model = window_classifier(num_classes, architecture=architecture, **architecture_kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    order = np.random.default_rng(seed).permutation(len(labels))
    model.fit(patches[order], labels[order], batch_size=batch_size, epochs=epochs, verbose=verbose)
    return model


class RegionDetector:
    """Images (raw pixels) -> ``{"boxes", "scores", "classes", "num_detections"}`` as the single-shot
    export gives them: every window cropped, classified, and the class scores (background left
    out) put through ``tf.image.combined_non_max_suppression``."""

    def __init__(self, classifier: keras.Model, windows: np.ndarray, *, score_threshold: float = 0.05,
                 iou_threshold: float = 0.5, max_detections: int = 100):
        import tensorflow as tf

        self.classifier, self.windows = classifier, windows
        count = len(windows)

        @tf.function(reduce_retracing=True)
        def detect(images):
            images = tf.cast(images, tf.float32)
            batch = tf.shape(images)[0]
            boxes = tf.tile(tf.constant(windows), [batch, 1])
            owners = tf.repeat(tf.range(batch), count)
            patches = tf.image.crop_and_resize(images, boxes, owners, CROP_SIZE)
            probabilities = tf.reshape(classifier(patches, training=False), [batch, count, -1])
            window_boxes = tf.reshape(boxes, [batch, count, 1, 4])
            found = tf.image.combined_non_max_suppression(
                window_boxes, probabilities[..., :-1], max_output_size_per_class=max_detections,
                max_total_size=max_detections, iou_threshold=iou_threshold, score_threshold=score_threshold,
                clip_boxes=False)
            return {"boxes": found.nmsed_boxes, "scores": found.nmsed_scores,
                    "classes": tf.cast(found.nmsed_classes, tf.int32), "num_detections": found.valid_detections}

        self._detect = detect

    def __call__(self, images) -> dict:
        return {key: value.numpy() for key, value in self._detect(images).items()}
