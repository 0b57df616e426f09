"""Detection data: images with boxes and class labels, generated from Fashion-MNIST or your own.

**Box format.** A box is ``[y_min, x_min, y_max, x_max]`` normalised to [0, 1] by the image's
height and width: the convention of ``tf.image`` (``crop_and_resize``,
``combined_non_max_suppression``), called ``"rel_yxyx"`` in KerasHub. ``y_max`` and ``x_max`` are
exclusive edges, so a box covering pixel rows 10 to 29 of a 96-pixel image has ``y_min = 10 / 96``
and ``y_max = 30 / 96``.

**Targets.** KerasHub's dict layout: ``{"boxes": (N, max_boxes, 4), "labels": (N, max_boxes)}``,
padded with -1 (a box row of -1s and label -1 is no box), or ragged Python lists, one array of
boxes and one of labels per image. ``detection_targets`` checks and pads either.

    >>> images, targets = fashion_mnist_detection(100, seed=0)
    >>> images.shape, targets["boxes"].shape, targets["labels"].shape
    ((100, 96, 96, 1), (100, 5, 4), (100, 5))
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recipes.errors import ConfigError

PADDING = -1


def _resized(item: np.ndarray, size: int) -> np.ndarray:
    """A (h, w) image resized to (size, size) by bilinear interpolation, in float32."""
    height, width = item.shape
    rows = np.clip((np.arange(size) + 0.5) * height / size - 0.5, 0, height - 1)
    columns = np.clip((np.arange(size) + 0.5) * width / size - 0.5, 0, width - 1)
    top, left = np.floor(rows).astype(int), np.floor(columns).astype(int)
    bottom, right = np.minimum(top + 1, height - 1), np.minimum(left + 1, width - 1)
    dy, dx = (rows - top)[:, None], (columns - left)[None, :]
    item = item.astype("float32")
    upper = item[top][:, left] * (1 - dx) + item[top][:, right] * dx
    lower = item[bottom][:, left] * (1 - dx) + item[bottom][:, right] * dx
    return upper * (1 - dy) + lower * dy


def _iou(box, boxes) -> np.ndarray:
    """IoU of one yxyx box with each of ``boxes`` (k, 4)."""
    if not len(boxes):
        return np.zeros(0)
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=-1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
    return overlap / (area + areas - overlap)


def detection_images(items: np.ndarray, item_labels: np.ndarray, count: int, *, seed: int, size: int = 96,
                     min_objects: int = 1, max_objects: int = 5, min_scale: int = 20, max_scale: int = 48,
                     max_overlap: float = 0.3) -> tuple[np.ndarray, dict]:
    """``count`` seeded ``(size, size, 1)`` uint8 canvases, each with ``min_objects`` to
    ``max_objects`` of ``items`` (``(n, h, w)`` or ``(n, h, w, 1)`` grey images on a black
    background, such as Fashion-MNIST's), each resized to a square of ``min_scale`` to
    ``max_scale`` pixels and drawn at a random place (overlapping items keep the brighter pixel).

    Returns the images and ``{"boxes": (count, max_objects, 4), "labels": (count, max_objects)}``,
    padded with -1: each box is the tight box of its item's non-zero pixels, in normalised yxyx.
    Two items overlap by at most ``max_overlap`` IoU of their boxes (a placement that overlaps more
    is drawn again, up to 20 times, then the item is left out), so some overlap and none hides another.
    """
    items = np.asarray(items)
    items = items[..., 0] if items.ndim == 4 else items
    if items.ndim != 3 or len(items) != len(item_labels) or not len(items):
        raise ConfigError(f"detection_images needs items of shape (n, height, width) with one label each. "
                          f"Received: items of shape {items.shape}, {len(item_labels)} labels")
    if not 1 <= min_objects <= max_objects:
        raise ConfigError(f"detection_images needs 1 <= min_objects <= max_objects. "
                          f"Received: min_objects={min_objects}, max_objects={max_objects}")
    if not 1 <= min_scale <= max_scale <= size:
        raise ConfigError(f"detection_images needs 1 <= min_scale <= max_scale <= size. "
                          f"Received: min_scale={min_scale}, max_scale={max_scale}, size={size}")
    rng = np.random.default_rng(seed)
    images = np.zeros((count, size, size, 1), "uint8")
    boxes = np.full((count, max_objects, 4), PADDING, "float32")
    labels = np.full((count, max_objects), PADDING, "int32")
    for index in range(count):
        canvas = np.zeros((size, size), "float32")
        placed = []
        for _ in range(rng.integers(min_objects, max_objects + 1)):
            choice = rng.integers(len(items))
            scale = int(rng.integers(min_scale, max_scale + 1))
            item = _resized(items[choice], scale)
            rows, columns = np.nonzero(item > 0)
            if not len(rows):
                continue
            for _attempt in range(20):
                top, left = rng.integers(0, size - scale + 1, size=2)
                box = np.array([top + rows.min(), left + columns.min(), top + rows.max() + 1,
                                left + columns.max() + 1], "float32") / size
                if not placed or _iou(box, np.array(placed)).max() <= max_overlap:
                    break
            else:
                continue
            window = canvas[top:top + scale, left:left + scale]
            np.maximum(window, item, out=window)
            boxes[index, len(placed)] = box
            labels[index, len(placed)] = item_labels[choice]
            placed.append(box)
        images[index, ..., 0] = np.clip(np.rint(canvas), 0, 255).astype("uint8")
    return images, {"boxes": boxes, "labels": labels}


def fashion_mnist_detection(count: int, *, seed: int, split: str = "train", data_dir=None, download=True,
                            **options) -> tuple[np.ndarray, dict]:
    """``detection_images`` of Fashion-MNIST's ``split`` ("train" or "test") items, found as
    ``recipes.data.load_arrays("fashion_mnist")`` finds them; ``options`` go to ``detection_images``."""
    from recipes.data import idx

    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test'. Received: split={split!r}")
    raw = idx.load_idx_set("fashion_mnist", data_dir, download)
    items, item_labels = (raw.x_train, raw.y_train) if split == "train" else (raw.x_test, raw.y_test)
    return detection_images(items, item_labels, count, seed=seed, **options)


DETECTION_SETS = {"fashion_mnist_detection": fashion_mnist_detection}


def detection_targets(targets, num_images: int, *, num_classes: int | None = None, what: str = "targets") -> dict:
    """``targets`` checked and padded: ``{"boxes": (N, max_boxes, 4) float32, "labels": (N, max_boxes)
    int32}`` with -1 padding. ``targets`` is that dict already padded, or with ragged lists (one
    ``(k, 4)`` array of boxes and one ``(k,)`` array of labels per image, ``k`` may be 0).
    Boxes must be normalised yxyx (``y_min <= y_max``, ``x_min <= x_max``, within [0, 1]); labels
    integers from 0 (below ``num_classes`` when given)."""
    if not isinstance(targets, Mapping) or set(targets) != {"boxes", "labels"}:
        keys = sorted(targets) if isinstance(targets, Mapping) else type(targets).__name__
        raise ConfigError(f"{what} must be a dict {{'boxes': ..., 'labels': ...}} (KerasHub's layout), boxes in "
                          f"normalised [y_min, x_min, y_max, x_max]. Received: {keys}")
    boxes, labels = targets["boxes"], targets["labels"]
    if isinstance(boxes, np.ndarray) and boxes.dtype != object:
        boxes, labels = np.asarray(boxes, "float32"), np.asarray(labels)
        if boxes.ndim != 3 or boxes.shape[-1] != 4 or labels.shape != boxes.shape[:2]:
            raise ConfigError(f"{what}: padded boxes must be (images, max_boxes, 4) and labels (images, max_boxes). "
                              f"Received: boxes {boxes.shape}, labels {labels.shape}")
    else:
        boxes, labels = list(boxes), list(labels)
        if len(boxes) != len(labels):
            raise ConfigError(f"{what}: give one array of boxes and one of labels per image. "
                              f"Received: {len(boxes)} box arrays, {len(labels)} label arrays")
        width = max([1, *(len(b) for b in boxes)])
        padded_boxes = np.full((len(boxes), width, 4), PADDING, "float32")
        padded_labels = np.full((len(boxes), width), PADDING, "int64")
        for index, (image_boxes, image_labels) in enumerate(zip(boxes, labels)):
            image_boxes = np.asarray(image_boxes, "float32").reshape(-1, 4) if len(image_boxes) else np.zeros((0, 4))
            image_labels = np.asarray(image_labels).reshape(-1)
            if len(image_boxes) != len(image_labels):
                raise ConfigError(f"{what}: image {index} has {len(image_boxes)} boxes but {len(image_labels)} labels. "
                                  f"Received: boxes {image_boxes.tolist()}, labels {image_labels.tolist()}")
            padded_boxes[index, :len(image_boxes)] = image_boxes
            padded_labels[index, :len(image_labels)] = image_labels
        boxes, labels = padded_boxes, padded_labels
    if len(boxes) != num_images:
        raise ConfigError(f"{what}: {len(boxes)} images' boxes for {num_images} images. Received: boxes {boxes.shape}")
    if labels.dtype.kind not in "iu" and not np.all(np.mod(labels, 1) == 0):
        raise ConfigError(f"{what}: labels must be integer class ids (-1 for padding). Received: dtype {labels.dtype}")
    labels = labels.astype("int32")
    real = labels >= 0
    if np.any(labels < PADDING):
        raise ConfigError(f"{what}: labels must be class ids from 0, or -1 for padding. Received: {labels.min()}")
    if num_classes is not None and np.any(labels >= num_classes):
        raise ConfigError(f"{what}: labels must be below num_classes={num_classes}. Received: {labels.max()}")
    kept = boxes[real]
    if len(kept) and (np.any(kept < 0) or np.any(kept > 1) or np.any(kept[:, 2:] < kept[:, :2])):
        bad = kept[np.any(kept < 0, axis=1) | np.any(kept > 1, axis=1) | np.any(kept[:, 2:] < kept[:, :2], axis=1)][0]
        raise ConfigError(f"{what}: boxes must be normalised [y_min, x_min, y_max, x_max] within [0, 1] with "
                          f"min <= max (divide pixel coordinates by the height and width; swap xyxy to yxyx). "
                          f"Received: {[round(float(v), 6) for v in bad]}")
    boxes = np.where(real[..., None], boxes, PADDING).astype("float32")
    return {"boxes": boxes, "labels": np.where(real, labels, PADDING).astype("int32")}


def detection_arrays(source, *, what: str = "data", num_classes: int | None = None) -> tuple[np.ndarray, dict]:
    """``(images, targets)`` checked: ``images`` ``(N, height, width, channels)`` numbers (0-255
    pixels), ``targets`` as ``detection_targets`` takes them. ``source`` is that pair, or a dict
    ``{"images": ..., "boxes": ..., "labels": ...}``."""
    if isinstance(source, Mapping) and "images" in source:
        source = (source["images"], {k: v for k, v in source.items() if k != "images"})
    if not isinstance(source, (tuple, list)) or len(source) != 2:
        raise ConfigError(f"{what} must be (images, {{'boxes': ..., 'labels': ...}}) or a dict with 'images', "
                          f"'boxes' and 'labels'. Received: {type(source).__name__}")
    images = np.asarray(source[0])
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.dtype.kind not in "uif":
        raise ConfigError(f"{what}: images must be numbers of shape (images, height, width, channels). "
                          f"Received: shape {images.shape}, dtype {images.dtype}")
    return images, detection_targets(source[1], len(images), num_classes=num_classes, what=f"{what} targets")
