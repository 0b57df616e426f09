"""The one generic training path: resolve optimizer, schedule, loss and metrics by name, attach
callbacks, fit, evaluate on the test split, and return a ``Result``."""

from __future__ import annotations

import contextlib
import copy
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras

from callbacks import DEFAULT as DEFAULT_CALLBACKS
from callbacks import AveragedWeightsSwap, RunBackup, build_callbacks, with_backup_last
from recipes.data import Data, as_data
from recipes.data.pipeline import without_autotuning
from recipes.errors import ConfigError
from recipes.training import distribute
from recipes.training.losses import with_label_smoothing
from recipes.training.optimizers import learning_rate_schedule, make_optimizer

log = logging.getLogger("keras_recipes")


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

    class_names: tuple[str, ...] = ()

    def __repr__(self) -> str:
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in self.test_metrics.items())
        return f"Result({metrics}, export_path={str(self.export_path) if self.export_path else None})"


def steps_per_epoch(train) -> int:
    """Batches per pass over ``train``: a ``tf.data`` dataset's cardinality (counted once when it is
    unknown) or a ``PyDataset``'s length."""
    if isinstance(train, keras.utils.PyDataset):
        return len(train)
    steps = int(train.cardinality())
    if steps == -1:  # infinite
        raise ConfigError("the training dataset repeats forever, so an epoch has no end; drop its .repeat(), "
                          "or give the pipeline a length with tf.data.experimental.assert_cardinality(steps)")
    if steps < 0:
        log.info("the training dataset's length is unknown; counting its batches once")
        steps = int(train.reduce(0, lambda count, _: count + 1))
    return steps


def discard_backup(run_dir) -> None:
    """Delete the training backup under ``run_dir``, once the run it protects has finished."""
    RunBackup(Path(run_dir) / "backup").discard()


def compile_model(model: keras.Model, data, *, optimizer: str | keras.optimizers.Optimizer = "adam",
                  learning_rate: float = 1e-3, schedule: str = "constant", weight_decay: float | None = None,
                  optimizer_options: dict | None = None, loss="sparse_categorical_crossentropy",
                  metrics=("accuracy",), epochs: int = 10, loss_weights=None, label_smoothing: float = 0.0) -> None:
    """Compile ``model`` with an optimizer resolved by name whose ``schedule`` spans ``epochs``
    passes over ``data.train``; ``optimizer_options`` go to the optimizer class (``beta_1=0.5``),
    ``loss_weights`` to ``model.compile``. ``label_smoothing`` smooths a categorical
    cross-entropy named by ``loss`` (``recipes.training.losses.with_label_smoothing``)."""
    if isinstance(optimizer, str):
        steps = steps_per_epoch(data.train) if schedule != "constant" else 1
        rate = learning_rate_schedule(schedule, learning_rate, steps_per_epoch=steps, epochs=epochs)
        optimizer = make_optimizer(optimizer, rate, weight_decay=weight_decay, **(optimizer_options or {}))
    loss = with_label_smoothing(loss, label_smoothing)
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics), loss_weights=loss_weights)


def in_strategy_scope(model: keras.Model, strategy) -> keras.Model:
    """``model`` if it was built under ``strategy.scope()``, else a copy built there with the same
    weights (``keras.models.clone_model``): a strategy mirrors only the variables made in its scope."""
    if getattr(model, "_distribute_strategy", None) is strategy:
        return model
    try:
        with strategy.scope():
            copy = keras.models.clone_model(model)
            copy.set_weights(model.get_weights())
    except Exception as error:  # noqa: BLE001 - any failure to rebuild has the same remedy
        raise ConfigError(f"this model could not be rebuilt under the {distribute.strategy_name(strategy)} "
                          f"({type(error).__name__}: {error}); build it inside `with strategy.scope():` "
                          "and pass that strategy") from error
    log.info("rebuilt the model under %s with its weights", distribute.strategy_name(strategy))
    return copy


def _batched_by_caller(data) -> bool:
    """Whether ``data`` (or its first part) is a dataset or ``PyDataset`` that comes in batches of its own."""
    first = data[0] if isinstance(data, tuple) and data and not hasattr(data[0], "shape") else data
    return isinstance(first, keras.utils.PyDataset) or hasattr(first, "element_spec")


