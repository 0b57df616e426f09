import keras
import numpy as np
import pytest

from recipes.errors import ConfigError
from recipes.training import OPTIMIZERS, compile_and_fit, learning_rate_schedule, make_optimizer


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_are_keras_objects_by_name(name):
    optimizer = make_optimizer(name, 0.01)
    class_name, fixed = OPTIMIZERS[name]
    assert type(optimizer) is getattr(keras.optimizers, class_name)
    for key, value in fixed.items():
        assert getattr(optimizer, key) == value
    assert float(optimizer.learning_rate) == pytest.approx(0.01)


def test_adamw_weight_decay():
    assert make_optimizer("adamw", 1e-3, weight_decay=0.05).weight_decay == 0.05


def test_optimizer_options_go_to_the_keras_class_and_a_wrong_one_is_named():
    assert make_optimizer("adam", 2e-4, beta_1=0.5).get_config()["beta_1"] == 0.5
    with pytest.raises(ConfigError, match=r"optimizer 'sgd' \(SGD\) does not take these options.*beta_1"):
        make_optimizer("sgd", 0.1, beta_1=0.5)


def test_schedules():
    assert learning_rate_schedule("constant", 0.1, steps_per_epoch=10, epochs=9) == 0.1
    cosine = learning_rate_schedule("cosine", 0.1, steps_per_epoch=10, epochs=9)
    assert float(cosine(0)) == pytest.approx(0.1) and float(cosine(90)) == pytest.approx(0.0, abs=1e-7)
    step = learning_rate_schedule("step", 0.1, steps_per_epoch=10, epochs=9)
    assert [round(float(step(s)), 6) for s in (0, 29, 30, 60)] == [0.1, 0.1, 0.01, 0.001]
    exponential = learning_rate_schedule("exponential", 0.1, steps_per_epoch=10, epochs=9)
    assert 0.01 < float(exponential(45)) < 0.1 and float(exponential(90)) == pytest.approx(0.01)


def test_unknown_optimizer_and_schedule_list_choices():
    with pytest.raises(ConfigError, match="choose one of sgd, sgd\\+momentum, nesterov"):
        make_optimizer("adamax")
    with pytest.raises(ConfigError, match="choose one of constant, cosine, step, exponential"):
        learning_rate_schedule("linear", 0.1, steps_per_epoch=1, epochs=1)


def test_compile_and_fit_from_a_script(tmp_path):
    """The pieces a user calls directly: load, build, compile_and_fit with their own callback."""
    import architectures
    from recipes import data

    loaded = data.load("toy_circles", batch_size=32)
    model = architectures.build("mlp", input_shape=(2,), num_classes=2, hidden_units=(16,))
    seen = []
    mine = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    result = compile_and_fit(model, loaded, optimizer="sgd+momentum", learning_rate=0.05, schedule="cosine",
                             epochs=3, run_dir=tmp_path, extra_callbacks=[mine], verbose=0)
    assert seen == [0, 1, 2]
    assert result.history["learning_rate"][0] > result.history["learning_rate"][-1]
    assert (tmp_path / "training_log.csv").exists() and result.log_dir.exists()
    assert result.checkpoint_path.exists()
    assert keras.models.load_model(result.checkpoint_path).count_params() == model.count_params()
    assert result.timings["epochs_run"] == 3 and result.timings["fit_seconds"] > 0
    assert 0.0 <= result.test_metrics["accuracy"] <= 1.0


def test_named_callbacks_need_a_run_dir():
    from recipes import data

    with pytest.raises(ConfigError, match="pass run_dir"):
        compile_and_fit(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]),
                        data.load("toy_xor"), epochs=1)


def test_nan_loss_terminates(tmp_path):
    from recipes import data

    loaded = data.load("toy_xor", batch_size=32)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    result = compile_and_fit(model, loaded, optimizer="sgd", learning_rate=1e30, loss="mse", metrics=(),
                             epochs=5, callbacks={"terminate_on_nan": {}}, run_dir=tmp_path, verbose=0)
    assert result.timings["epochs_run"] == 1
    assert not np.isfinite(result.history["loss"][-1])


def _fit_toy_circles(tmp_path, **options):
    import architectures
    from recipes import data

    loaded = data.load("toy_circles", batch_size=32)
    keras.utils.set_random_seed(0)
    model = architectures.build("mlp", input_shape=(2,), num_classes=2, hidden_units=(16,))
    initial = [keras.ops.convert_to_numpy(v) for v in model.trainable_weights]
    result = compile_and_fit(model, loaded, learning_rate=0.05, epochs=4, run_dir=tmp_path, verbose=0,
                             callbacks={"early_stopping": {"patience": 10}}, **options)
    moved = sum(float(np.sum((keras.ops.convert_to_numpy(v) - start) ** 2))
                for v, start in zip(model.trainable_weights, initial))
    return result, loaded, moved


def test_early_stopping_keeps_the_moving_average_of_an_ema_optimizer(tmp_path):
    """With use_ema, early stopping's restore_best_weights must put back the averaged weights of
    the best epoch, not the raw ones: an average with momentum 0.999 has barely left the initial
    weights after a few dozen steps, while the raw weights have travelled."""
    _, _, raw_moved = _fit_toy_circles(tmp_path / "raw")
    result, loaded, average_moved = _fit_toy_circles(
        tmp_path / "ema", optimizer_options={"use_ema": True, "ema_momentum": 0.999})
    assert average_moved < 0.05 * raw_moved
    validated = result.model.evaluate(loaded.validation, return_dict=True, verbose=0)["loss"]
    assert validated == pytest.approx(min(result.history["val_loss"]), rel=1e-5)  # judged on the same weights


def test_averaged_weights_swap_state_survives_a_backup():
    from callbacks import AveragedWeightsSwap

    swap, resumed = AveragedWeightsSwap(), AveragedWeightsSwap()
    swap._ema_weights_in_model = True
    resumed.set_state(swap.get_state())
    assert resumed._ema_weights_in_model and resumed.swap_on_epoch


def test_swapping_in_averaged_weights_needs_an_ema_optimizer(tmp_path):
    from recipes import data

    with pytest.raises(ConfigError, match=r'swap_ema_weights callback needs .*"use_ema": True'):
        compile_and_fit(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]), data.load("toy_xor"),
                        epochs=1, callbacks={"swap_ema_weights": {}}, run_dir=tmp_path, verbose=0)


@pytest.mark.parametrize("autotune", [False, True])
def test_fit_gets_datasets_without_tf_data_autotuning_unless_asked(monkeypatch, autotune):
    """Keras makes a new iterator every epoch; the autotuning thread stalled each old one's shutdown."""
    import architectures
    from recipes import data

    seen = {}
    fit = keras.Model.fit

    def recording_fit(self, x=None, **kwargs):
        seen["train"] = x.options().autotune.enabled is not False
        seen["validation"] = kwargs["validation_data"].options().autotune.enabled is not False
        return fit(self, x, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    model = architectures.build("mlp", input_shape=(2,), num_classes=2, hidden_units=(4,))
    loaded = data.load("toy_circles", batch_size=32)
    compile_and_fit(model, loaded, epochs=1, callbacks={}, verbose=0, tf_data_autotune=autotune)
    assert seen == {"train": autotune, "validation": autotune}
    assert loaded.train.options().autotune.enabled is not False  # the caller's Data is left as it was
