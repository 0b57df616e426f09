"""Arrays into ``tf.data`` pipelines: the seeded train/validation split, batching, caching,
prefetching and (train only) augmentation, plus the metadata a model is built from."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from recipes.errors import ConfigError

log = logging.getLogger("keras_recipes")


@dataclass(frozen=True)
class RawData:
    """A dataset's arrays before splitting and batching. Without ``class_names`` the classes are
    named after the integer labels (``"0"``, ``"1"``, ...); ``value_range`` is what a raw input
    value goes up to (255 for pixels), for the model's rescaling, or None for none."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = ()
    input_name: str = "inputs"
    value_range: float | None = None
    source: str = "your arrays"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: tuple[str, ...]
    input_name: str
    value_range: float | None
    source: str
    num_train: int
    num_validation: int
    num_test: int
    resized_to: tuple[int, int] | None = None  # images were resized to (height, width); the model resizes any size


@dataclass
class Data:
    """Train, validation and test pipelines (validation and test None where there are none), their
    metadata, and the arrays they were made from (None for a stream: a ``tf.data`` dataset or a
    ``PyDataset``). A task that needs more (a vocabulary, a codec) subclasses it."""

    train: object
    validation: object
    test: object
    info: DatasetInfo
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] | None = field(repr=False)

    def split_arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of a split: the arrays it was made from, or every batch of its stream."""
        if self.arrays is not None and split in self.arrays:
            return self.arrays[split]
        stream = getattr(self, split)
        if stream is None:
            raise ConfigError(f"there is no {split} split")
        import tensorflow as tf

        batches = list(stream.as_numpy_iterator() if isinstance(stream, tf.data.Dataset)
                       else (stream[i] for i in range(len(stream))))
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def split_indices(num_examples: int, *, validation_split: float, seed: int, limit: int | None = None):
    """Seeded (train, validation) index arrays; ``limit`` keeps only that many examples first."""
    order = np.random.default_rng(seed).permutation(num_examples)
    if limit is not None:
        order = order[:limit]
    num_validation = int(round(len(order) * validation_split))
    return np.sort(order[num_validation:]), np.sort(order[:num_validation])


def pipeline(x, y, batch_size: int, *, shuffle_seed: int | None = None, augment: Callable | None = None):
    """A batched, cached, prefetched ``tf.data`` pipeline of float32 inputs and int labels."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle_seed is not None:
        ds = ds.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda xb, yb: (tf.cast(xb, tf.float32), yb),
                                  num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        ds = ds.map(lambda xb, yb: (augment(xb, training=True), yb), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def from_arrays(name: str, raw: RawData, *, batch_size: int = 128, validation_split: float = 0.1,
                seed: int = 0, train_limit: int | None = None, test_limit: int | None = None,
                augmentation: Callable | None = None) -> Data:
    """Pipelines and metadata for arrays you hold yourself (a ``RawData``), split as ``load`` does.

    ``augmentation`` is any callable taking ``(batch, training=True)``, for example
    ``callbacks.augmentation_pipeline(flip="horizontal", input_shape=..., value_range=(0, 255))``;
    it runs on train batches only.
    """
    if augmentation is not None and not callable(augmentation):
        raise ConfigError(
            f"augmentation must be a callable such as callbacks.augmentation_pipeline(flip='horizontal', "
            f"input_shape=..., value_range=(0, 255)); a recipe takes the options as a dict "
            f"(Recipe.augmentation). Received: {augmentation!r}")
    train_index, validation_index = split_indices(
        len(raw.x_train), validation_split=validation_split, seed=seed, limit=train_limit
    )
    arrays = {
        "train": (raw.x_train[train_index], raw.y_train[train_index]),
        "validation": (raw.x_train[validation_index], raw.y_train[validation_index]),
        "test": (raw.x_test[:test_limit], raw.y_test[:test_limit]),
    }
    class_names = tuple(raw.class_names) or _numbered_classes(raw.y_train, raw.y_test)
    info = DatasetInfo(
        name=name, input_shape=tuple(raw.x_train.shape[1:]), num_classes=len(class_names),
        class_names=class_names, input_name=raw.input_name, value_range=raw.value_range,
        source=raw.source, num_train=len(train_index), num_validation=len(validation_index),
        num_test=len(arrays["test"][0]),
    )
    return Data(
        train=pipeline(*arrays["train"], batch_size, shuffle_seed=seed, augment=augmentation),
        validation=pipeline(*arrays["validation"], batch_size) if len(validation_index) else None,
        test=pipeline(*arrays["test"], batch_size),
        info=info,
        arrays=arrays,
    )


def _numbered_classes(*labels) -> tuple[str, ...]:
    """Classes named "0" .. "max" after integer labels; none for real-valued targets."""
    values = np.concatenate([np.asarray(y).reshape(-1) for y in labels if len(y)])
    if values.dtype.kind not in "iub":
        return ()
    return tuple(str(i) for i in range(int(values.max()) + 1))


def batched(x, y, batch_size: int, *, shuffle_seed: int | None = None):
    """A batched, prefetched ``tf.data`` pipeline of ``(x, y)`` as they are (strings, id arrays,
    tuples of them), shuffled each epoch when ``shuffle_seed`` is given."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def without_autotuning(dataset):
    """``dataset`` with tf.data's autotuning thread off; anything that is not a ``tf.data`` dataset
    passes through. ``AUTOTUNE`` parallelism then stays at the number of cores and prefetch buffers
    grow by tf.data's older heuristic.

    Keras starts a new iterator over a dataset at every epoch and at every validation pass, and the
    old iterator's shutdown waits for its autotuning thread: on a 2-core CPU that held the next
    epoch up 2 to 14 s at a time (the README's speedrun section has the measurement)."""
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        return dataset
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def with_augmentation(train, augment: Callable):
    """``train`` with ``augment(batch, training=True)`` applied to its inputs. A ``PyDataset``
    cannot be mapped: it is returned as it is, and the log says to augment in ``__getitem__``."""
    import tensorflow as tf

    if not isinstance(train, tf.data.Dataset):
        log.warning(
            "the recipe's augmentation is not applied to a %s; augment the batches in its __getitem__",
            type(train).__name__)
        return train
    return train.map(lambda x, y, *rest: (augment(x, training=True), y, *rest), num_parallel_calls=tf.data.AUTOTUNE)
