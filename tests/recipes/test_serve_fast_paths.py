"""The REST server's shortcuts answer exactly as its general path: the numeric reading of row-format
bodies (codec.fast_rows / fast_array) and the one-output writing of predictions (jsonwrite)."""

import json

import numpy as np
import pytest

from recipes.serve import codec, jsonwrite
from recipes.serve.codec import RequestError, TensorInfo

FLOAT_IMAGE = TensorInfo("float32", (None, 2, 2, 1))
FLOAT_ROW = TensorInfo("float32", (None, 3))
INT_ROW = TensorInfo("int64", (None, 3))


def general_arrays(body: bytes, info: TensorInfo) -> dict:
    document = codec.parse_json(body)
    return codec.to_arrays(codec.predict_request(document, codec.signature_name_of(document)), {"x": info})


def fast_arrays(body: bytes, info: TensorInfo):
    rows = codec.fast_rows(body)
    if rows is None:
        return None
    array = codec.fast_array(rows, "x", info)
    return None if array is None else {"x": array}


@pytest.mark.parametrize("body, info", [
    (b'{"instances": [[1.5, 2, 3], [4, 5e-3, -6E2]]}', FLOAT_ROW),
    (b' \n{ "signature_name" : "serving_default" ,\t"instances":[[1,2,3]] }\r\n', FLOAT_ROW),
    (b'{"instances": [[1, 2, 3], [4, 5, -6]]}', INT_ROW),
    (b'{"instances": [[[[0.1], [0.2]], [[0.3], [0.4]]]]}', FLOAT_IMAGE),
    (json.dumps({"instances": np.arange(24.0).reshape(2, 2, 2, 3).tolist()}).encode(), TensorInfo("float32", None)),
    (b'{"instances": [[1e39, -1e39, 1e-46]]}', FLOAT_ROW),  # beyond float32: inf, and 0
    (b'{"instances": [[16777217, 9007199254740993, -0]]}', FLOAT_ROW),  # integers rounded as floats
    (b'{"instances": [[-128, 127, 0]]}', TensorInfo("int8", (None, 3))),
    (b'{"instances": [[9223372036854775807, -9223372036854775808, 0]]}', INT_ROW),
    (b'{"instances": [[18446744073709551615, 1, 0]]}', TensorInfo("uint64", (None, 3))),  # beyond int64
    (b'{"instances": [[65520, 0.1, 1]]}', TensorInfo("float16", (None, 3))),
])
def test_numeric_bodies_read_the_same_as_the_general_path(body, info):
    fast = fast_arrays(body, info)
    assert fast is not None, "this body is plain numbers in a regular nesting: the fast path must take it"
    general = general_arrays(body, info)
    assert fast["x"].dtype == general["x"].dtype
    np.testing.assert_array_equal(fast["x"], general["x"])


@pytest.mark.parametrize("body, info", [
    (b'{"instances": [[1.0, 2, 3]]}', INT_ROW),  # TF Serving refuses 1.0 for an integer input
    (b'{"instances": [[1, 2, 3]]}\x0c', FLOAT_ROW),  # form feed is not JSON whitespace
    (b'{"instances": [[1, 2, 3]]} trailing', FLOAT_ROW),  # tolerated, but by the general path
    (b'{"instances": [[1, 2, 3]]}}', FLOAT_ROW),
    (b'{"instances": [[1, 2], [3]]}', FLOAT_ROW),  # ragged
    (b'{"instances": [[1, "2", 3]]}', FLOAT_ROW),
    (b'{"instances": [[1, 2, NaN]]}', FLOAT_ROW),
    (b'{"instances": []}', FLOAT_ROW),
    (b'{"instances": [[1, 2, 3]], "extra": 1}', FLOAT_ROW),
    (b'{"instances": [[1, 2, 3]' + b"]" * 2 + b"}", FLOAT_ROW),
    (b'{"instances": [[' + b"9" * 30 + b', 2, 3]]}', INT_ROW),  # beyond int64
    (b'{"instances": [[9223372036854775808, 2, 3]]}', INT_ROW),
    (b'{"instances": [[300, 2, 3]]}', TensorInfo("int8", (None, 3))),  # the general path's 400
    (b'{"instances": [[-1, 2, 3]]}', TensorInfo("uint8", (None, 3))),
    (b'{"instances": [[1e400, 2, 3]]}', FLOAT_ROW),  # beyond double: rapidjson's error
    (b'{"instances": [[01, 2, 3]]}', FLOAT_ROW),  # not JSON numbers
    (b'{"instances": [[1., 2, 3]]}', FLOAT_ROW),
    (b'{"instances": [[+1, 2, 3]]}', FLOAT_ROW),
    (b'{"instances": [[1, 2, 3], [4, 5, 6e]]}', FLOAT_ROW),
])
def test_anything_else_is_left_to_the_general_path(body, info):
    assert fast_arrays(body, info) is None


