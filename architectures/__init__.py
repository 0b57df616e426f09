"""Keras functional-API builders for the classic deep-learning canon, found by name.

    >>> import architectures
    >>> architectures.names("mlp*")
    ['mlp']
    >>> model = architectures.build("mlp", input_shape=(28, 28, 1), num_classes=10)

Every builder takes ``input_shape``, ``num_classes``, ``include_top``, ``classifier_activation``
and ``name`` and returns an un-compiled ``keras.Model``.
"""

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

__all__ = [
    "InputTooSmallError",
    "UnknownArchitectureError",
    "build",
    "entries",
    "entry",
    "get",
    "min_input_size",
    "names",
    "register",
    "register_search_space",
    "search_space",
    "static_entries",
]
