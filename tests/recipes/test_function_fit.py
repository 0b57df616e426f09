"""Function fitting: the interpolation baseline checked by hand, and a tiny real run that learns,
plots and exports a model serving the same numbers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.tasks import function_fit
from recipes.errors import UnknownNameError


def test_interpolation_baseline_by_hand():
    grid = np.linspace(-1, 1, 201)
    exact = function_fit.interpolation_baseline(np.abs, (-1, 1), 3, grid)  # knots -1, 0, 1: exact for |x|
    np.testing.assert_allclose(exact, np.abs(grid), atol=1e-12)
    flat = function_fit.interpolation_baseline(np.abs, (-1, 1), 2, grid)  # knots -1, 1: the constant 1
    assert np.max(np.abs(flat - np.abs(grid))) == pytest.approx(1.0)


def test_unknown_function_names_the_known_ones():
    with pytest.raises(UnknownNameError, match="function_fit knows sin, abs, step"):
        recipes.run("function_fit_sin", dataset="cos", export=False, callbacks={})


@pytest.mark.e2e
def test_function_fit_learns_plots_and_exports(tmp_path):
    recipe = recipes.with_overrides(recipes.get("function_fit_sin"), {
        "epochs": 30, "architecture_kwargs": {"hidden_units": 16}, "task_options": {"train_points": 300}})
    keras.utils.set_random_seed(0)
    untrained = recipes.tasks.get("function_fit").build(recipe, None)
    x = np.linspace(-np.pi, np.pi, 2001, dtype="float32")[:, None]
    untrained_error = np.max(np.abs(untrained.predict(x, verbose=0) - np.sin(x)))

    result = recipes.run(recipe, work_dir=tmp_path / "runs", export_dir=tmp_path / "models", verbose=0)
    metrics = result.test_metrics
    assert metrics["max_error"] < min(0.5, untrained_error)
    assert metrics["interpolation_max_error"] == pytest.approx(
        np.max(np.abs(function_fit.interpolation_baseline(np.sin, (-np.pi, np.pi), 17, x) - np.sin(x))), rel=1e-5)
    assert any(path.name == "fit.png" and path.stat().st_size > 0 for path in result.plots)

    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    np.testing.assert_allclose(serve(x=tf.constant(x))["y"].numpy(), result.model.predict(x, verbose=0), atol=1e-5)
