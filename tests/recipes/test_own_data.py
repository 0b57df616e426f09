"""Your own data, in every form Keras users have it, through compile_and_fit, recipes.run, the
export and the CLI; and the clear, early errors that bad data gets. The images are real
Fashion-MNIST items written as PNG files by the fixtures."""

import json
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures
import recipes
from recipes import data
from recipes.cli import main
from recipes.data.idx import read_idx
from recipes.errors import CorruptDatasetError, DatasetNotFoundError, InputError

CLASSES = {0: "tshirt", 1: "trouser", 9: "boot"}  # Fashion-MNIST labels written as class folders


@pytest.fixture(scope="module")
def fashion(fashion_mnist_dir):
    """600 real Fashion-MNIST images of three classes, labels 0-2, as uint8 (n, 28, 28, 1)."""
    images = read_idx(fashion_mnist_dir / "train-images-idx3-ubyte.gz")[:3000]
    labels = read_idx(fashion_mnist_dir / "train-labels-idx1-ubyte.gz")[:3000]
    keep = np.isin(labels, list(CLASSES))[:]
    index = {label: i for i, label in enumerate(CLASSES)}
    x = images[keep][:600, ..., None]
    y = np.array([index[label] for label in labels[keep][:600]], np.int32)
    return x, y


def _write_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(np.asarray(image, np.uint8)).numpy())


@pytest.fixture(scope="module")
def image_folder(fashion, tmp_path_factory):
    """train/ and test/ folders of class subfolders: 40x40 greyscale PNGs (not the recipe's 28x28)."""
    root = tmp_path_factory.mktemp("photos")
    x, y = fashion
    for i, (image, label) in enumerate(zip(x[:360], y[:360])):
        split = "test" if i % 6 == 0 else "train"
        big = tf.image.resize(image, (40, 40)).numpy().round()
        _write_png(root / split / list(CLASSES.values())[label] / f"{i}.png", big)
    return root


def _mlp(input_shape=(28, 28, 1), classes=3):
    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 255)(inputs)
    return keras.Model(inputs, architectures.build("mlp", input_shape=input_shape, num_classes=classes,
                                                   hidden_units=(32,))(x))


class _Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size=64):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part].astype("float32"), self.y[part]


def _forms(x, y):
    train, validation, test = (x[:400], y[:400]), (x[400:500], y[400:500]), (x[500:], y[500:])
    return {
        "numpy (x, y)": (x, y),
        "numpy (train, validation, test)": (train, validation, test),
        "tf.data unbatched": tf.data.Dataset.from_tensor_slices((x, y)),
        "tf.data batched": tf.data.Dataset.from_tensor_slices((x, y)).batch(50),
        "tf.data of unknown length": tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(50),
        "tf.data (train, validation)": (tf.data.Dataset.from_tensor_slices(train).batch(50),
                                        tf.data.Dataset.from_tensor_slices(validation).batch(50)),
        "PyDataset": _Batches(x, y),
    }


@pytest.mark.e2e
@pytest.mark.parametrize("form", list(_forms(np.zeros((1, 1)), np.zeros(1))))
def test_compile_and_fit_takes_every_form_keras_takes(form, fashion, tmp_path):
    x, y = fashion
    source = _forms(x, y)[form]
    keras.utils.set_random_seed(0)
    result = recipes.compile_and_fit(_mlp(), source, schedule="cosine", learning_rate=3e-3, epochs=3,
                                     run_dir=tmp_path, verbose=0, batch_size=50, seed=1)
    assert result.history["loss"][-1] < result.history["loss"][0], result.history["loss"]
    assert "val_loss" in result.history  # a validation split was given or carved
    assert result.class_names == ("0", "1", "2")
    assert (set(result.test_metrics) >= {"accuracy", "loss"}) == ("test" in form)


def test_a_validation_split_is_carved_by_seed_and_said(fashion, caplog):
    x, y = fashion
    with caplog.at_level(logging.INFO, logger="keras_recipes"):
        first = data.from_native((x, y), validation_split=0.25, seed=3)
    again = data.from_native((x, y), validation_split=0.25, seed=3)
    assert "no validation data given; 150 of the 600 training examples are held out" in caplog.text
    np.testing.assert_array_equal(first.arrays["validation"][1], again.arrays["validation"][1])
    assert (first.info.num_train, first.info.num_validation, first.info.num_test) == (450, 150, 0)
    assert first.test is None

    stream = tf.data.Dataset.from_tensor_slices((x, y)).batch(10)
    carved = data.from_native(stream, validation_split=0.25, seed=3)
    assert carved.info.num_train + carved.info.num_validation == 600 and 60 <= carved.info.num_validation <= 240
    assert [len(b[1]) for b in carved.validation] == [len(b[1]) for b in data.from_native(
        stream, validation_split=0.25, seed=3).validation]


