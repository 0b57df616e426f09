"""TF Serving's gRPC API: real gRPC on 127.0.0.1 with the official tensorflow-serving-api stubs,
against TF Serving's own test models (../shared/tfserving-testdata), the server on a uvloop
event loop in a thread, as it runs beside the REST app."""

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.protobuf import error_codes_pb2, saved_model_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     inference_pb2, model_management_pb2, model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from recipes.serve.batching import Batcher
from recipes.serve.grpc_service import status_code, start_grpc_server
from recipes.serve.repository import ModelRepository
from recipes.serve.server import AddressInUseError
from recipes.serve.service import ModelService

from harness import TFSERVING_TESTDATA, free_port, tfserving_models

pytestmark = pytest.mark.e2e

TESTDATA = TFSERVING_TESTDATA
MODELS = {"half_plus_two": "saved_model_half_plus_two_cpu", "half_plus_two_tf2": "saved_model_half_plus_two_tf2_cpu",
          "counter": "saved_model_counter"}
CLASSIFY = classification_pb2.ClassificationRequest
BIG_MESSAGES = [("grpc.max_send_message_length", 64 * 2**20), ("grpc.max_receive_message_length", 64 * 2**20)]


class LoopThread:
    """An event loop (uvloop, as uvicorn[standard] runs the REST app) in a daemon thread."""

    def __init__(self):
        try:
            import uvloop
            self.loop = uvloop.new_event_loop()
        except ImportError:
            self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self):
        async def cancel_the_rest():  # the batchers' idle workers
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tfserving_models(tmp_path_factory.mktemp("grpc_models"), MODELS)


@pytest.fixture(scope="module")
def loop():
    running = LoopThread()
    yield running
    running.close()


def _serve(loop, service):
    port = free_port()
    return port, loop.run(start_grpc_server(service, "127.0.0.1", port))


@pytest.fixture(scope="module")
def service(base):
    repository = ModelRepository(base, poll_seconds=0)
    repository.start()
    yield ModelService(repository)
    repository.stop()


@pytest.fixture(scope="module")
def port(loop, service):
    port, server = _serve(loop, service)
    yield port
    loop.run(server.stop(1))


@pytest.fixture(scope="module")
def channel(port):
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=BIG_MESSAGES) as channel:
        yield channel


@pytest.fixture(scope="module")
def predictions(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def models(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def _predict_request(model="half_plus_two", signature="", version=None, **inputs) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for alias, value in inputs.items():
        proto = value if isinstance(value, tensor_pb2.TensorProto) else tf.make_tensor_proto(value)
        request.inputs[alias].CopyFrom(proto)
    return request


def _example(**features) -> example_pb2.Example:
    example = example_pb2.Example()
    for name, value in features.items():
        example.features.feature[name].float_list.value.append(value)
    return example


def _example_request(kind, signature: str, *examples, context=None, model="half_plus_two"):
    request = kind()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if context is None:
        request.input.example_list.examples.extend(examples)
    else:
        request.input.example_list_with_context.context.CopyFrom(context)
        request.input.example_list_with_context.examples.extend(examples)
    return request


def _refused(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    return caught.value


def test_served_on_uvloop(loop):
    import uvloop

    assert isinstance(loop.loop, uvloop.Loop)


def test_predict_half_plus_two(predictions):
    response = predictions.Predict(_predict_request(x=np.array([[1.0], [2.0]], dtype=np.float32)), timeout=30)
    assert (response.model_spec.name, response.model_spec.version.value) == ("half_plus_two", 123)
    assert response.model_spec.signature_name == "serving_default"
    assert list(response.outputs) == ["y"]
    assert response.outputs["y"].dtype == tf.float32.as_datatype_enum
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[2.5], [3.0]])
    # as TF Serving answers (Tensor::AsProtoField): the values in float_val, which clients read directly
    assert list(response.outputs["y"].float_val) == [2.5, 3.0] and not response.outputs["y"].tensor_content
    assert [dim.size for dim in response.outputs["y"].tensor_shape.dim] == [2, 1]


@pytest.mark.parametrize("array", [np.array([[0.2, 1.0]], np.float32), np.arange(6, dtype=np.int64).reshape(2, 3),
                                   np.array([3, 255], np.uint8), np.array([True, False]), np.array([1.5], np.float16),
                                   np.array([1e300], np.float64), np.zeros((0, 4), np.float32), np.float32(7.0),
                                   np.array([b"cat", b""], dtype=object)])
def test_output_tensors_are_written_in_their_typed_fields(array):
    from recipes.serve.grpc_service import _fill_tensor_proto

    proto = tensor_pb2.TensorProto()
    _fill_tensor_proto(proto, array)
    assert not proto.tensor_content
    back = tf.make_ndarray(proto)
    assert back.dtype == array.dtype and back.shape == array.shape and (back == array).all()


def test_predict_a_named_version_and_the_tf2_model(predictions):
    response = predictions.Predict(_predict_request(version=123, x=np.array([[4.0]], np.float32)), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[4.0]])
    response = predictions.Predict(_predict_request("half_plus_two_tf2", x=np.array([6.0], np.float32)), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [5.0])


