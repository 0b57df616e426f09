import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests never wait minutes for tensorflow-datasets to fail offline.
os.environ.setdefault("KERAS_RECIPES_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.fail("Fashion-MNIST is missing: `apt-get install dataset-fashion-mnist` (.ci/run does this)")
    return FASHION_MNIST_DIR


@pytest.fixture(scope="session")
def small_mnist_dir(tmp_path_factory, fashion_mnist_dir):
    """MNIST-format IDX files written by the test: 600 train / 200 test real Fashion-MNIST images."""
    from recipes.idx import read_idx, write_idx
    from recipes.data import IDX_FILES

    folder = tmp_path_factory.mktemp("mnist")
    sizes = {"x_train": 600, "y_train": 600, "x_test": 200, "y_test": 200}
    for key, filename in IDX_FILES.items():
        write_idx(folder / filename, np.ascontiguousarray(read_idx(fashion_mnist_dir / filename)[: sizes[key]]))
    return folder
