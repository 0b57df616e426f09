"""SavedModel warmup, as TF Serving does it before it serves a version.

A version folder may hold ``assets.extra/tf_serving_warmup_requests``: a TFRecord file of
``tensorflow.serving.PredictionLog`` records (our exports write one). Each record's request runs
``iterations`` times (TF Serving's ``num_request_iterations``, default 1) through the signature
it names. Predict, classify and regress records run; multi-inference records are skipped with a
log line; streamed-predict and session-run records fail, as in TF Serving. A malformed or failing
record, a file that is not TFRecord, or more than ``max_records`` records raise ``LoadError``, and
the version must then not be served. No file means nothing to do.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np

from recipes.saved_models.tf_saved_model import WARMUP_FILE
from recipes.serve.codec import RequestError
from recipes.serve.loading import LoadError, ServedVersion

log = logging.getLogger("keras_recipes")

MAX_RECORDS = 1000  # TF Serving's WarmupConsts::kMaxNumRecords


class WarmupReplay:
    """What a ``ModelRepository`` runs on each new version before it is AVAILABLE: ``replay_warmup``
    with ``iterations`` runs of each record (TF Serving's ``--num_request_iterations_for_warmup``),
    reporting ``(model path, status, seconds, records)`` to ``observe`` (the metrics) when a
    warmup file was read or failed."""

    def __init__(self, iterations: int = 1, observe: Callable[[str, str, float, int], None] | None = None):
        if iterations < 1:
            raise ValueError(f"warmup iterations must be at least 1. Received: iterations={iterations}")
        self.iterations, self.observe = iterations, observe

    def __call__(self, served: ServedVersion) -> None:
        started, records, status = time.perf_counter(), 0, "OK"
        try:
            records = replay_warmup(served, iterations=self.iterations)
        except Exception:
            status = "INVALID_ARGUMENT"
            raise
        finally:
            if self.observe is not None and (records or status != "OK"):
                self.observe(f"{served.name}/{served.version}", status, time.perf_counter() - started, records)


def warmup_path(served: ServedVersion) -> Path:
    return Path(served.path) / WARMUP_FILE


def replay_warmup(served: ServedVersion, *, max_records: int = MAX_RECORDS, iterations: int = 1) -> int:
    """Run every warmup request of ``served`` (blocking); returns the number of records replayed."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    from tensorflow_serving.apis import prediction_log_pb2

    path = warmup_path(served)
    if not path.is_file():
        return 0
    where = f"{served.name}/{Path(served.path).name}/{WARMUP_FILE.as_posix()}"  # no absolute path in messages
    replayed = 0
    try:
        for number, record in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator(), 1):
            if number > max_records:
                raise LoadError(f"Number of warmup records exceeds the maximum ({max_records}) at {where}; "
                                "keep at most that many requests in the file")
            entry = prediction_log_pb2.PredictionLog()
            try:
                entry.ParseFromString(record)
            except DecodeError:
                raise LoadError(f"Failed to parse warmup record {number} from {where} as a PredictionLog") from None
            for _ in range(iterations):
                _run(served, entry, f"warmup record {number} in {where}")
            replayed += 1
    except tf.errors.DataLossError as error:
        raise LoadError(f"{where} is corrupt ({error.message.splitlines()[0][:200]}). Please verify your warmup "
                        "data is in TFRecord format.") from None
    except tf.errors.OpError as error:
        raise LoadError(f"{where} cannot be read: {error.message.splitlines()[0][:200]}") from None
    log.info("%s version %s: %d warmup record(s) replayed", served.name, served.version, replayed)
    return replayed


def _run(served: ServedVersion, entry, what: str) -> None:
    kind = entry.WhichOneof("log_type")
    if kind is None:
        return  # an empty record: TF Serving skips it too
    if kind == "multi_inference_log":
        log.info("%s: multi-inference warmup requests are not replayed here; skipped", what)
        return
    if kind not in ("predict_log", "classify_log", "regress_log"):
        raise LoadError(f"{what}: Unsupported log_type for warmup: {kind}")
    request = getattr(entry, kind).request
    signature_name = request.model_spec.signature_name or "serving_default"
    try:
        signature = served.signature(signature_name)
        arrays = _predict_inputs(request, signature) if kind == "predict_log" else _example_inputs(request, signature)
        signature.run(arrays)
    except LoadError:
        raise
    except RequestError as error:
        raise LoadError(f"{what} ({kind} on signature '{signature_name}') failed: {error.message}") from None
    except Exception as error:
        reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise LoadError(f"{what} ({kind} on signature '{signature_name}') failed: {reason}") from None


def _predict_inputs(request, signature) -> dict[str, np.ndarray]:
    import tensorflow as tf

    given, expected = set(request.inputs), set(signature.inputs)
    if given != expected:
        raise RequestError(400, f"the request's inputs {sorted(given)} are not the signature's {sorted(expected)}")
    return {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}


def _example_inputs(request, signature) -> dict[str, np.ndarray]:
    """Serialized tf.Examples for a classify or regress signature's one string input; with a
    context, each example is the context's bytes then its own (a protobuf merge), as TF Serving does."""
    if len(signature.inputs) != 1 or next(iter(signature.inputs.values())).dtype != "string":
        raise RequestError(400, "a classify or regress request needs a signature with one string input "
                                f"(serialized tf.Examples); this one takes {sorted(signature.inputs)}")
    kind = request.input.WhichOneof("kind")
    if kind == "example_list":
        examples = [example.SerializeToString() for example in request.input.example_list.examples]
    elif kind == "example_list_with_context":
        inputs = request.input.example_list_with_context
        context = inputs.context.SerializeToString()
        examples = [context + example.SerializeToString() for example in inputs.examples]
    else:
        examples = []
    if not examples:
        raise RequestError(400, "Input is empty.")
    return {next(iter(signature.inputs)): np.array(examples, dtype=object)}
