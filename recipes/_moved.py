"""Old module paths of the flat layout (before the subpackages), kept importable.

``import recipes.text`` or ``from recipes.timeseries import forecast`` still work: a finder on
``sys.meta_path`` answers for the old names with a module that looks each attribute up in the
modules that now hold it, and says once where it moved (``DeprecationWarning``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

MOVED = {
    "recipes.config": ("recipes.catalog",),
    "recipes.runner": ("recipes.catalog._runner", "recipes.tasks.classification"),
    "recipes.idx": ("recipes.data.idx",),
    "recipes.text": ("recipes.tasks.text_classification", "recipes.tasks.language_model", "recipes.tasks.seq2seq",
                     "recipes.data.text", "recipes.data.synthetic"),
    "recipes.timeseries": ("recipes.tasks.forecasting", "recipes.tasks.tagging", "recipes.data.series",
                           "recipes.data.synthetic"),
    "recipes.function_fit": ("recipes.tasks.function_fit", "recipes.data.synthetic"),
    "recipes.super_resolution": ("recipes.tasks.super_resolution",),
    "recipes.segmentation": ("recipes.tasks.segmentation", "recipes.data.synthetic"),
    "recipes.autoencoders": ("recipes.tasks.reconstruction", "recipes.tasks.vae"),
    "recipes.gan": ("recipes.tasks.gan",),
    "recipes.pictures": ("callbacks.pictures",),
    "recipes.transfer": ("recipes.training.transfer",),
}


class _MovedModule(types.ModuleType):
    def __getattr__(self, name):
        for target in self.__moved_to__:
            module = importlib.import_module(target)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {self.__name__!r} (now {', '.join(self.__moved_to__)}) has no attribute {name!r}")

    def __dir__(self):
        return sorted({name for target in self.__moved_to__ for name in dir(importlib.import_module(target))})


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = _MovedModule(spec.name, f"Moved to {', '.join(MOVED[spec.name])}.")
        module.__moved_to__ = MOVED[spec.name]
        return module

    def exec_module(self, module):
        warnings.warn(f"{module.__name__} moved to {', '.join(module.__moved_to__)}; import it from there",
                      DeprecationWarning, stacklevel=3)


def install() -> None:
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
