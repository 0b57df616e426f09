"""Forecasting and per-step tagging: tiny real runs that learn, export and serve the same numbers,
baselines and labels checked against answers worked out by hand, and the errors a user can fix."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes import tasks
from recipes.data import series as named_series
from recipes.data import synthetic
from recipes.errors import ConfigError, DatasetNotFoundError, InputError, UnknownNameError
from recipes.tasks import forecasting

TINY_PARITY = {"task_options": {"length": 4, "num_train": 640, "num_test": 64}, "batch_size": 16,
               "learning_rate": 2e-2}
TINY_RUNS = {
    "sine_forecast": {"task_options": {"window": 12, "horizon": 2, "season": 12, "length": 240, "period": 12,
                                       "noise": 0.1},
                      "architecture_kwargs": {"encoder": "lstm", "units": 8}, "batch_size": 16,
                      "learning_rate": 1e-2},
    "sunspots_forecast": {"task_options": {"window": 12, "horizon": 1, "season": 11},
                          "architecture_kwargs": {"encoder": "gru", "units": 8}, "batch_size": 16,
                          "learning_rate": 1e-2},
    "parity_tagger_simple_rnn": {**TINY_PARITY, "architecture_kwargs": {"cell": "simple_rnn", "units": 16}},
    "parity_tagger_lstm": {**TINY_PARITY, "architecture_kwargs": {"cell": "lstm", "units": 16}},
}


def _tiny_recipe(name):
    return recipes.with_overrides(recipes.get(name), {**TINY_RUNS[name], "epochs": 2})


def _serve(export_path):
    serve = tf.saved_model.load(str(export_path)).signatures["serving_default"]
    (input_name, _), = serve.structured_input_signature[1].items()
    return serve, input_name


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["sine_forecast", "sunspots_forecast"])
def test_forecast_recipe_learns_exports_and_serves_raw_values(name, tmp_path):
    recipe = _tiny_recipe(name)
    result = recipes.run(recipe, work_dir=tmp_path / "runs", export_dir=tmp_path / "models", verbose=0)

    assert result.history["loss"][-1] < result.history["loss"][0], result.history["loss"]
    assert {"loss", "mae", "naive_mae", "seasonal_naive_mae"} <= set(result.test_metrics)
    assert any(path.name == "forecast.png" and path.exists() for path in result.plots)

    data = tasks.get("forecast").load(recipe)
    windows, truth = data.arrays["test"]
    options = recipe.task_options
    series = named_series.load_series(recipe.dataset, seed=recipe.seed, length=options.length,
                                      period=options.period, noise=options.noise).values
    assert np.array_equal(truth[:, 0, 0], series[data.split.validation_end:len(series) - truth.shape[1] + 1, 0])
    naive_by_hand = np.mean(np.abs(truth[:, :, 0] - windows[:, -1:, 0]))
    assert result.test_metrics["naive_mae"] == pytest.approx(naive_by_hand, rel=1e-6)

    serve, input_name = _serve(result.export_path)
    assert input_name == "window" and list(serve.structured_outputs) == ["forecast"]
    served = serve(window=tf.constant(windows))["forecast"].numpy()
    in_memory = result.model.predict(windows, verbose=0)
    np.testing.assert_allclose(served, in_memory, rtol=1e-4, atol=1e-4 * np.abs(series).max())
    assert result.test_metrics["mae"] == pytest.approx(np.mean(np.abs(in_memory - truth)), rel=1e-5)
    np.testing.assert_allclose(forecasting.forecast(result.export_path, series[:, 0]),
                               forecasting.forecast(result.model, series[:, 0]), rtol=1e-4, atol=1e-3)


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["parity_tagger_simple_rnn", "parity_tagger_lstm"])
def test_parity_tagger_learns_and_serves_per_step_probabilities(name, tmp_path):
    recipe = _tiny_recipe(name)
    result = recipes.run(recipe, work_dir=tmp_path / "runs", export_dir=tmp_path / "models", verbose=0)

    assert result.history["loss"][-1] < result.history["loss"][0], result.history["loss"]
    assert 0.0 <= result.test_metrics["last_position_accuracy"] <= 1.0
    cell = recipe.architecture_kwargs["cell"]
    recurrent = result.model.get_layer(recipe.architecture).get_layer(f"{cell}1")
    assert isinstance(recurrent, {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM}[cell])

    bits = synthetic.random_bits(5, 13, seed=7)  # any length: the signature's time axis is open
    serve, input_name = _serve(result.export_path)
    assert input_name == "bits"
    served = serve(bits=tf.constant(bits))["probabilities"].numpy()
    assert served.shape == (5, 13, 2)
    np.testing.assert_allclose(served, result.model.predict(bits, verbose=0), rtol=1e-4, atol=1e-5)


def test_parity_labels_count_the_ones_seen_so_far():
    bits = np.array([[1, 0, 1, 1, 0, 0, 1]], np.float32)[..., None]
    assert synthetic.parity_labels(bits).tolist() == [[1, 1, 0, 1, 1, 1, 0]]


def test_baselines_on_a_hand_made_series():
    # Period-3 pattern with a drift: 10 20 30 | 11 21 31 | 12 22 32.
    series = np.array([10, 20, 30, 11, 21, 31, 12, 22, 32], np.float32)
    windows = series[None, :4, None]  # 10 20 30 11; the truth that follows is 21 31 12 22
    assert forecasting.naive_forecast(windows, horizon=4)[0, :, 0].tolist() == [11, 11, 11, 11]
    # Step k repeats the value one season before it, taking whole seasons back once k > season.
    assert forecasting.seasonal_naive_forecast(windows, horizon=4, season=3)[0, :, 0].tolist() == [20, 30, 11, 20]
    truth = np.array([21, 31, 12, 22], np.float32)[None, :, None]
    assert forecasting.mean_absolute_error(truth, forecasting.naive_forecast(windows, 4)) == pytest.approx(10.5)
    with pytest.raises(ConfigError, match="window 4 < season 5"):
        forecasting.seasonal_naive_forecast(windows, horizon=1, season=5)


def test_windows_keep_the_test_tail_out_of_training():
    recipe = recipes.with_overrides(recipes.get("sine_forecast"), {"task_options": {
        "window": 5, "horizon": 1, "season": 5, "length": 40, "period": 5, "noise": 0.0}, "batch_size": 4})
    data = tasks.get("forecast").load(recipe)
    assert (data.split.train_end, data.split.validation_end) == (28, 34)
    series = named_series.sine_series(40, period=5, noise=0.0, seed=recipe.seed)[:, 0]
    train_targets = data.arrays["train"][1][:, 0, 0]
    assert np.array_equal(train_targets, series[5:28])
    assert np.array_equal(data.arrays["validation"][1][:, 0, 0], series[28:34])
    assert np.array_equal(data.arrays["test"][1][:, 0, 0], series[34:])
    assert np.array_equal(data.arrays["test"][0][0, :, 0], series[29:34])


def test_forecast_names_both_lengths_when_the_series_is_too_short():
    model = forecasting.forecasting_model(np.arange(50, dtype=np.float32)[:, None], window=24, horizon=1,
                                         units=4)
    with pytest.raises(InputError, match="the series has 10 values but the model needs a window of 24"):
        forecasting.forecast(model, np.zeros(10))
    with pytest.raises(InputError, match=r"takes 1 feature\(s\) per step"):
        forecasting.forecast(model, np.zeros((30, 2)))


def test_forecast_feeds_its_forecasts_back_for_a_longer_horizon():
    model = forecasting.forecasting_model(np.arange(50, dtype=np.float32)[:, None], window=6, horizon=1,
                                         units=4)
    series = np.linspace(0.0, 5.0, 20, dtype=np.float32)
    ahead = forecasting.forecast(model, series, horizon=3)
    assert ahead.shape == (3,)
    assert ahead[0] == pytest.approx(forecasting.forecast(model, series)[0], rel=1e-5)
    assert ahead[1] == pytest.approx(forecasting.forecast(model, np.append(series, ahead[0]))[0], rel=1e-5)


def test_sunspots_without_statsmodels_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsmodels.api", None)
    with pytest.raises(DatasetNotFoundError, match=r"pip install 'keras-recipes\[timeseries\]'"):
        named_series.sunspots_series()


def test_forecast_rejects_row_limits_that_would_break_the_time_order():
    recipe = recipes.with_overrides(recipes.get("sunspots_forecast"), {"train_limit": 100})
    with pytest.raises(ConfigError, match="task_options"):
        tasks.get("forecast").load(recipe)


def test_series_options_are_typed_and_a_recorded_series_refuses_generator_settings():
    with pytest.raises(ConfigError, match=r"unknown option 'windw' for task 'forecast'. Did you mean 'window'\?"):
        recipes.with_overrides(recipes.get("sine_forecast"), {"task_options.windw": 12})
    with pytest.raises(ConfigError, match="must cover at least one season"):
        recipes.with_overrides(recipes.get("sunspots_forecast"), {"task_options.window": 8})
    recipe = recipes.with_overrides(recipes.get("sunspots_forecast"), {"task_options.length": 100})
    with pytest.raises(ConfigError, match=r"sunspots is a recorded series, which length cannot shape \(they apply to the generated sine only\)"):
        tasks.get("forecast").load(recipe)
    with pytest.raises(UnknownNameError, match="unknown series 'moon'; the forecast task knows sine, sunspots"):
        named_series.load_series("moon")
    assert named_series.load_series("sunspots").time_label == "year"
    assert named_series.load_series("sine", length=30).values.shape == (30, 1)
