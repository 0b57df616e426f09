"""Each task's options as a frozen dataclass whose defaults live here, once.

A recipe holds one (``Recipe.task_options``); a mapping given instead (from ``--set`` or your own
code) is checked against the task's fields, so a typo fails with the valid names instead of
being ignored. No Keras import: the catalog and ``keras-recipes list`` use these.

    >>> options_for("text_classification", {"sequence_length": 32})
    TextClassificationOptions(max_tokens=20000, sequence_length=32)
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from recipes.errors import ConfigError

_OPTIONS: dict[str, type] = {}


def task_options(*tasks: str):
    """Class decorator: the options dataclass of ``tasks``."""

    def register(options_class: type) -> type:
        for task in tasks:
            if task in _OPTIONS:
                raise ValueError(f"options for task {task!r} are declared twice")
            _OPTIONS[task] = options_class
        return options_class

    return register


@task_options("reconstruction", "vae")
@dataclass(frozen=True)
class NoOptions:
    """The task takes no options of its own."""


@task_options("classification")
@dataclass(frozen=True)
class ClassificationOptions:
    """Training and evaluation tricks of the fast-training work (airbench, hlb-CIFAR10), each off
    by default.

    ``label_smoothing``: the cross-entropy's targets give the true class ``1 - s + s / classes``
    and every other class ``s / classes`` (airbench: 0.2); works with the sparse and the one-hot
    categorical cross-entropy (``recipes.training.losses``).

    ``test_time_flip``: the test split is also predicted mirrored left-right, and the test
    ``accuracy`` reported (``result.test_metrics``, ``result.json``, the export's metadata) is
    that of the mean of the two predicted distributions; ``accuracy_without_flip`` is the
    single-view accuracy, which is what the exported model gives on its own. For images whose
    classes survive a mirror (clothes, CIFAR), not digits or text.

    ``test_time_shift``: airbench's second level of test-time augmentation: the reported accuracy
    is then that of half the above and half the same over the test images moved this many pixels
    up-left and down-right (zeros fill the border); 0 for none. ``accuracy_without_flip`` stays
    the single-view accuracy.

    ``whitening_init``: before training, the model's first ``Conv2D`` (the airbench builder's
    ``whiten`` layer) is set to whiten the patches of up to 5,000 training images and frozen
    (``callbacks.whitening``). It needs a stride-1, square-kernel first convolution.
    """

    label_smoothing: float = 0.0
    test_time_flip: bool = False
    test_time_shift: int = 0
    whitening_init: bool = False

    def __post_init__(self):
        if not isinstance(self.label_smoothing, (int, float)) or not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"task_options.label_smoothing must be a number of at least 0 and below 1; "
                              f"got {self.label_smoothing!r}")
        if not isinstance(self.test_time_shift, int) or isinstance(self.test_time_shift, bool) \
                or self.test_time_shift < 0:
            raise ConfigError(f"task_options.test_time_shift must be a whole number of at least 0 (pixels); "
                              f"got {self.test_time_shift!r}")


@task_options("text_classification")
@dataclass(frozen=True)
class TextClassificationOptions:
    max_tokens: int = 20000  # vocabulary size of the TextVectorization layer
    sequence_length: int = 64  # tokens kept per sentence; MR sentences have at most 59


@task_options("language_model")
@dataclass(frozen=True)
class LanguageModelOptions:
    """The corpus is cut into three contiguous parts, train | validation | test, in that order;
    windows never straddle a cut. Early stopping and checkpoints select on validation, so only
    the test part (the corpus's end) is untouched by training and model selection."""

    sequence_length: int = 100  # characters per training window
    validation_fraction: float = 0.1  # the part just before the test part, for model selection
    test_fraction: float = 0.1  # the end of the corpus, measured once after training

    def __post_init__(self):
        for name in ("validation_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name} must be above 0 and below 1. Received: {name}={getattr(self, name)}")
        if self.validation_fraction + self.test_fraction >= 1:
            raise ConfigError(f"validation_fraction + test_fraction must be below 1 to leave text to train on. "
                              f"Received: validation_fraction={self.validation_fraction}, "
                              f"test_fraction={self.test_fraction}")


@task_options("seq2seq")
@dataclass(frozen=True)
class Seq2SeqOptions:
    digits: int = 3  # the most digits of each operand
    num_train: int = 50000  # problems, the validation split included
    num_test: int = 5000  # held-out problems never seen in training


@task_options("forecast")
@dataclass(frozen=True)
class ForecastOptions:
    window: int = 24  # past steps the model sees
    horizon: int = 1  # steps it forecasts
    season: int | None = None  # the period of the seasonal-naive baseline (None: no such baseline)
    target_columns: tuple[int, ...] = (0,)  # which features are forecast
    test_split: float = 0.15  # the tail held out for testing; validation_split is the segment before it
    length: int | None = None  # the generated sine's length, period and noise (None: its defaults)
    period: float | None = None
    noise: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "target_columns", tuple(self.target_columns))
        if self.season is not None and self.season > self.window:
            raise ConfigError(f"the window ({self.window}) must cover at least one season ({self.season}) "
                              f"for the seasonal-naive baseline; lengthen the window or shorten the season")


