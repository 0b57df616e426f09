"""Object detection: the generated data and its checks, box coding and anchor matching, mAP by hand
and against pycocotools, NMS inside the export, and a tiny real run whose export is served."""

import contextlib
import io
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures
import recipes
from architectures.detection import (
    BACKGROUND,
    IGNORED,
    DetectionLoss,
    anchor_boxes,
    decode_boxes,
    detector_anchors,
    encode_boxes,
    match_anchors,
)
from recipes.data.detection import detection_images, detection_targets
from recipes.errors import ConfigError
from recipes.serve import Client
from recipes.tasks import detection
from recipes.tasks._average_precision import mean_average_precision
from recipes.tasks._region_baseline import sliding_windows

from harness import Server, run_saving_test


def _random_boxes(rng, count, low=0.0, high=1.0):
    corners = rng.uniform(low, high, (count, 2, 2))
    return np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=-1).astype("float32")  # yxyx


# --- data ------------------------------------------------------------------------------------------

def test_generated_images_are_seeded_and_boxes_are_tight_around_the_items():
    items = np.zeros((3, 28, 28), "uint8")
    items[:, 4:20, 8:24] = 200  # a 16x16 block inside each 28x28 frame
    images, targets = detection_images(items, np.array([0, 1, 2]), 12, seed=5, size=64, max_objects=3,
                                       min_scale=28, max_scale=28, max_overlap=0.0)
    again, _ = detection_images(items, np.array([0, 1, 2]), 12, seed=5, size=64, max_objects=3,
                                min_scale=28, max_scale=28, max_overlap=0.0)
    np.testing.assert_array_equal(images, again)
    assert images.shape == (12, 64, 64, 1) and images.dtype == np.uint8
    assert targets["boxes"].shape == (12, 3, 4) and targets["labels"].shape == (12, 3)
    real = targets["labels"] >= 0
    assert real[:, 0].all()  # at least one object each
    assert np.all(targets["boxes"][~real] == -1)
    for image, boxes in zip(images[..., 0], targets["boxes"]):
        for y0, x0, y1, x1 in np.rint(boxes[boxes[:, 0] >= 0] * 64).astype(int):
            assert (y1 - y0, x1 - x0) == (16, 16)  # the block's own extent at scale 28/28
            assert image[y0:y1, x0:x1].min() > 0 and image[y0 - 1:y1 + 1, x0 - 1:x1 + 1].sum() == image[y0:y1, x0:x1].sum()


def test_ragged_targets_are_padded_and_bad_ones_say_what_to_do():
    padded = detection_targets({"boxes": [[[0.1, 0.1, 0.5, 0.5]], []], "labels": [[3], []]}, 2)
    assert padded["boxes"].shape == (2, 1, 4) and padded["labels"].tolist() == [[3], [-1]]
    with pytest.raises(ConfigError, match=r"dict \{'boxes': ..., 'labels': ...\}.*Received: \['boxes', 'classes'\]"):
        detection_targets({"boxes": [], "classes": []}, 0)
    with pytest.raises(ConfigError, match=r"normalised \[y_min, x_min, y_max, x_max\].*Received: \[10.0, 10.0, 50.0, 50.0\]"):
        detection_targets({"boxes": [[[10, 10, 50, 50]]], "labels": [[0]]}, 1)
    with pytest.raises(ConfigError, match="min <= max.*Received: \\[0.5, 0.1, 0.2, 0.6\\]"):
        detection_targets({"boxes": np.array([[[0.5, 0.1, 0.2, 0.6]]]), "labels": np.array([[1]])}, 1)
    with pytest.raises(ConfigError, match="image 0 has 1 boxes but 2 labels"):
        detection_targets({"boxes": [[[0.1, 0.1, 0.2, 0.2]]], "labels": [[1, 2]]}, 1)


# --- anchors, box coding, matching -----------------------------------------------------------------

def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    boxes, anchors = _random_boxes(rng, 50), _random_boxes(rng, 50)
    anchors[:, 2:] += 0.05  # no empty anchors
    deltas = encode_boxes(boxes, anchors)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(decode_boxes(deltas, anchors)), boxes, atol=1e-5)
    zero = keras.ops.convert_to_numpy(encode_boxes(anchors, anchors))
    np.testing.assert_allclose(zero, 0.0, atol=1e-5)


