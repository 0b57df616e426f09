"""Prometheus metrics and the access log, on their own: what a scrape shows after some requests."""

import asyncio
import logging
import re

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from recipes.serve.batching import Batcher
from recipes.serve.metrics import AccessLog, ServingMetrics, status_name


def _scrape(metrics: ServingMetrics) -> dict:
    """``{(sample name, labels): value}`` as prometheus-client's parser reads a scrape: it names a
    counter's samples ``..._total`` although the text, like TF Serving's, prints them without it."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode()) for sample in family.samples}


def _labels(**labels) -> tuple:
    return tuple(sorted(labels.items()))


def test_request_counts_and_latencies_parse_and_add_up():
    metrics = ServingMetrics()
    for _ in range(3):
        metrics.observe("half", 123, "serving_default", "predict", "REST", 200, 0.002)
    metrics.observe("half", 123, "serving_default", "predict", "REST", 400, 0.001)
    metrics.observe("half", None, "", "status", "GRPC", "NOT_FOUND", 0.001)
    samples = _scrape(metrics)
    base = dict(model_name="half", model_version="123", signature_name="serving_default", API="predict",
                entrypoint="REST")
    count = ":tensorflow:serving:request_count_total"
    assert samples[(count, _labels(**base, status="OK"))] == 3
    assert samples[(count, _labels(**base, status="INVALID_ARGUMENT"))] == 1
    assert samples[(count, _labels(model_name="half", model_version="", signature_name="", API="status",
                                   entrypoint="GRPC", status="NOT_FOUND"))] == 1
    latency = ":tensorflow:serving:request_latency"
    assert samples[(latency + "_count", _labels(**base))] == 3  # successful requests only, as TF Serving
    assert samples[(latency + "_sum", _labels(**base))] == pytest.approx(6000)  # microseconds
    assert samples[(latency + "_bucket", _labels(**base, le="1983.59"))] == 0
    assert samples[(latency + "_bucket", _labels(**base, le="3570.47"))] == 3


def test_servers_do_not_share_counts():
    first, second = ServingMetrics(), ServingMetrics()
    first.observe("m", 1, "serving_default", "predict", "REST", 200, 0.001)
    assert not any(name.endswith("request_count_total") for name, _ in _scrape(second))


def test_batch_sizes_come_from_the_batcher():
    metrics = ServingMetrics()
    batcher = Batcher(lambda signature, arrays: {"y": arrays["x"]}, max_batch_size=4, max_wait_ms=50,
                      allowed_batch_sizes=[2, 4], on_batch=metrics.observe_batch)

    async def main():
        await asyncio.gather(*(batcher.submit("s", {"x": np.zeros((1, 2))}) for _ in range(3)))
        await batcher.submit("s", {"x": np.zeros((1, 2))})

    asyncio.run(main())
    samples = _scrape(metrics)
    prefix = ":tensorflow:serving:batching_session:"
    assert samples[(prefix + "input_batch_size_count", ())] == 2
    assert samples[(prefix + "input_batch_size_sum", ())] == 4
    assert samples[(prefix + "processed_batch_size_sum", ())] == 6
    assert samples[(prefix + "padding_size_sum", _labels(execution_batch_size="4"))] == 1
    assert samples[(prefix + "padding_size_sum", _labels(execution_batch_size="2"))] == 1


def test_load_states_are_read_at_scrape_time_and_a_failing_reader_does_not_break_the_scrape():
    states = [("half", 1, "AVAILABLE")]
    metrics = ServingMetrics(load_states=lambda: states)
    name = ":tensorflow:serving:model_version_state"
    assert _scrape(metrics)[(name, _labels(model_name="half", model_version="1", state="AVAILABLE"))] == 1
    states[:] = [("half", 1, "UNLOADING"), ("half", 2, "LOADING")]
    samples = _scrape(metrics)
    assert samples[(name, _labels(model_name="half", model_version="1", state="AVAILABLE"))] == 0
    assert samples[(name, _labels(model_name="half", model_version="1", state="UNLOADING"))] == 1
    assert samples[(name, _labels(model_name="half", model_version="2", state="LOADING"))] == 1

    def broken():
        raise RuntimeError("repository gone")

    metrics = ServingMetrics(load_states=broken)
    metrics.observe("m", 1, "serving_default", "predict", "REST", 200, 0.001)
    assert any(name.endswith("request_count_total") for name, _ in _scrape(metrics))


def test_warmup_is_counted():
    metrics = ServingMetrics()
    metrics.observe_warmup("half/123", "OK", 0.5, 7)
    samples = _scrape(metrics)
    assert samples[(":tensorflow:serving:model_warmup_records_read_total", _labels(model_path="half/123", status="OK"))] == 7
    assert samples[(":tensorflow:serving:model_warmup_latency_count", _labels(model_path="half/123", status="OK"))] == 1


def test_a_scrape_prints_as_tf_serving_prints_whatever_accept_asks_for():
    """TF Serving's exporter: # TYPE lines only, counters without _total or _created, integer counts,
    six-digit bounds and sums, and TF Serving's text even to a client that asks for OpenMetrics."""
    metrics = ServingMetrics()
    metrics.observe("half", 1, "serving_default", "predict", "REST", 200, 0.0012345678)
    metrics.observe_warmup('base/"1"', "OK", 0.5, 3)
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type == "text/plain"
    lines = body.decode().splitlines()
    assert not any(line.startswith("# HELP") or "_total" in line or "_created" in line for line in lines), body
    labels = 'model_name="half",model_version="1",signature_name="serving_default",API="predict",entrypoint="REST"'
    assert "# TYPE :tensorflow:serving:request_count counter" in lines
    assert f':tensorflow:serving:request_count{{{labels},status="OK"}} 1' in lines
    assert "# TYPE :tensorflow:serving:request_latency histogram" in lines
    assert f':tensorflow:serving:request_latency_bucket{{{labels},le="10"}} 0' in lines
    assert f':tensorflow:serving:request_latency_bucket{{{labels},le="1102"}} 0' in lines
    assert f':tensorflow:serving:request_latency_bucket{{{labels},le="1983.59"}} 1' in lines
    assert f':tensorflow:serving:request_latency_bucket{{{labels},le="+Inf"}} 1' in lines
    assert f":tensorflow:serving:request_latency_sum{{{labels}}} 1234.57" in lines
    assert f":tensorflow:serving:request_latency_count{{{labels}}} 1" in lines
    assert ':tensorflow:serving:model_warmup_records_read{model_path="base/\\"1\\"",status="OK"} 3' in lines
    metrics.observe_batch(3, 4)
    assert ':tensorflow:serving:batching_session:input_batch_size_count{} 1' in metrics.render()[0].decode()
    assert body.endswith(b"\n") and not body.endswith(b"\n\n")


