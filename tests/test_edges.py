"""The sharp edges: the Python API's argument checks, predict's JSON and CSV handling, the task
rule as README and --help state it, and the small things (make demo, the animation snippet)."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from backprop import SGD, Adam, CrossEntropyLoss, Linear, MSELoss, ReLU, Sequential, nn
from backprop.arrays import MemoryLimitError, check_memory
from backprop.checkpoint import load, save
from backprop.cli import main
from backprop.data import MAX_CLASSES
from backprop.history import log_spaced_steps
from backprop.nn.registry import LAYERS
from backprop.predict import softmax

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------ the Python API


@pytest.mark.parametrize("args", [(2.5, 3), ("4", 3), (4, 3.0), (True, 3)])
def test_linear_sizes_must_be_whole_numbers(args: tuple[Any, Any]) -> None:
    with pytest.raises(TypeError, match=r"^Linear: (in|out)_features must be a whole number"):
        Linear(*args)


# every layer with a dtype= argument, made with its other arguments
MAKE_WITH_DTYPE: dict[str, Callable[..., Any]] = {
    "Linear": lambda dtype: nn.Linear(4, 3, dtype=dtype),
    "Conv2d": lambda dtype: nn.Conv2d(2, 3, 3, dtype=dtype),
    "BatchNorm1d": lambda dtype: nn.BatchNorm1d(3, dtype=dtype),
    "BatchNorm2d": lambda dtype: nn.BatchNorm2d(3, dtype=dtype),
    "LayerNorm": lambda dtype: nn.LayerNorm(3, dtype=dtype),
    "Embedding": lambda dtype: nn.Embedding(5, 3, dtype=dtype),
}


def test_every_layer_with_a_dtype_argument_is_in_the_dtype_checks() -> None:
    takes_dtype = {
        name
        for name in nn.__all__
        if isinstance(cls := getattr(nn, name), type)
        and "dtype" in inspect.signature(cls).parameters
    }
    assert takes_dtype == set(MAKE_WITH_DTYPE)


@pytest.mark.parametrize("name", sorted(MAKE_WITH_DTYPE))
@pytest.mark.parametrize("dtype", [int, np.int32, bool, "int64", complex, np.complex128, object])
def test_a_layer_refuses_a_dtype_that_is_not_float(name: str, dtype: Any) -> None:
    with pytest.raises(TypeError, match=rf"^{name}: dtype must be a floating type"):
        MAKE_WITH_DTYPE[name](dtype)


@pytest.mark.parametrize("name", sorted(MAKE_WITH_DTYPE))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, float, "float32"])
def test_a_layer_takes_a_float_dtype(name: str, dtype: Any) -> None:
    layer = MAKE_WITH_DTYPE[name](dtype)
    assert {p.dtype for p in layer.parameters()} == {np.dtype(dtype)}


# Constructors given NumPy scalars where PyTorch takes Python numbers; ``m`` is backprop.nn or
# torch.nn, so the same call shows that PyTorch takes them too.
NUMPY_SCALARS: list[tuple[str, Callable[[Any], Any]]] = [
    ("Linear", lambda m: m.Linear(np.int64(4), np.int32(3))),
    ("Conv2d", lambda m: m.Conv2d(np.int64(2), np.int64(4), np.int64(3), groups=np.int64(2))),
    ("MaxPool2d", lambda m: m.MaxPool2d(np.int64(2), stride=np.int32(1), padding=np.int64(1))),
    ("AvgPool2d", lambda m: m.AvgPool2d(np.int64(2), divisor_override=np.int64(3))),
    ("AdaptiveAvgPool2d", lambda m: m.AdaptiveAvgPool2d((np.int64(2), None))),
    ("AdaptiveAvgPool2d", lambda m: m.AdaptiveAvgPool2d(np.int32(3))),
    ("BatchNorm1d", lambda m: m.BatchNorm1d(np.int64(3), eps=np.float32(1e-5))),
    (
        "BatchNorm2d",
        lambda m: m.BatchNorm2d(np.int32(3), momentum=np.float64(0.2), eps=np.int64(1)),
    ),
    ("LayerNorm", lambda m: m.LayerNorm(np.int64(3), eps=np.float32(1e-3))),
    ("LayerNorm", lambda m: m.LayerNorm((np.int32(2), np.int64(3)))),
    ("Embedding", lambda m: m.Embedding(np.int64(3), np.int32(2))),
    ("Flatten", lambda m: m.Flatten(np.int64(1), np.int64(-1))),
    ("Dropout", lambda m: m.Dropout(np.float32(0.5))),
    ("Dropout", lambda m: m.Dropout(np.int64(0))),
    ("Softmax", lambda m: m.Softmax(np.int64(1))),
    ("LogSoftmax", lambda m: m.LogSoftmax(np.int32(-1))),
    ("LeakyReLU", lambda m: m.LeakyReLU(np.float32(0.2))),
]


def plain(value: Any) -> bool:
    """Whether ``value`` holds only Python's own numbers, strings, bools and None (what JSON
    writes), in lists and tuples."""
    if isinstance(value, list | tuple):
        return all(plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


@pytest.mark.parametrize(("name", "make"), NUMPY_SCALARS, ids=[n for n, _ in NUMPY_SCALARS])
def test_a_layer_takes_numpy_scalars_as_torch_does_and_keeps_python_numbers(
    name: str, make: Callable[[Any], Any], tmp_path: Path
) -> None:
    make(torch.nn)
    layer = make(nn)
    assert type(layer).__name__ == name
    config = LAYERS[name].config(layer)
    assert plain(list(config.values())), config
    kept = {a: getattr(layer, a) for a in LAYERS[name].args if hasattr(layer, a)}
    assert plain([v for v in kept.values() if not isinstance(v, nn.Parameter)]), kept
    save(layer, tmp_path / "layer.npz")
    assert LAYERS[name].config(load(tmp_path / "layer.npz")[0]) == config


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "message"),
    [
        ("BatchNorm1d", (True,), {}, "num_features must be a whole number"),
        ("BatchNorm1d", ("3",), {}, "num_features must be a whole number"),
        ("BatchNorm2d", (3,), {"eps": True}, "eps must be a number"),
        ("BatchNorm1d", (3,), {"momentum": "0.1"}, "momentum must be a number"),
        ("BatchNorm1d", (3,), {"affine": "yes"}, "affine must be True or False"),
        ("LayerNorm", (np.bool_(True),), {}, "normalized_shape must be an int or a sequence"),
        ("LayerNorm", ((3, 2.0),), {}, "normalized_shape must be a whole number"),
        ("LayerNorm", ("3",), {}, "normalized_shape must be an int or a sequence"),
        ("LayerNorm", (3,), {"eps": np.bool_(True)}, "eps must be a number"),
        ("Embedding", (np.bool_(True), 2), {}, "num_embeddings must be a whole number"),
        ("Embedding", (3, 2.0), {}, "embedding_dim must be a whole number"),
        ("Flatten", (True,), {}, "start_dim must be a whole number"),
        ("Flatten", (1, np.float64(-1)), {}, "end_dim must be a whole number"),
        ("Dropout", (True,), {}, "p must be a number"),
        ("Dropout", ("0.5",), {}, "p must be a number"),
        ("AvgPool2d", (2,), {"divisor_override": 2.0}, "divisor_override must be a whole number"),
        ("AvgPool2d", (2,), {"count_include_pad": None}, "count_include_pad must be True or False"),
        ("Linear", (2, 3), {"bias": "no"}, "bias must be True or False"),
        ("Softmax", (1.0,), {}, "dim must be a whole number"),
        ("LogSoftmax", (True,), {}, "dim must be a whole number"),
        ("LeakyReLU", ("0.1",), {}, "negative_slope must be a number"),
    ],
)
def test_a_layer_refuses_bools_and_strings_for_its_numbers(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=rf"^{name}: {message}"):
        getattr(nn, name)(*args, **kwargs)


def test_a_list_given_to_a_layer_is_converted() -> None:
    layer = Linear(2, 3, rng=np.random.default_rng(0))
    x = [[1.0, 2.0], [3.0, -1.0]]
    np.testing.assert_array_equal(layer(x), layer(np.array(x)))
    model = Sequential(layer, ReLU())
    np.testing.assert_array_equal(model(x), model(np.array(x)))
    with pytest.raises(TypeError, match=r"^Linear\(.*\): input must be an array of numbers"):
        layer([["a", "b"]])


# every registered layer, built small, with an input it takes
LAYER_INPUTS: dict[str, tuple[Any, tuple[int, ...]]] = {
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 4, 4)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (2, 3, 4, 4)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (4, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)),
    "Conv2d": (lambda: nn.Conv2d(3, 2, 3), (2, 3, 4, 4)),
    "Dropout": (lambda: nn.Dropout(0.5), (4, 3)),
    "Embedding": (lambda: nn.Embedding(5, 2), (4, 3)),
    "Flatten": (lambda: nn.Flatten(), (2, 3, 4)),
    "GELU": (lambda: nn.GELU(), (4, 3)),
    "Identity": (lambda: nn.Identity(), (4, 3)),
    "LayerNorm": (lambda: nn.LayerNorm(3), (4, 3)),
    "LeakyReLU": (lambda: nn.LeakyReLU(), (4, 3)),
    "Linear": (lambda: Linear(3, 2), (4, 3)),
    "LogSoftmax": (lambda: nn.LogSoftmax(), (4, 3)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (2, 3, 4, 4)),
    "ReLU": (lambda: ReLU(), (4, 3)),
    "Sigmoid": (lambda: nn.Sigmoid(), (4, 3)),
    "Softmax": (lambda: nn.Softmax(), (4, 3)),
    "Tanh": (lambda: nn.Tanh(), (4, 3)),
    "Unflatten": (lambda: nn.Unflatten(1, (3, 1)), (4, 3)),
}


def test_every_registered_layer_has_a_wrong_gradient_case() -> None:
    assert sorted(LAYER_INPUTS) == sorted(LAYERS)


@pytest.mark.parametrize("name", sorted(LAYER_INPUTS))
def test_a_backward_pass_refuses_a_gradient_of_another_shape(name: str) -> None:
    """dL/dy without its batch axis broadcasts against y's shape: NumPy would take it and
    return a dL/dx of the right shape and the wrong values. Every layer names itself, the
    shape it expects and the shape it got; and backward_owned (Sequential's) checks as well."""
    make, shape = LAYER_INPUTS[name]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, shape) if name == "Embedding" else rng.standard_normal(shape)
    layer = make()
    y = layer(x)
    wrong = np.ones(y.shape[1:])
    expected = re.escape(f"backward expects grad_output of shape {y.shape}, got {wrong.shape}")
    for backward in (layer.backward, layer.backward_owned):
        with pytest.raises(ValueError, match=rf"^{re.escape(type(layer).__name__)}\(.*{expected}"):
            backward(wrong.copy())
    assert layer.backward(np.ones(y.shape)).shape == x.shape  # and the right shape passes