@task_options("tagging")
@dataclass(frozen=True)
class TaggingOptions:
    length: int = 50  # steps per sequence
    num_train: int = 4000  # sequences, the validation split included
    num_test: int = 1000  # drawn with a fixed seed of their own


@task_options("function_fit")
@dataclass(frozen=True)
class FunctionFitOptions:
    train_points: int = 1000  # uniform at random over the interval, seeded
    test_points: int = 2001  # an even grid over the interval
    noise: float = 0.0  # Gaussian, on the training targets only


@task_options("super_resolution")
@dataclass(frozen=True)
class SuperResolutionOptions:
    upscale: int = 2  # the low-resolution inputs are upscale x upscale block averages


@task_options("segmentation")
@dataclass(frozen=True)
class SegmentationOptions:
    size: int = 64  # image height and width
    num_train: int = 4000
    num_test: int = 500
    max_shapes: int = 3  # shapes per image, at least one


@task_options("tabular")
@dataclass(frozen=True)
class TabularOptions:
    regression: bool = False  # a real-valued target (mean squared error) instead of classes
    wide: bool = True  # a linear path from the encoded columns to the output, added to the network's (Wide & Deep)
    weight_penalty: float = 4.0  # L2 on every kernel, summed over the training rows: each row's loss carries 1/rows of it
    test_split: float = 0.2  # rows held out for testing, by seed (validation_split is carved from the rest)
    numeric: tuple[str, ...] = ()  # columns to read as numbers whatever they look like
    categorical: tuple[str, ...] = ()  # columns to read as categories whatever they look like

    def __post_init__(self):
        object.__setattr__(self, "numeric", tuple(self.numeric))
        object.__setattr__(self, "categorical", tuple(self.categorical))
        if not 0 <= self.test_split < 1:
            raise ConfigError(f"test_split must be at least 0 and below 1. Received: test_split={self.test_split}")
        if not self.weight_penalty >= 0:
            raise ConfigError(f"weight_penalty must be at least 0 (0: none). Received: weight_penalty={self.weight_penalty}")


@task_options("gan")
@dataclass(frozen=True)
class GanOptions:
    feature_classifier: str | None = None  # a .keras classifier whose features measure the Fréchet distance
    feature_recipe: str = "fashion_mnist_cnn"  # trained once into the run folder when no classifier is given
    frechet_samples: int = 5000  # images in each set compared


