"""What does serving over HTTP cost, what does micro-batching buy, and does a hot swap drop
requests? All measured in one run, over loopback.

    python benchmarks/serving.py

The `fashion_mnist_cnn` network is exported, and `keras-recipes serve` runs in its own process.
This process is the load generator: N asyncio clients each keep one HTTP/1.1 connection open and
send single-image row-format requests back to back (requests encoded once, up front).

- latency: p50 and p99 of single-image requests at concurrency 1, against 500 calls of the
  loaded SavedModel's ``serving_default`` in this process on the same images;
- throughput at concurrency 1, 8 and 32, for 15 s each, without and with ``--batching``;
- the same at concurrency 1 and 32 for ``resnet20`` (untrained; speed does not depend on the
  weights), a network whose TensorFlow call costs more than the HTTP and JSON around it, also
  with ``--batch-threads 2``;
- for every load, the CPU the server process used (in cores: CPU seconds per second), which
  shows whether its one event loop (at most 1 core) or TensorFlow (both cores) is the limit;
- hot swap: 20 s at concurrency 8 against a server polling every 0.5 s, with version 2
  published after 10 s; every non-200 answer is counted.

Writes benchmarks/results/serving.json. Not run in CI.
"""

import asyncio
import datetime
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "serving.json"
NAME = "fashion_mnist_cnn"
COMPUTE_BOUND = "resnet20"  # served as fashion_mnist_resnet20
LATENCY_CALLS, LOAD_SECONDS, CONCURRENCY = 500, 15.0, (1, 8, 32)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    def __init__(self, base: Path, *options: str):
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recipes.cli", "serve", str(base), "--port", str(self.port), *options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.get(f"/v1/models/{NAME}")[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.5)

    def get(self, path):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def _load(port: int, bodies: list[bytes], concurrency: int, seconds: float, name: str = NAME) -> dict:
    """Closed-loop load: ``concurrency`` clients on one event loop, one keep-alive connection each.

    Requests are written as raw HTTP/1.1 bytes prepared up front, so the generator spends far
    less CPU per request than the server it measures (it shares this machine's cores).
    """
    requests = [(f"POST /v1/models/{name}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
                for body in bodies]
    latencies, failures = [], []

    async def client(offset: int, stop_at: float) -> None:
        loop = asyncio.get_running_loop()
        connection = None
        index = offset
        while loop.time() < stop_at:
            try:
                if connection is None:
                    connection = await asyncio.open_connection("127.0.0.1", port)
                reader, writer = connection
                started = time.perf_counter()
                writer.write(requests[index % len(requests)])
                index += 1
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                await reader.readexactly(length)
                if head[9:12] != b"200":
                    failures.append(int(head[9:12]))
                    continue
                latencies.append(time.perf_counter() - started)
            except (OSError, asyncio.IncompleteReadError) as error:
                failures.append(type(error).__name__)
                if connection is not None:
                    connection[1].close()
                connection = None
        if connection is not None:
            connection[1].close()

    async def run() -> None:
        stop_at = asyncio.get_running_loop().time() + seconds
        await asyncio.gather(*(client(offset, stop_at) for offset in range(concurrency)))

    asyncio.run(run())
    return {"requests_per_second": round(len(latencies) / seconds, 1), "failed": len(failures),
            "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2) if latencies else None,
            "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 2) if latencies else None}


def _measured_load(server: ServerProcess, bodies: list[bytes], concurrency: int, name: str = NAME) -> dict:
    """``_load`` plus the cores the server and this load generator kept busy meanwhile."""
    server_before, own_before, started = server.cpu_seconds(), time.process_time(), time.perf_counter()
    row = _load(server.port, bodies, concurrency, LOAD_SECONDS, name)
    elapsed = time.perf_counter() - started
    row["server_cores"] = round((server.cpu_seconds() - server_before) / elapsed, 2)
    row["load_generator_cores"] = round((time.process_time() - own_before) / elapsed, 2)
    return row


def main() -> None:
    import tensorflow as tf

    import recipes
    from recipes.data import DatasetInfo

    info = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple("0123456789"), "pixels", 255.0, "benchmark", 1, 1, 1)
    recipe = recipes.get(NAME)
    model = recipes.classifier_for(info, recipe.architecture, **recipe.architecture_kwargs)
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1)).astype("float32")
    bodies = [json.dumps({"instances": images[i:i + 1].tolist()}).encode() for i in range(64)]
    result = {}
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "saved_models"
        path = recipes.export(model, NAME, export_dir=base, input_name="pixels", output_name="probabilities")

        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        signature(pixels=tf.constant(images[:1]))
        timings = []
        for index in range(LATENCY_CALLS):
            started = time.perf_counter()
            signature(pixels=tf.constant(images[index % 64:index % 64 + 1]))["probabilities"].numpy()
            timings.append(time.perf_counter() - started)
        result["in_process"] = {"p50_ms": round(np.percentile(timings, 50) * 1000, 2),
                                "p99_ms": round(np.percentile(timings, 99) * 1000, 2)}
        print("in-process", result["in_process"], flush=True)

        heavy_name = f"fashion_mnist_{COMPUTE_BOUND}"
        recipes.export(recipes.classifier_for(info, COMPUTE_BOUND), heavy_name, export_dir=base,
                       input_name="pixels", output_name="probabilities")
        result[heavy_name] = {}
        configurations = (("server", (), True), ("server_batching", ("--batching",), True),
                          ("server_batching_2_threads", ("--batching", "--batch-threads", "2"), False))
        for label, options, with_small_model in configurations:
            server = ServerProcess(base, "--poll-seconds", "0", *options)
            try:
                if with_small_model:
                    rows = {}
                    _load(server.port, bodies, 1, 2.0)  # warm-up
                    for concurrency in CONCURRENCY:
                        rows[f"concurrency_{concurrency}"] = _measured_load(server, bodies, concurrency)
                        print(label, concurrency, rows[f"concurrency_{concurrency}"], flush=True)
                    result[label] = rows
                heavy = {}
                _load(server.port, bodies, 1, 2.0, heavy_name)
                for concurrency in (1, 32):
                    heavy[f"concurrency_{concurrency}"] = _measured_load(server, bodies, concurrency, heavy_name)
                    print(heavy_name, label, concurrency, heavy[f"concurrency_{concurrency}"], flush=True)
                result[heavy_name][label] = heavy
            finally:
                server.stop()

        server = ServerProcess(base, "--poll-seconds", "0.5")
        try:
            outcome = {}
            loader = threading.Thread(target=lambda: outcome.update(_load(server.port, bodies, 8, 20.0)))
            loader.start()
            time.sleep(10.0)
            keras_model = recipes.classifier_for(info, recipe.architecture, **recipe.architecture_kwargs)
            recipes.export(keras_model, NAME, export_dir=base, input_name="pixels", output_name="probabilities")
            loader.join()
            status = json.loads(server.get(f"/v1/models/{NAME}")[1])["model_version_status"]
        finally:
            server.stop()
        result["hot_swap"] = {**outcome, "served_after": status}
        print("hot swap", result["hot_swap"], flush=True)

    unbatched, batched = result["server"], result["server_batching"]
    result["ratios"] = {
        "server_p50_overhead_ms": round(unbatched["concurrency_1"]["p50_ms"] - result["in_process"]["p50_ms"], 2),
        "server_over_in_process_p50": round(unbatched["concurrency_1"]["p50_ms"] / result["in_process"]["p50_ms"], 2),
        **{f"batching_over_unbatched_concurrency_{c}": round(
            batched[f"concurrency_{c}"]["requests_per_second"] / unbatched[f"concurrency_{c}"]["requests_per_second"], 2)
           for c in CONCURRENCY},
        **{f"{heavy_name}_{label}_over_unbatched_concurrency_32": round(
            result[heavy_name][label]["concurrency_32"]["requests_per_second"]
            / result[heavy_name]["server"]["concurrency_32"]["requests_per_second"], 2)
           for label in ("server_batching", "server_batching_2_threads")},
    }
    result.update({"date": datetime.date.today().isoformat(), "machine": describe(),
                   "command": "python benchmarks/serving.py"})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ratios"], indent=2))


if __name__ == "__main__":
    main()