@pytest.mark.parametrize("status, name", [(200, "OK"), (404, "NOT_FOUND"), (503, "UNAVAILABLE"), (418, "INVALID_ARGUMENT"),
                                          (502, "UNKNOWN"), ("FAILED_PRECONDITION", "FAILED_PRECONDITION")])
def test_status_names_are_grpc_code_names(status, name):
    assert status_name(status) == name


def test_the_access_log_is_off_by_default_and_writes_one_line_per_request(tmp_path, caplog):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b'{"error": "x"}'})

    assert AccessLog().wrap(app) is app and not AccessLog().enabled
    scope = {"type": "http", "method": "POST", "path": "/v1/models/m:predict", "raw_path": b"/v1/models/m%22:predict",
             "query_string": b"a=1", "client": ("127.0.0.1", 5000)}
    path = tmp_path / "access.log"
    access = AccessLog(path)
    asyncio.run(access.wrap(app)(scope, None, _ignore))
    access.close()
    [line] = path.read_text().splitlines()
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 127\.0\.0\.1:5000 '
                        r'"POST /v1/models/m%22:predict\?a=1" 404 14 \d+\.\d\dms', line), line

    logger = logging.getLogger("test_access")
    with caplog.at_level(logging.INFO, logger="test_access"):
        AccessLog(logger).record(client=None, method="GET", path='/a "b"', status=200, size=0, seconds=0.0012)
    assert caplog.messages[0].endswith(' - "GET /a \\"b\\"" 200 0 1.20ms')


async def _ignore(message):
    pass


def test_an_unwritable_access_log_says_which_file_and_what_to_do(tmp_path):
    with pytest.raises(OSError, match=r"access log .*missing/access.log cannot be opened.*pick a writable path"):
        AccessLog(tmp_path / "missing" / "access.log")
