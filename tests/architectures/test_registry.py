import subprocess
import sys

import pytest

import architectures


def test_names_supports_wildcards():
    assert {"linear", "mlp", "mnist_cnn"} <= set(architectures.names())
    assert architectures.names("ml*") == ["mlp"]
    assert architectures.names("no_such_*") == []


def test_unknown_name_lists_close_matches():
    with pytest.raises(architectures.UnknownArchitectureError, match=r"Did you mean: mlp\?.*keras-recipes list"):
        architectures.get("mpl")


def test_static_catalog_matches_runtime_registry():
    """`keras-recipes list` reads the decorators from source; it must agree with the registry."""
    static = {(e.name, e.family, e.paper, e.summary, e.inputs, e.outputs) for e in architectures.static_entries()}
    runtime = {(e.name, e.family, e.paper, e.summary, e.inputs, e.outputs) for e in architectures.entries()}
    assert static == runtime


def test_registering_a_name_twice_fails():
    with pytest.raises(ValueError, match="registered twice"):
        architectures.register("mlp", family="mlp")(lambda **kw: None)


def test_importing_the_packages_does_not_import_tensorflow():
    code = ("import sys, architectures, recipes; architectures.static_entries(); recipes.names(); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
