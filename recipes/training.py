"""The one generic training path: resolve optimizer, schedule, loss and metrics by name, attach
callbacks, fit, evaluate on the test split, and return a ``Result``."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras

from callbacks import build_callbacks
from recipes.config import DEFAULT_CALLBACKS
from recipes.errors import ConfigError

log = logging.getLogger("keras_recipes")

# name -> (Keras optimizer class name, fixed settings)
OPTIMIZERS = {
    "sgd": ("SGD", {}),
    "sgd+momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", {}),
    "rmsprop": ("RMSprop", {}),
    "adam": ("Adam", {}),
    "adam_beta1_0.5": ("Adam", {"beta_1": 0.5}),  # the DCGAN paper's setting
    "nadam": ("Nadam", {}),
    "adamw": ("AdamW", {}),
}
SCHEDULES = ("constant", "cosine", "step", "exponential")


@dataclass
class Result:
    """What a training run produced and where it wrote things."""

    model: keras.Model
    history: dict[str, list[float]]
    test_metrics: dict[str, float]
    timings: dict[str, float]
    run_dir: Path | None
    checkpoint_path: Path | None = None
    log_dir: Path | None = None
    plots: list[Path] = field(default_factory=list)
    export_path: Path | None = None
    recipe: object | None = None

    def __repr__(self) -> str:
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in self.test_metrics.items())
        return f"Result({metrics}, export_path={str(self.export_path) if self.export_path else None})"


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
    """A Keras optimizer by name (see ``OPTIMIZERS``); ``learning_rate`` may be a schedule."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    class_name, fixed = OPTIMIZERS[name]
    config = {**fixed, **options, "learning_rate": learning_rate}
    if weight_decay:
        config["weight_decay"] = weight_decay
    optimizer_class = getattr(keras.optimizers, class_name)
    return optimizer_class(**config)


def compile_model(model: keras.Model, data, *, optimizer: str | keras.optimizers.Optimizer = "adam",
                  learning_rate: float = 1e-3, schedule: str = "constant", weight_decay: float | None = None,
                  loss="sparse_categorical_crossentropy", metrics=("accuracy",), epochs: int = 10) -> None:
    """Compile ``model`` with an optimizer resolved by name whose ``schedule`` spans ``epochs``
    passes over ``data.train``."""
    steps_per_epoch = int(data.train.cardinality())
    if steps_per_epoch < 0 and schedule != "constant":
        raise ConfigError(
            f"schedule {schedule!r} needs the number of steps per epoch, but data.train has unknown "
            "length; use schedule='constant', or give the pipeline a known length "
            "(tf.data.experimental.assert_cardinality)"
        )
    if isinstance(optimizer, str):
        rate = learning_rate_schedule(schedule, learning_rate, steps_per_epoch=steps_per_epoch, epochs=epochs)
        optimizer = make_optimizer(optimizer, rate, weight_decay=weight_decay)
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))


def compile_and_fit(model: keras.Model, data, *, optimizer: str | keras.optimizers.Optimizer = "adam",
                    learning_rate: float = 1e-3, schedule: str = "constant",
                    weight_decay: float | None = None, loss="sparse_categorical_crossentropy",
                    metrics=("accuracy",), epochs: int = 10, callbacks=None,
                    extra_callbacks=(), run_dir=None, verbose="auto") -> Result:
    """Compile ``model``, fit it on ``data.train`` (validating on ``data.validation``), evaluate on
    ``data.test`` and return a ``Result``.

    ``callbacks`` maps callback names to options (see ``callbacks.FACTORIES``); those write under
    ``run_dir``. ``extra_callbacks`` are your own ``keras.callbacks.Callback`` objects.
    """
    compile_model(model, data, optimizer=optimizer, learning_rate=learning_rate, schedule=schedule,
                  weight_decay=weight_decay, loss=loss, metrics=metrics, epochs=epochs)

    spec = dict(DEFAULT_CALLBACKS if callbacks is None else callbacks)
    if data.validation is None:
        spec = {k: v for k, v in spec.items() if k not in ("early_stopping", "checkpoint")}
    if run_dir is None and spec:
        raise ConfigError("compile_and_fit: named callbacks write files; pass run_dir=... or callbacks={}")
    attached = (build_callbacks(spec, run_dir) if spec else []) + list(extra_callbacks)

    started = time.perf_counter()
    history = model.fit(data.train, validation_data=data.validation, epochs=epochs,
                        callbacks=attached, verbose=verbose, shuffle=False)  # data.train shuffles itself
    fit_seconds = time.perf_counter() - started

    started = time.perf_counter()
    test_metrics = model.evaluate(data.test, return_dict=True, verbose=0)
    evaluate_seconds = time.perf_counter() - started

    epochs_run = len(history.epoch)
    run_dir = Path(run_dir) if run_dir else None
    return Result(
        model=model,
        history={k: [float(v) for v in values] for k, values in history.history.items()},
        test_metrics={k: float(v) for k, v in test_metrics.items()},
        timings={
            "fit_seconds": fit_seconds,
            "evaluate_seconds": evaluate_seconds,
            "epochs_run": epochs_run,
            "train_examples_per_second": (data.info.num_train * epochs_run / fit_seconds) if fit_seconds else 0.0,
        },
        run_dir=run_dir,
        checkpoint_path=run_dir / "checkpoints" / "best.keras" if run_dir and "checkpoint" in spec else None,
        log_dir=run_dir / "tensorboard" if run_dir and "tensorboard" in spec else None,
    )
