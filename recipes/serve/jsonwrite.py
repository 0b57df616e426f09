"""Response bodies written as TF Serving writes them: rapidjson's ``PrettyWriter`` (4-space
indent; arrays on one line where TF Serving switches to ``kFormatSingleLineArray``), and numbers
formatted by its ``WriteDecimal``: six significant digits when they read back as the same float32
(or float64), else 9 (17) digits; ``.0`` on whole numbers; ``NaN``, ``Infinity``, ``-Infinity``.
"""

from __future__ import annotations

import base64
import json

import numpy as np

INDENT = "    "
_NON_FINITE = {"nan": "NaN", "-nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # as %g spells them


class PrettyWriter:
    """A minimal rapidjson PrettyWriter: values are pre-rendered JSON tokens."""

    def __init__(self):
        self.parts: list[str] = []
        self.levels: list[list] = []  # per open container: [is_array, value_count]
        self.single_line_arrays = False

    def _prefix(self) -> None:
        if not self.levels:
            return
        is_array, count = self.levels[-1]
        depth = len(self.levels)
        if is_array:
            if count:
                self.parts.append(", " if self.single_line_arrays else ",")
            if not self.single_line_arrays:
                self.parts.append("\n" + INDENT * depth)
        else:  # an object: even counts are keys, odd ones their values
            if count % 2:
                self.parts.append(": ")
            else:
                self.parts.append(",\n" if count else "\n")
                self.parts.append(INDENT * depth)
        self.levels[-1][1] += 1

    def token(self, text: str) -> None:
        self._prefix()
        self.parts.append(text)

    def key(self, name: str) -> None:
        self.token(_string(name))

    def start(self, is_array: bool) -> None:
        self._prefix()
        self.parts.append("[" if is_array else "{")
        self.levels.append([is_array, 0])

    def end(self) -> None:
        is_array, count = self.levels.pop()
        if count and not (is_array and self.single_line_arrays):
            self.parts.append("\n" + INDENT * len(self.levels))
        self.parts.append("]" if is_array else "}")

    def tensor(self, tokens) -> None:
        """A nested list of tokens (or one token) as nested arrays."""
        if not isinstance(tokens, list):
            self.token(tokens)
            return
        self.start(True)
        for item in tokens:
            self.tensor(item)
        self.end()

    def getvalue(self) -> bytes:
        return "".join(self.parts).encode("utf-8")


def _string(text: str) -> str:
    rendered = json.dumps(text, ensure_ascii=False)
    try:
        rendered.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8; escape it instead
        return json.dumps(text)
    return rendered


def decimal_tokens(array: np.ndarray) -> np.ndarray:
    """TF Serving's WriteDecimal for every element of a float array, as strings."""
    kind = np.float64 if array.dtype == np.float64 else np.float32
    array = np.asarray(array, dtype=kind)
    flat = array.reshape(-1)
    values = tuple(flat.tolist())
    if not values:
        return np.empty(array.shape, dtype=object)
    tokens = ("%g " * len(values) % values).split()  # one format call: a third of the time of one per value
    read_back = np.fromiter(map(float, tokens), kind, len(tokens))
    spelled = "%.17g" if kind is np.float64 else "%.9g"
    for index in np.flatnonzero(read_back != flat).tolist():  # NaN as well, named below
        tokens[index] = spelled % values[index]
    tokens = [text if "." in text or "e" in text else _NON_FINITE.get(text) or text + ".0" for text in tokens]
    return np.array(tokens, dtype=object).reshape(array.shape)


def tensor_tokens(array: np.ndarray, *, as_b64: bool):
    """An output tensor as nested lists of JSON tokens (a bare token for a scalar)."""
    array = np.asarray(array)
    if array.dtype.kind == "f":
        tokens = decimal_tokens(array)
    elif array.dtype == bool:
        tokens = np.where(array, "true", "false").astype(object)
    elif array.dtype.kind in "iu":
        tokens = array.astype(str).astype(object)
    else:
        tokens = np.frompyfunc(lambda value: _string_token(value, as_b64), 1, 1)(array)
        tokens = np.asarray(tokens, dtype=object)
    return tokens.tolist()


def _string_token(value, as_b64: bool) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    if not as_b64:
        try:
            return _string(value.decode("utf-8"))
        except UnicodeDecodeError:
            pass  # not UTF-8: TF Serving would write the raw bytes, invalid JSON; base64 is readable
    return '{"b64": "%s"}' % base64.b64encode(value).decode("ascii")


def error_body(message: str) -> bytes:
    writer = PrettyWriter()
    writer.start(False)
    writer.key("error")
    writer.token(_string(message))
    writer.end()
    return writer.getvalue()


def predict_body(outputs: dict[str, np.ndarray], row_format: bool) -> bytes:
    """``{"predictions": ...}`` (row format) or ``{"outputs": ...}`` (columnar), as
    MakeRowFormatJsonFromTensors and MakeColumnarFormatJsonFromTensors write them."""
    if row_format and len(outputs) == 1:
        (array,) = outputs.values()
        if isinstance(array, np.ndarray) and array.dtype.kind == "f" and array.ndim in (1, 2) and len(array):
            return _float_rows_body(array)
    return written_predict_body(outputs, row_format)


def written_predict_body(outputs: dict[str, np.ndarray], row_format: bool) -> bytes:
    """``predict_body`` through the PrettyWriter, for every kind of output."""
    names = sorted(outputs)  # TF Serving's output map is ordered by name
    tokens = {name: tensor_tokens(outputs[name], as_b64=name.endswith("_bytes")) for name in names}
    writer = PrettyWriter()
    writer.start(False)
    if row_format:
        sizes = {name: np.shape(outputs[name])[0] if np.ndim(outputs[name]) else None for name in names}
        for name, size in sizes.items():
            if size is None:
                raise ValueError(f"Tensor name: {name} has no shape information ")
            if size != sizes[names[0]]:
                raise ValueError(f"Tensor name: {name} has inconsistent batch size: {size} expecting: {sizes[names[0]]}")
        writer.key("predictions")
        writer.start(True)
        for item in range(sizes[names[0]] if names else 0):
            if len(names) > 1:
                writer.start(False)
            writer.single_line_arrays = True
            for name in names:
                if len(names) > 1:
                    writer.key(name)
                writer.tensor(tokens[name][item])
            writer.single_line_arrays = False
            if len(names) > 1:
                writer.end()
        writer.end()
    else:
        writer.key("outputs")
        if len(names) > 1:
            writer.start(False)
        for name in names:
            if len(names) > 1:
                writer.key(name)
            writer.tensor(tokens[name])
        if len(names) > 1:
            writer.end()
    writer.end()
    return writer.getvalue()


def _float_rows_body(array: np.ndarray) -> bytes:
    """What the writer prints for one float output of rank 1 or 2 in row format, written at once:
    the common answer of a classifier, where the writer's bookkeeping cost more than the numbers."""
    rows = decimal_tokens(array).tolist()
    items = rows if array.ndim == 1 else ["[" + ", ".join(row) + "]" for row in rows]
    return ('{\n' + INDENT + '"predictions": [' + ", ".join(items) + "\n" + INDENT + "]\n}").encode("utf-8")


def classify_body(results: list[list[tuple[bytes, float | None]]]) -> bytes:
    """``{"results": [[[label, score], ...], ...]}`` as MakeJsonFromClassificationResult."""
    writer = PrettyWriter()
    writer.start(False)
    writer.key("results")
    writer.start(True)
    for classes in results:
        writer.single_line_arrays = True
        writer.start(True)
        for label, score in classes:
            writer.start(True)
            writer.token(_string_token(label, False))
            writer.token(decimal_tokens(np.float32(score or 0.0)).item())
            writer.end()
        writer.end()
        writer.single_line_arrays = False
    writer.end()
    writer.end()
    return writer.getvalue()


def regress_body(values: list[float]) -> bytes:
    """``{"results": [value, ...]}`` as MakeJsonFromRegressionResult."""
    writer = PrettyWriter()
    writer.start(False)
    writer.key("results")
    writer.single_line_arrays = True
    writer.tensor(decimal_tokens(np.array(values, dtype=np.float32)).tolist())
    writer.end()
    return writer.getvalue()
