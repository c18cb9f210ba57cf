"""Data for training: scikit-learn's bundled datasets, CSV files, the train/test split, scaling.

Every table here is numeric: features X (N, D) as float64 and a target y (N,). Nothing is
downloaded; the bundled datasets are the ones scikit-learn ships inside its package, and
scikit-learn is imported only when one of them (or the split) is asked for.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arrays import Array

# name -> task; each is scikit-learn's ``load_<name>()``
BUNDLED = {
    "digits": "classification",
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "diabetes": "regression",
}
TASKS = ("classification", "regression")
# A target of whole numbers with at most this many distinct values is taken to be class labels.
MAX_CLASSES = 20


class DataError(ValueError):
    """A data file that cannot be used, with the place that is wrong (file, line, column)."""


@dataclass
class Dataset:
    """A table: features X (N, D) float64, target y (N,) float64, and their column names."""

    name: str
    X: Array
    y: Array
    feature_names: list[str]
    target_name: str
    class_names: list[str] = field(default_factory=list)


def load_bundled(name: str) -> Dataset:
    """One of scikit-learn's bundled datasets (``BUNDLED``), read from its package."""
    if name not in BUNDLED:
        raise DataError(f"unknown dataset {name!r}; bundled: {', '.join(BUNDLED)}")
    try:
        from sklearn import datasets
    except ImportError:
        raise DataError(
            f"the bundled dataset {name!r} comes with scikit-learn, which is not installed: "
            "pip install 'backprop-by-hand[data]'"
        ) from None
    bunch: Any = getattr(datasets, f"load_{name}")()
    names = getattr(bunch, "target_names", None)
    return Dataset(
        name,
        np.asarray(bunch.data, dtype=np.float64),
        np.asarray(bunch.target, dtype=np.float64),
        [str(f) for f in bunch.feature_names],
        "target",
        [str(c) for c in names] if names is not None else [],
    )


def _number(
    path: str, line: int, column: int, name: str, cell: str, dtype: np.dtype[Any] | None = None
) -> float:
    where = f"{path}: line {line}, column {column} ({name!r})"
    text = cell.strip()
    if not text:
        raise DataError(f"{where} is empty")
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {cell!r} is not a finite number")
    # compared as Python floats: a NumPy float32 on one side would cast (and overflow) the other
    if dtype is not None and abs(value) > float(np.finfo(dtype).max):
        raise DataError(
            f"{where}: {cell.strip()} overflows {dtype.name} (largest {np.finfo(dtype).max:g})"
        )
    return value


def read_table(
    path: str | os.PathLike[str], skip: Collection[str] = (), dtype: Any = None
) -> tuple[list[str], Array]:
    """A CSV file with a header row and numeric cells: (column names, values (N, columns)).

    skip: columns whose cells are not read (their values are NaN). dtype: a float type every
    cell must fit in (a cell that would overflow it to inf is refused, naming its place).

    Every row must have as many cells as the header; every cell must be a finite number. The
    first cell that is not is named by its line (the header is line 1) and column. Blank lines
    are skipped.
    """
    name = os.fspath(path)
    try:
        f = open(name, newline="", encoding="utf-8-sig")  # noqa: SIM115
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except OSError as e:
        raise DataError(f"{name}: cannot read: {e.strerror or e}") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next((row for row in reader if row), None)
            if header is None:
                raise DataError(f"{name}: the file is empty; expected a header row")
            header = [h.strip() for h in header]
            for j, h in enumerate(header):
                if not h:
                    raise DataError(f"{name}: line 1, column {j + 1} of the header is empty")
                if h in header[:j]:
                    raise DataError(f"{name}: line 1: column name {h!r} appears twice")
            width = len(header)
            skipped = [h in skip for h in header]
            fit = None if dtype is None else np.dtype(dtype)
            rows: list[list[float]] = []
            for row in reader:
                if not row:
                    continue
                line = reader.line_num
                if len(row) != width:
                    raise DataError(
                        f"{name}: line {line} has {len(row)} columns, the header has {width}"
                    )
                rows.append(
                    [
                        math.nan if skipped[j] else _number(name, line, j + 1, header[j], cell, fit)
                        for j, cell in enumerate(row)
                    ]
                )
        except UnicodeDecodeError:
            raise DataError(f"{name}: not a text file (not UTF-8)") from None
        except csv.Error as e:
            raise DataError(f"{name}: line {reader.line_num}: {e}") from None
    if not rows:
        raise DataError(f"{name}: no data rows after the header")
    return header, np.array(rows, dtype=np.float64)


