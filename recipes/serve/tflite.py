"""A TF Lite version (``model.tflite``), served as TF Serving serves one with ``--prefer_tflite_model``.

The signatures are TF Serving's (``tflite_session.cc``): the SignatureDefs the converter stored in
the model's ``signature_defs_metadata``, each tensor name pointed at the model's own tensor (``x:0``
also finds a tensor named ``x``, as older converters wrote it); a model without them gets one
``serving_default`` predict signature of the model's input and output tensors, keyed by their
names without ``:0``. The signature table newer converters also write (the interpreter's
``get_signature_list``) is not read, as TF Serving does not read it.

A call copies its inputs in, resizing a tensor whose shape differs (a batch of another size; more
dimensions than the model's tensor are refused), and runs one interpreter. An interpreter serves
one call at a time, so a pool holds up to one per core, made as concurrent calls need them, each
running on one thread.
"""

from __future__ import annotations

import queue
import re
import threading
import warnings
from pathlib import Path

import numpy as np

from recipes.serve.codec import RequestError, TensorInfo
from recipes.serve.loading import (PREDICT_METHOD, SERVE_TAG, TFLITE_MODEL_FILE, LoadError, ServedVersion, Signature,
                                   load_version)

DEFAULT_SIGNATURE_KEY = "serving_default"
SIGNATURE_DEFS_METADATA = "signature_defs_metadata"

# The tensor types TF Serving maps to TensorFlow's (TfLiteTypeToTfType); a model with another fails to load.
_TF_DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32", np.dtype(np.uint8): "uint8",
              np.dtype(np.int64): "int64", np.dtype(np.bytes_): "string", np.dtype(np.bool_): "bool",
              np.dtype(np.int16): "int16", np.dtype(np.complex64): "complex64", np.dtype(np.int8): "int8"}

# tf.lite.Interpreter warns, at every construction, that it moves to the ai_edge_litert package;
# it is what TF 2.21 has, and one filter (warnings.catch_warnings is not thread-safe) keeps the
# server's log to what the operator can act on.
warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated", category=UserWarning)


def load_version_preferring_tflite(name: str, version: int, path: Path,
                                   tags: tuple[str, ...] = (SERVE_TAG,)) -> ServedVersion:
    """TF Serving's ``--prefer_tflite_model``: a version folder with a model.tflite is served from
    it, any other as a SavedModel (``load_version``, its meta graph tagged ``tags``)."""
    path = Path(path)
    if (path / TFLITE_MODEL_FILE).is_file():
        return load_tflite_version(name, version, path)
    return load_version(name, version, path, tags)


def load_tflite_version(name: str, version: int, path: Path) -> ServedVersion:
    """Serve ``path/model.tflite``; ``LoadError`` says why not, naming the folder only relatively."""
    from tensorflow.core.protobuf import meta_graph_pb2

    path = Path(path)
    try:
        model = (path / TFLITE_MODEL_FILE).read_bytes()
    except OSError as error:
        raise LoadError(f"{name}/{path.name}/{TFLITE_MODEL_FILE} cannot be read ({error.strerror})") from None
    pool = _InterpreterPool(model, size=_cores())
    inputs, outputs = pool.inputs, pool.outputs
    holder = meta_graph_pb2.MetaGraphDef()  # its signature_def map is the version's SignatureDefMap
    stored = _stored_signature_defs(model)
    if stored:
        for key, definition in stored.items():
            holder.signature_def[key].CopyFrom(_pointed_at_tensors(key, definition, inputs, outputs))
    else:
        holder.signature_def[DEFAULT_SIGNATURE_KEY].CopyFrom(_signature_of_tensors(inputs, outputs))
    signatures = {key: _signature(key, definition, inputs, outputs, pool)
                  for key, definition in holder.signature_def.items()}
    return ServedVersion(name, version, path, signatures, holder.signature_def, (holder, pool))


def _cores() -> int:
    """TF Serving's default number of TF Lite interpreters (``--num_tflite_pools``): one per core."""
    from recipes.serve.workers import usable_cores

    return usable_cores()


