"""Data generated from a seed: the TensorFlow playground's 2-D sets, shapes on textured
backgrounds for segmentation, bit streams labelled with their running parity, addition problems,
and 1-D functions to fit.

Each generator documents what it draws; the same seed gives the same data on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from recipes.data.pipeline import RawData
from recipes.errors import ConfigError, UnknownNameError

TOY_TRAIN_SIZE = 1000
TOY_TEST_SIZE = 1000
TOY_TEST_SEED = 12345


# --- the TensorFlow playground's 2-D sets -------------------------------------------------------

def two_spirals(n, rng, noise=0.25):
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    labels = rng.integers(0, 2, n)
    angle = t + np.pi * labels
    points = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / np.pi
    return points + rng.normal(0, noise, points.shape), labels


def circles(n, rng, noise=0.1):
    labels = rng.integers(0, 2, n)
    radius = np.where(labels == 0, rng.uniform(0, 0.5, n), rng.uniform(0.7, 1.0, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return points + rng.normal(0, noise, points.shape), labels


def moons(n, rng, noise=0.15):
    labels = rng.integers(0, 2, n)
    angle = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    points = np.where(labels[:, None] == 0, upper, lower)
    return points + rng.normal(0, noise, points.shape), labels


def xor(n, rng, noise=0.1):
    points = rng.uniform(-1, 1, (n, 2))
    labels = (points[:, 0] * points[:, 1] < 0).astype(int)
    return points + rng.normal(0, noise, points.shape), labels


TOYS = {"spirals": two_spirals, "circles": circles, "moons": moons, "xor": xor}


def toy_loader(generate: Callable) -> Callable[..., RawData]:
    """A loader for one playground set: the training points from ``seed``, the test points always
    from ``TOY_TEST_SEED``."""

    def load_toy(data_dir=None, download=True, seed=0) -> RawData:
        if seed == TOY_TEST_SEED:  # the training points would be the test points
            raise ConfigError(f"seed {TOY_TEST_SEED} draws the playground sets' test points, so training on it "
                              f"would test on the training data; choose another seed. Received: seed={seed}")
        x_train, y_train = generate(TOY_TRAIN_SIZE, np.random.default_rng(seed))
        x_test, y_test = generate(TOY_TEST_SIZE, np.random.default_rng(TOY_TEST_SEED))
        return RawData(x_train.astype(np.float32), y_train.astype(np.int32),
                       x_test.astype(np.float32), y_test.astype(np.int32),
                       ("0", "1"), "features", None, f"generated ({generate.__name__})")

    return load_toy


# --- shapes on textured backgrounds (segmentation) ----------------------------------------------

SHAPE_CLASSES = ("background", "circle", "square", "triangle")


def shapes_images(count: int, *, size: int = 64, max_shapes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images (count, size, size, 3) uint8 and their labels (count, size, size) uint8.

    Each RGB image has a textured background (a random smooth colour gradient, two random stripe
    patterns and per-pixel noise) and 1 to ``max_shapes`` filled shapes (circle, square, triangle)
    of random size, position, rotation (triangles) and colour; later shapes cover earlier ones.
    Labels: 0 background, 1 circle, 2 square, 3 triangle (``SHAPE_CLASSES``).
    """
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((count, size, size, 3), np.uint8)
    labels = np.zeros((count, size, size), np.uint8)
    for index in range(count):
        image = _background(rng, rows, columns, size)
        for _ in range(rng.integers(1, max_shapes + 1)):
            shape = rng.integers(1, len(SHAPE_CLASSES))
            mask = _shape_mask(shape, rng, rows, columns, size)
            image[mask] = rng.uniform(0, 255, 3)
            labels[index][mask] = shape
        image += rng.normal(0, 12, image.shape)
        images[index] = np.clip(image, 0, 255).astype(np.uint8)
    return images, labels


