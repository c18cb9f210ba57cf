"""Data: bundled datasets, CSV reading (every bad file named by line and column), the split,
the scaler, and `backprop predict`'s reading of a CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backprop.cli import main
from backprop.data import (
    DataError,
    Scaler,
    encode_labels,
    infer_task,
    load_bundled,
    read_csv,
    read_features,
    read_table,
    split,
)


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "shape", "task"),
    [
        ("digits", (1797, 64), "classification"),
        ("iris", (150, 4), "classification"),
        ("wine", (178, 13), "classification"),
        ("breast_cancer", (569, 30), "classification"),
        ("diabetes", (442, 10), "regression"),
    ],
)
def test_bundled_datasets(name: str, shape: tuple[int, int], task: str) -> None:
    from sklearn import datasets

    data = load_bundled(name)
    reference = getattr(datasets, f"load_{name}")()
    assert data.X.shape == shape and len(data.feature_names) == shape[1]
    np.testing.assert_array_equal(data.X, reference.data)
    np.testing.assert_array_equal(data.y, reference.target)
    assert infer_task(data.y) == task


def test_csv_target_is_the_last_column_or_the_named_one(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,label,c\n1,2,0,3.5\n4,5e-1,1,-6\n")
    data = read_csv(path)
    assert data.feature_names == ["a", "b", "label"] and data.target_name == "c"
    np.testing.assert_array_equal(data.X, [[1, 2, 0], [4, 0.5, 1]])
    np.testing.assert_array_equal(data.y, [3.5, -6])
    data = read_csv(path, "label")
    assert data.feature_names == ["a", "b", "c"]
    np.testing.assert_array_equal(data.X, [[1, 2, 3.5], [4, 0.5, -6]])
    np.testing.assert_array_equal(data.y, [0, 1])


def test_blank_lines_and_a_byte_order_mark_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("\ufeffx,y\n1,2\n\n3,4\n\n".encode())
    header, values = read_table(path)
    assert header == ["x", "y"]
    np.testing.assert_array_equal(values, [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,y\n1,2,3\n1,2\n", "line 3 has 2 columns, the header has 3"),
        ("a,b,y\n1,2,3\n1,2,3,4\n", "line 3 has 4 columns, the header has 3"),
        ("a,b,y\n1,2,3\n1,two,3\n", "line 3, column 2 ('b'): 'two' is not a number"),
        ("a,b,y\n1,2,3\n\n1,,3\n", "line 4, column 2 ('b') is empty"),
        ("a,b,y\n1,nan,3\n", "line 2, column 2 ('b'): 'nan' is not a finite number"),
        ("a,b,y\n1,2,-inf\n", "line 2, column 3 ('y'): '-inf' is not a finite number"),
        ("", "the file is empty; expected a header row"),
        ("a,b,y\n", "no data rows after the header"),
        ("a,a,y\n1,2,3\n", "line 1: column name 'a' appears twice"),
        ("a,,y\n1,2,3\n", "line 1, column 2 of the header is empty"),
        ('a,b,y\n1,"2\n', "line 2 has 2 columns, the header has 3"),  # an unclosed quote
    ],
)
def test_bad_csv_names_the_place(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataError) as e:
        read_csv(path)
    assert str(e.value) == f"{path}: {message}"


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_csv(tmp_path / "missing.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(DataError, match="not a text file"):
        read_csv(binary)


def test_unknown_target_lists_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(DataError, match="no column named 'z'; columns: a, b"):
        read_csv(path, "z")


@pytest.mark.parametrize(
    ("y", "task"),
    [
        ([0, 1, 1, 0], "classification"),
        ([3.0, 7.0, 3.0, 5.0], "classification"),
        ([0.5, 1, 1, 0], "regression"),  # not whole numbers
        (list(range(21)), "regression"),  # too many distinct values
        ([1, 1, 1], "regression"),  # one value is no classification
    ],
)
def test_infer_task(y: list[float], task: str) -> None:
    assert infer_task(np.array(y, dtype=np.float64)) == task


def test_encode_labels() -> None:
    classes, labels = encode_labels(np.array([7.0, 3.0, 7.0, 5.0]))
    np.testing.assert_array_equal(classes, [3, 5, 7])
    np.testing.assert_array_equal(labels, [2, 0, 2, 1])
    assert labels.dtype == np.int64


@pytest.mark.parametrize("stratify", [True, False])
def test_split_is_scikit_learns(stratify: bool) -> None:
    from sklearn.model_selection import train_test_split

    data = load_bundled("wine")
    ours = split(data.X, data.y, 0.25, 7, stratify)
    theirs = train_test_split(
        data.X, data.y, test_size=0.25, random_state=7, stratify=data.y if stratify else None
    )
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_stratified_split_needs_two_rows_per_class() -> None:
    with pytest.raises(DataError, match="cannot split 5 rows"):
        split(np.zeros((5, 2)), np.array([0, 0, 0, 0, 1]), 0.4, 0, True)


def test_scaler_uses_its_own_data_and_leaves_constant_columns_at_zero() -> None:
    rng = np.random.default_rng(0)
    train = np.column_stack([rng.normal(3, 2, size=40), np.full(40, 5.0)])
    test = np.array([[3.0, 5.0], [7.0, 9.0]])
    scaler = Scaler.fit(train)
    expected_mean = train.sum(axis=0) / 40
    expected_std = np.sqrt(((train - expected_mean) ** 2).sum(axis=0) / 40)
    np.testing.assert_allclose(scaler.mean, expected_mean, rtol=1e-12)
    assert scaler.std[1] == 1.0  # a constant column: no 0/0
    out = scaler.transform(test)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[:, 0], (test[:, 0] - expected_mean[0]) / expected_std[0])
    np.testing.assert_array_equal(out[:, 1], [0.0, 4.0])
    np.testing.assert_allclose(scaler.inverse(out), test)


def test_read_features_matches_columns_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "b,y,a\n1,9,2\n3,9,4\n")
    X = read_features(path, ["a", "b"], "y")
    np.testing.assert_array_equal(X, [[2, 1], [4, 3]])
    path = write(tmp_path, "a,b\n1,2\n")
    np.testing.assert_array_equal(read_features(path, ["a", "b"], "y"), [[1, 2]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,z\n1,2,3\n", "line 1, column 3 ('z') is not one of the model's 2 features"),
        ("a\n1\n", "no column 'b'; the model needs every feature"),
        ("a,b\n1,2\n3\n", "line 3 has 1 columns, the header has 2"),
    ],
)
def test_read_features_refuses_other_columns(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataError) as e:
        read_features(path, ["a", "b"], "y")
    assert str(e.value) == f"{path}: {message}"


# ---------------------------------------------------------------------------- backprop predict


def blobs_csv(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """Three well separated classes labelled 10, 20, 30 (not 0, 1, 2) in columns u, v."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    labels = np.repeat([10, 20, 30], 40)
    X = centres[labels // 10 - 1] + rng.normal(size=(120, 2))
    lines = ["u,v,kind"] + [
        f"{a!r},{b!r},{k}" for (a, b), k in zip(X.tolist(), labels, strict=True)
    ]
    path = write(tmp_path, "\n".join(lines) + "\n", "blobs.csv")
    return path, X, labels


def test_predict_prints_one_label_per_row(tmp_path: Path, capsys: Any) -> None:
    path, _, labels = blobs_csv(tmp_path)
    model = tmp_path / "m.npz"
    argv = ["train", "--data", str(path), "--hidden", "8", "--epochs", "20", "--lr", "0.01"]
    assert main([*argv, "--save", str(model)]) == 0
    capsys.readouterr()
    # the features only, in another order than in training
    rows = write(tmp_path, "v,u\n0,0\n0.2,6.1\n5.8,-0.3\n", "rows.csv")
    assert main(["predict", "--model", str(model), "--data", str(rows)]) == 0
    assert capsys.readouterr().out == "10\n20\n30\n"
    # the training file itself, target column included: ignored, and the labels come back
    assert main(["predict", "--model", str(model), "--data", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert np.mean(np.array(result["predictions"]) == labels) > 0.95
    assert np.allclose(np.sum(result["probabilities"], axis=1), 1.0)


def test_predict_regression_undoes_the_target_scaling(tmp_path: Path, capsys: Any) -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(200, 2))
    y = 1000 + 300 * X[:, 0] - 200 * X[:, 1]  # far from 0 and 1: the scaling must be undone
    lines = ["p,q,price"] + [
        f"{a!r},{b!r},{t!r}" for (a, b), t in zip(X.tolist(), y.tolist(), strict=True)
    ]
    data = write(tmp_path, "\n".join(lines) + "\n")
    model = tmp_path / "m.npz"
    argv = ["train", "--data", str(data), "--hidden", "none", "--epochs", "60", "--lr", "0.02"]
    assert main([*argv, "--save", str(model), "--dtype", "float64"]) == 0
    capsys.readouterr()
    rows = write(tmp_path, "p,q\n0,0\n0.5,-0.5\n", "rows.csv")
    assert main(["predict", "--model", str(model), "--data", str(rows)]) == 0
    values = [float(v) for v in capsys.readouterr().out.split()]
    np.testing.assert_allclose(values, [1000, 1250], rtol=1e-3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("u,v\n1,2\n3\n", "line 3 has 1 columns, the header has 2"),
        ("u,v\n1,2\n3,x\n", "line 3, column 2 ('v'): 'x' is not a number"),
        ("u,w\n1,2\n", "line 1, column 2 ('w') is not one of the model's 2 features"),
    ],
)
def test_predict_refuses_a_bad_csv(tmp_path: Path, capsys: Any, text: str, message: str) -> None:
    path, _, _ = blobs_csv(tmp_path)
    model = tmp_path / "m.npz"
    argv = ["train", "--data", str(path), "--hidden", "4", "--epochs", "1", "--save", str(model)]
    assert main(argv) == 0
    capsys.readouterr()
    rows = write(tmp_path, text, "rows.csv")
    assert main(["predict", "--model", str(model), "--data", str(rows)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"backprop predict: error: {rows}: {message}\n"


def test_the_readme_predict_example(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    text = (Path(__file__).parents[1] / "README.md").read_text()
    block = text[text.index("$ backprop train --data iris --save iris.npz") :]
    lines = block[: block.index("```")].splitlines()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flowers.csv").write_text("\n".join(lines[2:5]) + "\n")
    assert main(["train", "--data", "iris", "--save", "iris.npz"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", "iris.npz", "--data", "flowers.csv"]) == 0
    assert capsys.readouterr().out.splitlines() == lines[6:]


def test_prepare_scales_with_the_training_rows_only() -> None:
    from sklearn.model_selection import train_test_split

    from backprop.data import prepare

    data = load_bundled("diabetes")
    prepared = prepare(data, None, 0.2, 3)
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_size=0.2, random_state=3
    )
    assert prepared.task == "regression"
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    np.testing.assert_allclose(prepared.X_test, (X_test - mean) / std, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        prepared.y_test, (y_test - y_train.mean()) / y_train.std(), rtol=1e-12
    )
    assert abs(prepared.y_train.mean()) < 1e-12 and abs(prepared.y_test.mean()) > 1e-3


def test_forced_classification_needs_whole_numbers(tmp_path: Path, capsys: Any) -> None:
    path = write(tmp_path, "a,y\n1,0.5\n2,1.5\n3,0.5\n4,1.5\n5,0.5\n6,1.5\n")
    assert main(["train", "--data", str(path), "--task", "classification"]) == 1
    err = capsys.readouterr().err
    assert (
        err
        == "backprop train: error: classification needs whole-number class labels in column 'y'\n"
    )
