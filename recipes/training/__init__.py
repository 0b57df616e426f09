"""Training: optimizers and schedules by name, mixed precision, distribution strategies, the one
generic ``compile_and_fit``, and transfer learning on top of it.

The names below load on first use, so that ``recipes.training.precision`` (no Keras) stays cheap
to import for the recipe config.
"""

import importlib

_LAZY = {
    "Result": "recipes.training.fit",
    "compile_and_fit": "recipes.training.fit",
    "compile_model": "recipes.training.fit",
    "discard_backup": "recipes.training.fit",
    "OPTIMIZERS": "recipes.training.optimizers",
    "SCHEDULES": "recipes.training.optimizers",
    "learning_rate_schedule": "recipes.training.optimizers",
    "make_optimizer": "recipes.training.optimizers",
    "PRECISIONS": "recipes.training.precision",
    "dtype_policy": "recipes.training.precision",
    "resolve_precision": "recipes.training.precision",
    "make_strategy": "recipes.training.distribute",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recipes.training' has no attribute {name!r}")