@pytest.mark.parametrize(
    ("loss", "pred", "target"),
    [
        (MSELoss(), np.zeros((0, 3)), np.zeros((0, 3))),
        (MSELoss("mean"), np.zeros((0, 3)), np.zeros((0, 3))),
        (CrossEntropyLoss(), np.zeros((0, 3)), np.zeros(0, dtype=np.int64)),
    ],
)
def test_losses_refuse_an_empty_batch(loss: Any, pred: Any, target: Any) -> None:
    with pytest.raises(ValueError) as e:
        loss(pred, target)
    assert str(e.value).startswith(f"{type(loss).__name__}: ")
    assert "holds no rows" in str(e.value) and "\n" not in str(e.value)


def test_losses_take_lists() -> None:
    assert MSELoss()([[1.0, 2.0]], [[0.0, 0.0]]) == 5.0


@pytest.mark.parametrize("optimizer", [SGD, Adam])
def test_an_optimizer_refuses_a_parameter_given_twice(optimizer: Any) -> None:
    layer = Linear(2, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"item 2 of params is item 0 again"):
        optimizer([layer.weight, layer.bias, layer.weight], lr=0.1)


def test_the_memory_check_names_the_estimate_and_the_limit() -> None:
    check_memory("small", 2**20, limit=2**30)
    with pytest.raises(MemoryLimitError, match=r"^big would need about 2\.0 GiB of memory, above the limit of 1\.0 GiB$"):  # fmt: skip
        check_memory("big", 2**31, limit=2**30)


