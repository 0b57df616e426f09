"""Your own data in the forms Keras's ``fit`` takes: numpy ``(x, y)``, a ``tf.data.Dataset`` of
``(x, y)`` (batched or not, of known or unknown length), a ``keras.utils.PyDataset``, or a
``(train, validation[, test])`` tuple of any of them.

    >>> data = recipes.data.from_native((x, y), batch_size=64, seed=0)   # validation carved by seed
    >>> data = recipes.data.from_native((train_ds, validation_ds))

Labels may be integers (classes ``0 .. max``), strings (classes named after them, in sorted
order) or floats (a regression target). Where no validation split is given, one is carved from
the training data by ``seed`` and the log says so. Without a test split, nothing is tested.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from recipes.data.pipeline import Data, DatasetInfo, pipeline, split_indices
from recipes.errors import InputError

log = logging.getLogger("keras_recipes")

SPLITS = ("train", "validation", "test")
SHUFFLE_BUFFER = 10_000  # examples, for a dataset of single examples that this module batches


@dataclass(frozen=True)
class Labels:
    """What the labels say about the task: class names (empty for a regression target)."""

    class_names: tuple[str, ...]
    regression: bool = False


def from_native(source, *, name: str = "data", batch_size: int = 128, validation_split: float = 0.1,
                seed: int = 0, class_names=None, value_range="auto", batched: bool | None = None,
                input_name: str | None = None, augmentation: Callable | None = None) -> Data:
    """``source`` as a ``Data`` (train, validation and test pipelines with their metadata).

    ``class_names`` names the integer labels (default: ``"0"``, ``"1"``, ...; a dataset from
    ``keras.utils.image_dataset_from_directory`` brings its own). ``value_range`` is what a raw
    input value goes up to, for the model's rescaling: ``"auto"`` takes 255 for uint8 inputs and
    None (no rescaling) otherwise. ``batched`` says whether a ``tf.data`` dataset yields batches
    (by default: it does when it was made by ``.batch`` or its first dimension is open).
    """
    parts = split_parts(source)
    if all(_is_arrays(part) for part in parts.values() if part is not None):
        return _from_array_parts(parts, name=name, batch_size=batch_size, validation_split=validation_split,
                                 seed=seed, class_names=class_names, value_range=value_range,
                                 input_name=input_name, augmentation=augmentation)
    return _from_streams(parts, name=name, batch_size=batch_size, validation_split=validation_split, seed=seed,
                         class_names=class_names, value_range=value_range, batched=batched,
                         input_name=input_name, augmentation=augmentation)


def is_native(source) -> bool:
    """Whether ``source`` is one of the forms ``from_native`` takes."""
    try:
        split_parts(source)
    except InputError:
        return False
    return True


# --- telling the forms apart --------------------------------------------------------------------

def _is_array(value) -> bool:
    import tensorflow as tf

    return isinstance(value, np.ndarray) or tf.is_tensor(value) or (
        isinstance(value, list) and not any(_is_stream(v) or isinstance(v, tuple) for v in value))


def _is_arrays(part) -> bool:
    return isinstance(part, tuple) and len(part) == 2 and all(_is_array(v) for v in part)


def _is_stream(value) -> bool:
    import keras
    import tensorflow as tf

    return isinstance(value, (tf.data.Dataset, keras.utils.PyDataset))


def split_parts(source) -> dict:
    """``{"train": ..., "validation": ... or None, "test": ... or None}`` from one dataset or an
    ``(x, y)`` pair, or a ``(train, validation[, test])`` tuple of them."""
    if _is_stream(source) or _is_arrays(_as_tuple(source)):
        return {"train": _as_tuple(source), "validation": None, "test": None}
    if isinstance(source, (tuple, list)) and len(source) in (2, 3):
        parts = [_as_tuple(part) for part in source]
        if all(part is None or _is_stream(part) or _is_arrays(part) for part in parts) and parts[0] is not None:
            return dict(zip(SPLITS, [*parts, None][:3]))
    raise InputError(
        "data must be numpy (x, y), a tf.data.Dataset of (x, y), a keras.utils.PyDataset, or a "
        "(train, validation[, test]) tuple of them; or a folder of class subfolders of images, a .csv "
        f"file, 'tfds:NAME' or a dataset name. Received: {_describe(source)}")


def _as_tuple(part):
    return tuple(part) if isinstance(part, list) and len(part) == 2 and all(_is_array(v) for v in part) else part


def _describe(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}: ({', '.join(_describe(v) for v in value[:4])})"
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__}{'' if shape is None else f' of shape {tuple(shape)}'}"


# --- numpy ---------------------------------------------------------------------------------------

def _from_array_parts(parts, *, name, batch_size, validation_split, seed, class_names, value_range, input_name,
                      augmentation) -> Data:
    given = {split: _checked_arrays(split, *part) for split, part in parts.items() if part is not None}
    labels = labels_of(np.concatenate([y for _, y in given.values()]), class_names)
    given = {split: (x, encoded(y, labels)) for split, (x, y) in given.items()}
    x_train, y_train = given["train"]
    splits = {"train": given["train"]}
    if "validation" in given:
        splits["validation"] = given["validation"]
    elif validation_split:
        train_index, validation_index = split_indices(len(x_train), validation_split=validation_split, seed=seed)
        splits = {"train": (x_train[train_index], y_train[train_index]),
                  "validation": (x_train[validation_index], y_train[validation_index])}
        log.info("%s: no validation data given; %d of the %d training examples are held out for it (seed %d)",
                 name, len(validation_index), len(x_train), seed)
    if "test" in given:
        splits["test"] = given["test"]
    info = DatasetInfo(
        name=name, input_shape=tuple(x_train.shape[1:]), num_classes=len(labels.class_names),
        class_names=labels.class_names, input_name=input_name or "inputs",
        value_range=_value_range(value_range, x_train.dtype, x_train), source="your arrays",
        **{f"num_{split}": len(splits[split][0]) if split in splits else 0 for split in SPLITS})
    return Data(train=pipeline(*splits["train"], batch_size, shuffle_seed=seed, augment=augmentation),
                validation=pipeline(*splits["validation"], batch_size) if "validation" in splits else None,
                test=pipeline(*splits["test"], batch_size) if "test" in splits else None,
                info=info, arrays=splits)


def _checked_arrays(split, x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise InputError(f"{split}: x has {len(x)} examples but y has {len(y)} labels; give one label per example. "
                         f"Received: x of shape {x.shape}, y of shape {y.shape}")
    if not len(x):
        raise InputError(f"{split}: no examples. Received: x of shape {x.shape}")
    return x, y


def labels_of(y: np.ndarray, class_names) -> Labels:
    """Classes from integer or string labels (or a regression target from floats), checked."""
    if y.dtype.kind in "USO":
        names = tuple(sorted({str(v) for v in y.reshape(-1)}))
        if class_names is not None and tuple(class_names) != names:
            raise InputError(f"the string labels are {list(names)}, not the class_names given. "
                             f"Received: class_names={list(class_names)}")
        return Labels(names)
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        return Labels((), regression=True)
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    low, high = int(y.min()), int(y.max())
    count = len(class_names) if class_names is not None else high + 1
    if low < 0 or high >= count:
        raise InputError(f"labels must be class indices from 0 to {count - 1}"
                         + (f" (one per class name: {list(class_names)})" if class_names is not None else "")
                         + f". Received: labels from {low} to {high}")
    return Labels(tuple(class_names) if class_names is not None else tuple(str(i) for i in range(count)))


def encoded(y: np.ndarray, labels: Labels) -> np.ndarray:
    if labels.regression:
        return y.astype(np.float32)
    if y.dtype.kind in "USO":
        index = {name: i for i, name in enumerate(labels.class_names)}
        return np.vectorize(lambda v: index[str(v)], otypes=[np.int32])(y)
    return y.astype(np.int32)


def _value_range(value_range, dtype, sample=None) -> float | None:
    """``value_range`` as given, or for ``"auto"``: 255 for uint8 inputs and for images whose float
    values go above 1.5 (raw pixels, as ``image_dataset_from_directory`` gives), else None."""
    if value_range != "auto":
        return value_range
    if np.dtype(dtype) == np.uint8:
        return 255.0
    if sample is not None and np.ndim(sample) == 4 and np.dtype(dtype).kind == "f" and float(np.max(sample)) > 1.5:
        log.info("the inputs look like 0-255 pixels, so the model rescales them; pass value_range=None to "
                 "feed them as they are")
        return 255.0
    return None


# --- tf.data and PyDataset -----------------------------------------------------------------------

def _from_streams(parts, *, name, batch_size, validation_split, seed, class_names, value_range, batched,
                  input_name, augmentation) -> Data:
    import tensorflow as tf

    streams = {split: (_arrays_as_dataset(part) if _is_arrays(part) else part)
               for split, part in parts.items() if part is not None}
    class_names = class_names or getattr(streams["train"], "class_names", None)
    for split, stream in streams.items():
        _check_elements(split, stream)
    unbatched = {split for split, stream in streams.items() if not _is_batched(stream, batched)}
    if "validation" not in streams and validation_split:
        log.info("%s: no validation data given; about %.0f%% of the training %s are held out for it "
                 "(chosen by seed %d)", name, 100 * validation_split,
                 "examples" if "train" in unbatched else "batches", seed)
        streams["train"], streams["validation"] = _carve(streams["train"], validation_split, seed)
        if "train" in unbatched:
            unbatched.add("validation")
    # Examples given one by one are shuffled (after the split is carved) and batched here, as the
    # numpy path does; batches given are used as they come.
    streams = {split: (stream.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True) if split == "train"
                       else stream).batch(batch_size) if split in unbatched else stream
               for split, stream in streams.items()}
    scans = {split: _scan(split, stream) for split, stream in streams.items()}
    labels = _merged_labels(scans.values(), class_names)
    if labels.class_names and any(scan.string_labels for scan in scans.values()):
        streams = {split: _looked_up(stream, labels.class_names) for split, stream in streams.items()}
    if isinstance(streams["train"], tf.data.Dataset):
        streams = {split: stream.apply(tf.data.experimental.assert_cardinality(scans[split].batches))
                   for split, stream in streams.items()}
        if augmentation is not None:
            streams["train"] = streams["train"].map(lambda x, y: (augmentation(x, training=True), y),
                                                    num_parallel_calls=tf.data.AUTOTUNE)
    first = scans["train"]
    info = DatasetInfo(
        name=name, input_shape=first.input_shape, num_classes=len(labels.class_names),
        class_names=labels.class_names, input_name=input_name or "inputs",
        value_range=_value_range(value_range, first.input_dtype, first.sample),
        source=f"your {type(parts['train']).__name__}",
        num_train=first.examples, num_validation=scans["validation"].examples if "validation" in scans else 0,
        num_test=scans["test"].examples if "test" in scans else 0)
    return Data(train=streams["train"], validation=streams.get("validation"), test=streams.get("test"),
                info=info, arrays=None)


def _arrays_as_dataset(part):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(tuple(np.asarray(v) for v in part))


def _element(stream):
    """The structure of one element: a ``tf.TensorSpec`` tree, or the first batch of a PyDataset."""
    import tensorflow as tf

    if isinstance(stream, tf.data.Dataset):
        return stream.element_spec
    if len(stream) == 0:
        raise InputError(f"{type(stream).__name__} has no batches (len() is 0)")
    return stream[0]


def _check_elements(split, stream) -> None:
    element = _element(stream)
    if not (isinstance(element, tuple) and len(element) in (2, 3)):
        raise InputError(
            f"{split}: each element must be (x, y) (or (x, y, sample_weight)), as Keras's fit takes it. "
            f"Received: an element of {_structure(element)}; map it to pairs, e.g. "
            f"dataset.map(lambda example: (example['image'], example['label']))")


def _structure(element) -> str:
    if isinstance(element, dict):
        return f"a dict with keys {sorted(element)}"
    if isinstance(element, tuple):
        return f"a tuple of {len(element)}"
    return type(element).__name__


def _is_batched(stream, batched: bool | None) -> bool:
    """Whether ``stream`` yields batches: a PyDataset always does; a dataset does when ``batched``
    says so, or (``batched=None``) when it was made by ``.batch`` or its first dimension is open."""
    import tensorflow as tf

    if not isinstance(stream, tf.data.Dataset):
        return True
    if batched is not None:
        return batched
    first = next(iter(tf.nest.flatten(stream.element_spec[0])))
    return hasattr(stream, "_batch_size") or bool(first.shape.rank and first.shape[0] is None)


def _carve(stream, validation_split: float, seed: int):
    """Split a stream's elements (examples or batches) by a seeded draw per index: the same split
    every epoch and every run, whatever its length, without a shuffle buffer."""
    import keras
    import tensorflow as tf

    if isinstance(stream, keras.utils.PyDataset):
        order = np.random.default_rng(seed).permutation(len(stream))
        count = max(1, int(round(len(stream) * validation_split)))
        return batch_subset(stream, np.sort(order[count:])), batch_subset(stream, np.sort(order[:count]))

    def held_out(index, *_):
        draw = tf.random.stateless_uniform((), seed=tf.stack([tf.constant(seed, tf.int64), index]))
        return draw < validation_split

    numbered = stream.enumerate()
    train = numbered.filter(lambda i, element: tf.logical_not(held_out(i))).map(lambda i, element: element)
    validation = numbered.filter(lambda i, element: held_out(i)).map(lambda i, element: element)
    return train, validation


def batch_subset(dataset, indices):
    """A ``PyDataset`` of some of ``dataset``'s batches, by index (a validation split carved from it)."""
    import keras

    class BatchSubset(keras.utils.PyDataset):
        def __len__(self):
            return len(indices)

        def __getitem__(self, index):
            return dataset[indices[index]]

    return BatchSubset()


