"""Compile/fit recipes over the registered architectures, with export and a CLI.

    >>> import recipes
    >>> result = recipes.run("fashion_mnist_cnn", epochs=8, seed=0)
    >>> result.test_metrics["accuracy"], result.export_path

The pieces are public too: ``recipes.data.load``, ``recipes.compile_and_fit``,
``recipes.export``. Importing this package is cheap; TensorFlow loads on first use.
"""

import importlib
import os

# oneDNN is off by default on some CPUs (AMD among them) and roughly doubles CPU training
# speed; it only takes effect if set before TensorFlow is imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from recipes.config import Recipe, get, names, with_overrides  # noqa: E402
from recipes.errors import (  # noqa: E402
    ConfigError,
    CorruptDatasetError,
    DatasetNotFoundError,
    InputError,
    RecipeError,
    UnknownNameError,
)

_LAZY = {
    "run": ("recipes.runner", "run"),
    "classifier_for": ("recipes.runner", "classifier_for"),
    "compile_and_fit": ("recipes.training", "compile_and_fit"),
    "make_optimizer": ("recipes.training", "make_optimizer"),
    "learning_rate_schedule": ("recipes.training", "learning_rate_schedule"),
    "Result": ("recipes.training", "Result"),
    "export": ("recipes.saved_models", "export"),
    "load_exported": ("recipes.saved_models", "load"),
    "fine_tune": ("recipes.transfer", "fine_tune"),
    "compile_model": ("recipes.training", "compile_model"),
    "tune": ("recipes.tuning", "tune"),
    "TuneResult": ("recipes.tuning", "TuneResult"),
    "launch_distributed": ("recipes.tuning", "launch_distributed"),
}
_SUBMODULES = {"data", "saved_models", "training", "runner", "tasks", "inference", "cli", "idx", "catalog",
               "config", "transfer", "text", "timeseries", "tuning", "serve"}


def __getattr__(name):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    if name in _SUBMODULES:
        return importlib.import_module(f"recipes.{name}")
    raise AttributeError(f"module 'recipes' has no attribute {name!r}")


__all__ = [
    "ConfigError", "CorruptDatasetError", "DatasetNotFoundError", "InputError", "Recipe",
    "RecipeError", "UnknownNameError", "get", "names", "with_overrides", *_LAZY,
]
