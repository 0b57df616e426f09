"""Quiet by default: TensorFlow's start-up notices (oneDNN, CUDA probing, absl's preamble) are
written by C++ straight to the process's stderr, whatever ``TF_CPP_MIN_LOG_LEVEL`` says, so the
command line loads TensorFlow with that file descriptor pointed at /dev/null for the moment it
takes. ``--verbose`` or ``KERAS_RECIPES_DEBUG=1`` shows everything."""

from __future__ import annotations

import logging
import os
import sys

DEBUG_ENV = "KERAS_RECIPES_DEBUG"


def quiet_tensorflow() -> None:
    """Import TensorFlow and probe its devices with stderr silenced, then keep its Python loggers
    to warnings and errors. Python errors raised on the way are not hidden: they propagate."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        sys.stderr.flush()  # what Python has buffered goes out before the descriptor moves
    except (ValueError, OSError):
        pass
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # CUDA probing reports its failure here, on a machine without GPUs
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tf.get_logger().setLevel(logging.WARNING)  # "Assets written to ..." on every export
    import absl.logging

    absl.logging.set_verbosity(absl.logging.WARNING)
