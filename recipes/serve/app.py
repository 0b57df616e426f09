"""The ASGI application: TF Serving's REST API (same URLs, bodies, status codes and messages) over
the models of a ``ModelRepository``, on Starlette. Dispatch follows TF Serving's
``http_rest_api_handler.cc``:

    GET  /v1/models/NAME[/versions/N | /labels/L]             model status
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata    signature definitions
    POST /v1/models/NAME[/versions/N | /labels/L]:predict     row ("instances") or columnar ("inputs")
    POST /v1/models/NAME[/versions/N | /labels/L]:classify    tf.Examples ("examples", "context")
    POST /v1/models/NAME[/versions/N | /labels/L]:regress

Every other request under ``/v1/`` is ``400 Malformed request``; paths elsewhere are 404. Errors
are TF Serving's ``{"error": "..."}``: 400 for a malformed request, 404 for an unknown model or
version, 413 for a body over the limit, 503 when the batching queue is full, 500 (without a
traceback; the server log has it) for anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from recipes.serve import codec, jsonwrite
from recipes.serve.batching import Batcher
from recipes.serve.codec import DEFAULT_SIGNATURE, RequestError
from recipes.serve.repository import ModelRepository
from recipes.serve.service import ModelService, ModelSpec

log = logging.getLogger("keras_recipes.serve")

DEFAULT_MAX_BODY_BYTES = 32 * 2**20
DEFAULT_REST_TIMEOUT_MS = 30_000  # TF Serving's --rest_api_timeout_in_ms
METRICS_PATH = "/monitoring/prometheus/metrics"  # TF Serving's default
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, GET",
                "Access-Control-Allow-Headers": "Content-Type"}  # TF Serving's AddCORSHeaders
_REST_PATH = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
_PREDICTION_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.IGNORECASE)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.IGNORECASE)
_INT64_MAX = 2**63 - 1


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json(jsonwrite.error_body(message), status)


def run_signature(signature, arrays: dict) -> dict:
    """One blocking call of a signature on numpy inputs; outputs as numpy."""
    return signature.run(arrays)


def create_app(base_path="saved_models", *, batching: bool = False, max_batch_size: int = 32,
               batch_timeout_ms: float = 5.0, batch_threads: int = 1, max_enqueued_batches: int | None = None,
               allowed_batch_sizes: tuple[int, ...] = (), poll_seconds: float = 2.0,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, repository: ModelRepository | None = None,
               metrics: bool = True, metrics_path: str = METRICS_PATH, access_log=None,
               grpc_port: int | None = None, grpc_host: str = "127.0.0.1", grpc_socket_path: str | None = None,
               grpc_channel_arguments=(), grpc_reuse_port: bool = False, grpc_profiler: bool = True,
               grpc_health_check: bool = False, grpc_tensor_content: bool = False, grpc_ssl_config=None,
               rest_timeout_ms: float | None = DEFAULT_REST_TIMEOUT_MS, cors: bool = False) -> Starlette:
    """A Starlette app serving the models under ``base_path`` (or ``repository``).

    ``batching`` merges concurrent requests for the same signature, up to ``max_batch_size``
    rows or ``batch_timeout_ms`` after the first, running up to ``batch_threads`` batches at once;
    a queue of more than ``max_enqueued_batches`` batches answers 503, and ``allowed_batch_sizes``
    pads each batch to the next allowed size. New versions are picked up every ``poll_seconds``
    (0: only at start). ``metrics`` serves Prometheus metrics at ``metrics_path``; ``access_log``
    (a logger, a file path or ``-``) writes one line per request. ``grpc_port`` (and/or
    ``grpc_socket_path``, a Unix socket) also serves TF Serving's gRPC API, on the same models and
    batcher, once the models found at start have loaded, as TF Serving starts it; see
    ``grpc_service.start_grpc_server`` for ``grpc_channel_arguments``, ``grpc_reuse_port``,
    ``grpc_profiler``, ``grpc_tensor_content`` and ``grpc_ssl_config`` (a ``config.SslConfig``);
    ``grpc_health_check`` serves ``grpc.health.v1.Health`` there too. A
    predict, classify or regress over REST that takes longer than ``rest_timeout_ms`` (TF Serving's
    ``--rest_api_timeout_in_ms``; ``None`` or 0: no limit) is answered 504; its computation still
    runs to the end. ``cors`` adds TF Serving's CORS headers (``--rest_api_enable_cors_support``)
    to every answer under ``/v1/``, errors included.
    """
    from recipes.serve.metrics import AccessLog, ServingMetrics
    from recipes.serve.warmup import WarmupReplay

    recorder = ServingMetrics(lambda: _load_states(repository)) if metrics else None
    observe = recorder.observe_warmup if recorder is not None else None
    if repository is None:
        repository = ModelRepository(base_path, poll_seconds=poll_seconds, warmup=WarmupReplay(observe=observe))
    elif isinstance(repository.warmup, WarmupReplay) and repository.warmup.observe is None:
        repository.warmup.observe = observe
    batcher = None
    if batching:
        queue_limit = {} if max_enqueued_batches is None else {"max_enqueued_batches": max_enqueued_batches}
        batcher = Batcher(run_signature, max_batch_size=max_batch_size, max_wait_ms=batch_timeout_ms,
                          batch_threads=batch_threads, allowed_batch_sizes=allowed_batch_sizes,
                          on_batch=recorder.observe_batch if recorder is not None else None, **queue_limit)
    service = ModelService(repository, batcher=batcher, metrics=recorder)
    access = access_log if isinstance(access_log, AccessLog) else AccessLog(access_log)

    async def scrape(request: Request) -> Response:
        body, content_type = recorder.render(request.headers.get("accept"))
        return Response(body, media_type=content_type)

    rest_timeout_s = rest_timeout_ms / 1000 if rest_timeout_ms else None

    async def rest(request: Request) -> Response:
        path = _raw_path(request)
        if not _REST_PATH.fullmatch(path):
            return _error(404, f"unknown URL {path}; the REST API is under /v1/models/NAME")
        response = await _rest_api(request, path)
        if cors:
            response.headers.update(CORS_HEADERS)
        return response

    async def _rest_api(request: Request, path: str) -> Response:
        if request.method == "OPTIONS":  # a CORS preflight, answered as TF Serving answers it
            if re.search(r"https?://", request.headers.get("origin", "")):
                return Response(status_code=200)
            return _error(400, "Origin header is missing in CORS preflight")
        seen = _Seen()
        started = time.perf_counter()
        try:
            response = await _dispatch(request, path, seen)
        except RequestError as error:
            response = _error(error.status, error.message)
        if seen.api:
            service.observe(seen.name, seen.version, seen.signature_name, seen.api, "REST", response.status_code,
                            time.perf_counter() - started)
        return response

    async def _dispatch(request: Request, path: str, seen: "_Seen") -> Response:
        method = request.method
        malformed = RequestError(400, f"Malformed request: {method} {path}")
        if method == "POST":
            match = _PREDICTION_PATH.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, verb = match.groups()
            if verb not in ("predict", "classify", "regress"):
                raise malformed  # ":PREDICT": the path matches case-insensitively, the verb does not
            spec = ModelSpec(*_model_info(name, version, label))
            seen.api, seen.name = verb, spec.name
            body = await _body(request, max_body_bytes)
            answer = _predict(spec, body, seen) if verb == "predict" else _examples(spec, body, verb, seen)
            if rest_timeout_s is None:
                return await answer
            try:
                async with asyncio.timeout(rest_timeout_s):
                    return await answer
            except TimeoutError:
                raise RequestError(504, f"Deadline Exceeded: no answer within {rest_timeout_ms:g} ms "
                                        "(--rest_api_timeout_in_ms)") from None
        if method == "GET":
            match = _STATUS_PATH.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, subresource = match.groups()
            if name is None:
                raise RequestError(400, "Missing model name in request.")
            spec = ModelSpec(*_model_info(name, version, label))
            seen.api, seen.name = ("metadata" if subresource == "metadata" else "status"), spec.name
            if subresource == "metadata":
                served = service.find(spec)
                seen.version = served.version
                return _json(_metadata_body(served))
            return _json(_pretty({"model_version_status": service.status(spec)}))
        raise malformed

    async def _predict(spec: ModelSpec, body: bytes, seen: "_Seen") -> Response:
        arrays, signature = _fast_arrays(spec, body, seen)
        row_format = True
        if arrays is None:
            document = codec.parse_json(body)
            signature_name = seen.signature_name = codec.signature_name_of(document) or DEFAULT_SIGNATURE
            served = service.find(spec)
            seen.version = served.version
            signature = served.signature(signature_name)
            if not signature.inputs:
                raise RequestError(400, f"Failed to get input map for signature: {signature_name}")
            parsed = codec.predict_request(document, signature_name)
            arrays = codec.to_arrays(parsed, signature.inputs)
            row_format = parsed.format == codec.ROW
        outputs = await service.run(signature, arrays)
        try:
            return _json(jsonwrite.predict_body(outputs, row_format))
        except ValueError as error:
            raise RequestError(400, str(error)) from None

    def _fast_arrays(spec: ModelSpec, body: bytes, seen: "_Seen"):
        """(arrays, signature) for a one-input signature fed rows of plain numbers; (None, None) otherwise."""
        rows = codec.fast_rows(body)
        if rows is None:
            return None, None
        try:
            served = service.find(spec)
            signature = served.signature(rows.signature_name)
        except RequestError:
            return None, None  # the general path answers, in TF Serving's order of checks
        if len(signature.inputs) != 1:
            return None, None
        (name, info), = signature.inputs.items()
        array = codec.fast_array(rows, name, info)
        if array is None:
            return None, None
        seen.signature_name, seen.version = rows.signature_name or DEFAULT_SIGNATURE, served.version
        return {name: array}, signature

    async def _examples(spec: ModelSpec, body: bytes, verb: str, seen: "_Seen") -> Response:
        signature_name, examples = codec.examples_request(body, verb)
        seen.signature_name = signature_name or DEFAULT_SIGNATURE
        served = service.find(spec)
        seen.version = served.version
        if verb == "classify":
            return _json(jsonwrite.classify_body(await service.classify(served, signature_name, examples)))
        return _json(jsonwrite.regress_body(await service.regress(served, signature_name, examples)))

    async def internal_error(request: Request, exc: Exception):
        log.exception("error answering %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal server error ({type(exc).__name__}); see the server log")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        grpc_server = health = None
        try:
            await asyncio.to_thread(repository.start)
            log.info("serving %s from %s", ", ".join(repository.names()) or "no models yet", repository.base_path)
            if grpc_port is not None or grpc_socket_path is not None:
                from recipes.serve.grpc_service import start_grpc_server  # loads TensorFlow
                from recipes.serve.health_service import HealthService

                health = HealthService() if grpc_health_check else None
                grpc_server = await start_grpc_server(service, grpc_host, grpc_port, socket_path=grpc_socket_path,
                                                      channel_arguments=grpc_channel_arguments,
                                                      reuse_port=grpc_reuse_port, profiler=grpc_profiler,
                                                      health=health, tensor_content=grpc_tensor_content,
                                                      ssl_config=grpc_ssl_config)
                app.state.grpc_server = grpc_server
            yield
        finally:
            if health is not None:
                health.shutdown()
            if grpc_server is not None:
                await grpc_server.stop(5)
            repository.stop()
            access.close()

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
    routes = [Route(metrics_path, scrape, methods=["GET"])] if recorder is not None else []
    app = _ServingApp(routes=[*routes, Route("/{rest:path}", rest, methods=methods)],
                      exception_handlers={Exception: internal_error}, lifespan=lifespan)
    app.respond = _responder(rest, internal_error)
    app.state.repository = repository
    app.state.batcher = batcher
    app.state.service = service
    app.state.metrics = recorder
    app.state.grpc_server = None
    if access.enabled:
        app.add_middleware(_AccessLogged, access=access)
    return app


# --- performance: POSTs (predict, classify, regress) skip Starlette's middleware and routing -------

class _ServingApp(Starlette):
    """Starlette, except that POSTs go straight to ``respond``, the same handler the catch-all
    route would call, with the same answers: about 15 us less Python per request (of some 220 us
    in the app for a single-image predict). Not while middleware is added (the access log), which
    then sees every request. ``http_protocol.ServingHttpProtocol`` calls ``respond`` itself, without
    ASGI in between."""

    respond = None

    def direct_post(self):
        """``respond(scope, receive) -> (Response, error)`` while POSTs may skip the middleware, else None."""
        return None if self.user_middleware else self.respond

    async def __call__(self, scope, receive, send):
        respond = self.direct_post()
        if respond is not None and scope["type"] == "http" and scope["method"] == "POST":
            scope["app"] = self
            response, error = await respond(scope, receive)
            await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
            await send({"type": "http.response.body", "body": response.body})
            if error is not None:
                raise error  # as Starlette's ServerErrorMiddleware re-raises, once answered
            return
        await super().__call__(scope, receive, send)


def _responder(handler, error_handler):
    """``respond(scope, receive) -> (Response, error)``: ``handler(request)``'s answer, or, where it
    raised, ``error_handler``'s answer and the exception."""

    async def respond(scope, receive):
        request = Request(scope, receive)
        try:
            return await handler(request), None
        except Exception as error:
            return await error_handler(request, error), error

    return respond