@task_options("detection")
@dataclass(frozen=True)
class DetectionOptions:
    size: int = 96  # canvas height and width
    num_train: int = 3000
    num_test: int = 200  # the fixed test set, from its own seed and Fashion-MNIST's test items
    max_objects: int = 5  # items per image, at least one
    min_scale: int = 20  # an item's square is min_scale to max_scale pixels across
    max_scale: int = 48
    flip: bool = True  # mirror half the training images (and their boxes) left to right, each epoch
    score_threshold: float = 0.05  # detections scoring less are dropped before NMS
    nms_iou: float = 0.5  # NMS suppresses a box overlapping a better one of its class by more
    max_detections: int = 100  # per image, in the export and in mAP (COCO's maxDets)
    baseline: bool = True  # also train and measure the region-based baseline in evaluate
    baseline_epochs: int = 2  # of its window classifier
    baseline_architecture: str = "mnist_cnn"  # the registered classifier of its windows
    baseline_window_step: float = 1 / 3  # sliding-window stride as a fraction of the window size

    def __post_init__(self):
        if not 1 <= self.min_scale <= self.max_scale <= self.size:
            raise ConfigError(f"detection needs 1 <= min_scale <= max_scale <= size. Received: min_scale="
                              f"{self.min_scale}, max_scale={self.max_scale}, size={self.size}")
        if not 0 < self.nms_iou <= 1 or not 0 <= self.score_threshold < 1:
            raise ConfigError(f"nms_iou must be in (0, 1] and score_threshold in [0, 1). Received: nms_iou="
                              f"{self.nms_iou}, score_threshold={self.score_threshold}")


def options_class(task: str) -> type:
    """The options dataclass of ``task`` (``NoOptions`` for a task that declares none)."""
    return _OPTIONS.get(task, NoOptions)


def options_for(task: str, value=None):
    """``value`` as ``task``'s options: None gives the defaults, a mapping is checked field by field."""
    expected = options_class(task)
    if value is None:
        return expected()
    if isinstance(value, expected):
        return value
    if dataclasses.is_dataclass(value):
        raise ConfigError(f"task {task!r} takes {expected.__name__}, not {type(value).__name__}. "
                          f"Received: {value!r}")
    if not isinstance(value, Mapping):
        raise ConfigError(f"task options for {task!r} must be a {expected.__name__} or a mapping of its fields. "
                          f"Received: {value!r}")
    valid = [field.name for field in dataclasses.fields(expected)]
    unknown = [key for key in value if key not in valid]
    if unknown:
        close = difflib.get_close_matches(unknown[0], valid, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        takes = f"Valid options: {', '.join(valid)}." if valid else "It takes no options."
        raise ConfigError(f"unknown option {unknown[0]!r} for task {task!r}.{hint} {takes} "
                          f"Received: {dict(value)!r}")
    return expected(**value)


@task_options("reinforcement")
@dataclass(frozen=True)
class ReinforcementOptions:
    """Advantage actor-critic (A2C) on a Gymnasium environment (``recipes.tasks.reinforcement``).
    Each training step collects ``rollout_steps`` steps from each of ``num_envs`` copies of the
    environment and makes one update; an epoch is ``updates_per_epoch`` of them."""

    environment: str = "CartPole-v1"  # a Gymnasium id with a flat observation and discrete actions
    num_envs: int = 8  # environments stepped together (gymnasium's SyncVectorEnv)
    rollout_steps: int = 5  # n of the n-step returns: steps per environment between updates
    updates_per_epoch: int = 100
    discount: float = 0.99
    entropy_coefficient: float = 0.01  # the weight of the policy's entropy bonus
    value_coefficient: float = 0.5  # the weight of the value (critic) loss
    evaluation_episodes: int = 100  # episodes measured after training, greedy, sampled and random
    normalize_advantages: bool = False  # advantages rescaled to mean 0, variance 1 per update

    def __post_init__(self):
        for name in ("num_envs", "rollout_steps", "updates_per_epoch", "evaluation_episodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"task_options.{name} must be a whole number of at least 1. Received: {name}={value!r}")
        if not 0 <= self.discount <= 1:
            raise ConfigError(f"task_options.discount must be between 0 and 1. Received: discount={self.discount!r}")
        for name in ("entropy_coefficient", "value_coefficient"):
            if getattr(self, name) < 0:
                raise ConfigError(f"task_options.{name} must be at least 0. Received: {name}={getattr(self, name)!r}")
