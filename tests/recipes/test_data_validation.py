"""Data is validated, not trusted (issue 17, items 6-10): every bad file is a one-line error that
names the file and says what to do. Each test builds its small corrupt copy in tmp_path."""

import gzip
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from recipes import data
from recipes.data import CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, IDX_FILES, checksums
from recipes.data.cifar import load_cifar10
from recipes.data.idx import read_idx, write_idx
from recipes.data.text import load_mr_polarity, load_tiny_shakespeare
from recipes.errors import CorruptDatasetError, DatasetNotFoundError, ModifiedDatasetError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # the full corpora, beside the repository


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


def copy_of(folder: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


# 6. IDX (and CIFAR) labels are checked at load time, naming the file.

def test_idx_label_out_of_range_names_the_file(small_mnist_dir, tmp_path):
    folder = copy_of(small_mnist_dir, tmp_path)
    labels = read_idx(folder / IDX_FILES["y_train"]).copy()
    labels[17] = 12
    write_idx(folder / IDX_FILES["y_train"], labels)
    with pytest.raises(CorruptDatasetError) as error:
        data.load_arrays("mnist", data_dir=folder)
    message = one_line(error)
    assert str(folder / IDX_FILES["y_train"]) in message and "12" in message and "0-9" in message


def test_negative_idx_labels_are_reported_too(small_mnist_dir, tmp_path):
    folder = copy_of(small_mnist_dir, tmp_path)
    labels = read_idx(folder / IDX_FILES["y_test"]).astype(np.int8)
    labels[3] = -1
    write_idx(folder / IDX_FILES["y_test"], labels)
    with pytest.raises(CorruptDatasetError) as error:
        data.load_arrays("mnist", data_dir=folder)
    assert str(folder / IDX_FILES["y_test"]) in one_line(error)


def test_keras_npz_labels_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    (tmp_path / "datasets").mkdir()
    rng = np.random.default_rng(0)
    y_train = rng.integers(0, 10, 30)
    y_train[0] = 10
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=rng.integers(0, 255, (30, 28, 28), dtype=np.uint8),
             y_train=y_train, x_test=rng.integers(0, 255, (10, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, 10))
    with pytest.raises(CorruptDatasetError) as error:
        data.load_arrays("mnist")
    message = one_line(error)
    assert "mnist.npz" in message and "y_train" in message


def test_cifar_label_out_of_range_names_the_file(small_cifar10_dir, tmp_path):
    folder = copy_of(small_cifar10_dir, tmp_path, "cifar-10-batches-bin")
    raw = np.fromfile(folder / CIFAR10_TRAIN_FILES[2], dtype=np.uint8)
    raw[3073 * 5] = 10  # the label byte of record 5
    raw.tofile(folder / CIFAR10_TRAIN_FILES[2])
    with pytest.raises(CorruptDatasetError) as error:
        load_cifar10(folder)
    message = one_line(error)
    assert str(folder / CIFAR10_TRAIN_FILES[2]) in message and "0-9" in message


# 7. An explicit data_dir is the only place searched.

def test_explicit_data_dir_missing_a_file_does_not_fall_back(small_mnist_dir, fashion_mnist_dir, tmp_path):
    folder = copy_of(small_mnist_dir, tmp_path)
    (folder / IDX_FILES["y_test"]).unlink()
    with pytest.raises(DatasetNotFoundError) as error:
        data.load_arrays("fashion_mnist", data_dir=folder)  # the Debian package holds all four files
    message = one_line(error)
    assert f"{folder} is missing {IDX_FILES['y_test']}" in message
    assert "only place searched" in message and "leave data_dir unset" in message


def test_explicit_data_dir_that_does_not_exist_is_an_error(fashion_mnist_dir, tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        data.load_arrays("fashion_mnist", data_dir=tmp_path / "nowhere")
    message = one_line(error)
    assert f"{tmp_path / 'nowhere'} does not exist" in message


def test_explicit_data_dir_for_a_corpus_names_the_missing_file(text_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(text_data_dir))  # would have the corpus: never consulted
    folder = tmp_path / "mr"
    folder.mkdir()
    shutil.copy(text_data_dir / "rt-polarity" / "rt-polarity.pos", folder / "rt-polarity.pos")
    with pytest.raises(DatasetNotFoundError) as error:
        load_mr_polarity(folder)
    message = one_line(error)
    assert f"{folder} is missing rt-polarity.neg" in message


def test_data_dir_subfolders_are_still_searched(small_mnist_dir, tmp_path):
    copy_of(small_mnist_dir, tmp_path / "root", "mnist")
    assert len(data.load_arrays("mnist", data_dir=tmp_path / "root").x_train) == 600


# 8. Release files are checked against their published SHA-256.

@pytest.fixture
def fashion_mnist_copy(fashion_mnist_dir, tmp_path):
    """A copy of the real Fashion-MNIST in which one test image has three flipped pixels."""
    folder = tmp_path / "fashion"
    folder.mkdir()
    for filename in IDX_FILES.values():
        if filename != IDX_FILES["x_test"]:
            os.symlink(fashion_mnist_dir / filename, folder / filename)
    payload = bytearray(gzip.decompress((fashion_mnist_dir / IDX_FILES["x_test"]).read_bytes()))
    for offset in (16 + 500, 16 + 900, 16 + 784 * 77 + 300):
        payload[offset] ^= 0xFF
    (folder / IDX_FILES["x_test"]).write_bytes(gzip.compress(bytes(payload), compresslevel=1))
    return folder


def test_release_sized_idx_file_with_flipped_pixels_is_rejected(fashion_mnist_copy):
    with pytest.raises(ModifiedDatasetError) as error:
        data.load_arrays("fashion_mnist", data_dir=fashion_mnist_copy)
    message = one_line(error)
    assert str(fashion_mnist_copy / IDX_FILES["x_test"]) in message
    assert "verify_checksums=False" in message and checksums.ACCEPT_MODIFIED_ENV in message


def test_a_modified_copy_is_accepted_on_purpose(fashion_mnist_copy, monkeypatch):
    accepted = data.load_arrays("fashion_mnist", data_dir=fashion_mnist_copy, verify_checksums=False)
    assert accepted.x_test.shape[0] == 10000
    with data.accept_modified_data():
        assert len(data.load_arrays("fashion_mnist", data_dir=fashion_mnist_copy).y_test) == 10000
    with data.accept_modified_data(False), pytest.raises(ModifiedDatasetError):
        data.load_arrays("fashion_mnist", data_dir=fashion_mnist_copy)
    monkeypatch.setenv(checksums.ACCEPT_MODIFIED_ENV, "1")
    assert len(data.load_arrays("fashion_mnist", data_dir=fashion_mnist_copy).y_test) == 10000
    with pytest.raises(ModifiedDatasetError):  # the keyword wins over the environment
        data.load_arrays("fashion_mnist", data_dir=fashion_mnist_copy, verify_checksums=True)


def test_the_real_release_files_verify_and_the_verdict_is_cached(fashion_mnist_dir, monkeypatch):
    checksums.forget_verdicts()
    for filename in IDX_FILES.values():
        assert checksums.check_release_file(fashion_mnist_dir / filename, "fashion_mnist") == "verified"
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(checksums.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    assert checksums.check_release_file(fashion_mnist_dir / IDX_FILES["x_train"], "fashion_mnist") == "verified"
    assert not calls


def test_published_gz_digest_is_checked_when_the_content_digest_is_not_known(tmp_path):
    labels = tmp_path / IDX_FILES["y_test"]
    write_idx(labels, np.zeros(10000, np.uint8))  # the size of MNIST's test labels, not their content
    with pytest.raises(ModifiedDatasetError) as error:
        checksums.check_release_file(labels, "mnist")
    assert str(labels) in one_line(error)
    small = tmp_path / "small"
    small.mkdir()
    write_idx(small / IDX_FILES["y_test"], np.zeros(200, np.uint8))  # a slice claims nothing
    assert checksums.check_release_file(small / IDX_FILES["y_test"], "mnist") == "not a release file"


def test_release_sized_corpora_that_differ_are_rejected(text_data_dir, tmp_path):
    sizes = {form.size for release in checksums.RELEASES["tiny_shakespeare"] for form in release.content}
    text = (text_data_dir / "tinyshakespeare" / "input.txt").read_bytes()
    folder = tmp_path / "shakespeare"
    folder.mkdir()
    (folder / "input.txt").write_bytes((text * 20)[: sizes.pop()])
    with pytest.raises(ModifiedDatasetError) as error:
        load_tiny_shakespeare(folder)
    assert str(folder / "input.txt") in one_line(error)
    assert load_tiny_shakespeare(folder, verify_checksums=False)[0].startswith("First Citizen")

    mr = copy_of(text_data_dir / "rt-polarity", tmp_path, "mr")
    utf8 = [form.size for release in checksums.RELEASES["mr_polarity"] for form in release.content
            if release.names == ("rt-polarity.pos",) and "UTF-8" in form.what]
    lines = (mr / "rt-polarity.pos").read_bytes() * 20
    (mr / "rt-polarity.pos").write_bytes(lines[: utf8[0] - 1] + b"\n")
    with pytest.raises(ModifiedDatasetError) as error:
        load_mr_polarity(mr)
    assert str(mr / "rt-polarity.pos") in one_line(error)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the full corpora are in ../shared/data on development machines")
def test_the_full_corpora_verify():
    checksums.forget_verdicts()
    sentences, labels, _ = load_mr_polarity(SHARED_DATA)
    assert len(sentences) == 10662 and labels.sum() == 5331
    assert len(load_tiny_shakespeare(SHARED_DATA)[0]) == 1115394
    assert checksums.check_release_file(SHARED_DATA / "tinyshakespeare" / "input.txt", "tiny_shakespeare") == "verified"


def test_the_test_slices_are_not_release_files(text_data_dir):
    assert checksums.check_release_file(text_data_dir / "tinyshakespeare" / "input.txt",
                                        "tiny_shakespeare") == "not a release file"


# 9. Text corpora: binary content, an empty file, one class.

@pytest.fixture
def mr_copy(text_data_dir, tmp_path):
    return copy_of(text_data_dir / "rt-polarity", tmp_path, "mr")


def test_binary_pos_file_is_rejected(mr_copy):
    (mr_copy / "rt-polarity.pos").write_bytes(np.random.default_rng(0).bytes(46271))
    with pytest.raises(CorruptDatasetError) as error:
        load_mr_polarity(mr_copy)
    message = one_line(error)
    assert str(mr_copy / "rt-polarity.pos") in message and "binary" in message


def test_empty_neg_file_is_rejected(mr_copy):
    (mr_copy / "rt-polarity.neg").write_bytes(b"")
    with pytest.raises(CorruptDatasetError) as error:
        load_mr_polarity(mr_copy)
    message = one_line(error)
    assert str(mr_copy / "rt-polarity.neg") in message and "empty" in message


def test_both_files_empty_is_rejected(mr_copy):
    (mr_copy / "rt-polarity.neg").write_bytes(b"")
    (mr_copy / "rt-polarity.pos").write_bytes(b"\n  \n")
    with pytest.raises(CorruptDatasetError) as error:
        load_mr_polarity(mr_copy)
    assert "rt-polarity." in one_line(error) and "empty" in str(error.value)


def test_one_class_twice_is_rejected(mr_copy):
    shutil.copy(mr_copy / "rt-polarity.pos", mr_copy / "rt-polarity.neg")
    with pytest.raises(CorruptDatasetError) as error:
        load_mr_polarity(mr_copy)
    message = one_line(error)
    assert str(mr_copy / "rt-polarity.pos") in message and str(mr_copy / "rt-polarity.neg") in message
    assert "one class" in message


def test_binary_or_empty_shakespeare_is_rejected(tmp_path):
    folder = tmp_path / "shakespeare"
    folder.mkdir()
    (folder / "input.txt").write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(CorruptDatasetError) as error:
        load_tiny_shakespeare(folder)
    assert str(folder / "input.txt") in one_line(error) and "binary" in str(error.value)
    (folder / "input.txt").write_bytes(b"")
    with pytest.raises(CorruptDatasetError) as error:
        load_tiny_shakespeare(folder)
    assert str(folder / "input.txt") in one_line(error) and "empty" in str(error.value)


def test_the_original_cp1252_bytes_read_like_the_utf8_copy(text_data_dir, tmp_path):
    folder = copy_of(text_data_dir / "rt-polarity", tmp_path, "mr")
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        text = (folder / name).read_text(encoding="utf-8") + "a film \u2014 with a dash \u2013 and \u2026\n"
        (folder / name).write_bytes(text.encode("cp1252"))
    sentences, _, _ = load_mr_polarity(folder)
    assert sentences[-1] == "a film \u2014 with a dash \u2013 and \u2026"


# 10. IDX headers: images and labels in their right files, counts that match.

def test_swapped_test_files_name_both_files(small_mnist_dir, tmp_path):
    folder = copy_of(small_mnist_dir, tmp_path)
    images, labels = folder / IDX_FILES["x_test"], folder / IDX_FILES["y_test"]
    images.rename(tmp_path / "swap")
    labels.rename(images)
    (tmp_path / "swap").rename(labels)
    with pytest.raises(CorruptDatasetError) as error:
        data.load_arrays("mnist", data_dir=folder)
    message = one_line(error)
    assert IDX_FILES["x_test"] in message and IDX_FILES["y_test"] in message
    assert "swapped" in message and "3 dimensions" in message


def test_image_and_label_counts_must_match(small_mnist_dir, tmp_path):
    folder = copy_of(small_mnist_dir, tmp_path)
    write_idx(folder / IDX_FILES["y_train"], read_idx(folder / IDX_FILES["y_train"])[:599].copy())
    with pytest.raises(CorruptDatasetError) as error:
        data.load_arrays("mnist", data_dir=folder)
    message = one_line(error)
    assert IDX_FILES["x_train"] in message and IDX_FILES["y_train"] in message
    assert "600 images" in message and "599 labels" in message


def test_labels_file_of_the_wrong_shape_is_named(small_mnist_dir, tmp_path):
    folder = copy_of(small_mnist_dir, tmp_path)
    write_idx(folder / IDX_FILES["y_train"], read_idx(folder / IDX_FILES["y_train"]).reshape(600, 1).copy())
    with pytest.raises(CorruptDatasetError) as error:
        data.load_arrays("mnist", data_dir=folder)
    message = one_line(error)
    assert str(folder / IDX_FILES["y_train"]) in message and "1 dimension" in message


def test_train_and_test_images_must_have_one_size(small_mnist_dir, tmp_path):
    folder = copy_of(small_mnist_dir, tmp_path)
    write_idx(folder / IDX_FILES["x_test"], read_idx(folder / IDX_FILES["x_test"])[:, :27, :27].copy())
    with pytest.raises(CorruptDatasetError) as error:
        data.load_arrays("mnist", data_dir=folder)
    message = one_line(error)
    assert IDX_FILES["x_train"] in message and IDX_FILES["x_test"] in message and "27x27" in message


def test_cifar_release_sized_test_batch_must_hold_1000_of_each_class(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE):
        count = 10000 if name == CIFAR10_TEST_FILE else 20
        labels = rng.integers(0, 10, count).astype(np.uint8)  # not 1000 of each
        records = np.concatenate([labels[:, None], np.zeros((count, 3072), np.uint8)], axis=1)
        records.tofile(folder / name)
    with pytest.raises(ModifiedDatasetError) as error:
        load_cifar10(folder)
    assert str(folder / CIFAR10_TEST_FILE) in one_line(error)
    assert len(load_cifar10(folder, verify_checksums=False).y_test) == 10000


def test_the_command_line_refuses_a_modified_copy_unless_told(fashion_mnist_copy, tmp_path, monkeypatch, capsys):
    from recipes.cli import main

    monkeypatch.setenv(checksums.ACCEPT_MODIFIED_ENV, "")  # restored after the test: main() sets it
    command = ["run", "fashion_mnist_linear", "--data-dir", str(fashion_mnist_copy), "--epochs", "1", "--set",
               "train_limit=512", "--set", "test_limit=256", "--no-export", "--work-dir", str(tmp_path / "runs")]
    assert main(command) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--accept-modified-data" in error[0] and IDX_FILES["x_test"] in error[0]
    assert main([*command, "--accept-modified-data"]) == 0
