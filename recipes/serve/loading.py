"""One SavedModel version, loaded for serving, and its signatures as plain callables on numpy.

TF2 SavedModels (those with an object graph, as ``model.export`` writes them) load with
``tf.saved_model.load``. TF1 SavedModels, which TF2's loader refuses or mistranslates (``float_ref``
variables, ``ParseExample`` over unknown-rank inputs), load as TF Serving loads every model: their
``serve`` meta graph imported into a ``tf.compat.v1.Session``, each signature run by tensor name.
Either way no pickles and no Python code from the folder run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from recipes.serve.codec import RequestError, TensorInfo

SERVE_TAG = "serve"
SAVED_MODEL_FILE = "saved_model.pb"
TFLITE_MODEL_FILE = "model.tflite"  # served in its place with --prefer_tflite_model (recipes.serve.tflite)
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


class LoadError(Exception):
    """A version folder that cannot be served; the message names no absolute path."""


@dataclass
class Signature:
    name: str
    method_name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] = field(repr=False)
    """One blocking call on named numpy inputs, giving named numpy outputs; a malformed input
    raises ``RequestError(400)`` with TensorFlow's reason and without its node trace."""


@dataclass
class ServedVersion:
    """One loaded SavedModel version and its signatures. While a profiler traces the server (its
    gRPC ProfilerService), each signature call is one event, ``NAME/VERSION/SIGNATURE`` with its
    ``rows``: TensorFlow's own events for small ops stop once its executor finds them cheap."""

    name: str
    version: int
    path: Path
    signatures: dict[str, Signature]
    signature_def_map: object = field(repr=False)  # tensorflow_serving SignatureDefMap-shaped proto map
    loaded: object = field(repr=False, default=None)  # keeps the TF objects (or session) alive

    def __post_init__(self):
        for key, signature in self.signatures.items():
            signature.run = _traced(signature.run, f"{self.name}/{self.version}/{key}")

    def signature(self, signature_name: str) -> Signature:
        key = signature_name or "serving_default"
        if key not in self.signatures:
            raise RequestError(400, f"Serving signature name: \"{key}\" not found in signature def")
        return self.signatures[key]

    @property
    def signature_defs(self) -> dict:
        """The SignatureDefMap as TF Serving prints it in JSON: every field, proto field names, in
        protobuf's C++ printer's order."""
        from google.protobuf import json_format

        return {key: _printer_order(json_format.MessageToDict(value, preserving_proto_field_name=True,
                                                              always_print_fields_with_no_presence=True),
                                    value.DESCRIPTOR)
                for key, value in self.signature_def_map.items()}


def _traced(run: Callable, label: str) -> Callable:
    from tensorflow.python.profiler import trace

    def traced(arrays: dict) -> dict:
        if not trace.enabled():
            return run(arrays)
        shapes = [np.shape(array) for array in arrays.values()]
        with trace.Trace(label, rows=shapes[0][0] if shapes and shapes[0] else 1):
            return run(arrays)

    return traced


def _printer_order(value: dict, descriptor) -> dict:
    """Keys as protobuf's C++ JSON printer writes them: plain fields by number, then the set
    member of each oneof (TensorInfo's ``name`` comes after ``dtype`` and ``tensor_shape``)."""
    fields = sorted(descriptor.fields, key=lambda f: (f.containing_oneof is not None, f.number))
    ordered = {}
    for member in fields:
        if member.name not in value:
            continue
        item = value[member.name]
        message = member.message_type
        if message is not None and message.GetOptions().map_entry:
            inner = message.fields_by_name["value"].message_type
            item = {k: _printer_order(v, inner) for k, v in item.items()} if inner is not None else item
        elif message is not None and isinstance(item, list):
            item = [_printer_order(entry, message) for entry in item]
        elif message is not None and isinstance(item, dict):
            item = _printer_order(item, message)
        ordered[member.name] = item
    return ordered


def _info_from_proto(tensor_info) -> TensorInfo:
    import tensorflow as tf

    dtype = tf.dtypes.as_dtype(tensor_info.dtype).base_dtype.name
    shape = tensor_info.tensor_shape
    if shape.unknown_rank or not tensor_info.HasField("tensor_shape"):
        return TensorInfo(dtype, None)
    return TensorInfo(dtype, tuple(None if dim.size < 0 else dim.size for dim in shape.dim))


def graph_error(message: str) -> str:
    """The reason in a TensorFlow error, without its node trace (which names server files)."""
    failed = re.search(r"assertion failed: \[([^\]]*)\]", message)
    if failed:
        return failed.group(1)
    lines = [line.strip() for line in message.splitlines()
             if line.strip() and not line.startswith((" ", "\t", "File ", "Graph execution error", "Detected at node"))]
    reason = re.sub(r"\s*\[\[.*|\s*\[Op:.*", "", lines[-1] if lines else "").strip()
    return f"the model rejected the input: {reason[:300] or 'invalid argument'}"


