"""What does serving over HTTP cost against predicting in-process? Measured in one run.

    python benchmarks/serving.py

The `fashion_mnist_cnn` architecture is exported once, then:

- latency: one image at a time, 300 calls in sequence: the loaded SavedModel's
  ``serving_default`` in this process, against ``POST :predict`` to ``keras-recipes serve``
  running as its own process (row format, JSON);
- throughput: 16 client threads sending one image per request for 20 s, to the server without
  and with ``--batching``, against the in-process signature called on batches of 32 by the
  same 16 threads.

Writes benchmarks/results/serving.json. Not run in CI.
"""

import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "serving.json"
CALLS, THREADS, SECONDS = 300, 16, 20.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(base: Path, *options: str):
    from recipes.serve import Client, ServingError

    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "recipes.cli", "serve", str(base), "--port", str(port),
                                "--poll-seconds", "0", *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = Client(f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + 120
    while True:
        try:
            client.status("fashion_mnist_cnn")
            return process, client
        except (OSError, ServingError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.5)


def _throughput(call) -> float:
    done, stop = [], threading.Event()

    def worker():
        count = 0
        while not stop.is_set():
            call()
            count += 1
        done.append(count)

    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(THREADS):
            pool.submit(worker)
        time.sleep(SECONDS)
        stop.set()
    return sum(done) / SECONDS


def main() -> None:
    import tensorflow as tf

    import recipes
    from recipes.data import DatasetInfo

    info = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple("0123456789"), "pixels", 255.0, "benchmark", 1, 1, 1)
    model = recipes.classifier_for(info, "mnist_cnn", filters=(32, 32))
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1)).astype("float32")
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "saved_models"
        path = recipes.export(model, "fashion_mnist_cnn", export_dir=base, input_name="pixels",
                              output_name="probabilities")
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        one = tf.constant(images[:1])
        signature(pixels=one)
        timings = []
        for index in range(CALLS):
            started = time.perf_counter()
            signature(pixels=tf.constant(images[index % 64:index % 64 + 1]))["probabilities"].numpy()
            timings.append(time.perf_counter() - started)
        in_process_latency = statistics.median(timings)
        batch = tf.constant(images[:32])
        in_process_throughput = 32 * _throughput(lambda: signature(pixels=batch)["probabilities"].numpy())

        rows = {}
        for label, options in (("server", ()), ("server_batching", ("--batching",))):
            process, client = _start_server(base, *options)
            try:
                instance = images[:1].tolist()
                client.predict("fashion_mnist_cnn", instance)
                timings = []
                for index in range(CALLS):
                    started = time.perf_counter()
                    client.predict("fashion_mnist_cnn", images[index % 64:index % 64 + 1].tolist())
                    timings.append(time.perf_counter() - started)
                throughput = _throughput(lambda: client.predict("fashion_mnist_cnn", instance))
            finally:
                process.terminate()
                process.wait(timeout=30)
            rows[label] = {"median_latency_ms": round(statistics.median(timings) * 1000, 2),
                           "images_per_second": round(throughput, 1)}
            print(f"{label}: {rows[label]}", flush=True)

    result = {
        "in_process": {"median_latency_ms": round(in_process_latency * 1000, 2),
                       "images_per_second_batch_32": round(in_process_throughput, 1)},
        **rows,
        "latency_ratio_server_over_in_process": round(rows["server"]["median_latency_ms"] / (in_process_latency * 1000), 2),
        "throughput_ratio_batching_over_plain_server": round(
            rows["server_batching"]["images_per_second"] / rows["server"]["images_per_second"], 2),
        "throughput_ratio_batching_server_over_in_process_batch_32": round(
            rows["server_batching"]["images_per_second"] / in_process_throughput, 2),
        "date": datetime.date.today().isoformat(), "machine": describe(), "command": "python benchmarks/serving.py",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
