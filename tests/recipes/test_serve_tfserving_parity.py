"""The REST server against TF Serving's own test models (../shared/tfserving-testdata): whatever
TF Serving answers for them, this server answers too: metadata byte for byte, the REST API
documentation's examples, TF1 graphs TF2's loader refuses, classify and regress over tf.Examples,
rapidjson's tolerance, and a fuzz that never gets a 500."""

import http.client
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import Server, TFSERVING_TESTDATA, free_port, tfserving_models

pytestmark = pytest.mark.e2e

TESTDATA = TFSERVING_TESTDATA
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tfserving_models(tmp_path_factory.mktemp("tfserving_models"), {
        "default": "saved_model_half_plus_two_cpu", "half_plus_two": "saved_model_half_plus_two_cpu",
        "half_plus_two_tf2": "saved_model_half_plus_two_tf2_cpu", "half_plus_three": "saved_model_half_plus_three",
        "counter": "saved_model_counter"})
    broken = base / "broken" / "00000007"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"not a protocol buffer")
    return base


@pytest.fixture(scope="module")
def server(base):
    with Server(base) as running:
        yield running


def _post(server, path, body):
    return server.raw("POST", path, body if isinstance(body, bytes) else json.dumps(body), JSON)


def _in_our_order(expected: dict, ours: dict) -> dict:
    """``expected`` with its signature map in our key order (TF Serving's is its hash map's order)."""
    ours_map = ours["metadata"]["signature_def"]["signature_def"]
    theirs = expected["metadata"]["signature_def"]["signature_def"]
    assert list(sorted(ours_map)) == list(sorted(theirs))
    expected["metadata"]["signature_def"]["signature_def"] = {key: theirs[key] for key in ours_map}
    return expected


def test_metadata_is_tf_servings_byte_for_byte(server):
    status, data = server.raw("GET", "/v1/models/default/metadata")
    assert status == 200, data
    expected = json.loads((TESTDATA / "half_plus_two_model_metadata.json").read_bytes())
    expected = _in_our_order(expected, json.loads(data))
    assert data == (json.dumps(expected, indent=1, ensure_ascii=False) + "\n").encode()


def test_tf2_metadata_has_tf_servings_signatures(server):
    """The testdata's TF2 metadata file is of another export of the model (its tensor names and
    defaults differ), so the signatures are compared by name, method, dtype and shape."""
    status, data = server.raw("GET", "/v1/models/half_plus_two_tf2/metadata")
    assert status == 200, data
    expected = json.loads((TESTDATA / "saved_model_half_plus_two_tf2_2_versions_metadata.json").read_bytes())

    def outline(metadata):
        return {key: (signature["method_name"],
                      {side: {alias: (tensor["dtype"], tensor["tensor_shape"]) for alias, tensor in signature[side].items()}
                       for side in ("inputs", "outputs")})
                for key, signature in metadata["metadata"]["signature_def"]["signature_def"].items()}

    ours = json.loads(data)
    assert ours["model_spec"] == {"name": "half_plus_two_tf2", "signature_name": "", "version": "123"}
    assert outline(ours) == outline(expected)


def test_predict_body_is_written_as_tf_serving_writes_it(server):
    status, data = _post(server, "/v1/models/half_plus_two:predict", {"instances": [[1.0], [2.0], [5.0]]})
    assert status == 200, data
    assert data == b'{\n    "predictions": [[2.5], [3.0], [4.5]\n    ]\n}'
    status, data = _post(server, "/v1/models/half_plus_two:predict", {"inputs": {"x": [[1.0]]}})
    assert status == 200 and json.loads(data) == {"outputs": [[2.5]]}


def test_float32_outputs_are_printed_at_float32_precision(server):
    status, data = _post(server, "/v1/models/half_plus_two:predict", {"instances": [[0.1], [-0.6]]})
    assert status == 200, data
    assert b"2.05" in data and b"1.7" in data and b"2.0499999" not in data and b"1.70000" not in data
    assert json.loads(data) == {"predictions": [[2.05], [1.7]]}


