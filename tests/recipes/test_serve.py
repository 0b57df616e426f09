"""The TF Serving REST API over exported models: real HTTP on 127.0.0.1 against uvicorn in a
thread (and once as the `keras-recipes serve` subprocess)."""

import base64
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.data import DatasetInfo
from recipes.serve import Client, ServingError
from recipes.serve.repository import ModelRepository

from harness import Server, free_port

pytestmark = pytest.mark.e2e  # real processes and servers, and recipes trained for them

IMAGES = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("float32")
FASHION = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple("0123456789"), "pixels", 255.0, "test", 1, 1, 1)


def _classifier(seed):
    keras.utils.set_random_seed(seed)
    return recipes.classifier_for(FASHION, "mnist_cnn", filters=(4, 4), dense_units=8)


def _two_in_two_out(base):
    features = keras.Input((3,), name="features")
    scale = keras.Input((1,), name="scale")
    logits = keras.layers.Dense(2, name="dense")(features)
    model = keras.Model([features, scale], {"logits": logits, "scaled": keras.layers.Multiply()([logits, scale])})

    def serve(features, scale):
        return dict(model([features, tf.cast(scale, tf.float32)]))

    recipes.export(model, "two_in_two_out", export_dir=base, endpoint=serve,
                   input_signature=[tf.TensorSpec((None, 3), tf.float32, name="features"),
                                    tf.TensorSpec((None, 1), tf.int32, name="scale")])
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory, text_data_dir):
    base = tmp_path_factory.mktemp("serve") / "saved_models"
    classifier = _classifier(0)
    recipes.export(classifier, "classifier", export_dir=base, input_name="pixels", output_name="probabilities")
    two = _two_in_two_out(base)
    text = recipes.run("mr_sentiment_conv1d", data_dir=text_data_dir, export_dir=base,
                       work_dir=tmp_path_factory.mktemp("runs"), epochs=1, train_limit=256, test_limit=64, verbose=0)
    generator = recipes.run("shakespeare_char_lstm", data_dir=text_data_dir, export_dir=base,
                            work_dir=tmp_path_factory.mktemp("runs"), epochs=1, batch_size=32, train_limit=64,
                            test_limit=16, architecture_kwargs={"units": 16}, verbose=0)
    return base, {"classifier": classifier, "two_in_two_out": two, "text": text.model, "generator": generator}


@pytest.fixture(scope="module")
def server(models):
    with Server(models[0]) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url)


# --- every endpoint, both formats ---------------------------------------------------------------

def test_model_status_has_tf_servings_form(client, server):
    expected = [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]
    assert client.status("classifier") == expected
    assert client.status("classifier", version=1) == expected
    status, body = server.raw("GET", "/v1/models/classifier")
    assert status == 200 and json.loads(body) == {"model_version_status": expected}


def test_metadata_lists_the_signature_definitions(client):
    metadata = client.metadata("classifier")
    assert metadata["model_spec"] == {"name": "classifier", "signature_name": "", "version": "1"}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    pixels = signature["inputs"]["pixels"]
    assert pixels["dtype"] == "DT_FLOAT"
    assert [int(d["size"]) for d in pixels["tensor_shape"]["dim"]] == [-1, 28, 28, 1]
    assert signature["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert client.metadata("classifier", version=1) == metadata


def test_row_and_columnar_predictions_match_the_keras_model(client, models):
    expected = models[1]["classifier"].predict(IMAGES, verbose=0)
    rows = client.predict("classifier", IMAGES.tolist())
    np.testing.assert_allclose(rows, expected, atol=1e-5)
    named_rows = client.predict("classifier", [{"pixels": image} for image in IMAGES.tolist()])
    np.testing.assert_allclose(named_rows, expected, atol=1e-5)
    columns = client.predict("classifier", inputs=IMAGES.tolist(), version=1)
    np.testing.assert_allclose(columns, expected, atol=1e-5)
    np.testing.assert_allclose(client.predict("classifier", inputs={"pixels": IMAGES.tolist()}), expected, atol=1e-5)


def test_multi_input_multi_output_signature(client, models):
    model = models[1]["two_in_two_out"]
    features = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], "float32")
    scale = np.array([[2], [3]], "int32")
    expected = {k: v.numpy() if hasattr(v, "numpy") else v for k, v in model([features, scale.astype("float32")]).items()}
    rows = client.predict("two_in_two_out", [{"features": f.tolist(), "scale": s.tolist()} for f, s in zip(features, scale)])
    assert [sorted(row) for row in rows] == [["logits", "scaled"]] * 2
    np.testing.assert_allclose([row["scaled"] for row in rows], expected["scaled"], atol=1e-5)
    columns = client.predict("two_in_two_out", inputs={"features": features.tolist(), "scale": scale.tolist()})
    np.testing.assert_allclose(columns["logits"], expected["logits"], atol=1e-5)
    with pytest.raises(ServingError, match="instance 0 is missing input\\(s\\) 'scale'") as missing:
        client.predict("two_in_two_out", [{"features": [1, 2, 3]}])
    assert missing.value.status == 400
    for scale in ([[0.5], [1.5]], [[1.0], [2.0]]):  # TF Serving refuses 1.0 for an int input as well
        with pytest.raises(ServingError, match="JSON value .* not of expected type: int32"):
            client.predict("two_in_two_out", inputs={"features": features.tolist(), "scale": scale})


