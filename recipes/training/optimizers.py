"""Keras optimizers and learning-rate schedules by name, with the settings a recipe gives them."""

from __future__ import annotations

import math

import keras

from recipes.errors import ConfigError

# name -> (Keras optimizer class name, fixed settings)
OPTIMIZERS = {
    "sgd": ("SGD", {}),
    "sgd+momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", {}),
    "rmsprop": ("RMSprop", {}),
    "adam": ("Adam", {}),
    "nadam": ("Nadam", {}),
    "adamw": ("AdamW", {}),
}
SCHEDULES = ("constant", "cosine", "step", "exponential")


def learning_rate_schedule(name: str, learning_rate: float, *, steps_per_epoch: int, epochs: int,
                           step_every_epochs: int | None = None, decay: float = 0.1):
    """A Keras schedule (or a float for ``constant``) for the whole run of ``epochs``.

    cosine: CosineDecay to zero over the run. step: multiply by ``decay`` every
    ``step_every_epochs`` (default: a third of the run). exponential: smooth decay reaching
    ``decay`` times the start at the end of the run.
    """
    schedules = keras.optimizers.schedules
    total_steps = max(1, steps_per_epoch * epochs)
    if name == "constant":
        return learning_rate
    if name == "cosine":
        return schedules.CosineDecay(learning_rate, decay_steps=total_steps)
    if name == "step":
        every = step_every_epochs or max(1, math.ceil(epochs / 3))
        return schedules.ExponentialDecay(learning_rate, decay_steps=every * steps_per_epoch,
                                          decay_rate=decay, staircase=True)
    if name == "exponential":
        return schedules.ExponentialDecay(learning_rate, decay_steps=total_steps, decay_rate=decay)
    raise ConfigError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def make_optimizer(name: str, learning_rate=1e-3, *, weight_decay: float | None = None, **options):
    """A Keras optimizer by name (see ``OPTIMIZERS``); ``learning_rate`` may be a schedule and
    ``options`` are the optimizer class's own arguments, e.g. ``beta_1=0.5`` for Adam.

    ``weight_decay`` is the decoupled decay every optimizer applies; 0 and None both mean none,
    for AdamW too (Keras's AdamW would otherwise apply its own default of 0.004).
    """
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    class_name, fixed = OPTIMIZERS[name]
    config = {**fixed, **options, "learning_rate": learning_rate}
    if weight_decay or class_name == "AdamW":  # AdamW's own default is 0.004, not none
        config["weight_decay"] = float(weight_decay or 0.0)
    optimizer_class = getattr(keras.optimizers, class_name)
    try:
        return optimizer_class(**config)
    except (TypeError, ValueError) as error:  # Keras raises ValueError for an unknown argument
        raise ConfigError(f"optimizer {name!r} ({optimizer_class.__name__}) does not take these options: {error}. "
                          f"Received: {options!r}") from None
