"""TF Serving's REST request and response bodies <-> numpy arrays for one signature.

Row format: ``{"signature_name": ..., "instances": [...]}`` answered with ``{"predictions": ...}``.
Columnar format: ``{"inputs": ...}`` answered with ``{"outputs": ...}``. String tensors take
JSON strings or ``{"b64": ...}``; string outputs whose name ends in ``_bytes`` (or that are not
UTF-8) are returned as ``{"b64": ...}``, as TF Serving does.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

import numpy as np
import orjson

ROW, COLUMNAR = "row", "columnar"
MAX_DIMENSIONS = 64  # numpy's limit; TensorFlow's is higher
DEFAULT_SIGNATURE = "serving_default"


class RequestError(Exception):
    """A request the server answers with ``{"error": message}`` and an HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class TensorInfo:
    dtype: str  # numpy-style name: float32, int64, string, bool, ...
    shape: tuple  # None for unknown dimensions; () for a scalar; None for unknown rank

    def describe(self) -> str:
        if self.shape is None:
            return f"{self.dtype} of any shape"
        dims = ", ".join("None" if d is None else str(d) for d in self.shape)
        return f"{self.dtype} ({dims})"


@dataclass
class PredictRequest:
    signature_name: str
    format: str
    payload: object


def parse_body(body: bytes) -> PredictRequest:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:  # NaN, Infinity and huge integers are left to the standard parser
        try:
            request = json.loads(body)
        except RecursionError:
            raise RequestError(400, "JSON Parse error: the body is nested too deeply") from None
        except ValueError as error:  # malformed JSON, bad UTF-8, an integer of thousands of digits
            raise RequestError(400, f"JSON Parse error: {str(error)[:200]}") from None
    if not isinstance(request, dict):
        raise RequestError(400, "the request body must be a JSON object with 'instances' or 'inputs'")
    unknown = set(request) - {"signature_name", "instances", "inputs"}
    if unknown:
        raise RequestError(400, f"unknown request key(s) {', '.join(sorted(map(repr, unknown)))}; "
                                "expected 'signature_name' and one of 'instances' or 'inputs'")
    if ("instances" in request) == ("inputs" in request):
        raise RequestError(400, "Missing 'inputs' or 'instances' key" if "instances" not in request
                           else "Not both 'instances' and 'inputs' can be specified")
    signature_name = request.get("signature_name") or DEFAULT_SIGNATURE  # "" means the default, as in TF Serving
    if not isinstance(signature_name, str):
        raise RequestError(400, "'signature_name' must be a string")
    try:
        signature_name.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(400, "'signature_name' is not valid Unicode (it holds a lone surrogate)") from None
    if "instances" in request:
        if not isinstance(request["instances"], list) or not request["instances"]:
            raise RequestError(400, "'instances' must be a non-empty list, one entry per example")
        return PredictRequest(signature_name, ROW, request["instances"])
    return PredictRequest(signature_name, COLUMNAR, request["inputs"])


def to_arrays(request: PredictRequest, inputs: dict[str, TensorInfo]) -> dict[str, np.ndarray]:
    """The named input arrays for the signature; a ``RequestError`` (400) names what is wrong."""
    try:
        return _to_arrays(request, inputs)
    except RecursionError:
        raise RequestError(400, "the request's lists are nested too deeply for any tensor") from None


def _to_arrays(request: PredictRequest, inputs: dict[str, TensorInfo]) -> dict[str, np.ndarray]:
    names = sorted(inputs)
    if request.format == ROW:
        rows = [_named(instance, names, f"instance {index}") for index, instance in enumerate(request.payload)]
        arrays = {}
        for name in names:
            examples = [_array(row[name], inputs[name], f"input {name!r} of instance {index}", batched=False)
                        for index, row in enumerate(rows)]
            shapes = {example.shape for example in examples}
            if len(shapes) > 1:
                raise RequestError(400, f"instances have different shapes for input {name!r} "
                                        f"({', '.join(map(str, sorted(shapes)))}); every instance must have the same")
            if examples[0].ndim >= MAX_DIMENSIONS:
                raise RequestError(400, f"input {name!r} is nested {examples[0].ndim} deep in each instance; "
                                        f"a batch of them would have more than {MAX_DIMENSIONS} dimensions")
            arrays[name] = np.stack(examples)
            _check_shape(arrays[name], inputs[name], f"input {name!r}")
    else:
        columns = _named(request.payload, names, "'inputs'")
        arrays = {name: _array(columns[name], inputs[name], f"input {name!r}", batched=True) for name in names}
        for name in names:
            _check_shape(arrays[name], inputs[name], f"input {name!r}")
    return arrays


