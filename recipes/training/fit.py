"""The one generic training path: resolve optimizer, schedule, loss and metrics by name, attach
callbacks, fit, evaluate on the test split, and return a ``Result``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import keras

from callbacks import DEFAULT as DEFAULT_CALLBACKS
from callbacks import build_callbacks
from recipes.errors import ConfigError
from recipes.training.optimizers import learning_rate_schedule, make_optimizer


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


def compile_model(model: keras.Model, data, *, optimizer: str | keras.optimizers.Optimizer = "adam",
                  learning_rate: float = 1e-3, schedule: str = "constant", weight_decay: float | None = None,
                  optimizer_options: dict | None = None, loss="sparse_categorical_crossentropy",
                  metrics=("accuracy",), epochs: int = 10) -> None:
    """Compile ``model`` with an optimizer resolved by name whose ``schedule`` spans ``epochs``
    passes over ``data.train``; ``optimizer_options`` go to the optimizer class (``beta_1=0.5``)."""
    steps_per_epoch = int(data.train.cardinality())
    if steps_per_epoch < 0 and schedule != "constant":
        raise ConfigError(
            f"schedule {schedule!r} needs the number of steps per epoch, but data.train has unknown "
            "length; use schedule='constant', or give the pipeline a known length "
            "(tf.data.experimental.assert_cardinality)"
        )
    if isinstance(optimizer, str):
        rate = learning_rate_schedule(schedule, learning_rate, steps_per_epoch=steps_per_epoch, epochs=epochs)
        optimizer = make_optimizer(optimizer, rate, weight_decay=weight_decay, **(optimizer_options or {}))
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))


def compile_and_fit(model: keras.Model, data, *, optimizer: str | keras.optimizers.Optimizer = "adam",
                    learning_rate: float = 1e-3, schedule: str = "constant",
                    weight_decay: float | None = None, optimizer_options: dict | None = None,
                    loss="sparse_categorical_crossentropy", metrics=("accuracy",), epochs: int = 10,
                    callbacks=None, extra_callbacks=(), run_dir=None, verbose="auto") -> Result:
    """Compile ``model``, fit it on ``data.train`` (validating on ``data.validation``), evaluate on
    ``data.test`` and return a ``Result``.

    ``callbacks`` maps callback names to options (see ``callbacks.FACTORIES``; None: the default
    set, ``callbacks.DEFAULT``); those write under ``run_dir``. ``extra_callbacks`` are your own
    ``keras.callbacks.Callback`` objects.
    """
    compile_model(model, data, optimizer=optimizer, learning_rate=learning_rate, schedule=schedule,
                  weight_decay=weight_decay, optimizer_options=optimizer_options, loss=loss, metrics=metrics,
                  epochs=epochs)

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
