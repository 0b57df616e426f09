"""What a search draws besides the architecture: the training settings of a trial."""

from __future__ import annotations

from recipes.catalog import Recipe

OPTIMIZER_CHOICES = ("adam", "adamw", "nadam", "sgd+momentum")
BATCH_SIZES = (32, 64, 128, 256)
WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3)
LEARNING_RATE_RANGE = (1e-4, 3e-2)
AUGMENTATION_STRENGTHS = (0.0, 0.5, 1.0)
# What "augmentation_strength" scales for an image recipe that has no augmentation of its own:
# small shifts and zooms, which keep the label of any image (flips would not, for digits).
DEFAULT_AUGMENTATION = {"translate": 0.1, "zoom": 0.1}


def _choices(values, default):
    """``values`` plus ``default`` (the recipe's own setting), so a search can keep it."""
    return sorted({*values, default}, key=lambda v: (str(type(v)), v))


def scaled_augmentation(options: dict, strength: float) -> dict:
    """Augmentation options with every magnitude multiplied by ``strength`` (0 turns it off)."""
    if not strength:
        return {}
    scaled = {}
    for key, value in options.items():
        if key == "flip":
            scaled[key] = value
        elif key == "crop_padding":
            scaled[key] = max(1, round(value * strength))
        else:
            scaled[key] = value * strength
    return scaled


def training_space(hp, recipe: Recipe, *, augment: bool) -> dict:
    """Recipe fields drawn from ``hp``; defaults are the recipe's own settings."""
    low, high = LEARNING_RATE_RANGE
    fields = {
        "optimizer": (optimizer := hp.Choice("optimizer", _choices(OPTIMIZER_CHOICES, recipe.optimizer),
                                             default=recipe.optimizer)),
        # the recipe's optimizer options (Adam's beta_1 ...) belong to its own optimizer only
        "optimizer_options": recipe.optimizer_options if optimizer == recipe.optimizer else {},
        "learning_rate": hp.Float("learning_rate", low, high, sampling="log",
                                  default=min(max(recipe.learning_rate, low), high)),
        "batch_size": hp.Choice("batch_size", _choices(BATCH_SIZES, recipe.batch_size), default=recipe.batch_size),
        # 0.0 stays 0.0: no decay, for AdamW too (make_optimizer never falls back to Keras's 0.004)
        "weight_decay": hp.Choice("weight_decay", _choices(WEIGHT_DECAYS, float(recipe.weight_decay or 0.0)),
                                  default=float(recipe.weight_decay or 0.0)),
    }
    if augment:
        strength = hp.Choice("augmentation_strength", list(AUGMENTATION_STRENGTHS),
                             default=1.0 if recipe.augmentation else 0.0)
        fields["augmentation"] = scaled_augmentation(recipe.augmentation or DEFAULT_AUGMENTATION, strength)
    return fields