def _named(value, names: list[str], where: str) -> dict:
    """An instance or ``inputs`` value as ``{input name: value}``."""
    if isinstance(value, dict) and not _is_b64(value):
        missing = [n for n in names if n not in value]
        extra = sorted(set(value) - set(names))
        if missing or extra:
            parts = ([f"is missing input(s) {', '.join(map(repr, missing))}"] if missing else []) + (
                [f"has unknown input(s) {', '.join(map(repr, extra))}"] if extra else [])
            raise RequestError(400, f"{where} {' and '.join(parts)}; the signature takes {', '.join(map(repr, names))}")
        return value
    if len(names) != 1:
        raise RequestError(400, f"{where} must be an object naming each input: {', '.join(map(repr, names))}")
    return {names[0]: value}


def _is_b64(value) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _array(value, info: TensorInfo, where: str, *, batched: bool) -> np.ndarray:
    if info.dtype == "string":
        try:
            array = np.array(_strings(value), dtype=object)
        except ValueError:
            raise RequestError(400, f"{where} is ragged; nested lists must all have the same length") from None
        if array.size and not all(isinstance(v, bytes) for v in array.reshape(-1)):
            raise RequestError(400, f"{where} expects strings (or {{\"b64\": ...}}), got {_kind(array)}")
        return array
    try:
        array = np.array(value)
    except ValueError:
        array = None
    if array is None or array.dtype == object:
        if _contains_b64(value):
            raise RequestError(400, f"{where}: {{\"b64\": ...}} is only for string inputs; this input is {info.dtype}")
        if array is None:
            raise RequestError(400, f"{where} is ragged; nested lists must all have the same length")
        raise RequestError(400, f"{where} is ragged or mixes types; expected {info.describe()} numbers")
    if array.dtype.kind in "US":
        raise RequestError(400, f"{where} expects {info.dtype} numbers, got strings")
    if info.dtype == "bool":
        if array.dtype != bool:
            raise RequestError(400, f"{where} expects true/false, got {array.dtype} numbers")
        return array
    if array.dtype == bool:
        raise RequestError(400, f"{where} expects {info.dtype} numbers, got true/false")
    target = np.dtype(info.dtype)
    if target.kind in "iu" and array.dtype.kind == "f":  # 1.0 too: TF Serving takes only JSON integers here
        example = float(array.reshape(-1)[0]) if array.size else ""
        raise RequestError(400, f"{where}: JSON value {example} not of expected type: {info.dtype} (integers "
                                "written without a decimal point)")
    if target.kind in "iu":
        limits = np.iinfo(target)
        if array.size and (array.min() < limits.min or array.max() > limits.max):
            raise RequestError(400, f"{where} has values outside the range of {info.dtype}")
    return array.astype(target)


def _strings(value):
    if isinstance(value, list):
        return [_strings(v) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    if _is_b64(value):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise RequestError(400, "a {\"b64\": ...} value is not valid base64") from None
    return value


def _contains_b64(value) -> bool:
    if isinstance(value, list):
        return any(_contains_b64(v) for v in value)
    return _is_b64(value)


def _kind(array: np.ndarray) -> str:
    kinds = {type(v).__name__ for v in array.reshape(-1)} - {"bytes"}
    return ", ".join(sorted("numbers" if k in ("int", "float") else k for k in kinds))


def _check_shape(array: np.ndarray, info: TensorInfo, where: str) -> None:
    if info.shape is None:
        return
    if array.ndim != len(info.shape) or any(d is not None and d != a for d, a in zip(info.shape, array.shape)):
        hint = (" A scalar input cannot be batched by rows: send it in the columnar format, "
                "{\"inputs\": {...}}." if info.shape == () else " The first dimension is the batch.")
        raise RequestError(400, f"{where} has shape {tuple(array.shape)} but the signature expects "
                                f"{info.describe()}.{hint}")


def format_response(outputs: dict[str, np.ndarray], request_format: str) -> dict:
    """``{"predictions": ...}`` for a row request, ``{"outputs": ...}`` for a columnar one."""
    values = {name: _jsonable(np.asarray(value), name.endswith("_bytes")) for name, value in outputs.items()}
    if request_format == COLUMNAR:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    sizes = {name: np.shape(value)[0] if np.ndim(value) else None for name, value in outputs.items()}
    if None in sizes.values() or len(set(sizes.values())) > 1:
        raise RequestError(400, "the row ('instances') format needs every output to have the batch "
                                f"dimension first; output sizes are {sizes}. Use the columnar 'inputs' format")
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    count = next(iter(sizes.values()))
    return {"predictions": [{name: value[i] for name, value in values.items()} for i in range(count)]}


def _jsonable(array: np.ndarray, as_b64: bool):
    if array.dtype == object or array.dtype.kind == "S":
        return _encode_strings(array.tolist(), as_b64)
    return array.tolist()


def _encode_strings(value, as_b64: bool):
    if isinstance(value, list):
        return [_encode_strings(v, as_b64) for v in value]
    if isinstance(value, bytes):
        if not as_b64:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value
