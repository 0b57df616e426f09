"""``run_server``: the app on uvicorn, bound to 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import ipaddress
import logging

log = logging.getLogger("keras_recipes.serve")


def run_server(base_path="saved_models", *, host: str = "127.0.0.1", port: int = 8501, **app_options) -> None:
    import uvicorn

    from recipes.serve.app import create_app

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        log.warning("binding %s: the server has no authentication; anyone who can reach this address "
                    "can query every model under %s", host, base_path)
    app = create_app(base_path, **app_options)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
