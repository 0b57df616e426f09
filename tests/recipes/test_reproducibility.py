"""``compile_and_fit(..., seed=)`` seeds what it runs, and ``deterministic=True`` makes two runs
give identical metrics."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import tensorflow as tf

from recipes.training import compile_and_fit


class UnseededNoise(keras.layers.Layer):
    """Gaussian noise from an op without a seed of its own: it follows the global seed, as much
    code written outside this library does."""

    def call(self, inputs, training=False):
        return inputs + tf.random.normal(tf.shape(inputs)) if training else inputs


def _model():
    keras.utils.set_random_seed(0)  # the same initial weights every time
    inputs = keras.Input((4,))
    hidden = UnseededNoise()(keras.layers.Dense(8, activation="relu")(inputs))
    return keras.Model(inputs, keras.layers.Dense(2)(hidden))


def _data():
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


def _losses(seed, random_state_before):
    model = _model()
    keras.utils.set_random_seed(random_state_before)  # whatever the caller's code did in between
    result = compile_and_fit(model, _data(), seed=seed, epochs=2, batch_size=16, callbacks={}, verbose=0,
                             loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return result.history["loss"] + result.history["val_loss"]


def test_the_seed_given_to_compile_and_fit_seeds_the_training_it_runs():
    assert _losses(3, random_state_before=1) == _losses(3, random_state_before=2)


def test_without_a_seed_the_callers_random_state_is_left_alone():
    assert _losses(None, random_state_before=1) != _losses(None, random_state_before=2)


DETERMINISTIC_RUNS = textwrap.dedent("""
    import json
    import keras
    import numpy as np
    from tensorflow.python.framework import config as tf_config  # the public API cannot ask
    from recipes.training import compile_and_fit

    x = np.random.default_rng(0).normal(size=(96, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    assert not tf_config.is_op_determinism_enabled()
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((6,))
        hidden = keras.layers.Dropout(0.3)(keras.layers.Dense(16, activation="relu")(inputs))
        model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
        data = ((x[:64], y[:64]), (x[64:80], y[64:80]), (x[80:], y[80:]))
        result = compile_and_fit(model, data, seed=0, deterministic=True, epochs=3, batch_size=16,
                                 callbacks={}, verbose=0)
        runs.append({"history": result.history, "test": result.test_metrics})
    print(json.dumps({"runs": runs, "enabled": tf_config.is_op_determinism_enabled()}))
""")


def test_deterministic_runs_give_identical_metrics():
    # enable_op_determinism is process-global and cannot be undone: run it in a process of its own
    finished = subprocess.run([sys.executable, "-c", DETERMINISTIC_RUNS], capture_output=True, text=True, check=False,
                              timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    assert report["enabled"] is True
    first, second = report["runs"]
    assert first == second
    assert set(first["test"]) == {"accuracy", "loss"} and len(first["history"]["loss"]) == 3
