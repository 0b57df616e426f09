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
import math
import numbers
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


# The normalizations a conv builder's ``norm`` takes (``architectures.blocks.normalization``).
NORMS = ("batch", "batch_renorm", "layer", "instance", "group", None)

INPUT_KINDS = ("image", "features", "tokens", "token_pairs", "vector", "latent")
OUTPUT_KINDS = ("classes", "image", "class_map", "values", "policy", "detections")


class KeywordError(ValueError):
    """A builder keyword of the wrong type or out of range. ``builder``, ``keyword``, ``value`` and
    ``requirement`` (what is allowed, e.g. "a number of at least 0 and below 1") say which."""

    def __init__(self, builder: str, keyword: str, value, requirement: str, hint: str = ""):
        self.builder, self.keyword, self.value, self.requirement, self.hint = builder, keyword, value, requirement, hint
        super().__init__(f"{builder}: {keyword} must be {requirement}, got {value!r}" + (f"; {hint}" if hint else ""))


class UnknownKeywordError(TypeError):
    """A keyword the builder does not take; ``valid`` lists those it does."""

    def __init__(self, builder: str, keyword: str, valid: tuple[str, ...]):
        self.builder, self.keyword, self.valid = builder, keyword, valid
        close = difflib.get_close_matches(keyword, valid, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        super().__init__(f"{builder} takes no keyword {keyword!r}.{hint} It takes: {', '.join(valid)}")


def require_integer_at_least(builder: str, argument: str, value, minimum: int, hint: str) -> None:
    """A builder's integer argument out of range fails with what it needs, before any layer is made."""
    if not _is_integer(value) or value < minimum:
        raise KeywordError(builder, argument, value, f"an integer of at least {minimum}", hint)


# What every builder keyword of a given name accepts, checked (without Keras) before any layer is
# made: by ``register`` for every call of a builder, and by ``check_keywords`` for a recipe's
# ``architecture_kwargs`` before its data loads. A key ``"builder.keyword"`` overrides
# ``"keyword"`` for that builder. Choices that differ between builders (``pooling``, ``encoder``,
# ``kind``, ...) are checked by the builders themselves.

def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class KeywordRule:
    requirement: str
    accepts: Callable[[object], bool]
    hint: str = ""
    choices: tuple = ()


def _choice(*choices) -> KeywordRule:
    return KeywordRule(f"one of {', '.join(map(str, choices))}", lambda value: value in choices, choices=choices)


def _integer(minimum: int = 1, *, optional: bool = False, several: bool = False, hint: str = "") -> KeywordRule:
    def one(value) -> bool:
        return _is_integer(value) and value >= minimum

    def accepts(value) -> bool:
        if value is None:
            return optional
        if several and isinstance(value, (tuple, list)):
            return bool(value) and all(one(v) for v in value)
        return one(value)

    requirement = f"an integer of at least {minimum}" + (", or a non-empty list of them" if several else "")
    return KeywordRule(f"None or {requirement}" if optional else requirement, accepts, hint)


def _number(*, below: float | None = None, optional: bool = False, hint: str = "") -> KeywordRule:
    def accepts(value) -> bool:
        if value is None:
            return optional
        return _is_number(value) and value >= 0 and (below is None or value < below)

    requirement = "a number of at least 0" + (f" and below {below}" if below is not None else "")
    return KeywordRule(f"None or {requirement}" if optional else requirement, accepts, hint)


# keras.activations' names (Keras 3), so that a typo fails before the data loads.
KERAS_ACTIVATIONS = (
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid",
    "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax",
    "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
)


def _activation(*, optional: bool) -> KeywordRule:
    def accepts(value) -> bool:
        return (value is None and optional) or callable(value) or value in KERAS_ACTIVATIONS

    requirement = "the name of a Keras activation (relu, gelu, tanh, sigmoid, softmax, ...) or a function"
    return KeywordRule(f"None (logits) or {requirement}" if optional else requirement, accepts)


_FRACTION = _number(below=1, hint="it is the fraction of units dropped while training")
_BOOLEAN = KeywordRule("True or False", lambda value: isinstance(value, bool))
_SIZE = _integer(1)
_SIZES = _integer(1, several=True)

KEYWORD_RULES: dict[str, KeywordRule] = {
    "activation": _activation(optional=False),
    "mlp.activation": _choice("relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid"),
    "classifier_activation": _activation(optional=True),
    **dict.fromkeys(("dropout", "recurrent_dropout", "head_dropout"), _FRACTION),
    **dict.fromkeys(("l1", "l2", "noise_stddev", "beta"), _number()),
    **dict.fromkeys(("aux_heads", "batch_norm", "bidirectional", "conv_bias", "include_top", "preact"), _BOOLEAN),
    **dict.fromkeys(("units", "dense_units", "fc_units", "embedding_dim", "heads", "mlp_dim", "depth", "max_length",
                     "patch_size", "width", "vocabulary_size", "source_vocabulary_size", "horizon", "outputs"), _SIZE),
    **dict.fromkeys(("filters", "hidden_units", "kernel_size", "kernel_sizes"), _SIZES),
    **dict.fromkeys(("num_classes", "targets", "se_ratio"), _integer(1, optional=True)),
    "norm": _choice(*NORMS),
    "seed": _integer(0, optional=True),
    "code_size": _integer(1, hint="32 numbers per image is the recipes' default"),
    "latent_dim": _integer(1, hint="64 is the recipes' default"),
    "vae.latent_dim": _integer(1, hint="2 gives a latent map you can plot"),
    "upscale": _integer(2, hint="2 doubles the height and width"),
}


def check_values(builder: str, arguments: dict) -> None:
    """Raise ``KeywordError`` for the first argument that ``KEYWORD_RULES`` does not accept."""
    for keyword, value in arguments.items():
        rule = KEYWORD_RULES.get(f"{builder}.{keyword}") or KEYWORD_RULES.get(keyword)
        if rule is not None and not rule.accepts(value):
            raise KeywordError(builder, keyword, value, rule.requirement, rule.hint)


def check_keywords(architecture: str, keywords: dict) -> None:
    """Check a builder's keyword arguments without building it or importing Keras: an unknown
    architecture raises ``UnknownArchitectureError``, a keyword it does not take
    ``UnknownKeywordError``, a value of the wrong type or out of range ``KeywordError``."""
    valid = builder_keywords(architecture)
    if valid is not None:
        for keyword in keywords:
            if keyword not in valid:
                raise UnknownKeywordError(architecture, keyword, valid)
    check_values(architecture, keywords)


# keras.applications' keywords that ``classifier_builder`` adds to every classifier builder
# (``architectures.classifier_keywords.ADDED_BY_REGISTRY``, which imports Keras).
_ADDED_TO_CLASSIFIERS = ("weights", "input_tensor", "classes")


def builder_keywords(architecture: str) -> tuple[str, ...] | None:
    """The keywords ``architecture``'s builder takes (None: any, it has ``**kwargs``), read from its
    source when its module is not loaded yet, so that this imports no Keras."""
    if architecture in _entries:
        parameters = inspect.signature(_entries[architecture].builder).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            return None
        return tuple(p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL)
    signatures = _static_signatures()
    if architecture not in signatures:
        raise _unknown(architecture, sorted({*signatures, *_entries}))
    return signatures[architecture]


@functools.lru_cache(maxsize=1)
def _static_signatures() -> dict[str, tuple[str, ...] | None]:
    found = {}
    for node, arguments in _registered_functions():
        parameters = node.args
        names = tuple(a.arg for a in (*parameters.posonlyargs, *parameters.args, *parameters.kwonlyargs))
        if arguments.get("outputs", "classes") == "classes":
            names += _ADDED_TO_CLASSIFIERS
        found[arguments["name"]] = None if parameters.kwarg is not None else names
    return found


def _registered_functions():
    """(function node, the literal arguments of its ``@register(...)``) for every builder in the package's source."""
    for path in sorted(_PACKAGE_DIR.glob("*.py")):
        if path.stem in _NOT_BUILDER_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "register":
                    arguments = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords
                                 if k.arg in ("family", "paper", "inputs", "outputs")}
                    yield node, {"name": ast.literal_eval(decorator.args[0]), **arguments}


