"""The ASGI application: TF Serving's REST API (same URLs, bodies and status codes) over a folder
of exported models, on Starlette.

    GET  /v1/models/{name}[/versions/{v}]             model status
    GET  /v1/models/{name}[/versions/{v}]/metadata    signature definitions
    POST /v1/models/{name}[/versions/{v}]:predict     row ("instances") or columnar ("inputs")

Every error is ``{"error": "..."}``: 400 for a malformed request, a wrong shape or dtype, 404 for
an unknown model, version, signature or URL, 413 for a body over the limit, 500 (without a
traceback; the server log has it) for anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from recipes.saved_models import version_number

from recipes.serve import codec
from recipes.serve.batching import Batcher
from recipes.serve.codec import RequestError
from recipes.serve.repository import ModelRepository

log = logging.getLogger("keras_recipes.serve")

DEFAULT_MAX_BODY_BYTES = 32 * 2**20
_PATH = re.compile(
    r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?:(?P<metadata>/metadata)|:(?P<verb>[a-z]+))?$")


class _JSON(JSONResponse):
    def render(self, content) -> bytes:
        import json

        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _error(status: int, message: str) -> JSONResponse:
    return _JSON({"error": message}, status_code=status)


def run_signature(signature, arrays: dict) -> dict:
    """One blocking call of a signature on numpy inputs; outputs as numpy."""
    return signature.run(arrays)


def create_app(base_path="saved_models", *, batching: bool = False, max_batch_size: int = 32,
               batch_timeout_ms: float = 5.0, batch_threads: int = 1, poll_seconds: float = 2.0,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, repository: ModelRepository | None = None) -> Starlette:
    """A Starlette app serving the newest version of every model under ``base_path``.

    ``batching`` merges concurrent requests for the same signature, up to ``max_batch_size``
    rows or ``batch_timeout_ms`` after the first, running up to ``batch_threads`` batches at once.
    New versions are picked up every ``poll_seconds`` (0: only at start).
    """
    repository = repository or ModelRepository(base_path, poll_seconds=poll_seconds)
    batcher = None
    if batching:
        batcher = Batcher(run_signature, max_batch_size=max_batch_size, max_wait_ms=batch_timeout_ms,
                          batch_threads=batch_threads)

    async def models(request: Request):
        match = _PATH.match(request.path_params["rest"])
        if match is None:
            return _error(404, f"unknown URL {request.url.path}; see the TF Serving REST API: "
                               "/v1/models/NAME[/versions/N][/metadata|:predict]")
        name, version_text, metadata, verb = match.group("name", "version", "metadata", "verb")
        try:
            version = _version(version_text)
            if verb is None:
                if request.method != "GET":
                    return _error(405, f"{request.method} is not allowed here; use GET, or POST to ...:predict")
                if metadata:
                    return _JSON(_metadata(repository.get(name, version)))
                return _JSON({"model_version_status": repository.status(name, version)})
            if verb != "predict":
                return _error(400 if verb in ("classify", "regress") else 404,
                              f"':{verb}' is not served; this server answers ':predict'")
            if request.method != "POST":
                return _error(405, "':predict' takes POST with a JSON body")
            with batcher.arrival() if batcher is not None else contextlib.nullcontext():
                served = repository.get(name, version)
                parsed = codec.parse_body(await _body(request, max_body_bytes))
                signature = served.signature(parsed.signature_name)
                arrays = codec.to_arrays(parsed, signature.inputs)
            if batcher is not None:
                outputs = await batcher.submit(signature, arrays)
            else:
                outputs = await asyncio.to_thread(run_signature, signature, arrays)
            return _JSON(codec.format_response(outputs, parsed.format))
        except RequestError as error:
            return _error(error.status, error.message)

    async def not_found(request: Request, exc: HTTPException):
        if exc.status_code == 404:
            return _error(404, f"unknown URL {request.url.path}; models are under /v1/models/NAME")
        return _error(exc.status_code, exc.detail or "request failed")

    async def internal_error(request: Request, exc: Exception):
        log.exception("error answering %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal server error ({type(exc).__name__}); see the server log")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        repository.start()
        log.info("serving %s from %s", ", ".join(repository.names()) or "no models yet", repository.base_path)
        yield
        repository.stop()

    app = Starlette(routes=[Route("/v1/models/{rest:path}", models, methods=["GET", "POST"])],
                    exception_handlers={HTTPException: not_found, Exception: internal_error}, lifespan=lifespan)
    app.state.repository = repository
    app.state.batcher = batcher
    return app


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    number = version_number(text)
    if number is None:
        raise RequestError(400, f"Failed to convert version: {text[:40]!r}{'...' if len(text) > 40 else ''} is "
                                "not a whole number of ASCII digits within int64")
    return number


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {int(declared)} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _metadata(served) -> dict:
    return {"model_spec": {"name": served.name, "signature_name": "", "version": str(served.version)},
            "metadata": {"signature_def": {"signature_def": served.signature_defs}}}