def test_string_labels_become_classes_named_after_them(fashion, tmp_path):
    x, y = fashion
    names = np.array(list(CLASSES.values()))[y]
    result = recipes.compile_and_fit(_mlp(), (x, names), epochs=1, callbacks={}, verbose=0)
    assert result.class_names == ("boot", "trouser", "tshirt")
    streamed = data.from_native(tf.data.Dataset.from_tensor_slices((x, names)).batch(100))
    assert streamed.info.class_names == ("boot", "trouser", "tshirt")
    assert set(np.concatenate([b[1] for b in streamed.train.as_numpy_iterator()])) <= {0, 1, 2}
    path = recipes.export(result, "strings", export_dir=tmp_path)
    assert json.loads((path / "metadata.json").read_text())["class_names"] == ["boot", "trouser", "tshirt"]


def test_float_labels_are_a_regression_target():
    x = np.random.default_rng(0).normal(size=(200, 3)).astype("float32")
    loaded = data.from_native((x, x.sum(axis=1) * 0.37))
    assert loaded.info.num_classes == 0 and loaded.info.class_names == ()


@pytest.mark.parametrize("source, message", [
    (lambda x, y: tf.data.Dataset.from_tensor_slices({"image": x, "label": y}),
     r"each element must be \(x, y\).*Received: an element of a dict with keys \['image', 'label'\]"),
    (lambda x, y: (x, y[:10]), r"x has 600 examples but y has 10 labels"),
    (lambda x, y: (x, y + 5), r"labels must be class indices from 0 to \d+.*Received: labels from 5 to 7"),
    (lambda x, y: {"x": x}, r"data must be numpy \(x, y\), a tf.data.Dataset.*Received: dict"),
])
def test_bad_native_data_says_what_is_wrong(source, message, fashion):
    x, y = fashion
    with pytest.raises(InputError, match=message):
        data.from_native(source(x, y), class_names=("a", "b", "c") if "class indices" in message else None)


def test_image_folder_has_keras_semantics(image_folder):
    loaded = data.load_image_folder(image_folder / "train", image_size=(28, 28), color_mode="grayscale",
                                    validation_split=0.0)
    keras_version = keras.utils.image_dataset_from_directory(
        image_folder / "train", image_size=(28, 28), color_mode="grayscale", shuffle=False, batch_size=None)
    assert loaded.info.class_names == tuple(keras_version.class_names) == ("boot", "trouser", "tshirt")
    theirs_x, theirs_y = zip(*keras_version.as_numpy_iterator())
    ours_x, ours_y = loaded.arrays["train"]
    np.testing.assert_array_equal(ours_y, np.array(theirs_y))
    np.testing.assert_allclose(ours_x, np.stack(theirs_x), atol=1e-4)
    assert loaded.info.resized_to == (28, 28) and loaded.info.input_name == "pixels"


def test_image_folder_splits_and_errors(image_folder, tmp_path, caplog):
    split = data.load_image_folder(image_folder, image_size=(28, 28))
    assert split.test is not None and split.info.num_test == 60 and split.info.num_validation > 0
    with pytest.raises(InputError, match=r"different sizes \(.*is 40x40, .* is 12x9\); pass image_size"):
        odd = tmp_path / "odd"
        _write_png(odd / "a" / "1.png", np.zeros((40, 40, 1)))
        _write_png(odd / "b" / "2.png", np.zeros((12, 9, 1)))
        data.load_image_folder(odd)
    empty = tmp_path / "empty"
    _write_png(empty / "a" / "1.png", np.zeros((8, 8, 1)))
    (empty / "b").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"empty[/\\]b is an empty class folder"):
        data.load_image_folder(empty)
    with pytest.raises(DatasetNotFoundError, match="has no class subfolders"):
        data.load_image_folder(empty / "a")
    broken = tmp_path / "broken"
    _write_png(broken / "a" / "1.png", np.zeros((8, 8, 1)))
    _write_png(broken / "b" / "2.png", np.zeros((8, 8, 1)))
    (broken / "b" / "3.png").write_bytes(b"not a png at all")
    with pytest.raises(CorruptDatasetError, match=r"3.png is not a readable image.*bad_files='skip'"):
        data.load_image_folder(broken)
    with caplog.at_level(logging.WARNING, logger="keras_recipes"):
        skipped = data.load_image_folder(broken, bad_files="skip", validation_split=0.0)
    assert "skipped" in caplog.text and "3.png" in caplog.text and skipped.info.num_train == 2


