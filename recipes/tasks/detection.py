"""Object detection: boxes and classes of the items in an image, by a single-shot detector (SSD /
RetinaNet style) measured against a region-based baseline.

    >>> result = recipes.run("fashion_mnist_detection")
    >>> result.test_metrics["map_50"], result.test_metrics["baseline_map_50"]

Boxes are normalised ``[y_min, x_min, y_max, x_max]`` (``tf.image``'s convention, KerasHub's
``"rel_yxyx"``); data and targets are documented in ``recipes.data.detection``. The detector is
any builder registered with ``outputs="detections"`` (``architectures.detection.ssd_detector``);
its targets are made per image in the ``tf.data`` pipeline by ``match_anchors``, and it trains on
``DetectionLoss`` (focal + Huber).

``evaluate`` measures, on the fixed test set, mAP@0.5 and mAP@[.5:.95] (``_average_precision``,
COCO's definition, at most ``max_detections`` per image and class) and milliseconds per image
(whole batches, after a warm-up call, box decoding and NMS included) for the detector and, with
``baseline=True``, for the region-based baseline (``_region_baseline``) trained on the same
training images; and draws both on test images. The export serves ``pixels -> boxes, scores,
classes, num_detections`` with the decoding and ``tf.image.combined_non_max_suppression`` inside
the graph.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

import architectures
from architectures.detection import DetectionLoss, decode_boxes, detector_anchors, match_anchors
from callbacks import new_figure, save_figure
from recipes.data import Data, DatasetInfo, split_indices
from recipes.data.detection import DETECTION_SETS, detection_arrays
from recipes.data.idx import FASHION_MNIST_CLASSES
from recipes.errors import ConfigError
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task
from recipes.tasks._average_precision import mean_average_precision
from recipes.tasks._region_baseline import RegionDetector, sliding_windows, train_window_classifier

TEST_SEED_OFFSET = 10_000
INPUT_NAME = "pixels"
OUTPUTS = ("boxes", "scores", "classes", "num_detections")
# The baseline classifies every window: mnist_cnn at 16-32 filters and 64 units costs a quarter of
# its default's compute per window.
WINDOW_CLASSIFIER_KWARGS = {"mnist_cnn": {"filters": (16, 32), "dense_units": 64}}


@dataclass
class DetectionData(Data):
    """``Data`` whose arrays are ``(images, {"boxes", "labels"})`` per split, with the detector's anchors."""

    anchors: np.ndarray = None


def detection_model(input_shape, num_classes: int, *, architecture="ssd_detector", name="detector",
                    **architecture_kwargs) -> keras.Model:
    """The registered detector behind a rescaling of raw 0-255 pixels to [0, 1]."""
    network = architectures.build(architecture, input_shape=input_shape, num_classes=num_classes,
                                  **architecture_kwargs)
    inputs = keras.Input(input_shape, name=INPUT_NAME)
    return keras.Model(inputs, network(keras.layers.Rescaling(1 / 255, name="rescale")(inputs)), name=name)


def postprocess(predictions, anchors, *, score_threshold=0.05, iou_threshold=0.5, max_detections=100) -> dict:
    """The detector's ``(batch, anchors, 4 + classes)`` output as at most ``max_detections`` boxes
    per image: deltas decoded against ``anchors``, sigmoid class scores, and
    ``tf.image.combined_non_max_suppression`` per class. Boxes are clipped to the image; padding
    rows have score 0."""
    import tensorflow as tf

    predictions = tf.cast(predictions, tf.float32)
    boxes = decode_boxes(predictions[..., :4], tf.constant(anchors))
    scores = tf.sigmoid(predictions[..., 4:])
    found = tf.image.combined_non_max_suppression(
        boxes[:, :, None, :], scores, max_output_size_per_class=max_detections, max_total_size=max_detections,
        iou_threshold=iou_threshold, score_threshold=score_threshold, clip_boxes=True)
    return {"boxes": found.nmsed_boxes, "scores": found.nmsed_scores,
            "classes": tf.cast(found.nmsed_classes, tf.int32), "num_detections": found.valid_detections}