def test_text_model_takes_raw_strings_and_b64(client, models):
    sentences = ["a gripping , beautifully acted film", "dull and far too long"]
    expected = models[1]["text"].predict(tf.constant(sentences), verbose=0)
    rows = client.predict("mr_sentiment_conv1d", sentences)
    np.testing.assert_allclose([row["probabilities"] for row in rows], expected, atol=1e-5)
    np.testing.assert_allclose([row["positive_probability"] for row in rows], expected[:, 1], atol=1e-5)
    encoded = [{"b64": base64.b64encode(s.encode()).decode()} for s in sentences]
    np.testing.assert_allclose(client.predict("mr_sentiment_conv1d", inputs=encoded)["probabilities"], expected,
                               atol=1e-5)
    with pytest.raises(ServingError, match="expects strings"):
        client.predict("mr_sentiment_conv1d", [1.5, 2.5])


def test_generation_endpoint_runs_its_loop_in_the_graph_and_checks_inputs(client):
    rows = client.predict("shakespeare_char_lstm", [{"prompt": "ROMEO:", "length": 12, "temperature": 0.8},
                                                    {"prompt": "JULIET:", "length": 5, "temperature": 1.0}])
    assert all(isinstance(text, str) for text in rows)  # the continuation of each prompt
    assert [len(text) for text in rows] == [12, 5]
    seeded = {"prompt": ["ROMEO:"], "length": [20], "temperature": [0.8], "seed": [7]}
    once = client.predict("shakespeare_char_lstm", inputs=seeded, signature_name="generate_with_seed")
    assert isinstance(once[0], str) and len(once[0]) == 20
    assert once == client.predict("shakespeare_char_lstm", inputs=seeded, signature_name="generate_with_seed")
    with pytest.raises(ServingError, match="length must be at most 2000") as too_long:
        client.predict("shakespeare_char_lstm", [{"prompt": "ROMEO:", "length": 5000, "temperature": 0.8}])
    assert too_long.value.status == 400


