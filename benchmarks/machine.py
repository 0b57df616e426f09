"""A one-line description of the machine a benchmark ran on."""

import os
import platform


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_clock_ghz() -> float:
    """Nominal clock from /proc/cpuinfo (MHz of the first core)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1]) / 1000
    except OSError:
        pass
    return float("nan")


def describe() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores}-core {cpu_model()} @ {cpu_clock_ghz():.2f} GHz, no GPU, Python {platform.python_version()}"


CODE_PATHS = ("../recipes", "../architectures", "../callbacks", ".", ":!results")  # from benchmarks/


def source_commit() -> str | None:
    """The checkout's commit, with ``-dirty`` if its code (not its README or results) has
    uncommitted changes; None outside git."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS], cwd=here,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")
