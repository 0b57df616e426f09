"""TF Serving's gRPC-side flags: ``--enable_grpc_healthcheck_service`` (gRPC's standard health
service), ``--enable_profiler=false``, ``--enable_serialization_as_tensor_content``,
``--ssl_config_file`` (TLS, with and without client certificates) and ``--use_alts_credentials``
(refused). Servers are ``create_app``'s, under uvicorn in a thread (``harness.Server``), on real
gRPC; certificates come from ``openssl``."""

import contextlib
import json
import pickle
import re
import signal
import shutil
import subprocess
import sys
import threading
import time

import grpc
import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import (get_model_status_pb2, model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from recipes.cli import build_parser, main
from recipes.errors import ConfigError
from recipes.serve import config
from recipes.serve.config import read_ssl_config_file
from recipes.serve.grpc_service import _fill_tensor_proto
from recipes.serve.health_service import (NOT_SERVING, SERVICE_UNKNOWN, SERVING, HealthCheckRequest,
                                          HealthCheckResponse)
from recipes.serve.profiler_service import ProfileRequest, ProfileResponse
from recipes.serve.server import options_from_flags

from harness import TFSERVING_TESTDATA, Server, free_port

CALL_SECONDS = 30


# --- helpers --------------------------------------------------------------------------------------

def _check(channel, service: str = "", **options):
    call = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=HealthCheckRequest.SerializeToString,
                               response_deserializer=HealthCheckResponse.FromString)
    return call(HealthCheckRequest(service=service), timeout=CALL_SECONDS, **options).status


def _watch(channel, service: str = ""):
    call = channel.unary_stream("/grpc.health.v1.Health/Watch",
                                request_serializer=HealthCheckRequest.SerializeToString,
                                response_deserializer=HealthCheckResponse.FromString)
    return call(HealthCheckRequest(service=service), timeout=CALL_SECONDS)


def _refusal(call, *args) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args)
    return caught.value


def _status_of_missing_model(channel) -> grpc.RpcError:
    """A ModelService call; one that reaches the server gets TF Serving's NOT_FOUND."""
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "missing"
    return _refusal(model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus, request, CALL_SECONDS)


def _openssl(*arguments, cwd) -> None:
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True)


def _issue(folder, name: str, subject: str, extensions: str) -> None:
    """``name``.key and ``name``.pem, a P-256 key and a one-day certificate that ``ca`` signed."""
    (folder / f"{name}.ext").write_text(extensions)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", subject,
             "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", str(len(name)),
             "-days", "1", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=folder)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """PEM texts: a CA, a server certificate for localhost and 127.0.0.1, and a client certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the TLS tests make their certificates with it")
    folder = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
             "/CN=keras-recipes test CA", "-days", "1", "-keyout", "ca.key", "-out", "ca.pem",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign", cwd=folder)
    _issue(folder, "server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _issue(folder, "client", "/CN=client", "extendedKeyUsage=clientAuth\n")
    return {path.name: path.read_text() for path in folder.glob("*.*") if path.suffix in (".pem", ".key")}


def _ssl_config_file(folder, **fields):
    """``fields`` written as TF Serving's SSLConfig text proto."""
    path = folder / "ssl.config"
    path.write_text(text_format.MessageToString(config._extra_messages()["SSLConfig"](**fields)))
    return path


def _server_fields(pki, **more) -> dict:
    return {"server_key": pki["server.key"], "server_cert": pki["server.pem"], **more}


@pytest.fixture(scope="module")
def empty_base(tmp_path_factory):
    return tmp_path_factory.mktemp("no_models")


# --- the health service ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    """A server of TF Serving's half_plus_two with the health service and tensor_content on, the profiler off."""
    base = tmp_path_factory.mktemp("grpc_flags")
    shutil.copytree(TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu", base / "half_plus_two")
    grpc_port = free_port()
    with Server(base, grpc_port=grpc_port, grpc_health_check=True, grpc_tensor_content=True, grpc_profiler=False):
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            yield channel


@pytest.mark.e2e
@pytest.mark.parametrize("service", ["", "ModelService", "PredictionService"])
def test_the_health_service_says_serving_for_the_server_and_tf_servings_two_services(flagged, service):
    assert _check(flagged, service) == SERVING


@pytest.mark.e2e
@pytest.mark.parametrize("service", ["tensorflow.serving.PredictionService", "Model"])
def test_a_service_the_health_service_does_not_know_is_not_found(flagged, service):
    error = _refusal(_check, flagged, service)
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "service name unknown")


@pytest.mark.e2e
def test_a_name_longer_than_grpc_reads_is_a_request_it_cannot_parse(flagged):
    error = _refusal(_check, flagged, "x" * 201)
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "could not parse request")


