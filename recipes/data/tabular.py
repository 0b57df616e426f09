"""Tables: a CSV file with a header row, or one of scikit-learn's bundled tables, as columns.

    >>> table = read_csv("patients.csv", target="outcome")
    >>> table.kinds        # {"age": "numeric", "city": "categorical", ...}

A column is numeric when its values parse as numbers and categorical otherwise; ``numeric=`` and
``categorical=`` say so where the guess would be wrong (a numeric column with a stray word in it
is reported, not guessed). The target's kind follows from its values: strings and integers are
classes, real values a regression target. Nothing is normalised here: the tabular task adapts
``Normalization`` and ``StringLookup`` layers on the training split, inside the model.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recipes.data.native import Labels, encoded, labels_of
from recipes.data.pipeline import Data, DatasetInfo, split_indices
from recipes.errors import DatasetNotFoundError, InputError

SKLEARN_TABLES = {"breast_cancer": "load_breast_cancer", "wine": "load_wine", "diabetes": "load_diabetes",
                  "iris": "load_iris"}
MAX_CLASSES_OF_INTEGERS = 50  # an integer target with more distinct values than this is a regression target


@dataclass(frozen=True)
class Table:
    """Feature columns by name (float32 for numeric, str for categorical), the target and where it came from."""

    columns: dict[str, np.ndarray]
    kinds: dict[str, str]  # column -> "numeric" | "categorical"
    target: np.ndarray
    target_name: str
    source: str


@dataclass
class TableData(Data):
    """Splits of a table, their inputs a dict of columns. ``input_names`` maps each column to its
    model input's name (letters, digits and underscores, as a signature needs)."""

    kinds: dict[str, str]
    input_names: dict[str, str]
    labels: Labels
    target_name: str


def input_name(column: str) -> str:
    """A column name as a model input name: ``"petal width (cm)"`` -> ``"petal_width_cm"``."""
    name = re.sub(r"[^0-9A-Za-z_]+", "_", column).strip("_") or "column"
    return f"c_{name}" if name[0].isdigit() else name


def read_csv(path, target: str, *, numeric=(), categorical=()) -> Table:
    """The columns of a CSV file with a header row; ``target`` names the label column."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such CSV file")
    with open(path, newline="", encoding="utf-8-sig") as stream:
        rows = list(csv.reader(stream))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise InputError(f"{path}: needs a header row and at least one row of values")
    header, body = [name.strip() for name in rows[0]], rows[1:]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(f"{path}, line {number}: {len(row)} values, but the header has {len(header)} columns "
                             f"({', '.join(header[:8])}{', ...' if len(header) > 8 else ''})")
    if target not in header:
        raise InputError(f"{path}: there is no column {target!r} to predict; its columns are {', '.join(header)}. "
                         f"Pass target=<column> (CLI: --target COLUMN)")
    for name in (*numeric, *categorical):
        if name not in header:
            raise InputError(f"{path}: numeric/categorical names a column {name!r} it does not have; "
                             f"its columns are {', '.join(header)}")
    cells = {name: [row[i].strip() for row in body] for i, name in enumerate(header)}
    kinds, columns = {}, {}
    for name in header:
        if name == target:
            continue
        kinds[name], columns[name] = _column(path, name, cells[name], name in numeric, name in categorical)
    return Table(columns, kinds, _target_values(cells[target]), target, f"CSV file {path}")


def _column(path, name, values, numeric: bool, categorical: bool):
    if categorical:
        return "categorical", np.array(values, dtype=str)
    parsed = [_number(value) for value in values]
    failed = [(row, value) for row, (value, number) in enumerate(zip(values, parsed), start=2) if number is None]
    if failed and (numeric or len(failed) <= 0.05 * len(values)):
        row, value = failed[0]
        raise InputError(f"{path}, line {row}, column {name!r}: {value!r} is not a number, and the column is "
                         f"{'declared' if numeric else 'otherwise'} numeric ({len(failed)} such value(s)). Fix the "
                         f"value(s), or pass categorical=({name!r},) to treat the column as categories")
    if failed:
        return "categorical", np.array(values, dtype=str)
    return "numeric", np.array(parsed, dtype=np.float32)


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if np.isfinite(number) else None


def _target_values(values: list[str]) -> np.ndarray:
    numbers = [_number(value) for value in values]
    if any(number is None for number in numbers):
        return np.array(values, dtype=str)
    array = np.array(numbers, dtype=np.float64)
    if np.all(np.mod(array, 1) == 0) and len(np.unique(array)) <= MAX_CLASSES_OF_INTEGERS:
        return array.astype(np.int64)
    return array


def sklearn_table(name: str) -> Table:
    """One of scikit-learn's bundled tables (no download): its features as numeric columns."""
    try:
        import sklearn.datasets
    except ImportError:
        raise DatasetNotFoundError(f"{name} ships inside scikit-learn, which is not installed: "
                                   "`pip install 'keras-recipes[datasets]'`") from None
    bunch = getattr(sklearn.datasets, SKLEARN_TABLES[name])()
    names = [str(feature) for feature in bunch.feature_names]
    columns = {column: bunch.data[:, i].astype(np.float32) for i, column in enumerate(names)}
    target = bunch.target
    if getattr(bunch, "target_names", None) is not None and target.dtype.kind in "iu":
        target = np.asarray(bunch.target_names)[target].astype(str)
    return Table(columns, {column: "numeric" for column in names}, target, "target",
                 f"scikit-learn {SKLEARN_TABLES[name]}")