class _AccessLogged:
    """ASGI middleware around ``AccessLog.wrap``, as Starlette's ``add_middleware`` takes it."""

    def __init__(self, app, access):
        self._wrapped = access.wrap(app)

    async def __call__(self, scope, receive, send):
        await self._wrapped(scope, receive, send)


class _Seen:
    """What a REST request turned out to be, for the metrics."""

    __slots__ = ("api", "name", "version", "signature_name")

    def __init__(self):
        self.api, self.name, self.version, self.signature_name = "", "", None, ""


def _load_states(repository) -> list[tuple[str, int, str]]:
    states = []
    for name in repository.names():
        try:
            states += [(name, int(entry["version"]), entry["state"]) for entry in repository.status(name)]
        except RequestError:  # unloaded between the two calls
            continue
    return states


def _raw_path(request: Request) -> str:
    """The path as sent, still percent-encoded (TF Serving matches its patterns on that)."""
    raw = request.scope.get("raw_path")
    if raw is None:
        return request.url.path
    return raw.decode("latin-1").split("?", 1)[0]


def _model_info(name: str, version: str | None, label: str | None) -> tuple[str, int | None, str | None]:
    number = None
    if version is not None:
        digits = version.lstrip("0") or "0"
        number = int(digits) if len(digits) <= 19 else _INT64_MAX + 1
        if number > _INT64_MAX:
            shown = version if len(version) <= 40 else f"{version[:40]}..."
            raise RequestError(400, f"Failed to convert version: {shown} to numeric.")
    return (unquote(name, errors="surrogateescape"), number,
            None if label is None else unquote(label, errors="surrogateescape"))


async def _body(request: Request, limit: int) -> bytes:
    declared = next((value for name, value in request.scope["headers"] if name == b"content-length"), None)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {int(declared)} bytes is over the limit of {limit} bytes")
    chunks, size, more = [], 0, True
    while more:  # Request.stream()'s loop without its async generator (~10 us a request)
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        chunk, more = message.get("body", b""), message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _pretty(value) -> bytes:
    """JSON as protobuf's printer writes TF Serving's status and metadata (1-space indent)."""
    return (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")


def _metadata_body(served) -> bytes:
    return _pretty({"model_spec": {"name": served.name, "signature_name": "", "version": str(served.version)},
                    "metadata": {"signature_def": {"signature_def": served.signature_defs}}})
