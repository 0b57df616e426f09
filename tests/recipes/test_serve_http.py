"""The HTTP side of the REST server over raw sockets: POSTs, which ``ServingHttpProtocol`` answers
without ASGI in one write, keep uvicorn's keep-alive, pipelining, ``Connection: close``, HTTP/1.0
and ``Expect: 100-continue``, and answer as the app answers through ASGI (with the access log's
middleware), a handler's crash included."""

import re
import socket

import pytest

from harness import Server, tfserving_models

pytestmark = pytest.mark.e2e

PREDICT = "/v1/models/half_plus_two:predict"
BODY = b'{"instances": [1.0, 2.0, 5.0]}'
ANSWER = b'{\n    "predictions": [2.5, 3.0, 4.5\n    ]\n}'


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tfserving_models(tmp_path_factory.mktemp("models"), {"half_plus_two": "saved_model_half_plus_two_cpu"})


@pytest.fixture(scope="module")
def server(base):
    with Server(base) as running:
        yield running


@pytest.fixture(scope="module")
def asgi_server(base, tmp_path_factory):
    """The same app behind its access log's middleware, which POSTs then reach through ASGI."""
    with Server(base, access_log=str(tmp_path_factory.mktemp("log") / "access.log")) as running:
        yield running


def _request(body=BODY, path=PREDICT, version="1.1", headers=()):
    head = [f"POST {path} HTTP/{version}", "Host: 127.0.0.1", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Connection:
    def __init__(self, server):
        self.socket = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.socket.sendall(data)

    def _fill(self) -> bool:
        chunk = self.socket.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def answer(self) -> tuple[int, dict, bytes]:
        """The next response: status, headers (lowercase names), body."""
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"the connection closed mid-answer: {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, value = line.split(":", 1)
            assert name.lower() not in headers, f"header {name} twice in {head!r}"
            headers[name.lower()] = value.strip()
        length = int(headers.get("content-length", 0))
        while len(self.buffer) < length:
            assert self._fill(), "the connection closed mid-body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(re.match(r"HTTP/1\.[01] (\d{3}) ", status_line).group(1)), headers, body

    def closed_by_server(self) -> bool:
        try:
            return self.buffer == b"" and not self._fill()
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def connect():
    opened = []

    def connect_to(server):
        opened.append(_Connection(server))
        return opened[-1]

    yield connect_to
    for connection in opened:
        connection.close()


@pytest.mark.parametrize("label", ["direct", "asgi"])
def test_a_predict_answers_alike_on_both_paths(label, server, asgi_server, connect):
    connection = connect(server if label == "direct" else asgi_server)
    connection.send(_request())
    status, headers, body = connection.answer()
    assert (status, body) == (200, ANSWER)
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(ANSWER))
    assert set(headers) == {"date", "server", "content-type", "content-length"}


def test_keep_alive_and_pipelined_requests_are_answered_in_order(server, connect):
    connection = connect(server)
    bodies = [b'{"instances": [%d.0]}' % value for value in range(6)]
    connection.send(b"".join(_request(body) for body in bodies))  # one write: pipelined
    for value in range(6):
        status, _, body = connection.answer()
        assert status == 200
        assert body == b'{\n    "predictions": [%s\n    ]\n}' % str(value / 2 + 2).encode()
    connection.send(b"GET /v1/models/half_plus_two HTTP/1.1\r\nHost: x\r\n\r\n")  # and the connection lives on
    assert connection.answer()[0] == 200


@pytest.mark.parametrize("version, headers", [("1.1", ("Connection: close",)), ("1.0", ())])
def test_a_post_that_ends_its_connection_is_answered_then_closed(version, headers, server, connect):
    connection = connect(server)
    connection.send(_request(version=version, headers=headers))
    status, answer_headers, body = connection.answer()
    assert (status, body) == (200, ANSWER)
    assert answer_headers["connection"] == "close"
    assert connection.closed_by_server()


def test_expect_100_continue_is_answered_before_the_body_is_sent(server, connect):
    connection = connect(server)
    request = _request(headers=("Expect: 100-continue",))
    head, body = request.split(b"\r\n\r\n", 1)
    connection.send(head + b"\r\n\r\n")
    assert connection.answer()[0] == 100
    connection.send(body)
    assert connection.answer()[::2] == (200, ANSWER)


def test_errors_answer_as_tf_serving_and_keep_the_connection(server, connect):
    connection = connect(server)
    connection.send(_request(b'{"instances": [1.0, "x"]}') + _request(path="/v1/models/nobody:predict") + _request())
    assert connection.answer()[0] == 400
    status, _, body = connection.answer()
    assert status == 404 and b"nobody" in body
    assert connection.answer()[::2] == (200, ANSWER)


@pytest.mark.parametrize("label", ["direct", "asgi"])
def test_a_crashing_handler_is_a_json_500_without_its_traceback(label, server, asgi_server, connect, monkeypatch):
    running = server if label == "direct" else asgi_server

    async def crash(*args, **kwargs):
        raise RuntimeError("/secret/server/path broke")

    monkeypatch.setattr(running.app.state.service, "run", crash)
    connection = connect(running)
    connection.send(_request())
    status, headers, body = connection.answer()
    assert status == 500
    assert headers["content-type"] == "application/json"
    assert b"RuntimeError" in body and b"/secret" not in body
    monkeypatch.undo()
    if label == "asgi":  # uvicorn closes a connection whose app raised, once it has answered
        assert connection.closed_by_server()
        connection = connect(running)
    connection.send(_request())
    assert connection.answer()[::2] == (200, ANSWER)


def test_a_client_gone_before_its_body_arrives_leaves_the_server_serving(server, connect):
    leaving = connect(server)
    leaving.send(_request()[:-5])  # the body cut short, then the connection dropped
    leaving.close()
    connection = connect(server)
    connection.send(_request())
    assert connection.answer()[::2] == (200, ANSWER)


def test_a_chunked_body_sent_in_pieces_is_read_whole(server, connect):
    connection = connect(server)
    head = (f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    connection.send(head)
    for piece in (BODY[:9], BODY[9:20], BODY[20:]):
        connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    connection.send(b"0\r\n\r\n")
    assert connection.answer()[::2] == (200, ANSWER)


def test_an_error_while_answering_an_error_is_still_a_json_500(server, connect, monkeypatch):
    async def broken(scope, receive):
        raise RuntimeError("the error handler failed")

    monkeypatch.setattr(server.app, "respond", broken)
    connection = connect(server)
    connection.send(_request())
    status, headers, body = connection.answer()
    assert (status, headers["content-type"]) == (500, "application/json")
    assert b"RuntimeError" in body and b"the error handler failed" not in body
    monkeypatch.undo()
    connection.send(_request())
    assert connection.answer()[::2] == (200, ANSWER)
