"""Keras functional-API builders for the classic deep-learning canon, found by name.

    >>> import architectures
    >>> architectures.names("mlp*")
    ['mlp']
    >>> model = architectures.build("mlp", input_shape=(28, 28, 1), num_classes=10)

Every builder takes ``input_shape`` and ``name`` and returns an un-compiled ``keras.Model``.
The classifier builders (``architectures.names(outputs="classes")``) also take keras.applications'
``include_top``, ``weights``, ``input_tensor``, ``pooling``, ``classes`` (or ``num_classes``) and
``classifier_activation``; ``help(architectures.get(name))`` shows every option of a builder.

``strip_head`` and ``leaf_layers`` turn a model into a backbone and list its layers for
transfer learning. Importing this package does not import Keras: the builder modules and the
Keras-dependent names load on first use.
"""

import importlib
import os

# oneDNN is off by default on some CPUs (AMD among them) and roughly doubles CPU training
# speed; it only takes effect if set before TensorFlow is imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from architectures.registry import (  # noqa: E402
    InputTooSmallError,
    UnknownArchitectureError,
    build,
    entries,
    entry,
    get,
    min_input_size,
    names,
    register,
    register_search_space,
    search_space,
    static_entries,
)

_NEED_KERAS = {  # name -> module, imported on first access
    "StripHeadError": "architectures.backbones",
    "leaf_layers": "architectures.backbones",
    "strip_head": "architectures.backbones",
    "WeightsError": "architectures.classifier_keywords",
}


def __getattr__(name: str):
    if name in _NEED_KERAS:
        return getattr(importlib.import_module(_NEED_KERAS[name]), name)
    raise AttributeError(f"module 'architectures' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_NEED_KERAS])


__all__ = [
    "InputTooSmallError",
    "StripHeadError",
    "UnknownArchitectureError",
    "WeightsError",
    "build",
    "entries",
    "entry",
    "get",
    "leaf_layers",
    "min_input_size",
    "names",
    "register",
    "register_search_space",
    "search_space",
    "static_entries",
    "strip_head",
]
