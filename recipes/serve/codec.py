"""TF Serving's REST request bodies -> numpy arrays for one signature.

Row format: ``{"signature_name": ..., "instances": [...]}``; columnar format: ``{"inputs": ...}``.
String tensors take JSON strings or ``{"b64": ...}``. ``:classify`` and ``:regress`` bodies
(``examples``, ``context``) become serialized tf.Examples. Responses are written by ``jsonwrite``.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import threading
from dataclasses import dataclass

import numpy as np
import orjson
import simdjson

from recipes.serve import jsonparse

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


def parse_json(body: bytes) -> dict:
    """The request's top-level JSON object, parsed as TF Serving's rapidjson parses it: NaN and
    Infinity allowed, any nesting depth, bytes after the object ignored. orjson takes the common
    case; anything it refuses goes through ``jsonparse.parse`` for rapidjson's answer."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            document = jsonparse.parse(body)
        except jsonparse.JSONParseError as error:
            raise RequestError(400, str(error)) from None
    if not isinstance(document, dict):
        raise _format_error(document, "Is not object")
    return document


def _format_error(document, message: str) -> RequestError:
    """TF Serving's FormatError: the (truncated) request, then what is wrong with it."""
    return RequestError(400, f"JSON Value: {jsonparse.debug_string(document)} {message}")


def signature_name_of(document: dict) -> str:
    """``signature_name`` as given ("" when absent: the default signature)."""
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise _format_error(document, "not formatted correctly. 'signature_name' key must be a string value.")
    return name


def parse_body(body: bytes) -> PredictRequest:
    """A predict body; other top-level keys are ignored, as TF Serving ignores them."""
    document = parse_json(body)
    return predict_request(document, signature_name_of(document))


def predict_request(document: dict, signature_name: str) -> PredictRequest:
    has_instances, has_inputs = "instances" in document, "inputs" in document
    if has_instances and has_inputs:
        raise _format_error(document, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys "
                                      "to exist ")
    if has_instances:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise _format_error(document, "Expecting 'instances' to be an list/array")
        if not instances:
            raise _format_error(document, "No values in 'instances' array")
        return PredictRequest(signature_name or DEFAULT_SIGNATURE, ROW, instances)
    if has_inputs:
        return PredictRequest(signature_name or DEFAULT_SIGNATURE, COLUMNAR, document["inputs"])
    raise RequestError(400, "Missing 'inputs' or 'instances' key")


