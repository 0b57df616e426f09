"""``run_server(workers=N)``: N server processes behind one REST port (and one gRPC port).

One event loop saturates near one core, and while it waits for TensorFlow it sits idle; several
processes keep the machine's cores busy. Each worker is a fresh interpreter (``spawn``: TensorFlow
does not survive ``fork``) that loads the models itself, polls for new versions itself and, with
``--batching``, batches its own requests; its metrics count its own requests. Each worker's
TensorFlow gets its share of the cores (``TF_NUM_INTRAOP_THREADS`` and ``TF_NUM_INTEROP_THREADS``,
unless they are set): cores // N threads.

The ports are checked here, in the parent, before any worker starts, so a port in use fails at
once with ``AddressInUseError``, as with one process. Then each worker gets its own REST socket,
bound with ``SO_REUSEPORT`` to the same port, so the kernel spreads new connections over them
(one shared socket would let whichever worker wakes first accept a burst of connections); each
worker's gRPC server binds the gRPC port the same way. A port shared this way is refused to any
other program that does not itself ask for ``SO_REUSEPORT``, as every ordinary server (and a
second ``keras-recipes serve``, whose check binds without it) does not.

What one worker is told, only it hears: a gRPC ``HandleReloadConfigRequest`` reloads the models
of the worker that answers it (with workers, change the config file and let each worker poll it,
``--model_config_file_poll_wait_seconds``), and a metrics scrape counts one worker's requests.
Linux spreads connections over the workers; other systems' SO_REUSEPORT may not.

The parent only supervises: SIGTERM or Ctrl+C stops every worker gracefully; a worker that exits
on its own (a model that fails to load, a crash) stops the others, and ``run_server`` raises.
A worker whose parent is gone (killed) stops itself.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import socket
import sys
import threading
import time

from recipes.errors import RecipeError

log = logging.getLogger("keras_recipes.serve")

WORKERS_ENV = "WEB_CONCURRENCY"  # uvicorn's and gunicorn's default for their --workers
TF_THREADS_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
STOP_SECONDS = 30.0  # how long a stopping worker may take before it is killed
_SYNC_TYPES = {"Lock": type(threading.Lock()), "RLock": type(threading.RLock()), "Event": threading.Event,
               "Condition": threading.Condition}  # a repository's, made afresh in each worker


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def tensorflow_threads(workers: int) -> int:
    """TensorFlow threads (intra- and inter-op) for each of ``workers`` processes: their share of
    the cores. TensorFlow's default, every core for every process, oversubscribes the cores N times
    over, and its idle threads spin."""
    return max(1, usable_cores() // workers)


class WorkerError(RecipeError):
    """A worker process exited while the server was running (its log says why)."""


def default_workers() -> int:
    """``$WEB_CONCURRENCY`` (as uvicorn reads it for ``--workers``), else 1."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if not value:
        return 1
    try:
        count = int(value)
    except ValueError:
        raise RecipeError(f"{WORKERS_ENV} must be a whole number of server processes, got {value!r}") from None
    return check_workers(count)


def check_workers(count) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise RecipeError(f"workers must be a whole number of server processes, at least 1; got {count!r}")
    if count > 1 and not hasattr(socket, "SO_REUSEPORT"):
        raise RecipeError("several server processes (workers) share a port with SO_REUSEPORT, which this "
                          "system lacks; serve with one")
    return count


def reuse_port_sockets(host: str, ports: list[int], count: int) -> list[list[socket.socket]]:
    """``count`` sets of bound sockets, one set per worker, on ``ports`` (one per address ``host``
    resolves to, as the parent's check bound them), all with ``SO_REUSEPORT``."""
    from recipes.serve.server import bind_sockets

    sets: list[list[socket.socket]] = []
    try:
        for _ in range(count):
            sets.append(bind_sockets(host, ports[0], reuse_port=True, ports=ports))
    except BaseException:
        _close(sets)
        raise
    return sets


# --- what travels to a worker ------------------------------------------------------------------

def _reduce_repository(repository):
    """Pickle a ModelRepository that has not started: its settings, without its locks; the worker
    rebuilds the same repository and loads the models itself."""
    if getattr(repository, "_thread", None) is not None or repository.names():
        raise RecipeError("run_server(workers=N) takes a ModelRepository that has not started; "
                          "each worker loads the models itself")
    state, fresh = {}, {}
    for key, value in vars(repository).items():
        kind = next((name for name, kind in _SYNC_TYPES.items() if isinstance(value, kind)), None)
        if kind is None:
            state[key] = value
        else:
            fresh[key] = kind
    return _rebuild, (type(repository), state, fresh)


