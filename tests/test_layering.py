"""The house's dependency rule, read from the source with ``ast``: data flows one way, and so do
imports. A module may import its own layer and the layers below it, never one above."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A package not listed here is a layer of its own that nothing may import.
LAYERS = [
    ("recipes.errors", "recipes.tables", "recipes.logs", "recipes.saved_models"),  # leaves: every layer may use them
    ("recipes.data",),
    ("architectures",),
    ("callbacks",),
    ("recipes.tasks",),
    ("recipes.training",),
    ("recipes.catalog",),
    ("recipes.tuning", "recipes.inference", "recipes.style_transfer"),
    ("recipes.cli", "recipes._moved", "recipes"),
]
# Stricter than the order: what each package may import of the library at all.
ONLY = {
    "architectures": ("architectures",),
    "callbacks": ("callbacks",),
    "recipes.saved_models": ("recipes.saved_models", "recipes.errors"),
    "recipes.serve": ("recipes.serve", "recipes.errors", "recipes.saved_models"),
}
LIBRARY = ("architectures", "callbacks", "recipes")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, source: str) -> list[tuple[int, str]]:
    """Every library module ``path`` imports, at any depth of the file (function-local imports too)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}" if base else alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in LIBRARY]


def _owner(name: str, table) -> str | None:
    """The longest prefix of ``name`` that ``table`` lists (``recipes.tasks.gan`` -> ``recipes.tasks``)."""
    candidates = [key for key in table if name == key or name.startswith(key + ".")]
    return max(candidates, key=len) if candidates else None


RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
SOURCES = sorted(p for package in LIBRARY for p in (ROOT / package).rglob("*.py"))


def _violations(path: Path, source: str | None = None) -> list[str]:
    importer = _module_name(path)
    importer_layer = _owner(importer, RANK)
    allowed_only = ONLY.get(_owner(importer, ONLY) or "")
    problems = []
    for line, imported in _imports(path, path.read_text() if source is None else source):
        if allowed_only is not None and not any(imported == a or imported.startswith(a + ".") for a in allowed_only):
            problems.append(f"{path.relative_to(ROOT)}:{line} imports {imported}; it may import only {allowed_only}")
            continue
        imported_layer = _owner(imported, RANK)
        if imported_layer is None or importer_layer is None:
            continue
        if RANK[imported_layer] > RANK[importer_layer]:
            problems.append(f"{path.relative_to(ROOT)}:{line} ({importer_layer}) imports {imported} "
                            f"({imported_layer}), a higher layer")
    return problems


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_higher_layer(path):
    assert _violations(path) == []


def test_every_library_module_has_a_layer():
    unplaced = [_module_name(p) for p in SOURCES if _owner(_module_name(p), RANK) is None
                and _owner(_module_name(p), ONLY) is None]
    assert unplaced == []


@pytest.mark.parametrize("module, source, problem", [
    ("recipes/data/probe.py", "from recipes.training import compile_and_fit",
     "(recipes.data) imports recipes.training.compile_and_fit (recipes.training), a higher layer"),
    ("recipes/tasks/probe.py", "def later():\n    import recipes\n    return recipes.run",
     "(recipes.tasks) imports recipes (recipes), a higher layer"),
    ("recipes/data/probe.py", "from ..catalog import get",
     "(recipes.data) imports recipes.catalog.get (recipes.catalog), a higher layer"),
    ("architectures/probe.py", "from recipes.errors import ConfigError",
     "imports recipes.errors.ConfigError; it may import only ('architectures',)"),
    ("callbacks/probe.py", "import architectures", "imports architectures; it may import only ('callbacks',)"),
    ("recipes/serve/probe.py", "from recipes.data import load", "it may import only"),
])
def test_the_check_catches_what_the_rule_forbids(module, source, problem):
    (found,) = _violations(ROOT / module, source)
    assert found.startswith(f"{module}:") and problem in found
