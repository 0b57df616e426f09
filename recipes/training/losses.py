"""Losses Keras does not have: label smoothing on integer labels.

Keras's ``SparseCategoricalCrossentropy`` takes no ``label_smoothing`` (only the one-hot
``CategoricalCrossentropy`` does), so ``SmoothedSparseCategoricalCrossentropy`` one-hots the
labels and hands them to it. Registered with Keras's serialization, so a ``.keras`` checkpoint
compiled with it loads.

    >>> loss = SmoothedSparseCategoricalCrossentropy(label_smoothing=0.2)
    >>> # the target of class 3 of 10 is 0.02 everywhere and 0.82 at 3
"""

from __future__ import annotations

import keras

from recipes.errors import ConfigError


@keras.saving.register_keras_serializable(package="keras_recipes")
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against targets smoothed toward uniform: the true class
    gets ``1 - label_smoothing + label_smoothing / classes``, every other class
    ``label_smoothing / classes`` (Szegedy et al. 2016; airbench uses 0.2). ``from_logits`` as
    Keras's. With ``label_smoothing=0`` it equals ``SparseCategoricalCrossentropy``."""

    def __init__(self, label_smoothing: float = 0.1, from_logits: bool = False, *, reduction="sum_over_batch_size",
                 name="smoothed_sparse_categorical_crossentropy", dtype=None):
        if not 0 <= label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be at least 0 and below 1. Received: "
                              f"label_smoothing={label_smoothing!r}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        classes = keras.ops.shape(y_pred)[-1]
        labels = keras.ops.cast(keras.ops.reshape(y_true, keras.ops.shape(y_pred)[:-1]), "int32")
        targets = keras.ops.one_hot(labels, classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(targets, y_pred, from_logits=self.from_logits,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "from_logits": self.from_logits}


SMOOTHABLE = ("sparse_categorical_crossentropy", "categorical_crossentropy")


def with_label_smoothing(loss, label_smoothing: float):
    """``loss`` (a name) as the same cross-entropy with ``label_smoothing``; 0 returns it unchanged.
    Only the two categorical cross-entropies can be smoothed."""
    if not label_smoothing:
        return loss
    if loss == "sparse_categorical_crossentropy":
        return SmoothedSparseCategoricalCrossentropy(label_smoothing)
    if loss == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    raise ConfigError(f"label_smoothing applies to the loss names {' and '.join(SMOOTHABLE)}; give one of them, "
                      f"or smooth your own loss object yourself. Received: loss={loss!r}")
