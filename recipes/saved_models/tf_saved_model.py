"""The SavedModel format: ``serving_default`` (and any extra signatures) written with Keras's
``ExportArchive``, ``metadata.json`` beside the graph, and TF Serving's warmup file
(``assets.extra/tf_serving_warmup_requests``): one ``serving_default`` request that a server
replays before it serves the version, so the first real request does not pay for TensorFlow's
lazy initialisation."""

from __future__ import annotations

import datetime
import json
import logging
import platform
from pathlib import Path

from recipes.errors import ConfigError
from recipes.saved_models._staging import publish_new_version

log = logging.getLogger("keras_recipes")

SIGNATURE = "serving_default"
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"  # where TF Serving looks for it


def write_saved_model(model, model_dir: Path, *, name: str, input_name, output_name, metadata: dict, endpoint,
                      input_signature, extra_endpoints: dict | None, track, warmup: bool = True) -> Path:
    """The next version of ``model_dir``: a SavedModel whose ``serving_default`` is ``endpoint`` (or
    the model's own forward pass), with its metadata and (with ``warmup``) TF Serving's warmup file."""
    import keras
    import tensorflow as tf

    if endpoint is None:
        endpoint, input_signature = model_endpoint(model, input_name, output_name)
    endpoints = {SIGNATURE: (endpoint, list(input_signature)), **(extra_endpoints or {})}
    endpoints = {signature: (with_float32_outputs(function), specs) for signature, (function, specs) in endpoints.items()}

    def write(folder: Path) -> None:
        archive = keras.export.ExportArchive()
        archive.track(model)
        for resource in track:
            archive.track(resource)
        signatures, concrete = {}, {}
        for signature_name, (function, specs) in endpoints.items():
            archive.add_endpoint(signature_name, function, input_signature=list(specs))
            concrete[signature_name] = tf.function(function).get_concrete_function(*specs)
            signatures[signature_name] = _describe(concrete[signature_name], specs)
        archive.write_out(str(folder), verbose=False)
        if warmup:
            write_warmup_requests(folder, name, concrete[SIGNATURE])
        write_metadata(folder, model_metadata(model, name, signatures, metadata))

    return publish_new_version(model_dir, write)


def write_warmup_requests(folder: Path, name: str, concrete) -> Path | None:
    """Write ``folder/assets.extra/tf_serving_warmup_requests``: a TFRecord file of one
    ``PredictionLog`` whose request is a batch of one example for the SavedModel's
    ``serving_default``, any unknown dimension taken as 1: all zeros, or all ones where the
    signature rejects zeros (a length or a temperature that must be positive); strings are empty.
    ``concrete`` is that signature's function, on which the request is tried first: one it rejects
    is not written, since TF Serving refuses to serve a version whose warmup fails. Returns the
    file, or None."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((folder / "saved_model.pb").read_bytes())
    definition = saved_model.meta_graphs[0].signature_def[SIGNATURE]
    specs = concrete.structured_input_signature
    traced = sorted(spec.name for spec in tf.nest.flatten(specs))
    if traced != sorted(definition.inputs):
        log.warning("export: no warmup file for %s: its serving_default inputs %s are not the traced function's %s",
                    name, sorted(definition.inputs), traced)
        return None

    def example(fill: int) -> dict:
        arrays = {}
        for key, info in definition.inputs.items():
            dtype = tf.dtypes.as_dtype(info.dtype)
            shape = [1] if info.tensor_shape.unknown_rank else [max(dim.size, 1) for dim in info.tensor_shape.dim]
            arrays[key] = (np.full(shape, b"", dtype=object) if dtype == tf.string
                           else np.full(shape, fill, dtype.as_numpy_dtype))
        return arrays

    for fill in (0, 1):
        arrays = example(fill)
        args, kwargs = tf.nest.map_structure(lambda spec: tf.constant(arrays[spec.name], spec.dtype), specs)
        try:
            concrete(*args, **kwargs)
            break
        except Exception as error:  # the endpoint needs real data (decoded images, a vocabulary hit...)
            reason = _first_reason(error)
    else:
        log.warning("export: no warmup file for %s: serving_default fails on zeros and on ones (%s)", name, reason)
        return None
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name, signature_name=SIGNATURE))
    for key, array in arrays.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(array, dtype=definition.inputs[key].dtype))
    record = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    path = folder / WARMUP_FILE
    path.parent.mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(record.SerializeToString())
    return path


def _first_reason(error: Exception) -> str:
    """A TensorFlow error's reason in one line, without its node trace."""
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith((" ", "\t"))
             and not line.startswith(("Graph execution error", "Detected at node"))]
    failed = [line for line in lines if "assertion failed" in line]
    return ((failed or lines or [type(error).__name__])[0])[:200]


def model_endpoint(model, input_name, output_name):
    """``(serve, input_signature)``: the model's forward pass on inputs named after its
    ``keras.Input`` layers (or ``input_name`` for a single-input model; a model built on a dict of
    inputs takes them by their keys), returning ``{output_name: outputs}`` (or the model's own dict
    of outputs)."""
    import tensorflow as tf

    if input_name is not None and len(model.inputs) != 1:
        raise ConfigError(f"input_name={input_name!r} only applies to a single-input model; "
                          f"this one has inputs {[i.name for i in model.inputs]}")
    structure = model.input
    if isinstance(structure, dict):
        keys = list(structure)
        tensors = [structure[key] for key in keys]
    else:
        keys, tensors = None, list(model.inputs)
    specs = [tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name=key or input_name or tensor.name)
             for key, tensor in zip(keys or [None] * len(tensors), tensors)]

    def serve(*inputs):
        if keys is not None:
            arguments = dict(zip(keys, inputs))
        else:
            arguments = inputs[0] if len(inputs) == 1 else list(inputs)
        outputs = model(arguments, training=False)
        return dict(outputs) if isinstance(outputs, dict) else {output_name: outputs}

    return serve, specs


def with_float32_outputs(function):
    """``function`` with its 16-bit floating outputs cast to float32: a model trained under a mixed
    precision policy serves the signature a float32 one would."""
    import tensorflow as tf

    def cast(value):
        if isinstance(value, tf.Tensor) and value.dtype in (tf.bfloat16, tf.float16):
            return tf.cast(value, tf.float32)
        return value

    def float32_outputs(*inputs):
        return tf.nest.map_structure(cast, function(*inputs))

    return float32_outputs


def _describe(concrete, specs) -> dict:
    def shape(tensor_shape):
        return None if tensor_shape.rank is None else list(tensor_shape)

    return {
        "inputs": {spec.name: {"dtype": spec.dtype.name, "shape": shape(spec.shape)} for spec in specs},
        "outputs": {key: {"dtype": value.dtype.name, "shape": shape(value.shape)}
                    for key, value in concrete.structured_outputs.items()},
    }


def model_metadata(model, name, signatures, extra) -> dict:
    """What ``metadata.json`` records for every export: the signatures, parameter count, date and
    library versions, plus ``extra`` (the recipe, dataset, metrics ...)."""
    import keras
    import tensorflow as tf

    return {
        "name": name,
        "signature": SIGNATURE,
        "inputs": signatures[SIGNATURE]["inputs"],
        "outputs": signatures[SIGNATURE]["outputs"],
        "signatures": signatures,
        "parameters": int(model.count_params()),
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version(), "keras_recipes": _library_version()},
        **extra,
    }


def write_metadata(folder: Path, metadata: dict) -> None:
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str))


def _library_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keras-recipes")
    except PackageNotFoundError:
        return "unknown"
