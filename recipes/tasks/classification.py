"""Images or feature vectors -> class probabilities: the task of every image recipe, on its own
dataset or on yours.

Its options (``recipes.tasks.options.ClassificationOptions``, ``Recipe.task_options``) switch on
the fast-training tricks: ``label_smoothing``, ``test_time_flip`` (flip test-time augmentation,
reported as the test accuracy) and ``whitening_init`` of the first convolution."""

from __future__ import annotations

import logging

import keras
import numpy as np

import architectures
from callbacks import augmentation_pipeline, plot_confusion_matrix, plot_decision_boundary
from callbacks.whitening import first_conv, init_whitening
from recipes import data as datasets
from recipes.errors import ConfigError
from recipes.saved_models import export as export_model
from recipes.tasks import OUTPUT_NAME, Task, UserData, register_task

log = logging.getLogger("keras_recipes")

COLOR_MODES = {1: "grayscale", 3: "rgb"}


def classifier_for(info: datasets.DatasetInfo, architecture: str, **architecture_kwargs) -> keras.Model:
    """The registered architecture behind an input named after the data (``pixels``) that takes raw
    values and rescales them to [0, 1] inside the graph, so the exported model needs no client-side
    preprocessing. For data resized to ``info.resized_to``, the model takes images of any size and
    resizes them the same way first."""
    backbone = architectures.build(architecture, input_shape=info.input_shape,
                                   num_classes=info.num_classes, **architecture_kwargs)
    if info.resized_to:
        inputs = keras.Input((None, None, info.input_shape[-1]), name=info.input_name)
        x = keras.layers.Resizing(*info.resized_to, interpolation="bilinear", name="resize")(inputs)
    else:
        x = inputs = keras.Input(info.input_shape, name=info.input_name)
    if info.value_range is not None:
        x = keras.layers.Rescaling(1.0 / info.value_range, name="rescale")(x)
    return keras.Model(inputs, backbone(x), name=f"{architecture}_{info.name}")


WHITENING_IMAGES = 5000  # training images whose patches set the whitening convolution


def shifted(x: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Images ``x`` (N, H, W, C) moved down by ``rows`` and right by ``columns`` pixels (negative:
    up, left), the uncovered border filled with zeros."""
    out = np.zeros_like(x)
    height, width = x.shape[1:3]
    out[:, max(rows, 0):height + min(rows, 0), max(columns, 0):width + min(columns, 0)] = \
        x[:, max(-rows, 0):height + min(-rows, 0), max(-columns, 0):width + min(-columns, 0)]
    return out


def tta_predictions(model, x, *, flip: bool = True, shift: int = 0, batch_size: int = 256) -> np.ndarray:
    """Test-time augmentation: the mean of ``model``'s predicted distributions on images ``x`` (N, H,
    W, C) and on the same images mirrored left-right (``flip``). With ``shift`` pixels, airbench's
    second level too: the result is half that mean and half the same mean over the images moved
    ``shift`` pixels up-left and down-right."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ConfigError(f"test-time augmentation mirrors and shifts images (count, height, width, channels); these "
                          f"inputs have shape {x.shape}. Switch it off: task_options.test_time_flip=False, "
                          f"task_options.test_time_shift=0")

    def views(images):
        predicted = [model.predict(images, batch_size=batch_size, verbose=0)]
        if flip:
            predicted.append(model.predict(images[:, :, ::-1], batch_size=batch_size, verbose=0))
        return predicted

    plain = np.mean(views(x), axis=0)
    if not shift:
        return plain
    moved = np.mean(views(shifted(x, -shift, -shift)) + views(shifted(x, shift, shift)), axis=0)
    return (plain + moved) / 2


def training_images(data, count: int) -> np.ndarray:
    """Up to ``count`` training inputs: from the arrays ``data`` was made from, else the first batches."""
    if data.arrays is not None and "train" in data.arrays:
        return np.asarray(data.arrays["train"][0][:count])
    taken, seen = [], 0
    for batch in data.train:
        taken.append(np.asarray(batch[0]))
        seen += len(taken[-1])
        if seen >= count:
            break
    return np.concatenate(taken)[:count]


def whiten_first_conv(model, data) -> None:
    """``callbacks.whitening.init_whitening`` of ``model``'s first ``Conv2D`` on the patches of up to
    ``WHITENING_IMAGES`` training images, scaled as the model's ``rescale`` layer scales them."""
    conv = first_conv(model)
    if conv is None:
        raise ConfigError(f"whitening_init sets the first Conv2D, and {model.name} has none; "
                          f"switch it off (task_options.whitening_init=False) or choose a convolutional architecture")
    images = training_images(data, WHITENING_IMAGES).astype("float32")
    if data.info.value_range is not None:
        images = images / data.info.value_range
    try:
        init_whitening(conv, images)
    except ValueError as error:
        raise ConfigError(f"whitening_init: {error}") from None


