"""Tables: named columns -> classes or a value, with the preprocessing inside the model.

    >>> result = recipes.run("tabular_mlp", data="patients.csv", target="outcome")

Each numeric column is normalised by a ``Normalization`` layer and each categorical column
one-hot encoded by a ``StringLookup`` layer (an unseen category gets the out-of-vocabulary slot),
both adapted on the training rows only; their concatenation feeds the registered builder. A
regression target is standardised the same way, and the model turns its output back into the
target's units. The
export takes raw values by column name, a dict of named inputs (TF Serving's row format:
``{"instances": [{"age": 61, "city": "Lyon"}]}``).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

import architectures
from architectures.registry import builder_keywords
from recipes.data.tabular import read_csv, sklearn_table, table_data
from recipes.errors import ConfigError
from recipes.saved_models import export as export_model
from recipes.tasks import OUTPUT_NAME, Task, UserData, register_task

VALUE_OUTPUT = "value"


def weight_penalty_per_row(recipe, rows: int) -> float:
    """The L2 factor on every kernel, the network's and the wide path's: the architecture's own
    ``l2`` where the recipe sets one, else ``TabularOptions.weight_penalty`` spread over the
    training rows, so that, as with LogisticRegression's ``C``, the penalty weighs less against
    the data the more rows there are."""
    if "l2" in recipe.architecture_kwargs:
        return float(recipe.architecture_kwargs["l2"])
    penalty = recipe.task_options.weight_penalty
    if not penalty:
        return 0.0
    keywords = builder_keywords(recipe.architecture)
    if keywords is not None and "l2" not in keywords:
        raise ConfigError(f"task_options.weight_penalty needs an architecture that takes l2; "
                          f"{recipe.architecture!r} does not. Set task_options.weight_penalty=0")
    return penalty / max(rows, 1)


@register_task
class Tabular(Task):
    """A row of named columns -> class probabilities (``probabilities``), or a value (``value``)
    with ``TabularOptions(regression=True)``. The recipe's own dataset is one of scikit-learn's
    bundled tables; yours is a CSV file with a header row."""

    name = "tabular"

    def load(self, recipe, *, data_dir=None, download=True):
        return self._split(recipe, sklearn_table(recipe.dataset), name=recipe.dataset)

    def load_user_data(self, recipe, user: UserData):
        source = user.source
        if not isinstance(source, (str, os.PathLike)) or Path(source).suffix.lower() != ".csv":
            raise ConfigError(f"recipe {recipe.name!r} reads a table from a CSV file: give data='file.csv' and "
                              f"target='<label column>'. Received: data={source!r}")
        if not user.target:
            raise ConfigError(f"{source}: say which column to predict with target='<column>' (CLI: --target COLUMN)")
        options = recipe.task_options
        table = read_csv(source, user.target, numeric=options.numeric, categorical=options.categorical)
        return self._split(recipe, table, name=Path(source).stem)

    @staticmethod
    def _split(recipe, table, *, name):
        options = recipe.task_options
        return table_data(table, regression=options.regression, batch_size=recipe.batch_size,
                          validation_split=recipe.validation_split, test_split=options.test_split, seed=recipe.seed,
                          name=name, train_limit=recipe.train_limit)

    def build(self, recipe, data):
        columns, _ = data.arrays["train"]
        inputs, encoded = {}, []
        for column, kind in data.kinds.items():
            name = data.input_names[column]
            if kind == "numeric":
                inputs[name] = keras.Input((), dtype="float32", name=name)
                normalize = keras.layers.Normalization(axis=None, name=f"{name}_normalized")
                normalize.adapt(columns[name])
                encoded.append(keras.layers.Reshape((1,), name=f"{name}_column")(normalize(inputs[name])))
            else:
                inputs[name] = keras.Input((), dtype="string", name=name)
                lookup = keras.layers.StringLookup(output_mode="one_hot", name=f"{name}_lookup")
                lookup.adapt(columns[name])
                encoded.append(lookup(inputs[name]))
        features = keras.layers.Concatenate(name="features")(encoded) if len(encoded) > 1 else encoded[0]
        options = recipe.task_options
        regression, units = options.regression, 1 if options.regression else data.info.num_classes
        l2 = weight_penalty_per_row(recipe, data.info.num_train)
        network = architectures.build(recipe.architecture, input_shape=(features.shape[-1],), num_classes=units,
                                      **{**recipe.architecture_kwargs, "classifier_activation": None,
                                         **({"l2": l2} if l2 else {})})
        outputs = network(features)
        if options.wide:
            linear = keras.layers.Dense(units, kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
                                        name="wide")(features)
            outputs = keras.layers.Add(name="wide_and_deep")([outputs, linear])
        if regression:  # the network predicts the standardised target; the model returns it in its own units
            unscale = keras.layers.Normalization(axis=None, invert=True, name="target_units")
            unscale.adapt(data.arrays["train"][1])
            outputs = unscale(outputs)
        else:
            outputs = keras.layers.Softmax(name="probabilities")(outputs)
        return keras.Model(inputs, outputs, name=f"{recipe.architecture}_{data.info.name}")

    def compile_options(self, recipe, data) -> dict:
        """A regression loss in units of the target's variance: the model answers in the target's
        units, but the loss (and so the weight penalty's strength against it) does not depend on them."""
        if not recipe.task_options.regression:
            return {}
        return {"loss_weights": 1.0 / max(float(np.var(data.arrays["train"][1])), 1e-12)}

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        columns = {column: {"input": data.input_names[column], "kind": kind} for column, kind in data.kinds.items()}
        regression = recipe.task_options.regression
        return export_model(model, name, export_dir=export_dir,
                            output_name=VALUE_OUTPUT if regression else OUTPUT_NAME,
                            class_names=data.info.class_names,
                            metadata={**metadata, "columns": columns, "target": data.target_name})
