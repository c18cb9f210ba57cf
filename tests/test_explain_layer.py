"""``backprop explain --layer``: the printed numbers against PyTorch, computed here from the
walkthrough's own inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

from backprop.cli import main
from backprop.explain_layer import EXAMPLES, explain_layer, format_value, render, to_json

NAMES = sorted(EXAMPLES)


def values(part: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {s["name"]: np.asarray(s["value"], dtype=np.float64) for s in part}


def close(ours: np.ndarray, ref: Any) -> None:
    ref = np.asarray(ref.detach().numpy() if isinstance(ref, torch.Tensor) else ref)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-13)


def walk(name: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    data = to_json(explain_layer(name))
    return values(data["forward"]), values(data["backward"])


@pytest.mark.parametrize("name", NAMES)
def test_every_walkthrough_prints_its_numbers_and_agrees_with_the_layer(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "--layer", name]) == 0
    out = capsys.readouterr().out
    w = explain_layer(name)
    assert out == render(w)
    for step in [*w.forward, *w.backward]:
        assert format_value(step.value)[0] in out, step.name
    assert w.agreement < 1e-12
    assert "max |difference|" in out


def test_the_registry_covers_the_layers_the_cli_names() -> None:
    assert set(NAMES) >= {
        "batchnorm", "layernorm", "dropout", "embedding", "softmax", "logsoftmax", "gelu",
        "leakyrelu", "flatten", "linear",
    }  # fmt: skip


def torch_vjp(fn: Any, x: np.ndarray, g: np.ndarray, *params: np.ndarray) -> list[Any]:
    xt = torch.tensor(x, requires_grad=True)
    pt = [torch.tensor(p, requires_grad=True) for p in params]
    y = fn(xt, *pt)
    y.backward(torch.from_numpy(g))
    return [y, xt.grad, *(p.grad for p in pt)]


def test_batchnorm_numbers_are_pytorchs() -> None:
    f, b = walk("batchnorm")
    y, dx, dg, db = torch_vjp(
        lambda x, g, be: torch.nn.functional.batch_norm(x, None, None, g, be, training=True),
        f["x"], b["dL/dy"], f["γ"], f["β"],
    )  # fmt: skip
    close(f["y"], y)
    close(b["dL/dx"], dx)
    close(b["dL/dx (one line)"], dx)
    close(b["dL/dγ"], dg)
    close(b["dL/dβ"], db)
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    torch.nn.functional.batch_norm(torch.from_numpy(f["x"]), rm, rv, training=True)
    close(f["running_mean"], rm)
    close(f["running_var"], rv)


def test_layernorm_numbers_are_pytorchs() -> None:
    f, b = walk("layernorm")
    y, dx, dg, db = torch_vjp(
        lambda x, g, be: torch.nn.functional.layer_norm(x, (4,), g, be),
        f["x"], b["dL/dy"], f["γ"], f["β"],
    )  # fmt: skip
    close(f["y"], y)
    close(b["dL/dx"], dx)
    close(b["dL/dγ"], dg)
    close(b["dL/dβ"], db)


@pytest.mark.parametrize(
    ("name", "fn"), [("softmax", torch.softmax), ("logsoftmax", torch.log_softmax)]
)
def test_softmax_numbers_are_pytorchs(name: str, fn: Any) -> None:
    f, b = walk(name)
    y, dx = torch_vjp(lambda x: fn(x, -1), f["x"], b["dL/dy"])
    close(f["y"], y)
    close(b["dL/dx"], dx)
    if name == "softmax":
        jac = torch.autograd.functional.jacobian(
            lambda r: torch.softmax(r, -1), torch.from_numpy(f["x"][0])
        )
        close(b["J (row 0)"], jac)


def test_gelu_and_leakyrelu_numbers_are_pytorchs() -> None:
    f, b = walk("gelu")
    y, dx = torch_vjp(torch.nn.functional.gelu, f["x"], b["dL/dy"])
    close(f["y"], y)
    close(b["dL/dx"], dx)
    f, b = walk("leakyrelu")
    assert f["x"][0] == 0
    y, dx = torch_vjp(lambda x: torch.nn.functional.leaky_relu(x, 0.1), f["x"], b["dL/dy"])
    close(f["y"], y)
    close(b["dL/dx"], dx)


def test_embedding_and_linear_numbers_are_pytorchs() -> None:
    f, b = walk("embedding")
    idx = torch.from_numpy(f["x"].astype(np.int64))
    W = torch.tensor(f["W"], requires_grad=True)
    y = torch.nn.functional.embedding(idx, W)
    y.backward(torch.from_numpy(np.stack([b["dL/dy[0]"], b["dL/dy[1]"]])))
    close(np.stack([f["y[0]"], f["y[1]"]]), y)
    close(b["dL/dW"], W.grad)
    f, b = walk("linear")
    y, dx, dW, db = torch_vjp(lambda x, w, bias: x @ w + bias, f["x"], b["dL/dy"], f["W"], f["b"])
    close(f["y"], y)
    close(b["dL/dx"], dx)
    close(b["dL/dW"], dW)
    close(b["dL/db"], db)


def test_dropout_and_flatten_numbers() -> None:
    f, b = walk("dropout")
    keep = f["u"] >= 0.5
    np.testing.assert_array_equal(f["M"], keep)
    close(f["y"], np.where(keep, f["x"] * 2, 0))
    close(b["dL/dx"], np.where(keep, b["dL/dy"] * 2, 0))
    f, b = walk("flatten")
    close(f["y"], torch.flatten(torch.from_numpy(np.stack([f["x[0]"], f["x[1]"]])), 1))


def test_unknown_layer_is_one_line_and_exit_2() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "backprop", "explain", "--layer", "conv9d"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert "--layer: unknown layer 'conv9d'; valid: batchnorm" in r.stderr


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--seed", "5"], "--seed does"),
        (["--dim", "9", "--lr", "50"], "--dim, --lr do"),
        (["--samples", "3"], "--samples does"),
        (["--step", "2"], "--step does"),
        (["--graph"], "--graph does"),
    ],
)
def test_options_of_the_posts_step_are_refused_with_a_layer(
    options: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "--layer", "batchnorm", *options]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{named} not apply" in err and "\n" not in err


def test_help_names_every_layer_explain_takes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(f" {name}," in text or f" {name} (" in text for name in NAMES)


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--layer", "gelu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["forward"][0]["name"] == "x" and data["max_difference_from_layer"] < 1e-12
