"""Where a served request's CPU goes: why batching gains more on one host than on another.

    python benchmarks/serving_costs.py [--seconds 6] [--output benchmarks/results/serving_costs.json]

The gain that ``benchmarks/serving.py`` measures (requests/s batched over unbatched, at
concurrency 32 with the cores full) is the CPU one request costs unbatched over what it costs
batched. This splits both costs, on the same ``fashion_mnist_cnn`` network, in one run:

- TensorFlow alone, in this process, with one intra- and one inter-op thread (what each of two
  ``--workers`` gets on 2 cores): CPU per row of one ``serving_default`` call at batch sizes
  1 to 32, and wall time per call. Batch 1 is the per-call overhead that batching spreads out;
  the per-row CPU at 8 to 32 is the floor that TensorFlow sets for a batched request.
- The server (one process, ``keras-recipes serve``, unbatched and ``--batching``) under 32
  closed-loop REST clients (those of ``benchmarks/serving.py``): CPU per request of its event-loop
  thread (HTTP, JSON, the answer, metrics: the Python that batching does not spread) and of all
  its other threads (TensorFlow's, and the thread that hands each call to it), from Linux
  ``/proc/PID/task``.
- The floor under that event loop: a bare asyncio protocol on uvloop (as uvicorn runs) that
  parses HTTP with httptools (as uvicorn does) and answers every request with one fixed body,
  without and with reading the image's numbers as the server's numeric fast path reads them.

Not run in CI; about 1.5 minutes on 2 cores.
"""

import argparse
import asyncio
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, source_commit  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "serving_costs.json"
BATCH_SIZES = (1, 2, 4, 8, 16, 32)
CALL_SECONDS = 1.5  # per batch size
CONCURRENCY = 32