def test_rest_documentation_examples_on_half_plus_three(server):
    """The TF1 model of TF Serving's REST API documentation, which tf.saved_model.load refuses."""
    status, data = _post(server, "/v1/models/half_plus_three:predict", {"instances": [1.0, 2.0, 5.0]})
    assert status == 200, data
    assert json.loads(data) == {"predictions": [3.5, 4.0, 5.5]}
    status, data = _post(server, "/v1/models/half_plus_three:regress",
                         {"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]})
    assert status == 200, data
    assert json.loads(data) == {"results": [3.5, 4.0]}


def test_classify_and_regress_over_tf_examples(server):
    examples = [{"x": 1.0}, {"x": 2.0}]
    status, data = _post(server, "/v1/models/half_plus_two:classify",
                         {"signature_name": "classify_x_to_y", "examples": examples})
    assert status == 200, data
    assert json.loads(data) == {"results": [[["", 2.5]], [["", 3.0]]]}
    assert data == b'{\n    "results": [[["", 2.5]], [["", 3.0]]\n    ]\n}'
    status, data = _post(server, "/v1/models/half_plus_two:regress",
                         {"signature_name": "regress_x_to_y", "examples": examples})
    assert status == 200 and json.loads(data) == {"results": [2.5, 3.0]}, data
    status, data = _post(server, "/v1/models/half_plus_two:regress",  # x from the shared context
                         {"signature_name": "regress_x_to_y", "context": {"x": 4.0}, "examples": [{}, {}]})
    assert status == 200 and json.loads(data) == {"results": [4.0, 4.0]}, data
    status, data = _post(server, "/v1/models/half_plus_two_tf2:classify",
                         {"signature_name": "classify_x_to_y", "examples": examples})
    assert status == 200 and json.loads(data) == {"results": [[["", 2.5]], [["", 3.0]]]}, data


@pytest.mark.parametrize("path, body, message", [
    ("/v1/models/half_plus_two:classify", {"examples": [{"x": 1.0}]}, "No classification inputs found in SignatureDef"),
    ("/v1/models/counter:classify", {"signature_name": "incr_counter", "examples": [{"x": 1.0}]},
     "Expected one input Tensor."),
    ("/v1/models/half_plus_two:classify", {"signature_name": "nope", "examples": [{"x": 1.0}]},
     "No signature was found with the name: nope"),
    ("/v1/models/half_plus_two:regress", {"signature_name": "regress_x_to_y", "examples": []},
     "'examples' value is an empty array"),
    ("/v1/models/half_plus_two:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": [1.0, "a"]}]},
     "Unexpected element type in feature: x"),
    ("/v1/models/half_plus_two:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": None}]},
     "has element with unexpected JSON type: Null"),
    ("/v1/models/half_plus_two:regress", {"signature_name": "regress_x_to_y", "examples": [3]},
     "Example must be JSON object but got JSON Number"),
    ("/v1/models/half_plus_two:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 2**63}]},
     "has uint64_t element. Only int64_t is supported."),
])
def test_classify_and_regress_errors_are_tf_servings(server, path, body, message):
    status, data = _post(server, path, body)
    assert status == 400, data
    assert message in json.loads(data)["error"]


def test_a_stateful_tf1_counter_keeps_its_state(server):
    """saved_model_counter's float_ref variables fail in TF2's loader; as in TF Serving, a signature
    without inputs cannot be called over REST, and one with inputs changes the state."""
    status, data = _post(server, "/v1/models/counter:predict", {"signature_name": "incr_counter", "instances": [1]})
    assert status == 400 and "Failed to get input map for signature: incr_counter" in json.loads(data)["error"]
    answers = [json.loads(_post(server, "/v1/models/counter:predict",
                                {"signature_name": "incr_counter_by", "inputs": 3.0})[1]) for _ in range(2)]
    assert answers == [{"outputs": 3.0}, {"outputs": 6.0}]


