"""What does serving over REST and gRPC cost, what do micro-batching and several server processes
buy, and does a hot swap drop requests? All measured in one run, over loopback.

    python benchmarks/serving.py [--seconds 8] [--rounds 4] [--output benchmarks/results/serving.json]

The `fashion_mnist_cnn` network is exported, and `keras-recipes serve --grpc-port` runs in its
own process(es). This process is the load generator: N asyncio clients send single-image requests
back to back, each waiting for its answer (closed loop), all requests encoded once, up front:

- REST: one HTTP/1.1 keep-alive connection per client, row-format JSON written as raw bytes;
- gRPC: ``grpc.aio`` with the official ``PredictionServiceStub``, ``PredictRequest``s built with
  ``tf.make_tensor_proto``; one channel (TCP connection) per 4 callers, so that the connections
  spread over several server processes.

Measured:

- latency: p50 and p99 at concurrency 1, against calls of the loaded SavedModel's
  ``serving_default`` in this process on the same images, in the same rounds (below) as the
  servers' (the overhead is the difference);
- throughput at concurrency 1, 8 and 32 (REST) and 1 and 32 (gRPC), ``--seconds`` each, without
  and with ``--batching``, in one server process and in one per core (``WEB_CONCURRENCY``, read
  by ``run_server(workers=)``: SO_REUSEPORT sockets, each process batching its own requests).
  Every server runs from the start (an idle one costs no CPU), and each load goes round them
  ``--rounds`` times, a slice of ``--seconds`` each: the host's speed drifts by 15% and more
  within minutes here, and a ratio between servers measured minutes apart moved with it. The
  requests/s reported is the median of the rounds;
- the same at concurrency 1 and 32 (REST) for ``resnet20`` (untrained; speed does not depend on
  the weights), a network whose TensorFlow call costs more than the HTTP and JSON around it, also
  with ``--batch-threads 2``;
- for every load, the CPU the server used (in cores: CPU seconds per second, all its processes),
  which shows whether its event loop (at most 1 core each) or TensorFlow is the limit, and the
  CPU of this load generator, which shares the machine;
- hot swap: 20 s at concurrency 8 against a server polling every 0.5 s, with version 2
  published halfway; every non-200 answer is counted.

Writes benchmarks/results/serving.json (about 6 minutes on 2 cores; the servers hold about 5 GB
of memory together). Not run in CI. ``--seconds 1 --rounds 1 --output /tmp/serving.json`` is a
smoke run of every part (about 2 minutes).
"""

import argparse
import asyncio
import datetime
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, source_commit  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "serving.json"
NAME = "fashion_mnist_cnn"
COMPUTE_BOUND = "resnet20"  # served as fashion_mnist_resnet20
CONCURRENCY, GRPC_CONCURRENCY = (1, 8, 32), (1, 32)
LOAD_SECONDS = 8.0  # per load and server, over all rounds; --seconds
ROUNDS = 4  # each load runs on every server in turn, this many times round; --rounds
HOT_SWAP_SECONDS = 20.0
CALLERS_PER_CHANNEL = 4  # gRPC callers sharing one channel (one HTTP/2 connection)
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> int:
    """How many sockets listen on ``port`` (one per server process sharing it), from Linux /proc."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        count += sum(1 for line in lines if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A")
    return count


class ServerProcess:
    """``keras-recipes serve`` on free REST and gRPC ports; ``workers`` processes (WEB_CONCURRENCY)."""

    def __init__(self, base: Path, *options: str, workers: int = 1):
        self.port, self.grpc_port, self.workers = _free_port(), _free_port(), workers
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recipes.cli", "serve", str(base), "--port", str(self.port),
             "--grpc-port", str(self.grpc_port), *options],
            env={**os.environ, "WEB_CONCURRENCY": str(workers)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while True:
            try:
                if (self.get(f"/v1/models/{NAME}")[0] == 200 and _listening(self.port) >= workers
                        and _listening(self.grpc_port) >= workers):  # every worker is up, REST and gRPC
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.5)
        if workers > 1:  # the last worker to listen has just loaded its models
            time.sleep(1.0)

    def get(self, path):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()

    def processes(self) -> list[int]:
        """The server's process and its descendants (its workers), from Linux /proc."""
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    queue += [int(child) for child in (task / "children").read_text().split()]
                except OSError:
                    pass
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU time the server's processes have used so far (Linux /proc)."""
        total = 0.0
        for pid in self.processes():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


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
    return latencies, failures


