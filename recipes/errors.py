"""Errors the library raises for things a user can fix. Each message says what to do."""


class RecipeError(Exception):
    """Base class: the CLI prints these as one line instead of a traceback."""


class UnknownNameError(RecipeError, LookupError):
    """An unknown recipe or dataset name."""


class ConfigError(RecipeError, ValueError):
    """A bad override, option or value."""


class DatasetNotFoundError(RecipeError, FileNotFoundError):
    """A dataset that is in none of the places searched."""


class CorruptDatasetError(RecipeError, ValueError):
    """A dataset file that is truncated or not in the expected format."""


class ModifiedDatasetError(CorruptDatasetError):
    """A file that claims to be a published release file (its name and size) but whose SHA-256
    differs from the published one."""


class InputError(RecipeError, ValueError):
    """Input given to a model that does not match what it expects."""


class TuningError(RecipeError):
    """A search that cannot start, or that ended without one completed trial."""


class ExportFailedError(RecipeError, OSError):
    """A trained model that could not be written out (a full disk); the run folder keeps it."""