def _new_interpreter(model: bytes):
    import tensorflow as tf

    try:
        # Without TF Lite's default XNNPACK delegate, which aborts the whole process when a request
        # resizes an input to more than 6 dimensions (TF 2.21).
        interpreter = tf.lite.Interpreter(
            model_content=model, num_threads=1,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise LoadError(f"TF Lite model failed to load: {str(error).strip().splitlines()[0][:300]}") from None
    return interpreter


class _Interpreter:
    """One ``tf.lite.Interpreter`` and the shapes its input tensors are allocated for."""

    def __init__(self, model: bytes):
        self.interpreter = _new_interpreter(model)
        self._input_shapes = {d["index"]: tuple(d["shape"]) for d in self.interpreter.get_input_details()}

    def run(self, feeds: dict[int, np.ndarray], fetches: list[int]) -> list[np.ndarray]:
        resized = [index for index, array in feeds.items() if array.shape != self._input_shapes[index]]
        for index in resized:
            self.interpreter.resize_tensor_input(index, feeds[index].shape)
            self._input_shapes[index] = feeds[index].shape
        if resized:
            self.interpreter.allocate_tensors()
        for index, array in feeds.items():
            self.interpreter.set_tensor(index, array)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(index) for index in fetches]  # copies, safe once it runs again


class _InterpreterPool:
    """Up to ``size`` interpreters of one model, each running one call at a time (TF Serving's
    ``TfLiteInterpreterPool``); the first is made now, so that a broken model fails to load, the
    others as concurrent calls need them."""

    def __init__(self, model: bytes, size: int):
        self._model = model
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.SimpleQueue[_Interpreter] = queue.SimpleQueue()
        first = _Interpreter(model)
        self._idle.put(first)
        # The model's input and output tensors' details by tensor name, as the interpreter has them.
        self.inputs = {d["name"]: d for d in first.interpreter.get_input_details()}
        self.outputs = {d["name"]: d for d in first.interpreter.get_output_details()}

    def run(self, feeds: dict[int, np.ndarray], fetches: list[int]) -> list[np.ndarray]:
        with self._slots:
            try:
                interpreter = self._idle.get_nowait()
            except queue.Empty:
                interpreter = _Interpreter(self._model)
            # One that fails is dropped, not returned: its tensors may be resized but unallocated.
            outputs = interpreter.run(feeds, fetches)
            self._idle.put(interpreter)
            return outputs


def _stored_signature_defs(model: bytes) -> dict:
    """The SignatureDefs in the model's ``signature_defs_metadata`` (a flexbuffer map of serialized
    SignatureDefs, as TF Lite's signature_def_util writes it), or {} when it has none."""
    from flatbuffers import flexbuffers
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.lite.python import schema_py_generated as schema

    try:
        root = schema.Model.GetRootAs(model, 0)
        for index in range(root.MetadataLength()):
            metadata = root.Metadata(index)
            if metadata.Name() != SIGNATURE_DEFS_METADATA.encode():
                continue
            stored = flexbuffers.GetRoot(root.Buffers(metadata.Buffer()).DataAsNumpy().tobytes()).AsMap
            definitions = {}
            for key, value in zip(stored.Keys, stored.Values):
                definitions[key.AsKey] = meta_graph_pb2.SignatureDef.FromString(value.AsStringBytes)
            return definitions
    except Exception as error:  # noqa: BLE001  (any malformed flatbuffer, flexbuffer or proto)
        raise LoadError(f"Invalid SignatureDefs found in TfLite model: {type(error).__name__}") from None
    return {}


def _without_output_index(tensor_name: str) -> str:
    """``x:0`` as early TF Lite converters named the tensor: ``x``."""
    return tensor_name.split(":", 1)[0]


def _model_tensor_name(tensor_name: str, tensors: dict[str, dict]) -> str | None:
    for candidate in (tensor_name, _without_output_index(tensor_name)):
        if candidate in tensors:
            return candidate
    return None


