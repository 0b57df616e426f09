import gzip
import shutil

import numpy as np
import pytest

import callbacks
from recipes import data
from recipes.data import IDX_FILES
from recipes.data import idx as idx_source
from recipes.data.idx import read_idx, write_idx
from recipes.errors import ConfigError, CorruptDatasetError, DatasetNotFoundError, UnknownNameError


def test_fashion_mnist_is_the_real_data(fashion_mnist_dir):
    raw = data.load_arrays("fashion_mnist")
    assert raw.x_train.shape == (60000, 28, 28, 1) and raw.x_test.shape == (10000, 28, 28, 1)
    assert raw.x_train.dtype == np.uint8 and raw.x_train.max() == 255
    assert raw.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert np.bincount(raw.y_train).tolist() == [6000] * 10
    assert raw.class_names[9] == "Ankle boot"


def test_load_returns_cached_prefetched_pipelines_and_metadata(fashion_mnist_dir):
    loaded = data.load("fashion_mnist", batch_size=64, train_limit=640, test_limit=100, seed=3)
    info = loaded.info
    assert (info.input_shape, info.num_classes, info.input_name) == ((28, 28, 1), 10, "pixels")
    assert (info.num_train, info.num_validation, info.num_test) == (576, 64, 100)
    x, y = next(iter(loaded.train))
    assert x.shape == (64, 28, 28, 1) and x.dtype.name == "float32" and float(x.numpy().max()) > 1
    assert "Prefetch" in type(loaded.train).__name__
    assert sum(int(b[1].shape[0]) for b in loaded.test) == 100


def test_validation_split_is_deterministic_by_seed():
    first = data.split_indices(1000, validation_split=0.2, seed=7)
    again = data.split_indices(1000, validation_split=0.2, seed=7)
    other = data.split_indices(1000, validation_split=0.2, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[1], other[1])
    train, validation = first
    assert len(validation) == 200 and not set(train) & set(validation)
    assert len(set(train) | set(validation)) == 1000


def test_search_order_data_dir_then_env(small_mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(small_mnist_dir))
    from_env = data.load_arrays("mnist")
    assert len(from_env.x_train) == 600 and "$KERAS_RECIPES_DATA_DIR" in from_env.source
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    for filename in IDX_FILES.values():
        shutil.copy(small_mnist_dir / filename, explicit / filename)
    write_idx(explicit / IDX_FILES["x_test"], read_idx(small_mnist_dir / IDX_FILES["x_test"])[:50].copy())
    write_idx(explicit / IDX_FILES["y_test"], read_idx(small_mnist_dir / IDX_FILES["y_test"])[:50].copy())
    assert len(data.load_arrays("mnist", data_dir=explicit).x_test) == 50


def test_keras_cache_npz_is_read_for_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    (tmp_path / "datasets").mkdir()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "datasets" / "mnist.npz",
             x_train=rng.integers(0, 255, (30, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 30),
             x_test=rng.integers(0, 255, (10, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 10))
    raw = data.load_arrays("mnist")
    assert raw.x_train.shape == (30, 28, 28, 1) and "Keras cache" in raw.source


def test_missing_dataset_lists_every_place_and_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    with pytest.raises(DatasetNotFoundError) as caught:
        data.load_arrays("mnist")  # no data_dir: a data_dir you name is the only place searched
    message = str(caught.value)
    for place in ("data_dir", "$KERAS_RECIPES_DATA_DIR: not set", "/usr/share/datasets/mnist",
                  f"Keras cache: {tmp_path / 'keras' / 'datasets'} (not found)", "mnist.npz", "tensorflow-datasets"):
        assert place in message
    assert "--data-dir" in message and "train-images-idx3-ubyte.gz" in message


def test_missing_fashion_mnist_says_apt_get(tmp_path, monkeypatch):
    monkeypatch.setattr(idx_source, "DEBIAN_DATASETS", tmp_path / "no-debian-package")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load_arrays("fashion_mnist", data_dir=tmp_path)


def test_partial_folder_names_the_missing_files(small_mnist_dir, tmp_path):
    shutil.copy(small_mnist_dir / IDX_FILES["x_train"], tmp_path / IDX_FILES["x_train"])
    with pytest.raises(DatasetNotFoundError, match="is missing t10k-images-idx3-ubyte.gz"):
        data.load_arrays("mnist", data_dir=tmp_path, download=False)


def test_truncated_idx_file_is_reported(small_mnist_dir, tmp_path):
    for filename in IDX_FILES.values():
        shutil.copy(small_mnist_dir / filename, tmp_path / filename)
    images = tmp_path / IDX_FILES["x_train"]
    payload = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(payload[:-1000]))
    with pytest.raises(CorruptDatasetError, match=r"truncated or padded.*\(600, 28, 28\).*Delete"):
        data.load_arrays("mnist", data_dir=tmp_path)


