"""keras.applications' keywords for every classifier builder, implemented once.

A builder registered with ``outputs="classes"`` declares ``input_shape``, ``num_classes``,
``include_top``, ``pooling``, ``classifier_activation`` and ``name`` itself, because what they do
depends on its architecture. ``register`` wraps it with ``classifier_builder``, which adds the
three keywords that mean the same for every architecture: ``weights``, ``input_tensor`` and
``classes``, and shows them in the builder's signature and docstring.

``input_tensor``: Keras 3 has no public way to run an already-built functional graph from
another tensor (``keras.Input(tensor=...)`` only accepts a tensor to become an input, and
``clone_model(input_tensors=...)`` re-roots an intermediate tensor on a fresh copy of it), so
the builder's model is built at the tensor's shape and applied to it: the returned model's
inputs are the tensor's source inputs, and the builder's layers sit in one nested model named
like the returned one. ``architectures.leaf_layers`` and ``strip_head`` look inside it.
"""

import ast
import functools
import inspect
import os
import re
import warnings
import zipfile
from pathlib import Path

import keras

DECLARED_BY_BUILDER = ("input_shape", "num_classes", "include_top", "pooling", "classifier_activation", "name")
ADDED_BY_REGISTRY = ("weights", "input_tensor", "classes")
WEIGHTS_SUFFIXES = (".weights.h5", ".keras")

KEYWORDS_DOC = """

    Keywords of every classifier builder (keras.applications' names):
        input_shape: the shape of one example, without the batch dimension.
        num_classes, or classes: the number of classes; give one of the two.
        include_top: False drops the classifier head (the layer ``predictions`` and what only
            it uses), giving a backbone for transfer learning.
        weights: None (random initialisation), or the path to a local ``.weights.h5`` file
            (``model.save_weights``) or ``.keras`` file, loaded after building; nothing is
            downloaded. A file saved with the head also loads into ``include_top=False``.
        input_tensor: a Keras tensor (``keras.Input(...)`` or a layer's output on one) to
            apply the model to; the model's inputs are then its source inputs, and the
            builder's layers a nested model (Keras 3 cannot re-root a built graph).
        pooling: with ``include_top=False``, the global pooling of the last feature map:
            None (the map itself), "avg" or "max". Builders whose features are already a
            vector per example (or per time step) have no map to pool and take only None;
            ``vit`` pools its token sequence ("token" or "mean", with or without the head).
        classifier_activation: the head's activation; None gives logits.
        name: the model's name.
"""


class WeightsError(ValueError):
    """``weights=`` is not a local weights file, or the file does not fit the model built."""


def classifier_builder(builder, name: str):
    """``builder`` taking ``weights``, ``input_tensor`` and ``classes`` as well, with a signature
    and docstring that say so. ``__wrapped__`` stays the undecorated builder."""
    signature = inspect.signature(builder)
    _check_declares_keywords(name, signature)

    @functools.wraps(builder)
    def build(*args, weights=None, input_tensor=None, classes=None, **kwargs):
        arguments = signature.bind(*args, **kwargs).arguments
        if classes is not None:
            if "num_classes" in arguments and arguments["num_classes"] != classes:
                raise ValueError(f"{name}: classes is keras.applications' name for num_classes; pass one of "
                                 f"them. Received: classes={classes!r}, num_classes={arguments['num_classes']!r}")
            arguments["num_classes"] = classes
        weights_file = _weights_file(name, weights)
        if input_tensor is not None:
            arguments["input_shape"] = _shape_of(name, input_tensor, arguments.get("input_shape"))
        model = builder(**arguments)
        if weights_file is not None:
            _load_weights(model, weights_file, name, signature, arguments)
        if input_tensor is not None:
            model = _applied_to(model, input_tensor)
        return model

    build.__wrapped__ = inspect.unwrap(builder)
    build.__signature__ = _with_added_keywords(signature)
    build.__doc__ = (builder.__doc__ or "").rstrip() + KEYWORDS_DOC
    return build


def _check_declares_keywords(name, signature) -> None:
    missing = [k for k in DECLARED_BY_BUILDER if k not in signature.parameters]
    clashing = [k for k in ADDED_BY_REGISTRY if k in signature.parameters]
    if missing or clashing:
        raise TypeError(f"register({name!r}): a classifier builder declares {', '.join(DECLARED_BY_BUILDER)} "
                        f"and leaves {', '.join(ADDED_BY_REGISTRY)} to the registry. "
                        f"Received: missing={missing}, also declared={clashing}")


