import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests never wait minutes for tensorflow-datasets to fail offline.
os.environ.setdefault("KERAS_RECIPES_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
TEXT_SLICES_DIR = Path(__file__).resolve().parent / "data"  # excerpts of MR and Tiny Shakespeare


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.fail("Fashion-MNIST is missing: `apt-get install dataset-fashion-mnist` (.ci/run does this)")
    return FASHION_MNIST_DIR


@pytest.fixture(scope="session")
def small_mnist_dir(tmp_path_factory, fashion_mnist_dir):
    """MNIST-format IDX files written by the test: 600 train / 200 test real Fashion-MNIST images."""
    from recipes.data import IDX_FILES
    from recipes.data.idx import read_idx, write_idx

    folder = tmp_path_factory.mktemp("mnist")
    sizes = {"x_train": 600, "y_train": 600, "x_test": 200, "y_test": 200}
    for key, filename in IDX_FILES.items():
        write_idx(folder / filename, np.ascontiguousarray(read_idx(fashion_mnist_dir / filename)[: sizes[key]]))
    return folder


@pytest.fixture(scope="session")
def small_cifar10_dir(tmp_path_factory):
    """CIFAR-10 binary batch files in the real record format (label byte + R, G, B planes), with
    images whose colour depends on their class so that a network can learn them."""
    from recipes.data import CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES

    folder = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for filename, count in [*((f, 40) for f in CIFAR10_TRAIN_FILES), (CIFAR10_TEST_FILE, 30)]:
        labels = rng.integers(0, 10, count).astype(np.uint8)
        planes = rng.integers(0, 60, (count, 3, 32, 32))
        for index, label in enumerate(labels):
            planes[index, label % 3] += 20 * label
        records = np.concatenate([labels[:, None], planes.reshape(count, -1).astype(np.uint8)], axis=1)
        records.astype(np.uint8).tofile(folder / filename)
    return folder


@pytest.fixture
def data_dir_for(small_mnist_dir, small_cifar10_dir):
    """The test's offline data folder for datasets that have no offline copy here, else None."""
    return {"mnist": small_mnist_dir, "cifar10": small_cifar10_dir, "mr_polarity": TEXT_SLICES_DIR,
            "tiny_shakespeare": TEXT_SLICES_DIR}.get


@pytest.fixture(scope="session")
def text_data_dir():
    return TEXT_SLICES_DIR
