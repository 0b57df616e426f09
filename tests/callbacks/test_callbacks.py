import json
import logging

import keras
import numpy as np
import pytest

import callbacks
from callbacks import plots


def test_build_callbacks_by_name_in_working_order(tmp_path):
    built = callbacks.build_callbacks({"csv_log": {}, "learning_rate_log": {}, "tensorboard": None,
                                       "early_stopping": {"patience": 2}}, tmp_path)
    assert [type(c).__name__ for c in built] == ["LearningRateLogger", "EarlyStopping", "EpochLog"]
    assert built[1].patience == 2 and built[1].restore_best_weights is True


def test_unknown_callback_name_lists_known(tmp_path):
    with pytest.raises(ValueError, match="unknown callback.*known: learning_rate_log"):
        callbacks.build_callbacks({"earlystop": {}}, tmp_path)


def test_augmentation_pipeline_is_keras_layers():
    pipeline = callbacks.augmentation_pipeline(input_shape=(28, 28, 1), flip="horizontal", crop_padding=2,
                                               translate=0.1, zoom=0.1, rotation=0.05, contrast=0.2,
                                               brightness=0.2, seed=1)
    assert [layer.name for layer in pipeline.layers] == [
        "flip", "crop_pad", "crop", "translate", "zoom", "rotate", "contrast", "brightness"]
    x = np.random.default_rng(0).uniform(0, 255, (8, 28, 28, 1)).astype("float32")
    out = np.asarray(pipeline(x, training=True))
    assert out.shape == x.shape and not np.allclose(out, x)
    assert callbacks.augmentation_pipeline() is None


def test_training_curves_survive_a_resume(tmp_path):
    curves = callbacks.TrainingCurves(tmp_path / "curves.png")
    curves.on_train_begin()
    for epoch in range(3):
        curves.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.2 / (epoch + 1)})
    saved = curves.get_state()
    resumed = callbacks.TrainingCurves(tmp_path / "curves.png")
    resumed.on_train_begin()
    resumed.set_state(saved)  # what RunBackup does after every callback's on_train_begin
    resumed.on_epoch_end(2, {"loss": 0.3, "val_loss": 0.4})
    rows = json.loads((tmp_path / "curves.json").read_text())
    assert sorted(rows) == ["0", "1", "2"] and rows["2"]["loss"] == 0.3
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_training_curves_redraw_at_most_every_min_seconds_and_at_the_end(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(plots, "plot_history", lambda history, path, epochs: drawn.append(list(epochs)))
    curves = callbacks.TrainingCurves(tmp_path / "curves.png", min_seconds=3600)
    curves.on_train_begin()
    for epoch in range(4):
        curves.on_epoch_end(epoch, {"loss": 1.0})
    assert drawn == [[1]]
    curves.on_train_end()
    assert drawn == [[1], [1, 2, 3, 4]]
    assert sorted(json.loads((tmp_path / "curves.json").read_text())) == ["0", "1", "2", "3"]


def test_confusion_matrix_and_decision_boundary_pngs(tmp_path):
    y = np.array([0, 1, 1, 2])
    path = callbacks.plot_confusion_matrix(y, np.array([0, 1, 2, 2]), ["a", "b", "c"], tmp_path / "cm.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    points = np.random.default_rng(0).normal(size=(50, 2))
    boundary = callbacks.plot_decision_boundary(
        lambda grid: np.stack([grid[:, 0] > 0, grid[:, 0] <= 0], axis=1).astype(float),
        points, points[:, 0] > 0, tmp_path / "boundary.png", resolution=20)
    assert boundary.read_bytes()[:4] == b"\x89PNG"


def test_without_matplotlib_plots_are_skipped_with_a_message(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(plots, "matplotlib_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="keras_recipes"):
        assert callbacks.plot_confusion_matrix([0], [0], ["a"], tmp_path / "cm.png") is None
        curves = callbacks.TrainingCurves(tmp_path / "curves.png")
        curves.on_train_begin()
        curves.on_epoch_end(0, {"loss": 1.0})
    assert "plots skipped" in caplog.text and "keras-recipes[plots]" in caplog.text
    assert not (tmp_path / "cm.png").exists() and (tmp_path / "curves.json").exists()


def test_learning_rate_logger_reads_the_schedule():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5)), "mse")
    history = model.fit(np.zeros((4, 2)), np.zeros((4, 1)), batch_size=2, epochs=2, verbose=0,
                        callbacks=[callbacks.LearningRateLogger()])
    assert history.history["learning_rate"] == pytest.approx([0.1 * 0.5**2, 0.1 * 0.5**4])
