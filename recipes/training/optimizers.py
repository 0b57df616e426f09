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
SCHEDULES = ("constant", "cosine", "step", "exponential", "warmup_linear", "warmup_cosine")


@keras.saving.register_keras_serializable(package="keras_recipes")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A triangle: linear from ``start`` x ``peak`` up to ``peak`` over the first ``warmup_steps``,
    then linear down to ``end`` x ``peak`` at ``total_steps`` (and flat after). airbench's
    schedule is ``start=0.2, end=0.0`` with a fifth of the steps as warm-up."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int, start: float = 0.2, end: float = 0.0,
                 name: str = "warmup_linear_decay"):
        if not 0 <= warmup_steps <= total_steps or total_steps < 1:
            raise ConfigError(f"WarmupLinearDecay needs 0 <= warmup_steps <= total_steps and total_steps >= 1. "
                              f"Received: warmup_steps={warmup_steps}, total_steps={total_steps}")
        self.peak, self.total_steps, self.warmup_steps = float(peak), int(total_steps), int(warmup_steps)
        self.start, self.end, self.name = float(start), float(end), name

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = float(max(self.warmup_steps, 1))
        decay = float(max(self.total_steps - self.warmup_steps, 1))
        rising = self.start + (1.0 - self.start) * keras.ops.minimum(step / warmup, 1.0)
        falling = 1.0 + (self.end - 1.0) * keras.ops.clip((step - self.warmup_steps) / decay, 0.0, 1.0)
        fraction = keras.ops.where(step < self.warmup_steps, rising, falling)
        return self.peak * fraction

    def get_config(self) -> dict:
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "start": self.start, "end": self.end, "name": self.name}


def learning_rate_schedule(name: str, learning_rate: float, *, steps_per_epoch: int, epochs: int,
                           step_every_epochs: int | None = None, decay: float = 0.1, warmup: float = 0.2):
    """A Keras schedule (or a float for ``constant``) for the whole run of ``epochs``.

    cosine: CosineDecay to zero over the run. step: multiply by ``decay`` every
    ``step_every_epochs`` (default: a third of the run). exponential: smooth decay reaching
    ``decay`` times the start at the end of the run. warmup_linear: airbench's triangle
    (``WarmupLinearDecay``), linear from a fifth of ``learning_rate`` up to it over the first
    ``warmup`` fraction of the run (0.2), then linear to zero at its end. warmup_cosine: Keras's
    CosineDecay with its linear warm-up from zero over the ``warmup`` fraction, then cosine to zero.
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
    if not 0 <= warmup < 1:
        raise ConfigError(f"warmup is the fraction of the run spent warming up, at least 0 and below 1. "
                          f"Received: warmup={warmup!r}")
    warmup_steps = int(round(warmup * total_steps))
    if name == "warmup_linear":
        return WarmupLinearDecay(learning_rate, total_steps=total_steps, warmup_steps=warmup_steps)
    if name == "warmup_cosine":
        return schedules.CosineDecay(0.0, decay_steps=total_steps - warmup_steps, warmup_target=learning_rate,
                                     warmup_steps=warmup_steps)
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
