"""The universal-approximation picture: a one-hidden-layer ReLU network fitting a 1-D function.

    >>> result = recipes.run("function_fit_sin", architecture_kwargs={"hidden_units": 64})
    >>> result.test_metrics["max_error"], result.test_metrics["interpolation_max_error"]

A network with N ReLU units computes a piecewise-linear function with at most N kinks. The
baseline is the piecewise-linear interpolant through N + 1 evenly spaced points of the true
function: a function such a network can represent exactly, so it shows what the width allows and
how much of it training found. Errors are measured on a dense grid over the whole interval.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import architectures
from callbacks import new_figure, save_figure
from recipes import data as datasets
from recipes.data.synthetic import target_function
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task

INPUT_NAME, OUTPUT_NAME = "x", "y"


def interpolation_baseline(function, interval, knots: int, x: np.ndarray) -> np.ndarray:
    """The piecewise-linear interpolant of ``function`` through ``knots`` evenly spaced points."""
    grid = np.linspace(*interval, knots)
    return np.interp(x, grid, function(grid))


@register_task
class FunctionFit(Task):
    """x -> f(x) on an interval (``x -> y``). ``recipe.dataset`` names the function (``sin``,
    ``abs``, ``step``); options (``FunctionFitOptions``): ``train_points`` (uniform at random,
    seeded), ``test_points`` (an even grid), ``noise`` (Gaussian, on the training targets only)."""

    name = "function_fit"

    def load(self, recipe, *, data_dir=None, download=True):
        function, interval = target_function(recipe.dataset)
        options = recipe.task_options
        rng = np.random.default_rng(recipe.seed)
        x_train = rng.uniform(*interval, (options.train_points, 1))
        y_train = function(x_train) + rng.normal(0, options.noise, x_train.shape)
        x_test = np.linspace(*interval, options.test_points)[:, None]
        raw = datasets.RawData(x_train.astype("float32"), y_train.astype("float32"), x_test.astype("float32"),
                               function(x_test).astype("float32"), (), INPUT_NAME, None,
                               f"generated ({recipe.dataset} on [{interval[0]:.3g}, {interval[1]:.3g}])")
        return datasets.from_arrays(recipe.dataset, raw, batch_size=recipe.batch_size,
                                    validation_split=recipe.validation_split, seed=recipe.seed)

    def build(self, recipe, data):
        return architectures.build(recipe.architecture, input_shape=(1,), name=f"{recipe.architecture}_{recipe.dataset}",
                                   **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        function, interval = target_function(recipe.dataset)
        x, truth = data.arrays["test"]
        predicted = model.predict(x, verbose=0, batch_size=4096)
        units = model.get_layer("hidden").units
        baseline = interpolation_baseline(function, interval, units + 1, x)
        metrics = {"max_error": float(np.max(np.abs(predicted - truth))),
                   "interpolation_max_error": float(np.max(np.abs(baseline - truth)))}
        plot = plot_fits(x[:, 0], truth[:, 0], {f"{units} ReLU units": predicted[:, 0]},
                         context.run_dir / "plots" / "fit.png", title=f"{recipe.name}: fit on the test grid",
                         train=data.arrays["train"])
        return metrics, [plot] if plot else []

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        return export_model(model, name, export_dir=export_dir, input_name=INPUT_NAME,
                            output_name=OUTPUT_NAME, metadata=metadata)


def plot_fits(x, truth, fits: dict, path, *, title, train=None, axes=None) -> Path | None:
    """The true function, each named fit and (optionally) the training points, on one panel:
    a PNG at ``path``, or drawn into ``axes`` of a figure of your own."""
    figure = None
    if axes is None:
        figure = new_figure("function fits", figsize=(6, 4), dpi=110)
        if figure is None:
            return None
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
    figure.tight_layout()
    return save_figure(figure, path)
