"""The ``Recipe`` config: a frozen dataclass per named recipe, its registry, and overrides.

No Keras import, so listing recipes is instant.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import fnmatch
import functools
import hashlib
import json
import math
import numbers
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from architectures.registry import (
    KeywordError,
    UnknownArchitectureError,
    UnknownKeywordError,
    check_keywords,
)
from callbacks.defaults import DEFAULT as DEFAULT_CALLBACKS
from recipes.errors import ConfigError, UnknownNameError
from recipes.tasks.options import options_class, options_for
from recipes.training.precision import PRECISIONS


@dataclass(frozen=True)
class Recipe:
    """A named, reproducible training configuration and the result it is documented to reach.

    ``task_options`` is the task's options dataclass (``recipes.tasks.options``); a mapping is
    accepted and checked field by field. ``optimizer_options`` go to the Keras optimizer class
    (``{"beta_1": 0.5}``). ``callbacks`` maps callback names to their options (``callbacks.DEFAULT``
    unless given).

    Every field is checked against its type and range when the recipe is made (by hand, by
    ``with_overrides``, ``--set`` or ``--epochs``), before any data loads: a bad value raises
    ``ConfigError`` naming the setting, the value and what is allowed. A number given as a string
    (``"3"``) is read as one; ``architecture_kwargs`` are checked against the builder's keywords
    (``architectures.registry.check_keywords``).
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
    precision: str = "float32"

    def __post_init__(self):
        hints = _type_hints(Recipe)
        for item in fields(self):
            if item.name != "task_options":
                value = getattr(self, item.name)
                checked = _checked(item.name, value, hints[item.name], RANGES.get(item.name))
                if checked is not value:
                    object.__setattr__(self, item.name, checked)
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}")
        object.__setattr__(self, "task_options", _task_options(self.task, self.task_options))
        _check_architecture_kwargs(self.architecture, self.architecture_kwargs)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """A short hash of the whole config: the same arguments give the same run folder."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Range:
    """Where a number may lie: ``at_least`` (included), ``above`` and ``below`` (excluded)."""

    at_least: float | None = None
    above: float | None = None
    below: float | None = None

    def holds(self, value) -> bool:
        return ((self.at_least is None or value >= self.at_least) and (self.above is None or value > self.above)
                and (self.below is None or value < self.below))

    def __str__(self) -> str:
        parts = [f"of at least {self.at_least}" if self.at_least is not None else "",
                 f"above {self.above}" if self.above is not None else "",
                 f"below {self.below}" if self.below is not None else ""]
        return " and ".join(part for part in parts if part)


_COUNT = Range(at_least=1)
_FRACTION = Range(at_least=0, below=1)
_NON_NEGATIVE = Range(at_least=0)
_POSITIVE = Range(above=0)

# The range of each numeric setting: the recipe's fields, then its task options (``task_options.NAME``).
RANGES: dict[str, Range] = {
    "learning_rate": _POSITIVE,
    "weight_decay": _NON_NEGATIVE,
    "batch_size": _COUNT,
    "epochs": _COUNT,
    "seed": Range(at_least=0, below=2**32),  # numpy's seeds
    "validation_split": _FRACTION,
    "train_limit": _COUNT,
    "test_limit": _COUNT,
    **{f"task_options.{name}": _COUNT for name in (
        "max_tokens", "sequence_length", "digits", "num_train", "num_test", "window", "horizon", "season", "length",
        "train_points", "test_points", "size", "max_shapes")},
    "task_options.validation_fraction": _FRACTION,
    "task_options.test_split": _FRACTION,
    "task_options.target_columns": _NON_NEGATIVE,
    "task_options.noise": _NON_NEGATIVE,
    "task_options.period": _POSITIVE,
    "task_options.upscale": Range(at_least=2),
    "task_options.frechet_samples": Range(at_least=2),  # a covariance needs two
}


class _Invalid(Exception):
    """A value that does not fit its field; ``_checked`` turns it into a ``ConfigError``."""


@functools.cache
def _type_hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def _checked(setting: str, value, annotation, bounds: Range | None):
    """``value`` as ``annotation`` (a number read from a string, a list as a tuple), or ``ConfigError``."""
    try:
        return _convert(value, annotation, bounds)
    except _Invalid:
        raise ConfigError(f"{setting} must be {_describe(annotation, bounds)}; got {value!r}") from None


def _convert(value, annotation, bounds: Range | None):
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is object or annotation is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        for option in (a for a in arguments if a is not type(None)):
            try:
                return _convert(value, option, bounds)
            except _Invalid:
                pass
        raise _Invalid
    if annotation is bool:
        if isinstance(value, bool):
            return value
        words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if isinstance(value, str) and value.strip().lower() in words:
            return words[value.strip().lower()]
        raise _Invalid
    if annotation is int or annotation is float:
        return _number(value, integer=annotation is int, bounds=bounds)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _Invalid
    if origin is tuple:
        item = arguments[0] if arguments else object
        if isinstance(value, (list, tuple)):
            converted = tuple(_convert(v, item, bounds) for v in value)
            return value if isinstance(value, tuple) and all(a is b for a, b in zip(converted, value)) else converted
        if isinstance(value, (str, numbers.Number)) and not isinstance(value, bool):
            return (_convert(value, item, bounds),)  # a lone value: --set metrics=mae
        raise _Invalid
    if annotation is dict or origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
            raise _Invalid
        if len(arguments) == 2:
            converted = {key: _convert(v, arguments[1], None) for key, v in value.items()}
            return value if all(converted[k] is value[k] for k in value) else converted
        return value
    return value


def _number(value, *, integer: bool, bounds: Range | None):
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise _Invalid from None
    if not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _Invalid
    if integer:
        if not isinstance(value, numbers.Integral):
            if not float(value).is_integer():
                raise _Invalid
            value = int(value)
        elif not isinstance(value, int):
            value = int(value)  # numpy's integers
    if bounds is not None and not bounds.holds(value):
        raise _Invalid
    return value


def _describe(annotation, bounds: Range | None) -> str:
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        described = " or ".join(_describe(a, bounds) for a in arguments if a is not type(None))
        return f"None or {described}" if type(None) in arguments else described
    if annotation is bool:
        return "True or False"
    if annotation in (int, float):
        kind = "a whole number" if annotation is int else "a number"
        return f"{kind} {bounds}" if bounds is not None else kind
    if annotation is str:
        return "a string"
    if origin is tuple:
        item = _describe(arguments[0], bounds) if arguments else "values"
        return f"a list of {item.removeprefix('a ').replace('number', 'numbers').replace('string', 'strings')}"
    if annotation is dict or origin is dict:
        return "a mapping of names to numbers" if arguments[1:] in ((float,), (int,)) else "a mapping of names to values"
    return getattr(annotation, "__name__", str(annotation))


def _task_options(task: str, value):
    """``options_for(task, value)`` with each option checked against its type and range first."""
    expected = options_class(task)
    hints = _type_hints(expected)
    if isinstance(value, Mapping):  # converted before the options' own checks compare them
        value = {key: _checked(f"task_options.{key}", v, hints[key], RANGES.get(f"task_options.{key}"))
                 if key in hints else v for key, v in value.items()}
    options = options_for(task, value)
    changes = {}
    for item in fields(options):
        current = getattr(options, item.name)
        checked = _checked(f"task_options.{item.name}", current, hints[item.name],
                           RANGES.get(f"task_options.{item.name}"))
        if checked is not current:
            changes[item.name] = checked
    return dataclasses.replace(options, **changes) if changes else options


def _check_architecture_kwargs(architecture: str, keywords: dict) -> None:
    """The builder's keywords, checked without building it, before any data loads."""
    try:
        check_keywords(architecture, keywords)
    except UnknownArchitectureError as error:
        raise UnknownNameError(str(error)) from None
    except UnknownKeywordError as error:
        close = difflib.get_close_matches(error.keyword, error.valid, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown setting 'architecture_kwargs.{error.keyword}': {architecture} has no keyword "
                          f"{error.keyword!r}.{hint} Its keywords: {', '.join(error.valid)}") from None
    except KeywordError as error:
        hint = f" ({error.hint})" if error.hint else ""
        raise ConfigError(f"architecture_kwargs.{error.keyword} must be {error.requirement} for {architecture}; "
                          f"got {error.value!r}{hint}") from None


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
