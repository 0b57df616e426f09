"""Issue 17, item 11: every recipe setting and builder keyword is checked against its type and range
when the recipe is made, before any data loads, and the message names the setting, the value and
what is allowed."""

import dataclasses
import inspect
import re

import pytest

import recipes
from architectures import registry
from recipes.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize("overrides, message", [
    ({"learning_rate": -1}, "learning_rate must be a number above 0; got -1"),
    ({"learning_rate": 0}, "learning_rate must be a number above 0; got 0"),
    ({"learning_rate": float("nan")}, "learning_rate must be a number above 0; got nan"),
    ({"epochs": 0}, "epochs must be a whole number of at least 1; got 0"),
    ({"epochs": "abc"}, "epochs must be a whole number of at least 1; got 'abc'"),
    ({"epochs": 2.5}, "epochs must be a whole number of at least 1; got 2.5"),
    ({"epochs": True}, "epochs must be a whole number of at least 1; got True"),
    ({"batch_size": 0}, "batch_size must be a whole number of at least 1; got 0"),
    ({"batch_size": -4}, "batch_size must be a whole number of at least 1; got -4"),
    ({"weight_decay": -0.1}, "weight_decay must be None or a number of at least 0; got -0.1"),
    ({"validation_split": 1.0}, "validation_split must be a number of at least 0 and below 1; got 1.0"),
    ({"validation_split": -0.1}, "validation_split must be a number of at least 0 and below 1; got -0.1"),
    ({"seed": "x"}, "seed must be a whole number of at least 0 and below 4294967296; got 'x'"),
    ({"seed": -1}, "seed must be a whole number of at least 0 and below 4294967296; got -1"),
    ({"train_limit": 0}, "train_limit must be None or a whole number of at least 1; got 0"),
    ({"test_limit": "many"}, "test_limit must be None or a whole number of at least 1; got 'many'"),
    ({"optimizer": 3}, "optimizer must be a string; got 3"),
    ({"metrics": [1]}, "metrics must be a list of strings; got [1]"),
    ({"architecture_kwargs": [1, 2]}, "architecture_kwargs must be a mapping of names to values; got [1, 2]"),
    ({"callbacks": "none"}, "callbacks must be a mapping of names to values; got 'none'"),
])
def test_a_bad_recipe_setting_names_the_setting_the_value_and_what_is_allowed(overrides, message):
    with pytest.raises(ConfigError) as raised:
        recipes.with_overrides(recipes.get("fashion_mnist_mlp"), overrides)
    assert str(raised.value) == message


@pytest.mark.parametrize("overrides, message", [
    ({"architecture_kwargs.dropout": 1.5},
     "architecture_kwargs.dropout must be a number of at least 0 and below 1 for mlp; got 1.5"),
    ({"architecture_kwargs.dropout": "high"},
     "architecture_kwargs.dropout must be a number of at least 0 and below 1 for mlp; got 'high'"),
    ({"architecture_kwargs.hidden_units": (64, 0)},
     ("architecture_kwargs.hidden_units must be an integer of at least 1, or a non-empty list of them for mlp; "
      "got (64, 0)")),
    ({"architecture_kwargs.l2": -1e-4}, "architecture_kwargs.l2 must be a number of at least 0 for mlp; got -0.0001"),
    ({"architecture_kwargs.activation": "relux"},
     ("architecture_kwargs.activation must be one of relu, leaky_relu, elu, gelu, silu, tanh, sigmoid for mlp; "
      "got 'relux'")),
    ({"architecture_kwargs.batch_norm": "yes"}, "architecture_kwargs.batch_norm must be True or False for mlp"),
    ({"architecture_kwargs.dropuot": 0.1},
     "unknown setting 'architecture_kwargs.dropuot': mlp has no keyword 'dropuot'. Did you mean dropout?"),
    ({"architecture": "mlpp"}, "unknown architecture 'mlpp'. Did you mean: mlp?"),
])
def test_builder_keywords_are_checked_when_the_recipe_is_made(overrides, message):
    with pytest.raises((ConfigError, UnknownNameError), match="^" + re.escape(message)):
        recipes.with_overrides(recipes.get("fashion_mnist_mlp"), overrides)