def test_predict_reads_typed_value_fields_as_tensorflow_does(predictions):
    def floats(values, *shape):
        proto = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum, float_val=values)
        for size in shape:
            proto.tensor_shape.dim.add().size = size
        return proto

    answer = predictions.Predict(_predict_request(x=floats([1.0, 2.0], 2, 1)), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(answer.outputs["y"]), [[2.5], [3.0]])
    answer = predictions.Predict(_predict_request(x=floats([4.0], 3, 1)), timeout=30)  # the last value repeats
    np.testing.assert_allclose(tf.make_ndarray(answer.outputs["y"]), [[4.0], [4.0], [4.0]])
    short = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum, tensor_content=b"\0" * 4)
    short.tensor_shape.dim.add().size = 2
    error = _refused(predictions.Predict, _predict_request(x=short))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "tensor parsing error: x")


def test_predict_output_filter(predictions):
    request = _predict_request(x=np.array([[1.0]], np.float32))
    request.output_filter.append("y")
    assert list(predictions.Predict(request, timeout=30).outputs) == ["y"]
    request.output_filter[:] = ["z"]
    error = _refused(predictions.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "output tensor alias not found in signature: z Outputs expected to be in the set {y}."
    request.output_filter[:] = ["y", "y"]
    error = _refused(predictions.Predict, request)
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "duplicate output tensor alias: y")


def test_long_messages_are_truncated_as_tf_serving_does(predictions):
    request = _predict_request(x=np.array([[1.0]], np.float32))
    request.output_filter.append("z" * 2000)
    details = _refused(predictions.Predict, request).details()
    assert len(details) == 1024 + len("...TRUNCATED") and details.endswith("z...TRUNCATED")


@pytest.mark.parametrize("model", ["half_plus_two", "half_plus_two_tf2"])
def test_predict_wrong_dtype(predictions, model):
    error = _refused(predictions.Predict, _predict_request(model, x=np.array([[1]], np.int64)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Expects arg[0] to be float but int64 is provided"
    error = _refused(predictions.Predict, _predict_request(model, x=np.array([[b"1"]], object)))
    assert error.details() == "Expects arg[0] to be float but string is provided"


def test_predict_missing_and_extra_inputs(predictions):
    x = np.array([[1.0]], np.float32)
    error = _refused(predictions.Predict, _predict_request(x=x, a=x))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == ("input size does not match signature: 2!=1 len({a,x}) != len({x}). "
                               "Sent extra: {a}. Missing but required: {}.")
    error = _refused(predictions.Predict, _predict_request())
    assert error.details() == ("input size does not match signature: 0!=1 len({}) != len({x}). "
                               "Sent extra: {}. Missing but required: {x}.")
    error = _refused(predictions.Predict, _predict_request(a=x))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("Signature input alias: x(feed name: x:0) not found in request")


def test_unknown_model_version_and_signature(predictions):
    x = np.array([[1.0]], np.float32)
    error = _refused(predictions.Predict, _predict_request("nope", x=x))
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND,
                                               "Servable not found for request: Latest(nope)")
    error = _refused(predictions.Predict, _predict_request(version=7, x=x))
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND,
                                               "Servable not found for request: Specific(half_plus_two, 7)")
    # Predict looks the signature up in the meta graph: TF Serving's FAILED_PRECONDITION (predict_util.cc)
    error = _refused(predictions.Predict, _predict_request(signature="nope", x=x))
    assert (error.code(), error.details()) == (grpc.StatusCode.FAILED_PRECONDITION,
                                               'Serving signature key "nope" not found.')
    error = _refused(predictions.Classify, _example_request(CLASSIFY, "nope", _example(x=1.0)))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT,
                                               "No signature was found with the name: nope")


