"""Use an exported SavedModel: read images or arrays from files, predict, evaluate on a dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes.errors import InputError
from recipes.saved_models import load

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


def read_inputs(paths, input_shape, *, resize_to=None) -> tuple[np.ndarray, list[str]]:
    """Stack PNG/JPEG images or ``.npy`` arrays into one float32 batch of ``input_shape``.

    An ``.npy`` file may hold one example or a batch. Images get the model's channels (RGB(A)
    to grey or grey to RGB, as decoding does) and, when ``resize_to`` is given (the export
    resizes its inputs to it), that size; any other mismatch is an ``InputError`` that names
    the expected shape.
    """
    input_shape = tuple(input_shape)
    if resize_to is not None:
        input_shape = (*resize_to, input_shape[-1])
    examples, labels = [], []
    for path in map(Path, paths):
        array = _read_one(path, input_shape, resize_to)
        if input_shape[-1] == 1 and tuple(array.shape[-2:]) == tuple(input_shape[:2]):
            array = array[..., None]  # greyscale images saved without a channel axis
        if tuple(array.shape) == input_shape:
            batch = array[None]
        elif tuple(array.shape[1:]) == input_shape:
            batch = array
        else:
            raise InputError(
                f"{path}: has shape {tuple(array.shape)}, but the model takes one example of shape "
                f"{input_shape} (or a batch (N, {', '.join(map(str, input_shape))})). "
                f"Resize or reshape it first."
            )
        examples.append(batch.astype(np.float32))
        labels += [str(path)] if len(batch) == 1 else [f"{path}[{i}]" for i in range(len(batch))]
    return np.concatenate(examples), labels


def _read_one(path: Path, input_shape, resize_to) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise InputError(f"{path}: not a readable .npy array ({error})") from None
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{path}: unsupported file type; give PNG/JPEG/BMP/GIF images or .npy arrays")
    import tensorflow as tf

    try:
        image = tf.io.decode_image(path.read_bytes(), expand_animations=False).numpy()
    except tf.errors.InvalidArgumentError:
        raise InputError(f"{path}: not a valid image file (could not decode it)") from None
    if image.shape[-1] in (2, 4):
        image = image[..., :-1]
    if image.shape[-1] == 3 and input_shape[-1] == 1:
        image = tf.image.rgb_to_grayscale(image).numpy()
    elif image.shape[-1] == 1 and input_shape[-1] == 3:
        image = tf.image.grayscale_to_rgb(tf.constant(image)).numpy()
    if resize_to is not None:
        image = tf.image.resize(image, resize_to, method="bilinear").numpy()
    return image


def class_names_of(metadata: dict, count: int) -> list[str]:
    """What each output index means, from the export's metadata (its own ``class_names``, or the
    dataset's), else the indices themselves."""
    names = metadata.get("class_names") or metadata.get("dataset", {}).get("class_names")
    return list(names) if names and len(names) == count else [str(i) for i in range(count)]


def predict_files(model_path, paths, *, top: int = 3) -> list[dict]:
    """Top-``top`` classes with probabilities (or the value, for a regression model) for each input
    in ``paths``: images, ``.npy`` arrays, or the rows of CSV files for a model of named columns."""
    serve, metadata = load(model_path)
    if "columns" in metadata:
        return _predict_rows(serve, metadata, paths, top)
    (input_name, spec), = serve.structured_input_signature[1].items()
    resize_to = metadata.get("preprocessing", {}).get("resize_to")
    x, labels = read_inputs(paths, spec.shape[1:], resize_to=resize_to)
    (output_name,) = serve.structured_outputs
    probabilities = serve(**{input_name: x})[output_name].numpy()
    class_names = class_names_of(metadata, probabilities.shape[-1])
    results = []
    for label, row in zip(labels, probabilities):
        order = np.argsort(row)[::-1][:top]
        results.append({"input": label, "top": [(class_names[i], float(row[i])) for i in order]})
    return results