def table_data(table: Table, *, regression: bool, batch_size: int = 128, validation_split: float = 0.1,
               test_split: float = 0.2, seed: int = 0, name: str = "table", train_limit=None) -> TableData:
    """A table's rows split by seed into train, validation and test, as ``(columns, label)`` pipelines."""
    import tensorflow as tf

    labels = Labels((), regression=True) if regression else labels_of(table.target, None)
    if regression and table.target.dtype.kind not in "iuf":
        raise InputError(f"the target {table.target_name!r} holds text, so it cannot be a regression target; "
                         f"use a classification recipe (tabular_mlp)")
    if not regression and table.target.dtype.kind == "f":
        raise InputError(f"the target {table.target_name!r} holds real values, so its rows are not classes; "
                         f"for a regression target use tabular_mlp_regression")
    y = encoded(table.target, labels)
    rest, test = split_indices(len(y), validation_split=test_split, seed=seed)
    train, validation = split_indices(len(rest), validation_split=validation_split / max(1e-9, 1 - test_split),
                                      seed=seed + 1, limit=train_limit)
    train, validation = rest[train], rest[validation]
    names = {column: input_name(column) for column in table.columns}
    if len(set(names.values())) != len(names):
        raise InputError(f"two columns give the same input name: {names}; rename one")
    if "_target" in names.values():
        raise InputError("a column may not be named '_target'")

    def part(index):
        return ({names[c]: values[index] for c, values in table.columns.items()}, y[index])

    arrays = {split: part(index) for split, index in (("train", train), ("validation", validation), ("test", test))
              if len(index)}

    def batches(split, shuffle=False):
        if split not in arrays:
            return None
        ds = tf.data.Dataset.from_tensor_slices(arrays[split])
        if shuffle:
            ds = ds.shuffle(len(arrays[split][1]), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    info = DatasetInfo(name=name, input_shape=(len(table.columns),), num_classes=len(labels.class_names),
                       class_names=labels.class_names, input_name="columns", value_range=None, source=table.source,
                       num_train=len(train), num_validation=len(validation), num_test=len(test))
    return TableData(train=batches("train", shuffle=True), validation=batches("validation"), test=batches("test"),
                     info=info, arrays=arrays, kinds=dict(table.kinds), input_names=names, labels=labels,
                     target_name=table.target_name)