@pytest.mark.e2e
def test_a_recipe_runs_on_an_image_folder_and_serves_any_size_with_class_names(image_folder, tmp_path, capsys):
    result = recipes.run("fashion_mnist_cnn", data=image_folder, epochs=2, work_dir=tmp_path / "runs",
                         export_dir=tmp_path / "models", verbose=0)
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.test_metrics["accuracy"] > 0.6  # three easy classes, 2 epochs on 300 images
    assert result.export_path == tmp_path / "models" / "fashion_mnist_cnn_photos0" / "1"
    metadata = json.loads((result.export_path / "metadata.json").read_text())
    assert metadata["class_names"] == ["boot", "trouser", "tshirt"]
    assert metadata["preprocessing"] == {"value_range": 255.0, "resize_to": [28, 28], "channels": 1}

    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    image = np.asarray(tf.io.decode_png((image_folder / "test" / "boot").glob("*.png").__next__().read_bytes()))
    served = serve(pixels=tf.constant(image[None].astype("float32")))["probabilities"].numpy()
    resized = tf.image.resize(image, (28, 28)).numpy()[None]
    np.testing.assert_allclose(served, result.model.predict(resized, verbose=0), rtol=1e-4, atol=1e-5)

    rgb = tmp_path / "boot_rgb.png"
    _write_png(rgb, np.repeat(tf.image.resize(image, (64, 50)).numpy().round(), 3, axis=-1))
    assert main(["predict", str(result.export_path), str(rgb)]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"{rgb}: ") and shown.split(": ")[1].split(" ")[0] in metadata["class_names"]
    assert main(["evaluate", str(result.export_path), "--data", str(image_folder)]) == 0
    assert "(60 examples): accuracy" in capsys.readouterr().out


@pytest.mark.e2e
def test_cli_run_with_data_and_its_usage_errors(image_folder, tmp_path, capsys):
    assert main(["run", "fashion_mnist_linear", "--data", str(image_folder / "train"), "--image-size", "20x20",
                 "--epochs", "1", "--work-dir", str(tmp_path), "--export-dir", str(tmp_path / "m")]) == 0
    shown = capsys.readouterr().out
    assert "no test split, so nothing was tested" in shown and "exported:" in shown
    with pytest.raises(SystemExit):
        main(["run", "fashion_mnist_linear", "--data-d", str(image_folder)])  # never abbreviated
    assert "unrecognized arguments: --data-d" in capsys.readouterr().err
    assert main(["run", "fashion_mnist_linear", "--image-size", "20x20"]) == 2
    assert "--image-size apply to your own data; give it with --data PATH" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "fashion_mnist_linear", "--data", str(image_folder), "--image-size", "20"])
    assert "expected HEIGHTxWIDTH" in capsys.readouterr().err
    assert main(["run", "fashion_mnist_linear", "--data", str(tmp_path / "nowhere")]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_recipes_of_other_tasks_say_they_take_their_own_data(fashion):
    with pytest.raises(recipes.ConfigError, match="trains on its own dataset.*classification recipes"):
        recipes.run("shapes_unet", data=fashion, export=False)


@pytest.mark.e2e
def test_tune_searches_on_an_image_folder(image_folder, tmp_path):
    found = recipes.tune("fashion_mnist_linear", data=image_folder, tuner="random", max_trials=1, max_epochs=1,
                         directory=tmp_path / "tuning", export_dir=tmp_path / "models", tune_training=False)
    assert found.result is not None and found.result.class_names == ("boot", "trouser", "tshirt")
    assert found.export_path.parent.name == "fashion_mnist_linear_photos0_tuned"


def test_a_registered_dataset_is_named_like_a_built_in(fashion, monkeypatch):
    monkeypatch.setattr(data, "_LOADERS", dict(data._LOADERS))
    x, y = fashion
    seen = []

    def my_loader(seed=0):
        seen.append(seed)
        return x[:500], y[:500], x[500:], y[500:]

    data.register_dataset("my_fashion", my_loader)
    assert "my_fashion" in data.names()
    raw = data.load_arrays("my_fashion", seed=4)
    assert seen == [4] and raw.class_names == () and raw.source == "registered dataset my_fashion"
    loaded = data.as_data("my_fashion", validation_split=0.2)
    assert loaded.info.class_names == ("0", "1", "2") and loaded.info.num_test == 100
    with pytest.raises(recipes.ConfigError, match="'my_fashion' is registered already"):
        data.register_dataset("my_fashion", my_loader)
    data.register_dataset("broken", lambda: {"x": x})
    with pytest.raises(recipes.ConfigError, match=r"must return a RawData or \(x_train, y_train, x_test, y_test\)"):
        data.load_arrays("broken")


@pytest.mark.e2e
def test_a_registered_dataset_trains_a_recipe(fashion, monkeypatch, tmp_path):
    monkeypatch.setattr(data, "_LOADERS", dict(data._LOADERS))
    x, y = fashion
    data.register_dataset("three_items", lambda: data.RawData(x[:500], y[:500], x[500:], y[500:],
                                                              class_names=tuple(CLASSES.values()), value_range=255.0))
    result = recipes.run("fashion_mnist_linear", dataset="three_items", epochs=2, work_dir=tmp_path, verbose=0,
                         export_dir=tmp_path / "models")
    assert result.test_metrics["accuracy"] > 0.6 and result.class_names == tuple(CLASSES.values())
    assert json.loads((result.export_path / "metadata.json").read_text())["class_names"] == list(CLASSES.values())


def test_tfds_names_load_through_tensorflow_datasets(fashion, monkeypatch):
    import sys
    import types

    x, y = fashion
    calls = []

    class Label:
        names = list(CLASSES.values())

    class Image:
        shape = (28, 28, 1)

    def load(name, *, as_supervised, with_info, download):
        calls.append((name, as_supervised, download))
        info = types.SimpleNamespace(features={"image": Image(), "label": Label()}, supervised_keys=("image", "label"))
        return {"train": tf.data.Dataset.from_tensor_slices((x[:500], y[:500])),
                "test": tf.data.Dataset.from_tensor_slices((x[500:], y[500:]))}, info

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=load))
    monkeypatch.delenv("KERAS_RECIPES_OFFLINE", raising=False)
    loaded = data.as_data("tfds:my_items", batch_size=50, validation_split=0.2)
    assert calls == [("my_items", True, True)]
    assert loaded.info.class_names == tuple(CLASSES.values()) and loaded.info.input_name == "pixels"
    assert loaded.info.value_range == 255.0 and loaded.info.num_test == 100
    assert loaded.info.num_train + loaded.info.num_validation == 500

    def offline(name, **_):
        raise RuntimeError(f"Dataset {name} not found locally")

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=offline))
    with pytest.raises(DatasetNotFoundError, match=r"tensorflow-datasets could not load 'nothing' \(RuntimeError"):
        data.as_data("tfds:nothing")