def test_missing_model_spec(predictions, models):
    for call, request in [(predictions.Predict, predict_pb2.PredictRequest()),
                          (predictions.Classify, classification_pb2.ClassificationRequest()),
                          (predictions.Regress, regression_pb2.RegressionRequest()),
                          (predictions.GetModelMetadata, get_model_metadata_pb2.GetModelMetadataRequest()),
                          (models.GetModelStatus, get_model_status_pb2.GetModelStatusRequest())]:
        error = _refused(call, request)
        assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


def test_classify_over_examples(predictions):
    request = _example_request(CLASSIFY, "classify_x_to_y", _example(x=1.0), _example(x=2.0))
    response = predictions.Classify(request, timeout=30)
    assert (response.model_spec.name, response.model_spec.version.value,
            response.model_spec.signature_name) == ("half_plus_two", 123, "classify_x_to_y")
    classes = [[(c.label, c.score) for c in each.classes] for each in response.result.classifications]
    assert classes == [[("", 2.5)], [("", 3.0)]]


def test_classify_with_context_merges_it_into_each_example(predictions):
    request = _example_request(CLASSIFY, "classify_x_to_y", _example(), _example(x=4.0), context=_example(x=1.0))
    response = predictions.Classify(request, timeout=30)
    assert [each.classes[0].score for each in response.result.classifications] == [2.5, 4.0]


def test_regress_over_examples(predictions):
    request = _example_request(regression_pb2.RegressionRequest, "regress_x_to_y", _example(x=1.0), _example(x=6.0))
    response = predictions.Regress(request, timeout=30)
    assert response.model_spec.signature_name == "regress_x_to_y" and response.model_spec.version.value == 123
    assert [r.value for r in response.result.regressions] == [2.5, 5.0]


