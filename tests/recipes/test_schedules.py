"""The warm-up schedules: airbench's triangle (``warmup_linear``) and Keras's warm-up cosine."""

import keras
import pytest

from recipes.errors import ConfigError
from recipes.training.optimizers import SCHEDULES, WarmupLinearDecay, learning_rate_schedule


def values(schedule, steps):
    return [float(schedule(step)) for step in steps]


def test_warmup_linear_rises_from_a_fifth_to_the_peak_then_falls_to_zero():
    schedule = learning_rate_schedule("warmup_linear", 0.5, steps_per_epoch=10, epochs=10)  # 100 steps, 20 warm-up
    assert isinstance(schedule, WarmupLinearDecay)
    assert values(schedule, [0, 10, 20, 60, 100, 150]) == pytest.approx([0.1, 0.3, 0.5, 0.25, 0.0, 0.0], abs=1e-6)


def test_warmup_linear_options_and_serialization():
    schedule = WarmupLinearDecay(1.0, total_steps=10, warmup_steps=0, start=0.0, end=0.1)
    assert values(schedule, [0, 5, 10]) == pytest.approx([1.0, 0.55, 0.1], abs=1e-6)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(again, WarmupLinearDecay) and values(again, [0, 5, 10]) == values(schedule, [0, 5, 10])
    optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(keras.optimizers.SGD(schedule)))
    assert isinstance(optimizer.get_config()["learning_rate"], dict)  # a schedule, not a number
    assert optimizer.get_config()["learning_rate"]["class_name"] == "WarmupLinearDecay"
    with pytest.raises(ConfigError, match="warmup_steps <= total_steps"):
        WarmupLinearDecay(1.0, total_steps=10, warmup_steps=11)


def test_warmup_cosine_is_keras_cosine_decay_with_its_warmup():
    schedule = learning_rate_schedule("warmup_cosine", 0.4, steps_per_epoch=10, epochs=10, warmup=0.1)
    assert values(schedule, [0, 5, 10, 55, 100]) == pytest.approx([0.0, 0.2, 0.4, 0.2, 0.0], abs=1e-6)


def test_schedule_names_and_a_bad_warmup():
    assert {"warmup_linear", "warmup_cosine"} <= set(SCHEDULES)
    with pytest.raises(ConfigError, match="warmup is the fraction of the run.*Received: warmup=1.5"):
        learning_rate_schedule("warmup_linear", 0.1, steps_per_epoch=1, epochs=1, warmup=1.5)
    with pytest.raises(ConfigError, match="choose one of constant, cosine, step, exponential, warmup_linear"):
        learning_rate_schedule("triangle", 0.1, steps_per_epoch=1, epochs=1)
