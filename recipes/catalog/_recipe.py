"""The ``Recipe`` config: a frozen dataclass per named recipe, its registry, and overrides.

No Keras import, so listing recipes is instant.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import fnmatch
import hashlib
import json
from dataclasses import dataclass, field, fields

from callbacks.defaults import DEFAULT as DEFAULT_CALLBACKS
from recipes.errors import ConfigError, UnknownNameError
from recipes.tasks.options import options_for


@dataclass(frozen=True)
class Recipe:
    """A named, reproducible training configuration and the result it is documented to reach.

    ``task_options`` is the task's options dataclass (``recipes.tasks.options``); a mapping is
    accepted and checked field by field. ``optimizer_options`` go to the Keras optimizer class
    (``{"beta_1": 0.5}``). ``callbacks`` maps callback names to their options (``callbacks.DEFAULT``
    unless given).
    """

    name: str
    dataset: str
    architecture: str
    description: str
    expected: dict[str, float]
    architecture_kwargs: dict = field(default_factory=dict)
    task: str = "classification"
    task_options: object = None
    optimizer: str = "adam"
    optimizer_options: dict = field(default_factory=dict)
    learning_rate: float = 1e-3
    schedule: str = "constant"
    weight_decay: float | None = None
    loss: str | None = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)
    batch_size: int = 128
    epochs: int = 10
    seed: int = 0
    validation_split: float = 0.1
    train_limit: int | None = None
    test_limit: int | None = None
    augmentation: dict = field(default_factory=dict)
    callbacks: dict = field(default_factory=lambda: dict(DEFAULT_CALLBACKS))
    plots: tuple[str, ...] = ("confusion_matrix",)

    def __post_init__(self):
        object.__setattr__(self, "task_options", options_for(self.task, self.task_options))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """A short hash of the whole config: the same arguments give the same run folder."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:10]


_recipes: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    if recipe.name in _recipes:
        raise ValueError(f"recipe {recipe.name!r} is registered twice")
    _recipes[recipe.name] = recipe
    return recipe


def names(pattern: str = "*") -> list[str]:
    return sorted(n for n in _recipes if fnmatch.fnmatchcase(n, pattern))


def get(name: str) -> Recipe:
    if name not in _recipes:
        close = difflib.get_close_matches(name, list(_recipes), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownNameError(
            f"unknown recipe {name!r}.{hint} Run `keras-recipes list` to see all recipes."
        )
    return _recipes[name]


def parse_assignment(text: str) -> tuple[str, object]:
    """``"key=value"`` -> (key, value); the value is a Python literal when it parses as one."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"bad --set {text!r}: expected key=value, e.g. --set learning_rate=0.01")
    try:
        return key.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return key.strip(), value.strip()


def with_overrides(recipe: Recipe, overrides: dict[str, object]) -> Recipe:
    """A copy of ``recipe`` with top-level or dotted (``architecture_kwargs.dropout``,
    ``task_options.sequence_length``) keys replaced."""
    valid = {f.name: f for f in fields(Recipe)}
    changes: dict[str, object] = {}
    for key, value in overrides.items():
        top, _, sub = key.partition(".")
        if top not in valid or top == "name":
            close = difflib.get_close_matches(top, list(valid), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"unknown recipe setting {key!r}.{hint} Settings: {', '.join(k for k in valid if k != 'name')}."
            )
        if not sub:
            changes[top] = value
            continue
        current = changes.get(top, getattr(recipe, top))
        if dataclasses.is_dataclass(current):
            current = dataclasses.asdict(current)
        if not isinstance(current, dict):
            raise ConfigError(f"{top!r} is not a mapping, so {key!r} cannot be set; use --set {top}=...")
        changes[top] = _set_nested(dict(current), sub.split("."), value)
    return dataclasses.replace(recipe, **changes)


def _set_nested(mapping: dict, path: list[str], value) -> dict:
    head, *rest = path
    if rest:
        mapping[head] = _set_nested(dict(mapping.get(head) or {}), rest, value)
    else:
        mapping[head] = value
    return mapping
