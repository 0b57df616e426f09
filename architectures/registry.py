"""One registry of architecture builders, looked up by name.

Builders register themselves with ``@register``. Importing this module is cheap: the builder
modules (which import Keras) are loaded on the first lookup, and ``static_entries`` reads the
``@register(...)`` decorators from source so a command-line listing never imports TensorFlow.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import functools
import importlib
import inspect
import numbers
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

_PACKAGE = "architectures"
_PACKAGE_DIR = Path(__file__).resolve().parent
_NOT_BUILDER_MODULES = {"registry", "blocks", "layers", "classifier_keywords", "backbones"}


class UnknownArchitectureError(LookupError):
    """Raised for a name that is not registered; the message lists close matches."""


class InputTooSmallError(ValueError):
    """Raised for an input so small that a feature map would shrink below 1x1."""


@dataclass(frozen=True)
class Entry:
    name: str
    family: str
    paper: str
    summary: str
    builder: Callable | None = None
    inputs: str = "image"
    outputs: str = "classes"


_entries: dict[str, Entry] = {}
_search_spaces: dict[str, Callable] = {}
_builders_loaded = False


INPUT_KINDS = ("image", "features", "tokens", "token_pairs", "vector", "latent")
OUTPUT_KINDS = ("classes", "image", "class_map", "values")


def require_integer_at_least(builder: str, argument: str, value, minimum: int, hint: str) -> None:
    """A builder's integer argument out of range fails with what it needs, before any layer is made."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{builder}: {argument} must be an integer of at least {minimum}, got {value!r}; {hint}")


def register(name: str, *, family: str, paper: str = "", inputs: str = "image", outputs: str = "classes",
             min_input_size=None):
    """Decorator that registers a builder under ``name``.

    ``name``, ``family``, ``paper`` and ``inputs`` must be string literals: ``static_entries``
    reads them from the source without importing Keras. ``inputs`` says what the model takes:
    ``image`` (height, width, channels), ``features`` (time, features) float sequences,
    ``tokens`` (time,) integer ids with 0 as padding, ``token_pairs`` (source and target ids),
    ``vector`` (features,) flat values, or ``latent`` (a generator's noise vector). ``outputs``
    says what it returns: ``classes`` (class scores), ``image``, ``class_map`` (class scores per
    pixel) or ``values`` (regression). ``min_input_size`` (an int, or a function of the
    builder's keyword arguments returning one) is the smallest height and width that keeps
    every feature map at least 1x1; smaller inputs raise ``InputTooSmallError``.

    A classifier builder (``outputs="classes"``) declares ``input_shape``, ``num_classes``,
    ``include_top``, ``pooling``, ``classifier_activation`` and ``name``; the registry adds
    keras.applications' ``weights``, ``input_tensor`` and ``classes``
    (``architectures.classifier_keywords``).
    """

    if inputs not in INPUT_KINDS:
        raise ValueError(f"register({name!r}): inputs must be one of {', '.join(INPUT_KINDS)}")
    if outputs not in OUTPUT_KINDS:
        raise ValueError(f"register({name!r}): outputs must be one of {', '.join(OUTPUT_KINDS)}")

    def decorator(builder: Callable) -> Callable:
        if name in _entries:
            raise ValueError(f"architecture {name!r} is registered twice")
        checked = builder if min_input_size is None else _with_size_check(builder, name, min_input_size)
        if outputs == "classes":
            from architectures.classifier_keywords import classifier_builder

            checked = classifier_builder(checked, name)
        summary = (builder.__doc__ or "").strip().splitlines()[0] if builder.__doc__ else ""
        _entries[name] = Entry(name, family, paper, summary, checked, inputs, outputs)
        return checked

    return decorator


