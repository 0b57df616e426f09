"""Use an exported SavedModel: read images or arrays from files, predict, evaluate on a dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes.errors import InputError
from recipes.saved_models import load

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


def read_inputs(paths, input_shape) -> tuple[np.ndarray, list[str]]:
    """Stack PNG/JPEG images or ``.npy`` arrays into one float32 batch of ``input_shape``.

    An ``.npy`` file may hold one example or a batch. RGB(A) images are converted to grey for a
    one-channel model; any other mismatch is an ``InputError`` that names the expected shape.
    """
    examples, labels = [], []
    for path in map(Path, paths):
        array = _read_one(path, input_shape)
        if input_shape[-1] == 1 and tuple(array.shape[-2:]) == tuple(input_shape[:2]):
            array = array[..., None]  # greyscale images saved without a channel axis
        if tuple(array.shape) == tuple(input_shape):
            batch = array[None]
        elif tuple(array.shape[1:]) == tuple(input_shape):
            batch = array
        else:
            raise InputError(
                f"{path}: has shape {tuple(array.shape)}, but the model takes one example of shape "
                f"{tuple(input_shape)} (or a batch (N, {', '.join(map(str, input_shape))})). "
                f"Resize or reshape it first."
            )
        examples.append(batch.astype(np.float32))
        labels += [str(path)] if len(batch) == 1 else [f"{path}[{i}]" for i in range(len(batch))]
    return np.concatenate(examples), labels


def _read_one(path: Path, input_shape) -> np.ndarray:
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
    if image.shape[-1] == 4:
        image = image[..., :3]
    if image.shape[-1] == 3 and input_shape[-1] == 1:
        image = tf.image.rgb_to_grayscale(image).numpy()
    return image


def predict_files(model_path, paths, *, top: int = 3) -> list[dict]:
    """Top-``top`` classes with probabilities for each input in ``paths``."""
    serve, metadata = load(model_path)
    (input_name, spec), = serve.structured_input_signature[1].items()
    x, labels = read_inputs(paths, spec.shape[1:])
    (output_name,) = serve.structured_outputs
    probabilities = serve(**{input_name: x})[output_name].numpy()
    class_names = metadata.get("dataset", {}).get("class_names") or [str(i) for i in range(probabilities.shape[-1])]
    results = []
    for label, row in zip(labels, probabilities):
        order = np.argsort(row)[::-1][:top]
        results.append({"input": label, "top": [(class_names[i], float(row[i])) for i in order]})
    return results


def evaluate_exported(model_path, dataset: str, *, data_dir=None, batch_size: int = 512) -> dict[str, float]:
    """Accuracy and cross-entropy of an exported classifier on a dataset's test split."""
    from recipes.data import load_arrays

    serve, _ = load(model_path)
    (input_name, spec), = serve.structured_input_signature[1].items()
    (output_name,) = serve.structured_outputs
    raw = load_arrays(dataset, data_dir=data_dir)
    if tuple(raw.x_test.shape[1:]) != tuple(spec.shape[1:]):
        raise InputError(
            f"{dataset} inputs have shape {raw.x_test.shape[1:]}, but the model at {model_path} "
            f"takes {tuple(spec.shape[1:])}: evaluate it on the dataset it was trained for."
        )
    probabilities = np.concatenate([
        serve(**{input_name: raw.x_test[i:i + batch_size].astype(np.float32)})[output_name].numpy()
        for i in range(0, len(raw.x_test), batch_size)
    ])
    picked = probabilities[np.arange(len(raw.y_test)), raw.y_test]
    return {
        "accuracy": float(np.mean(probabilities.argmax(axis=-1) == raw.y_test)),
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))),
        "examples": len(raw.y_test),
    }
