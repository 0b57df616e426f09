"""TF Lite models served as TF Serving serves them with ``--prefer_tflite_model``: TF Serving's own
two TF Lite test models (one with a stored SignatureDef, one without) over REST and gRPC, their
metadata, batches of any size, concurrent calls, and what happens without the flag."""

import shutil
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from recipes.serve import Client, ServingError
from recipes.serve.codec import RequestError
from recipes.serve.repository import ModelRepository
from recipes.serve.server import options_from_flags
from recipes.serve.tflite import load_tflite_version

from harness import TFSERVING_TESTDATA, Server, free_port, tfserving_models

pytestmark = pytest.mark.e2e

TESTDATA = TFSERVING_TESTDATA
TFLITE_MODELS = {"half_plus_two_tflite": "saved_model_half_plus_two_tflite",
                 "half_plus_two_tflite_with_sigdef": "saved_model_half_plus_two_tflite_with_sigdef"}


def _signature_def(input_tensor_name: str) -> dict:
    """The SignatureDef TF Serving gives TF Serving's half_plus_two TF Lite models."""
    def tensor(name):
        return {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "1", "name": ""}, {"size": "1", "name": ""}],
                                                      "unknown_rank": False}, "name": name}

    return {"serving_default": {"inputs": {"x": tensor(input_tensor_name)}, "outputs": {"y": tensor("y")},
                                "method_name": "tensorflow/serving/predict", "defaults": {}}}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    # "both": half_plus_three as a SavedModel and half_plus_two as TF Lite: the answer says which one served
    base = tfserving_models(tmp_path_factory.mktemp("tflite_models"),
                            {**TFLITE_MODELS, "savedmodel_only": "saved_model_half_plus_two_cpu",
                             "both": "saved_model_half_plus_three"})
    shutil.copy(TESTDATA / TFLITE_MODELS["half_plus_two_tflite"] / "00000123" / "model.tflite",
                base / "both" / "00000123")
    corrupt = base / "corrupt" / "00000001"
    corrupt.mkdir(parents=True)
    (corrupt / "model.tflite").write_bytes(b"TFL3 but not a flatbuffer at all")
    return base


@pytest.fixture(scope="module")
def server(base):
    """``keras-recipes serve BASE --prefer_tflite_model --enable_batching --grpc-port N``, in process."""
    options = options_from_flags(base_path=base, prefer_tflite_model=True, batching=True, poll_seconds=0)
    grpc_port = free_port()
    with Server(base, grpc_port=grpc_port, **options) as running:
        running.grpc_port = grpc_port
        yield running


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url)


@pytest.fixture(scope="module")
def predictions(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.mark.parametrize("model", TFLITE_MODELS)
def test_tf_servings_tflite_models_answer_3_for_2_over_rest(client, model):
    assert client.status(model) == [{"version": "123", "state": "AVAILABLE",
                                     "status": {"error_code": "OK", "error_message": ""}}]
    assert client.predict(model, [[2.0]]) == [[3.0]]
    assert client.predict(model, inputs={"x": [2.0]}) == [3.0]


@pytest.mark.parametrize("model", TFLITE_MODELS)
def test_tf_servings_tflite_models_answer_3_for_2_over_grpc(predictions, model):
    """The request of TF Serving's testPredictOnTfLite: x = [2.0], shape [1], no output filter."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    response = predictions.Predict(request, timeout=30)
    assert list(response.outputs) == ["y"] and response.outputs["y"].dtype == types_pb2.DT_FLOAT
    assert list(response.outputs["y"].float_val) == [3.0]
    assert (response.model_spec.name, response.model_spec.version.value,
            response.model_spec.signature_name) == (model, 123, "serving_default")


@pytest.mark.parametrize("model, input_tensor_name", [("half_plus_two_tflite", "x"),
                                                      ("half_plus_two_tflite_with_sigdef", "tflite_input")])
def test_metadata_has_tf_servings_signature_defs_over_rest_and_grpc(client, predictions, model, input_tensor_name):
    """Without a stored SignatureDef, one made of the model's tensors; with one, its aliases
    pointed at the model's tensors (``tflite_input:0`` is the tensor ``tflite_input``)."""
    metadata = client.metadata(model)
    assert metadata["model_spec"] == {"name": model, "signature_name": "", "version": "123"}
    assert metadata["metadata"]["signature_def"]["signature_def"] == _signature_def(input_tensor_name)

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = model
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    predictions.GetModelMetadata(request, timeout=30).metadata["signature_def"].Unpack(signature_defs)
    served = signature_defs.signature_def["serving_default"]
    assert (served.inputs["x"].name, served.outputs["y"].name) == (input_tensor_name, "y")
    assert [dim.size for dim in served.inputs["x"].tensor_shape.dim] == [1, 1]


@pytest.mark.parametrize("model", TFLITE_MODELS)
def test_batches_of_any_size_resize_the_interpreter(client, model):
    """The model's tensors are [1, 1]; other batches resize them, and a single row still works after."""
    assert client.predict(model, [[1.0], [2.0], [5.0]]) == [[2.5], [3.0], [4.5]]
    assert client.predict(model, inputs={"x": list(range(10))}) == [x / 2 + 2 for x in range(10)]
    assert client.predict(model, [[2.0]]) == [[3.0]]


def test_concurrent_batched_requests_each_get_their_own_answers(client):
    def ask(rows):
        values = [[float(row)] for row in range(rows)]
        return client.predict("half_plus_two_tflite", values), [[value[0] / 2 + 2] for value in values]

    with ThreadPoolExecutor(8) as pool:
        for answer, expected in pool.map(ask, [1, 3, 2, 7, 1, 4, 5, 2] * 4):
            assert answer == expected


def test_concurrent_calls_on_one_signature_never_mix_inputs(base):
    """Many threads at once on the interpreter pool, each with its own batch size."""
    signature = load_tflite_version("m", 123, base / "half_plus_two_tflite" / "00000123").signature("")

    def call(rows):
        x = np.arange(rows, dtype=np.float32).reshape(rows, 1) + rows
        return np.array_equal(signature.run({"x": x})["y"], x / 2 + 2)

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(call, [1 + index % 9 for index in range(400)]))