def _background(rng, rows, columns, size) -> np.ndarray:
    start, end = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    angle = rng.uniform(0, np.pi)
    ramp = ((np.cos(angle) * columns + np.sin(angle) * rows) / (np.sqrt(2) * size))[..., None]
    image = start + (end - start) * ramp
    for _ in range(2):
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 16)
        phase = 2 * np.pi * (np.cos(angle) * columns + np.sin(angle) * rows) / period
        image = image + rng.uniform(10, 30) * np.sin(phase)[..., None]
    return image.astype(np.float32)


def _shape_mask(shape: int, rng, rows, columns, size) -> np.ndarray:
    radius = rng.uniform(0.08, 0.2) * size
    center_row, center_column = rng.uniform(radius, size - radius, 2)
    if SHAPE_CLASSES[shape] == "circle":
        return (rows - center_row) ** 2 + (columns - center_column) ** 2 <= radius**2
    if SHAPE_CLASSES[shape] == "square":
        return (np.abs(rows - center_row) <= radius * 0.8) & (np.abs(columns - center_column) <= radius * 0.8)
    angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2, 4]) * np.pi / 3
    corners = np.stack([center_row + radius * np.sin(angles), center_column + radius * np.cos(angles)], axis=1)
    inside = np.ones(rows.shape, bool)
    for (r0, c0), (r1, c1) in zip(corners, np.roll(corners, -1, axis=0)):
        inside &= (c1 - c0) * (rows - r0) - (r1 - r0) * (columns - c0) >= 0
    return inside


# --- bit streams and their running parity (tagging) ---------------------------------------------

def random_bits(count: int, length: int, seed: int) -> np.ndarray:
    """(count, length, 1) float32 zeros and ones."""
    return np.random.default_rng(seed).integers(0, 2, (count, length, 1)).astype(np.float32)


def parity_labels(bits: np.ndarray) -> np.ndarray:
    """Per step, 1 if an odd number of ones has been seen so far (this step included): (count, length)."""
    return (np.cumsum(np.asarray(bits).reshape(len(bits), -1), axis=1) % 2).astype(np.int32)


@dataclass(frozen=True)
class TaggedSequences:
    """A generated set of sequences with one label per step."""

    generate: Callable[[int, int, int], tuple[np.ndarray, np.ndarray]]  # (count, length, seed) -> (x, labels)
    class_names: tuple[str, ...]
    description: str


def _parity_sequences(count: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    bits = random_bits(count, length, seed)
    return bits, parity_labels(bits)


TAGGED_SEQUENCES = {"parity": TaggedSequences(_parity_sequences, ("even", "odd"), "random bits, running parity")}
SEGMENTATION_SETS = {"shapes": shapes_images}


def named(table: dict, name: str, what: str):
    """``table[name]``, or an ``UnknownNameError`` listing the names ``what`` knows."""
    if name not in table:
        raise UnknownNameError(f"unknown {what} dataset {name!r}; the {what} task knows {', '.join(sorted(table))}")
    return table[name]


# --- addition problems (encoder-decoder) --------------------------------------------------------

def addition_problems(count: int, digits: int = 3, *, seed: int = 0, exclude=frozenset()) -> list[tuple[int, int]]:
    """``count`` distinct (a, b) pairs with 1 to ``digits`` digits each, none of them in ``exclude``."""
    rng = np.random.default_rng(seed)
    found, seen = [], set(exclude)
    while len(found) < count:
        a, b = (int(rng.integers(0, 10 ** int(rng.integers(1, digits + 1)))) for _ in range(2))
        if (a, b) not in seen:
            seen.add((a, b))
            found.append((a, b))
    return found


# --- 1-D functions (function fitting) -----------------------------------------------------------

FUNCTIONS = {
    "sin": (np.sin, (-np.pi, np.pi)),
    "abs": (np.abs, (-1.0, 1.0)),
    "step": (lambda x: (x >= 0).astype(np.float64), (-1.0, 1.0)),
}


def target_function(name: str):
    """``(f, (low, high))`` for a named 1-D function."""
    if name not in FUNCTIONS:
        raise UnknownNameError(f"unknown function {name!r}; function_fit knows {', '.join(FUNCTIONS)}")
    return FUNCTIONS[name]