def test_a_wrong_shape_on_the_fast_path_is_the_general_paths_400():
    body = b'{"instances": [[1, 2, 3, 4]]}'
    with pytest.raises(RequestError) as fast:
        fast_arrays(body, FLOAT_ROW)
    with pytest.raises(RequestError) as general:
        general_arrays(body, FLOAT_ROW)
    assert fast.value.status == general.value.status == 400


@pytest.mark.parametrize("array", [
    np.random.default_rng(0).random((3, 10)).astype("float32"),
    np.float32([0.2, 1, -0.0, 1e-7, 3.4e38]),
    np.float32([[np.nan, np.inf, -np.inf]]),
    np.random.default_rng(1).normal(size=(2, 4)),  # float64: 17 digits where 6 do not read back
    np.float16([[1.5, 0.1]]),
    np.zeros((2, 0), "float32"),
])
def test_one_float_output_is_written_as_the_writer_writes_it(array):
    assert jsonwrite.predict_body({"probabilities": array}, True) == \
        jsonwrite.written_predict_body({"probabilities": array}, True)


def test_the_one_output_body_is_tf_servings_format():
    body = jsonwrite.predict_body({"y": np.float32([[0.2, 3.0], [1.5, 2.5]])}, True)
    assert body == b'{\n    "predictions": [[0.2, 3.0], [1.5, 2.5]\n    ]\n}'
    assert json.loads(body) == {"predictions": [[0.2, 3.0], [1.5, 2.5]]}


def _write_decimal(value: float, kind) -> str:
    """TF Serving's WriteDecimal for one number, spelled out: 6 digits where they read back as the
    same ``kind``, else 9 (float32) or 17 (float64); ``.0`` on whole numbers; NaN and Infinity named."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    text = f"{value:g}"
    if kind(float(text)) != kind(value):
        text = f"{value:.{17 if kind is np.float64 else 9}g}"
    return text if "." in text or "e" in text else text + ".0"


@pytest.mark.parametrize("kind", [np.float32, np.float64])
def test_floats_are_spelled_as_tf_servings_write_decimal_one_by_one_spells_them(kind):
    rng = np.random.default_rng(7)
    with np.errstate(over="ignore"):
        values = np.concatenate([
            rng.random(500), rng.standard_normal(2000) * 10.0 ** rng.integers(-45, 45, 2000),
            rng.integers(-10**7, 10**7, 500), [0.0, -0.0, 1.0, 100.0, 1e6, 1e16, 1e17, 123456.0, 1234567.0, 0.1,
                                               1e-5, 3.4e38, 1e-45, np.nan, -np.nan, np.inf, -np.inf]]).astype(kind)
    tokens = jsonwrite.decimal_tokens(values.reshape(-1, 1)).reshape(-1).tolist()
    assert tokens == [_write_decimal(value, kind) for value in values.tolist()]
