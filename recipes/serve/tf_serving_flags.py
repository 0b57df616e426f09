"""TF Serving's flags for its C++ runtime, which this server has no counterpart for. They are
accepted, so that TF Serving's command lines run unchanged, and each one given is named in one
log line saying why it changes nothing here. Those that would change what clients get, or how safe
the server is, are refused when set, with what to do instead.

Also here: TF Serving's threading flags, as TF Serving reads them (``server.cc``), applied through
TensorFlow's environment variables so that every worker process inherits them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from recipes.errors import RecipeError

INTRA_OP_ENV, INTER_OP_ENV = "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"


@dataclass(frozen=True)
class InertFlag:
    name: str  # without the leading dashes, as TF Serving spells it
    kind: type  # bool, int, float or str
    reason: str  # why it changes nothing here (or, refused, what to do instead)
    refused_when_set: bool = False  # set: true, or a non-empty value


INERT_FLAGS = (
    InertFlag("rest_api_num_threads", int, "REST is answered by each worker's event loop; use --workers N"),
    InertFlag("grpc_max_threads", int, "gRPC runs on each worker's event loop; use --workers N"),
    InertFlag("num_load_threads", int, "versions load one at a time, in a thread of their own"),
    InertFlag("num_unload_threads", int, "a version is released when its last request is answered"),
    InertFlag("max_num_load_retries", int, "a version that fails to load is tried again when its files change"),
    InertFlag("load_retry_interval_micros", int, "a version that fails to load is tried again when its files change"),
    InertFlag("flush_filesystem_caches", bool, "the server keeps no file system caches of its own"),
    InertFlag("per_process_gpu_memory_fraction", float,
              "TensorFlow's own GPU memory settings apply (TF_FORCE_GPU_ALLOW_GROWTH=true, say)"),
    InertFlag("xla_cpu_compilation_enabled", bool, "models run as exported"),
    InertFlag("xla_gpu_compilation_enabled", bool, "models run as exported"),
    InertFlag("skip_initialize_tpu", bool, "no TPU is initialized"),
    InertFlag("remove_unused_fields_from_bundle_metagraph", bool, "metadata is read from saved_model.pb on demand"),
    InertFlag("num_tflite_pools", int, "TF Lite models get one interpreter per core (--prefer_tflite_model)"),
    InertFlag("num_tflite_interpreters_per_pool", int,
              "TF Lite models get one interpreter per core (--prefer_tflite_model)"),
    InertFlag("enable_signature_method_name_check", bool,
              "signatures are checked as TF Serving checks them by default (inputs, outputs, dtypes)"),
    InertFlag("enable_per_model_batching_parameters", bool,
              "per-model batching_params.pbtxt files are not read; give --batching_parameters_file", True),
    InertFlag("mixed_precision", str, "models run in the precision they were exported in; export them in "
              "bfloat16 instead (keras-recipes run --precision)", True),
    InertFlag("platform_config_file", str, "platform configs are not read; give the session settings as "
              "flags (--tensorflow_intra_op_parallelism, --saved_model_tags)", True),
    InertFlag("tensorflow_session_config_file", str, "session configs are not read; give the settings as flags "
              "(--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism)", True),
    InertFlag("thread_pool_factory_config_file", str, "thread pool factories are not read; give "
              "--tensorflow_intra_op_parallelism and --tensorflow_inter_op_parallelism", True),
)


def inert_flags_given(values: dict) -> list[InertFlag]:
    """The inert flags given on the command line (``values``: dest -> parsed value, None when absent)."""
    return [flag for flag in INERT_FLAGS if values.get(flag.name) is not None]


def check_inert_flags(values: dict) -> list[str]:
    """Raise for a refused flag that is set; else the log lines for the inert ones given."""
    notes = []
    for flag in inert_flags_given(values):
        value = values[flag.name]
        if flag.refused_when_set and value not in (False, ""):
            raise RecipeError(f"TF Serving's --{flag.name} is not supported by keras-recipes serve: {flag.reason}")
        notes.append(f"--{flag.name}={value} has no effect here: {flag.reason}")
    return notes


def tensorflow_thread_environment(session: int, intra_op: int, inter_op: int) -> dict[str, str]:
    """TensorFlow's thread counts for TF Serving's --tensorflow_session_parallelism,
    --tensorflow_intra_op_parallelism and --tensorflow_inter_op_parallelism (0: TensorFlow picks),
    as the variables that set them: intra- and inter-op from their own flags when either is given,
    else both from the session flag; all three at once is refused, as TF Serving refuses it."""
    for name, value in (("session", session), ("intra_op", intra_op), ("inter_op", inter_op)):
        if value < 0:
            raise RecipeError(f"--tensorflow_{name}_parallelism must be 0 (TensorFlow picks) or more. Received: {value}")
    if session > 0 and intra_op > 0 and inter_op > 0:
        raise RecipeError("Either configure --tensorflow_session_parallelism or (--tensorflow_intra_op_parallelism, "
                          "--tensorflow_inter_op_parallelism) separately. You cannot configure all.")
    if intra_op > 0 or inter_op > 0:
        chosen = {INTRA_OP_ENV: intra_op, INTER_OP_ENV: inter_op}
    else:
        chosen = {INTRA_OP_ENV: session, INTER_OP_ENV: session}
    return {name: str(value) for name, value in chosen.items() if value > 0}


def apply_tensorflow_threads(session: int, intra_op: int, inter_op: int) -> dict[str, str]:
    """Set the thread variables before TensorFlow starts its runtime, for this process and the
    worker processes it starts; returns what it set."""
    environment = tensorflow_thread_environment(session, intra_op, inter_op)
    os.environ.update(environment)
    return environment