def read_csv(path: str | os.PathLike[str], target: str | None = None) -> Dataset:
    """A CSV file as a Dataset: ``target`` names the target column (default: the last one);
    every other column is a feature."""
    name = os.fspath(path)
    header, values = read_table(name)
    if len(header) < 2:
        raise DataError(f"{name}: needs at least two columns (features and a target)")
    if target is None:
        t = len(header) - 1
    elif target in header:
        t = header.index(target)
    else:
        raise DataError(f"{name}: no column named {target!r}; columns: {', '.join(header)}")
    features = [j for j in range(len(header)) if j != t]
    return Dataset(
        os.path.basename(name),
        values[:, features],
        values[:, t],
        [header[j] for j in features],
        header[t],
    )


def read_features(
    path: str | os.PathLike[str],
    feature_names: list[str],
    target_name: str | None = None,
    dtype: Any = None,
) -> Array:
    """The feature columns of a CSV file (N, D), in the order of ``feature_names``.

    Columns are matched by their header names, so their order in the file does not matter;
    the target column, if present, is ignored (its cells are not read: they may be empty);
    any other column is refused. dtype: the model's, which every feature must fit in.
    """
    name = os.fspath(path)
    skip = [] if target_name is None or target_name in feature_names else [target_name]
    header, values = read_table(name, skip, dtype)
    for j, h in enumerate(header):
        if h not in feature_names and h != target_name:
            raise DataError(
                f"{name}: line 1, column {j + 1} ({h!r}) is not one of the model's "
                f"{len(feature_names)} features"
            )
    missing = [f for f in feature_names if f not in header]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DataError(f"{name}: no column {missing[0]!r}{more}; the model needs every feature")
    return values[:, [header.index(f) for f in feature_names]]


def infer_task(y: Array) -> str:
    """ "classification" if every target is a whole number and there are 2 to ``MAX_CLASSES``
    distinct values, else "regression"."""
    whole = bool(np.all(y == np.round(y)))
    return "classification" if whole and 2 <= len(np.unique(y)) <= MAX_CLASSES else "regression"


def encode_labels(y: Array) -> tuple[Array, Array]:
    """(classes, labels): the distinct target values, sorted, and each target's index in them
    (int64), the form ``CrossEntropyLoss`` takes."""
    classes, labels = np.unique(y, return_inverse=True)
    return classes, labels.astype(np.int64)


def split(
    X: Array, y: Array, test_size: float, seed: int, stratify: bool
) -> tuple[Array, Array, Array, Array]:
    """X_train, X_test, y_train, y_test: scikit-learn's ``train_test_split(X, y,
    test_size=test_size, random_state=seed, stratify=y if stratify else None)``, so the same
    seed gives the same split as scikit-learn."""
    try:
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DataError(
            "the train/test split comes from scikit-learn, which is not installed: "
            "pip install 'backprop-by-hand[data]'"
        ) from None
    try:
        parts = train_test_split(
            X, y, test_size=test_size, random_state=seed, stratify=y if stratify else None
        )
    except ValueError as e:
        raise DataError(f"cannot split {len(y)} rows with test size {test_size}: {e}") from None
    X_train, X_test, y_train, y_test = parts
    return X_train, X_test, y_train, y_test