@pytest.mark.e2e
@pytest.mark.parametrize("service, first", [("PredictionService", SERVING), ("nothing.Here", SERVICE_UNKNOWN)])
def test_watch_sends_the_current_status_then_waits_for_a_change(flagged, service, first):
    responses = _watch(flagged, service)
    assert next(responses).status == first
    second = []

    def read_the_rest():
        with contextlib.suppress(grpc.RpcError):  # the cancel below ends the stream
            second.extend(responses)

    reader = threading.Thread(target=read_the_rest, daemon=True)
    reader.start()
    reader.join(0.5)
    assert reader.is_alive() and not second  # nothing changed, so nothing more was sent
    responses.cancel()
    reader.join(CALL_SECONDS)
    assert responses.code() == grpc.StatusCode.CANCELLED and not second


@pytest.mark.e2e
def test_a_stopping_server_tells_its_watchers_not_serving_then_ends_their_streams(empty_base):
    grpc_port = free_port()
    with Server(empty_base, grpc_port=grpc_port, grpc_health_check=True):
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        responses = _watch(channel)
        assert next(responses).status == SERVING
    assert next(responses).status == NOT_SERVING
    error = _refusal(next, responses)
    assert (error.code(), error.details()) == (grpc.StatusCode.CANCELLED, "not writing due to shutdown")
    channel.close()


# --- --enable_profiler=false and --enable_serialization_as_tensor_content ---------------------------

@pytest.mark.e2e
def test_without_the_profiler_its_service_is_unimplemented(flagged, tmp_path):
    profile = flagged.unary_unary("/tensorflow.ProfilerService/Profile", request_serializer=ProfileRequest.SerializeToString,
                                  response_deserializer=ProfileResponse.FromString)
    request = ProfileRequest(repository_root=str(tmp_path), session_id="s", host_name="h", duration_ms=10)
    assert _refusal(profile, request, CALL_SECONDS).code() == grpc.StatusCode.UNIMPLEMENTED
    assert not any(tmp_path.iterdir())


@pytest.mark.e2e
def test_predict_answers_in_tensor_content_with_the_flag(flagged):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [2.0], [5.0]], np.float32)))
    response = prediction_service_pb2_grpc.PredictionServiceStub(flagged).Predict(request, timeout=CALL_SECONDS)
    y = response.outputs["y"]
    assert (y.dtype, [dim.size for dim in y.tensor_shape.dim]) == (tf.float32.as_datatype_enum, [3, 1])
    assert not y.float_val and y.tensor_content == np.array([2.5, 3.0, 4.5], "<f4").tobytes()
    np.testing.assert_array_equal(tf.make_ndarray(y), [[2.5], [3.0], [4.5]])


@pytest.mark.parametrize("array", [np.array([[0.2, 1.0]], np.float32), np.arange(6, dtype=np.int64).reshape(2, 3),
                                   np.array([3, 255], np.uint8), np.array([True, False]), np.array([1.5], np.float16),
                                   np.array([1e300], np.float64), np.array([1 + 2j], np.complex64),
                                   np.array([1.5, -2], ml_dtypes.bfloat16), np.array([7], np.uint16),
                                   np.zeros((0, 4), np.float32), np.float32(7.0)])
def test_numbers_in_tensor_content_are_byte_for_byte_tensorflows(array):
    proto = tensor_pb2.TensorProto()
    _fill_tensor_proto(proto, array, as_tensor_content=True)
    # tf.io.serialize_tensor writes numbers with the same Tensor::AsProtoTensorContent as TF Serving
    assert proto.SerializeToString() == tf.io.serialize_tensor(array).numpy()


def test_strings_in_tensor_content_take_tensorflows_string_list_encoding():
    strings = np.array([[b"cat", b""], [b"x" * 300, "é".encode()]], dtype=object)
    proto = tensor_pb2.TensorProto()
    _fill_tensor_proto(proto, strings, as_tensor_content=True)
    assert proto.dtype == tf.string.as_datatype_enum and not proto.string_val
    assert proto.tensor_content == b"\x03\x00\xac\x02\x02" + b"cat" + b"x" * 300 + "é".encode()
    np.testing.assert_array_equal(tf.io.parse_tensor(proto.SerializeToString(), tf.string).numpy(), strings)


# --- --ssl_config_file -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_port(pki, empty_base, tmp_path_factory):
    """The gRPC port of a server with TLS, no client certificates asked for."""
    ssl_config = read_ssl_config_file(_ssl_config_file(tmp_path_factory.mktemp("tls"), **_server_fields(pki)))
    grpc_port = free_port()
    with Server(empty_base, grpc_port=grpc_port, grpc_ssl_config=ssl_config):
        yield grpc_port