def examples_request(body: bytes, verb: str) -> tuple[str, list[bytes]]:
    """A ``:classify`` or ``:regress`` body as (signature name, serialized tf.Examples), each
    example's features after the ``context`` features, as TF Serving joins them."""
    from tensorflow.core.example import example_pb2

    document = parse_json(body)
    signature_name = signature_name_of(document)
    context = b""
    if "context" in document:
        context = _example(document["context"], example_pb2).SerializeToString()
    if "examples" not in document:
        raise _format_error(document, f"When method is {verb}, key 'examples' is expected and was not found")
    examples = document["examples"]
    if not isinstance(examples, list):
        raise _format_error(document, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise _format_error(document, "'examples' value is an empty array")
    return signature_name, [context + _example(example, example_pb2).SerializeToString() for example in examples]


def _example(value, example_pb2):
    """One JSON object as a tf.Example, by TF Serving's rules: strings and {"b64"} are bytes,
    JSON integers and booleans int64, other numbers float; one kind per feature."""
    if not isinstance(value, dict) or _is_b64(value):
        raise RequestError(400, f"Example must be JSON object but got JSON {jsonparse.type_name(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        values: dict[str, list] = {}
        for item in content if isinstance(content, list) else [content]:
            kind, converted = _feature_value(name, item)
            if values and kind not in values:
                raise RequestError(400, f"Unexpected element type in feature: {name} expecting type: {next(iter(values))}")
            values.setdefault(kind, []).append(converted)
        feature = example.features.feature[name]
        for kind, items in values.items():
            getattr(feature, f"{kind}_list").value.extend(items)
    return example


def _feature_value(name: str, item) -> tuple[str, object]:
    if isinstance(item, bool):
        return "int64", int(item)
    if isinstance(item, int):
        if 2**63 <= item < 2**64:
            raise RequestError(400, f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        if not -2**63 <= item < 2**63:
            return "float", float(item)  # rapidjson reads an integer beyond 64 bits as a double
        return "int64", item
    if isinstance(item, float):
        return "float", item
    if isinstance(item, str):
        return "bytes", item.encode("utf-8")
    if _is_b64(item):
        return "bytes", _strings(item)
    raise RequestError(400, f"Feature: {name} has element with unexpected JSON type: {jsonparse.type_name(item)}")


def to_arrays(request: PredictRequest, inputs: dict[str, TensorInfo]) -> dict[str, np.ndarray]:
    """The named input arrays for the signature; a ``RequestError`` (400) names what is wrong."""
    if _first_element_depth(request.payload) > MAX_DIMENSIONS + 1:
        raise RequestError(400, f"the request's lists are nested too deeply for any tensor (more than "
                                f"{MAX_DIMENSIONS} dimensions)")
    try:
        return _to_arrays(request, inputs)
    except RecursionError:
        raise RequestError(400, "the request's lists are nested too deeply for any tensor") from None


def _first_element_depth(value) -> int:
    """How deep lists nest along their first elements (TF Serving's shape discovery), or through
    the first value of an object; counted without recursion."""
    depth = 0
    while True:
        if isinstance(value, dict) and value:
            value = next(iter(value.values()))
        elif isinstance(value, list) and value:
            value, depth = value[0], depth + 1
        else:
            return depth + isinstance(value, list)


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
        if not _only_integers(value):
            example = float(array.reshape(-1)[0]) if array.size else ""
            raise RequestError(400, f"{where}: JSON value {example} not of expected type: {info.dtype} (integers "
                                    "written without a decimal point)")
        array = np.array(value, dtype=object)  # integers beyond int64 beside smaller ones, which numpy made floats
    if target.kind in "iu":
        limits = np.iinfo(target)
        if array.size and (array.min() < limits.min or array.max() > limits.max):
            raise RequestError(400, f"{where} has values outside the range of {info.dtype}")
    with np.errstate(over="ignore"):  # beyond the float type's range: inf, as TF Serving's cast gives
        return array.astype(target)


def _only_integers(value) -> bool:
    """Whether every number in the nested lists ``value`` is an integer (a loop, not recursion)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif type(item) is not int:
            return False
    return True


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


# --- the numeric fast path -----------------------------------------------------------------------

_JSON_SPACE = b" \t\n\r"
_FAST_HEAD = re.compile(
    rb'[ \t\n\r]*\{[ \t\n\r]*(?:"signature_name"[ \t\n\r]*:[ \t\n\r]*"([A-Za-z0-9_./:-]*)"[ \t\n\r]*,[ \t\n\r]*)?'
    rb'"instances"[ \t\n\r]*:[ \t\n\r]*(?=\[)')
_NUMBER_BYTES = b"0123456789.eE+-"
_SKELETON_DROP = _NUMBER_BYTES + _JSON_SPACE
_shapes: dict[bytes, tuple[int, ...]] = {}  # bracket-and-comma skeleton -> the regular shape it has
_SHAPES_KEPT = 256


@dataclass
class FastRows:
    """A row-format body of numbers only in a regular nesting, its numbers not read yet."""

    signature_name: str
    nested: bytes  # the "instances" array, as sent
    shape: tuple[int, ...]  # the batch's shape


def fast_rows(body: bytes) -> FastRows | None:
    """``{"instances": [[...]]}`` (optionally after a plain ``signature_name``) of numbers in a
    regular nesting, or None for anything else, which then takes the general path (and its errors).

    The nesting is checked against a cache of skeletons (the body without its numbers) whose
    shapes the general path established; ``fast_array`` reads the numbers."""
    head = _FAST_HEAD.match(body)
    if head is None:
        return None
    body_end = len(body.rstrip(_JSON_SPACE))
    if body[body_end - 1:body_end] != b"}":
        return None
    nested = body[head.end():body_end - 1].rstrip(_JSON_SPACE)
    if not nested.endswith(b"]"):
        return None
    skeleton = nested.translate(None, _SKELETON_DROP)
    shape = _shapes.get(skeleton)
    if shape is None:
        shape = _regular_shape(nested, skeleton)
        if shape is None:
            return None
    if not shape or shape[0] == 0:
        return None
    return FastRows((head.group(1) or b"").decode("ascii"), nested, shape)


def _regular_shape(nested: bytes, skeleton: bytes) -> tuple[int, ...] | None:
    """The shape of ``nested`` if it is a regular nesting of numbers; remembered by skeleton."""
    if skeleton.strip(b"[],"):
        return None  # strings, literals, objects: not numbers only
    try:
        array = np.array(orjson.loads(nested))
    except (orjson.JSONDecodeError, ValueError):
        return None
    if array.dtype.kind not in "iuf" or array.ndim > MAX_DIMENSIONS or array.size == 0:
        return None
    if len(_shapes) >= _SHAPES_KEPT:
        _shapes.clear()
    _shapes[skeleton] = array.shape
    return array.shape


def fast_array(rows: FastRows, name: str, info: TensorInfo) -> np.ndarray | None:
    """The rows as input ``name``'s array, or None where the general path must judge them: simdjson
    reads the numbers straight into int64, uint64 or float64 memory, strictly (no ``1.0`` for an
    integer, nothing beyond 64 bits, no NaN), and anything it refuses goes the general way."""
    if info.dtype in ("string", "bool"):
        return None
    target = np.dtype(info.dtype)
    if target.kind not in "iuf":
        return None
    read_as = "d" if target.kind == "f" else target.kind
    try:
        numbers = _simdjson_parser().parse(rows.nested).as_buffer(of_type=read_as)
    except Exception:  # simdjson's refusals are ValueError, TypeError and RuntimeError; any is the general path's
        return None
    values = np.frombuffer(numbers, dtype={"d": np.float64, "i": np.int64, "u": np.uint64}[read_as])
    if len(values) != math.prod(rows.shape):
        return None
    if target.kind in "iu" and target.itemsize < 8 and len(values):
        limits = np.iinfo(target)
        if values.min() < limits.min or values.max() > limits.max:
            return None  # the general path words the overflow
    with np.errstate(over="ignore"):  # float64 beyond float32's range is inf, as the general path has it
        array = values.astype(target).reshape(rows.shape)
    _check_shape(array, info, f"input {name!r}")
    return array


_parsers = threading.local()


def _simdjson_parser():
    """This thread's simdjson parser (one may not be shared between threads)."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = simdjson.Parser()
    return parser
