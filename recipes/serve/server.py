"""``run_server``: the app on uvicorn, bound to 127.0.0.1 unless told otherwise.

The listening sockets are bound before anything is loaded, so a port already in use fails at
once with ``AddressInUseError`` (one line, not uvicorn's start-up failure after the models load).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket

from recipes.errors import RecipeError

log = logging.getLogger("keras_recipes.serve")


class AddressError(RecipeError, OSError):
    """The server cannot listen on ``host``:``port`` (an unknown host, a port out of range or not allowed)."""

    def __init__(self, message: str, *, host: str, port: int):
        super().__init__(message)
        self.host, self.port = host, port

    def __str__(self) -> str:
        return self.args[0]


class AddressInUseError(AddressError):
    """Another process already listens on ``host``:``port``."""


def bind_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound (not yet listening) TCP sockets for every address ``host`` resolves to, as uvicorn's
    own binding would make them (``SO_REUSEADDR``, IPv6 sockets IPv6-only)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise AddressError(f"port must be a whole number from 1 to 65535 (0: any free port); got {port!r}",
                           host=host, port=port)
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise AddressError(f"cannot listen on {host!r}: it is not an address or a known host name ({error.strerror})",
                           host=host, port=port) from None
    bound: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, protocol)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise AddressInUseError(f"port {port} on {host} is in use (by another server?); choose another port",
                                            host=host, port=port) from None
                raise AddressError(f"cannot listen on {host} port {port}: {error.strerror or error}",
                                   host=host, port=port) from None
            sock.set_inheritable(True)
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound


def run_server(base_path="saved_models", *, host: str = "127.0.0.1", port: int = 8501, grpc_port: int | None = None,
               **app_options) -> None:
    """Serve until interrupted: REST on ``port`` and, with ``grpc_port``, gRPC there too."""
    import uvicorn

    from recipes.serve.app import create_app

    sockets = bind_sockets(host, port)  # before the models load, so that a busy port fails at once
    try:
        if grpc_port is not None:
            for sock in bind_sockets(host, grpc_port):  # the gRPC server binds it again at start
                sock.close()
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            log.warning("binding %s: the server has no authentication; anyone who can reach this address "
                        "can query every model under %s", host, base_path)
        app = create_app(base_path, grpc_port=grpc_port, grpc_host=host, **app_options)

        class Server(uvicorn.Server):
            async def startup(self, sockets=None):
                await super().startup(sockets=sockets)
                for sock in sockets or ():  # uvicorn says where it listens only when it binds the sockets itself
                    shown_host, shown_port = sock.getsockname()[:2]
                    shown_host = f"[{shown_host}]" if sock.family == socket.AF_INET6 else shown_host
                    log.info("listening on http://%s:%d (Ctrl+C to quit)", shown_host, shown_port)
                if grpc_port is not None:
                    log.info("gRPC (TF Serving's PredictionService and ModelService) on %s:%d", host, grpc_port)

        Server(uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False)).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()


def options_from_flags(*, base_path=None, model_name: str | None = None, model_base_path=None,
                       model_config_file=None, config_poll_seconds: float = 0.0, poll_seconds: float = 2.0,
                       batching: bool = False, batching_parameters_file=None, monitoring_config_file=None,
                       metrics: bool = True, allow_version_labels_for_unavailable_models: bool = False,
                       **rest) -> dict:
    """``run_server`` keyword arguments from TF Serving's ways of naming models and settings: a folder
    of models (ours), ``--model_name`` with ``--model_base_path``, or ``--model_config_file``;
    ``--batching_parameters_file`` and ``--monitoring_config_file`` as TF Serving reads them."""
    from recipes.errors import ConfigError
    from recipes.serve import config
    from recipes.serve.repository import ModelRepository
    from recipes.serve.warmup import replay_warmup

    sources = [flag for flag, value in (("a models folder", base_path), ("--model_base_path", model_base_path),
                                        ("--model_config_file", model_config_file)) if value is not None]
    if len(sources) > 1:
        raise ConfigError(f"serve takes one source of models, got {' and '.join(sources)}; "
                          "give a models folder, --model_base_path (with --model_name) or --model_config_file")
    if model_name is not None and model_base_path is None:
        raise ConfigError("--model_name needs --model_base_path, the folder holding that model's version folders")
    common = {"poll_seconds": poll_seconds, "warmup": replay_warmup,
              "allow_version_labels_for_unavailable_models": allow_version_labels_for_unavailable_models}
    if model_config_file is not None:
        repository = ModelRepository.from_config_file(model_config_file, config_poll_seconds=config_poll_seconds, **common)
    elif model_base_path is not None:
        repository = ModelRepository.single_model(model_base_path, model_name or "default", **common)
    else:
        repository = ModelRepository(base_path or "saved_models", **common)
    options = {**rest, "repository": repository, "metrics": metrics}
    if batching_parameters_file is not None:
        parameters = config.read_batching_parameters_file(batching_parameters_file)
        batching = True
        options.update(max_batch_size=parameters.max_batch_size, batch_timeout_ms=parameters.batch_timeout_micros / 1000,
                       batch_threads=parameters.num_batch_threads, max_enqueued_batches=parameters.max_enqueued_batches,
                       allowed_batch_sizes=parameters.allowed_batch_sizes)
    options["batching"] = batching
    if monitoring_config_file is not None:
        prometheus = config.read_monitoring_config_file(monitoring_config_file).prometheus_config
        options.update(metrics=prometheus.enable, metrics_path=prometheus.path)
    return options
