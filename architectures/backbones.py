"""A classifier cut down to its backbone, and the layers of nested models in graph order: what
transfer learning needs from a model built here, or from a recipe's model that wraps one."""

import keras


class StripHeadError(ValueError):
    """The model has no ``predictions`` layer to cut off, or nests it where it cannot be cut out."""


def strip_head(model: keras.Model) -> keras.Model:
    """``model`` up to the input of its ``predictions`` layer, looking inside nested models too
    (a recipe's model wraps the builder behind its rescaling input). Weights are shared."""
    if "predictions" in [layer.name for layer in model.layers]:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        return keras.Model(inputs, model.get_layer("predictions").input, name=f"{model.name}_features")
    if any(isinstance(layer, keras.Model) and "predictions" in _all_layer_names(layer) for layer in model.layers):
        if len(model.inputs) != 1 or any(len(layer._inbound_nodes) > 1 for layer in model.layers):
            raise StripHeadError(f"{model.name}: can only cut the head out of a nested model in a simple chain")
        source = model.inputs[0]
        x = inputs = keras.Input(source.shape[1:], dtype=source.dtype, name=source.name.split(":")[0])
        for layer in model.layers[1:]:
            x = (strip_head(layer) if isinstance(layer, keras.Model) else layer)(x)
        return keras.Model(inputs, x, name=f"{model.name}_features")
    raise StripHeadError(f"{model.name} has no layer named 'predictions' to cut off; pass a headless backbone")


def leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that compute, in graph order, with nested models flattened and inputs left out:
    what fine-tuning freezes and unfreezes by name or by count."""
    leaves = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            leaves += leaf_layers(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            leaves.append(layer)
    return leaves


def _all_layer_names(model) -> set[str]:
    """Every layer's name, nested models' own names and their layers' included."""
    names = set()
    for layer in model.layers:
        names.add(layer.name)
        if isinstance(layer, keras.Model):
            names |= _all_layer_names(layer)
    return names
