"""Distributed training on TensorFlow's own strategies: ``MirroredStrategy`` over this machine's
devices, ``MultiWorkerMirroredStrategy`` across processes or machines (configured by
``TF_CONFIG``), and ``launch_workers``, which starts N local workers on 127.0.0.1 to try it out.

The scaling rule: a recipe's ``batch_size`` is the batch of one replica. Under a strategy of R
replicas in sync the global batch is ``batch_size * R``, and the learning rate is multiplied by
R as well (the linear scaling rule of Goyal et al. 2017, arXiv:1706.02677), so each example
moves the weights as much as it does in one process. ``scaled_for_replicas`` applies it.

Only the chief writes: the run folder, its plots and logs, the backup and the export. The other
workers write their callbacks' files to a private temporary folder, and resume from the chief's
backup, which is why several machines need a shared file system for the run folder (README).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from recipes.errors import ConfigError

log = logging.getLogger("keras_recipes")

STRATEGIES = ("mirrored", "multi_worker")


@dataclass(frozen=True)
class WorkerRole:
    """This process's place in ``TF_CONFIG``'s cluster (one worker, the chief, when it is unset)."""

    task_type: str = "worker"
    task_index: int = 0
    num_workers: int = 1

    @property
    def is_chief(self) -> bool:
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_index == 0
                                             and not self._has_chief)

    _has_chief: bool = False

    @property
    def label(self) -> str:
        return "chief" if self.is_chief else f"{self.task_type}{self.task_index}"


def worker_role() -> WorkerRole:
    """This process's role, read from ``TF_CONFIG``; a clear error names what is wrong with it."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return WorkerRole()
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        task_type, task_index = str(task["type"]), int(task["index"])
        members = {kind: list(addresses) for kind, addresses in cluster.items()}
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"TF_CONFIG is not a valid cluster description ({type(error).__name__}: {error}); "
                          'expected {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
                          '"index": 0}}') from None
    if task_type not in members or not 0 <= task_index < len(members[task_type]):
        raise ConfigError(f"TF_CONFIG's task {task_type}:{task_index} is not in its cluster {members}")
    workers = len(members.get("chief", [])) + len(members.get("worker", []))
    return WorkerRole(task_type, task_index, workers, _has_chief="chief" in members)


def make_strategy(distribute):
    """A ``tf.distribute`` strategy for ``distribute``: None (none), a strategy object (used as
    it is), ``"mirrored"`` (this machine's GPUs, or its logical CPU devices when it has no GPU)
    or ``"multi_worker"`` (every worker in ``TF_CONFIG``; one worker when it is unset).

    Create it before anything else runs TensorFlow ops: ``MultiWorkerMirroredStrategy`` sets up
    its collective communication when it is made.
    """
    if distribute is None:
        return None
    import tensorflow as tf

    if isinstance(distribute, tf.distribute.Strategy):
        strategy = distribute
    elif distribute == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
    elif distribute == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            log.info("multi_worker: TF_CONFIG is not set, so this process is a cluster of one worker; "
                     "`keras-recipes run NAME --workers N` starts N local workers")
        worker_role()  # a malformed TF_CONFIG fails here with a clear message
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        raise ConfigError(f"unknown distribution strategy {distribute!r}; choose one of {', '.join(STRATEGIES)}. "
                          f"Received: distribute={distribute!r}")
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _repair_keras_multi_worker()
    return strategy


def is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and worker_role().num_workers > 1


def strategy_name(strategy) -> str:
    """The public class name (``MultiWorkerMirroredStrategy``, not its ``CollectiveAllReduceStrategy`` base)."""
    import tensorflow as tf

    for public, name in ((tf.distribute.MultiWorkerMirroredStrategy, "MultiWorkerMirroredStrategy"),
                         (tf.distribute.MirroredStrategy, "MirroredStrategy")):
        if isinstance(strategy, public):
            return name
    return type(strategy).__name__


def scaled_for_replicas(batch_size: int, learning_rate: float, replicas: int) -> tuple[int, float]:
    """``(global batch, learning rate)`` for ``replicas`` replicas in sync: both times ``replicas``."""
    return batch_size * replicas, learning_rate * replicas


def sharded_by_data(dataset):
    """``dataset`` split across workers element by element (``AutoShardPolicy.DATA``): the policy
    for in-memory data, which has no files to split. Other inputs pass through unchanged."""
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


_repaired = False


def _repair_keras_multi_worker() -> None:
    """Work around two bugs in Keras 3's TensorFlow trainer under ``MultiWorkerMirroredStrategy``
    (keras-team/keras#20585, tensorflow/tensorflow#72388: every ``fit`` fails):

    - each step's scalar losses and metrics are averaged across workers with ``axis=0``, which a
      scalar does not have ("Invalid reduction dimension 0"); here they are averaged as scalars.
      The epoch's logs are read from the metric variables, which sum over all workers.
    - the symbolic build averages the first input batch across workers eagerly, which
      ``MultiWorkerMirroredStrategy`` cannot do outside a function; the build needs only the
      batch's shapes, so it takes this worker's own part of the batch.
    """
    global _repaired
    if _repaired:
        return
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    keras_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return keras_reduce(values, strategy, reduction)

    def local_part(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return tf.distribute.get_strategy().experimental_local_results(value)[0]
        return value

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                with self.distribute_strategy.scope():
                    data_batch = tf.nest.map_structure(local_part, next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    _repaired = True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def local_cluster(workers: int, host: str = "127.0.0.1") -> list[str]:
    return [f"{host}:{free_port(host)}" for _ in range(workers)]


def launch_workers(argv: list[str], *, workers: int, log_dir, host: str = "127.0.0.1",
                   timeout: float | None = None) -> int:
    """Run ``keras-recipes ARGV`` as ``workers`` processes of one ``MultiWorkerMirroredStrategy``
    cluster on this machine; returns 0 when every worker succeeded.

    Each worker gets its own ``TF_CONFIG`` (worker 0 is the chief). The chief's output comes
    through here; the others' goes to ``<log_dir>/worker<i>.log``. When a worker fails or is
    killed, the others are stopped (they would wait for it forever) and the exit status is the
    failed worker's: running the same command again resumes from the chief's last backup.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1. Received: {workers}")
    cluster = local_cluster(workers, host)
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    processes, logs = [], []
    try:
        for index in range(workers):
            environment = {**os.environ, "TF_CONFIG": json.dumps(
                {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}})}
            if index == 0:
                output = None
            else:
                output = open(log_dir / f"worker{index}.log", "w")  # noqa: SIM115 - closed below
                logs.append(output)
            processes.append(subprocess.Popen([sys.executable, "-m", "recipes.cli", *argv], env=environment,
                                              stdout=output, stderr=subprocess.STDOUT if output else None))
        log.info("started %d workers on %s (the chief's output follows; the others' is in %s)",
                 workers, ", ".join(cluster), log_dir)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            codes = [process.poll() for process in processes]
            failed = [index for index, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                index = failed[0]
                where = "its output is above" if index == 0 else f"see {log_dir / f'worker{index}.log'}"
                print(f"keras-recipes: worker {index} exited with status {codes[index]} ({where}); stopping the "
                      "others. Run the same command again to resume from the last backup.", file=sys.stderr)
                return codes[index] if codes[index] > 0 else 1
            if all(code == 0 for code in codes):
                return 0
            if deadline is not None and time.monotonic() > deadline:
                print(f"keras-recipes: the workers did not finish within {timeout:.0f} s; stopping them",
                      file=sys.stderr)
                return 1
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for output in logs:
            output.close()