@pytest.mark.parametrize("name, overrides, message", [
    ("sine_forecast", {"task_options.window": 0}, "task_options.window must be a whole number of at least 1; got 0"),
    ("sine_forecast", {"task_options.season": "abc"},
     "task_options.season must be None or a whole number of at least 1; got 'abc'"),
    ("sine_forecast", {"task_options.test_split": 1.5},
     "task_options.test_split must be a number of at least 0 and below 1; got 1.5"),
    ("sine_forecast", {"task_options.target_columns": -1},
     "task_options.target_columns must be a list of whole numbers of at least 0; got -1"),
    ("mr_sentiment_lstm", {"task_options.sequence_length": -5},
     "task_options.sequence_length must be a whole number of at least 1; got -5"),
    ("shapes_unet", {"task_options.num_train": 0}, "task_options.num_train must be a whole number of at least 1; got 0"),
])
def test_task_options_are_checked_by_type_and_range(name, overrides, message):
    with pytest.raises(ConfigError) as raised:
        recipes.with_overrides(recipes.get(name), overrides)
    assert str(raised.value) == message


def test_numbers_given_as_strings_are_read_as_numbers():
    recipe = recipes.with_overrides(recipes.get("fashion_mnist_mlp"),
                                    {"epochs": "3", "batch_size": 64.0, "learning_rate": "3e-4", "metrics": "accuracy",
                                     "task_options": {}, "train_limit": None})
    assert (recipe.epochs, recipe.batch_size, recipe.learning_rate, recipe.metrics) == (3, 64, 3e-4, ("accuracy",))
    assert type(recipe.epochs) is int and type(recipe.batch_size) is int
    forecast = recipes.with_overrides(recipes.get("sine_forecast"), {"task_options.window": "48",
                                                                     "task_options.target_columns": [0]})
    assert forecast.task_options.window == 48 and forecast.task_options.target_columns == (0,)


def test_a_recipe_made_by_hand_is_checked_too():
    with pytest.raises(ConfigError, match="^epochs must be a whole number of at least 1; got 0$"):
        recipes.Recipe(name="x", dataset="digits", architecture="mlp", description="", expected={}, epochs=0)
    with pytest.raises(ConfigError, match=r"^architecture_kwargs\.dropout must be .* for mlp; got 1\.5"):
        recipes.Recipe(name="x", dataset="digits", architecture="mlp", description="", expected={},
                       architecture_kwargs={"dropout": 1.5})


def test_every_registered_recipe_passes_its_own_checks_unchanged():
    for name in recipes.names():
        recipe = recipes.get(name)
        assert dataclasses.replace(recipe) == recipe, name
        assert dataclasses.replace(recipe).fingerprint() == recipe.fingerprint(), name


def test_bad_settings_fail_before_any_data_loads(tmp_path, monkeypatch):
    """``recipes.run`` checks first: with MNIST nowhere the error is still the setting's, not the data's."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    for overrides, message in [({"epochs": 0}, "epochs must be"), ({"learning_rate": -1}, "learning_rate must be"),
                               ({"architecture_kwargs": {"l2": -1}}, "architecture_kwargs.l2 must be")]:
        with pytest.raises(ConfigError, match=message):
            recipes.run("mnist_linear", data_dir=tmp_path / "nowhere", download=False, work_dir=tmp_path,
                        export=False, **overrides)


def test_builders_check_their_keywords_when_called_from_python():
    import architectures

    with pytest.raises(registry.KeywordError, match=r"^mlp: dropout must be a number of at least 0 and below 1, "
                                                    r"got 1\.5; it is the fraction of units dropped"):
        architectures.build("mlp", dropout=1.5)
    with pytest.raises(ValueError, match=r"^lenet5: activation must be the name of a Keras activation .* got 'tanhh'"):
        architectures.build("lenet5", activation="tanhh")
    with pytest.raises(ValueError, match=r"^resnet20: width must be an integer of at least 1, got 0"):
        architectures.build("resnet20", width=0)
    with pytest.raises(ValueError, match=r"^lstm: recurrent_dropout must be a number of at least 0 and below 1"):
        architectures.build("lstm", recurrent_dropout=-0.5)
    with pytest.raises(ValueError, match=r"^mnist_cnn: filters must be an integer of at least 1, or a non-empty list"):
        architectures.build("mnist_cnn", filters=(8, -16))


def test_keyword_table_agrees_with_every_builder():
    """Each builder's defaults pass the table, and the keywords read from the source (without Keras)
    are the ones the loaded builder takes."""
    import architectures

    for name in architectures.names():
        builder = architectures.get(name)
        defaults = {key: parameter.default for key, parameter in inspect.signature(builder).parameters.items()
                    if parameter.default is not inspect.Parameter.empty}
        registry.check_values(name, defaults)
        assert set(registry._static_signatures()[name]) == set(inspect.signature(builder).parameters), name
    from architectures.classifier_keywords import ADDED_BY_REGISTRY

    assert registry._ADDED_TO_CLASSIFIERS == ADDED_BY_REGISTRY