def test_classify_and_regress_refusals(predictions):
    error = _refused(predictions.Regress, _example_request(regression_pb2.RegressionRequest, "regress_x_to_y"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and error.details().startswith("Input is empty")
    error = _refused(predictions.Classify, _example_request(CLASSIFY, "", _example(x=1.0)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # serving_default takes x, not tf.Examples
    assert "No classification inputs found in SignatureDef" in error.details()


def _multi_inference_request(*tasks, model="half_plus_two", examples=()):
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in tasks:
        task = request.tasks.add()
        task.model_spec.name, task.model_spec.signature_name = model, signature
        task.method_name = f"tensorflow/serving/{method}"
    request.input.example_list.examples.extend(examples)
    return request


@pytest.mark.parametrize("model", ["half_plus_two", "half_plus_two_tf2"])
def test_multi_inference_runs_each_task_on_one_input(predictions, model):
    """TF Serving's own testMultiInference(Tf2): regress and classify tasks over one tf.Example."""
    request = _multi_inference_request(("regress_x_to_y", "regress"), ("classify_x_to_y", "classify"),
                                       examples=[_example(x=2.0), _example(x=4.0)], model=model)
    response = predictions.MultiInference(request, timeout=30)
    assert [r.value for r in response.results[0].regression_result.regressions] == [3.0, 4.0]
    assert [[(c.label, c.score) for c in each.classes]
            for each in response.results[1].classification_result.classifications] == [[("", 3.0)], [("", 4.0)]]
    assert [(r.model_spec.name, r.model_spec.version.value, r.model_spec.signature_name) for r in response.results] == [
        (model, 123, "regress_x_to_y"), (model, 123, "classify_x_to_y")]


@pytest.mark.parametrize("tasks, model, code, message", [
    ([("regress_x_to_y", "regress"), ("regress_x_to_y", "regress")], "half_plus_two", grpc.StatusCode.INVALID_ARGUMENT,
     "Duplicate evaluation of signature: regress_x_to_y"),
    ([("nope", "regress")], "half_plus_two", grpc.StatusCode.INVALID_ARGUMENT,
     "Requested signature not found in model graph: nope"),
    ([("regress_x_to_y", "predict")], "half_plus_two", grpc.StatusCode.UNIMPLEMENTED,
     "Unsupported signature method_name: tensorflow/serving/predict"),
    ([("regress_x_to_y", "regress")], "missing", grpc.StatusCode.NOT_FOUND, "Servable not found for request"),
])
def test_multi_inference_refusals_are_tf_servings(predictions, tasks, model, code, message):
    error = _refused(predictions.MultiInference, _multi_inference_request(*tasks, model=model, examples=[_example(x=1.0)]))
    assert error.code() == code and error.details().startswith(message), error.details()


def test_multi_inference_tasks_must_name_one_model(predictions):
    request = _multi_inference_request(("regress_x_to_y", "regress"), ("classify_x_to_y", "classify"),
                                       examples=[_example(x=1.0)])
    request.tasks[1].model_spec.name = "half_plus_two_tf2"
    error = _refused(predictions.MultiInference, request)
    assert error.details() == "All ModelSpecs in a MultiInferenceRequest must access the same model name."


def test_get_model_metadata_is_the_saved_models_signature_def_map(predictions, base):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "half_plus_two"
    response = predictions.GetModelMetadata(request, timeout=30)
    assert (response.model_spec.name, response.model_spec.version.value) == ("half_plus_two", 123)
    assert list(response.metadata) == ["signature_def"]
    assert response.metadata["signature_def"].type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    answered = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(answered)
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((base / "half_plus_two" / "00000123" / "saved_model.pb").read_bytes())
    [meta_graph] = [m for m in saved_model.meta_graphs if "serve" in m.meta_info_def.tags]
    assert dict(answered.signature_def) == dict(meta_graph.signature_def)
    tf_serving = json.loads((TESTDATA / "half_plus_two_model_metadata.json").read_bytes())
    as_json = json_format.MessageToDict(answered, preserving_proto_field_name=True,
                                        always_print_fields_with_no_presence=True)
    assert as_json == tf_serving["metadata"]["signature_def"]


def test_get_model_metadata_refusals(predictions):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "half_plus_two"
    error = _refused(predictions.GetModelMetadata, request)
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT,
                                               "GetModelMetadataRequest must specify at least one metadata_field")
    request.metadata_field.append("signature_defs")
    error = _refused(predictions.GetModelMetadata, request)
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT,
                                               "Metadata field signature_defs is not supported")
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "nope"
    assert _refused(predictions.GetModelMetadata, request).code() == grpc.StatusCode.NOT_FOUND


def test_get_model_status(models):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "half_plus_two"
    [status] = models.GetModelStatus(request, timeout=30).model_version_status
    assert (status.version, status.state) == (123, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    assert (status.status.error_code, status.status.error_message) == (error_codes_pb2.OK, "")
    request.model_spec.name = "nope"
    error = _refused(models.GetModelStatus, request)
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "Could not find any versions of model nope")


def test_reload_config_takes_only_a_model_config_list_and_a_config_repository(models):
    error = _refused(models.HandleReloadConfigRequest, model_management_pb2.ReloadConfigRequest())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "Only ModelConfigList" in error.details()
    request = model_management_pb2.ReloadConfigRequest()
    entry = request.config.model_config_list.config.add(name="x", base_path=str(TESTDATA), model_platform="tensorflow")
    assert entry.name == "x"
    error = _refused(models.HandleReloadConfigRequest, request)  # this server serves a folder of models
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "model folders" in error.details()


def test_reload_config_serves_the_new_model_list(loop):
    from recipes.serve.config import single_model_config

    repository = ModelRepository(models=[single_model_config(TESTDATA / "saved_model_half_plus_two_cpu", "first")],
                                 poll_seconds=0)
    repository.start()
    port, server = _serve(loop, ModelService(repository))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            request = model_management_pb2.ReloadConfigRequest()
            request.config.model_config_list.config.add(
                name="second", base_path=str(TESTDATA / "saved_model_half_plus_three"), model_platform="tensorflow")
            response = stub.HandleReloadConfigRequest(request, timeout=60)
            assert response.status.error_code == error_codes_pb2.OK, response
            status = get_model_status_pb2.GetModelStatusRequest()
            status.model_spec.name = "second"
            [entry] = stub.GetModelStatus(status, timeout=30).model_version_status
            assert entry.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
            status.model_spec.name = "first"  # no longer in the list: unloaded
            assert [e.state for e in stub.GetModelStatus(status, timeout=30).model_version_status] == [
                get_model_status_pb2.ModelVersionStatus.END]
            request.config.model_config_list.config[0].model_platform = "pytorch"
            error = _refused(stub.HandleReloadConfigRequest, request)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "unsupported platform" in error.details()
    finally:
        loop.run(server.stop(1))
        repository.stop()


def test_stateful_tf1_counter_through_predict(predictions):
    def call(signature, **inputs):
        return float(tf.make_ndarray(predictions.Predict(_predict_request("counter", signature, **inputs),
                                                         timeout=30).outputs["output"]))

    call("reset_counter")
    assert [call("incr_counter"), call("incr_counter")] == [1.0, 2.0]
    assert call("incr_counter_by", delta=np.float32(3.0)) == 5.0
    assert call("get_counter") == 5.0


def test_messages_over_grpcs_4_mib_default(predictions):
    x = np.arange(2_000_000, dtype=np.float32).reshape(-1, 1)  # 8 MB each way
    response = predictions.Predict(_predict_request(x=x), timeout=60)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), x * 0.5 + 2)


