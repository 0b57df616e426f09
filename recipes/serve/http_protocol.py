"""uvicorn's httptools protocol, with two changes for the REST API:

- malformed HTTP is answered with a JSON 400, as every other error of the API (uvicorn's own
  answer is plain text);
- a POST (predict, classify, regress) is answered by the app's ``respond`` directly, without the
  ASGI layers around it, and its status line, headers and body go out in one write: uvicorn's
  ASGI path costs some 20 us of Python and a second ``send`` system call per request, of some
  190 us in all for a single-image predict. Everything else (parsing, keep-alive, pipelining,
  ``Expect: 100-continue``, flow control, a client that goes away) stays uvicorn's. The app
  answers through ASGI as before while it has middleware (the access log) or on another server.

    uvicorn.Config(app, http=ServingHttpProtocol)
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from recipes.serve.jsonwrite import error_body


class ServingHttpProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = error_body(f"Malformed HTTP request: {msg}")
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
                 b"connection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app) -> None:
        respond = getattr(self.config.app, "direct_post", None)
        respond = respond() if respond is not None and app is self.app and cycle.scope["method"] == "POST" else None
        if respond is None:  # also uvicorn's 503 app past --limit-concurrency
            super()._start_asgi_task(cycle, app)
            return
        task = self.loop.create_task(_answer(cycle, respond))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)


async def _answer(cycle: RequestResponseCycle, respond) -> None:
    """``cycle``'s request answered by ``respond(scope, receive) -> (Response, error)``, with the
    bookkeeping of ``RequestResponseCycle.send`` for a complete response."""
    try:
        try:
            response, _ = await respond(cycle.scope, cycle.receive)  # an error is logged where it is answered
            status, headers, body = response.status_code, response.raw_headers, response.body
        except Exception as error:  # only where answering the error failed too
            cycle.logger.exception("error answering a POST")
            body = error_body(f"internal server error ({type(error).__name__}); see the server log")
            status, headers = 500, [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()
        if cycle.disconnected:
            return
        message = [STATUS_LINE[status]]
        for name, value in (*cycle.default_headers, *headers):
            message += [name, b": ", value, b"\r\n"]
        if not cycle.keep_alive:
            message.append(b"connection: close\r\n")
        message += [b"\r\n", body]
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        cycle.transport.write(b"".join(message))
        cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            cycle.transport.close()
        cycle.on_response()
    finally:
        cycle.on_response = lambda: None
