"""The named recipes: the ``Recipe`` config and its registry, and one module per family
(``vision``, ``playground``, ``text``, ``series``, ``generative``, ``control``), each registering its recipes.

    >>> recipes.catalog.names("fashion*")[:2]
    ['fashion_mnist_autoencoder', 'fashion_mnist_cnn']

Importing this package registers every recipe and imports no Keras. ``recipes.run`` trains one.
"""

import importlib
import pkgutil

from recipes.catalog._recipe import Recipe, get, names, parse_assignment, register_recipe, with_overrides

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Recipe", "get", "names", "parse_assignment", "register_recipe", "with_overrides"]
