"""Transfer learning: a trained backbone, a new head, and two phases through ``compile_and_fit``.

    >>> result = recipes.fine_tune("saved_runs/pretrained.keras", data, unfreeze="conv2")

Phase 1 trains only the new head; the backbone is frozen. Phase 2 unfreezes the top layers,
chosen by name prefix or by count, and trains again at a lower learning rate. The backbone is
always called with ``training=False``, and its batch-norm layers stay frozen in both phases, so
their moving statistics never move (the usual Keras advice for fine-tuning).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

import architectures
from architectures import leaf_layers, strip_head
from recipes.errors import ConfigError
from recipes.training.fit import Result, compile_and_fit


@dataclass
class FineTuneResult:
    model: keras.Model
    head_only: Result
    fine_tuned: Result | None
    trainable_in_phase2: list[str]

    @property
    def test_metrics(self) -> dict[str, float]:
        return (self.fine_tuned or self.head_only).test_metrics


def load_backbone(source, *, input_shape=None, weights=None, **builder_kwargs) -> tuple[keras.Model, bool]:
    """``(backbone, takes_raw_pixels)`` from a model, a ``.keras`` file, a registered architecture
    name or ``"keras.applications.NAME"`` (with ``weights=`` a local weights file: nothing is
    downloaded here). Registered builders and applications get ``include_top=False``. A backbone
    takes raw pixels when it has its own ``Rescaling`` layer, as every recipe's model does."""
    if isinstance(source, (str, Path)) and str(source).endswith(".keras"):
        if not Path(source).exists():
            raise ConfigError(f"no such model file: {source}")
        source = keras.models.load_model(source)
    if isinstance(source, keras.Model):
        has_head = any(layer.name == "predictions" for layer in leaf_layers(source))
        backbone = strip_head(source) if has_head else source
        return backbone, any(isinstance(layer, keras.layers.Rescaling) for layer in leaf_layers(backbone))
    source = str(source)
    if source.startswith("keras.applications."):
        if weights is None or not Path(weights).exists():
            raise ConfigError(
                f"{source} needs weights=<local .h5/.weights.h5 file> (for example the notop weights "
                "file Keras downloads to ~/.keras/models): no download is attempted here"
            )
        application = getattr(keras.applications, source.rsplit(".", 1)[1])
        return application(include_top=False, weights=weights, input_shape=input_shape, pooling="avg",
                           **builder_kwargs), False
    backbone = architectures.build(source, input_shape=input_shape, include_top=False, **builder_kwargs)
    if weights is not None:
        backbone.load_weights(weights)
    return backbone, False


def set_trainable(backbone: keras.Model, unfreeze) -> list[str]:
    """Freeze ``backbone`` except the layers ``unfreeze`` names: a count of top layers, a name
    prefix, or a sequence of prefixes. Batch norm stays frozen. Returns the unfrozen names."""
    leaves = [layer for layer in leaf_layers(backbone) if layer.weights]
    if isinstance(unfreeze, int):
        chosen = {layer.name for layer in leaves[len(leaves) - unfreeze:]} if unfreeze > 0 else set()
    else:
        prefixes = (unfreeze,) if isinstance(unfreeze, str) else tuple(unfreeze)
        chosen = {layer.name for layer in leaves if layer.name.startswith(prefixes)}
        if not chosen:
            raise ConfigError(f"unfreeze={unfreeze!r} matches no layer with weights; layer names start with "
                              f"{', '.join(sorted({l.name.split('_')[0] for l in leaves})[:12])}")
    backbone.trainable = True
    unfrozen = []
    for layer in leaf_layers(backbone):
        layer.trainable = layer.name in chosen and not isinstance(layer, keras.layers.BatchNormalization)
        if layer.trainable and layer.weights:
            unfrozen.append(layer.name)
    return unfrozen


def fine_tune(source, data, *, head_epochs: int = 5, fine_tune_epochs: int = 5, unfreeze=2,
              optimizer: str = "adam", learning_rate: float = 1e-3, fine_tune_learning_rate: float = 1e-4,
              head_dropout: float = 0.2, weights=None, run_dir="runs/fine_tune", callbacks=None,
              verbose="auto", **builder_kwargs) -> FineTuneResult:
    """Reuse a trained backbone on ``data`` (from ``recipes.data.load`` or ``from_arrays``) with a
    new softmax head: phase 1 trains the head, phase 2 (if ``fine_tune_epochs``) also the
    ``unfreeze`` layers at ``fine_tune_learning_rate``."""
    info = data.info
    backbone, takes_raw_pixels = load_backbone(source, input_shape=info.input_shape, weights=weights,
                                               **builder_kwargs)
    backbone.trainable = False
    inputs = keras.Input(info.input_shape, name=info.input_name)
    x = inputs
    if not takes_raw_pixels and info.value_range is not None:
        x = keras.layers.Rescaling(1.0 / info.value_range, name="rescale")(x)
    x = backbone(x, training=False)
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dropout(head_dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(info.num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=f"{backbone.name}_transfer")

    run_dir = Path(run_dir)
    head_only = compile_and_fit(model, data, optimizer=optimizer, learning_rate=learning_rate,
                                epochs=head_epochs, callbacks=callbacks, run_dir=run_dir / "phase1_head",
                                verbose=verbose)
    if not fine_tune_epochs:
        return FineTuneResult(model, head_only, None, [])
    unfrozen = set_trainable(backbone, unfreeze)
    fine_tuned = compile_and_fit(model, data, optimizer=optimizer, learning_rate=fine_tune_learning_rate,
                                 epochs=fine_tune_epochs, callbacks=callbacks,
                                 run_dir=run_dir / "phase2_fine_tune", verbose=verbose)
    return FineTuneResult(model, head_only, fine_tuned, unfrozen)
