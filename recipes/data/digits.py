"""scikit-learn's 8x8 handwritten digits, split once with a fixed seed."""

from __future__ import annotations

import numpy as np

from recipes.data.idx import DIGIT_CLASSES
from recipes.data.pipeline import RawData
from recipes.errors import DatasetNotFoundError


def load_digits(data_dir=None, download=True) -> RawData:
    try:
        from sklearn.datasets import load_digits as sklearn_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DatasetNotFoundError(
            "digits ships inside scikit-learn, which is not installed: "
            "`pip install 'keras-recipes[datasets]'` (or `pip install scikit-learn`)."
        ) from None
    digits = sklearn_digits()
    images = digits.images.astype(np.float32)[..., None]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target.astype(np.int32), test_size=0.2, stratify=digits.target,
        random_state=0,
    )
    return RawData(x_train, y_train, x_test, y_test, DIGIT_CLASSES, "pixels", 16.0,
                   "scikit-learn load_digits")
