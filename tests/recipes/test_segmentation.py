"""Segmentation: the generated shapes data and IoU checked by hand, and a tiny real U-Net run
whose export returns a class per pixel from raw pixels."""

import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.catalog import Recipe
from recipes.data import synthetic
from recipes.tasks import segmentation
from recipes.errors import UnknownNameError

TINY = Recipe(name="tiny_unet", dataset="shapes", architecture="unet", task="segmentation", description="test",
              expected={"mean_iou": 0.0}, architecture_kwargs={"filters": (8, 16)},
              task_options={"size": 32, "num_train": 160, "num_test": 16}, batch_size=16, epochs=2,
              learning_rate=3e-3, callbacks={})


def test_shapes_are_seeded_and_labelled_where_they_are_drawn():
    images, labels = synthetic.shapes_images(40, size=32, seed=3)
    again, _ = synthetic.shapes_images(40, size=32, seed=3)
    assert images.shape == (40, 32, 32, 3) and images.dtype == np.uint8 and labels.shape == (40, 32, 32)
    np.testing.assert_array_equal(images, again)
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    assert not np.array_equal(images, synthetic.shapes_images(40, size=32, seed=4)[0])


def test_iou_by_hand():
    iou = segmentation.intersection_over_union(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 4)
    np.testing.assert_allclose(iou[:2], [1 / 2, 2 / 3])
    assert np.isnan(iou[2:]).all()


@pytest.mark.e2e
def test_segmentation_run_reports_iou_against_the_background_guess_and_exports_a_class_map(tmp_path):
    result = recipes.run(TINY, work_dir=tmp_path / "runs", export_dir=tmp_path / "models", verbose=0)
    metrics = result.test_metrics
    _, truth = synthetic.shapes_images(16, size=32, seed=segmentation.TEST_SEED_OFFSET)
    assert metrics["background_only_mean_iou"] == pytest.approx(np.mean(truth == 0) / 4, rel=1e-6)
    assert {"mean_iou", "iou_background", "iou_circle", "iou_square", "iou_triangle"} <= set(metrics)
    assert any(path.name == "segmentation.png" for path in result.plots)

    images, _ = synthetic.shapes_images(3, size=32, seed=99)
    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    served = serve(pixels=tf.constant(images, tf.float32))
    assert served["class_map"].shape == (3, 32, 32)
    np.testing.assert_array_equal(served["class_map"].numpy(),
                                  np.argmax(result.model.predict(images.astype("float32"), verbose=0), axis=-1))


def test_segmentation_says_which_data_it_generates():
    with pytest.raises(UnknownNameError, match="unknown segmentation dataset 'fashion_mnist'; the segmentation task knows shapes"):
        recipes.run(TINY, dataset="fashion_mnist", export=False)
