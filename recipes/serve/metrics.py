"""Prometheus metrics as TF Serving's ``--monitoring_config_file`` exposes them, and an access log.

Metric names are TF Serving's own, as its exporter prints them (``/`` becomes ``:``), so existing
dashboards keep working; their units and buckets are TF Serving's too (latencies in microseconds,
buckets ``10 * 1.8**i``; batch sizes in buckets ``2**i``). Each server keeps its own
``CollectorRegistry``, so two servers in one process do not mix their counts.

- ``:tensorflow:serving:request_count`` (counter; model_name, model_version, signature_name, API,
  entrypoint, status): every request.
- ``:tensorflow:serving:request_latency`` (histogram, µs; the same labels but status): successful requests.
- ``:tensorflow:serving:batching_session:input_batch_size`` (histogram): rows per executed batch.
- ``:tensorflow:serving:batching_session:processed_batch_size`` (histogram): the same, after padding.
- ``:tensorflow:serving:batching_session:padding_size`` (histogram; execution_batch_size): padding rows.
- ``:tensorflow:serving:model_warmup_latency`` (histogram, µs; model_path, status): one per warmup.
- ``:tensorflow:serving:model_warmup_records_read`` (counter; model_path, status).
- ``:tensorflow:serving:model_version_state`` (gauge; model_name, model_version, state), read at scrape time.

A scrape is printed as TF Serving's exporter prints it (``tf_serving_text``), whatever the
request's ``Accept`` header says, as TF Serving does: ``text/plain``, one ``# TYPE`` line per
metric and no ``# HELP``, counters under their own names (prometheus-client's ``_total`` and
``_created`` samples are not shown), integer counts, and bounds and sums printed to six
significant digits.

Where this differs from TF Serving: ``request_count`` and
``request_latency`` carry more labels than TF Serving's (``model_version`` and
``signature_name``; TF Serving's count has only model_name and status). ``status`` is the gRPC code
name, as in TF Serving: ``OK``, ``INVALID_ARGUMENT``, ``NOT_FOUND``, ``UNAVAILABLE``...; errors are
the requests whose status is not ``OK``. As in TF Serving, latency is recorded for successful
requests only. ``model_version_state`` is ours (TF Serving has no load-state metric): 1 for a
version's current state (``START``, ``LOADING``, ``AVAILABLE``, ``UNLOADING``, ``END``), 0 for
the others.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
import time
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("keras_recipes")

PREFIX = ":tensorflow:serving:"
LATENCY_BUCKETS_MICROS = tuple(float(f"{10 * 1.8**i:.6g}") for i in range(33))  # TF Serving's Exponential(10, 1.8, 33), as it prints them
BATCH_SIZE_BUCKETS = tuple(float(2**i) for i in range(14))  # TF Serving's Exponential(1, 2, 14)
STATES = ("START", "LOADING", "AVAILABLE", "UNLOADING", "END")  # tensorflow.serving.ModelVersionStatus.State
CHILDREN_KEPT = 4096  # label sets whose metric children ServingMetrics.observe keeps at hand

# How TF Serving's REST server turns a status code into an HTTP status, inverted (an HTTP status
# several codes share gets the commonest of them).
HTTP_STATUS_CODES = {
    200: "OK", 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
    503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

LoadStates = Callable[[], Iterable[tuple[str, int, str]]]


def status_name(status) -> str:
    """The status label for an HTTP status (``404`` -> ``NOT_FOUND``), a ``grpc.StatusCode``
    (its name) or a code name (unchanged)."""
    if isinstance(status, bool):
        raise TypeError(f"status must be an HTTP status, a grpc.StatusCode or a code name, got {status!r}")
    if isinstance(status, int):
        if status in HTTP_STATUS_CODES:
            return HTTP_STATUS_CODES[status]
        return "INVALID_ARGUMENT" if 400 <= status < 500 else "OK" if status < 400 else "UNKNOWN"
    return getattr(status, "name", None) or str(status)


class _LoadStateCollector:
    """Reads ``load_states()`` at every scrape: ``[(model name, version, state name), ...]``."""

    name = PREFIX + "model_version_state"

    def __init__(self, load_states: LoadStates):
        self._load_states = load_states

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.name, "Load state of each model version: 1 for its current state.",
                                 labels=["model_name", "model_version", "state"])

    def describe(self):
        return [self._family()]

    def collect(self):
        family = self._family()
        try:
            states = list(self._load_states())
        except Exception:  # a scrape still answers with the other metrics
            log.exception("metrics: reading the model load states failed")
            states = []
        for model, version, state in states:
            for each in (*STATES, *([state] if state not in STATES else [])):
                family.add_metric([model, str(version), each], 1.0 if each == state else 0.0)
        yield family


class ServingMetrics:
    """The metrics of one server, in a registry of its own."""

    def __init__(self, load_states: LoadStates | None = None):
        self.registry = CollectorRegistry()
        labels = ["model_name", "model_version", "signature_name", "API", "entrypoint"]
        self.request_count = Counter(PREFIX + "request_count", "The total number of requests.",
                                     [*labels, "status"], registry=self.registry)
        self.request_latency = Histogram(
            PREFIX + "request_latency", "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            labels, buckets=LATENCY_BUCKETS_MICROS, registry=self.registry)
        batching = PREFIX + "batching_session:"
        self.input_batch_size = Histogram(batching + "input_batch_size", "Tracks the batch size distribution on the inputs.",
                                          buckets=BATCH_SIZE_BUCKETS, registry=self.registry)
        self.processed_batch_size = Histogram(batching + "processed_batch_size",
                                              "Tracks the batch size distribution on processing.",
                                              buckets=BATCH_SIZE_BUCKETS, registry=self.registry)
        self.padding_size = Histogram(batching + "padding_size", "Tracks the padding size distribution on batches.",
                                      ["execution_batch_size"], buckets=BATCH_SIZE_BUCKETS, registry=self.registry)
        self.warmup_latency = Histogram(
            PREFIX + "model_warmup_latency", "Distribution of wall time (in microseconds) for warming up the model.",
            ["model_path", "status"], buckets=LATENCY_BUCKETS_MICROS, registry=self.registry)
        self.warmup_records = Counter(PREFIX + "model_warmup_records_read",
                                      "Total number of warmup records read during model warmup.",
                                      ["model_path", "status"], registry=self.registry)
        if load_states is not None:
            self.registry.register(_LoadStateCollector(load_states))
        self._request_children: dict[tuple, tuple] = {}  # labels -> (count, latency): labels() costs ~8 us

    def observe(self, model: str, version, signature: str, api: str, entrypoint: str, status, seconds: float) -> None:
        """One finished request. ``version`` may be None (a request that named none, or failed
        before one was chosen); ``api`` is ``predict``, ``classify``, ``regress``, ``metadata`` or
        ``status``; ``entrypoint`` is ``REST`` or ``GRPC``; ``status`` is an HTTP status, a
        ``grpc.StatusCode`` or a code name."""
        code = status_name(status)
        key = (model, version, signature, api, entrypoint, code)
        children = self._request_children.get(key)
        if children is None:
            labels = (model or "", "" if version is None else str(version), signature or "", api, entrypoint)
            children = (self.request_count.labels(*labels, code),
                        self.request_latency.labels(*labels) if code == "OK" else None)
            if len(self._request_children) >= CHILDREN_KEPT:
                self._request_children.clear()
            self._request_children[key] = children
        count, latency = children
        count.inc()
        if latency is not None:
            latency.observe(seconds * 1e6)

    def observe_batch(self, rows: int, padded_rows: int | None = None) -> None:
        """One executed batch of ``rows`` rows, run as ``padded_rows`` (the Batcher's ``on_batch``)."""
        padded_rows = rows if padded_rows is None else padded_rows
        self.input_batch_size.observe(rows)
        self.processed_batch_size.observe(padded_rows)
        self.padding_size.labels(str(padded_rows)).observe(padded_rows - rows)

    def observe_warmup(self, model_path: str, status, seconds: float, records: int) -> None:
        """One version's warmup: ``records`` replayed in ``seconds``, ending with ``status``."""
        code = status_name(status)
        self.warmup_latency.labels(model_path, code).observe(seconds * 1e6)
        self.warmup_records.labels(model_path, code).inc(records)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """``(body, content type)`` for a scrape, in TF Serving's text whatever ``accept`` asks for."""
        return tf_serving_text(self.registry), "text/plain"


def tf_serving_text(registry: CollectorRegistry) -> bytes:
    """``registry``'s metrics as TF Serving's exporter prints them (``util/prometheus_exporter.cc``)."""
    lines = []
    for family in sorted(registry.collect(), key=lambda family: family.name):
        kind = family.type if family.type in ("counter", "gauge", "histogram") else "untyped"
        lines.append(f"# TYPE {family.name} {kind}")
        if kind == "histogram":
            lines.extend(_histogram_lines(family))
            continue
        for sample in family.samples:
            if sample.name != family.name + "_created":
                lines.append(f"{family.name}{{{_label_text(sample.labels)}}} {int(sample.value)}")
    return ("\n".join(lines) + "\n").encode()


def _histogram_lines(family) -> list[str]:
    """Per label set: cumulative ``_bucket`` lines up to ``le="+Inf"``, then ``_sum`` and ``_count``."""
    points: dict[tuple, dict] = {}
    for sample in family.samples:
        labels = tuple((key, value) for key, value in sample.labels.items() if key != "le")
        point = points.setdefault(labels, {"buckets": [], "sum": 0.0})
        if sample.name == family.name + "_bucket":
            point["buckets"].append((sample.labels["le"], sample.value))
        elif sample.name == family.name + "_sum":
            point["sum"] = sample.value
    lines = []
    for labels, point in points.items():
        text = _label_text(dict(labels))
        prefix = f"{family.name}_bucket{{{text}{',' if text else ''}"
        for bound, cumulative in point["buckets"]:
            lines.append(f'{prefix}le="{bound if bound == "+Inf" else _six_digits(float(bound))}"}} {int(cumulative)}')
        lines.append(f"{family.name}_sum{{{text}}} {_six_digits(point['sum'])}")
        lines.append(f"{family.name}_count{{{text}}} {int(point['buckets'][-1][1]) if point['buckets'] else 0}")
    return lines


def _label_text(labels: dict) -> str:
    """``name="value"`` pairs with backslashes and quotes escaped, as TF Serving escapes them."""
    escaped = {name: value.replace("\\", "\\\\").replace('"', '\\"') for name, value in labels.items()}
    return ",".join(f'{name}="{value}"' for name, value in escaped.items())


def _six_digits(value: float) -> str:
    """A double as absl::StrCat prints one: six significant digits, ``%g`` style."""
    return f"{value:.6g}"


class AccessLog:
    """One line per request, off unless given a destination (a ``logging.Logger``, a file path,
    or ``-`` for standard output)::

        2025-01-02T03:04:05.678Z 127.0.0.1:50312 "POST /v1/models/m:predict" 200 123 4.21ms

    (time in UTC, client, method and path as sent, status, response body bytes, latency).
    """

    def __init__(self, destination: logging.Logger | str | os.PathLike | None = None):
        self._handler: logging.Handler | None = None
        if destination is None or isinstance(destination, logging.Logger):
            self._logger = destination
            return
        self._logger = logging.Logger("keras_recipes.access")  # not in logging's registry: one per AccessLog
        self._logger.propagate = False
        if str(destination) == "-":
            self._handler = logging.StreamHandler(sys.stdout)
        else:
            try:
                self._handler = logging.FileHandler(destination, encoding="utf-8")
            except OSError as error:
                raise OSError(error.errno, f"access log {destination} cannot be opened for writing "
                                           f"({error.strerror}); pick a writable path, or '-' for standard output") from None
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(self._handler)

    @property
    def enabled(self) -> bool:
        return self._logger is not None

    def record(self, *, client: str | None, method: str, path: str, status: int, size: int, seconds: float,
               when: float | None = None) -> None:
        if self._logger is None:
            return
        stamp = datetime.datetime.fromtimestamp(time.time() if when is None else when, datetime.timezone.utc)
        request = json.dumps(f"{method} {path}")  # quoted, with any quote or control character escaped
        self._logger.info("%s %s %s %d %d %.2fms", stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                          client or "-", request, status, size, seconds * 1000)

    def wrap(self, app):
        """``app`` (an ASGI application) logging every HTTP request here; ``app`` itself when off."""
        if self._logger is None:
            return app

        async def logged(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            start, when = time.perf_counter(), time.time()
            status, size = 500, 0

            async def sending(message):
                nonlocal status, size
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body":
                    size += len(message.get("body", b""))
                await send(message)

            try:
                await app(scope, receive, sending)
            finally:
                client = scope.get("client")
                path = scope.get("raw_path", b"").decode("latin-1") or scope.get("path", "")
                if scope.get("query_string"):
                    path += "?" + scope["query_string"].decode("latin-1")
                self.record(client=f"{client[0]}:{client[1]}" if client else None, method=scope.get("method", ""),
                            path=path, status=status, size=size, seconds=time.perf_counter() - start, when=when)

        return logged

    def close(self) -> None:
        if self._handler is not None:
            self._logger.removeHandler(self._handler)
            self._handler.close()
            self._handler = None