def flipped(image, boxes, labels):
    """The image mirrored left to right and its boxes with it (padding rows stay -1)."""
    import tensorflow as tf

    y_min, x_min, y_max, x_max = tf.unstack(boxes, axis=-1)
    mirrored = tf.stack([y_min, 1 - x_max, y_max, 1 - x_min], axis=-1)
    return tf.reverse(image, axis=[1]), tf.where((labels >= 0)[:, None], mirrored, boxes), labels


def target_pipeline(images, targets, anchors, batch_size: int, *, shuffle_seed: int | None = None,
                    flip: bool = False):
    """``(float32 images, match_anchors targets)`` batches; the matching runs per image in the map,
    after a random left-right flip of half the images with ``flip`` (for training)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, targets["boxes"], targets["labels"])).cache()
    if shuffle_seed is not None:
        ds = ds.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    if flip:
        ds = ds.map(lambda image, boxes, labels: tf.cond(tf.random.uniform((), seed=shuffle_seed) < 0.5,
                                                         lambda: flipped(image, boxes, labels),
                                                         lambda: (image, boxes, labels)),
                    num_parallel_calls=tf.data.AUTOTUNE)
    anchors = tf.constant(anchors)
    ds = ds.map(lambda image, boxes, labels: (tf.cast(image, tf.float32), match_anchors(boxes, labels, anchors)),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def detection_data(name: str, train, test, *, class_names, anchors, batch_size: int, validation_split: float,
                   seed: int, source: str, flip: bool = False) -> DetectionData:
    """Pipelines of ``(images, targets)`` train and test arrays, a validation split carved from train
    by seed; ``flip`` mirrors half the training images at random, each epoch."""
    images, targets = train
    train_index, validation_index = split_indices(len(images), validation_split=validation_split, seed=seed)

    def part(index):
        return images[index], {key: value[index] for key, value in targets.items()}

    arrays = {"train": part(train_index), "validation": part(validation_index), "test": test}
    info = DatasetInfo(name=name, input_shape=tuple(images.shape[1:]), num_classes=len(class_names),
                       class_names=tuple(class_names), input_name=INPUT_NAME, value_range=255.0, source=source,
                       num_train=len(train_index), num_validation=len(validation_index), num_test=len(test[0]))
    return DetectionData(
        train=target_pipeline(*arrays["train"], anchors, batch_size, shuffle_seed=seed, flip=flip),
        validation=target_pipeline(*arrays["validation"], anchors, batch_size) if len(validation_index) else None,
        test=target_pipeline(*test, anchors, batch_size), info=info, arrays=arrays, anchors=anchors)


def timed_detections(detect, images, *, batch_size: int = 8) -> tuple[dict, float]:
    """``detect``'s outputs over ``images`` in batches, as numpy arrays, and the milliseconds per
    image it took (wall time, after one warm-up batch that traces and allocates)."""
    detect(images[:batch_size])
    started = time.perf_counter()
    parts = [detect(images[start:start + batch_size]) for start in range(0, len(images), batch_size)]
    milliseconds = 1000 * (time.perf_counter() - started) / len(images)
    return {key: np.concatenate([np.asarray(part[key]) for part in parts]) for key in OUTPUTS}, milliseconds


def detection_scores(targets, found) -> dict:
    return mean_average_precision(targets["boxes"], targets["labels"], found["boxes"], found["scores"],
                                  found["classes"])


@register_task
class Detection(Task):
    """Image -> boxes with classes and scores (``pixels -> boxes, scores, classes, num_detections``).
    Options (``DetectionOptions``): the generated data (``size``, ``num_train``, ``num_test``,
    ``max_objects``, ``min_scale``, ``max_scale``), ``flip`` (training augmentation), the post-processing (``score_threshold``,
    ``nms_iou``, ``max_detections``) and the region-based baseline (``baseline``,
    ``baseline_epochs``, ``baseline_architecture``, ``baseline_window_step``)."""

    name = "detection"

    def _anchors(self, recipe, input_shape):
        return detector_anchors(input_shape, **recipe.architecture_kwargs)

    def load(self, recipe, *, data_dir=None, download=True):
        if recipe.dataset not in DETECTION_SETS:
            raise ConfigError(f"the detection task generates its data; dataset must be one of "
                              f"{', '.join(DETECTION_SETS)}. Received: dataset={recipe.dataset!r}")
        generate = DETECTION_SETS[recipe.dataset]
        options = recipe.task_options
        shape = {"size": options.size, "max_objects": options.max_objects, "min_scale": options.min_scale,
                 "max_scale": options.max_scale}
        num_train = min(options.num_train, recipe.train_limit or options.num_train)
        num_test = min(options.num_test, recipe.test_limit or options.num_test)
        train = generate(num_train, seed=recipe.seed, split="train", data_dir=data_dir, download=download, **shape)
        test = generate(num_test, seed=recipe.seed + TEST_SEED_OFFSET, split="test", data_dir=data_dir,
                        download=download, **shape)
        return detection_data(recipe.dataset, train, test, class_names=FASHION_MNIST_CLASSES,
                              anchors=self._anchors(recipe, train[0].shape[1:]), batch_size=recipe.batch_size,
                              validation_split=recipe.validation_split, seed=recipe.seed,
                              source=f"generated from Fashion-MNIST items (recipes/data/detection.py), "
                                     f"{options.size}x{options.size}, 1-{options.max_objects} objects",
                              flip=options.flip)

    def load_user_data(self, recipe, user):
        """``(train, test)``: each ``(images, {"boxes", "labels"})`` (``recipes.data.detection``); or one
        such pair, whose test split (a tenth, by seed) is carved from it."""
        source = user.source
        single = isinstance(source, dict) or (isinstance(source, (tuple, list)) and len(source) == 2
                                              and not isinstance(source[1], (tuple, list)))
        if single:
            images, targets = detection_arrays(source, what="data")
            train_index, test_index = split_indices(len(images), validation_split=0.1, seed=recipe.seed)
            train = images[train_index], {k: v[train_index] for k, v in targets.items()}
            test = images[test_index], {k: v[test_index] for k, v in targets.items()}
        elif isinstance(source, (tuple, list)) and len(source) == 2:
            train, test = detection_arrays(source[0], what="train"), detection_arrays(source[1], what="test")
        else:
            raise ConfigError("detection data must be (images, {'boxes': ..., 'labels': ...}) or (train, test) "
                              f"pairs of them, boxes in normalised [y_min, x_min, y_max, x_max]. "
                              f"Received: {type(source).__name__}")
        if train[0].shape[1:] != test[0].shape[1:]:
            raise ConfigError(f"train and test images must have one shape. Received: {train[0].shape[1:]} and "
                              f"{test[0].shape[1:]}")
        num_classes = int(max(train[1]["labels"].max(), test[1]["labels"].max())) + 1
        return detection_data("your_detection_data", train, test, class_names=[str(c) for c in range(num_classes)],
                              anchors=self._anchors(recipe, train[0].shape[1:]), batch_size=recipe.batch_size,
                              validation_split=recipe.validation_split, seed=recipe.seed, source="your arrays",
                              flip=recipe.task_options.flip)

    def build(self, recipe, data):
        return detection_model(data.info.input_shape, data.info.num_classes, architecture=recipe.architecture,
                               name=f"{recipe.architecture}_{data.info.name}", **recipe.architecture_kwargs)

    def compile_options(self, recipe, data) -> dict:
        return {"loss": DetectionLoss()}

    def detector(self, recipe, model, anchors):
        """``images -> outputs`` of the trained model with its post-processing, as one ``tf.function``."""
        import tensorflow as tf

        options = recipe.task_options

        @tf.function(reduce_retracing=True)
        def detect(images):
            return postprocess(model(tf.cast(images, tf.float32), training=False), anchors,
                               score_threshold=options.score_threshold, iou_threshold=options.nms_iou,
                               max_detections=options.max_detections)

        return lambda images: {key: value.numpy() for key, value in detect(images).items()}

    def evaluate(self, recipe, model, data, context):
        options = recipe.task_options
        images, targets = data.arrays["test"]
        detect = self.detector(recipe, model, data.anchors)
        found, milliseconds = timed_detections(detect, images)
        metrics = {**detection_scores(targets, found), "ms_per_image": milliseconds}
        shown = {"single-shot": found}
        if options.baseline:
            train_images, train_targets = data.arrays["train"]
            windows = sliding_windows(images.shape[1:3], step=options.baseline_window_step)
            started = time.perf_counter()
            classifier = train_window_classifier(train_images, train_targets, windows, data.info.num_classes,
                                                 seed=recipe.seed, epochs=options.baseline_epochs,
                                                 architecture=options.baseline_architecture,
                                                 **WINDOW_CLASSIFIER_KWARGS.get(options.baseline_architecture, {}))
            metrics["baseline_train_seconds"] = time.perf_counter() - started
            baseline = RegionDetector(classifier, windows, score_threshold=options.score_threshold,
                                      iou_threshold=options.nms_iou, max_detections=options.max_detections)
            baseline_found, milliseconds = timed_detections(baseline, images)
            metrics.update({f"baseline_{key}": value for key, value in detection_scores(targets, baseline_found).items()})
            metrics["baseline_ms_per_image"] = milliseconds
            metrics["baseline_windows"] = len(windows)
            shown["region-based"] = baseline_found
        plot = plot_detections(images[:6], targets, shown, data.info.class_names,
                               context.run_dir / "plots" / "detections.png", title=f"{recipe.name} (test images)")
        return metrics, [plot] if plot else []

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        import tensorflow as tf

        options = recipe.task_options
        anchors = data.anchors

        def serve(pixels):
            return postprocess(model(pixels, training=False), anchors, score_threshold=options.score_threshold,
                               iou_threshold=options.nms_iou, max_detections=options.max_detections)

        spec = tf.TensorSpec((None, *data.info.input_shape), tf.float32, name=INPUT_NAME)
        return export_model(model, name, export_dir=export_dir, endpoint=serve, input_signature=[spec],
                            metadata={**metadata, "class_names": list(data.info.class_names),
                                      "box_format": "rel_yxyx: [y_min, x_min, y_max, x_max] in [0, 1]",
                                      "max_detections": options.max_detections})


def plot_detections(images, targets, detections: dict, class_names, path, *, title="",
                    min_score: float = 0.3) -> Path | None:
    """A row per image, a column per detector: true boxes dashed green, detections (score at least
    ``min_score``) red with their class and score."""
    figure = new_figure("detections", figsize=(max(6.0, 3.0 * len(detections)), 3.0 * len(images) + 0.6), dpi=100,
                        layout="constrained")
    if figure is None:
        return None
    from matplotlib.patches import Rectangle

    grid = figure.subplots(len(images), len(detections), squeeze=False)
    size = np.array(images.shape[1:3] * 2)  # (h, w, h, w)
    for row, image in enumerate(images):
        for column, (label, found) in enumerate(detections.items()):
            axes = grid[row, column]
            axes.imshow(image[..., 0] if image.shape[-1] == 1 else image.astype("uint8"), cmap="gray")
            axes.set_axis_off()
            if row == 0:
                axes.set_title(label, fontsize=10)
            for box, name in zip(targets["boxes"][row], targets["labels"][row]):
                if name >= 0:
                    y0, x0, y1, x1 = box * size - 0.5
                    axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="lime", ls="--", lw=1))
            for box, score, name in zip(found["boxes"][row], found["scores"][row], found["classes"][row]):
                if score >= min_score:
                    y0, x0, y1, x1 = box * size - 0.5
                    axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="red", lw=1.2))
                    axes.text(x0, y0, f"{class_names[int(name)]} {score:.2f}", color="yellow", fontsize=6,
                              va="bottom", bbox={"facecolor": "black", "alpha": 0.5, "pad": 0.5, "lw": 0})
    figure.suptitle(f"{title}\ntrue boxes dashed green, detections red (score >= {min_score})", fontsize=9)
    return save_figure(figure, path)
