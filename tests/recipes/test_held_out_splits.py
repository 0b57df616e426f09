"""Test data stays out of training and model selection: the character language model's corpus is
cut into train | validation | test, contiguous and disjoint, so early stopping and the best
checkpoint never see the test part; the tagging task refuses the seed its test set is drawn with."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes import tasks
from recipes.data.text import load_tiny_shakespeare
from recipes.errors import ConfigError
from recipes.tasks.language_model import char_lookup, corpus_cuts
from recipes.tasks.options import LanguageModelOptions, options_for
from recipes.tasks.tagging import TEST_SEED


def _loaded(text_data_dir, **options):
    recipe = recipes.get("shakespeare_char_lstm")
    recipe = dataclasses.replace(recipe, task_options=dataclasses.replace(recipe.task_options, **options))
    return recipe, tasks.get("language_model").load(recipe, data_dir=text_data_dir)


def test_train_validation_and_test_are_three_disjoint_contiguous_parts(text_data_dir):
    recipe, data = _loaded(text_data_dir)
    text, _ = load_tiny_shakespeare(text_data_dir)
    ids = char_lookup(sorted(set(text)))(tf.strings.unicode_split(text, "UTF-8")).numpy()
    length = recipe.task_options.sequence_length
    train_end, validation_end = corpus_cuts(len(ids), 0.1, 0.1)
    assert (train_end, validation_end) == (48_000, 54_000)  # 60,000 characters: 80/10/10

    starts = {"train": 0, "validation": train_end, "test": validation_end}
    ends = {"train": train_end, "validation": validation_end, "test": len(ids)}
    for split, start in starts.items():
        x, y = data.arrays[split]
        assert len(x) == (ends[split] - start - 1) // length > 0
        # windows follow each other from the start of their own part ...
        np.testing.assert_array_equal(x.reshape(-1), ids[start:start + x.size])
        np.testing.assert_array_equal(y.reshape(-1), ids[start + 1:start + 1 + y.size])
        # ... and the last target is still inside it: no window straddles a cut
        assert start + 1 + y.size <= ends[split]
    assert not np.array_equal(data.arrays["test"][0][: len(data.arrays["validation"][0])],
                              data.arrays["validation"][0])
    assert data.test is not data.validation
    assert (data.info.num_train, data.info.num_validation, data.info.num_test) == (479, 59, 59)


def test_test_fraction_sets_the_size_of_the_corpus_end_held_out(text_data_dir):
    _, data = _loaded(text_data_dir, validation_fraction=0.05, test_fraction=0.2)
    assert (data.info.num_validation, data.info.num_test) == (29, 119)


@pytest.mark.parametrize(("options", "message"), [
    ({"test_fraction": 0.0}, "test_fraction must be above 0 and below 1. Received: test_fraction=0.0"),
    ({"validation_fraction": 1.0}, "validation_fraction must be above 0 and below 1"),
    ({"validation_fraction": 0.5, "test_fraction": 0.5}, "validation_fraction \\+ test_fraction must be below 1"),
])
def test_bad_fractions_are_refused_with_the_values(options, message):
    with pytest.raises(ConfigError, match=message):
        options_for("language_model", options)


def test_the_recipe_holds_out_a_test_part_of_its_own():
    options = recipes.get("shakespeare_char_lstm").task_options
    assert options == LanguageModelOptions(sequence_length=100, validation_fraction=0.1, test_fraction=0.1)


def test_tagging_refuses_to_train_on_the_seed_of_its_test_sequences():
    recipe = recipes.with_overrides(recipes.get("parity_tagger_lstm"), {"seed": TEST_SEED})
    with pytest.raises(ConfigError, match=f"seed {TEST_SEED} draws the test sequences.*Received: seed={TEST_SEED}"):
        tasks.get("tagging").load(recipe)


def test_the_playground_sets_refuse_the_seed_of_their_test_points():
    from recipes.data import TOY_TEST_SEED, load_arrays

    assert len(load_arrays("toy_spirals", seed=1).x_test) > 0
    with pytest.raises(ConfigError, match=f"seed {TOY_TEST_SEED} draws the playground sets' test points"):
        load_arrays("toy_spirals", seed=TOY_TEST_SEED)