def test_unknown_keys_trailing_bytes_and_500000_deep_extras_are_tolerated(server):
    for body in [b'{"instances": [[1.0]], "extra": {"anything": [1, 2]}}',
                 b'{"instances": [[1.0]]} and then some trailing bytes',
                 b'{"instances": [[1.0]], "nested":' + b"[" * 500_000 + b"]" * 500_000 + b"}",
                 b'{"instances": [[1.0]], "n": NaN, "i": -Infinity}']:
        status, data = _post(server, "/v1/models/half_plus_two:predict", body)
        assert status == 200, (body[:60], data)
        assert json.loads(data) == {"predictions": [[2.5]]}


def test_a_model_that_fails_to_load_reports_why_without_server_paths(server, base):
    status, data = server.raw("GET", "/v1/models/broken")
    assert status == 200, data
    (entry,) = json.loads(data)["model_version_status"]
    assert entry["version"] == "7" and entry["state"] == "END" and entry["status"]["error_code"] != "OK"
    assert entry["status"]["error_message"] and str(base) not in entry["status"]["error_message"]
    assert "/tmp" not in entry["status"]["error_message"]


def _fuzz_requests(rng: random.Random, count: int):
    valid = [json.dumps({"instances": [[1.0], [2.0]]}), json.dumps({"inputs": {"x": [[1.0]]}}),
             json.dumps({"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}]})]
    tokens = ["{", "}", "[", "]", ",", ":", '"instances"', '"inputs"', '"examples"', '"context"', '"signature_name"',
              '"x"', "1", "-1", "1.5", "1e999", "-0", "NaN", "Infinity", "true", "null", '"\\ud800"', '"\\u00e9"',
              '{"b64": "!!"}', '{"b64": "AAAA"}', "9" * 400, '"' + "a" * 300 + '"', "[[[[[[", "]]]]]]", "\xff"]
    paths = ["/v1/models/half_plus_two", "/v1/models/half_plus_three", "/v1/models/counter", "/v1/models/default",
             "/v1/models/nobody", "/v1/models", "/v1", "/v1/", "/V1/MODELS/half_plus_two", "/elsewhere"]
    suffixes = ["", ":predict", ":classify", ":regress", ":PREDICT", ":explain", "/metadata", "/versions/123",
                "/versions/123:predict", "/versions/99999999999999999999999", "/versions/%C2%B2", "/labels/stable",
                "/labels/%ZZ:predict", "/versions/", "//", "/..", "%2F..", "?x=1", "/labels/a/versions/1", ":"]
    methods = ["POST"] * 6 + ["GET"] * 3 + ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
    for _ in range(count):
        kind = rng.random()
        if kind < 0.35:  # a valid body damaged
            body = bytearray(rng.choice(valid).encode())
            for _ in range(rng.randrange(1, 4)):
                at = rng.randrange(len(body))
                choice = rng.random()
                if choice < 0.4:
                    body[at] = rng.randrange(256)
                elif choice < 0.7:
                    del body[at:at + rng.randrange(1, 8)]
                else:
                    body[at:at] = rng.choice(tokens).encode("utf-8", "surrogatepass")
            body = bytes(body)
        elif kind < 0.8:  # random token soup
            body = "".join(rng.choice(tokens) for _ in range(rng.randrange(1, 25))).encode("utf-8", "surrogatepass")
        else:  # a structure with wrong types in the right places
            key = rng.choice(["instances", "inputs", "examples", "signature_name", "context"])
            value = rng.choice([None, 1, "s", [], {}, [None], [[1.0], ["a"]], [{"x": []}], {"x": {"y": 1}},
                                [[[[1.0]]]], [{"b64": 1}], [[1.0]] * 3, [{"x": [1, 2.5]}]])
            body = json.dumps({key: value, **({"instances": [[1.0]]} if rng.random() < 0.3 else {})}).encode()
        yield rng.choice(methods), rng.choice(paths) + rng.choice(suffixes), body


def test_fuzz_of_1200_malformed_requests_never_gets_a_500(server):
    rng = random.Random(18)
    statuses = {}
    for method, path, body in _fuzz_requests(rng, 1200):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.request(method, path, body=body, headers=JSON)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        statuses[response.status] = statuses.get(response.status, 0) + 1
        assert response.status < 500, (method, path, body[:200], data[:300])
        if data and method != "HEAD":
            assert isinstance(json.loads(data)["error" if response.status >= 400 else next(iter(json.loads(data)))],
                              (str, list, dict)), data[:200]
    assert sum(statuses.values()) == 1200 and len(statuses) >= 3, statuses
    assert server.raw("GET", "/v1/models/half_plus_two")[0] == 200
    status, data = _post(server, "/v1/models/half_plus_two:predict", {"instances": [[1.0]]})
    assert status == 200 and json.loads(data) == {"predictions": [[2.5]]}


# --- what TF Serving users configure, through `keras-recipes serve` ------------------------------

def _config(hp2: Path, stable: int, canary: int) -> str:
    return f"""model_config_list {{
  config {{
    name: "half_plus_two"
    base_path: "{hp2}"
    model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "stable" value: {stable} }}
    version_labels {{ key: "canary" value: {canary} }}
  }}
  config {{
    name: "half_plus_three"
    base_path: "{TESTDATA / 'saved_model_half_plus_three'}"
    model_platform: "tensorflow"
  }}
}}
"""


class _CliServer:
    def __init__(self, *flags, cwd):
        self.port, self.grpc_port = free_port(), free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recipes.cli", "serve", "--port", str(self.port), "--grpc-port", str(self.grpc_port),
             *map(str, flags)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not self._up():
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)

    def _up(self) -> bool:
        try:
            return self.raw("GET", "/v1/models/half_plus_three")[0] == 200
        except OSError:
            return False

    def raw(self, method, path, body=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request(method, path, body=body if body is None or isinstance(body, bytes) else json.dumps(body),
                           headers=JSON)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, data

    def stop(self):
        self.process.terminate()
        return self.process.communicate(timeout=30)


def _grpc_predict(port: int, label: str):
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half_plus_two"
        request.model_spec.version_label = label
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [3.0]], dtype=np.float32)))
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        return response.model_spec.version.value, tf.make_ndarray(response.outputs["y"]).tolist()


