"""``run_server``: the app on uvicorn, bound to 127.0.0.1 unless told otherwise.

The listening sockets are bound before anything is loaded, so a port already in use fails at
once with ``AddressInUseError`` (one line, not uvicorn's start-up failure after the models load).
With ``workers=N`` (or ``$WEB_CONCURRENCY``), N server processes share the ports
(``recipes.serve.workers``).
"""

from __future__ import annotations

import errno
import functools
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


def check_port(host: str, port) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise AddressError(f"port must be a whole number from 1 to 65535 (0: any free port); got {port!r}",
                           host=host, port=port)


def bind_sockets(host: str, port: int, *, reuse_port: bool = False, ports: list[int] | None = None) -> list[socket.socket]:
    """Bound (not yet listening) TCP sockets for every address ``host`` resolves to, as uvicorn's
    own binding would make them (``SO_REUSEADDR``, IPv6 sockets IPv6-only); with ``reuse_port``,
    also ``SO_REUSEPORT`` (for worker processes sharing the port), and ``ports``, one per address,
    in place of ``port``: the ports an earlier set got for port 0."""
    check_port(host, port)
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise AddressError(f"cannot listen on {host!r}: it is not an address or a known host name ({error.strerror})",
                           host=host, port=port) from None
    bound: list[socket.socket] = []
    try:
        for index, (family, kind, protocol, _, address) in enumerate(dict.fromkeys(addresses)):
            sock = socket.socket(family, kind, protocol)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if ports is not None:
                address = (address[0], ports[index], *address[2:])
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


def resolve_workers(workers: int | None, grpc_socket_path=None) -> int:
    """The number of server processes: ``workers``, else ``$WEB_CONCURRENCY``, else 1; only one
    when gRPC also listens on a Unix socket, which processes cannot share."""
    from recipes.serve.workers import check_workers, default_workers

    workers = default_workers() if workers is None else check_workers(workers)
    if workers > 1 and grpc_socket_path is not None:
        raise RecipeError("--grpc_socket_path serves gRPC from one process: a Unix socket cannot be shared "
                          f"by {workers} workers; drop --workers or the socket path")
    return workers


def run_server(base_path="saved_models", *, host: str = "127.0.0.1", port: int = 8501, grpc_port: int | None = None,
               workers: int | None = None, **app_options) -> None:
    """Serve until interrupted: REST on ``port`` and, with ``grpc_port``, gRPC there too.

    ``workers`` server processes (default ``$WEB_CONCURRENCY``, else 1) share those ports, each
    with its own models, batching and metrics (``recipes.serve.workers``); the app options then
    travel to them, so they must pickle (a ``ModelRepository`` that has not started does).
    """
    workers = resolve_workers(workers, app_options.get("grpc_socket_path"))
    sockets = bind_sockets(host, port)  # before the models load, so that a busy port fails at once
    try:
        if grpc_port is not None:
            for sock in bind_sockets(host, grpc_port):  # the gRPC server binds it again at start
                if workers > 1 and grpc_port == 0:  # one free port for every worker
                    grpc_port = sock.getsockname()[1]
                sock.close()
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            log.warning("binding %s: the server has no authentication; anyone who can reach this address "
                        "can query every model under %s", host, base_path)
        if app_options.get("grpc_ssl_config") is not None and grpc_port is None \
                and app_options.get("grpc_socket_path") is None:
            log.warning("--ssl_config_file secures gRPC, but no gRPC port is served (give --grpc-port, or --port "
                        "with --rest_api_port); REST stays plain HTTP, as TF Serving's")
        if workers > 1:
            from recipes.serve.workers import reuse_port_sockets, serve_workers

            ports = [sock.getsockname()[1] for sock in sockets]
            for sock in sockets:  # checked; the workers' sockets share the port with SO_REUSEPORT
                sock.close()
            sockets = []
            socket_sets = reuse_port_sockets(host, ports, workers)
            serve_workers(workers, socket_sets, host, grpc_port, {"base_path": base_path, **app_options})
            return
        from recipes.serve.app import create_app

        app = create_app(base_path, grpc_port=grpc_port, grpc_host=host, **app_options)
        serve_app(app, host, sockets, grpc_port=grpc_port)
    finally:
        for sock in sockets:
            sock.close()


