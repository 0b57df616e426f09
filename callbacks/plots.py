"""PNG plots a person would rather look at than read: training curves, confusion matrices and
2-D decision boundaries. matplotlib is optional; without it these say so and do nothing."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import keras
import numpy as np

log = logging.getLogger("keras_recipes")


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _skip(what: str) -> None:
    log.warning("plots skipped (%s): matplotlib is not installed; `pip install 'keras-recipes[plots]'`", what)


def new_figure(what: str, **figure_options):
    """A matplotlib ``Figure`` (no GUI backend), or None after a one-line warning naming ``what``
    when matplotlib is not installed."""
    if not matplotlib_available():
        return _skip(what)
    from matplotlib.figure import Figure

    return Figure(**figure_options)


def save_figure(figure, path, **savefig_options) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, **savefig_options)
    return path


def plot_history(history: dict[str, list[float]], path, *, epochs=None) -> Path | None:
    """Loss and each metric per epoch, train vs validation, one panel each."""
    epochs = list(epochs) if epochs is not None else list(range(1, len(history.get("loss", [])) + 1))
    panels = [k for k in history if not k.startswith("val_")]
    figure = new_figure("training curves", figsize=(4.5 * len(panels), 3.6), layout="constrained")
    if figure is None:
        return None
    from matplotlib.ticker import MaxNLocator

    for axis, key in zip(np.atleast_1d(figure.subplots(1, len(panels))), panels):
        axis.plot(epochs, history[key], marker="o", label="train" if f"val_{key}" in history else key)
        if f"val_{key}" in history:
            axis.plot(epochs, history[f"val_{key}"], marker="o", label="validation")
        axis.set(title=key.replace("_", " "), xlabel="epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend()
    return save_figure(figure, path, dpi=100)


def plot_confusion_matrix(y_true, y_pred, class_names, path, *, title="Confusion matrix (test)") -> Path | None:
    """Counts per (true, predicted) class; colour is the row-normalised rate."""
    n = len(class_names)
    figure = new_figure("confusion matrix", figsize=(1.0 + 0.6 * n, 0.8 + 0.6 * n), layout="constrained")
    if figure is None:
        return None
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    axis = figure.subplots()
    axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(counts):
        axis.text(col, row, str(count), ha="center", va="center", fontsize=7,
                  color="white" if rates[row, col] > 0.5 else "black")
    axis.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title=title)
    axis.set_xticklabels(class_names, rotation=45, ha="right")
    axis.set_yticklabels(class_names)
    return save_figure(figure, path, dpi=100)


def plot_decision_boundary(predict, x, y, path, *, title="Decision boundary", resolution=200) -> Path | None:
    """The class a 2-D classifier predicts over the plane, with the data on top."""
    figure = new_figure("decision boundary", figsize=(5, 5), layout="constrained")
    if figure is None:
        return None
    x = np.asarray(x)
    low, high = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], resolution),
                                 np.linspace(low[1], high[1], resolution))
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
    classes = np.asarray(predict(grid)).argmax(axis=-1).reshape(grid_x.shape)
    axis = figure.subplots()
    axis.contourf(grid_x, grid_y, classes, alpha=0.3, cmap="coolwarm")
    axis.scatter(x[:, 0], x[:, 1], c=y, s=6, cmap="coolwarm", edgecolors="none")
    axis.set(title=title, aspect="equal")
    return save_figure(figure, path, dpi=100)


class TrainingCurves(keras.callbacks.Callback):
    """Draws the training curves PNG as training goes, so a crash keeps the picture so far.

    The per-epoch logs are also written to a JSON file beside the PNG. A run resumed from a
    ``RunBackup`` gets the earlier epochs back through ``set_state``, so it draws the whole
    history, not just the epochs after the restart. Drawing takes a few hundred milliseconds, so
    the PNG is redrawn at most every ``min_seconds`` (and always when training ends), not after
    every one of many short epochs.
    """

    def __init__(self, path, min_seconds: float = 10.0):
        super().__init__()
        self.path = Path(path)
        self.log_path = self.path.with_suffix(".json")
        self.min_seconds = min_seconds
        self.rows: dict[int, dict[str, float]] = {}
        self._warned = False
        self._last_draw: float | None = None
        self._drawn = True

    def get_state(self) -> dict:
        return {str(epoch): row for epoch, row in self.rows.items()}

    def set_state(self, state: dict) -> None:
        self.rows = {int(epoch): row for epoch, row in state.items()}
        self._drawn = not self.rows

    def on_train_begin(self, logs=None):
        self.rows, self._drawn = {}, True

    def on_epoch_end(self, epoch, logs=None):
        self.rows = {e: row for e, row in self.rows.items() if e < epoch}
        self.rows[epoch] = {k: float(v) for k, v in (logs or {}).items()}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        staged = self.log_path.with_name(f".{self.log_path.name}.partial")
        staged.write_text(json.dumps(self.rows))
        staged.replace(self.log_path)
        self._drawn = False
        if self._last_draw is None or time.monotonic() - self._last_draw >= self.min_seconds:
            self._draw()

    def on_train_end(self, logs=None):
        if not self._drawn:
            self._draw()

    def _draw(self):
        self._last_draw, self._drawn = time.monotonic(), True
        if not matplotlib_available():
            if not self._warned:
                _skip("training curves")
                self._warned = True
            return
        epochs = sorted(self.rows)
        keys = [k for k in self.rows[epochs[-1]]]
        history = {k: [self.rows[e].get(k, np.nan) for e in epochs] for k in keys}
        plot_history(history, self.path, epochs=[e + 1 for e in epochs])