def test_model_config_file_with_policies_labels_reload_grpc_metrics_and_access_log(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    hp2 = tmp_path / "half_plus_two"
    shutil.copytree(TESTDATA / "saved_model_half_plus_two_2_versions", hp2)
    config = tmp_path / "models.config"
    config.write_text(_config(hp2, stable=123, canary=124))
    access_log = tmp_path / "access.log"
    server = _CliServer("--model_config_file", config, "--model_config_file_poll_wait_seconds", "0.5",
                        "--access-log", access_log, cwd=tmp_path)
    try:
        status, data = server.raw("GET", "/v1/models/half_plus_two")
        assert status == 200, data
        assert [(e["version"], e["state"]) for e in json.loads(data)["model_version_status"]] == [
            ("124", "AVAILABLE"), ("123", "AVAILABLE")]
        for label, version in (("stable", "123"), ("canary", "124")):
            status, data = server.raw("GET", f"/v1/models/half_plus_two/labels/{label}/metadata")
            assert status == 200 and json.loads(data)["model_spec"]["version"] == version, data
            status, data = server.raw("POST", f"/v1/models/half_plus_two/labels/{label}:predict", {"instances": [[1.0]]})
            assert status == 200 and json.loads(data) == {"predictions": [[2.5]]}, data
        status, data = server.raw("POST", "/v1/models/half_plus_two/labels/nope:predict", {"instances": [[1.0]]})
        assert status == 400 and "Unrecognized servable version label: nope" in json.loads(data)["error"], data
        assert _grpc_predict(server.grpc_port, "canary") == (124, [[2.5], [3.5]])
        assert _grpc_predict(server.grpc_port, "stable") == (123, [[2.5], [3.5]])

        status, data = server.raw("GET", "/monitoring/prometheus/metrics")
        assert status == 200
        counts = {}
        for family in text_string_to_metric_families(data.decode()):
            for sample in family.samples:
                if sample.name == ":tensorflow:serving:request_count_total" and sample.labels["API"] == "predict":
                    key = (sample.labels["model_name"], sample.labels["model_version"], sample.labels["entrypoint"],
                           sample.labels["status"])
                    counts[key] = sample.value
        assert counts[("half_plus_two", "123", "REST", "OK")] == 1
        assert counts[("half_plus_two", "124", "REST", "OK")] == 1
        assert counts[("half_plus_two", "", "REST", "INVALID_ARGUMENT")] == 1
        assert counts[("half_plus_two", "124", "GRPC", "OK")] == 1 and counts[("half_plus_two", "123", "GRPC", "OK")] == 1

        config.write_text(_config(hp2, stable=124, canary=124))  # promote the canary
        deadline = time.monotonic() + 30
        while json.loads(server.raw("GET", "/v1/models/half_plus_two/labels/stable/metadata")[1])["model_spec"][
                "version"] != "124":
            assert time.monotonic() < deadline, "the label change was not picked up"
            time.sleep(0.3)
    finally:
        server.stop()
    lines = access_log.read_text().splitlines()
    predicts = [line for line in lines if ":predict" in line]
    assert len(predicts) == 3 and all('"POST /v1/models/half_plus_two/labels/' in line for line in predicts), lines
    assert any(" 400 " in line for line in predicts) and all(line.endswith("ms") for line in lines)


def test_bad_model_config_is_refused_with_one_clear_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "recipes.cli", "serve", "--model_config_file",
                           str(TESTDATA / "bad_model_config.txt"), "--port", str(free_port())],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "bad_model_config.txt" in line and "line 1" in line and "Traceback" not in line