def _with_added_keywords(signature: inspect.Signature) -> inspect.Signature:
    """keras.applications' order: ``include_top, weights, input_tensor, pooling, classes, ...``."""
    added = {k: inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None) for k in ADDED_BY_REGISTRY}
    parameters = []
    for parameter in signature.parameters.values():
        parameters.append(parameter)
        if parameter.name == "include_top":
            parameters += [added["weights"], added["input_tensor"]]
        elif parameter.name == "pooling":
            parameters.append(added["classes"])
    return signature.replace(parameters=parameters)


def _weights_file(name, weights) -> Path | None:
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)) or not str(weights).endswith(WEIGHTS_SUFFIXES):
        raise WeightsError(
            f"{name}: weights must be None or the path to a local .weights.h5 or .keras file. Nothing is "
            f"downloaded here, so named weights such as 'imagenet' are not available: save a trained model's "
            f"weights with model.save_weights('model.weights.h5') and pass that path. Received: weights={weights!r}")
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"{name}: there is no weights file at {path}. Received: weights={str(weights)!r}")
    return path


def _shape_of(name, input_tensor, input_shape) -> tuple:
    tensors = keras.tree.flatten(input_tensor)
    if not tensors or not all(isinstance(t, keras.KerasTensor) for t in tensors):
        raise ValueError(f"{name}: input_tensor must be a Keras tensor (keras.Input(...), or a layer's output on "
                         f"one) for the model to be applied to; to run the model on data, call it on the data. "
                         f"Received: input_tensor of type {_type_name(input_tensor)}")
    shape = tuple(tensors[0].shape[1:])
    if input_shape is not None and tuple(input_shape) != shape:
        raise ValueError(f"{name}: input_shape disagrees with the shape of input_tensor; pass only input_tensor. "
                         f"Received: input_shape={tuple(input_shape)}, input_tensor.shape={tuple(tensors[0].shape)}")
    return shape


def _type_name(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _applied_to(model, input_tensor):
    sources = []
    for tensor in keras.tree.flatten(input_tensor):
        sources += [s for s in keras.utils.get_source_inputs(tensor) if not any(s is t for t in sources)]
    return keras.Model(sources[0] if len(sources) == 1 else sources, model(input_tensor), name=model.name)


def _load_weights(model, path, name, signature, arguments) -> None:
    bound = signature.bind(**arguments)
    bound.apply_defaults()
    shown = {k: bound.arguments[k] for k in ("input_shape", "num_classes", "include_top")}
    shown |= {k: v for k, v in arguments.items() if k not in (*shown, "name")}
    received = f"Received: weights={str(path)!r}, " + ", ".join(f"{k}={v!r}" for k, v in shown.items())
    # Keras warns about each part it could not match before it raises; the error below says it all.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except ValueError as error:
            raise WeightsError(f"{name}: the weights in {path} do not fit this model: {_mismatch(str(error))}. "
                               f"{received}") from error
        except (OSError, zipfile.BadZipFile) as error:
            raise WeightsError(f"{name}: {path} could not be read as a Keras weights file ({error}). "
                               f"{received}") from error
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


# Keras 3's loading error: "A total of N objects could not be loaded. Example error message for
# object <Dense name=predictions, built=True>: <why> List of objects that could not be loaded: [...]"
_FAILED_LAYERS = re.compile(r"<\w+ name=([^,>]+), built=\w+>")
_SHAPES = re.compile(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))")
_COUNTS = re.compile(r"expected (\d+) variables, but received (\d+) variables")


def _mismatch(keras_message: str) -> str:
    """What did not match, read from Keras's error (its first line if the wording changes)."""
    _, _, listed = keras_message.partition("List of objects that could not be loaded")
    layers = _FAILED_LAYERS.findall(listed) or _FAILED_LAYERS.findall(keras_message)[:1]
    if not layers:
        return keras_message.strip().splitlines()[0]
    first, shapes, counts = layers[0], _SHAPES.search(keras_message), _COUNTS.search(keras_message)
    if shapes:
        here, there = (ast.literal_eval(s) for s in shapes.groups())
        why = f"{first} has a variable of shape {here} here and {there} in the file"
    elif counts:
        here, there = (int(n) for n in counts.groups())
        why = f"{first} has {here} variables here and {there} in the file"
    else:
        return keras_message.strip().splitlines()[0]
    more = f" ({len(layers)} layers: {', '.join(layers[:6])}{', ...' if len(layers) > 6 else ''})"
    what = f"{why}{more if len(layers) > 1 else ''}"
    if layers == ["predictions"] and shapes and here[:-1] == there[:-1]:
        return (f"{what}: the file was saved with {there[-1]} classes; pass num_classes={there[-1]}, "
                f"or include_top=False to load all but the head")
    if layers == ["predictions"] and counts and there == 0:
        return f"{what}: the file was saved without the head; pass include_top=False"
    return f"{what}: build with the input shape and options the weights were saved with"