def _rebuild(cls, state: dict, fresh: dict):
    repository = cls.__new__(cls)
    repository.__dict__.update(state)
    for key, kind in fresh.items():
        setattr(repository, key, getattr(threading, kind)())
    return repository


def _logging_setup() -> tuple[int, str | None, bool]:
    """The parent's root log level and format, and whether it had quieted TensorFlow (the CLI does)."""
    root = logging.getLogger()
    formats = [handler.formatter._fmt for handler in root.handlers if handler.formatter is not None]
    quiet = "tensorflow" in sys.modules and logging.getLogger("tensorflow").level >= logging.WARNING
    return root.level, (formats[0] if formats else None), quiet


# --- the worker --------------------------------------------------------------------------------

def _quiet_tensorflow() -> None:
    """Import TensorFlow and probe its devices with stderr silenced, as the CLI does before serving
    (``recipes.logs``, which this package may not import); Python errors still propagate."""
    import absl.logging

    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tf.get_logger().setLevel(logging.WARNING)
    absl.logging.set_verbosity(absl.logging.WARNING)


def _watch_parent(parent: int) -> None:
    """Stop this worker (as SIGTERM does) once its parent is gone."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _worker(index: int, sockets: list[socket.socket], host: str, grpc_port: int | None, app_options: dict,
            logging_setup: tuple[int, str | None, bool], parent: int, threads: int) -> None:
    level, format_, quiet = logging_setup
    if format_ is not None:
        logging.basicConfig(level=level, format=f"[worker {index}] {format_}")
    if quiet:
        _quiet_tensorflow()
    with contextlib.suppress(OSError):
        os.setpgrp()  # Ctrl+C reaches the parent only, which stops the workers once, gracefully
    for variable in TF_THREADS_ENV:  # before TensorFlow is imported; a setting of the user's wins
        os.environ.setdefault(variable, str(threads))
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()

    from recipes.serve.app import create_app
    from recipes.serve.server import serve_app

    app = create_app(**app_options, grpc_port=grpc_port, grpc_host=host, grpc_reuse_port=True)
    serve_app(app, host, sockets, grpc_port=grpc_port)


# --- the parent --------------------------------------------------------------------------------

def serve_workers(count: int, socket_sets: list[list[socket.socket]], host: str, grpc_port: int | None,
                  app_options: dict) -> None:
    """Start one worker per socket set and supervise them until a signal or a worker's exit."""
    from multiprocessing.reduction import ForkingPickler

    from recipes.serve.repository import ModelRepository

    ForkingPickler.register(ModelRepository, _reduce_repository)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker, name=f"keras-recipes-serve-{index}", daemon=False,
                                 args=(index, sockets, host, grpc_port, app_options, _logging_setup(), os.getpid(),
                                       tensorflow_threads(count)))
                 for index, sockets in enumerate(socket_sets)]
    signalled = threading.Event()

    def stop_all() -> None:
        for process in processes:
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(OSError):
                    os.kill(process.pid, signal.SIGTERM)  # uvicorn's graceful shutdown

    def on_signal(*_) -> None:
        signalled.set()
        stop_all()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    exited: list[tuple[int, int]] = []
    try:
        for process in processes:
            try:
                process.start()
            except (pickle.PicklingError, TypeError, AttributeError) as error:
                raise RecipeError(f"run_server(workers={count}): the app options must pickle, to reach each "
                                  f"worker process ({error})") from None
        _close(socket_sets)  # the workers have their own copies
        log.info("%d server processes (workers), pids %s", count, ", ".join(str(p.pid) for p in processes))
        while not signalled.is_set() and not exited:
            multiprocessing.connection.wait([p.sentinel for p in processes], timeout=1.0)
            exited = [(index, p.exitcode) for index, p in enumerate(processes) if p.exitcode is not None]
    finally:
        _close(socket_sets)
        stop_all()
        deadline = time.monotonic() + STOP_SECONDS
        for process in processes:
            if process.pid is not None:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.exitcode is None:
                    process.kill()
                    process.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if exited and not signalled.is_set():
        index, code = exited[0]
        raise WorkerError(f"server worker {index} exited with status {code} (see its log above); "
                          "the other workers were stopped")


def _close(socket_sets: list[list[socket.socket]]) -> None:
    for sock in (sock for sockets in socket_sets for sock in sockets):
        sock.close()