def _with_size_check(builder: Callable, name: str, min_input_size) -> Callable:
    signature = inspect.signature(builder)

    @functools.wraps(builder)
    def checked(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        minimum = min_input_size(**arguments) if callable(min_input_size) else min_input_size
        height, width = tuple(arguments["input_shape"])[:2]
        if min(height, width) < minimum:
            raise InputTooSmallError(
                f"{name} needs inputs of at least {minimum}x{minimum} pixels, got {height}x{width}: "
                f"a smaller input would shrink a feature map below 1x1. Upsample the images "
                f"(keras.layers.Resizing) or choose an architecture made for small inputs."
            )
        return builder(*args, **kwargs)

    checked.min_input_size = min_input_size
    return checked


def register_search_space(*names: str):
    """Decorator declaring a keras-tuner search space: ``space(hp) -> dict`` of builder keyword
    arguments drawn from ``hp`` (a ``keras_tuner.HyperParameters``, used only through its
    methods, so this package never imports keras-tuner). Each name is a family, which covers all
    its architectures, or one architecture, which takes precedence over its family's space."""

    def decorator(space: Callable) -> Callable:
        for name in names:
            if name in _search_spaces:
                raise ValueError(f"search space for {name!r} is registered twice")
            _search_spaces[name] = space
        return space

    return decorator


def search_space(name: str) -> Callable:
    """The search space for architecture ``name``: its own, or else its family's."""
    family = entry(name).family
    for key in (name, family):
        if key in _search_spaces:
            return _search_spaces[key]
    raise LookupError(f"architecture {name!r} (family {family!r}) declares no search space; "
                      f"add one with @register_search_space({family!r}) next to its builder")


def search_spaces() -> dict[str, Callable]:
    """Every declared search space, by the family or architecture name it was declared for."""
    _load_builders()
    return dict(_search_spaces)


def min_input_size(name: str, **kwargs) -> int:
    """The smallest input height/width the architecture accepts with these arguments (1 if any)."""
    minimum = getattr(get(name), "min_input_size", None)
    if callable(minimum):
        from architectures.classifier_keywords import ADDED_BY_REGISTRY  # they do not change the minimum

        builder_kwargs = {k: v for k, v in kwargs.items() if k not in ADDED_BY_REGISTRY}
        arguments = inspect.signature(get(name).__wrapped__).bind_partial(**builder_kwargs)
        arguments.apply_defaults()
        return minimum(**arguments.arguments)
    return minimum or 1


def _load_builders() -> None:
    global _builders_loaded
    if _builders_loaded:
        return
    for module in pkgutil.iter_modules([str(_PACKAGE_DIR)]):
        if module.name not in _NOT_BUILDER_MODULES:
            importlib.import_module(f"{_PACKAGE}.{module.name}")
    _builders_loaded = True


def _unknown(name: str, known: list[str]) -> UnknownArchitectureError:
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return UnknownArchitectureError(
        f"unknown architecture {name!r}.{hint} Run `keras-recipes list` to see all "
        f"{len(known)} architectures."
    )


def entry(name: str) -> Entry:
    _load_builders()
    if name not in _entries:
        raise _unknown(name, sorted(_entries))
    return _entries[name]


def get(name: str) -> Callable:
    """The builder function registered as ``name``."""
    return entry(name).builder


def names(pattern: str = "*", *, inputs: str | None = None, outputs: str | None = None) -> list[str]:
    """Sorted registered names matching a shell-style wildcard, e.g. ``"resnet*"``, optionally
    only those taking one kind of input (``inputs="tokens"``) or giving one kind of output."""
    _load_builders()
    return sorted(n for n, e in _entries.items()
                  if fnmatch.fnmatchcase(n, pattern) and inputs in (None, e.inputs) and outputs in (None, e.outputs))


def entries(pattern: str = "*", *, inputs: str | None = None, outputs: str | None = None) -> list[Entry]:
    return [entry(n) for n in names(pattern, inputs=inputs, outputs=outputs)]


def build(architecture: str, /, **kwargs):
    """Build a registered architecture; keyword arguments (``name`` included) go to its builder."""
    return get(architecture)(**kwargs)


def static_entries() -> list[Entry]:
    """Registered architectures read from the source, without importing any builder module."""
    found = []
    for path in sorted(_PACKAGE_DIR.glob("*.py")):
        if path.stem in _NOT_BUILDER_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and getattr(decorator.func, "id", None) == "register"
                ):
                    keywords = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords
                                if k.arg in ("family", "paper", "inputs", "outputs")}
                    docstring = ast.get_docstring(node) or ""
                    found.append(
                        Entry(
                            name=ast.literal_eval(decorator.args[0]),
                            family=keywords["family"],
                            paper=keywords.get("paper", ""),
                            summary=docstring.splitlines()[0] if docstring else "",
                            inputs=keywords.get("inputs", "image"),
                            outputs=keywords.get("outputs", "classes"),
                        )
                    )
    return sorted(found, key=lambda e: e.name)
