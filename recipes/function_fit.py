"""The universal-approximation picture: a one-hidden-layer ReLU network fitting a 1-D function.

    >>> result = recipes.run("function_fit_sin", architecture_kwargs={"hidden_units": 64})
    >>> result.test_metrics["max_error"], result.test_metrics["interpolation_max_error"]

A network with N ReLU units computes a piecewise-linear function with at most N kinks. The
baseline is the piecewise-linear interpolant through N + 1 evenly spaced points of the true
function: a function such a network can represent exactly, so it shows what the width allows and
how much of it training found. Errors are measured on a dense grid over the whole interval.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

import architectures
from callbacks import matplotlib_available
from recipes import data as datasets
from recipes.errors import UnknownNameError
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task

log = logging.getLogger("keras_recipes")

INPUT_NAME, OUTPUT_NAME = "x", "y"
FUNCTIONS = {
    "sin": (np.sin, (-np.pi, np.pi)),
    "abs": (np.abs, (-1.0, 1.0)),
    "step": (lambda x: (x >= 0).astype(np.float64), (-1.0, 1.0)),
}
DEFAULT_OPTIONS = {"train_points": 1000, "test_points": 2001, "noise": 0.0}


def target_function(name: str):
    """``(f, (low, high))`` for a named 1-D function."""
    if name not in FUNCTIONS:
        raise UnknownNameError(f"unknown function {name!r}; function_fit knows {', '.join(FUNCTIONS)}")
    return FUNCTIONS[name]


def interpolation_baseline(function, interval, knots: int, x: np.ndarray) -> np.ndarray:
    """The piecewise-linear interpolant of ``function`` through ``knots`` evenly spaced points."""
    grid = np.linspace(*interval, knots)
    return np.interp(x, grid, function(grid))


@register_task
class FunctionFit(Task):
    """x -> f(x) on an interval (``x -> y``). ``recipe.dataset`` names the function (``sin``,
    ``abs``, ``step``); ``data_options``: ``train_points`` (uniform at random, seeded),
    ``test_points`` (an even grid), ``noise`` (Gaussian, on the training targets only)."""

    name = "function_fit"

    def load(self, recipe, *, data_dir=None, download=True):
        function, interval = target_function(recipe.dataset)
        options = {**DEFAULT_OPTIONS, **recipe.data_options}
        rng = np.random.default_rng(recipe.seed)
        x_train = rng.uniform(*interval, (options["train_points"], 1))
        y_train = function(x_train) + rng.normal(0, options["noise"], x_train.shape)
        x_test = np.linspace(*interval, options["test_points"])[:, None]
        raw = datasets.RawData(x_train.astype("float32"), y_train.astype("float32"), x_test.astype("float32"),
                               function(x_test).astype("float32"), (), INPUT_NAME, None,
                               f"generated ({recipe.dataset} on [{interval[0]:.3g}, {interval[1]:.3g}])")
        data = datasets.from_arrays(recipe.dataset, raw, batch_size=recipe.batch_size,
                                    validation_split=recipe.validation_split, seed=recipe.seed)
        data.info.extras.update({"interval": interval})
        return data

    def build(self, recipe, data):
        return architectures.build(recipe.architecture, input_shape=(1,), name=f"{recipe.architecture}_{recipe.dataset}",
                                   **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, run_dir):
        function, interval = target_function(recipe.dataset)
        x, truth = data.arrays["test"]
        predicted = model.predict(x, verbose=0, batch_size=4096)
        units = model.get_layer("hidden").units
        baseline = interpolation_baseline(function, interval, units + 1, x)
        metrics = {"max_error": float(np.max(np.abs(predicted - truth))),
                   "interpolation_max_error": float(np.max(np.abs(baseline - truth)))}
        plot = plot_fits(x[:, 0], truth[:, 0], {f"{units} ReLU units": predicted[:, 0]},
                         Path(run_dir) / "plots" / "fit.png", title=f"{recipe.name}: fit on the test grid",
                         train=data.arrays["train"])
        return metrics, [plot] if plot else []

    def export(self, recipe, model, data, *, export_dir, metadata):
        return export_model(model, recipe.name, export_dir=export_dir, input_name=INPUT_NAME,
                            output_name=OUTPUT_NAME, metadata=metadata)


def plot_fits(x, truth, fits: dict, path, *, title, train=None, axes=None) -> Path | None:
    """The true function, each named fit and (optionally) the training points, on one panel:
    a PNG at ``path``, or drawn into ``axes`` of a figure of your own."""
    if not matplotlib_available():
        log.warning("plots skipped (function fits): matplotlib is not installed; `pip install 'keras-recipes[plots]'`")
        return None
    figure = None
    if axes is None:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(6, 4), dpi=110)
        axes = figure.add_subplot()
    if train is not None:
        axes.scatter(train[0][:, 0], train[1][:, 0], s=3, color="0.75", label="training points")
    axes.plot(x, truth, color="black", linewidth=2, label="true function")
    for label, values in fits.items():
        axes.plot(x, values, linewidth=1.2, label=label)
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=7)
    if figure is None:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    return path