def read_rows(path: Path, columns: dict) -> tuple[dict[str, np.ndarray], int]:
    """A CSV file's values for an exported table model's ``columns`` (metadata), by input name,
    and the number of rows. Other columns (the target, say) are ignored."""
    import csv

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8-sig") as stream:
        rows = [row for row in csv.reader(stream) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise InputError(f"{path}: needs a header row and at least one row of values")
    header = [name.strip() for name in rows[0]]
    missing = [column for column in columns if column not in header]
    if missing:
        raise InputError(f"{path}: the model needs the column(s) {', '.join(missing)}; the file has {', '.join(header)}")
    values = {}
    for column, spec in columns.items():
        index = header.index(column)
        cells = []
        for number, row in enumerate(rows[1:], start=2):
            if len(row) != len(header):
                raise InputError(f"{path}, line {number}: {len(row)} values, but the header has {len(header)} columns")
            cells.append(row[index].strip())
        if spec["kind"] == "numeric":
            try:
                values[spec["input"]] = np.array([float(cell) for cell in cells], np.float32)
            except ValueError:
                bad = next(i for i, cell in enumerate(cells, start=2) if not _is_number(cell))
                raise InputError(f"{path}, line {bad}, column {column!r}: {cells[bad - 2]!r} is not a number") from None
        else:
            values[spec["input"]] = np.array(cells, dtype=object)
    return values, len(rows) - 1


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _predict_rows(serve, metadata, paths, top) -> list[dict]:
    import tensorflow as tf

    (output_name,) = serve.structured_outputs
    results = []
    for path in map(Path, paths):
        if path.suffix.lower() != ".csv":
            raise InputError(f"{path}: this model takes rows of named columns; give CSV files with a header row")
        values, count = read_rows(path, metadata["columns"])
        outputs = serve(**{name: tf.constant(array) for name, array in values.items()})[output_name].numpy()
        for number, row in enumerate(outputs, start=1):
            label = f"{path} row {number}"
            if output_name == "probabilities":
                names = class_names_of(metadata, len(row))
                order = np.argsort(row)[::-1][:top]
                results.append({"input": label, "top": [(names[i], float(row[i])) for i in order]})
            else:
                results.append({"input": label, "value": [float(v) for v in np.atleast_1d(row)]})
    return results


def evaluate_exported(model_path, data, *, data_dir=None, batch_size: int = 512) -> dict[str, float]:
    """Accuracy and cross-entropy of an exported classifier on ``data``: a dataset name (its test
    split), or your own data (``recipes.data.as_data``: its test split if it has one, else all of it)."""
    from recipes import data as datasets

    serve, metadata = load(model_path)
    if "columns" in metadata:
        return _evaluate_rows(serve, metadata, Path(data))
    (input_name, spec), = serve.structured_input_signature[1].items()
    (output_name,) = serve.structured_outputs
    if isinstance(data, str) and data in datasets.names():
        raw = datasets.load_arrays(data, data_dir=data_dir)
        x, y, split = raw.x_test, raw.y_test, "test"
    else:
        preprocessing = metadata.get("preprocessing", {})
        channels = preprocessing.get("channels")
        loaded = datasets.as_data(data, validation_split=0.0, batch_size=batch_size,
                                  image_size=preprocessing.get("resize_to"),
                                  color_mode={1: "grayscale", 3: "rgb"}.get(channels))
        split = "test" if loaded.test is not None else "all"
        x, y = loaded.split_arrays("test" if loaded.test is not None else "train")
        exported = metadata.get("class_names") or metadata.get("dataset", {}).get("class_names")
        _check_classes(loaded.info.class_names, exported, model_path)
    expected = tuple(spec.shape[1:])
    if any(e is not None and e != a for e, a in zip(expected, x.shape[1:])) or len(expected) != x.ndim - 1:
        raise InputError(
            f"{data} inputs have shape {x.shape[1:]}, but the model at {model_path} "
            f"takes {expected}: evaluate it on the data it was trained for."
        )
    probabilities = np.concatenate([
        serve(**{input_name: x[i:i + batch_size].astype(np.float32)})[output_name].numpy()
        for i in range(0, len(x), batch_size)
    ])
    picked = probabilities[np.arange(len(y)), y]
    return {
        "accuracy": float(np.mean(probabilities.argmax(axis=-1) == y)),
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))),
        "examples": len(y),
        "split": split,
    }


def _evaluate_rows(serve, metadata, path: Path) -> dict:
    """A table model on every row of a CSV file holding its columns and its target column."""
    import tensorflow as tf

    from recipes.data.tabular import read_csv

    target = metadata.get("target")
    if not target:
        raise InputError("this export does not say which column it predicts; evaluate it in Python")
    values, _ = read_rows(path, metadata["columns"])
    truth = read_csv(path, target).target
    (output_name,) = serve.structured_outputs
    predicted = serve(**{name: tf.constant(array) for name, array in values.items()})[output_name].numpy()
    if output_name != "probabilities":
        return {"mae": float(np.mean(np.abs(predicted.reshape(-1) - truth.astype(np.float64)))),
                "examples": len(truth), "split": "all"}
    names = class_names_of(metadata, predicted.shape[-1])
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted({str(v) for v in truth} - set(index))
    if unknown:
        raise InputError(f"{path}: the column {target!r} has labels the model does not know: {', '.join(unknown[:5])}")
    y = np.array([index[str(v)] for v in truth])
    picked = predicted[np.arange(len(y)), y]
    return {"accuracy": float(np.mean(predicted.argmax(axis=-1) == y)),
            "loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))), "examples": len(y), "split": "all"}


def _check_classes(found, exported, model_path) -> None:
    if exported and found and list(found) != list(exported):
        raise InputError(f"the data's classes {list(found)} are not the model's {list(exported)} ({model_path}): "
                         f"each class subfolder must be named as in training")
