"""Keras callbacks, the augmentation pipeline and the plots that recipes attach by name.

Imports neither ``architectures`` nor ``recipes``. Importing the package is cheap: Keras loads
on first use of anything but ``DEFAULT``.
"""

import importlib

from callbacks.defaults import DEFAULT

_LAZY = {
    "FACTORIES": "callbacks.standard",
    "LearningRateLogger": "callbacks.standard",
    "build_callbacks": "callbacks.standard",
    "with_backup_last": "callbacks.standard",
    "EpochLog": "callbacks.standard",
    "AveragedWeightsSwap": "callbacks.standard",
    "RunBackup": "callbacks.backup",
    "augmentation_pipeline": "callbacks.augmentation",
    "GeneratedSamples": "callbacks.samples",
    "TrainingCurves": "callbacks.plots",
    "matplotlib_available": "callbacks.plots",
    "new_figure": "callbacks.plots",
    "save_figure": "callbacks.plots",
    "plot_confusion_matrix": "callbacks.plots",
    "plot_decision_boundary": "callbacks.plots",
    "plot_history": "callbacks.plots",
    "plot_image_grid": "callbacks.pictures",
    "plot_image_rows": "callbacks.pictures",
    "plot_latent_map": "callbacks.pictures",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'callbacks' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY})


__all__ = ["DEFAULT", *_LAZY]
