"""Mean average precision of detections, as COCO's evaluation (pycocotools ``COCOeval``, bbox) defines it.

For each class and IoU threshold ``t``:

1. Per image, the class's detections are sorted by score (highest first) and cut to the best
   ``max_detections`` (COCO's ``maxDets``, 100, applies per image and class). Each in turn is
   matched to the unmatched true box of that class it overlaps most, if that IoU is at least
   ``t``: a true positive; otherwise (a second detection of a box already found, a box of the
   wrong class, a box in the wrong place) it is a false positive.
2. Over all images, detections sorted by score give precision and recall after each one;
   precision is made non-increasing from the right (the envelope), and AP is its mean at the 101
   recall levels 0, 0.01, ..., 1 (the precision at the first point reaching that recall, 0 where
   none does).

A class with no true box in any image is left out of the mean (COCO leaves it out too), so
detections of absent classes cost nothing. ``mAP@0.5`` uses ``t = 0.5``; ``mAP@[.5:.95]`` averages
``t = 0.5, 0.55, ..., 0.95``. IoU is of yxyx boxes as given (any units, normalised here), without
COCO's area ranges or crowd boxes. ``tests/recipes/test_detection.py`` checks it against
pycocotools on random boxes.
"""

from __future__ import annotations

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_LEVELS = np.linspace(0.0, 1.0, 101)
MAX_DETECTIONS = 100


def _pairwise_iou(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    top_left = np.maximum(boxes[:, None, :2], others[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=-1)
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=-1)
    other_area = np.prod(np.clip(others[:, 2:] - others[:, :2], 0, None), axis=-1)
    union = area[:, None] + other_area[None, :] - overlap
    return np.where(union > 0, overlap / np.where(union > 0, union, 1), 0.0)


def _interpolated_ap(matched: np.ndarray, scores: np.ndarray, num_true: int) -> float:
    """101-point interpolated AP of detections (true-positive flags and scores) for ``num_true`` boxes."""
    order = np.argsort(-scores, kind="mergesort")
    hits = matched[order]
    true_positives, false_positives = np.cumsum(hits), np.cumsum(~hits)
    recall = true_positives / num_true
    precision = true_positives / (true_positives + false_positives + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    at = np.searchsorted(recall, RECALL_LEVELS, side="left")
    return float(np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0.0).mean()) \
        if len(precision) else 0.0


def average_precisions(true_boxes, true_labels, boxes, scores, labels, *, iou_thresholds=IOU_THRESHOLDS,
                       max_detections: int = MAX_DETECTIONS) -> dict[int, np.ndarray]:
    """AP per class (with at least one true box) at each of ``iou_thresholds``.

    Per image ``i``: ``true_boxes[i]`` ``(k, 4)`` yxyx and ``true_labels[i]`` ``(k,)`` (rows with
    label -1 are padding), and the detections ``boxes[i]`` ``(d, 4)``, ``scores[i]`` ``(d,)``,
    ``labels[i]`` ``(d,)`` (rows with score <= 0 or label -1 are padding, as
    ``combined_non_max_suppression`` pads)."""
    thresholds = np.asarray(iou_thresholds, dtype=float)
    classes = sorted({int(c) for image in true_labels for c in np.asarray(image).reshape(-1) if c >= 0})
    matched = {c: [[] for _ in thresholds] for c in classes}
    detection_scores = {c: [] for c in classes}
    num_true = dict.fromkeys(classes, 0)
    for image_true_boxes, image_true_labels, image_boxes, image_scores, image_labels in zip(
            true_boxes, true_labels, boxes, scores, labels):
        image_true_boxes = np.asarray(image_true_boxes, float).reshape(-1, 4)
        image_true_labels = np.asarray(image_true_labels).reshape(-1)
        image_boxes = np.asarray(image_boxes, float).reshape(-1, 4)
        image_scores = np.asarray(image_scores, float).reshape(-1)
        image_labels = np.asarray(image_labels).reshape(-1)
        for c in classes:
            truth = image_true_boxes[image_true_labels == c]
            num_true[c] += len(truth)
            mine = (image_labels == c) & (image_scores > 0)
            order = np.argsort(-image_scores[mine], kind="mergesort")[:max_detections]
            found, found_scores = image_boxes[mine][order], image_scores[mine][order]
            detection_scores[c].append(found_scores)
            iou = _pairwise_iou(found, truth) if len(found) and len(truth) else np.zeros((len(found), len(truth)))
            for t, threshold in enumerate(thresholds):
                threshold = min(threshold, 1 - 1e-10)
                taken = np.zeros(len(truth), bool)
                hits = np.zeros(len(found), bool)
                for d in range(len(found)):
                    candidates = np.where(taken, -1.0, iou[d])
                    if len(truth) and candidates.max() >= threshold:
                        # the last of equally good boxes, as pycocotools picks it
                        best = len(candidates) - 1 - int(np.argmax(candidates[::-1]))
                        taken[best], hits[d] = True, True
                matched[c][t].append(hits)
    result = {}
    for c in classes:
        all_scores = np.concatenate(detection_scores[c])
        result[c] = np.array([_interpolated_ap(np.concatenate(matched[c][t]), all_scores, num_true[c])
                              for t in range(len(thresholds))])
    return result


def mean_average_precision(true_boxes, true_labels, boxes, scores, labels, *,
                           max_detections: int = MAX_DETECTIONS) -> dict[str, float]:
    """``{"map_50": mAP@0.5, "map_50_95": mAP@[.5:.95], "map_75": mAP@0.75}`` over the classes with
    true boxes (NaN where there are none); arguments as ``average_precisions``."""
    per_class = average_precisions(true_boxes, true_labels, boxes, scores, labels, max_detections=max_detections)
    if not per_class:
        return {"map_50": float("nan"), "map_50_95": float("nan"), "map_75": float("nan")}
    table = np.stack(list(per_class.values()))  # (classes, thresholds)
    return {"map_50": float(table[:, 0].mean()), "map_50_95": float(table.mean()), "map_75": float(table[:, 5].mean())}