def _pointed_at_tensors(key: str, definition, inputs: dict[str, dict], outputs: dict[str, dict]):
    """The stored SignatureDef with each tensor name changed to the model tensor it means."""
    for side, tensors in (("input", inputs), ("output", outputs)):
        for alias, info in getattr(definition, f"{side}s").items():
            found = _model_tensor_name(info.name, tensors)
            if found is None:
                raise LoadError(f"Signature {key!r} {side} {alias} references an unknown tensor: "
                                f"Unknown tensor '{info.name}'.")
            info.name = found
    return definition


def _signature_of_tensors(inputs: dict[str, dict], outputs: dict[str, dict]):
    """TF Serving's signature for a model that stores none: its tensors, keyed by name without ``:0``."""
    from tensorflow.core.protobuf import meta_graph_pb2

    definition = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
    for side, tensors in ((definition.inputs, inputs), (definition.outputs, outputs)):
        for tensor_name, details in sorted(tensors.items()):  # TF Serving's order: the last of x:0, x:1 is x
            side[_without_output_index(tensor_name)].CopyFrom(_tensor_info_proto(tensor_name, details))
    return definition


def _tf_dtype(details: dict) -> str:
    dtype = np.dtype(details["dtype"])
    if dtype not in _TF_DTYPES:
        raise LoadError(f"Unknown TfLite type: {dtype.name} (tensor '{details['name']}')")
    return _TF_DTYPES[dtype]


def _tensor_info_proto(tensor_name: str, details: dict):
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2

    info = meta_graph_pb2.TensorInfo(name=tensor_name, dtype=tf.as_dtype(_tf_dtype(details)).as_datatype_enum)
    for size in details["shape"]:
        info.tensor_shape.dim.add().size = int(size)
    return info


def _kernel_reason(error: Exception) -> str:
    """TF Lite's reason, without the kernel source location it starts with (``reshape.cc:94``)."""
    lines = str(error).strip().splitlines()
    reason = re.sub(r"^\S+\.cc:\d+\s*", "", lines[0]) if lines else ""
    return reason[:300] or "invalid input"


def _check_rank(alias: str, rank: int, model_rank: int) -> None:
    """A request may resize the model's input tensor, not give it more dimensions: kernels are
    checked for the ranks the model was converted with, and some crash the process beyond them."""
    if rank > model_rank:
        raise RequestError(400, f"input {alias!r} has {rank} dimensions, but the model's tensor has {model_rank}; "
                                "send at most that many (the sizes may differ, such as the batch size)")


def _signature(key: str, definition, inputs: dict[str, dict], outputs: dict[str, dict],
               pool: _InterpreterPool) -> Signature:
    feeds = {alias: inputs[info.name] for alias, info in sorted(definition.inputs.items())}
    fetches = {alias: outputs[info.name] for alias, info in sorted(definition.outputs.items())}
    dtypes = {alias: np.dtype(details["dtype"]) for alias, details in feeds.items()}
    ranks = {alias: len(details["shape"]) for alias, details in feeds.items()}
    fetch_indices = [details["index"] for details in fetches.values()]

    def run(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = sorted(set(feeds) - set(arrays))
        if missing:
            raise RequestError(400, f"the signature's input(s) {', '.join(missing)} are missing")
        for alias, rank in ranks.items():
            _check_rank(alias, np.ndim(arrays[alias]), rank)
        tensors = {details["index"]: np.ascontiguousarray(arrays[alias], dtype=dtypes[alias])
                   for alias, details in feeds.items()}
        try:
            values = pool.run(tensors, fetch_indices)
        except (ValueError, RuntimeError) as error:
            raise RequestError(400, f"the model rejected the input: {_kernel_reason(error)}") from None
        return dict(zip(fetches, values))

    # Shapes are left to the interpreter, which resizes its inputs to what a call brings.
    return Signature(key, definition.method_name or PREDICT_METHOD,
                     {alias: TensorInfo(_tf_dtype(details), None) for alias, details in feeds.items()},
                     {alias: TensorInfo(_tf_dtype(details), None) for alias, details in fetches.items()}, run)
