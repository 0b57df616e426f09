"""A TensorFlow Datasets dataset by name (``"tfds:NAME"``), when tensorflow-datasets can reach it:
its train split, and its validation and test splits where it has them, with its class names."""

from __future__ import annotations

import os

from recipes.data._locate import OFFLINE_ENV
from recipes.data.native import from_native
from recipes.data.pipeline import Data
from recipes.errors import DatasetNotFoundError

PREFIX = "tfds:"
SPLITS = {"train": ("train",), "validation": ("validation", "val"), "test": ("test",)}


def load_tfds(name: str, *, batch_size: int = 128, validation_split: float = 0.1, seed: int = 0,
              download: bool = True, augmentation=None) -> Data:
    """``tfds.load(name, as_supervised=True)`` as a ``Data``. Offline (``download=False`` or
    ``$KERAS_RECIPES_OFFLINE``) only a copy already prepared in tensorflow-datasets' data folder is used."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DatasetNotFoundError(f"tfds:{name} needs tensorflow-datasets: `pip install tensorflow-datasets`") from None
    allowed = download and not os.environ.get(OFFLINE_ENV)
    try:
        splits, info = tfds.load(name, as_supervised=True, with_info=True, download=allowed)
    except Exception as error:  # an unknown name, no network, or a copy that was never prepared
        first_line = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        how = ("it may be downloaded once on a machine that is online (tfds.load) and its data folder copied here"
               if not allowed else "check the name in the TFDS catalog (tfds.list_builders())")
        raise DatasetNotFoundError(f"tensorflow-datasets could not load {name!r} ({type(error).__name__}: "
                                   f"{first_line}); {how}") from None
    parts = [_split(splits, names) for names in SPLITS.values()]
    label = info.features["label"] if "label" in info.features else None
    class_names = tuple(label.names) if hasattr(label, "names") else None
    image = len(getattr(info.features[info.supervised_keys[0]], "shape", ())) == 3 if info.supervised_keys else False
    return from_native(tuple(parts), name=name, batch_size=batch_size, validation_split=validation_split, seed=seed,
                       class_names=class_names, input_name="pixels" if image else "inputs", augmentation=augmentation)


def _split(splits: dict, names):
    for name in names:
        if name in splits:
            return splits[name]
    return None
