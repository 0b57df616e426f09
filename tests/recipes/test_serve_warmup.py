"""TF Serving's SavedModel warmup: the file our exports write, and replaying it before serving."""

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2, inference_pb2, predict_pb2, prediction_log_pb2, regression_pb2

import recipes
from recipes.saved_models.tf_saved_model import WARMUP_FILE
from recipes.serve.codec import TensorInfo
from recipes.serve.loading import PREDICT_METHOD, LoadError, ServedVersion, Signature, load_version
from recipes.serve.warmup import replay_warmup

from harness import TFSERVING_TESTDATA

TESTDATA = TFSERVING_TESTDATA


def _records(path: Path) -> list:
    logs = []
    for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        entry = prediction_log_pb2.PredictionLog()
        entry.ParseFromString(record)
        logs.append(entry)
    return logs


def _sequence_model() -> keras.Model:
    tokens = keras.Input((None, 3), name="frames")  # an unknown length besides the batch
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(tokens))
    return keras.Model(tokens, outputs)


def test_an_export_holds_a_warmup_request_that_parses_and_replays(tmp_path):
    version = recipes.export(_sequence_model(), "frames", export_dir=tmp_path, output_name="scores")
    [entry] = _records(version / WARMUP_FILE)
    request = entry.predict_log.request
    assert (request.model_spec.name, request.model_spec.signature_name) == ("frames", "serving_default")
    assert list(request.inputs) == ["frames"]
    array = tf.make_ndarray(request.inputs["frames"])
    assert array.shape == (1, 1, 3) and array.dtype == np.float32 and not array.any()
    assert sorted(p.name for p in tmp_path.joinpath("frames").iterdir()) == ["1"]  # staged, then renamed
    assert replay_warmup(load_version("frames", 1, version)) == 1


def _export_checked(tmp_path, name: str, least: float) -> Path:
    def checked(x):
        with tf.control_dependencies([tf.debugging.assert_greater_equal(x, least, message=f"inputs must be >= {least}")]):
            return {"y": tf.identity(x)}

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    return recipes.export(model, name, export_dir=tmp_path, endpoint=checked,
                          input_signature=[tf.TensorSpec((None, 2), tf.float32, name="x")])


def test_an_endpoint_that_rejects_zeros_is_warmed_up_with_ones(tmp_path):
    [entry] = _records(_export_checked(tmp_path, "positive", 1.0) / WARMUP_FILE)
    assert tf.make_ndarray(entry.predict_log.request.inputs["x"]).tolist() == [[1.0, 1.0]]


def test_an_endpoint_that_rejects_zeros_and_ones_gets_no_warmup_file_and_still_exports(tmp_path, caplog):
    version = _export_checked(tmp_path, "picky", 2.0)
    assert (version / "saved_model.pb").exists() and not (version / WARMUP_FILE).exists()
    assert ("no warmup file for picky: serving_default fails on zeros and on ones "
            "(assertion failed: [inputs must be >= 2.0]") in caplog.text


class CountingSignature:
    def __init__(self, fail: bool = False):
        self.calls = []
        self.fail = fail

    def __call__(self, arrays):
        self.calls.append({key: value.copy() for key, value in arrays.items()})
        if self.fail:
            raise ValueError("the model rejected the input: Incompatible shapes")
        return {"y": arrays["x"]}


def _served(folder: Path, run, *, string_input: bool = False) -> ServedVersion:
    inputs = {"x": TensorInfo("string" if string_input else "float32", (None,))}
    signature = Signature("serving_default", PREDICT_METHOD, inputs, {"y": TensorInfo("float32", (None,))}, run)
    return ServedVersion("fake", 7, folder, {"serving_default": signature}, signature_def_map={})


def _write(folder: Path, records: list[bytes]) -> None:
    (folder / WARMUP_FILE).parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / WARMUP_FILE)) as writer:
        for record in records:
            writer.write(record)


def _predict(values, signature_name: str = "") -> bytes:
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = signature_name
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(values, dtype="float32")))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString()


def test_replay_runs_each_predict_request_iterations_times_and_skips_what_it_cannot_run(tmp_path):
    multi = prediction_log_pb2.PredictionLog(multi_inference_log=prediction_log_pb2.MultiInferenceLog(
        request=inference_pb2.MultiInferenceRequest()))
    _write(tmp_path, [_predict([1.0, 2.0]), _predict([3.0], "serving_default"),
                      prediction_log_pb2.PredictionLog().SerializeToString(), multi.SerializeToString()])
    run = CountingSignature()
    assert replay_warmup(_served(tmp_path, run), iterations=2) == 4
    assert [call["x"].tolist() for call in run.calls] == [[1.0, 2.0], [1.0, 2.0], [3.0], [3.0]]