@dataclass
class _Scan:
    batches: int
    examples: int
    input_shape: object
    input_dtype: object
    labels: np.ndarray  # every label seen (strings as bytes), for the class list
    string_labels: bool
    sample: np.ndarray | None  # the first batch of inputs, when they are one array


def _scan(split, stream) -> _Scan:
    """One pass over a stream: how many batches and examples, and what labels it holds."""
    import tensorflow as tf

    batches, examples, seen, shape, dtype, sample = 0, 0, [], None, None, None
    iterator = stream.as_numpy_iterator() if isinstance(stream, tf.data.Dataset) else (
        stream[i] for i in range(len(stream)))
    for element in iterator:
        x, y = element[0], np.asarray(element[1])
        leaves = tf.nest.flatten(x)
        batches += 1
        examples += len(leaves[0])
        if shape is None:
            shape = tf.nest.map_structure(lambda leaf: tuple(np.shape(leaf)[1:]), x)
            dtype = np.asarray(leaves[0]).dtype
            sample = np.asarray(x) if len(leaves) == 1 and not isinstance(x, dict) else None
        seen.append(np.unique(y.reshape(-1)) if y.dtype.kind in "iubSUO" else y.reshape(-1)[:1])
    if not batches:
        raise InputError(f"{split}: the dataset is empty")
    labels = np.concatenate(seen)
    return _Scan(batches, examples, shape, dtype, labels, labels.dtype.kind in "SUO", sample)


def _merged_labels(scans, class_names) -> Labels:
    scans = list(scans)
    if any(scan.string_labels for scan in scans):
        values = np.concatenate([scan.labels for scan in scans])
        values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])
        return labels_of(values, class_names)
    if any(scan.labels.dtype.kind == "f" for scan in scans):
        floats = np.concatenate([scan.labels for scan in scans]).astype(np.float64)
        if not np.all(np.mod(floats, 1) == 0):
            return Labels((), regression=True)
    return labels_of(np.concatenate([scan.labels for scan in scans]).astype(np.int64), class_names)


def _looked_up(stream, class_names):
    """String labels as class indices, inside the pipeline."""
    import keras
    import tensorflow as tf

    lookup = keras.layers.StringLookup(vocabulary=list(class_names), num_oov_indices=0)
    if isinstance(stream, tf.data.Dataset):
        return stream.map(lambda x, y, *rest: (x, lookup(y), *rest))
    raise InputError("string labels from a PyDataset: return class indices from __getitem__, and pass "
                     f"class_names={list(class_names)}")
