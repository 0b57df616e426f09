"""uvicorn's httptools protocol, answering malformed HTTP with a JSON 400 as every other error of
the REST API (uvicorn's own answer is plain text).

    uvicorn.Config(app, http=JsonErrorsHttpProtocol)
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from recipes.serve.jsonwrite import error_body


class JsonErrorsHttpProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = error_body(f"Malformed HTTP request: {msg}")
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
                 b"connection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
