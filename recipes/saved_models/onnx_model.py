"""The ONNX format, with Keras's own ONNX export (tf2onnx): the forward pass only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from recipes.errors import ConfigError
from recipes.saved_models._staging import publish_new_version
from recipes.saved_models.tf_saved_model import SIGNATURE, model_endpoint, model_metadata, write_metadata

ONNX_FOLDER = "onnx"  # <export_dir>/<name>/onnx/<version>/model.onnx; not an integer, so servers skip it


def write_onnx(model, model_dir: Path, *, name: str, input_name, output_name, metadata: dict) -> Path:
    missing = [m for m in ("tf2onnx", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"ONNX export needs {' and '.join(missing)}: pip install \"keras-recipes[onnx]\"")
    _, specs = model_endpoint(model, input_name, output_name)

    def write(folder: Path) -> None:
        signature = specs if len(specs) == 1 else [specs]
        onnx_path = folder / "model.onnx"
        model.export(str(onnx_path), format="onnx", input_signature=signature, verbose=False)
        output_shape = _name_onnx_output(onnx_path, output_name)
        described = {"inputs": {spec.name: {"dtype": spec.dtype.name, "shape": list(spec.shape)} for spec in specs},
                     "outputs": {output_name: {"dtype": "float32", "shape": output_shape}}}
        write_metadata(folder, {**model_metadata(model, name, {SIGNATURE: described}, metadata), "format": "onnx"})

    return publish_new_version(model_dir / ONNX_FOLDER, write)


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