def _read_meta_graph(path: Path, tags: tuple[str, ...]):
    from tensorflow.core.protobuf import saved_model_pb2

    if not (path / SAVED_MODEL_FILE).is_file():
        hint = (f"; its {TFLITE_MODEL_FILE} is served with --prefer_tflite_model"
                if (path / TFLITE_MODEL_FILE).is_file() else "")
        raise LoadError("Specified file path does not appear to contain a SavedModel bundle "
                        f"(should have a file called `{SAVED_MODEL_FILE}`){hint}")
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((path / SAVED_MODEL_FILE).read_bytes())
    except Exception as error:
        raise LoadError(f"saved_model.pb is not a SavedModel ({type(error).__name__})") from None
    for meta_graph in proto.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):  # exactly these, as TensorFlow's loader matches
            return meta_graph
    available = "; ".join("{ " + " ".join(m.meta_info_def.tags) + " }" for m in proto.meta_graphs)
    raise LoadError(f"Could not find meta graph def matching supplied tags: {{ {' '.join(tags)} }}. "
                    f"The SavedModel has: {available or 'no meta graphs'} (--saved_model_tags picks others)")


def load_version(name: str, version: int, path: Path, tags: tuple[str, ...] = (SERVE_TAG,)) -> ServedVersion:
    """Load one version folder's meta graph tagged ``tags`` (exactly those, TF Serving's
    ``--saved_model_tags``); ``LoadError`` says why not, naming the folder only relatively."""
    import tensorflow as tf

    path = Path(path)
    meta_graph = _read_meta_graph(path, tags)
    tf2 = len(meta_graph.object_graph_def.nodes) > 0
    try:
        loaded, signatures = (_load_tf2 if tf2 else _load_tf1)(path, meta_graph, tags)
    except LoadError:
        raise
    except (tf.errors.OpError, ValueError, TypeError, KeyError, OSError) as error:
        reason = error.message if isinstance(error, tf.errors.OpError) else str(error)
        reason = reason.replace(str(path.resolve()), f"{name}/{path.name}").replace(str(path), f"{name}/{path.name}")
        raise LoadError(f"{'TF2' if tf2 else 'TF1'} SavedModel failed to load: {reason.splitlines()[0][:300]}") from None
    return ServedVersion(name, version, path, signatures, meta_graph.signature_def, loaded)


def _load_tf2(path: Path, meta_graph, tags: tuple[str, ...]):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path), tags=list(tags))
    signatures = {}
    for key, function in loaded.signatures.items():
        definition = meta_graph.signature_def[key]
        inputs = {alias: _info_from_proto(info) for alias, info in definition.inputs.items()}
        specs = function.structured_input_signature[1]
        dtypes = {alias: spec.dtype for alias, spec in specs.items()}

        def run(arrays, function=function, dtypes=dtypes):
            tensors = {alias: tf.constant(array, dtype=dtypes[alias]) for alias, array in arrays.items()}
            try:
                outputs = function(**tensors)
            except tf.errors.InvalidArgumentError as error:
                raise RequestError(400, graph_error(error.message)) from None
            return {alias: value.numpy() for alias, value in outputs.items()}

        signatures[key] = Signature(key, definition.method_name or PREDICT_METHOD, inputs,
                                    {alias: _info_from_proto(info) for alias, info in definition.outputs.items()}, run)
    return loaded, signatures


class _Session:
    """A TF1 graph in its own session; ``run`` is safe from several threads (as Session.run is)."""

    def __init__(self, path: Path, tags: tuple[str, ...]):
        import tensorflow as tf

        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            tf.compat.v1.saved_model.loader.load(self.session, list(tags), str(path))

    def close(self) -> None:
        self.session.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _load_tf1(path: Path, meta_graph, tags: tuple[str, ...]):
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2

    session = _Session(path, tags)
    signatures = {}
    for key, definition in meta_graph.signature_def.items():
        feeds = {alias: info.name for alias, info in sorted(definition.inputs.items())}
        fetches = {alias: info.name for alias, info in sorted(definition.outputs.items())}
        for tensor_name in [*feeds.values(), *fetches.values()]:
            session.graph.get_tensor_by_name(tensor_name)  # a KeyError now, not at the first request
        # A callable feeds tensors as TF Serving's C++ Session::Run does: without Session.run's
        # Python-side check of the fed shape against the graph's static one.
        call = session.session._make_callable_from_options(
            config_pb2.CallableOptions(feed=list(feeds.values()), fetch=list(fetches.values())))

        def run(arrays, feeds=feeds, fetches=fetches, call=call):
            missing = sorted(set(feeds) - set(arrays))
            if missing:
                raise RequestError(400, f"the signature's input(s) {', '.join(missing)} are missing")
            try:
                values = call(*[arrays[alias] for alias in feeds])
            except tf.errors.InvalidArgumentError as error:
                raise RequestError(400, graph_error(error.message)) from None
            return {alias: np.asarray(value) for alias, value in zip(fetches, values)}

        signatures[key] = Signature(key, definition.method_name or PREDICT_METHOD,
                                    {alias: _graph_info(session.graph, name) for alias, name in feeds.items()},
                                    {alias: _info_from_proto(info) for alias, info in definition.outputs.items()}, run)
    return session, signatures


def _graph_info(graph, tensor_name: str) -> TensorInfo:
    """The dtype the graph's tensor takes, which a TF1 signature may misstate; any shape, since
    TF Serving leaves shapes to the graph."""
    return TensorInfo(graph.get_tensor_by_name(tensor_name).dtype.base_dtype.name, None)