def test_tf_serving_flag_spellings_serve_one_model(tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "recipes.cli", "serve", "--rest_api_port", str(port),
                                "--model_name", "half_plus_two", "--model_base_path",
                                str(TESTDATA / "saved_model_half_plus_two_cpu"), "--enable_batching",
                                "--batching_parameters_file", str(TESTDATA / "batching_config.txt"),
                                "--monitoring_config_file", str(TESTDATA / "monitoring_config.txt"),
                                "--file_system_poll_wait_seconds", "0"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("POST", "/v1/models/half_plus_two:predict", body=b'{"instances": [[1.0], [2.0]]}')
                response = connection.getresponse()
                data = response.read()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.3)
        assert response.status == 200 and json.loads(data) == {"predictions": [[2.5], [3.0]]}, data
        connection.request("GET", "/monitoring/prometheus/metrics")
        scraped = connection.getresponse().read().decode()
        assert ":tensorflow:serving:batching_session:input_batch_size_count{} 1" in scraped
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_exports_carry_a_warmup_that_runs_before_the_version_is_available(tmp_path):
    import keras

    import recipes
    from recipes.saved_models.tf_saved_model import WARMUP_FILE

    base = tmp_path / "saved_models"
    inputs = keras.Input((3,), name="features")
    model = keras.Model(inputs, keras.layers.Dense(2, name="scores")(inputs))
    version = recipes.export(model, "good", export_dir=base, input_name="features", output_name="scores")
    assert (version / WARMUP_FILE).stat().st_size > 0
    shutil.copytree(version, base / "corrupt" / "1")
    (base / "corrupt" / "1" / WARMUP_FILE).write_bytes(b"this is no TFRecord file")
    with Server(base) as running:
        status, data = running.raw("GET", "/v1/models/good")
        assert json.loads(data)["model_version_status"][0]["state"] == "AVAILABLE", data
        status, data = running.raw("GET", "/v1/models/corrupt")
        (entry,) = json.loads(data)["model_version_status"]
        assert entry["state"] != "AVAILABLE" and "warmup" in entry["status"]["error_message"].lower(), entry
        assert str(tmp_path) not in entry["status"]["error_message"]
        assert running.raw("POST", "/v1/models/corrupt:predict", b'{"instances": [[1, 2, 3]]}')[0] == 404
        scraped = running.raw("GET", "/monitoring/prometheus/metrics")[1].decode()
    assert ':tensorflow:serving:model_warmup_records_read{model_path="good/1",status="OK"} 1' in scraped


