"""Export to ``<export_dir>/<name>/<version>/``: a SavedModel that TF Serving loads, with
``metadata.json`` beside it (or ONNX under ``<name>/onnx/<version>/``). Each version is written to
a temporary folder and renamed into place, so a crash never leaves a half-written version a server
could pick up.

This package is a leaf: any layer may use it, and it imports nothing else of the library but its
errors. ``recipes.export`` is its ``export``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from recipes.errors import ConfigError
from recipes.saved_models._staging import (
    ensure_writable,
    remove_stale_staging,
    version_folders,
    version_number,
    versions,
)
from recipes.saved_models.onnx_model import ONNX_FOLDER, write_onnx
from recipes.saved_models.tf_saved_model import SIGNATURE, write_saved_model

FORMATS = ("tf_saved_model", "onnx")
_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def export(model, name: str, *, export_dir="saved_models", input_name: str | None = None,
           output_name: str = "outputs", metadata: dict | None = None, class_names=None,
           preprocessing: dict | None = None, endpoint=None, input_signature=None,
           extra_endpoints: dict | None = None, track=(), format: str = "tf_saved_model") -> Path:
    """Write ``model`` as the next integer version of ``name``; returns the version folder.

    ``model`` is a Keras model, or the ``Result`` of ``compile_and_fit`` (its model and class
    names). ``class_names`` (what each output index means) and ``preprocessing`` (what the graph
    does to raw inputs: ``value_range``, ``resize_to``, ``channels``) go to ``metadata.json``,
    where ``keras-recipes predict`` and clients read them.

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
    if hasattr(model, "model") and hasattr(model, "class_names"):  # a compile_and_fit Result
        class_names = class_names if class_names is not None else model.class_names
        model = model.model
    metadata = {**(metadata or {})}
    if class_names:
        metadata["class_names"] = [str(name_) for name_ in class_names]
    if preprocessing:
        metadata["preprocessing"] = preprocessing
    if not _VALID_NAME.match(name):
        raise ConfigError(f"export name {name!r} must be letters, digits, '_', '.' or '-'")
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    model_dir = Path(export_dir) / name
    if format == "onnx":
        if endpoint is not None or extra_endpoints:
            raise ConfigError("ONNX export converts the Keras model's forward pass only; string "
                              "preprocessing and in-graph loops (custom endpoints) need the SavedModel format")
        return write_onnx(model, model_dir, name=name, input_name=input_name, output_name=output_name,
                          metadata=metadata)
    return write_saved_model(model, model_dir, name=name, input_name=input_name, output_name=output_name,
                             metadata=metadata, endpoint=endpoint, input_signature=input_signature,
                             extra_endpoints=extra_endpoints, track=track)


def read_metadata(version_dir) -> dict:
    path = Path(version_dir) / "metadata.json"
    return json.loads(path.read_text()) if path.exists() else {}


def version_for_run(model_dir, run_id: str) -> Path | None:
    """The version under ``model_dir`` that the run ``run_id`` exported (its ``metadata.json``
    says so), or None: a run killed after its export does not publish a second version."""
    for folder in reversed(version_folders(model_dir).values()):
        if read_metadata(folder).get("run_id") == run_id:
            return folder
    return None


def load(version_dir):
    """``(serving_function, metadata)`` for an exported version folder (or a model folder, whose
    newest version is used)."""
    import tensorflow as tf

    version_dir = Path(version_dir)
    if not (version_dir / "saved_model.pb").exists():
        found = version_folders(version_dir)
        if not found:
            raise ConfigError(
                f"{version_dir} is not an exported model: expected saved_model.pb in it, or integer "
                f"version folders such as {version_dir}/1. Export one with `keras-recipes run NAME`."
            )
        version_dir = list(found.values())[-1]
    loaded = tf.saved_model.load(str(version_dir))
    return loaded.signatures[SIGNATURE], read_metadata(version_dir)


__all__ = ["FORMATS", "ONNX_FOLDER", "SIGNATURE", "ensure_writable", "export", "load", "read_metadata",
           "remove_stale_staging", "version_folders", "version_for_run", "version_number", "versions"]