def _named_callbacks(spec: dict, run_dir, private_dir: Path | None) -> list:
    """The callbacks ``spec`` names, writing under ``run_dir``; for a non-chief worker
    (``private_dir`` given) they write there instead, and its backup restores from the chief's
    folder without writing to it."""
    if not spec:
        return []
    if private_dir is None:
        return build_callbacks(spec, run_dir)
    built = build_callbacks({k: v for k, v in spec.items() if k != "backup"}, private_dir)
    if spec.get("backup") is not None:
        built.append(RunBackup(Path(run_dir) / "backup", read_only=True, **(spec["backup"] or {})))
    return built


def _averages_weights(optimizer) -> bool:
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer wraps the real one
    return bool(getattr(inner, "use_ema", False))


def compile_and_fit(model: keras.Model, data, *, optimizer: str | keras.optimizers.Optimizer = "adam",
                    learning_rate: float = 1e-3, schedule: str = "constant",
                    weight_decay: float | None = None, optimizer_options: dict | None = None,
                    loss="sparse_categorical_crossentropy", metrics=("accuracy",), epochs: int = 10,
                    callbacks=None, extra_callbacks=(), run_dir=None, verbose="auto", batch_size: int = 128,
                    validation_split: float = 0.1, seed: int | None = None, keep_backup: bool = False,
                    deterministic: bool = False, loss_weights=None, strategy=None,
                    label_smoothing: float = 0.0, tf_data_autotune: bool = False) -> Result:
    """Compile ``model``, fit it on ``data.train`` (validating on ``data.validation``), evaluate on
    ``data.test`` and return a ``Result``.

    ``data`` is a ``recipes.data.Data``, or anything ``recipes.data.as_data`` takes: numpy
    ``(x, y)``, a ``tf.data.Dataset``, a ``keras.utils.PyDataset``, a ``(train, validation[,
    test])`` tuple of them, a dataset name or an image folder. ``batch_size`` and ``validation_split``
    apply to those (a validation split is carved by ``seed`` where none is given).
    Without a test split, ``test_metrics`` is empty.

    ``label_smoothing`` (0 to below 1) smooths the cross-entropy ``loss`` names (see
    ``compile_model``).

    ``callbacks`` maps callback names to options (see ``callbacks.FACTORIES``; None: the default
    set, ``callbacks.DEFAULT``); those write under ``run_dir``. ``extra_callbacks`` are your own
    ``keras.callbacks.Callback`` objects. An optimizer that keeps a moving average of the weights
    (``optimizer_options={"use_ema": True}``) adds ``swap_ema_weights``: validation, early
    stopping and checkpoints then judge the averaged weights, which the model keeps.

    ``seed`` seeds what this call runs: ``keras.utils.set_random_seed(seed)`` comes first (Python,
    NumPy, TensorFlow and Keras's global seed generator, which unseeded random ops drawn during
    training use), and a validation split is carved with it. None leaves the global random state
    as the caller set it (``recipes.run`` seeds it with the recipe's seed before building the
    model) and carves with seed 0. Keras layers and initializers (``Dropout``, the ``Random*``
    augmentation layers, the initial weights) take their seeds when they are created, so seed
    before building ``model`` as well.

    ``strategy`` trains under a ``tf.distribute`` strategy: a strategy object, ``"mirrored"``
    (this machine's devices) or ``"multi_worker"`` (the cluster in ``TF_CONFIG``); see
    ``recipes.training.distribute``. ``batch_size`` is then per replica and, when this call
    batches the data itself, the global batch and the learning rate grow with the replicas (the
    linear scaling rule); data you batched keeps its batches. A model built outside
    ``strategy.scope()`` is rebuilt inside it with the same weights. Under ``multi_worker`` the
    data is sharded element by element, and only the chief writes to ``run_dir``: the other
    workers resume from its backup and write their files to a temporary folder.

    ``tf_data_autotune=False`` turns tf.data's autotuning off for the three splits
    (``recipes.data.pipeline.without_autotuning``): its thread stalled every epoch's start by
    seconds on a small CPU. Pass True for a pipeline whose parallelism it should tune.

    ``deterministic=True`` also calls ``tf.config.experimental.enable_op_determinism()``, so two
    runs with the same seed, data and freshly built model give identical metrics (a test shows
    it), at some cost in speed, most on a GPU. The switch is process-global and TensorFlow has no
    public call to undo it: every later TensorFlow op in this process runs deterministically too,
    and one without a deterministic implementation raises an error. Use it in a process of its
    own where that matters.

    With the ``backup`` callback (on by default), a call that was killed resumes where it left
    off when made again with the same ``run_dir``: from its last completed epoch, or, when
    training had ended, straight at the evaluation. The backup is deleted when this call returns,
    unless ``keep_backup=True`` (``recipes.run`` keeps it until the export is written too, then
    calls ``discard_backup(run_dir)``).
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    strategy = distribute.make_strategy(strategy)
    if strategy is not None:
        model = in_strategy_scope(model, strategy)
        if not isinstance(data, Data) and not _batched_by_caller(data):
            replicas = strategy.num_replicas_in_sync
            batch_size, learning_rate = distribute.scaled_for_replicas(batch_size, learning_rate, replicas)
            log.info("%d replicas in sync: global batch %d, learning rate %g (both x %d)", replicas, batch_size,
                     learning_rate, replicas)
    if not isinstance(data, Data):
        data = as_data(data, batch_size=batch_size, validation_split=validation_split,
                       seed=0 if seed is None else seed)
    data = copy.copy(data)  # the splits below are replaced in this call's copy, not in the caller's Data
    if not tf_data_autotune:
        for split in ("train", "validation", "test"):
            setattr(data, split, without_autotuning(getattr(data, split)))
    multi_worker = strategy is not None and distribute.is_multi_worker(strategy)
    if multi_worker:
        for split in ("train", "validation", "test"):
            setattr(data, split, distribute.sharded_by_data(getattr(data, split)))
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        compile_model(model, data, optimizer=optimizer, learning_rate=learning_rate, schedule=schedule,
                      weight_decay=weight_decay, optimizer_options=optimizer_options, loss=loss, metrics=metrics,
                      epochs=epochs, loss_weights=loss_weights, label_smoothing=label_smoothing)

    spec = dict(DEFAULT_CALLBACKS if callbacks is None else callbacks)
    if data.validation is None:
        spec = {k: v for k, v in spec.items() if k not in ("early_stopping", "checkpoint")}
    if run_dir is None and spec:
        raise ConfigError("compile_and_fit: named callbacks write files; pass run_dir=... or callbacks={}")
    chief = not multi_worker or distribute.worker_role().is_chief
    private_dir = None if chief or not spec else Path(tempfile.mkdtemp(prefix="keras-recipes-worker-"))
    try:
        if spec.get("swap_ema_weights") is not None and not _averages_weights(model.optimizer):
            raise ConfigError("the swap_ema_weights callback needs an optimizer that keeps a moving average of the "
                              'weights: add optimizer_options={"use_ema": True}, or drop the callback')
        swap = [AveragedWeightsSwap()] if _averages_weights(model.optimizer) and "swap_ema_weights" not in spec else []
        attached = with_backup_last(swap + _named_callbacks(spec, run_dir, private_dir) + list(extra_callbacks))
        backup = next((callback for callback in attached if isinstance(callback, RunBackup)), None)

        started = time.perf_counter()
        fitted = model.fit(data.train, validation_data=data.validation, epochs=epochs,
                           callbacks=attached, verbose=verbose, shuffle=False)  # data.train shuffles itself
        fit_seconds = time.perf_counter() - started
        history = backup.history if backup else fitted.history
        if backup:
            fit_seconds += backup.fit_seconds_before

        started = time.perf_counter()
        if data.test is not None:
            log.info("evaluating on the test split")
            test_metrics = model.evaluate(data.test, return_dict=True, verbose=0)
        else:
            test_metrics = {}
            log.info("no test split: nothing was tested; give (train, validation, test) to measure on held-out data")
        evaluate_seconds = time.perf_counter() - started
    finally:
        if private_dir is not None:
            shutil.rmtree(private_dir, ignore_errors=True)

    if backup and not keep_backup:
        backup.discard()
    epochs_run = len(next(iter(history.values()), []))
    run_dir = Path(run_dir) if run_dir else None
    return Result(
        model=model,
        history={k: [float(v) for v in values] for k, values in history.items()},
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
        class_names=tuple(data.info.class_names),
    )
