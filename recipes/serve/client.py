"""A small client for TF Serving's REST API (this server's or TF Serving's own), on the standard
library only.

    >>> client = Client("http://127.0.0.1:8501")
    >>> client.predict("fashion_mnist_cnn", images.tolist())          # row format
    >>> client.predict("shakespeare_char_lstm", inputs={"prompt": ["ROMEO:"], "length": [80], "temperature": [0.8]})
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request


class ServingError(Exception):
    """The server answered with an error status; ``status`` and ``message`` say which."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class Client:
    def __init__(self, url: str = "http://127.0.0.1:8501", *, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _model_path(self, name: str, version: int | None) -> str:
        return f"{self.url}/v1/models/{name}" + (f"/versions/{version}" if version is not None else "")

    def _call(self, url: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            try:
                message = json.loads(text).get("error", text)
            except (json.JSONDecodeError, AttributeError):
                message = text
            raise ServingError(error.code, message) from None

    def status(self, name: str, version: int | None = None) -> list[dict]:
        return self._call(self._model_path(name, version))["model_version_status"]

    def metadata(self, name: str, version: int | None = None) -> dict:
        return self._call(self._model_path(name, version) + "/metadata")

    def predict(self, name: str, instances: list | None = None, *, inputs=None, version: int | None = None,
                signature_name: str | None = None):
        """``instances`` (one entry per example) returns the ``predictions`` list; ``inputs``
        (named batches, the columnar format) returns ``outputs``."""
        if (instances is None) == (inputs is None):
            raise ValueError("give either instances=[...] (row format) or inputs=... (columnar format)")
        body = {"instances": instances} if instances is not None else {"inputs": inputs}
        if signature_name:
            body["signature_name"] = signature_name
        answer = self._call(self._model_path(name, version) + ":predict", body)
        return answer["predictions"] if instances is not None else answer["outputs"]