def test_concurrent_predicts_are_batched(loop, service):
    calls = []

    def run(signature, arrays):
        calls.append(len(arrays["x"]))
        if len(calls) == 1:  # the others arrive while the first batch runs, and queue up (not timing luck)
            time.sleep(1.0)
        return signature.run(arrays)

    batcher = Batcher(run, max_batch_size=8, max_wait_ms=200)
    port, server = _serve(loop, ModelService(service.repository, batcher=batcher))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            requests = [_predict_request(x=np.array([[float(i)]], np.float32)) for i in range(8)]
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda request: stub.Predict(request, timeout=30), requests))
    finally:
        loop.run(server.stop(1))
    assert [float(tf.make_ndarray(a.outputs["y"])[0, 0]) for a in answers] == [0.5 * i + 2 for i in range(8)]
    assert max(batcher.batch_sizes) > 1


class _Broken:
    def get(self, name, version=None, label=None):
        raise ZeroDivisionError("a server bug at /srv/secret/path.py")


def test_an_unexpected_error_is_internal_without_a_traceback(loop):
    port, server = _serve(loop, ModelService(_Broken()))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            error = _refused(stub.Predict, _predict_request(x=np.array([[1.0]], np.float32)))
    finally:
        loop.run(server.stop(1))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "internal server error (ZeroDivisionError); see the server log"


def test_a_port_in_use_is_a_clear_error(loop, service, port):
    with pytest.raises(AddressInUseError, match=f"port {port} on 127.0.0.1 is in use"):
        loop.run(start_grpc_server(service, "127.0.0.1", port))


@pytest.mark.parametrize("http, code", [(400, "INVALID_ARGUMENT"), (404, "NOT_FOUND"), (413, "RESOURCE_EXHAUSTED"),
                                        (429, "RESOURCE_EXHAUSTED"), (501, "UNIMPLEMENTED"), (503, "UNAVAILABLE"),
                                        (500, "INTERNAL"), (418, "INTERNAL")])
def test_http_status_to_grpc_code(http, code):
    assert status_code(http) == grpc.StatusCode[code]