def _thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of ``pid`` so far, by thread id."""
    seconds = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        seconds[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def tensorflow_per_row(signature, images: np.ndarray) -> dict:
    rows = {}
    for batch in BATCH_SIZES:
        pixels = {"pixels": images[:batch]}
        for _ in range(10):
            signature.run(pixels)
        calls, cpu_started, started = 0, time.process_time(), time.perf_counter()
        while time.perf_counter() - started < CALL_SECONDS:
            signature.run(pixels)
            calls += 1
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        rows[f"batch_{batch}"] = {"cpu_us_per_row": round(cpu / calls / batch * 1e6, 1),
                                  "wall_us_per_call": round(wall / calls * 1e6, 1), "calls": calls}
        print("TensorFlow, batch", batch, rows[f"batch_{batch}"], flush=True)
    return rows


def server_split(serving, base: Path, bodies: list[bytes], seconds: float, *options: str) -> dict:
    server = serving.ServerProcess(base, *options)
    try:
        serving._load(server.port, bodies, CONCURRENCY, 1.0)  # warm up
        pid = server.process.pid
        before, started = _thread_cpu(pid), time.perf_counter()
        latencies, failures = serving._load(server.port, bodies, CONCURRENCY, seconds)
        elapsed, after = time.perf_counter() - started, _thread_cpu(pid)
    finally:
        server.stop()
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    requests = len(latencies)
    event_loop = used.pop(pid, 0.0)  # the main thread runs uvicorn's event loop
    row = {"requests_per_second": round(requests / elapsed, 1), "failed": len(failures),
           "event_loop_us_per_request": round(event_loop / requests * 1e6, 1),
           "other_threads_us_per_request": round(sum(used.values()) / requests * 1e6, 1),
           "server_cores": round((event_loop + sum(used.values())) / elapsed, 2)}
    row["total_us_per_request"] = round(row["event_loop_us_per_request"] + row["other_threads_us_per_request"], 1)
    print("server", " ".join(options) or "unbatched", row, flush=True)
    return row


FIXED_ANSWER = b'{\n    "predictions": [[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]\n    ]\n}'


def bare_server(port: int, read_numbers: bool) -> None:
    """The floor: HTTP/1.1 keep-alive POSTs parsed by httptools on uvloop, one fixed answer each."""
    import httptools
    import uvloop

    from recipes.serve import codec

    info = codec.TensorInfo("float32", (None, 28, 28, 1))
    answer = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
              % len(FIXED_ANSWER)) + FIXED_ANSWER

    class Bare(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.parser, self.body = transport, httptools.HttpRequestParser(self), []

        def data_received(self, data):
            self.parser.feed_data(data)

        def on_body(self, body):
            self.body.append(body)

        def on_message_complete(self):
            body, self.body = b"".join(self.body), []
            if read_numbers:
                codec.fast_array(codec.fast_rows(body), "pixels", info)
            self.transport.write(answer)

    async def serve():
        server = await asyncio.get_running_loop().create_server(Bare, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(serve())


def bare_split(serving, bodies: list[bytes], seconds: float, read_numbers: bool) -> dict:
    port = serving._free_port()
    process = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)]
                               + (["--read-numbers"] if read_numbers else []))
    try:
        deadline = time.monotonic() + 60
        while not serving._listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bare server did not start")
            time.sleep(0.2)
        serving._load(port, bodies, CONCURRENCY, 1.0)
        before, started = sum(_thread_cpu(process.pid).values()), time.perf_counter()
        latencies, failures = serving._load(port, bodies, CONCURRENCY, seconds)
        elapsed, used = time.perf_counter() - started, sum(_thread_cpu(process.pid).values()) - before
    finally:
        process.kill()
        process.wait()
    row = {"requests_per_second": round(len(latencies) / elapsed, 1), "failed": len(failures),
           "us_per_request": round(used / len(latencies) * 1e6, 1)}
    print("bare server", "reading numbers" if read_numbers else "", row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="load on each server (default 6)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file (default %(default)s)")
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--read-numbers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server, args.read_numbers)
        return

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    import serving

    import recipes
    from recipes.data import DatasetInfo
    from recipes.serve.loading import load_version

    info = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple("0123456789"), "pixels", 255.0, "benchmark", 1, 1, 1)
    recipe = recipes.get(serving.NAME)
    model = recipes.classifier_for(info, recipe.architecture, **recipe.architecture_kwargs)
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1)).astype("float32")
    bodies = [json.dumps({"instances": images[i:i + 1].tolist()}).encode() for i in range(64)]
    result = {}
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "saved_models"
        path = recipes.export(model, serving.NAME, export_dir=base, input_name="pixels", output_name="probabilities")
        signature = load_version(serving.NAME, 1, path).signatures["serving_default"]
        result["tensorflow_one_thread"] = tensorflow_per_row(signature, images)
        result["server_concurrency_32"] = {"unbatched": server_split(serving, base, bodies, args.seconds),
                                           "batching": server_split(serving, base, bodies, args.seconds, "--batching")}
    result["bare_event_loop_concurrency_32"] = {
        "fixed_answer": bare_split(serving, bodies, args.seconds, read_numbers=False),
        "reading_numbers": bare_split(serving, bodies, args.seconds, read_numbers=True)}
    per_row = result["tensorflow_one_thread"]
    servers = result["server_concurrency_32"]
    result["summary"] = {
        "tensorflow_batch_1_over_batch_16_per_row": round(per_row["batch_1"]["cpu_us_per_row"]
                                                          / per_row["batch_16"]["cpu_us_per_row"], 2),
        "server_unbatched_over_batching_per_request": round(servers["unbatched"]["total_us_per_request"]
                                                            / servers["batching"]["total_us_per_request"], 2),
        "event_loop_share_of_batched_request": round(servers["batching"]["event_loop_us_per_request"]
                                                     / servers["batching"]["total_us_per_request"], 2)}
    result.update({"date": datetime.date.today().isoformat(), "machine": describe(), "commit": source_commit(),
                   "seconds": args.seconds, "command": "python benchmarks/serving_costs.py"})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