@dataclass
class Prepared:
    """A dataset split and scaled, ready for ``fit``.

    X_train, X_test: standardised features. y_train, y_test: class indices (int64) into
    ``classes`` for classification; for regression, the target standardised by
    ``target_scaler``.
    """

    task: str
    X_train: Array
    X_test: Array
    y_train: Array
    y_test: Array
    classes: Array
    scaler: Scaler
    target_scaler: Scaler | None


def prepare(
    data: Dataset,
    task: str | None,
    test_size: float,
    seed: int,
    scaler: Scaler | None = None,
    target_scaler: Scaler | None = None,
    pooled: bool = False,
) -> Prepared:
    """Split ``data`` (stratified for classification, see ``split``), then standardise with the
    training rows' statistics, or with the scalers given (those of a checkpoint).

    task: "classification", "regression", or None to decide with ``infer_task``. A regression
    target is standardised too: the first losses are then near 1 whatever the target's units,
    and R² is the same in either scale. pooled: one mean and std for all features (see
    ``Scaler.fit``), for images.
    """
    values = np.unique(data.y)
    if len(values) < 2:
        raise DataError(
            f"{data.name}: the target column {data.target_name!r} holds one value only "
            f"({values[0]:g}); there is nothing to learn"
        )
    rows = len(data.y)
    n_test = math.ceil(test_size * rows)  # scikit-learn's rule for a fractional test size
    if n_test < 2 or rows - n_test < 2:
        raise DataError(
            f"{data.name}: {rows} rows are too few to split with test size {test_size:g} "
            f"({rows - n_test} to train on, {n_test} to test on); need at least 2 of each"
        )
    task = task or infer_task(data.y)
    if task == "classification":
        classes, y = encode_labels(data.y)
        if not np.all(classes == np.round(classes)):
            raise DataError(
                f"classification needs whole-number class labels in column {data.target_name!r}"
            )
        if len(classes) < 2:
            raise DataError(f"column {data.target_name!r} holds one class only")
    else:
        classes, y = np.array([]), data.y
    X_train, X_test, y_train, y_test = split(
        data.X, y, test_size, seed, stratify=task == "classification"
    )
    scaler = scaler or Scaler.fit(X_train, pooled)
    if scaler.mean.shape != (data.X.shape[1],):
        raise DataError(
            f"{data.name} has {data.X.shape[1]} features; the model was trained on "
            f"{scaler.mean.size}"
        )
    if task == "regression":
        target_scaler = target_scaler or Scaler.fit(y_train)
        y_train, y_test = target_scaler.transform(y_train), target_scaler.transform(y_test)
    else:
        target_scaler = None
    return Prepared(
        task,
        scaler.transform(X_train),
        scaler.transform(X_test),
        y_train,
        y_test,
        classes,
        scaler,
        target_scaler,
    )


class Scaler:
    """Standardisation: x' = (x − mean) / std, per column, with the statistics of the data it
    was fitted on (the training split only, so nothing about the test rows leaks into training).

    A constant column has std 0; its std is stored as 1, so it becomes 0 instead of 0/0.
    """

    def __init__(self, mean: Array, std: Array) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(f"Scaler: mean {self.mean.shape} and std {self.std.shape} differ")
        if not (np.all(np.isfinite(self.mean)) and np.all(self.std > 0)):
            raise ValueError("Scaler: mean must be finite and std > 0")

    @classmethod
    def fit(cls, X: Array, pooled: bool = False) -> Scaler:
        """The statistics of each column of X, or (pooled) one mean and one std over all of X,
        repeated for every column: for the pixels of an image, which a convolution treats alike
        wherever they are, so they must keep one scale."""
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        if pooled:
            mean, std = np.full(X.shape[1], X.mean()), np.full(X.shape[1], X.std())
        else:
            mean, std = X.mean(axis=0), X.std(axis=0)
        return cls(mean, np.where(std > 0, std, 1.0))

    def transform(self, X: Array) -> Array:
        return (X - self.mean) / self.std

    def inverse(self, X: Array) -> Array:
        return X * self.std + self.mean

    def __repr__(self) -> str:
        return f"Scaler(columns={self.mean.size})"
