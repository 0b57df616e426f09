"""The ``Task`` contract and the registry of tasks by name.

Tasks live one per module in this package and register themselves with ``@register_task``; the
registry imports every module here on the first lookup, so a new task needs no list to edit.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from recipes.errors import ConfigError, UnknownNameError

_PACKAGE = "recipes.tasks"
_tasks: dict[str, "Task"] = {}
_discovered = False


@dataclass(frozen=True)
class RunContext:
    """What a task's ``evaluate`` may use beyond the trained model: where the run writes, where
    data comes from, and ``train_recipe(name)``, which trains another named recipe (without
    exporting it) and returns its model. ``recipes.run`` provides it; tasks never import it."""

    run_dir: Path
    data_dir: object = None
    download: bool = True
    train_recipe: Callable[[str], object] | None = None


@dataclass(frozen=True)
class UserData:
    """A user's own data for a recipe, and how to read it: ``source`` is anything
    ``recipes.data.as_data`` takes, or a CSV file; ``target`` names a CSV file's label column;
    ``image_size``, ``color_mode`` and ``bad_files`` apply to a folder of images (None: the
    recipe's own input size and channels)."""

    source: object
    target: str | None = None
    image_size: tuple[int, int] | None = None
    color_mode: str | None = None
    bad_files: str = "stop"


class Task:
    """What differs between kinds of recipe: how data loads, how the trainable model wraps the
    registered builder, what is measured beyond ``model.evaluate``, and what the export serves.

    Subclass it, set ``name``, and decorate with ``@register_task``. Its options are the
    dataclass registered for ``name`` in ``recipes.tasks.options`` (``recipe.task_options``).
    """

    name = ""

    def load(self, recipe, *, data_dir=None, download=True):
        """A ``recipes.data.Data`` (or a subclass carrying what this task needs besides)."""
        raise NotImplementedError

    def load_user_data(self, recipe, user: UserData):
        """The user's own data, prepared as ``load`` prepares the recipe's dataset."""
        raise ConfigError(f"recipe {recipe.name!r} ({self.name} task) trains on its own dataset ({recipe.dataset}); "
                          f"your own data works with the classification recipes (e.g. fashion_mnist_cnn)")

    def build(self, recipe, data):
        """The trainable ``keras.Model`` for ``data``."""
        raise NotImplementedError

    def compile_options(self, recipe, data) -> dict:
        """Further ``model.compile`` keywords that depend on the data, such as ``loss_weights``, or a
        ``loss`` object of the task's own, which replaces the recipe's ``loss`` name."""
        return {}

    def evaluate(self, recipe, model, data, context: RunContext) -> tuple[dict, list[Path]]:
        """Metrics beyond ``model.evaluate`` on the test split, and plots written under ``context.run_dir``."""
        return {}, []

    def export(self, recipe, model, data, *, export_dir, metadata: dict, name: str) -> Path:
        """Write the served model as the next version of ``name`` under ``export_dir``."""
        raise NotImplementedError


def register_task(task_class):
    if task_class.name in _tasks:
        raise ValueError(f"task {task_class.name!r} is registered twice")
    _tasks[task_class.name] = task_class()
    return task_class


def _discover() -> None:
    global _discovered
    if not _discovered:
        package = importlib.import_module(_PACKAGE)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_") and module.name != "options":
                importlib.import_module(f"{_PACKAGE}.{module.name}")
        _discovered = True


def names() -> list[str]:
    _discover()
    return sorted(_tasks)


def get(name: str) -> Task:
    if name not in _tasks:
        _discover()
    if name not in _tasks:
        close = difflib.get_close_matches(name, list(_tasks), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"unknown task {name!r}.{hint} Known tasks: {', '.join(sorted(_tasks))}.")
    return _tasks[name]
