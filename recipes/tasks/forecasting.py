"""Forecasting: the next values of a series from a window of past ones, measured against the
naive and seasonal-naive forecasts.

    >>> result = recipes.run("sunspots_forecast")
    >>> result.test_metrics["mae"], result.test_metrics["naive_mae"]
    >>> recipes.tasks.forecasting.forecast(result.model, series)   # the next values after ``series``

Series are split in time order: the model trains on the head, stops early on the segment after
it, and is tested on the tail it has never seen. Normalisation is inside the model (adapted on the
training segment), so both the model and its export take and return raw series values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

import architectures
from callbacks import new_figure, save_figure
from recipes import data as datasets
from recipes.data.series import load_series
from recipes.errors import ConfigError, InputError
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task

FORECAST_INPUT = "window"
FORECAST_OUTPUT = "forecast"


# --- windows ------------------------------------------------------------------------------------

def chronological_split(length: int, validation_split: float, test_split: float) -> tuple[int, int]:
    """``(train_end, validation_end)``: train is ``[0, train_end)``, validation up to
    ``validation_end``, and the test tail the rest."""
    num_test = int(round(length * test_split))
    num_validation = int(round(length * validation_split))
    return length - num_test - num_validation, length - num_test


def window_dataset(values: np.ndarray, *, window: int, horizon: int, target_columns, batch_size: int,
                   shuffle_seed: int | None = None):
    """``(window, horizon)`` pairs from every run of ``window + horizon`` consecutive steps:
    inputs (batch, window, features), targets (batch, horizon, len(target_columns))."""
    columns = list(target_columns)
    runs = keras.utils.timeseries_dataset_from_array(
        values, None, sequence_length=window + horizon, batch_size=batch_size,
        shuffle=shuffle_seed is not None, seed=shuffle_seed)
    return runs.map(lambda run: (run[:, :window], _gather_columns(run[:, window:], columns)))


def _gather_columns(tensor, columns):
    import tensorflow as tf

    return tf.gather(tensor, columns, axis=-1)


def dataset_arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    """All ``(inputs, targets)`` of a finite batched dataset, concatenated in order."""
    pairs = list(dataset.as_numpy_iterator())
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


# --- baselines ----------------------------------------------------------------------------------

def naive_forecast(windows: np.ndarray, horizon: int, target_columns=(0,)) -> np.ndarray:
    """Every step ahead repeats the last value seen: (batch, horizon, targets)."""
    last = windows[:, -1:, list(target_columns)]
    return np.repeat(last, horizon, axis=1)


def seasonal_naive_forecast(windows: np.ndarray, horizon: int, season: int, target_columns=(0,)) -> np.ndarray:
    """Each step ahead repeats the value one season (``season`` steps) before it, taken from the
    last season of the window: (batch, horizon, targets)."""
    window = windows.shape[1]
    if season > window:
        raise ConfigError(f"the seasonal-naive forecast needs a window of at least one season: "
                          f"window {window} < season {season}")
    steps_ahead = np.arange(1, horizon + 1)
    seasons_back = np.ceil(steps_ahead / season).astype(int)
    positions = window + steps_ahead - 1 - season * seasons_back
    return windows[:, positions][:, :, list(target_columns)]


def mean_absolute_error(truth, predicted) -> float:
    return float(np.mean(np.abs(np.asarray(truth, np.float64) - np.asarray(predicted, np.float64))))


# --- model --------------------------------------------------------------------------------------

def forecasting_model(train_values: np.ndarray, *, window: int, horizon: int = 1, target_columns=(0,),
                      architecture: str = "forecaster", name: str = "forecaster", **architecture_kwargs):
    """A registered forecaster between a ``Normalization`` adapted on ``train_values`` and its
    inverse, so the model takes raw windows (``window`` input) and returns raw values."""
    columns = list(target_columns)
    features = train_values.shape[-1]
    inputs = keras.Input((window, features), name=FORECAST_INPUT)
    normalise = keras.layers.Normalization(axis=-1, name="normalise")
    normalise.adapt(train_values)
    denormalise = keras.layers.Normalization(axis=-1, invert=True, name="denormalise")
    denormalise.adapt(train_values[:, columns])
    core = architectures.build(architecture, input_shape=(window, features), horizon=horizon,
                               targets=len(columns), **architecture_kwargs)
    return keras.Model(inputs, denormalise(core(normalise(inputs))), name=name)


def forecast(model, series, horizon: int | None = None) -> np.ndarray:
    """The next ``horizon`` values after ``series`` (1-D, or (time, features)), forecast from its
    last window by a Keras model, a loaded export or an export folder.

    Returns (horizon,) for a 1-D series with one target, else (horizon, targets). ``horizon``
    defaults to the model's; a longer one feeds forecasts back in as inputs, which needs a model
    that forecasts every feature it reads, in order.
    """
    predict, window, features, model_horizon, targets = _forecaster_parts(model)
    series = np.asarray(series, np.float32)
    one_dimensional = series.ndim == 1
    if one_dimensional:
        series = series[:, None]
    if series.ndim != 2 or series.shape[1] != features:
        raise InputError(f"the series has shape {series.shape} but the model takes {features} "
                         f"feature(s) per step: pass (time, {features})"
                         + (" or a 1-D series" if features == 1 else ""))
    if len(series) < window:
        raise InputError(f"the series has {len(series)} values but the model needs a window of {window}")
    horizon = model_horizon if horizon is None else int(horizon)
    if horizon < 1:
        raise InputError(f"horizon must be at least 1, not {horizon}")
    if horizon > model_horizon and targets != features:
        raise InputError(f"the model forecasts {model_horizon} step(s) of {targets} of its {features} "
                         f"features, so it cannot feed its forecasts back in to reach horizon {horizon}")
    steps, history = [], series
    while sum(len(s) for s in steps) < horizon:
        ahead = predict(history[None, -window:])[0]
        steps.append(ahead)
        history = np.concatenate([history, ahead]) if targets == features else history
    forecasts = np.concatenate(steps)[:horizon]
    return forecasts[:, 0] if one_dimensional and targets == 1 else forecasts


def _forecaster_parts(model):
    """``(predict(windows) -> numpy, window, features, horizon, targets)`` for a Keras model, a
    loaded SavedModel (or its serving signature) or an export folder."""
    if isinstance(model, keras.Model):
        _, window, features = model.input_shape
        _, horizon, targets = model.output_shape
        return (lambda x: keras.ops.convert_to_numpy(model(x, training=False))), window, features, horizon, targets
    if isinstance(model, (str, Path)):
        from recipes.saved_models import load

        model = load(model)[0]
    signature = model.signatures["serving_default"] if hasattr(model, "signatures") else model
    (input_name, spec), = signature.structured_input_signature[1].items()
    (output_name, output_spec), = signature.structured_outputs.items()
    _, window, features = spec.shape
    _, horizon, targets = output_spec.shape

    def predict(x):
        return signature(**{input_name: x.astype(np.float32)})[output_name].numpy()

    return predict, window, features, horizon, targets


# --- plots --------------------------------------------------------------------------------------

def plot_forecast(times, truth, predicted, naive, path, *, title="Forecast (test)", time_label="step") -> Path | None:
    """The test tail one step ahead: truth, the model's forecast and the naive forecast."""
    figure = new_figure("forecast", figsize=(9, 3.6), layout="constrained")
    if figure is None:
        return None
    axis = figure.subplots()
    axis.plot(times, truth, color="black", label="truth")
    axis.plot(times, predicted, marker=".", label="model")
    axis.plot(times, naive, linestyle="--", alpha=0.7, label="naive (last value)")
    axis.set(title=title, xlabel=time_label, ylabel="value")
    axis.grid(alpha=0.3)
    axis.legend()
    return save_figure(figure, path, dpi=100)