def test_with_the_flag_a_folder_without_model_tflite_serves_its_saved_model(client):
    assert client.predict("savedmodel_only", [[2.0]]) == [[3.0]]


def test_with_the_flag_model_tflite_is_preferred_to_the_saved_model_beside_it(client):
    assert client.predict("both", [[2.0]]) == [[3.0]]  # half_plus_two's TF Lite, not half_plus_three


def test_a_corrupt_model_tflite_reports_why_without_server_paths(client, base):
    [status] = client.status("corrupt")
    assert status["state"] == "END" and status["status"]["error_code"] == "UNKNOWN"
    assert "TF Lite model failed to load" in status["status"]["error_message"]
    assert str(base) not in status["status"]["error_message"]


def test_without_the_flag_a_tflite_only_version_fails_to_load_as_in_tf_serving(base):
    repository = ModelRepository(base, poll_seconds=0)
    repository.refresh()
    try:
        for model in TFLITE_MODELS:
            [status] = repository.status(model)
            message = status["status"]["error_message"]
            assert status["state"] == "END" and str(base) not in message
            assert message.startswith("Specified file path does not appear to contain a SavedModel bundle "
                                      "(should have a file called `saved_model.pb`)")
            assert "--prefer_tflite_model" in message
        both = repository.get("both").signature("")
        np.testing.assert_allclose(both.run({"x": np.array([2.0], np.float32)})["y"], [4.0])  # half_plus_three
    finally:
        repository.stop()


def test_tf_servings_prefer_tflite_model_flag_takes_a_value():
    from recipes.cli import build_parser

    parse = lambda *flags: build_parser().parse_args(["serve", "models", *flags])  # noqa: E731
    assert parse("--prefer_tflite_model").prefer_tflite_model
    assert parse("--prefer_tflite_model=true").prefer_tflite_model
    assert not parse("--prefer_tflite_model=false").prefer_tflite_model and not parse().prefer_tflite_model
    with pytest.raises(SystemExit):
        parse("--prefer_tflite_model=yes please")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A model as today's converter writes it: a batch of any size (-1) whose first row is
    reshaped to [1, 2] (so larger batches fail in the kernel), and its signature only in the
    flatbuffer's signature table, which TF Serving does not read."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def pair(x):
        return {"pair": tf.reshape(x, [1, 2]) * 2.0}

    folder = tmp_path_factory.mktemp("converted") / "1"
    folder.mkdir()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([pair.get_concrete_function()], tf.Module())
    (folder / "model.tflite").write_bytes(converter.convert())
    return load_tflite_version("pair", 1, folder)


def test_a_converted_model_gets_tf_servings_signature_of_its_tensors(converted):
    definition = converted.signature_defs["serving_default"]
    assert list(definition["inputs"]) == ["serving_default_x"] and list(definition["outputs"]) == ["PartitionedCall"]
    tensor = definition["inputs"]["serving_default_x"]
    assert tensor["name"] == "serving_default_x:0"
    assert [dim["size"] for dim in tensor["tensor_shape"]["dim"]] == ["1", "2"]  # the allocated size, as TF Serving
    output = converted.signature("").run({"serving_default_x": np.array([[1.0, 2.0]], np.float32)})
    assert output["PartitionedCall"].tolist() == [[2.0, 4.0]]


def test_an_input_the_model_rejects_is_a_400_and_the_next_call_still_runs(converted):
    signature = converted.signature("")
    for _ in range(2):  # the same reason again: the interpreter left half-resized is not reused
        with pytest.raises(RequestError, match=r"^the model rejected the input: num_input_elements != num_") as caught:
            signature.run({"serving_default_x": np.ones((3, 2), np.float32)})
        assert caught.value.status == 400
    assert signature.run({"serving_default_x": np.ones((1, 2), np.float32)})["PartitionedCall"].tolist() == [[2.0, 2.0]]


def test_more_dimensions_than_the_models_tensor_are_refused(client):
    """Resizing to more dimensions than the model has is refused before the interpreter runs (TF
    Lite's XNNPACK delegate aborted the process on 7)."""
    with pytest.raises(ServingError, match="has 7 dimensions, but the model's tensor has 2") as caught:
        client.predict("half_plus_two_tflite", inputs={"x": np.ones((1,) * 7).tolist()})
    assert caught.value.status == 400
    assert client.predict("half_plus_two_tflite", [[2.0]]) == [[3.0]]


def test_inputs_are_cast_to_the_dtype_of_the_models_tensor(base):
    served = load_tflite_version("m", 123, base / "half_plus_two_tflite_with_sigdef" / "00000123")
    assert served.signature("").inputs["x"].dtype == "float32"
    output = served.signature("serving_default").run({"x": np.array([[2]], np.int64)})["y"]
    assert output.dtype == np.float32 and output.tolist() == [[3.0]]
