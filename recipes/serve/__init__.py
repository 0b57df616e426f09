"""Serve exported models with TF Serving's REST API, without installing TF Serving.

    keras-recipes serve saved_models --port 8501 [--batching]

    >>> from recipes.serve import Client
    >>> Client("http://127.0.0.1:8501").predict("fashion_mnist_cnn", images.tolist())

The client needs only the standard library; the server (``create_app``, ``run_server``) loads
TensorFlow when it starts.
"""

import importlib

from recipes.serve.client import Client, ServingError

_LAZY = {
    "create_app": ("recipes.serve.app", "create_app"),
    "ModelRepository": ("recipes.serve.repository", "ModelRepository"),
    "run_server": ("recipes.serve.server", "run_server"),
}


def __getattr__(name):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'recipes.serve' has no attribute {name!r}")


__all__ = ["Client", "ServingError", *_LAZY]