@pytest.mark.parametrize("raw", [b"GARBAGE\r\n\r\n", b"POST /v1/models/x:predict HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                                 b"GET /v1/models/half_plus_two HTTP/9.9\r\n\r\n", b"GET /\x00 HTTP/1.1\r\n\r\n"])
def test_malformed_http_gets_a_json_400(server, raw):
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head, answer
    assert json.loads(body)["error"].startswith("Malformed HTTP request")
    assert server.raw("GET", "/v1/models/half_plus_two")[0] == 200


# --- TF Serving's own test harness's command line (tensorflow_model_server_test_base.RunServer) ----

def _wait_like_tf_servings_test(grpc_port: int, process, timeout: float = 120) -> None:
    """TF Serving's WaitForServerReady: ask for a model that is not there until the answer names
    'Servable'; the test then expects its models to answer at once."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the server did not become ready"
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "intentionally_missing_model"
        with grpc.insecure_channel(f"localhost:{grpc_port}") as channel:
            try:
                prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 5)
            except grpc.RpcError as error:
                if "Servable" in (error.details() or ""):
                    return
        time.sleep(0.5)


def _predict_half_plus_two(address: str) -> tuple[int, list]:
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.model_spec.signature_name = "serving_default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([2.0], dtype=np.float32)))
    with grpc.insecure_channel(address) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 20)
    return response.model_spec.version.value, tf.make_ndarray(response.outputs["y"]).tolist()


def test_tf_servings_own_test_command_line_runs_unchanged():
    """The flags TF Serving's integration tests start tensorflow_model_server with: --port is the
    gRPC port beside --rest_api_port, gRPC also on a Unix socket, channel arguments, a REST timeout;
    gRPC answers only once the model has loaded."""
    import tempfile

    port, rest_api_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:  # a short path: Unix socket paths have ~100 bytes
        socket_path = f"{folder}/tf-serving.sock"
        command = [sys.executable, "-m", "recipes.cli", "serve", f"--port={port}", f"--rest_api_port={rest_api_port}",
                   "--rest_api_timeout_in_ms=5000", f"--grpc_socket_path={socket_path}", "--model_name=default",
                   f"--model_base_path={TESTDATA / 'saved_model_half_plus_two_cpu'}",
                   "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb,"
                   "grpc.so_reuseaddr=1"]
        process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _wait_like_tf_servings_test(port, process)
            assert _predict_half_plus_two(f"localhost:{port}") == (123, [3.0])
            assert _predict_half_plus_two(f"unix:{socket_path}") == (123, [3.0])
            connection = http.client.HTTPConnection("localhost", rest_api_port, timeout=30)
            connection.request("POST", "/v1/models/default:predict", body=b'{"instances": [2.0, 3.0, 4.0]}')
            response = connection.getresponse()
            assert (response.status, json.loads(response.read())) == (200, {"predictions": [3.0, 3.5, 4.0]})
        finally:
            process.terminate()
            process.communicate(timeout=30)


def _slowed(service, seconds: float):
    """Make ``service``'s model take ``seconds`` longer; returns its own ``run`` to undo it."""
    import asyncio

    quick = service.run

    async def slow(signature, arrays):
        await asyncio.sleep(seconds)
        return await quick(signature, arrays)

    service.run = slow
    return quick


def test_rest_timeout_answers_504_and_the_server_goes_on(base):
    """--rest_api_timeout_in_ms: a request not answered in time gets 504 (TF Serving's
    DEADLINE_EXCEEDED), here one whose model takes a second."""
    with Server(base, rest_timeout_ms=50) as running:
        quick = _slowed(running.app.state.service, 1.0)
        started = time.monotonic()
        status, data = _post(running, "/v1/models/half_plus_two:predict", {"instances": [[1.0]]})
        assert status == 504 and "Deadline Exceeded" in json.loads(data)["error"], data
        assert time.monotonic() - started < 0.9
        running.app.state.service.run = quick
        status, data = _post(running, "/v1/models/half_plus_two:predict", {"instances": [[1.0]]})
        assert status == 200 and json.loads(data) == {"predictions": [[2.5]]}
    with Server(base, rest_timeout_ms=0) as running:  # 0: no limit
        _slowed(running.app.state.service, 1.0)
        status, data = _post(running, "/v1/models/half_plus_two:predict", {"instances": [[1.0]]})
        assert status == 200 and json.loads(data) == {"predictions": [[2.5]]}
