"""The SavedModel format: ``serving_default`` (and any extra signatures) written with Keras's
``ExportArchive``, and ``metadata.json`` beside the graph."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path

from recipes.errors import ConfigError
from recipes.saved_models._staging import publish_new_version

SIGNATURE = "serving_default"


def write_saved_model(model, model_dir: Path, *, name: str, input_name, output_name, metadata: dict, endpoint,
                      input_signature, extra_endpoints: dict | None, track) -> Path:
    """The next version of ``model_dir``: a SavedModel whose ``serving_default`` is ``endpoint`` (or
    the model's own forward pass), with its metadata."""
    import keras
    import tensorflow as tf

    if endpoint is None:
        endpoint, input_signature = model_endpoint(model, input_name, output_name)
    endpoints = {SIGNATURE: (endpoint, list(input_signature)), **(extra_endpoints or {})}

    def write(folder: Path) -> None:
        archive = keras.export.ExportArchive()
        archive.track(model)
        for resource in track:
            archive.track(resource)
        signatures = {}
        for signature_name, (function, specs) in endpoints.items():
            archive.add_endpoint(signature_name, function, input_signature=list(specs))
            signatures[signature_name] = _describe(tf.function(function).get_concrete_function(*specs), specs)
        archive.write_out(str(folder), verbose=False)
        write_metadata(folder, model_metadata(model, name, signatures, metadata))

    return publish_new_version(model_dir, write)


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
