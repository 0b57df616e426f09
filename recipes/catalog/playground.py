"""The course's small demonstrations: two spirals that a linear model cannot separate and a small
MLP can (the TensorFlow playground), and one hidden ReLU layer fitting 1-D functions (universal
approximation)."""

from callbacks.defaults import without
from recipes.catalog._recipe import Recipe, register_recipe

for architecture, kwargs, expected in (
    ("linear", {}, 0.63),
    ("mlp", {"hidden_units": (64, 64, 64), "activation": "relu"}, 0.95),
):
    register_recipe(Recipe(
        name=f"toy_spirals_{architecture}",
        dataset="toy_spirals",
        architecture=architecture,
        description=(
            "Two interleaved spirals (TensorFlow playground): a linear model cannot separate them"
            if architecture == "linear" else
            "Two interleaved spirals: a small ReLU MLP separates them"
        ),
        expected={"accuracy": expected},
        architecture_kwargs=kwargs,
        batch_size=32,
        epochs=150,
        learning_rate=1e-2,
        plots=("decision_boundary",),
        callbacks={"learning_rate_log": {}, "terminate_on_nan": {}, "csv_log": {}, "training_curves": {},
                   "early_stopping": {"monitor": "val_loss", "patience": 30}},
    ))

# Max errors measured with 64 units (benchmarks/function_fit.py), rounded up. No continuous function
# comes closer than 0.5 to a step everywhere, so its fit can only approach that.
for function, measured in (("sin", 0.02), ("abs", 0.02), ("step", 0.52)):
    register_recipe(Recipe(
        name=f"function_fit_{function}",
        dataset=function,
        architecture="shallow_relu",
        task="function_fit",
        description=f"One hidden layer of 64 ReLU units fitting {function}(x) (universal approximation).",
        expected={"max_error": measured},
        architecture_kwargs={"hidden_units": 64},
        loss="mse",
        metrics=("mae",),
        learning_rate=1e-2,
        schedule="cosine",
        batch_size=32,
        epochs=60,
        callbacks=without("early_stopping", "tensorboard"),
        plots=("fit",),
    ))