def augmentation_for(recipe, input_shape, value_range):
    """The recipe's ``augmentation`` options as a Keras pipeline for these images (None if off)."""
    if not recipe.augmentation or len(input_shape) != 3:
        return None
    return augmentation_pipeline(input_shape=input_shape, value_range=(0, value_range or 1), seed=recipe.seed,
                                 **recipe.augmentation)


@register_task
class Classification(Task):
    """Images or feature vectors -> class probabilities (``pixels -> probabilities``)."""

    name = "classification"

    def load(self, recipe, *, data_dir=None, download=True):
        raw = datasets.load_arrays(recipe.dataset, data_dir=data_dir, download=download, seed=recipe.seed)
        return datasets.from_arrays(
            recipe.dataset, raw, batch_size=recipe.batch_size, validation_split=recipe.validation_split,
            seed=recipe.seed, train_limit=recipe.train_limit, test_limit=recipe.test_limit,
            augmentation=augmentation_for(recipe, raw.x_train.shape[1:], raw.value_range))

    def load_user_data(self, recipe, user: UserData):
        """Images are resized to the recipe's own input size and channels unless ``user`` says
        otherwise; the recipe's augmentation applies to image batches."""
        native = datasets.INPUT_SHAPES.get(recipe.dataset)
        image_size = user.image_size or (native[:2] if native else None)
        color_mode = user.color_mode or (COLOR_MODES.get(native[-1]) if native else None)
        data = datasets.as_data(user.source, batch_size=recipe.batch_size, validation_split=recipe.validation_split,
                                seed=recipe.seed, image_size=image_size, color_mode=color_mode,
                                bad_files=user.bad_files)
        augment = augmentation_for(recipe, data.info.input_shape, data.info.value_range)
        if augment is not None:
            data.train = datasets.with_augmentation(data.train, augment)
        return data

    def build(self, recipe, data):
        model = classifier_for(data.info, recipe.architecture, **recipe.architecture_kwargs)
        if recipe.task_options.whitening_init:
            whiten_first_conv(model, data)
        return model

    def compile_options(self, recipe, data) -> dict:
        smoothing = recipe.task_options.label_smoothing
        return {"label_smoothing": smoothing} if smoothing else {}

    def evaluate(self, recipe, model, data, context):
        written, metrics, predicted = [], {}, None
        plots = context.run_dir / "plots"
        options = recipe.task_options
        if (options.test_time_flip or options.test_time_shift) and data.test is not None:
            x_test, y_test = data.split_arrays("test")
            probabilities = tta_predictions(model, x_test, flip=options.test_time_flip, shift=options.test_time_shift,
                                            batch_size=recipe.batch_size)
            predicted = np.argmax(probabilities, axis=-1)
            single = np.argmax(model.predict(x_test, verbose=0, batch_size=recipe.batch_size), axis=-1)
            metrics = {"accuracy": float(np.mean(predicted == y_test)),
                       "accuracy_without_flip": float(np.mean(single == y_test))}
            log.info("test accuracy with test-time augmentation %.4f (one view: %.4f)", metrics["accuracy"],
                     metrics["accuracy_without_flip"])
        if "confusion_matrix" in recipe.plots and data.test is not None and data.info.class_names:
            x_test, y_test = data.split_arrays("test")
            if predicted is None:
                predicted = np.argmax(model.predict(x_test, verbose=0, batch_size=recipe.batch_size), axis=-1)
            written.append(plot_confusion_matrix(y_test, predicted, data.info.class_names,
                                                 plots / "confusion_matrix.png",
                                                 title=f"{recipe.name}: confusion matrix (test)"))
        if "decision_boundary" in recipe.plots and len(data.info.input_shape) == 1 and data.info.input_shape[0] == 2:
            x_train, y_train = data.split_arrays("train")
            written.append(plot_decision_boundary(lambda grid: model.predict(grid, verbose=0, batch_size=4096),
                                                  x_train, y_train, plots / "decision_boundary.png",
                                                  title=f"{recipe.name}: decision boundary"))
        return metrics, [path for path in written if path is not None]

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        return export_model(model, name, export_dir=export_dir, input_name=data.info.input_name,
                            output_name=OUTPUT_NAME, class_names=data.info.class_names,
                            preprocessing=preprocessing_of(data.info),
                            metadata={**metadata, "value_range": data.info.value_range})


def preprocessing_of(info: datasets.DatasetInfo) -> dict:
    """What the exported graph does to raw inputs before the network, for clients and ``predict``."""
    steps = {"value_range": info.value_range}
    if info.resized_to:
        steps["resize_to"] = list(info.resized_to)
    if len(info.input_shape) == 3:
        steps["channels"] = int(info.input_shape[-1])
    return steps