# --- task ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChronologicalSplit:
    """Train is ``[0, train_end)``, validation ``[train_end, validation_end)``, test the rest."""

    train_end: int
    validation_end: int
    length: int


@dataclass
class SeriesData(datasets.Data):
    """The windows of one series split in time order, with what the model and plots need besides."""

    train_values: np.ndarray  # the training segment, which the model's normalisation is adapted on
    test_times: np.ndarray  # the time of each test target, for the plot
    time_label: str
    split: ChronologicalSplit


@register_task
class Forecast(Task):
    """A window of raw series values -> the next ``horizon`` values (``window -> forecast``).

    Options (``ForecastOptions``): ``window``, ``horizon``, ``season`` (for the seasonal-naive
    baseline), ``test_split`` (the tail held out; ``validation_split`` is the segment before it),
    ``target_columns`` and, for the generated ``sine``, ``length``, ``period`` and ``noise``.
    """

    name = "forecast"

    def load(self, recipe, *, data_dir=None, download=True):
        if recipe.train_limit is not None or recipe.test_limit is not None:
            raise ConfigError(f"{recipe.name}: a forecast splits one series in time order, so "
                              "train_limit/test_limit do not apply; shorten the series with "
                              "task_options (sine: length) instead")
        options = recipe.task_options
        series = load_series(recipe.dataset, seed=recipe.seed, length=options.length, period=options.period,
                             noise=options.noise)
        values, window, horizon = series.values, options.window, options.horizon
        train_end, validation_end = chronological_split(len(values), recipe.validation_split, options.test_split)
        if train_end < window + horizon or validation_end - train_end < horizon or len(values) - validation_end < horizon:
            raise ConfigError(
                f"{recipe.name}: {len(values)} values split {train_end}/{validation_end - train_end}/"
                f"{len(values) - validation_end} (train/validation/test) leave no window of {window} + "
                f"horizon {horizon}; use a longer series or a shorter window")
        windows = {"window": window, "horizon": horizon, "target_columns": options.target_columns,
                   "batch_size": recipe.batch_size}
        # Validation and test windows start one window before their segment, so every value in
        # the segment is a target exactly once (at horizon 1) and no target is in the training part.
        segments = {"train": values[:train_end], "validation": values[train_end - window:validation_end],
                    "test": values[validation_end - window:]}
        pipelines = {split: window_dataset(segment, **windows) for split, segment in segments.items()}
        arrays = {split: dataset_arrays(pipeline) for split, pipeline in pipelines.items()}
        pipelines["train"] = window_dataset(segments["train"], **windows, shuffle_seed=recipe.seed)
        info = datasets.DatasetInfo(
            name=recipe.dataset, input_shape=(window, values.shape[1]), num_classes=0, class_names=(),
            input_name=FORECAST_INPUT, value_range=None, source=series.source,
            num_train=len(arrays["train"][0]), num_validation=len(arrays["validation"][0]),
            num_test=len(arrays["test"][0]))
        return SeriesData(pipelines["train"], pipelines["validation"], pipelines["test"], info, arrays,
                          train_values=values[:train_end],
                          test_times=series.times[validation_end:validation_end + len(arrays["test"][0])],
                          time_label=series.time_label,
                          split=ChronologicalSplit(train_end, validation_end, len(values)))

    def build(self, recipe, data):
        options = recipe.task_options
        return forecasting_model(data.train_values, window=options.window, horizon=options.horizon,
                                 target_columns=options.target_columns, architecture=recipe.architecture,
                                 name=f"{recipe.architecture}_{recipe.dataset}", **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        options = recipe.task_options
        windows, truth = data.arrays["test"]
        predicted = model.predict(windows, verbose=0, batch_size=1024)
        naive = naive_forecast(windows, options.horizon, options.target_columns)
        metrics = {"mae": mean_absolute_error(truth, predicted), "naive_mae": mean_absolute_error(truth, naive)}
        if options.season is not None:
            seasonal = seasonal_naive_forecast(windows, options.horizon, options.season, options.target_columns)
            metrics["seasonal_naive_mae"] = mean_absolute_error(truth, seasonal)
        plots = []
        if "forecast" in recipe.plots:
            plots.append(plot_forecast(data.test_times, truth[:, 0, 0], predicted[:, 0, 0], naive[:, 0, 0],
                                       context.run_dir / "plots" / "forecast.png", time_label=data.time_label,
                                       title=f"{recipe.name}: one step ahead on the test tail"))
        return metrics, [path for path in plots if path is not None]

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        options = recipe.task_options
        served = {"window": options.window, "horizon": options.horizon, "season": options.season,
                  "target_columns": list(options.target_columns)}
        return export_model(model, name, export_dir=export_dir, input_name=FORECAST_INPUT,
                            output_name=FORECAST_OUTPUT, metadata={**metadata, "forecast": served})
