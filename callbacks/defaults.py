"""The callback set every recipe starts from, by name. No Keras import: listing recipes stays instant."""

EARLY_STOPPING = {"monitor": "val_loss", "patience": 5}

DEFAULT = {
    "learning_rate_log": {},
    "terminate_on_nan": {},
    "early_stopping": dict(EARLY_STOPPING),
    "checkpoint": {},
    "backup": {},
    "csv_log": {},
    "tensorboard": {},
    "training_curves": {},
}


def without(*names: str) -> dict:
    """The default set minus the callbacks ``names``."""
    return {name: options for name, options in DEFAULT.items() if name not in names}