def test_signatures_are_what_tf_serving_reads(models):
    """The SavedModel's own signature defs (what TF Serving and saved_model_cli read)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((models[0] / "classifier" / "1" / "saved_model.pb").read_bytes())
    (graph,) = proto.meta_graphs
    assert "serve" in graph.meta_info_def.tags
    signature = graph.signature_def["serving_default"]
    assert list(signature.inputs) == ["pixels"] and list(signature.outputs) == ["probabilities"]
    assert [d.size for d in signature.inputs["pixels"].tensor_shape.dim] == [-1, 28, 28, 1]
    cli = shutil.which("saved_model_cli") or os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--all", "--dir", str(models[0] / "classifier" / "1")],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "signature_def['serving_default']" in shown.stdout and "inputs['pixels']" in shown.stdout
    assert "outputs['probabilities']" in shown.stdout


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body, status, message", [
    ("POST", "/v1/models/classifier:predict", b"{not json", 400, "JSON Parse error"),
    ("POST", "/v1/models/classifier:predict", b'{"instances": [[1, 2, 3]]}', 400,
     "has shape (1, 3) but the signature expects float32 (None, 28, 28, 1)"),
    ("POST", "/v1/models/classifier:predict", b'{"instances": ["a"]}', 400, "expects float32 numbers, got strings"),
    ("POST", "/v1/models/classifier:predict", b'{"signature_name": "nope", "instances": [[1]]}', 400,
     'Serving signature name: "nope" not found'),
    ("POST", "/v1/models/classifier:predict", b'{"instances": [], "inputs": []}', 400,
     "expecting only one of 'inputs' or 'instances' keys to exist"),
    ("POST", "/v1/models/classifier:predict", b'{"instances": []}', 400, "No values in 'instances' array"),
    ("POST", "/v1/models/classifier:predict", b'{"instances": 3}', 400, "Expecting 'instances' to be an list/array"),
    ("POST", "/v1/models/classifier:predict", b'[1]', 400, "JSON Value: [1] Is not object"),
    ("POST", "/v1/models/classifier:predict", b'', 400, "JSON Parse error: The document is empty"),
    ("POST", "/v1/models/classifier:predict", b'{"signature_name": 7, "instances": [1]}', 400,
     "'signature_name' key must be a string value"),
    ("POST", "/v1/models/classifier:predict", b'{"signature_name": "serving_default"}', 400,
     "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/classifier:predict", b'{"instances": [[1, 2], [3]]}', 400,
     "instances have different shapes for input 'pixels'"),
    ("POST", "/v1/models/classifier:predict", b'{"instances": [[[1, 2], [3]]]}', 400, "is ragged"),
    ("POST", "/v1/models/nobody:predict", b'{"instances": [1]}', 404, "Servable not found for request: Latest(nobody)"),
    ("POST", "/v1/models/classifier/versions/7:predict", b'{"instances": [1]}', 404,
     "Servable not found for request: Specific(classifier, 7)"),
    ("GET", "/v1/models/classifier/versions/7", None, 404, "Could not find version 7 of model classifier"),
    *[("POST", "/v1/models/classifier:predict", ('{"instances": [%s1%s]}' % ("[" * depth, "]" * depth)).encode(), 400,
       "" if depth < 100 else "nested too deeply") for depth in (64, 333, 1100, 200_000)],
    ("POST", "/v1/models/classifier:predict", b'{"instances": [%s]}' % (b"9" * 5000), 400,
     "Number too big to be stored in double"),
    ("POST", "/v1/models/classifier:predict", b'{"signature_name": "\\ud800", "instances": [1]}', 400,
     "The surrogate pair in string is invalid"),
    ("POST", "/v1/models/classifier:predict", b'{"signature_name":%s%s}' % (b"[" * 500_000, b"]" * 500_000), 400,
     "'signature_name' key must be a string value"),
    ("GET", "/v1/models/classifier/versions/x", None, 400, "Malformed request"),
    *[("GET", f"/v1/models/classifier/versions/{digit}", None, 400, "Malformed request")
      for digit in ("%C2%B2", "%D9%A2", "%EF%BC%92")],  # ², Arabic-Indic 2, full-width 2: not ASCII digits
    *[("GET", f"/v1/models/classifier/versions/{digits}", None, 400, "Failed to convert version")
      for digits in ("9" * 5000, str(2**63))],
    ("GET", "/v1/models/../../etc/passwd", None, 400, "Malformed request: GET /v1/models/../../etc/passwd"),
    ("GET", "/v1/models/..%2F..%2Fetc%2Fpasswd", None, 404, ""),
    ("POST", "/v1/models/..:predict", b'{"instances": [1]}', 404, "Servable not found"),
    ("GET", "/v1/models/.tmp-export-x", None, 404, ""),
    ("GET", "/elsewhere", None, 404, "unknown URL"),
    ("GET", "/v1/models/classifier:predict", None, 400, "Malformed request: GET /v1/models/classifier:predict"),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ("GET", "/v1/models/", None, 400, "Malformed request"),
    ("GET", "/v1/elsewhere", None, 400, "Malformed request: GET /v1/elsewhere"),
    ("PUT", "/v1/models/classifier", b"{}", 400, "Malformed request: PUT /v1/models/classifier"),
    ("DELETE", "/v1/models/classifier", None, 400, "Malformed request"),
    ("POST", "/v1/models/classifier", b"{}", 400, "Malformed request: POST /v1/models/classifier"),
    ("POST", "/v1/models/classifier:PREDICT", b'{"instances": [1]}', 400, "Malformed request"),
    ("POST", "/v1/models/classifier:explain", b'{"instances": [1]}', 400, "Malformed request"),
    ("POST", "/v1/models/classifier/versions/%C2%B2:predict", b'{"instances": [1]}', 400, "Malformed request"),
    ("POST", "/v1/models/classifier:classify", b'{"examples": [{"x": 1}]}', 400,
     "No classification inputs found in SignatureDef"),
    ("POST", "/v1/models/classifier:regress", b'{"instances": [1]}', 400,
     "key 'examples' is expected and was not found"),
])
def test_errors_have_tf_servings_status_and_a_message(server, method, path, body, status, message):
    answered, data = server.raw(method, path, body, {"Content-Type": "application/json"})
    assert answered == status, data
    error = json.loads(data)["error"]
    assert isinstance(error, str) and message in error and "Traceback" not in error


def test_an_empty_signature_name_means_the_default_signature(server, client):
    rows = IMAGES[:1].tolist()
    body = json.dumps({"signature_name": "", "instances": rows})
    status, data = server.raw("POST", "/v1/models/classifier:predict", body, {"Content-Type": "application/json"})
    assert status == 200, data
    assert json.loads(data)["predictions"] == client.predict("classifier", rows)


def test_zero_padded_version_folders_are_versions(models, tmp_path):
    base = tmp_path / "padded_models"
    shutil.copytree(models[0] / "classifier" / "1", base / "padded" / "00000123")
    with Server(base) as padded:
        for version in ("123", "00123"):
            status, data = padded.raw("GET", f"/v1/models/padded/versions/{version}")
            assert status == 200, data
            assert json.loads(data)["model_version_status"][0]["version"] == "123"
        assert Client(padded.url).predict("padded", IMAGES[:1].tolist(), version=123)


def test_oversize_body_is_refused_with_413(models):
    with Server(models[0], max_body_bytes=1000) as small:
        status, data = small.raw("POST", "/v1/models/classifier:predict", json.dumps({"instances": IMAGES.tolist()}))
        assert status == 413 and "over the limit of 1000 bytes" in json.loads(data)["error"]
        status, _ = small.raw("GET", "/v1/models/classifier")
        assert status == 200


def test_bounded_fuzz_of_malformed_bodies_gets_json_4xx_and_the_server_stays_up(server):
    rng = random.Random(0)
    valid = json.dumps({"instances": IMAGES[:1].tolist()})
    pieces = [b"{", b"}", b"[", b"]", b'"instances"', b'"inputs"', b":", b",", b"null", b"1e999", b'"b64"',
              b'{"b64": "!!"}', b"true", b"-0", b"\xff\xfe", b'"signature_name"', b"[[[[", b"NaN"]
    bodies = [valid[:rng.randrange(len(valid))].encode() for _ in range(15)]
    bodies += [b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12))) for _ in range(40)]
    bodies += [json.dumps(v).encode() for v in (None, 3, "x", [], {}, {"instances": None}, {"instances": [None]},
                                                 {"inputs": {"pixels": "x"}}, {"instances": [{"b64": "AAAA"}]},
                                                 {"instances": [[[[[1]]]]]}, {"inputs": [[True]]})]
    for body in bodies:
        status, data = server.raw("POST", "/v1/models/classifier:predict", body, {"Content-Type": "application/json"})
        assert 400 <= status < 500, (body, status, data)
        assert isinstance(json.loads(data)["error"], str)
    assert server.raw("GET", "/v1/models/classifier")[0] == 200


# --- model management -----------------------------------------------------------------------------

def test_temp_and_non_integer_folders_are_never_loaded(tmp_path):
    base = tmp_path / "saved_models"
    recipes.export(_classifier(0), "classifier", export_dir=base, input_name="pixels", output_name="probabilities")
    (base / "classifier" / ".tmp-export-abc").mkdir()
    (base / "classifier" / "7").mkdir()  # a version folder still being copied: no saved_model.pb yet
    (base / "classifier" / "8-old").mkdir()
    (base / ".tmp-export-zzz" / "1").mkdir(parents=True)
    outside = tmp_path / "outside"
    shutil.copytree(base / "classifier", outside)
    (base / "escape").symlink_to(outside)
    with Server(base) as running:
        client = Client(running.url)
        assert [s["version"] for s in client.status("classifier")] == ["1"]
        with pytest.raises(ServingError) as escape:
            client.status("escape")
        assert escape.value.status == 404
        assert running.app.state.repository.names() == ["classifier"]


def test_new_version_is_swapped_in_under_load_without_failed_requests(tmp_path):
    base = tmp_path / "saved_models"
    old, new = _classifier(0), _classifier(1)
    recipes.export(old, "classifier", export_dir=base, input_name="pixels", output_name="probabilities")
    expected = {1: old.predict(IMAGES[:1], verbose=0)[0], 2: new.predict(IMAGES[:1], verbose=0)[0]}
    with Server(base) as running:
        client = Client(running.url)
        answers, errors, stop = [], [], threading.Event()

        def hammer():
            while not stop.is_set():
                try:
                    answers.append((time.monotonic(), client.predict("classifier", IMAGES[:1].tolist())[0]))
                except Exception as error:  # noqa: BLE001  (any failure is what this test counts)
                    errors.append(error)

        with ThreadPoolExecutor(4) as pool:
            for _ in range(4):
                pool.submit(hammer)
            time.sleep(1.0)
            published = time.monotonic()
            recipes.export(new, "classifier", export_dir=base, input_name="pixels", output_name="probabilities")
            deadline = time.monotonic() + 60
            while (client.status("classifier")[0]["version"], client.status("classifier")[0]["state"]) != ("2", "AVAILABLE"):
                assert time.monotonic() < deadline, "version 2 was never loaded"
                time.sleep(0.1)
            swapped = time.monotonic()
            time.sleep(1.0)
            stop.set()
        assert errors == []
        versions = [1 if np.allclose(a, expected[1], atol=1e-5) else 2 if np.allclose(a, expected[2], atol=1e-5) else 0
                    for _, a in answers]
        assert 0 not in versions
        assert 1 in [v for (t, _), v in zip(answers, versions) if t < published]
        assert set(v for (t, _), v in zip(answers, versions) if t > swapped + 0.5) == {2}
        assert client.status("classifier") == [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "1", "state": "END", "status": {"error_code": "OK", "error_message": ""}}]
        with pytest.raises(ServingError, match="Specific\\(classifier, 1\\)"):
            client.predict("classifier", IMAGES[:1].tolist(), version=1)
        np.testing.assert_allclose(client.predict("classifier", IMAGES[:1].tolist(), version=2)[0], expected[2],
                                   atol=1e-5)


def test_a_replaced_version_is_released_from_memory(tmp_path):
    base = tmp_path / "saved_models"
    recipes.export(_classifier(0), "classifier", export_dir=base, input_name="pixels", output_name="probabilities")
    repository = ModelRepository(base, poll_seconds=0)
    repository.start()
    first = weakref.ref(repository.get("classifier").loaded)
    recipes.export(_classifier(1), "classifier", export_dir=base, input_name="pixels", output_name="probabilities")
    [change] = repository.refresh()
    assert "version 2 loaded" in change and "replacing version 1" in change
    assert first() is None
    assert gc.get_freeze_count() > 0


def test_batching_merges_concurrent_requests(models):
    with Server(models[0], batching=True, max_batch_size=8, batch_timeout_ms=50) as running:
        client = Client(running.url)
        expected = models[1]["classifier"].predict(IMAGES, verbose=0)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: client.predict("classifier", IMAGES[i % 4:i % 4 + 1].tolist())[0],
                                    range(16)))
        for index, answer in enumerate(answers):
            np.testing.assert_allclose(answer, expected[index % 4], atol=1e-5)
        sizes = running.app.state.batcher.batch_sizes
        assert sum(sizes) == 16 and max(sizes) > 1
        with pytest.raises(ServingError, match="has shape"):
            client.predict("classifier", [[1.0, 2.0]])


def test_cli_serve_binds_loopback_and_answers(models):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "recipes.cli", "serve", str(models[0]), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client, deadline = Client(f"http://127.0.0.1:{port}", timeout=5), time.monotonic() + 120
        while True:
            try:
                assert client.status("classifier")[0]["state"] == "AVAILABLE"
                break
            except (OSError, ServingError):
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
                time.sleep(0.5)
        np.testing.assert_allclose(client.predict("classifier", IMAGES[:2].tolist()),
                                   models[1]["classifier"].predict(IMAGES[:2], verbose=0), atol=1e-5)
        listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- ONNX ------------------------------------------------------------------------------------------

def test_onnx_export_runs_in_onnxruntime_like_the_keras_model(tmp_path):
    import onnxruntime

    model = _classifier(3)
    path = recipes.export(model, "classifier", export_dir=tmp_path, input_name="pixels",
                          output_name="probabilities", format="onnx")
    assert path == tmp_path / "classifier" / "onnx" / "1"
    session = onnxruntime.InferenceSession(str(path / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == ["pixels"]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    (outputs,) = session.run(None, {"pixels": IMAGES})
    np.testing.assert_allclose(outputs, model.predict(IMAGES, verbose=0), atol=1e-5)
    assert json.loads((path / "metadata.json").read_text())["format"] == "onnx"
    assert recipes.saved_models.versions(tmp_path / "classifier") == []  # servers never see it as a version