def test_cut_gzip_stream_is_reported(small_mnist_dir, tmp_path):
    cut = tmp_path / "cut.gz"
    cut.write_bytes((small_mnist_dir / IDX_FILES["x_train"]).read_bytes()[:5000])
    with pytest.raises(CorruptDatasetError, match="corrupt or truncated"):
        read_idx(cut)


def test_not_an_idx_file_is_reported(tmp_path):
    bogus = tmp_path / "bogus.gz"
    bogus.write_bytes(gzip.compress(b"<html>not found</html>"))
    with pytest.raises(CorruptDatasetError, match="not an IDX file"):
        read_idx(bogus)


def test_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a.idx", array)), array)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a.gz", array)), array)


def test_digits_from_scikit_learn():
    raw = data.load_arrays("digits")
    assert raw.x_train.shape[1:] == (8, 8, 1) and len(raw.x_train) + len(raw.x_test) == 1797
    assert raw.value_range == 16.0 and raw.x_train.max() == 16


@pytest.mark.parametrize("name", ["toy_spirals", "toy_circles", "toy_moons", "toy_xor"])
def test_toy_sets_are_seeded_and_balanced(name):
    first, again, other = (data.load_arrays(name, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert not np.array_equal(first.x_train, other.x_train)
    np.testing.assert_array_equal(first.x_test, other.x_test)  # the test set never moves
    assert first.x_train.shape == (data.TOY_TRAIN_SIZE, 2)
    assert 0.4 < first.y_train.mean() < 0.6


def test_unknown_dataset_suggests_names():
    with pytest.raises(UnknownNameError, match="Did you mean fashion_mnist"):
        data.load_arrays("fashion_mnits")


def test_augmentation_touches_train_batches_only(fashion_mnist_dir):
    plain = data.load("fashion_mnist", batch_size=32, train_limit=64, test_limit=32, validation_split=0.5)
    augment = callbacks.augmentation_pipeline(input_shape=(28, 28, 1), translate=0.2, rotation=0.1)
    augmented = data.load("fashion_mnist", batch_size=32, train_limit=64, test_limit=32, validation_split=0.5,
                          augmentation=augment)
    x_plain, _ = next(iter(plain.train))
    x_aug, _ = next(iter(augmented.train))
    assert not np.allclose(x_plain.numpy(), x_aug.numpy())
    for split in ("validation", "test"):
        np.testing.assert_array_equal(next(iter(getattr(plain, split)))[0].numpy(),
                                      next(iter(getattr(augmented, split)))[0].numpy())


def test_cifar10_binary_batches(small_cifar10_dir):
    raw = data.load_arrays("cifar10", data_dir=small_cifar10_dir.parent)
    assert raw.x_train.shape == (200, 32, 32, 3) and raw.x_test.shape == (30, 32, 32, 3)
    assert raw.class_names[0] == "airplane" and raw.value_range == 255.0
    record = np.fromfile(small_cifar10_dir / "data_batch_1.bin", dtype=np.uint8)[:3073]
    assert raw.y_train[0] == record[0]
    assert raw.x_train[0, 0, 1, 0] == record[1 + 1] and raw.x_train[0, 0, 0, 2] == record[1 + 2048]


def test_cifar10_truncated_and_missing(small_cifar10_dir, tmp_path):
    for path in small_cifar10_dir.iterdir():
        shutil.copy(path, tmp_path / path.name)
    batch = tmp_path / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-5])
    with pytest.raises(CorruptDatasetError, match="data_batch_3.bin is truncated"):
        data.load_arrays("cifar10", data_dir=tmp_path)
    batch.unlink()
    with pytest.raises(DatasetNotFoundError, match="(?s)is missing data_batch_3.bin.*cifar-10-batches-bin"):
        data.load_arrays("cifar10", data_dir=tmp_path, download=False)


def test_augmentation_options_as_a_dict_say_what_to_pass(fashion_mnist_dir):
    with pytest.raises(ConfigError, match=r"augmentation must be a callable such as callbacks.augmentation_pipeline"):
        data.load("fashion_mnist", train_limit=64, test_limit=32, augmentation={"flip": "horizontal"})