def test_no_warmup_file_is_nothing_to_do(tmp_path):
    run = CountingSignature()
    assert replay_warmup(_served(tmp_path, run)) == 0 and run.calls == []


@pytest.mark.parametrize("records, raw, message", [
    (None, b"this is not a TFRecord file at all", r"fake/.*/assets.extra/tf_serving_warmup_requests is corrupt .*"
                                                 r"Please verify your warmup data is in TFRecord format"),
    ([b"\xff\xff not a PredictionLog"], None, "Failed to parse warmup record 1 from fake/"),
    ([_predict([1.0]), _predict([1.0], "missing")], None,
     "warmup record 2 .*predict_log on signature 'missing'.*not found in signature def"),
    ([_predict([1.0])] * 4, None, r"Number of warmup records exceeds the maximum \(3\)"),
])
def test_a_malformed_warmup_file_stops_the_version_from_loading(tmp_path, records, raw, message):
    if raw is not None:
        (tmp_path / WARMUP_FILE).parent.mkdir(parents=True)
        (tmp_path / WARMUP_FILE).write_bytes(raw)
    else:
        _write(tmp_path, records)
    with pytest.raises(LoadError, match=message) as raised:
        replay_warmup(_served(tmp_path, CountingSignature()), max_records=3)
    assert str(tmp_path) not in str(raised.value)


def test_a_failing_warmup_request_stops_the_version_from_loading(tmp_path):
    _write(tmp_path, [_predict([1.0])])
    with pytest.raises(LoadError, match="warmup record 1 .* failed: the model rejected the input: Incompatible shapes"):
        replay_warmup(_served(tmp_path, CountingSignature(fail=True)))


def test_classify_warmup_runs_serialized_examples_through_tf_servings_half_plus_two(tmp_path):
    folder = tmp_path / "00000123"
    shutil.copytree(TESTDATA / "saved_model_half_plus_two_cpu" / "00000123", folder)
    request = classification_pb2.ClassificationRequest()
    request.model_spec.signature_name = "classify_x_to_y"
    request.input.example_list.examples.add().features.feature["x"].float_list.value.append(2.0)
    entry = prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog(request=request))
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.signature_name = "regress_x_to_y"
    regress.input.example_list_with_context.context.features.feature["x"].float_list.value.append(3.0)
    regress.input.example_list_with_context.examples.add()
    with_context = prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog(request=regress))
    _write(folder, [entry.SerializeToString(), with_context.SerializeToString(),
                    _predict([[1.0], [2.0]], "serving_default")])
    served = load_version("half_plus_two", 123, folder)
    assert replay_warmup(served) == 3


@pytest.mark.parametrize("flags, warmed, iterations", [
    ([], True, 1),
    (["--num_request_iterations_for_warmup", "3"], True, 3),
    (["--enable_model_warmup=false"], False, None),
    (["--enable_model_warmup", "--num_request_iterations_for_warmup=0"], True, 1),
])
def test_tf_servings_warmup_flags(tmp_path, flags, warmed, iterations):
    from recipes.cli import build_parser
    from recipes.serve.server import options_from_flags
    from recipes.serve.warmup import WarmupReplay

    args = build_parser().parse_args(["serve", str(tmp_path), *flags])
    options = options_from_flags(base_path=args.base_path, enable_model_warmup=args.enable_model_warmup,
                                 num_request_iterations_for_warmup=args.num_request_iterations_for_warmup)
    warmup = options["repository"].warmup
    assert isinstance(warmup, WarmupReplay) == warmed
    if warmed:
        assert warmup.iterations == iterations
        _write(tmp_path, [_predict([1.0, 2.0])])
        run, seen = CountingSignature(), []
        warmup.observe = lambda *report: seen.append(report)
        warmup(_served(tmp_path, run))
        assert len(run.calls) == iterations and seen[0][1:2] == ("OK",) and seen[0][3] == 1


def test_tf_serving_boolean_flags_take_a_value():
    from recipes.cli import build_parser

    parse = lambda *flags: build_parser().parse_args(["serve", "models", *flags])  # noqa: E731
    assert parse("--enable_batching=true").batching and parse("--enable_batching").batching
    assert not parse("--enable_batching=false").batching and not parse().batching
    assert parse().enable_model_warmup and not parse("--enable_model_warmup=0").enable_model_warmup
    assert parse("--enable_model_warmup=1").enable_model_warmup
    bare = build_parser().parse_args(["serve", "--batching", "saved_models"])  # a bare flag takes no word after it
    assert bare.batching and bare.base_path == "saved_models"
    with pytest.raises(SystemExit):
        parse("--enable_model_warmup=maybe")
