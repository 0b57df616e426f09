"""Export to ``<export_dir>/<name>/<version>/``: a SavedModel that TF Serving loads, with
``metadata.json`` beside it. Each version is written to a temporary folder and renamed into
place, so a crash never leaves a half-written version a server could pick up."""

from __future__ import annotations

import datetime
import json
import platform
import re
import shutil
import tempfile
from pathlib import Path

from recipes.errors import ConfigError

SIGNATURE = "serving_default"
_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def versions(model_dir) -> list[int]:
    """Integer versions present under ``model_dir`` (temporary and other folders are ignored)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


FORMATS = ("tf_saved_model", "onnx")
ONNX_FOLDER = "onnx"  # <export_dir>/<name>/onnx/<version>/model.onnx; not an integer, so servers skip it


def export(model, name: str, *, export_dir="saved_models", input_name: str | None = None,
           output_name: str = "outputs", metadata: dict | None = None, endpoint=None,
           input_signature=None, extra_endpoints: dict | None = None, track=(),
           format: str = "tf_saved_model") -> Path:
    """Write ``model`` as the next integer version of ``name``; returns the version folder.

    ``format="onnx"`` writes ``<export_dir>/<name>/onnx/<version>/model.onnx`` instead, with
    Keras's own ONNX export (``pip install "keras-recipes[onnx]"``). It converts the Keras
    model's forward pass only, so it takes no ``endpoint``.

    By default the ``serving_default`` signature takes the model's own inputs (named after its
    ``keras.Input`` layers, or ``input_name`` for a single-input model) and returns
    ``{output_name: model(inputs)}``. A task that serves something else (raw strings in,
    generated text out) passes ``endpoint``, a function returning a dict of tensors, with its
    ``input_signature`` (``tf.TensorSpec`` objects whose names become the input names).
    ``extra_endpoints`` maps more signature names to ``(function, input_signature)``; ``track``
    lists layers or lookup tables the endpoints use besides ``model``.
    """
    import keras
    import tensorflow as tf

    if not _VALID_NAME.match(name):
        raise ConfigError(f"export name {name!r} must be letters, digits, '_', '.' or '-'")
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if format == "onnx":
        if endpoint is not None or extra_endpoints:
            raise ConfigError("ONNX export converts the Keras model's forward pass only; string "
                              "preprocessing and in-graph loops (custom endpoints) need the SavedModel format")
        return _export_onnx(model, name, Path(export_dir), input_name, output_name, metadata or {})
    if endpoint is None:
        endpoint, input_signature = _model_endpoint(model, input_name, output_name)
    endpoints = {SIGNATURE: (endpoint, list(input_signature)), **(extra_endpoints or {})}
    model_dir = Path(export_dir) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-export-", dir=model_dir))
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        for resource in track:
            archive.track(resource)
        signatures = {}
        for signature_name, (function, specs) in endpoints.items():
            archive.add_endpoint(signature_name, function, input_signature=list(specs))
            signatures[signature_name] = _describe(tf.function(function).get_concrete_function(*specs), specs)
        archive.write_out(str(staging / "model"), verbose=False)
        (staging / "model" / "metadata.json").write_text(json.dumps(
            _metadata(model, name, signatures, metadata or {}), indent=2, default=str))
        return _publish(staging / "model", model_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(folder: Path, parent: Path) -> Path:
    """Rename a finished ``folder`` to the next integer version under ``parent``."""
    while True:
        version = (versions(parent) or [0])[-1] + 1
        target = parent / str(version)
        try:
            folder.rename(target)
            return target
        except OSError:
            if not target.exists():
                raise


def _export_onnx(model, name, export_dir: Path, input_name, output_name, metadata) -> Path:
    import importlib.util

    missing = [m for m in ("tf2onnx", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"ONNX export needs {' and '.join(missing)}: pip install \"keras-recipes[onnx]\"")
    _, specs = _model_endpoint(model, input_name, output_name)
    parent = export_dir / name / ONNX_FOLDER
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-export-", dir=parent))
    try:
        (staging / "model").mkdir()
        signature = specs if len(specs) == 1 else [specs]
        onnx_path = staging / "model" / "model.onnx"
        model.export(str(onnx_path), format="onnx", input_signature=signature, verbose=False)
        output_shape = _name_onnx_output(onnx_path, output_name)
        described = {"inputs": {spec.name: {"dtype": spec.dtype.name, "shape": list(spec.shape)} for spec in specs},
                     "outputs": {output_name: {"dtype": "float32", "shape": output_shape}}}
        (staging / "model" / "metadata.json").write_text(json.dumps(
            {**_metadata(model, name, {SIGNATURE: described}, metadata), "format": "onnx"}, indent=2, default=str))
        return _publish(staging / "model", parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _name_onnx_output(path: Path, output_name: str) -> list:
    """Give the ONNX graph's single output the signature's name instead of tf2onnx's
    ``Identity:0``; returns its shape (None for dynamic dimensions)."""
    import onnx

    graph_model = onnx.load(str(path))
    (output,) = graph_model.graph.output
    old = output.name
    for node in graph_model.graph.node:
        node.output[:] = [output_name if name == old else name for name in node.output]
    output.name = output_name
    onnx.save(graph_model, str(path))
    return [d.dim_value or None for d in output.type.tensor_type.shape.dim]


def _model_endpoint(model, input_name, output_name):
    import tensorflow as tf

    if input_name is not None and len(model.inputs) != 1:
        raise ConfigError(f"input_name={input_name!r} only applies to a single-input model; "
                          f"this one has inputs {[i.name for i in model.inputs]}")
    specs = [tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name=input_name or tensor.name)
             for tensor in model.inputs]

    def serve(*inputs):
        outputs = model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
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


def _metadata(model, name, signatures, extra) -> dict:
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


def _library_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keras-recipes")
    except PackageNotFoundError:
        return "unknown"


def read_metadata(version_dir) -> dict:
    path = Path(version_dir) / "metadata.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load(version_dir):
    """``(serving_function, metadata)`` for an exported version folder (or a model folder, whose
    newest version is used)."""
    import tensorflow as tf

    version_dir = Path(version_dir)
    if not (version_dir / "saved_model.pb").exists():
        found = versions(version_dir)
        if not found:
            raise ConfigError(
                f"{version_dir} is not an exported model: expected saved_model.pb in it, or integer "
                f"version folders such as {version_dir}/1. Export one with `keras-recipes run NAME`."
            )
        version_dir = version_dir / str(found[-1])
    loaded = tf.saved_model.load(str(version_dir))
    return loaded.signatures[SIGNATURE], read_metadata(version_dir)