@pytest.mark.e2e
@pytest.mark.parametrize("form", ["numpy (train, validation, test)", "tf.data batched", "PyDataset"])
def test_every_form_runs_a_recipe_exports_serves_and_predicts(form, fashion, tmp_path):
    import subprocess
    import sys

    from recipes.serve import Client

    from harness import Server

    x, y = fashion
    result = recipes.run("fashion_mnist_linear", data=_forms(x, y)[form], epochs=2, work_dir=tmp_path / "runs",
                         export_dir=tmp_path / "models", export_name="mine", verbose=0)
    assert result.history["loss"][-1] < result.history["loss"][0]
    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    expected = result.model.predict(x[:2].astype("float32"), verbose=0)
    np.testing.assert_allclose(serve(inputs=tf.constant(x[:2], tf.float32))["probabilities"].numpy(), expected,
                               rtol=1e-4, atol=1e-6)
    with Server(tmp_path / "models") as server:
        answer = Client(server.url).predict("mine", x[:2].astype("float32").tolist())
    np.testing.assert_allclose(answer, expected, rtol=1e-4, atol=1e-6)
    example = tmp_path / "one.npy"
    np.save(example, x[0])
    predicted = subprocess.run([sys.executable, "-m", "recipes.cli", "predict", str(result.export_path), str(example)],
                               capture_output=True, text=True, timeout=300)
    assert predicted.returncode == 0 and predicted.stdout.startswith(f"{example}: "), predicted.stderr


def test_examples_given_one_by_one_are_carved_before_they_are_shuffled():
    ids = np.arange(1000)
    loaded = data.from_native(tf.data.Dataset.from_tensor_slices((ids.astype("float32")[:, None], ids % 2)),
                              batch_size=64, validation_split=0.2, seed=5)

    def seen(stream):
        return np.concatenate([batch[0][:, 0] for batch in stream.as_numpy_iterator()]).astype(int)

    first_train, second_train = seen(loaded.train), seen(loaded.train)
    validation = seen(loaded.validation)
    assert set(first_train) == set(second_train) and not np.array_equal(first_train, second_train)  # reshuffled
    assert not set(first_train) & set(validation) and len(first_train) + len(validation) == 1000
    assert np.array_equal(validation, seen(loaded.validation)) and 120 < len(validation) < 280
