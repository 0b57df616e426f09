"""TensorFlow's ProfilerService on the gRPC port, as TF Serving serves it: TensorFlow's own client
(``tf.profiler.experimental.client.trace``, what TensorBoard's "Capture profile" runs) against the
server of ``keras-recipes serve`` (REST and gRPC on one loop) while it answers predicts, as TF
Serving's ``test_profiler_service_with_valid_trace_request`` does, and raw ``Profile`` calls for the
cases that client hides."""

import glob
import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
import tensorflow as tf
from tensorflow.python.profiler import profiler_client
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from recipes.serve import Client
from recipes.serve.profiler_service import SESSION_CONTENTION, ProfileRequest, ProfileResponse, _join_path

from harness import TFSERVING_TESTDATA, Server, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(REST url, gRPC address) of a server with TF Serving's half_plus_two."""
    base = tmp_path_factory.mktemp("profiler_models")
    shutil.copytree(TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu", base / "half_plus_two")
    grpc_port = free_port()
    with Server(base, grpc_port=grpc_port) as server:
        yield server.url, f"127.0.0.1:{grpc_port}"


@pytest.fixture(scope="module")
def profile(served):
    """The raw ``tensorflow.ProfilerService/Profile`` call."""
    with grpc.insecure_channel(served[1]) as channel:
        yield channel.unary_unary("/tensorflow.ProfilerService/Profile",
                                  request_serializer=ProfileRequest.SerializeToString,
                                  response_deserializer=ProfileResponse.FromString)


def _request(folder: Path, duration_ms: int, session_id="run", host_name="127.0.0.1:8500", **fields):
    request = ProfileRequest(repository_root=str(folder), session_id=session_id, host_name=host_name, **fields)
    request.opts.version = 1
    request.opts.duration_ms = duration_ms
    return request


def _event_names(xspace) -> set[str]:
    return {plane.event_metadata[event.metadata_id].name
            for plane in xspace.planes for line in plane.lines for event in line.events}


def _wait_for_profiling(caplog, session_id: str) -> None:
    """Until the server has taken the call for ``session_id`` (it logs that as it starts)."""
    deadline = time.monotonic() + 60
    while not any("Profiling" in record.getMessage() and repr(session_id) in record.getMessage()
                  for record in caplog.records):
        assert time.monotonic() < deadline, "the server did not start profiling"
        time.sleep(0.02)


def test_tensorflows_client_traces_the_served_predicts_into_tensorboards_folder(served, tmp_path):
    url, address = served
    client = Client(url)
    answers, tracing = [], threading.Event()
    done = threading.Event()

    def predict_until_done():
        while not done.is_set():
            answers.append((tracing.is_set(), client.predict("half_plus_two", [1.0, 2.0])))

    with ThreadPoolExecutor(1) as pool:
        predicting = pool.submit(predict_until_done)
        tracing.set()
        profiler_client.trace(address, str(tmp_path), duration_ms=1000)
        done.set()
        predicting.result(timeout=60)

    assert [answer for during, answer in answers if during]  # predicts were answered while it traced
    assert all(answer == [2.5, 3.0] for _, answer in answers)
    [saved] = glob.glob(str(tmp_path / "plugins" / "profile" / "*" / "*.xplane.pb"))
    assert Path(saved).name == address.replace(":", "_") + ".xplane.pb"
    xspace = xplane_pb2.XSpace.FromString(Path(saved).read_bytes())
    assert xspace.planes
    assert "half_plus_two/123/serving_default" in _event_names(xspace)  # each served call


def test_the_request_names_the_file_and_a_host_override_renames_it(profile, tmp_path):
    profile(_request(tmp_path, 100, session_id="2026_01_01_00_00_00", host_name="10.0.0.2:8500"), timeout=60)
    request = _request(tmp_path, 100, session_id="overridden")
    request.opts.advanced_configuration["override_hostname"].string_value = "serving-a"
    profile(request, timeout=60)
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.xplane.pb")) == [
        "2026_01_01_00_00_00/10.0.0.2_8500.xplane.pb", "overridden/serving-a.xplane.pb"]


def test_emit_xspace_answers_the_trace_instead_of_writing_it(served, profile, tmp_path):
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(profile, _request(tmp_path, 500, emit_xspace=True), timeout=60)
        while not answer.done():
            Client(served[0]).predict("half_plus_two", [1.0])
        response = answer.result()
    assert not response.empty_trace
    assert "half_plus_two/123/serving_default" in _event_names(response.xspace)
    assert not list(tmp_path.iterdir())


def test_a_second_trace_meanwhile_is_refused_as_tensorflow_refuses_it(served, profile, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="keras_recipes.serve")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(profile, _request(tmp_path / "first", 2000, session_id="first"), timeout=60)
        _wait_for_profiling(caplog, "first")
        with pytest.raises(grpc.RpcError) as refused:
            profile(_request(tmp_path / "second", 100, session_id="second"), timeout=60)
        assert refused.value.code() == grpc.StatusCode.INTERNAL
        assert refused.value.details() == SESSION_CONTENTION
        # TensorFlow's client reads a refusal as no trace: it retries, then gives up
        with pytest.raises(RuntimeError, match="UNAVAILABLE: No trace event was collected"):
            profiler_client.trace(served[1], str(tmp_path / "official"), duration_ms=100, num_tracing_attempts=2)
        assert isinstance(first.result(timeout=60), ProfileResponse)
    assert list((tmp_path / "first").rglob("*.xplane.pb")) and not (tmp_path / "second").exists()
    assert not (tmp_path / "official").exists()


def test_a_profiler_started_elsewhere_in_the_process_is_the_same_refusal(profile, tmp_path):
    tf.profiler.experimental.start(str(tmp_path / "elsewhere"))
    try:
        with pytest.raises(grpc.RpcError) as refused:
            profile(_request(tmp_path / "served", 100), timeout=60)
    finally:
        tf.profiler.experimental.stop(save=False)
    assert refused.value.code() == grpc.StatusCode.INTERNAL
    assert refused.value.details() == SESSION_CONTENTION


def test_a_caller_that_goes_away_ends_the_session(profile, tmp_path):
    with pytest.raises(grpc.RpcError) as expired:
        profile(_request(tmp_path / "gone", 600_000, session_id="gone"), timeout=1)
    assert expired.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 60  # the server may see the deadline a moment after the client
    while True:
        try:
            response = profile(_request(tmp_path / "next", 100), timeout=60)
            break
        except grpc.RpcError as error:
            assert error.details() == SESSION_CONTENTION and time.monotonic() < deadline
            time.sleep(0.05)
    assert isinstance(response, ProfileResponse)
    assert not (tmp_path / "gone").exists()  # a cancelled trace is not kept


def test_a_folder_it_cannot_write_is_internal_with_tensorflows_reason(profile, tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(grpc.RpcError) as refused:
        profile(_request(tmp_path / "a_file" / "logs", 100), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INTERNAL
    assert "a_file" in refused.value.details()


@pytest.mark.parametrize("parts, joined", [
    (("/logs/plugins/profile", "run"), "/logs/plugins/profile/run"),
    (("gs://bucket/logs/", "/run"), "gs://bucket/logs/run"),
    (("", "run"), "run"),
    (("/logs", "", "host.xplane.pb"), "/logs/host.xplane.pb"),
])
def test_paths_are_joined_as_tensorflows_join_path(parts, joined):
    assert _join_path(*parts) == joined