@pytest.mark.e2e
def test_with_an_ssl_config_grpc_answers_a_client_that_trusts_the_ca(pki, tls_port):
    credentials = grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"].encode())
    with grpc.secure_channel(f"localhost:{tls_port}", credentials) as channel:
        error = _status_of_missing_model(channel)
        assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "Could not find any versions of model missing")
        assert _refusal(_check, channel).code() == grpc.StatusCode.UNIMPLEMENTED  # no health service unless asked


@pytest.mark.e2e
def test_with_an_ssl_config_a_plain_client_gets_no_answer(tls_port):
    with grpc.insecure_channel(f"127.0.0.1:{tls_port}") as channel:
        assert _status_of_missing_model(channel).code() == grpc.StatusCode.UNAVAILABLE


@pytest.fixture(scope="module")
def verifying(pki, empty_base, tmp_path_factory):
    """(gRPC port, Unix socket) of a server with TLS that requires client certificates the CA signed."""
    folder = tmp_path_factory.mktemp("mtls")
    ssl_config = read_ssl_config_file(_ssl_config_file(folder, **_server_fields(
        pki, custom_ca=pki["ca.pem"], client_verify=True)))
    grpc_port, socket_path = free_port(), str(folder / "grpc.sock")
    with Server(empty_base, grpc_port=grpc_port, grpc_socket_path=socket_path, grpc_ssl_config=ssl_config,
                grpc_health_check=True):
        yield grpc_port, socket_path


def _client_credentials(pki, *, with_certificate: bool) -> grpc.ChannelCredentials:
    identity = {"private_key": pki["client.key"].encode(), "certificate_chain": pki["client.pem"].encode()}
    return grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"].encode(), **(identity if with_certificate else {}))


def _target(verifying, over: str) -> str:
    grpc_port, socket_path = verifying
    return f"localhost:{grpc_port}" if over == "tcp" else f"unix:{socket_path}"


def _verifying_channel(pki, verifying, over: str, *, with_certificate: bool) -> grpc.Channel:
    options = [] if over == "tcp" else [("grpc.ssl_target_name_override", "localhost")]  # a socket has no host name
    return grpc.secure_channel(_target(verifying, over), _client_credentials(pki, with_certificate=with_certificate),
                               options)


@pytest.mark.e2e
@pytest.mark.parametrize("over", ["tcp", "unix socket"])
def test_client_verify_answers_a_client_with_a_certificate_the_ca_signed(pki, verifying, over):
    with _verifying_channel(pki, verifying, over, with_certificate=True) as channel:
        assert _check(channel) == SERVING


@pytest.mark.e2e
@pytest.mark.parametrize("over", ["tcp", "unix socket"])
def test_client_verify_refuses_a_client_without_a_certificate(pki, verifying, over):
    with _verifying_channel(pki, verifying, over, with_certificate=False) as channel:
        assert _refusal(_check, channel).code() == grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(_target(verifying, over)) as channel:
        assert _refusal(_check, channel).code() == grpc.StatusCode.UNAVAILABLE


def test_an_ssl_config_travels_to_workers_as_it_was_read(pki, tmp_path):
    path = _ssl_config_file(tmp_path, **_server_fields(pki, custom_ca=pki["ca.pem"], client_verify=True))
    options = options_from_flags(base_path=tmp_path, ssl_config_file=path, grpc_health_check=True,
                                 grpc_profiler=False, grpc_tensor_content=True)
    travelled = pickle.loads(pickle.dumps({key: value for key, value in options.items() if key.startswith("grpc_")}))
    assert travelled == {"grpc_ssl_config": config.SslConfig(pki["server.key"], pki["server.pem"], pki["ca.pem"], True),
                         "grpc_health_check": True, "grpc_profiler": False, "grpc_tensor_content": True}
    assert pki["server.key"] not in repr(travelled["grpc_ssl_config"])  # the private key stays out of logs


def _ssl_text(**fields) -> str:
    return " ".join(f"{name}: {json.dumps(value) if isinstance(value, str) else str(value).lower()}"
                    for name, value in fields.items())


SSL_MISTAKES = [
    ({"server_cert": "server.pem"}, "SSLConfig has no server_key; set it to the PEM text itself (not a file path)"),
    ({"server_key": "server.key"}, "SSLConfig has no server_cert; set it to the PEM text itself (not a file path)"),
    ({"server_key": "/etc/ssl/server.key", "server_cert": "server.pem"},
     "server_key is not a PEM private key (\"-----BEGIN PRIVATE KEY-----\\n...\"); SSLConfig holds the key's text "
     "itself, not a file path"),
    ({"server_key": "server.key", "server_cert": "/etc/ssl/server.pem"}, "server_cert is not a PEM certificate"),
    ({"server_key": "client.key", "server_cert": "server.pem"}, "server_key is not the private key of server_cert"),
    ({"server_key": "server.key", "server_cert": "server.pem", "custom_ca": "ca.key"}, "custom_ca is not a PEM certificate"),
    ({"server_key": "server.key", "server_cert": "server.pem", "client_verify": True},
     "client_verify: true needs custom_ca, the PEM certificate of the authority that signs the clients' certificates"),
]