def test_anchors_follow_the_detector_outputs_and_recipe_keywords():
    anchors = anchor_boxes((32, 32), (16,), (16,), (1.0,), (1.0, 4.0))
    # a 2x2 grid of 16-pixel cells, two shapes per cell, cell by cell
    np.testing.assert_allclose(anchors[:2] * 32, [[0, 0, 16, 16], [-8, 4, 24, 12]])
    np.testing.assert_allclose(anchors[2] * 32, [0, 16, 16, 32])
    assert len(detector_anchors((96, 96, 1))) == (12 * 12 + 6 * 6 + 3 * 3) * 6
    assert len(detector_anchors((96, 96, 1), feature_strides=(8, 16), anchor_sizes=(16, 32), anchor_scales=(1.0,))) \
        == (12 * 12 + 6 * 6) * 3


def test_anchor_matching_positive_ignored_background_and_forced():
    anchors = np.array([[0.0, 0.0, 0.4, 0.4],   # IoU 1 with box A
                        [0.0, 0.0, 0.4, 0.3],   # IoU 0.75 with A
                        [0.0, 0.0, 0.4, 0.18],  # IoU 0.45 with A: ignored
                        [0.6, 0.6, 0.7, 0.7],   # IoU 0.25 with B, its best anchor: forced positive
                        [0.0, 0.6, 0.2, 0.8]],  # nothing: background
                       "float32")
    boxes = np.array([[0.0, 0.0, 0.4, 0.4], [0.6, 0.6, 0.8, 0.8], [-1, -1, -1, -1]], "float32")
    labels = np.array([4, 7, -1], "int32")
    target = keras.ops.convert_to_numpy(match_anchors(boxes, labels, anchors))
    assert target.shape == (5, 5)
    assert target[:, 4].tolist() == [4, 4, IGNORED, 7, BACKGROUND]
    decoded = keras.ops.convert_to_numpy(decode_boxes(target[[0, 1, 3], :4], anchors[[0, 1, 3]]))
    np.testing.assert_allclose(decoded, boxes[[0, 0, 1]], atol=1e-5)
    np.testing.assert_array_equal(target[[2, 4], :4], 0.0)
    traced = tf.function(match_anchors)(tf.constant(boxes), tf.constant(labels), tf.constant(anchors))  # as tf.data runs it
    np.testing.assert_allclose(traced.numpy(), target)


def test_loss_counts_positives_and_background_but_not_ignored_anchors():
    target = np.zeros((1, 3, 5), "float32")
    target[0, :, 4] = [2, BACKGROUND, IGNORED]
    confident = np.full((1, 3, 4 + 3), -8.0, "float32")
    confident[0, :, :4] = 0.0
    confident[0, 0, 4 + 2] = 8.0
    loss = DetectionLoss()
    assert float(loss(target, confident)) < 1e-4
    wrong_on_ignored = confident.copy()
    wrong_on_ignored[0, 2, 4:] = 8.0  # the ignored anchor is free to say anything
    assert float(loss(target, wrong_on_ignored)) == pytest.approx(float(loss(target, confident)), abs=1e-6)
    wrong_box = confident.copy()
    wrong_box[0, 0, 0] = 1.0  # Huber(1) = 0.5 on one coordinate of the one positive anchor
    assert float(loss(target, wrong_box)) == pytest.approx(float(loss(target, confident)) + 0.5, abs=1e-5)
    assert DetectionLoss.from_config(DetectionLoss(gamma=1.5).get_config()).gamma == 1.5


# --- mAP -------------------------------------------------------------------------------------------

BOX_A, BOX_B = [0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]


def _map(true_boxes, true_labels, boxes, scores, labels):
    return mean_average_precision([np.array(true_boxes)], [np.array(true_labels)], [np.array(boxes)],
                                  [np.array(scores)], [np.array(labels)])


