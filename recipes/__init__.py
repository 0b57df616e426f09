"""Compile/fit recipes over the registered architectures, with export and a CLI.

    >>> import recipes
    >>> result = recipes.run("fashion_mnist_cnn", epochs=8, seed=0)
    >>> result.test_metrics["accuracy"], result.export_path

The pieces are public too: ``recipes.data.load``, ``recipes.compile_and_fit``,
``recipes.export``. Importing this package is cheap; TensorFlow loads on first use.

Layout (data flows one way, and so do imports): ``data`` -> ``architectures`` -> ``callbacks``
-> ``tasks`` -> ``training`` -> ``catalog`` -> ``tuning`` -> ``cli``; ``saved_models`` (export)
is a leaf every layer may use, and ``serve`` reads only the export format.
"""

import importlib
import os

# oneDNN is off by default on some CPUs (AMD among them) and roughly doubles CPU training
# speed; it only takes effect if set before TensorFlow is imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from recipes import _moved  # noqa: E402
from recipes.errors import (  # noqa: E402
    ConfigError,
    CorruptDatasetError,
    DatasetNotFoundError,
    ExportFailedError,
    InputError,
    RecipeError,
    TuningError,
    UnknownNameError,
)

_moved.install()

_LAZY = {
    "Recipe": ("recipes.catalog", "Recipe"),
    "get": ("recipes.catalog", "get"),
    "names": ("recipes.catalog", "names"),
    "with_overrides": ("recipes.catalog", "with_overrides"),
    "run": ("recipes.catalog._runner", "run"),
    "finish": ("recipes.catalog._runner", "finish"),
    "classifier_for": ("recipes.tasks.classification", "classifier_for"),
    "compile_and_fit": ("recipes.training", "compile_and_fit"),
    "compile_model": ("recipes.training", "compile_model"),
    "make_optimizer": ("recipes.training", "make_optimizer"),
    "learning_rate_schedule": ("recipes.training", "learning_rate_schedule"),
    "Result": ("recipes.training", "Result"),
    "fine_tune": ("recipes.training.transfer", "fine_tune"),
    "export": ("recipes.saved_models", "export"),
    "load_exported": ("recipes.saved_models", "load"),
    "tune": ("recipes.tuning", "tune"),
    "TuneResult": ("recipes.tuning", "TuneResult"),
    "launch_distributed": ("recipes.tuning", "launch_distributed"),
}
_SUBPACKAGES = ("catalog", "cli", "data", "inference", "saved_models", "serve", "style_transfer", "tasks",
                "training", "tuning")


def __getattr__(name):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    if name in _SUBPACKAGES or f"recipes.{name}" in _moved.MOVED:
        return importlib.import_module(f"recipes.{name}")
    raise AttributeError(f"module 'recipes' has no attribute {name!r}")


def __dir__():
    return sorted({*__all__, *_SUBPACKAGES, "errors"})


__all__ = [
    "ConfigError", "CorruptDatasetError", "DatasetNotFoundError", "ExportFailedError", "InputError", "RecipeError",
    "TuningError",
    "UnknownNameError", *_LAZY,
]