@pytest.mark.parametrize("fields, message", SSL_MISTAKES)
def test_a_wrong_ssl_config_names_the_file_and_the_field_to_fix(pki, tmp_path, fields, message):
    path = tmp_path / "ssl.config"
    path.write_text(_ssl_text(**{name: pki.get(value, value) if isinstance(value, str) else value
                                 for name, value in fields.items()}))
    with pytest.raises(ConfigError) as caught:
        read_ssl_config_file(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_an_encrypted_server_key_is_refused_without_asking_for_its_password(pki, tmp_path):
    encrypted = subprocess.run(["openssl", "pkey", "-aes256", "-passout", "pass:secret"], input=pki["server.key"],
                               capture_output=True, text=True, check=True).stdout
    path = tmp_path / "ssl.config"
    path.write_text(_ssl_text(server_key=encrypted, server_cert=pki["server.pem"]))
    with pytest.raises(ConfigError, match="server_key is encrypted; gRPC takes an unencrypted key"):
        read_ssl_config_file(path)


# --- the command line --------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, expected", [
    ([], (False, True, False, False)),
    (["--enable_grpc_healthcheck_service", "--enable_serialization_as_tensor_content"], (True, True, True, False)),
    (["--enable_grpc_healthcheck_service=true", "--enable_profiler=false",
      "--enable_serialization_as_tensor_content=1", "--use_alts_credentials=false"], (True, False, True, False)),
    (["--enable_profiler=true", "--enable_grpc_healthcheck_service=false", "--use_alts_credentials"],
     (False, True, False, True)),
])
def test_the_grpc_flags_read_as_tf_serving_writes_them(flags, expected):
    args = build_parser().parse_args(["serve", *flags])
    assert (args.enable_grpc_healthcheck_service, args.enable_profiler, args.enable_serialization_as_tensor_content,
            args.use_alts_credentials) == expected


def _one_error_line(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_alts_is_refused_in_one_line_that_points_to_the_ssl_config_file(capsys, empty_base):
    line = _one_error_line(capsys, ["serve", str(empty_base), "--port", str(free_port()), "--use_alts_credentials=true"])
    assert line == ("keras-recipes: error: --use_alts_credentials: ALTS works only on Google Cloud and is not supported "
                    "here; serve gRPC over TLS with --ssl_config_file FILE instead")


def test_use_alts_credentials_false_is_accepted(empty_base):
    assert options_from_flags(base_path=empty_base, use_alts_credentials=False)["repository"] is not None


@pytest.mark.parametrize("text, message", [
    (None, "--ssl_config_file {path}: no such file; pass the path of a SSLConfig text proto"),
    ("server_key: 3", "Invalid protobuf file: '{path}': Error parsing text-format tensorflow.serving.SSLConfig: 1:13: "),
    ('server_cert: "x"', "{path}: SSLConfig has no server_key"),
])
def test_a_bad_ssl_config_file_ends_serve_in_one_line_naming_it(capsys, empty_base, tmp_path, text, message):
    path = tmp_path / "ssl.config"
    if text is not None:
        path.write_text(text)
    line = _one_error_line(capsys, ["serve", str(empty_base), "--port", str(free_port()), "--grpc-port",
                                    str(free_port()), "--ssl_config_file", str(path)])
    assert line.startswith(f"keras-recipes: error: {message.format(path=path)}"), line


@pytest.mark.e2e
@pytest.mark.slow  # three processes, each importing TensorFlow
def test_two_workers_serve_tls_and_the_health_service_from_tf_servings_command_line(pki, empty_base, tmp_path):
    path = _ssl_config_file(tmp_path, **_server_fields(pki))
    rest_port, grpc_port = free_port(), free_port()
    process = subprocess.Popen([sys.executable, "-m", "recipes.cli", "serve", f"--port={grpc_port}",
                                f"--rest_api_port={rest_port}", f"--model_base_path={empty_base}", "--workers", "2",
                                f"--ssl_config_file={path}", "--enable_grpc_healthcheck_service=true",
                                "--enable_profiler=false"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    credentials = grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"].encode())
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while len(set(re.findall(r"\[worker (\d)\] gRPC listening on 127.0.0.1:\d+ with TLS", "".join(lines)))) < 2:
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        for _ in range(8):  # fresh connections, spread over both workers
            with grpc.secure_channel(f"localhost:{grpc_port}", credentials) as channel:
                assert _check(channel, "PredictionService") == SERVING
                assert _check(channel) == SERVING
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