# ------------------------------------------------------------------------------------- predict


def test_softmax_is_torchs() -> None:
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(0).normal(size=(5, 4)) * 30
    expected = torch.softmax(torch.tensor(z, dtype=torch.float64), dim=1).numpy()
    np.testing.assert_allclose(softmax(z), expected, rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("iris") / "iris.npz"
    assert (
        main(["train", "--data", "iris", "--epochs", "3", "--hidden", "8", "--save", str(path)])
        == 0
    )
    return path


def test_predict_json_names_every_class_column(
    iris_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.datasets import load_iris

    iris = load_iris()
    header = ",".join(iris.feature_names) + ",target"
    rows = [",".join(map(str, iris.data[i])) + ",?" for i in (0, 60, 120)]  # target: '?'
    csv = tmp_path / "flowers.csv"
    csv.write_text(header + "\n" + "\n".join(rows) + "\n")
    capsys.readouterr()
    assert main(["predict", "--model", str(iris_model), "--data", str(csv), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["classes"] == [0, 1, 2]
    assert out["class_names"] == ["setosa", "versicolor", "virginica"]  # one per column
    assert len(out["predictions"]) == 3 and set(out["predictions"]) <= {0, 1, 2}
    assert out["predicted_names"] == [out["class_names"][p] for p in out["predictions"]]
    p = np.array(out["probabilities"])
    assert p.shape == (3, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-12)
    assert list(np.argmax(p, axis=1)) == out["predictions"]


def test_predict_ignores_the_target_columns_cells(
    iris_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.datasets import load_iris

    iris = load_iris()
    header = ",".join(iris.feature_names)
    row = ",".join(map(str, iris.data[0]))
    plain, with_target = tmp_path / "plain.csv", tmp_path / "with_target.csv"
    plain.write_text(f"{header}\n{row}\n")
    with_target.write_text(f"{header},target\n{row},\n")  # an empty target cell
    capsys.readouterr()
    assert main(["predict", "--model", str(iris_model), "--data", str(plain)]) == 0
    expected = capsys.readouterr().out
    assert main(["predict", "--model", str(iris_model), "--data", str(with_target)]) == 0
    assert capsys.readouterr().out == expected


# --------------------------------------------------------------------- --task, README and --help


def test_readme_and_help_state_the_same_task_rule(capsys: pytest.CaptureFixture[str]) -> None:
    rule = f"2 to {MAX_CLASSES} distinct whole numbers"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert rule in help_text
    readme = (ROOT / "README.md").read_text()
    assert rule in readme
    assert "at most 20" not in help_text + readme


# ------------------------------------------------------------------------------- small things


def test_make_demo_says_where_it_wrote_the_pictures() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"echo .*\$\(CURDIR\)/slp\.gif.*\$\(CURDIR\)/slp\.png", recipe), recipe


def test_the_readme_animation_snippet_draws_the_last_step() -> None:
    readme = (ROOT / "README.md").read_text()
    (line,) = [x for x in readme.splitlines() if x.startswith("keep = set(log_spaced_steps(")]
    steps = 200
    keep = eval(
        line.split("=", 1)[1].split("#")[0], {"log_spaced_steps": log_spaced_steps, "steps": steps}
    )
    assert max(keep) == steps - 1 and min(keep) == 0  # for step in range(steps) reaches both
    assert keep <= set(range(steps))
