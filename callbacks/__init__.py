"""Keras callbacks and the augmentation pipeline that recipes attach by name.

Imports neither ``architectures`` nor ``recipes``.
"""

from callbacks.augmentation import augmentation_pipeline
from callbacks.plots import (
    TrainingCurves,
    matplotlib_available,
    plot_confusion_matrix,
    plot_decision_boundary,
    plot_history,
)
from callbacks.samples import GeneratedSamples
from callbacks.standard import DEFAULT, FACTORIES, LearningRateLogger, build_callbacks

__all__ = [
    "DEFAULT",
    "FACTORIES",
    "GeneratedSamples",
    "LearningRateLogger",
    "TrainingCurves",
    "augmentation_pipeline",
    "build_callbacks",
    "matplotlib_available",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_history",
]
