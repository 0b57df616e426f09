"""``run_server(workers=N)``: N server processes behind one REST port and one gRPC port
(SO_REUSEPORT), the ports checked before any worker starts, and the workers stopped together."""

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest

from recipes.errors import RecipeError
from recipes.serve import Client, ServingError
from recipes.serve.repository import ModelRepository
from recipes.serve.server import AddressInUseError, run_server
from recipes.serve.workers import WORKERS_ENV, _reduce_repository, default_workers

from harness import free_port

IMAGES = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("float32")


def _travelled(repository: ModelRepository) -> ModelRepository:
    ForkingPickler.register(ModelRepository, _reduce_repository)
    return pickle.loads(ForkingPickler.dumps(repository))


def test_an_unstarted_repository_travels_to_a_worker_with_its_settings(tmp_path):
    (tmp_path / "models" / "m" / "1").mkdir(parents=True)
    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "m" base_path: "{tmp_path / "models" / "m"}" '
                      'model_platform: "tensorflow" } }')
    for repository in (ModelRepository(tmp_path / "models", poll_seconds=0.5),
                       ModelRepository.single_model(tmp_path / "models" / "m", "m", poll_seconds=3),
                       ModelRepository.from_config_file(config, config_poll_seconds=7)):
        copy = _travelled(repository)
        assert copy is not repository and type(copy) is ModelRepository
        assert (copy.base_path, copy.poll_seconds, copy.config_poll_seconds, copy.config_file, copy.model_configs()) == \
               (repository.base_path, repository.poll_seconds, repository.config_poll_seconds, repository.config_file,
                repository.model_configs())
        assert copy._lock is not repository._lock and copy._lock.acquire(blocking=False)  # fresh, unlocked


def test_a_started_repository_does_not_travel(tmp_path):
    (tmp_path / "models").mkdir()
    repository = ModelRepository(tmp_path / "models", poll_seconds=60)
    repository.start()
    try:
        with pytest.raises(RecipeError, match="has not started"):
            _travelled(repository)
    finally:
        repository.stop()


def test_workers_come_from_web_concurrency(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert default_workers() == 1
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert default_workers() == 3
    for wrong in ("0", "two"):
        monkeypatch.setenv(WORKERS_ENV, wrong)
        with pytest.raises(RecipeError, match="whole number"):
            default_workers()


@pytest.mark.parametrize("busy", ["rest", "grpc"])
def test_a_busy_port_fails_before_any_worker_starts(tmp_path, busy):
    (tmp_path / "models").mkdir()
    port, grpc_port = free_port(), free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port if busy == "rest" else grpc_port))
        holder.listen()
        started = time.monotonic()
        with pytest.raises(AddressInUseError, match="is in use"):
            run_server(tmp_path / "models", port=port, grpc_port=grpc_port, workers=2)
        assert time.monotonic() - started < 5  # no worker (and no TensorFlow) was started


def _no_loader(name, version, path):
    raise AssertionError("never called: the options do not reach a worker")


def test_options_that_do_not_pickle_are_refused_before_any_worker_starts(tmp_path):
    (tmp_path / "models").mkdir()
    repository = ModelRepository(tmp_path / "models", loader=lambda name, version, path: _no_loader(name, version, path))
    port = free_port()
    with pytest.raises(RecipeError, match="must pickle"):
        run_server(port=port, workers=2, repository=repository)
    with socket.socket() as probe:  # the workers' sockets were closed
        probe.bind(("127.0.0.1", port))


# --- end to end: `keras-recipes serve` with WEB_CONCURRENCY=2 -----------------------------------

def _serve(base, *options, workers=2):
    port, grpc_port = free_port(), free_port()
    process = subprocess.Popen([sys.executable, "-m", "recipes.cli", "serve", str(base), "--port", str(port),
                                "--grpc-port", str(grpc_port), "--poll-seconds", "0", *options],
                               env={**os.environ, WORKERS_ENV: str(workers)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, port, grpc_port


def _listeners(port: int) -> set[int]:
    """Pids with a listening socket on ``port`` (ss -ltnp)."""
    listing = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return {int(pid) for pid in __import__("re").findall(r"pid=(\d+)", listing)}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import keras

    import recipes
    from recipes.data import DatasetInfo

    keras.utils.set_random_seed(0)
    info = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple("0123456789"), "pixels", 255.0, "test", 1, 1, 1)
    classifier = recipes.classifier_for(info, "mnist_cnn", filters=(4, 4), dense_units=8)
    base = tmp_path_factory.mktemp("workers") / "saved_models"
    recipes.export(classifier, "classifier", export_dir=base, input_name="pixels", output_name="probabilities")
    return base, classifier.predict(IMAGES, verbose=0)


@pytest.mark.e2e
@pytest.mark.slow  # two server processes, each importing TensorFlow
def test_two_workers_serve_one_rest_port_and_one_grpc_port_and_stop_together(model):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    base, expected = model
    process, port, grpc_port = _serve(base, "--batching")
    try:
        deadline = time.monotonic() + 180
        while len(_listeners(port)) < 2 or len(_listeners(grpc_port)) < 2:
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            time.sleep(0.5)
        workers = _listeners(port)
        assert _listeners(grpc_port) == workers and process.pid not in workers  # the parent only supervises
        for _ in range(12):  # fresh connections, spread over both workers
            np.testing.assert_allclose(Client(f"http://127.0.0.1:{port}", timeout=30).predict("classifier", IMAGES[:2].tolist()),
                                       expected[:2], atol=1e-5)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "classifier"
        request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(IMAGES))
        for _ in range(4):
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
            np.testing.assert_allclose(tf.make_ndarray(response.outputs["probabilities"]), expected, atol=1e-5)
        with pytest.raises(ServingError, match="has shape"):
            Client(f"http://127.0.0.1:{port}", timeout=30).predict("classifier", [[1.0, 2.0]])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        for pid in workers:
            assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.e2e
@pytest.mark.slow
def test_a_worker_that_cannot_start_stops_the_server_with_an_error(model, tmp_path):
    base, _ = model
    config = tmp_path / "models.config"  # a label on a version that is not there: TF Serving refuses to start
    config.write_text(f'model_config_list {{ config {{ name: "classifier" base_path: "{base / "classifier"}" '
                      'model_platform: "tensorflow" version_labels { key: "stable" value: 7 } } }')
    port = free_port()
    completed = subprocess.run([sys.executable, "-m", "recipes.cli", "serve", "--model_config_file", str(config),
                                "--port", str(port)], env={**os.environ, WORKERS_ENV: "2"},
                               capture_output=True, text=True, timeout=240)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "server worker" in completed.stderr and "exited with status" in completed.stderr
    assert not _listeners(port)
