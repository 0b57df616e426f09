"""keras-tuner's distributed mode: a chief (the oracle) and workers, started on one machine by
``launch_distributed`` or by hand on several, configured by keras-tuner's environment variables."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

from recipes.errors import ConfigError, TuningError
from recipes.training.distribute import free_port

log = logging.getLogger("keras_recipes")


def distributed_role() -> str | None:
    """None when not distributed, else "chief" or "worker" (keras-tuner's environment variables)."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if v not in os.environ]
    if missing:
        raise ConfigError(f"KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} is not; set all three "
                          "(see README, distributed tuning)")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def launch_distributed(recipe_name: str, *, workers: int = 2, host: str = "127.0.0.1", port: int | None = None,
                       timeout: float | None = None, **tune_kwargs) -> int:
    """Run one search as keras-tuner's chief (the oracle, which also retrains and exports the
    winner) plus ``workers`` worker processes on this machine; returns the chief's exit status.

    Every process runs ``tune(recipe_name, **tune_kwargs)`` with keras-tuner's environment
    variables set. On several machines, start the same processes yourself (README).
    """
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    port = port or free_port(host)
    arguments = json.dumps({"recipe_name": recipe_name, **tune_kwargs}, default=str)
    processes = {}
    try:
        for tuner_id in ["chief", *(f"worker{i}" for i in range(1, workers + 1))]:
            environment = {**os.environ, "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": host,
                           "KERASTUNER_ORACLE_PORT": str(port)}
            processes[tuner_id] = subprocess.Popen([sys.executable, "-m", "recipes.tuning", arguments],
                                                   env=environment)
        log.info("started a chief and %d workers on %s:%d", workers, host, port)
        deadline = None if timeout is None else time.monotonic() + timeout
        while any(p.poll() is None for p in processes.values()):
            failed = [t for t, p in processes.items() if p.poll() not in (None, 0)]
            if failed:
                raise TuningError(f"{', '.join(failed)} exited with status "
                                  f"{', '.join(str(processes[t].returncode) for t in failed)}; stopping the others")
            if deadline is not None and time.monotonic() > deadline:
                raise TuningError(f"distributed search did not finish within {timeout:.0f} s")
            time.sleep(0.5)
        return processes["chief"].returncode
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
