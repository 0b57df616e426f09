"""Mixed precision: ``precision=`` builds the model under Keras's dtype policy, float16 gets loss
scaling, and the export keeps float32 signatures that predict what the model in memory does."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.errors import ConfigError
from recipes.training.precision import PRECISIONS, dtype_policy, resolve_precision


def dense_layers(model):
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dense):
            yield layer


@pytest.mark.parametrize(("precision", "compute", "tolerance"),
                         [("mixed_bfloat16", "bfloat16", 3e-2), ("mixed_float16", "float16", 3e-3)])
def test_a_mixed_precision_run_exports_float32_signatures_that_predict_like_the_model(tmp_path, precision, compute,
                                                                                      tolerance):
    result = recipes.run("digits_mlp", precision=precision, epochs=2, work_dir=tmp_path / "runs",
                         export_dir=tmp_path / "models", verbose=0)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored after the build
    layers = list(dense_layers(result.model))
    assert layers and all(layer.compute_dtype == compute and layer.variable_dtype == "float32" for layer in layers)
    if precision == "mixed_float16":
        assert isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert result.test_metrics["accuracy"] > 0.5

    metadata = json.loads((result.export_path / "metadata.json").read_text())
    assert metadata["precision"] == precision
    assert metadata["outputs"]["probabilities"]["dtype"] == "float32"
    assert metadata["inputs"]["pixels"]["dtype"] == "float32"
    served = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    assert served.structured_outputs["probabilities"].dtype == tf.float32

    pixels = np.random.default_rng(0).uniform(0, 16, size=(16, 8, 8, 1)).astype("float32")
    in_memory = np.asarray(result.model.predict(pixels, verbose=0), dtype="float32")
    exported = served(pixels=tf.constant(pixels))["probabilities"].numpy()
    np.testing.assert_allclose(exported, in_memory, atol=tolerance)
    np.testing.assert_allclose(exported.sum(axis=1), 1.0, atol=tolerance)


def test_dtype_policy_applies_inside_the_block_only():
    with dtype_policy("mixed_bfloat16") as policy:
        layer = keras.layers.Dense(2)
    assert policy == "mixed_bfloat16" and layer.compute_dtype == "bfloat16"
    assert keras.layers.Dense(2).compute_dtype == "float32"


def test_auto_picks_bf16_on_cpus_with_native_bf16_and_unknown_precisions_are_refused(monkeypatch):
    from recipes.training import precision

    assert resolve_precision("auto") in PRECISIONS[:-1]
    if not tf.config.list_physical_devices("GPU"):
        monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
        assert resolve_precision("auto") == "mixed_bfloat16"
        monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "fma"})
        assert resolve_precision("auto") == "float32"
    with pytest.raises(ConfigError, match="unknown precision 'fp8'; choose one of float32, mixed_bfloat16"):
        resolve_precision("fp8")
    with pytest.raises(ConfigError, match="precision must be one of float32, mixed_bfloat16, mixed_float16, auto; "
                                          "got 'bf16'"):
        recipes.with_overrides(recipes.get("digits_mlp"), {"precision": "bf16"})


def test_the_command_line_trains_in_the_precision_it_is_given(tmp_path):
    from recipes.cli import main

    assert main(["run", "digits_mlp", "--precision", "mixed_bfloat16", "--epochs", "1", "--no-export",
                 "--work-dir", str(tmp_path)]) == 0
    (result,) = tmp_path.glob("digits_mlp/*/result.json")
    recorded = json.loads(result.read_text())
    assert recorded["precision"] == "mixed_bfloat16" and recorded["recipe"]["precision"] == "mixed_bfloat16"