def serve_app(app, host: str, sockets: list[socket.socket], *, grpc_port: int | None = None) -> None:
    """Run ``app`` on uvicorn over ``sockets`` (bound, not yet listening) until interrupted."""
    import uvicorn

    from recipes.serve.http_protocol import ServingHttpProtocol

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            for sock in sockets or ():  # uvicorn says where it listens only when it binds the sockets itself
                shown_host, shown_port = sock.getsockname()[:2]
                shown_host = f"[{shown_host}]" if sock.family == socket.AF_INET6 else shown_host
                log.info("listening on http://%s:%d (Ctrl+C to quit)", shown_host, shown_port)
            if grpc_port is not None:
                log.info("gRPC (TF Serving's PredictionService and ModelService) on %s:%d", host, grpc_port)

    port = sockets[0].getsockname()[1] if sockets else 0
    config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False, http=ServingHttpProtocol)
    Server(config).run(sockets=sockets)


def options_from_flags(*, base_path=None, model_name: str | None = None, model_base_path=None,
                       model_config_file=None, config_poll_seconds: float = 0.0, poll_seconds: float = 2.0,
                       batching: bool = False, batching_parameters_file=None, monitoring_config_file=None,
                       metrics: bool = True, allow_version_labels_for_unavailable_models: bool = False,
                       enable_model_warmup: bool = True, num_request_iterations_for_warmup: int = 0,
                       prefer_tflite_model: bool = False, saved_model_tags: str = "serve", ssl_config_file=None,
                       use_alts_credentials: bool = False, **rest) -> dict:
    """``run_server`` keyword arguments from TF Serving's ways of naming models and settings: a folder
    of models (ours), ``--model_name`` with ``--model_base_path``, or ``--model_config_file``;
    ``--batching_parameters_file``, ``--monitoring_config_file`` and ``--ssl_config_file`` as TF
    Serving reads them; ``--enable_model_warmup``, ``--num_request_iterations_for_warmup``,
    ``--prefer_tflite_model`` and ``--saved_model_tags`` (comma-separated) as TF Serving has them;
    ``--use_alts_credentials`` refused."""
    from recipes.errors import ConfigError
    from recipes.serve import config
    from recipes.serve.loading import SERVE_TAG, load_version
    from recipes.serve.repository import ModelRepository
    from recipes.serve.tflite import load_version_preferring_tflite
    from recipes.serve.warmup import WarmupReplay

    sources = [flag for flag, value in (("a models folder", base_path), ("--model_base_path", model_base_path),
                                        ("--model_config_file", model_config_file)) if value is not None]
    if len(sources) > 1:
        raise ConfigError(f"serve takes one source of models, got {' and '.join(sources)}; "
                          "give a models folder, --model_base_path (with --model_name) or --model_config_file")
    if model_name is not None and model_base_path is None:
        raise ConfigError("--model_name needs --model_base_path, the folder holding that model's version folders")
    if use_alts_credentials:
        raise ConfigError("--use_alts_credentials: ALTS works only on Google Cloud and is not supported here; "
                          "serve gRPC over TLS with --ssl_config_file FILE instead")
    if num_request_iterations_for_warmup < 0:
        raise ConfigError(f"--num_request_iterations_for_warmup must be 0 (once) or more. "
                          f"Received: {num_request_iterations_for_warmup}")
    tags = tuple(tag.strip() for tag in saved_model_tags.split(",") if tag.strip())
    if not tags:
        raise ConfigError(f"--saved_model_tags names no tag: {saved_model_tags!r}; give one or more, such as serve")
    loader = load_version_preferring_tflite if prefer_tflite_model else load_version
    if tags != (SERVE_TAG,):
        loader = functools.partial(loader, tags=tags)
    warmup = WarmupReplay(max(num_request_iterations_for_warmup, 1)) if enable_model_warmup else None
    common = {"poll_seconds": poll_seconds, "warmup": warmup, "loader": loader,
              "allow_version_labels_for_unavailable_models": allow_version_labels_for_unavailable_models}
    if model_config_file is not None:
        repository = ModelRepository.from_config_file(model_config_file, config_poll_seconds=config_poll_seconds, **common)
    elif model_base_path is not None:
        repository = ModelRepository.single_model(model_base_path, model_name or "default", **common)
    else:
        repository = ModelRepository(base_path or "saved_models", **common)
    options = {**rest, "repository": repository, "metrics": metrics}
    if ssl_config_file is not None:
        options["grpc_ssl_config"] = config.read_ssl_config_file(ssl_config_file)
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
