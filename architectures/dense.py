"""Fully connected networks: multinomial logistic regression, the multilayer perceptron, and the
one-hidden-layer ReLU network of the universal approximation theorem."""

import keras
from keras import layers

from architectures.blocks import (
    classifier_head,
    dense_bn_act,
    require_no_pooling,
    weight_penalty,
)
from architectures.registry import KEYWORD_RULES, register, register_search_space

ACTIVATIONS = KEYWORD_RULES["mlp.activation"].choices  # the registry checks them before the builder runs


@register("linear", family="linear", paper="Softmax (multinomial logistic) regression")
def linear(input_shape=(28, 28, 1), num_classes=10, *, include_top=True, pooling=None,
           classifier_activation="softmax", l1=0.0, l2=0.0, name="linear") -> keras.Model:
    """Flatten -> Dense -> softmax: 7,850 parameters on 28x28x1 with 10 classes."""
    require_no_pooling("linear", pooling, features="the flattened input")
    inputs = keras.Input(input_shape, name="inputs")
    x = layers.Flatten(name="flatten")(inputs)
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation,
                            kernel_regularizer=weight_penalty(l1, l2))
    return keras.Model(inputs, x, name=name)


@register("mlp", family="mlp", paper="Rumelhart, Hinton & Williams 1986")
def mlp(input_shape=(28, 28, 1), num_classes=10, *, include_top=True, pooling=None,
        classifier_activation="softmax", hidden_units=(512,), activation="relu",
        kernel_initializer="glorot_uniform", dropout=0.0, batch_norm=False,
        l1=0.0, l2=0.0, name="mlp") -> keras.Model:
    """Multilayer perceptron: (Dense -> [BN] -> activation -> [Dropout]) per hidden size."""
    require_no_pooling("mlp", pooling)
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"mlp: activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}"
        )
    if isinstance(hidden_units, int):
        hidden_units = (hidden_units,)
    penalty = weight_penalty(l1, l2)
    inputs = keras.Input(input_shape, name="inputs")
    x = layers.Flatten(name="flatten")(inputs)
    for index, units in enumerate(hidden_units, start=1):
        x = dense_bn_act(
            x, units, activation=activation, norm="batch" if batch_norm else None, dropout=dropout,
            kernel_initializer=kernel_initializer, kernel_regularizer=penalty,
            name=f"hidden{index}",
        )
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation, kernel_regularizer=penalty)
    return keras.Model(inputs, x, name=name)


@register("shallow_relu", family="function_fit", paper="Cybenko 1989; Hornik 1991 (universal approximation)",
          inputs="vector", outputs="values")
def shallow_relu(input_shape=(1,), outputs=1, *, hidden_units=16, activation="relu",
                 name="shallow_relu") -> keras.Model:
    """x -> Dense(hidden_units, ReLU) -> Dense(outputs): a sum of ``hidden_units`` hinges, so a
    piecewise-linear fit with at most that many kinks."""
    inputs = keras.Input(input_shape, name="inputs")
    x = layers.Dense(hidden_units, activation=activation, name="hidden")(inputs)
    return keras.Model(inputs, layers.Dense(outputs, name="predictions")(x), name=name)


@register_search_space("function_fit")
def shallow_relu_search_space(hp) -> dict:
    return {"hidden_units": hp.Choice("hidden_units", [4, 16, 64, 256], default=16)}


@register_search_space("linear")
def linear_search_space(hp) -> dict:
    return {"l2": hp.Choice("l2", [0.0, 1e-5, 1e-4, 1e-3], default=0.0)}


@register_search_space("mlp")
def mlp_search_space(hp) -> dict:
    depth = hp.Int("hidden_layers", 1, 3, default=2)
    return {
        "hidden_units": (hp.Choice("units", [64, 128, 256, 512], default=256),) * depth,
        "activation": hp.Choice("activation", ["relu", "gelu", "elu"], default="relu"),
        "batch_norm": hp.Boolean("batch_norm", default=False),
        "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.2),
    }
