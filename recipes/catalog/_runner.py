"""``run(name, **overrides)``: a named recipe through the same public pieces a script would use:
the task's data -> architecture builder -> ``compile_and_fit`` -> ``export``."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import keras

from recipes import saved_models, tasks
from recipes.data import accept_modified_data
from recipes.catalog._recipe import Recipe, get, with_overrides
from recipes.errors import ConfigError, ExportFailedError
from recipes.training import Result, compile_and_fit, discard_backup
from recipes.training import distribute as strategies
from recipes.training.precision import dtype_policy

log = logging.getLogger("keras_recipes")


def run(name: str | Recipe, *, data=None, target: str | None = None, image_size=None, color_mode: str | None = None,
        bad_files: str = "stop",
        data_dir=None, export_dir="saved_models", export: bool = True, export_name: str | None = None,
        work_dir="runs", extra_callbacks=(), verbose="auto", download: bool = True,
        extra_metadata: dict | None = None, accept_modified: bool = False, deterministic: bool = False,
        distribute=None, **overrides) -> Result:
    """Train, evaluate and (by default) export a named recipe; keyword overrides replace config
    fields, e.g. ``run("fashion_mnist_cnn", epochs=3, architecture_kwargs={"dropout": 0.3})``.

    ``data`` runs the recipe's training configuration on your own data instead of its dataset:
    a folder of class subfolders of images, numpy ``(x, y)``, a ``tf.data.Dataset``, a
    ``keras.utils.PyDataset`` or a ``(train, validation[, test])`` tuple of them
    (``recipes.data.as_data``), or for the tabular recipes a CSV file whose ``target`` column is
    the label; the architecture adapts to its input shape and classes. Images
    are resized to the recipe's input size and channels unless ``image_size`` (height, width) or
    ``color_mode`` say otherwise; ``bad_files="skip"`` leaves unreadable images out. The export is
    then named ``<recipe>_<data name>`` unless ``export_name`` is given.

    The recipe's own dataset files are checked against their published SHA-256 where they claim to
    be the release files; ``accept_modified=True`` trains on a modified copy on purpose.
    ``deterministic=True`` makes TensorFlow's ops deterministic for the rest of the process, so
    the same call gives the same metrics (see ``compile_and_fit``).

    ``distribute`` trains under a ``tf.distribute`` strategy: ``"mirrored"``, ``"multi_worker"``
    (the cluster in ``TF_CONFIG``) or a strategy object (``recipes.training.distribute``). The
    recipe's ``batch_size`` is per replica: the global batch and the learning rate are multiplied
    by the number of replicas in sync. Every worker runs this same call; only the chief writes the
    run folder and the export. The model is built under the recipe's ``precision``.

    Checkpoints, logs and plots go to ``<work_dir>/<name>/<config hash>/``. The run's state is
    kept there until the run has finished, export included: running the same call again after a
    crash resumes from the last completed epoch, or, when training had ended, goes straight on to
    the evaluation and the export, and never publishes a second version for the same run. The run
    folder and the export folder are checked for writing before any training. An export that fails
    later (a full disk) raises ``ExportFailedError``; the trained state stays in the run folder,
    and ``finish(run_dir)`` (``keras-recipes export RUN_DIR``) retries it. ``extra_metadata`` is
    added to the exported ``metadata.json`` and ``result.json``.
    """
    recipe = name if isinstance(name, Recipe) else get(name)
    recipe = with_overrides(recipe, overrides)
    strategy = strategies.make_strategy(distribute)  # before any TensorFlow op: multi_worker needs it so
    configured, recipe = recipe, _scaled_for(recipe, strategy)
    chief = strategy is None or not strategies.is_multi_worker(strategy) or strategies.worker_role().is_chief
    keras.utils.set_random_seed(recipe.seed)

    task = tasks.get(recipe.task)
    own_data, data_source = data is not None, data
    if not own_data:
        with accept_modified_data(accept_modified):
            data = task.load(recipe, data_dir=data_dir, download=download)
    else:
        data = task.load_user_data(recipe, tasks.UserData(data, target=target, image_size=image_size,
                                                           color_mode=color_mode, bad_files=bad_files))
    info = data.info
    log.info("%s: %s from %s (%d train / %d validation / %d test)", recipe.name, info.name,
             info.source, info.num_train, info.num_validation, info.num_test)
    with strategy.scope() if strategy is not None else contextlib.nullcontext(), \
            dtype_policy(recipe.precision) as policy:
        model = task.build(recipe, data)
    if policy != "float32":
        log.info("%s: built under the %s dtype policy", recipe.name, policy)
    run_dir = Path(work_dir) / recipe.name / _fingerprint(recipe, info, own_data=own_data)
    log.info("%s: %s, %s parameters; run folder %s", recipe.name, recipe.architecture,
             f"{model.count_params():,}", run_dir)
    if export and export_name is None:
        export_name = _safe_name(f"{recipe.name}_{info.name}") if own_data else recipe.name
    model_bytes = 4 * model.count_params()
    if chief:
        saved_models.ensure_writable(run_dir, what="run folder", change="choose another with --work-dir (work_dir=...)",
                                     needs_bytes=3 * model_bytes)
    if export and chief:
        model_dir = Path(export_dir) / export_name  # not created here: a server would list an empty model
        saved_models.ensure_writable(model_dir if model_dir.is_dir() else Path(export_dir), what="export folder",
                                     change="choose another with --export-dir (export_dir=...)",
                                     needs_bytes=2 * model_bytes)
    call = {
        "data": os.fspath(data_source) if isinstance(data_source, (str, os.PathLike)) else None,
        "data_in_memory": own_data and not isinstance(data_source, (str, os.PathLike)),
        "target": target, "image_size": list(image_size) if image_size else None, "color_mode": color_mode,
        "bad_files": bad_files, "accept_modified": accept_modified, "deterministic": deterministic,
        "data_dir": os.fspath(data_dir) if data_dir else None, "download": download,
        "export_dir": os.fspath(export_dir), "export": export, "export_name": export_name,
        "work_dir": os.fspath(work_dir), "distribute": distribute if isinstance(distribute, str) else None}
    run_id = _start_or_resume(run_dir, configured, call) if chief else None

    result = compile_and_fit(
        model, data, optimizer=recipe.optimizer, learning_rate=recipe.learning_rate,
        schedule=recipe.schedule, weight_decay=recipe.weight_decay, optimizer_options=recipe.optimizer_options,
        metrics=recipe.metrics, epochs=recipe.epochs, callbacks=recipe.callbacks,
        extra_callbacks=extra_callbacks, run_dir=run_dir, verbose=verbose, keep_backup=True,
        deterministic=deterministic, strategy=strategy,
        **{"loss": recipe.loss, **task.compile_options(recipe, data)},  # a task's own loss object replaces the name
    )
    result.recipe = recipe
    if not chief:  # a non-chief worker takes part in every collective step, and writes nothing
        private_dir = Path(tempfile.mkdtemp(prefix="keras-recipes-worker-"))
        try:
            context = tasks.RunContext(run_dir=private_dir, data_dir=data_dir, download=download)
            result.test_metrics.update(task.evaluate(recipe, model, data, context)[0])
        finally:
            shutil.rmtree(private_dir, ignore_errors=True)
        result.run_dir = None
        log.info("%s: %s finished; the chief writes the run folder and the export", recipe.name,
                 strategies.worker_role().label)
        return result

    def train_recipe(other: str) -> keras.Model:
        return run(other, data_dir=data_dir, download=download, export=False, work_dir=run_dir / "runs",
                   verbose=verbose, accept_modified=accept_modified).model

    context = tasks.RunContext(run_dir=run_dir, data_dir=data_dir, download=download, train_recipe=train_recipe)
    extra_metrics, result.plots = task.evaluate(recipe, model, data, context)
    result.test_metrics.update(extra_metrics)
    if (run_dir / "plots" / "training_curves.png").exists():
        result.plots.insert(0, run_dir / "plots" / "training_curves.png")

    summary = {
        "recipe": recipe.to_dict(),
        "dataset": {"name": info.name, "source": info.source, "num_train": info.num_train,
                    "num_validation": info.num_validation, "num_test": info.num_test,
                    "class_names": list(info.class_names)},
        "test_metrics": result.test_metrics,
        "expected": recipe.expected,
        "timings": result.timings,
        "precision": policy,
        **({"distribution": _described(strategy)} if strategy is not None else {}),
        **(extra_metadata or {}),
    }
    if export:
        result.export_path = _export_once(task, recipe, model, data, run_dir, run_id, export_dir=export_dir,
                                          name=export_name, metadata=summary)
    _write_atomically(run_dir / "result.json", json.dumps(
        {**summary, "export_path": str(result.export_path) if result.export_path else None}, indent=2, default=str))
    discard_backup(run_dir)  # the run has finished: a new call trains afresh
    return result


def finish(run_dir) -> Result:
    """Finish a run that stopped after training, such as one whose export failed on a full disk:
    the same ``run`` call again, read from ``<run_dir>/backup/run.json``. It skips training,
    evaluates and exports."""
    state_path = Path(run_dir) / "backup" / RUN_STATE
    try:
        state = json.loads(state_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{run_dir} holds no unfinished run ({state_path} is missing or unreadable); "
                          "a finished run has nothing left to export: run the recipe again") from error
    call = state["call"]
    if call.pop("data_in_memory"):
        raise ConfigError(f"{run_dir} trained on data given in memory, which the run folder does not keep; "
                          "call recipes.run(...) again with the same arguments and data: it skips training")
    recipe = Recipe(**state["recipe"])
    call["export"] = True
    return run(recipe, **call)


RUN_STATE = "run.json"


def _scaled_for(recipe: Recipe, strategy) -> Recipe:
    """``recipe`` with its batch size and learning rate scaled for the strategy's replicas."""
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if replicas == 1:
        return recipe
    batch_size, learning_rate = strategies.scaled_for_replicas(recipe.batch_size, recipe.learning_rate, replicas)
    log.info("%s: %d replicas in sync, so the global batch is %d (%d per replica) and the learning rate %g "
             "(%g x %d, the linear scaling rule)", recipe.name, replicas, batch_size, recipe.batch_size,
             learning_rate, recipe.learning_rate, replicas)
    return with_overrides(recipe, {"batch_size": batch_size, "learning_rate": learning_rate})


