"""Sequence tagging: one label per time step, shown on the running parity of a bit stream."""

from __future__ import annotations

import keras
import numpy as np

import architectures
from recipes import data as datasets
from recipes.data.synthetic import TAGGED_SEQUENCES, named
from recipes.errors import ConfigError
from recipes.saved_models import export as export_model
from recipes.tasks import OUTPUT_NAME, Task, register_task

TAGGING_INPUT = "bits"
TEST_SEED = 12345  # every run is tested on the same sequences


@register_task
class Tagging(Task):
    """A sequence -> per-step class probabilities (``bits -> probabilities``); the dataset
    ``parity`` labels each step with the parity of the ones seen so far.

    Options (``TaggingOptions``): ``length``, ``num_train`` (validation is carved from it),
    ``num_test`` (drawn with a fixed seed of its own, so every run is tested on the same sequences).
    """

    name = "tagging"

    def load(self, recipe, *, data_dir=None, download=True):
        sequences = named(TAGGED_SEQUENCES, recipe.dataset, "tagging")
        options = recipe.task_options
        num_train = min(options.num_train, recipe.train_limit or options.num_train)
        num_test = min(options.num_test, recipe.test_limit or options.num_test)
        if recipe.seed == TEST_SEED:  # the training draws would start with the test sequences themselves
            raise ConfigError(f"{recipe.name}: seed {TEST_SEED} draws the test sequences, so training on it "
                              f"would train on the test split; choose another seed. Received: seed={recipe.seed}")
        x_train, y_train = sequences.generate(num_train, options.length, recipe.seed)
        x_test, y_test = sequences.generate(num_test, options.length, TEST_SEED)
        raw = datasets.RawData(x_train, y_train, x_test, y_test, sequences.class_names, TAGGING_INPUT, None,
                               f"generated ({sequences.description}, length {options.length})")
        return datasets.from_arrays(recipe.dataset, raw, batch_size=recipe.batch_size,
                                    validation_split=recipe.validation_split, seed=recipe.seed)

    def build(self, recipe, data):
        features = data.info.input_shape[-1]
        tagger = architectures.build(recipe.architecture, input_shape=(None, features),
                                     num_classes=data.info.num_classes, **recipe.architecture_kwargs)
        inputs = keras.Input((None, features), name=TAGGING_INPUT)
        return keras.Model(inputs, tagger(inputs), name=f"{recipe.architecture}_{recipe.dataset}")

    def evaluate(self, recipe, model, data, context):
        bits, labels = data.arrays["test"]
        predicted = np.argmax(model.predict(bits, verbose=0, batch_size=256), axis=-1)
        return {"last_position_accuracy": float(np.mean(predicted[:, -1] == labels[:, -1]))}, []

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        return export_model(model, name, export_dir=export_dir, input_name=TAGGING_INPUT,
                            output_name=OUTPUT_NAME, metadata=metadata)
