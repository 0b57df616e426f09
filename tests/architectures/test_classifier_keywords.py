"""Every classifier builder (outputs="classes") takes keras.applications' keywords, tested by
being registered: the signature shows them, ``classes`` is ``num_classes``, ``weights`` loads a
local file or says what does not fit, ``input_tensor`` applies the model to a Keras tensor,
``include_top=False`` and ``pooling`` give a backbone."""

import inspect
import re

import keras
import numpy as np
import pytest

import architectures
from architectures import WeightsError
from harness import outputs_of, slow_if_deep

CLASSIFIERS = architectures.names(outputs="classes")
KERAS_APPLICATIONS_KEYWORDS = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
                               "classifier_activation", "name")
CLASSIFIER_PARAMS = slow_if_deep(CLASSIFIERS)
CLASSES = 3


def _small(name) -> dict:
    """Keyword arguments that build ``name`` quickly: CIFAR-size images, short vocabularies."""
    kind = architectures.entry(name).inputs
    shape = {"image": (32, 32, 3), "features": (None, 3), "tokens": (None,), "token_pairs": (None,)}[kind]
    return {"input_shape": shape, **({"vocabulary_size": 12} if name == "text_classifier" else {})}


def _sample(name, seed=0):
    """Two examples; token ids stay below CLASSES, which is also char_lm's and seq2seq's vocabulary."""
    rng = np.random.default_rng(seed)
    kind = architectures.entry(name).inputs
    if kind == "image":
        return rng.uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    if kind == "features":
        return rng.normal(size=(2, 7, 3)).astype("float32")
    ids = lambda: rng.integers(1, CLASSES, (2, 7)).astype("int32")  # noqa: E731
    return ids() if kind == "tokens" else [ids(), ids()]


def _build(name, **kwargs):
    return architectures.build(name, **{**_small(name), "num_classes": CLASSES, **kwargs})


def _leaf_names(model) -> set[str]:
    return {layer.name for layer in architectures.leaf_layers(model)}


def test_every_sort_of_classifier_is_covered():
    assert {"mlp", "lenet5", "resnet20", "resnet50", "vit", "lstm", "text_classifier", "char_lm",
            "seq2seq"} <= set(CLASSIFIERS)
    assert not {"autoencoder", "vae", "dcgan", "espcn", "unet", "shallow_relu", "forecaster"} & set(CLASSIFIERS)