def _described(strategy) -> dict:
    role = strategies.worker_role()
    return {"strategy": strategies.strategy_name(strategy), "replicas_in_sync": strategy.num_replicas_in_sync,
            "workers": role.num_workers if strategies.is_multi_worker(strategy) else 1}


def _start_or_resume(run_dir: Path, recipe: Recipe, call: dict) -> str:
    """The id of the run in ``run_dir``: the unfinished run's, or a new one recorded with the call
    that started it (for ``finish``)."""
    state_path = run_dir / "backup" / RUN_STATE
    try:
        return json.loads(state_path.read_text())["run_id"]
    except (OSError, KeyError, json.JSONDecodeError):
        pass
    run_id = uuid.uuid4().hex
    state_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(state_path, json.dumps({"run_id": run_id, "recipe": dataclasses.asdict(recipe), "call": call},
                                             indent=2, default=str))
    return run_id


def _export_once(task, recipe, model, data, run_dir: Path, run_id: str, *, export_dir, name: str,
                 metadata: dict) -> Path:
    """Export unless this run already did before it was killed."""
    published = saved_models.version_for_run(Path(export_dir) / name, run_id)
    if published is not None:
        log.info("%s: already exported by this run before it stopped: %s", recipe.name, published)
        return published
    log.info("%s: exporting to %s", recipe.name, Path(export_dir) / name)
    try:
        path = task.export(recipe, model, data, export_dir=export_dir, metadata={**metadata, "run_id": run_id},
                           name=name)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error).splitlines()[0]
        raise ExportFailedError(f"export to {Path(export_dir) / name} failed ({reason}); the trained model is kept "
                                f"in {run_dir}: once there is room, retry with `keras-recipes export {run_dir}`"
                                ) from error
    log.info("%s: exported to %s", recipe.name, path)
    return path


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    partial.replace(path)


def _fingerprint(recipe: Recipe, info, *, own_data: bool) -> str:
    """The run folder's name: the recipe's hash, and on your own data also the data's, so that a
    run resumes only on the data it started on."""
    if not own_data:
        return recipe.fingerprint()
    described = json.dumps([recipe.fingerprint(), info.source, info.num_train, info.num_validation, info.num_test,
                            list(info.input_shape) if isinstance(info.input_shape, tuple) else str(info.input_shape),
                            list(info.class_names)], default=str)
    return hashlib.sha256(described.encode()).hexdigest()[:10]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-") or "model"
