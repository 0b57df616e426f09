"""One registry of architecture builders, looked up by name.

Builders register themselves with ``@register``. Importing this module is cheap: the builder
modules (which import Keras) are loaded on the first lookup, and ``static_entries`` reads the
``@register(...)`` decorators from source so a command-line listing never imports TensorFlow.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

_PACKAGE = "architectures"
_PACKAGE_DIR = Path(__file__).resolve().parent
_NOT_BUILDER_MODULES = {"registry", "blocks"}


class UnknownArchitectureError(LookupError):
    """Raised for a name that is not registered; the message lists close matches."""


@dataclass(frozen=True)
class Entry:
    name: str
    family: str
    paper: str
    summary: str
    builder: Callable | None = None


_entries: dict[str, Entry] = {}
_builders_loaded = False


def register(name: str, *, family: str, paper: str = ""):
    """Decorator that registers a builder under ``name``.

    ``name``, ``family`` and ``paper`` must be string literals: ``static_entries`` reads them
    from the source without importing Keras.
    """

    def decorator(builder: Callable) -> Callable:
        if name in _entries:
            raise ValueError(f"architecture {name!r} is registered twice")
        summary = (builder.__doc__ or "").strip().splitlines()[0] if builder.__doc__ else ""
        _entries[name] = Entry(name, family, paper, summary, builder)
        return builder

    return decorator


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


def names(pattern: str = "*") -> list[str]:
    """Sorted registered names matching a shell-style wildcard, e.g. ``"resnet*"``."""
    _load_builders()
    return sorted(n for n in _entries if fnmatch.fnmatchcase(n, pattern))


def entries(pattern: str = "*") -> list[Entry]:
    return [entry(n) for n in names(pattern)]


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
                    keywords = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords}
                    docstring = ast.get_docstring(node) or ""
                    found.append(
                        Entry(
                            name=ast.literal_eval(decorator.args[0]),
                            family=keywords["family"],
                            paper=keywords.get("paper", ""),
                            summary=docstring.splitlines()[0] if docstring else "",
                        )
                    )
    return sorted(found, key=lambda e: e.name)