@pytest.mark.parametrize("name", architectures.names())
def test_every_builder_spells_out_its_options(name):
    parameters = inspect.signature(architectures.get(name)).parameters.values()
    assert not [p.name for p in parameters if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    assert {"input_shape", "name"} <= {p.name for p in parameters}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_signature_and_help_show_keras_applications_keywords(name):
    builder = architectures.get(name)
    parameters = inspect.signature(builder).parameters
    assert set(KERAS_APPLICATIONS_KEYWORDS) <= set(parameters)
    in_applications_order = ["include_top", "weights", "input_tensor", "pooling", "classes", "classifier_activation"]
    assert [k for k in parameters if k in in_applications_order] == in_applications_order
    assert all(f"{keyword}:" in builder.__doc__ for keyword in ("weights", "input_tensor", "pooling", "classes"))
    assert builder.__doc__.splitlines()[0] == architectures.entry(name).summary


@pytest.mark.parametrize("name", CLASSIFIER_PARAMS)
def test_classes_is_num_classes(name):
    assert architectures.build(name, **_small(name), classes=4).output_shape[-1] == 4
    assert architectures.build(name, **_small(name), classes=4, num_classes=4).output_shape[-1] == 4
    with pytest.raises(ValueError, match=r"classes is keras.applications' name for num_classes; pass one of them\. "
                                         r"Received: classes=4, num_classes=5$"):
        architectures.build(name, **_small(name), classes=4, num_classes=5)


@pytest.mark.parametrize("name", CLASSIFIER_PARAMS)
def test_logits_and_headless_backbone(name):
    x = _sample(name)
    probabilities = outputs_of(_build(name), x)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    logits = outputs_of(_build(name, classifier_activation=None), x)
    assert not np.allclose(logits.sum(axis=-1), 1.0)
    backbone = _build(name, include_top=False)
    assert "predictions" not in _leaf_names(backbone)
    assert len(backbone.output_shape) >= 2


@pytest.mark.parametrize("name", CLASSIFIER_PARAMS)
def test_pooling_pools_a_feature_map_and_is_refused_without_one(name):
    unpooled = _build(name, include_top=False, pooling=None)
    if len(unpooled.output_shape) == 4:  # (batch, height, width, channels)
        for pooling in ("avg", "max"):
            assert _build(name, include_top=False, pooling=pooling).output_shape == (None, unpooled.output_shape[-1])
    else:
        with pytest.raises(ValueError, match=r"pooling.*Received: pooling='max'$"):
            _build(name, include_top=False, pooling="max")


@pytest.mark.parametrize("name", CLASSIFIER_PARAMS)
def test_weights_round_trip_and_a_file_with_the_head_loads_into_the_backbone(name, tmp_path):
    model, x, path = _build(name), _sample(name), tmp_path / "model.weights.h5"
    model.save_weights(path)
    np.testing.assert_allclose(outputs_of(_build(name, weights=path), x), outputs_of(model, x), rtol=1e-5, atol=1e-6)
    backbone = _build(name, include_top=False, weights=str(path))
    for layer in architectures.leaf_layers(backbone):
        for loaded, saved in zip(layer.get_weights(), model.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(loaded, saved, err_msg=f"{name}: {layer.name}")


@pytest.mark.parametrize("name", ["mlp", "resnet20", "lstm"])
def test_weights_load_from_a_keras_file(name, tmp_path):
    model, x = _build(name), _sample(name)
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(outputs_of(_build(name, weights=tmp_path / "model.keras"), x), outputs_of(model, x),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CLASSIFIER_PARAMS)
def test_weights_for_another_number_of_classes_are_refused_naming_the_file(name, tmp_path):
    path = tmp_path / "three_classes.weights.h5"
    _build(name).save_weights(path)
    with pytest.raises(WeightsError) as error:
        _build(name, num_classes=CLASSES + 2, weights=path)
    message = str(error.value)
    assert message.startswith(f"{name}: the weights in {path} do not fit this model: ")
    assert "predictions" in message  # char_lm and seq2seq also embed their classes, and name that layer first
    assert re.search(rf"has a variable of shape \(.*\b{CLASSES + 2}\b.*\) here and \(.*\b{CLASSES}\b.*\) in the file",
                     message)
    assert re.search(rf"Received: weights='{re.escape(str(path))}', input_shape=.*, num_classes={CLASSES + 2}", message)


def test_a_mismatch_says_which_layer_differs_and_what_to_pass(tmp_path):
    def build(**kwargs):
        return architectures.build("mlp", **{"input_shape": (8, 8, 1), "num_classes": 3, "hidden_units": (4,),
                                             **kwargs})

    full, headless = tmp_path / "full.weights.h5", tmp_path / "headless.weights.h5"
    build().save_weights(full)
    build(include_top=False).save_weights(headless)
    with pytest.raises(WeightsError, match=r"predictions has a variable of shape \(4, 5\) here and \(4, 3\) in the "
                                           r"file: the file was saved with 3 classes; pass num_classes=3, or "
                                           r"include_top=False"):
        build(num_classes=5, weights=full)
    with pytest.raises(WeightsError, match=r"hidden1_dense has a variable of shape \(81, 4\) here and \(64, 4\) in "
                                           r"the file: build with the input shape and options the weights were saved "
                                           r"with\. Received: .*input_shape=\(9, 9, 1\), num_classes=3"):
        build(input_shape=(9, 9, 1), weights=full)
    with pytest.raises(WeightsError, match=r"\(81, 4\) here and \(64, 4\) in the file \(2 layers: hidden1_dense, "
                                           r"predictions\): build with the input shape"):
        build(input_shape=(9, 9, 1), num_classes=5, weights=full)
    with pytest.raises(WeightsError, match="predictions has 2 variables here and 0 in the file: the file was saved "
                                           "without the head; pass include_top=False"):
        build(weights=headless)


def test_weights_that_are_not_a_local_file_say_so(tmp_path):
    with pytest.raises(WeightsError, match=r"Nothing is downloaded here, so named weights such as 'imagenet' are not "
                                           r"available.*Received: weights='imagenet'$"):
        architectures.build("resnet20", weights="imagenet")
    with pytest.raises(WeightsError, match=r"weights must be None or the path to a local \.weights\.h5 or \.keras "):
        architectures.build("resnet20", weights=1)
    missing = tmp_path / "missing.weights.h5"
    with pytest.raises(WeightsError, match=f"there is no weights file at {re.escape(str(missing))}\\. Received"):
        architectures.build("resnet20", weights=missing)
    not_hdf5 = tmp_path / "notes.weights.h5"
    not_hdf5.write_text("not weights")
    with pytest.raises(WeightsError, match=f"{re.escape(str(not_hdf5))} could not be read as a Keras weights file"):
        architectures.build("mlp", weights=not_hdf5)
    assert issubclass(WeightsError, ValueError)


def test_input_tensor_must_be_a_keras_tensor_of_the_input_shape():
    with pytest.raises(ValueError, match="input_tensor must be a Keras tensor.*Received: input_tensor of type "
                                         "numpy.ndarray"):
        architectures.build("mlp", input_tensor=np.zeros((1, 28, 28, 1)))
    with pytest.raises(ValueError, match=r"input_shape disagrees with the shape of input_tensor.*Received: "
                                         r"input_shape=\(32, 32, 1\), input_tensor.shape=\(None, 28, 28, 1\)"):
        architectures.build("mlp", input_shape=(32, 32, 1), input_tensor=keras.Input((28, 28, 1)))


def test_a_classifier_builder_must_declare_its_keywords():
    def incomplete(input_shape=(4,), num_classes=2, *, include_top=True, name="incomplete"):
        raise AssertionError("never built")

    with pytest.raises(TypeError, match=r"register\('incomplete'\): a classifier builder declares .*"
                                        r"Received: missing=\['pooling', 'classifier_activation'\]"):
        architectures.register("incomplete", family="test")(incomplete)
    assert "incomplete" not in architectures.names()


class _Defaults:
    """A stand-in for keras_tuner.HyperParameters that answers every question with its default."""

    def Choice(self, name, values, default=None, **_):  # noqa: N802 (keras-tuner's method names)
        return values[0] if default is None else default

    def Int(self, name, min_value, max_value, step=1, default=None, **_):  # noqa: N802
        return min_value if default is None else default

    Float = Int

    def Boolean(self, name, default=False, **_):  # noqa: N802
        return default


def _declares_a_search_space(name) -> bool:
    return any(key in architectures.registry.search_spaces() for key in (name, architectures.entry(name).family))


@pytest.mark.parametrize("name", slow_if_deep(filter(_declares_a_search_space, architectures.names())))
def test_search_spaces_draw_options_the_builder_takes(name):
    drawn = architectures.search_space(name)(_Defaults())
    assert set(drawn) <= set(inspect.signature(architectures.get(name)).parameters)
    architectures.build(name, **(_small(name) if name in CLASSIFIERS else {}), **drawn)


@pytest.mark.parametrize("name", CLASSIFIER_PARAMS)
def test_input_tensor_is_what_the_model_is_applied_to(name):
    inputs = [keras.Input(t.shape[1:], dtype=t.dtype, name=f"source{i}") for i, t in enumerate(_build(name).inputs)]
    tensors = [keras.layers.Identity(name=f"upstream{i}")(t) for i, t in enumerate(inputs)]
    model = architectures.build(name, num_classes=CLASSES, input_tensor=tensors[0] if len(tensors) == 1 else tensors,
                                **{k: v for k, v in _small(name).items() if k != "input_shape"})
    assert [t.name for t in model.inputs] == [t.name for t in inputs]
    assert model.output_shape[-1] == CLASSES and model.name == name
    builder_model = model.get_layer(name)
    assert "predictions" in _leaf_names(model) and "upstream0" in _leaf_names(model)
    x = _sample(name)
    np.testing.assert_allclose(outputs_of(model, x), outputs_of(builder_model, x), rtol=1e-5, atol=1e-6)