def _grpc_load(port: int, requests: list, concurrency: int, seconds: float) -> dict:
    """Closed-loop gRPC load: ``concurrency`` callers of ``PredictionService.Predict`` on one event
    loop, ``CALLERS_PER_CHANNEL`` to a channel, each channel its own TCP connection."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    latencies, failures = [], []

    async def run() -> None:
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
                    for _ in range(-(-concurrency // CALLERS_PER_CHANNEL))]
        try:
            await asyncio.gather(*(channel.channel_ready() for channel in channels))
            stubs = [prediction_service_pb2_grpc.PredictionServiceStub(channel) for channel in channels]
            loop = asyncio.get_running_loop()
            stop_at = loop.time() + seconds

            async def caller(offset: int) -> None:
                predict, index = stubs[offset % len(stubs)].Predict, offset
                while loop.time() < stop_at:
                    started = time.perf_counter()
                    try:
                        await predict(requests[index % len(requests)], timeout=30)
                        latencies.append(time.perf_counter() - started)
                    except grpc.aio.AioRpcError as error:
                        failures.append(error.code().name)
                    index += 1

            await asyncio.gather(*(caller(offset) for offset in range(concurrency)))
        finally:
            for channel in channels:
                await channel.close()

    asyncio.run(run())
    return latencies, failures


def _interleaved(runs: dict[str, tuple]) -> dict[str, dict]:
    """Each ``label: (server, load)`` run in turn as ``load(server, seconds)``, ``ROUNDS`` times
    round, ``LOAD_SECONDS`` in all for each, so that a slower or faster spell of the host falls on
    all of them alike. ``server`` may be None (calls in this process, with no server's CPU).

    Per run: requests/s is the median of its rounds (each round's in ``rounds``), p50 and p99
    are over all its requests, and the cores it and this load generator used are medians too."""
    seconds = LOAD_SECONDS / ROUNDS
    samples = {label: {"latencies": [], "failed": 0, "rounds": [], "server_cores": [], "load_generator_cores": []}
               for label in runs}
    for _ in range(ROUNDS):
        for label, (server, load) in runs.items():
            server_before = server.cpu_seconds() if server is not None else 0.0
            own_before, started = time.process_time(), time.perf_counter()
            latencies, failures = load(server, seconds)
            elapsed = time.perf_counter() - started
            sample = samples[label]
            sample["latencies"] += latencies
            sample["failed"] += len(failures)
            sample["rounds"].append(round(len(latencies) / seconds, 1))
            if server is not None:
                sample["server_cores"].append((server.cpu_seconds() - server_before) / elapsed)
            sample["load_generator_cores"].append((time.process_time() - own_before) / elapsed)
    rows = {}
    for label, sample in samples.items():
        latencies = sample["latencies"]
        rows[label] = {
            "requests_per_second": round(statistics.median(sample["rounds"]), 1), "rounds": sample["rounds"],
            "failed": sample["failed"],
            "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2) if latencies else None,
            "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 2) if latencies else None,
            "server_cores": round(statistics.median(sample["server_cores"]), 2) if sample["server_cores"] else None,
            "load_generator_cores": round(statistics.median(sample["load_generator_cores"]), 2)}
    return rows


def main() -> None:
    global LOAD_SECONDS, ROUNDS, HOT_SWAP_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=LOAD_SECONDS,
                        help="length of each load on each server, all rounds together (default 8)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="turns each load takes round the servers (default 4)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file (default %(default)s)")
    args = parser.parse_args()
    LOAD_SECONDS, ROUNDS = args.seconds, max(1, args.rounds)
    HOT_SWAP_SECONDS = min(HOT_SWAP_SECONDS, max(4.0, 2.5 * args.seconds))

    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    import recipes
    from recipes.data import DatasetInfo

    info = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple("0123456789"), "pixels", 255.0, "benchmark", 1, 1, 1)
    recipe = recipes.get(NAME)
    model = recipes.classifier_for(info, recipe.architecture, **recipe.architecture_kwargs)
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1)).astype("float32")
    bodies = [json.dumps({"instances": images[i:i + 1].tolist()}).encode() for i in range(64)]
    grpc_requests = []
    for i in range(64):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = NAME
        request.model_spec.signature_name = "serving_default"
        request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(images[i:i + 1]))
        grpc_requests.append(request)
    result = {}
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "saved_models"
        path = recipes.export(model, NAME, export_dir=base, input_name="pixels", output_name="probabilities")

        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        signature(pixels=tf.constant(images[:1]))

        def in_process(seconds):
            """Calls of the loaded signature on one image each, back to back, for ``seconds``."""
            timings, index = [], 0
            stop_at = time.perf_counter() + seconds
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                signature(pixels=tf.constant(images[index % 64:index % 64 + 1]))["probabilities"].numpy()
                timings.append(time.perf_counter() - started)
                index += 1
            return timings, []

        heavy_name = f"fashion_mnist_{COMPUTE_BOUND}"
        recipes.export(recipes.classifier_for(info, COMPUTE_BOUND), heavy_name, export_dir=base,
                       input_name="pixels", output_name="probabilities")
        # label, server options, worker processes, measure the small model, measure resnet20
        configurations = [("server", (), 1, True, True), ("server_batching", ("--batching",), 1, True, True),
                          ("server_workers", (), CORES, True, False),
                          ("server_batching_workers", ("--batching",), CORES, True, False),
                          ("server_batching_2_threads", ("--batching", "--batch-threads", "2"), 1, False, True)]
        configurations = [c for c in configurations if c[2] > 1 or not c[0].endswith("_workers")]  # 1 core: as above
        servers = {}
        try:
            for label, options, workers, _, _ in configurations:  # all up at once; each idles while others run
                servers[label] = ServerProcess(base, "--poll-seconds", "0", *options, workers=workers)
                _load(servers[label].port, bodies, 4, 2.0)  # warm-up
                _load(servers[label].port, bodies, 1, 1.0, heavy_name)
                _grpc_load(servers[label].grpc_port, grpc_requests, 4, 1.0)
            small = [label for label, *_, with_small, _ in configurations if with_small]
            heavy = [label for label, *_, with_heavy in configurations if with_heavy]
            for label in small:
                result[label] = {"workers": servers[label].workers, "rest": {}, "grpc": {}}
            result[heavy_name] = {label: {} for label in heavy}
            loads = ([(small, "rest", c, NAME) for c in CONCURRENCY] + [(small, "grpc", c, NAME) for c in GRPC_CONCURRENCY]
                     + [(heavy, "rest", c, heavy_name) for c in (1, 32)])
            for labels, transport, concurrency, name in loads:
                if transport == "rest":
                    def load(server, seconds):
                        return _load(server.port, bodies, concurrency, seconds, name)
                else:
                    def load(server, seconds):
                        return _grpc_load(server.grpc_port, grpc_requests, concurrency, seconds)
                runs = {label: (servers[label], load) for label in labels}
                if concurrency == 1 and name == NAME:  # the latency baseline, in the same rounds
                    runs["in_process"] = (None, lambda server, seconds: in_process(seconds))
                rows = _interleaved(runs)
                in_process_row = rows.pop("in_process", None)
                if in_process_row is not None:
                    result.setdefault("in_process", {})[transport] = in_process_row
                for label, row in rows.items():
                    place = result[label][transport] if name == NAME else result[heavy_name][label]
                    place[f"concurrency_{concurrency}"] = row
                    print(label, name, transport, concurrency, row, flush=True)
        finally:
            for server in servers.values():
                server.stop()

        server = ServerProcess(base, "--poll-seconds", "0.5")
        try:
            outcome = {}

            def hot_swap_load():
                latencies, failures = _load(server.port, bodies, 8, HOT_SWAP_SECONDS)
                outcome.update(requests=len(latencies) + len(failures), failed=len(failures),
                               failures=sorted({str(failure) for failure in failures}))

            loader = threading.Thread(target=hot_swap_load)
            loader.start()
            time.sleep(HOT_SWAP_SECONDS / 2)
            keras_model = recipes.classifier_for(info, recipe.architecture, **recipe.architecture_kwargs)
            recipes.export(keras_model, NAME, export_dir=base, input_name="pixels", output_name="probabilities")
            published, swapped_after = time.perf_counter(), None
            while loader.is_alive():  # when version 2 took over, which must be before the load ends
                states = json.loads(server.get(f"/v1/models/{NAME}")[1])["model_version_status"]
                if swapped_after is None and any(s["version"] == "2" and s["state"] == "AVAILABLE" for s in states):
                    swapped_after = round(time.perf_counter() - published, 2)
                time.sleep(0.2)
            loader.join()
            status = json.loads(server.get(f"/v1/models/{NAME}")[1])["model_version_status"]
        finally:
            server.stop()
        if swapped_after is None:
            print("hot swap: version 2 was not AVAILABLE before the load ended; try a longer --seconds", flush=True)
        result["hot_swap"] = {**outcome, "seconds": HOT_SWAP_SECONDS, "version_2_available_after_s": swapped_after,
                              "served_after": status}
        print("hot swap", result["hot_swap"], flush=True)

    result["ratios"] = _ratios(result, heavy_name)
    result.update({"date": datetime.date.today().isoformat(), "machine": describe(), "commit": source_commit(),
                   "load_seconds": LOAD_SECONDS, "rounds": ROUNDS, "command": "python benchmarks/serving.py"})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ratios"], indent=2))


def _ratios(result: dict, heavy_name: str) -> dict:
    def rps(label, transport, concurrency):
        return result[label][transport][f"concurrency_{concurrency}"]["requests_per_second"]

    unbatched = result["server"]
    ratios = {}
    for transport in ("rest", "grpc"):
        p50 = unbatched[transport]["concurrency_1"]["p50_ms"]
        in_process = result["in_process"][transport]["p50_ms"]
        ratios[f"{transport}_p50_overhead_ms"] = round(p50 - in_process, 2)
        ratios[f"{transport}_over_in_process_p50"] = round(p50 / in_process, 2)
    for transport, concurrencies in (("rest", CONCURRENCY), ("grpc", GRPC_CONCURRENCY)):
        for c in concurrencies:
            ratios[f"{transport}_batching_over_unbatched_concurrency_{c}"] = round(
                rps("server_batching", transport, c) / rps("server", transport, c), 2)
        if "server_batching_workers" in result:
            c = concurrencies[-1]
            ratios[f"{transport}_batching_workers_over_unbatched_concurrency_{c}"] = round(
                rps("server_batching_workers", transport, c) / rps("server", transport, c), 2)
            ratios[f"{transport}_batching_workers_over_unbatched_workers_concurrency_{c}"] = round(
                rps("server_batching_workers", transport, c) / rps("server_workers", transport, c), 2)
    for label in ("server_batching", "server_batching_2_threads"):
        ratios[f"{heavy_name}_{label}_over_unbatched_concurrency_32"] = round(
            result[heavy_name][label]["concurrency_32"]["requests_per_second"]
            / result[heavy_name]["server"]["concurrency_32"]["requests_per_second"], 2)
    return ratios


if __name__ == "__main__":
    main()