def test_map_hand_cases():
    perfect = _map([BOX_A, BOX_B], [0, 1], [BOX_A, BOX_B], [0.9, 0.8], [0, 1])
    assert perfect == pytest.approx({"map_50": 1.0, "map_50_95": 1.0, "map_75": 1.0}, abs=1e-12)
    assert _map([BOX_A], [0], np.zeros((0, 4)), [], [])["map_50"] == 0.0
    assert _map([BOX_A], [0], [BOX_A], [0.9], [1])["map_50_95"] == 0.0  # wrong class; class 1 has no box, so no AP
    # one of two boxes found: precision 1 up to recall 0.5, 51 of the 101 recall levels
    assert _map([BOX_A, BOX_B], [0, 0], [BOX_A], [0.9], [0])["map_50"] == pytest.approx(51 / 101)
    # a duplicate of A scored above B is a false positive: precision 2/3 beyond recall 0.5
    duplicate = _map([BOX_A, BOX_B], [0, 0], [BOX_A, BOX_A, BOX_B], [0.9, 0.8, 0.7], [0, 0, 0])
    assert duplicate["map_50"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    # a box shifted to IoU 0.62 counts at thresholds 0.5, 0.55 and 0.6 only
    shifted = [0.1, 0.17, 0.4, 0.47]  # overlap 23/30 of each: IoU (23/30) / (2 - 23/30) = 0.62
    assert _map([BOX_A], [0], [shifted], [0.9], [0])["map_50_95"] == pytest.approx(3 / 10)


def test_map_matches_pycocotools_on_a_random_case():
    from pycocotools.coco import COCO  # the [coco] extra, in dev: this check must run, not skip
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(7)
    size = 96.0
    true_boxes, true_labels, boxes, scores, labels = [], [], [], [], []
    for _ in range(25):
        count = rng.integers(1, 6)
        truth = _random_boxes(rng, count, 0.0, 1.0)
        truth[:, 2:] = np.maximum(truth[:, 2:], truth[:, :2] + 0.05)
        sizes = np.tile(truth[:, 2:] - truth[:, :2], 2)
        found = np.concatenate([truth + rng.normal(0, 0.08, truth.shape) * sizes, _random_boxes(rng, 3)])
        found = np.concatenate([np.minimum(found[:, :2], found[:, 2:]), np.maximum(found[:, :2], found[:, 2:])], 1)
        truth_labels = rng.integers(0, 3, count)
        found_labels = np.concatenate([np.where(rng.uniform(size=count) < 0.8, truth_labels, rng.integers(0, 3, count)),
                                       rng.integers(0, 3, 3)])
        true_boxes.append(truth), true_labels.append(truth_labels)
        boxes.append(found), scores.append(rng.uniform(0.05, 1, len(found))), labels.append(found_labels)
    ours = mean_average_precision(true_boxes, true_labels, boxes, scores, labels)

    def xywh(box):
        y0, x0, y1, x1 = (np.asarray(box) * size).tolist()
        return [x0, y0, x1 - x0, y1 - y0]

    annotations = [{"id": len(true_boxes) * 10 + k, "image_id": i + 1, "category_id": int(c) + 1, "bbox": xywh(b),
                    "area": xywh(b)[2] * xywh(b)[3], "iscrowd": 0}
                   for i, (bs, cs) in enumerate(zip(true_boxes, true_labels)) for k, (b, c) in enumerate(zip(bs, cs))]
    for number, annotation in enumerate(annotations, start=1):
        annotation["id"] = number
    truth = COCO()
    truth.dataset = {"images": [{"id": i + 1} for i in range(len(true_boxes))], "annotations": annotations,
                     "categories": [{"id": c} for c in (1, 2, 3)]}
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
        results = truth.loadRes([{"image_id": i + 1, "category_id": int(c) + 1, "bbox": xywh(b), "score": float(s)}
                                 for i, (bs, ss, cs) in enumerate(zip(boxes, scores, labels))
                                 for b, s, c in zip(bs, ss, cs)])
        evaluation = COCOeval(truth, results, "bbox")
        evaluation.evaluate(), evaluation.accumulate(), evaluation.summarize()
    assert 0.1 < ours["map_50_95"] < 0.9  # a case with something to get right
    assert ours["map_50_95"] == pytest.approx(evaluation.stats[0], abs=1e-6)
    assert ours["map_50"] == pytest.approx(evaluation.stats[1], abs=1e-6)
    assert ours["map_75"] == pytest.approx(evaluation.stats[2], abs=1e-6)


# --- export: NMS in the graph ----------------------------------------------------------------------

def test_export_keeps_one_of_two_overlapping_boxes(tmp_path):
    anchors = np.array([[0.1, 0.1, 0.5, 0.5], [0.12, 0.12, 0.52, 0.52], [0.6, 0.6, 0.9, 0.9]], "float32")
    logits = np.full((3, 2), -10.0, "float32")
    logits[0, 1], logits[1, 1], logits[2, 0] = 3.0, 2.0, 1.0
    fixed = np.concatenate([np.zeros((3, 4), "float32"), logits], axis=-1)
    inputs = keras.Input((16, 16, 1), name="pixels")
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(fixed.size, kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(fixed.reshape(-1)))
    model = keras.Model(inputs, keras.layers.Reshape((3, 6))(dense(pooled)))
    recipe = recipes.get("fashion_mnist_detection")
    data = SimpleNamespace(anchors=anchors, info=SimpleNamespace(input_shape=(16, 16, 1), class_names=("a", "b")))
    path = detection.Detection().export(recipe, model, data, export_dir=tmp_path, metadata={}, name="fixed")
    served = tf.saved_model.load(str(path)).signatures["serving_default"](pixels=tf.zeros((2, 16, 16, 1)))
    assert sorted(served) == sorted(detection.OUTPUTS)
    assert served["num_detections"].numpy().tolist() == [2, 2]
    np.testing.assert_allclose(served["boxes"].numpy()[0, :2], anchors[[0, 2]], atol=1e-6)
    assert served["classes"].numpy()[0, :2].tolist() == [1, 0]
    np.testing.assert_allclose(served["scores"].numpy()[0, :3], [1 / (1 + np.exp(-3)), 1 / (1 + np.exp(-1)), 0], atol=1e-6)


# --- a tiny real run -------------------------------------------------------------------------------

@pytest.mark.e2e
def test_tiny_run_learns_reports_both_detectors_and_its_export_serves_the_same(tmp_path, fashion_mnist_dir):
    options = {"size": 48, "num_train": 96, "num_test": 8, "max_objects": 3, "min_scale": 16, "max_scale": 28,
               "baseline_epochs": 1, "baseline_window_step": 0.5}
    result = recipes.run("fashion_mnist_detection", epochs=4, batch_size=16, task_options=options,
                         architecture_kwargs={"filters": (8, 16, 16, 16, 16), "head_width": 16},
                         validation_split=0.0, callbacks={}, data_dir=fashion_mnist_dir,
                         work_dir=tmp_path / "runs", export_dir=tmp_path / "models", verbose=0)
    losses = result.history["loss"]
    assert losses[-1] < losses[0], losses
    metrics = result.test_metrics
    for key in ("map_50", "map_50_95", "baseline_map_50", "baseline_map_50_95"):
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
    assert metrics["ms_per_image"] > 0 and metrics["baseline_ms_per_image"] > 0
    assert metrics["baseline_windows"] == len(sliding_windows((48, 48), step=0.5))
    assert [p.name for p in result.plots][-1] == "detections.png" and result.plots[-1].stat().st_size > 10_000

    data = detection.Detection().load(result.recipe, data_dir=fashion_mnist_dir)
    images = data.arrays["test"][0].astype("float32")
    expected = detection.Detection().detector(result.recipe, result.model, data.anchors)(images)
    served = tf.saved_model.load(str(result.export_path)).signatures["serving_default"](pixels=tf.constant(images))
    np.testing.assert_array_equal(served["num_detections"].numpy(), expected["num_detections"])
    np.testing.assert_allclose(served["scores"].numpy(), expected["scores"], atol=1e-5)
    np.testing.assert_allclose(served["boxes"].numpy(), expected["boxes"], atol=1e-5)

    with Server(tmp_path / "models") as running:
        rows = Client(running.url).predict("fashion_mnist_detection", images[:2].tolist())
    assert [sorted(row) for row in rows] == [sorted(detection.OUTPUTS)] * 2
    assert [row["num_detections"] for row in rows] == expected["num_detections"][:2].tolist()
    np.testing.assert_allclose([row["scores"] for row in rows], expected["scores"][:2], atol=1e-5)


def test_flip_mirrors_the_boxes_with_the_image():
    image = np.zeros((8, 8, 1), "float32")
    image[1:3, 0:2] = 1.0
    boxes = np.array([[1 / 8, 0.0, 3 / 8, 2 / 8], [-1, -1, -1, -1]], "float32")
    mirrored, mirrored_boxes, _ = detection.flipped(tf.constant(image), tf.constant(boxes), tf.constant([2, -1]))
    assert mirrored.numpy()[1:3, 6:8].min() == 1.0 and mirrored.numpy().sum() == 4
    np.testing.assert_allclose(mirrored_boxes.numpy(), [[1 / 8, 6 / 8, 3 / 8, 1.0], [-1, -1, -1, -1]])


def test_your_own_detection_data_in_the_documented_format():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 32, 32, 1)).astype("uint8")
    ragged = {"boxes": [[[0.1, 0.1, 0.5, 0.6]] * (i % 3) for i in range(20)], "labels": [[i % 4] * (i % 3) for i in range(20)]}
    recipe = recipes.with_overrides(recipes.get("fashion_mnist_detection"), {"validation_split": 0.0})
    task = detection.Detection()
    data = task.load_user_data(recipe, recipes.tasks.UserData((images, ragged)))
    assert (data.info.num_train, data.info.num_test, data.info.num_classes) == (18, 2, 4)
    assert data.info.input_shape == (32, 32, 1) and data.anchors.shape == (len(detector_anchors((32, 32, 1))), 4)
    batch_images, batch_targets = next(iter(data.train))
    assert batch_images.shape[1:] == (32, 32, 1) and batch_targets.shape[1:] == (len(data.anchors), 5)
    split = task.load_user_data(recipe, recipes.tasks.UserData(((images[:15], ragged_part(ragged, 0, 15)),
                                                                (images[15:], ragged_part(ragged, 15, 20)))))
    assert (split.info.num_train, split.info.num_test) == (15, 5)
    with pytest.raises(ConfigError, match=r"train targets must be a dict \{'boxes': ..., 'labels': ...\}.*Received: \['bbox'\]"):
        task.load_user_data(recipe, recipes.tasks.UserData(((images, {"bbox": []}), (images, ragged))))


