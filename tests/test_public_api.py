"""What a user imports: the names the README documents, tab completion, and the module paths of the
flat layout before the subpackages, which keep working with a note of where they moved."""

import subprocess
import sys
import warnings

import pytest

import recipes

# module path before the subpackages -> (a name the README documents there, its new home)
MOVED = [
    ("recipes.text", "generate_text", "recipes.tasks.language_model"),
    ("recipes.timeseries", "forecast", "recipes.tasks.forecasting"),
    ("recipes.segmentation", "shapes_images", "recipes.data.synthetic"),
    ("recipes.autoencoders", "PCA", "recipes.tasks.reconstruction"),
    ("recipes.gan", "frechet_distance", "recipes.tasks.gan"),
    ("recipes.config", "Recipe", "recipes.catalog"),
    ("recipes.runner", "run", "recipes.catalog._runner"),
    ("recipes.idx", "read_idx", "recipes.data.idx"),
    ("recipes.transfer", "fine_tune", "recipes.training.transfer"),
]


@pytest.mark.parametrize("old, name, new", MOVED)
def test_old_module_paths_still_import_and_say_where_things_moved(old, name, new):
    code = (f"import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            f"import recipes, importlib\n"
            f"try:\n    importlib.import_module({old!r})\n"
            f"except DeprecationWarning as w:\n    print(w)\n")
    said = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"{old} moved to" in said and new in said
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old_module = importlib.import_module(old)
    assert getattr(old_module, name) is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError, match=f"module '{old}' .* has no attribute 'no_such_name'"):
        old_module.no_such_name  # noqa: B018


def test_dir_shows_the_public_api_for_tab_completion():
    listed = dir(recipes)
    for name in ("run", "compile_and_fit", "export", "tune", "fine_tune", "classifier_for", "Recipe", "get",
                 "names", "with_overrides", "ConfigError", "data", "tasks", "training", "catalog", "tuning", "serve"):
        assert name in listed
    assert not [name for name in listed if name.startswith("_")]
    for name in recipes.__all__:
        assert getattr(recipes, name) is not None


def test_the_readme_python_example_names_resolve():
    from recipes import data

    assert callable(recipes.run) and callable(data.load) and callable(recipes.classifier_for)
    assert callable(recipes.compile_and_fit) and callable(recipes.export)
    from recipes.serve import Client, create_app  # noqa: F401
    from recipes.style_transfer import style_transfer  # noqa: F401