def register(name: str, *, family: str, paper: str = "", inputs: str = "image", outputs: str = "classes",
             min_input_size=None):
    """Decorator that registers a builder under ``name``.

    ``name``, ``family``, ``paper`` and ``inputs`` must be string literals: ``static_entries``
    reads them from the source without importing Keras. ``inputs`` says what the model takes:
    ``image`` (height, width, channels), ``features`` (time, features) float sequences,
    ``tokens`` (time,) integer ids with 0 as padding, ``token_pairs`` (source and target ids),
    ``vector`` (features,) flat values, or ``latent`` (a generator's noise vector). ``outputs``
    says what it returns: ``classes`` (class scores), ``image``, ``class_map`` (class scores per
    pixel), ``values`` (regression), ``policy`` (``action_probabilities`` and a ``value``, the
    actor-critic's pair) or ``detections`` (box deltas and class logits per anchor).
    ``min_input_size`` (an int, or a function of the
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
        checked = _with_keyword_check(builder, name)
        if min_input_size is not None:
            checked = _with_size_check(checked, name, min_input_size)
        if outputs == "classes":
            from architectures.classifier_keywords import classifier_builder

            checked = classifier_builder(checked, name)
        summary = (builder.__doc__ or "").strip().splitlines()[0] if builder.__doc__ else ""
        _entries[name] = Entry(name, family, paper, summary, checked, inputs, outputs)
        return checked

    return decorator


def _with_keyword_check(builder: Callable, name: str) -> Callable:
    """``builder`` checking its arguments against ``KEYWORD_RULES`` first."""
    signature = inspect.signature(builder)

    @functools.wraps(builder)
    def checked(*args, **kwargs):
        try:
            arguments = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            return builder(*args, **kwargs)  # Python's own error for an unknown or doubled keyword
        check_values(name, arguments)
        return builder(*args, **kwargs)

    return checked


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
        from architectures.classifier_keywords import (
            ADDED_BY_REGISTRY,  # they do not change the minimum
        )

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
    for node, arguments in _registered_functions():
        docstring = ast.get_docstring(node) or ""
        found.append(Entry(
            name=arguments["name"],
            family=arguments["family"],
            paper=arguments.get("paper", ""),
            summary=docstring.splitlines()[0] if docstring else "",
            inputs=arguments.get("inputs", "image"),
            outputs=arguments.get("outputs", "classes"),
        ))
    return sorted(found, key=lambda e: e.name)