def ragged_part(targets, start, stop):
    return {key: value[start:stop] for key, value in targets.items()}


@pytest.mark.slow  # builds, saves and exports a nested ResNet-20: about 6 s
def test_a_registered_classifier_as_the_backbone(tmp_path):
    model = architectures.build("ssd_detector", input_shape=(32, 32, 3), num_classes=3, backbone="resnet20",
                                backbone_kwargs={"width": 4}, feature_layers=("stage2_block3_out", "stage3_block3_out"),
                                feature_strides=(2, 4), anchor_sizes=(8, 16), anchor_scales=(1.0,))
    anchors = detector_anchors((32, 32, 3), feature_strides=(2, 4), anchor_sizes=(8, 16), anchor_scales=(1.0,))
    assert model.output_shape == (None, len(anchors), 4 + 3) and len(anchors) == (16 * 16 + 8 * 8) * 3
    assert "resnet20_features" in [layer.name for layer in model.layers]
    run_saving_test(model, np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32"), tmp_path)
    with pytest.raises(ValueError, match="stage2_block3_out is 16x16 at 32x32, not the 8x8 of stride 4.*Received"):
        architectures.build("ssd_detector", input_shape=(32, 32, 3), backbone="resnet20",
                            feature_layers=("stage2_block3_out", "stage3_block3_out"), feature_strides=(4, 8),
                            anchor_sizes=(8, 16))
    with pytest.raises(ValueError, match="resnet20 has no layer 'stage9'.*Received"):
        architectures.build("ssd_detector", input_shape=(32, 32, 3), backbone="resnet20", feature_layers=("stage9",),
                            feature_strides=(4,), anchor_sizes=(8,))
