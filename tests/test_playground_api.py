"""The playground's JSON API: STATE against the same run made with the library directly, the SGD
identity, xor learnt within the documented steps, the exports, the backward-pass blocks."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient

from backprop import SGD, Adam, CrossEntropyLoss, Linear, MSELoss, ReLU, Sequential, Tanh
from backprop.explain import format_array
from backprop.web import datasets
from backprop.web.app import create_app
from backprop.web.settings import DEFAULT_STEPS, POINTS

TOKEN = "test-token"
AUTH = {"Authorization": f"token {TOKEN}"}


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(TOKEN), base_url="http://127.0.0.1:8765", headers=AUTH)


def create(client: TestClient, **settings: Any) -> dict[str, Any]:
    r = client.post("/api/runs", json=settings)
    assert r.status_code == 201, r.text
    return dict(r.json())


def step(client: TestClient, run_id: str, n: int) -> dict[str, Any]:
    r = client.post(f"/api/runs/{run_id}/step", json={"steps": n})
    assert r.status_code == 200, r.text
    return dict(r.json())


def library_run(settings: dict[str, Any], steps: int) -> tuple[Sequential, list[float]]:
    """The same run written with the library only, following the documented order of draws."""
    rng = np.random.default_rng(settings["seed"])
    points = datasets.make(settings["dataset"], POINTS, settings["noise"], rng)
    n_train = round(POINTS * 0.5)
    x = points.x[:n_train]
    labels = points.y[:n_train]
    hidden, act = settings["hidden"], {"relu": ReLU, "tanh": Tanh}[settings["activation"]]
    n_out = 2 if settings["loss"] == "cross_entropy" else 1
    sizes = [2, *hidden, n_out]
    layers: list[Any] = []
    for i in range(len(sizes) - 1):
        layers.append(Linear(sizes[i], sizes[i + 1], rng=rng))
        if i < len(sizes) - 2:
            layers.append(act())
    model = Sequential(*layers)
    if settings["loss"] == "cross_entropy":
        loss_fn: Any = CrossEntropyLoss()
        target = labels
    else:
        loss_fn = MSELoss(reduction="mean")
        target = (2.0 * labels - 1)[:, None]
    if settings["optimizer"] == "adam":
        opt: Any = Adam(model.parameters(), lr=settings["lr"])
    else:
        opt = SGD(model.parameters(), lr=settings["lr"], momentum=settings["momentum"])
    b = settings["batch_size"]
    order, cursor, losses = np.arange(0), 0, []
    for _ in range(steps):
        if cursor + b > len(order):
            order, cursor = rng.permutation(n_train), 0
        idx = order[cursor : cursor + b]
        cursor += b
        losses.append(loss_fn(model(x[idx]), target[idx]))
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    return model, losses


@pytest.mark.parametrize(
    "settings",
    [
        {"dataset": "circle", "hidden": [3, 2], "activation": "relu", "loss": "cross_entropy",
         "optimizer": "adam", "lr": 0.01, "momentum": 0.0, "batch_size": 7, "seed": 3, "noise": 0.1},
        {"dataset": "spiral", "hidden": [5], "activation": "tanh", "loss": "mse",
         "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "batch_size": 16, "seed": 11, "noise": 0.2},
    ],
)  # fmt: skip
def test_state_equals_the_same_run_made_with_the_library(
    client: TestClient, settings: dict[str, Any]
) -> None:
    run = create(client, **settings)
    state = step(client, run["id"], 40)  # 40 steps of 7 cross an epoch boundary of 250 points
    model, losses = library_run(settings, 40)
    linears = [m for m in model if isinstance(m, Linear)]
    assert len(state["layers"]) == len(linears)
    np.testing.assert_allclose(state["losses"], losses, rtol=1e-12)
    for entry, lin in zip(state["layers"], linears, strict=True):
        assert lin.bias is not None
        np.testing.assert_allclose(entry["weight"], lin.weight.data, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(entry["bias"], lin.bias.data, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(entry["weight_grad"], lin.weight.grad, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(entry["bias_grad"], lin.bias.grad, rtol=1e-10, atol=1e-15)
    assert state["step"] == 40 and len(state["losses"]) == 40


def test_sgd_identity_weight_before_minus_lr_grad_is_weight_after(client: TestClient) -> None:
    lr = 0.05
    run = create(client, optimizer="sgd", momentum=0.0, lr=lr, hidden=[4, 3], seed=5)
    before = step(client, run["id"], 3)
    after = step(client, run["id"], 1)
    for b, a in zip(before["layers"], after["layers"], strict=True):
        expected = np.array(b["weight"]) - lr * np.array(a["weight_grad"])
        np.testing.assert_allclose(a["weight"], expected, rtol=1e-12, atol=1e-15)
        expected_b = np.array(b["bias"]) - lr * np.array(a["bias_grad"])
        np.testing.assert_allclose(a["bias"], expected_b, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(
            np.array(a["weight"]) - np.array(b["weight"]), a["weight_update"], atol=1e-15
        )
        assert np.abs(a["weight_grad"]).max() > 0  # a real gradient, not an empty one


def test_xor_loss_falls_below_005_within_the_default_steps(client: TestClient) -> None:
    run = create(client)  # every default: xor, 2-4-4-1 tanh, MSE, SGD lr 0.03 momentum 0.9
    assert run["state"]["settings"]["dataset"] == "xor"
    first = run["state"]["loss"]
    state = step(client, run["id"], DEFAULT_STEPS)
    assert first > 0.5
    assert state["loss"] < 0.05, state["loss"]


def test_output_gradient_on_the_points_is_the_loss_gradient(client: TestClient) -> None:
    """dL/da of the output layer at the training points is 2/(N·D)(O − T) for MSE."""
    run = create(client, hidden=[3], seed=2)
    state = step(client, run["id"], 5)
    train = run["state"]["train"]
    x = np.array(train["x"])
    t = 2.0 * np.array(train["label"]) - 1
    W1, b1 = np.array(state["layers"][0]["weight"]), np.array(state["layers"][0]["bias"])
    W2, b2 = np.array(state["layers"][1]["weight"]), np.array(state["layers"][1]["bias"])
    o = (np.tanh(x @ W1 + b1) @ W2 + b2)[:, 0]
    expected = 2 / len(x) * (o - t)
    got = np.array(state["layers"][1]["activation_grad"][0])
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())
    np.testing.assert_allclose(state["layers"][1]["activation"][0], o, atol=1e-3)
    # the loss shown is the mean squared error over the training points
    assert state["loss"] == pytest.approx(float(np.mean((o - t) ** 2)), rel=1e-10)


def test_backward_blocks_show_the_gradients_of_the_last_step(client: TestClient) -> None:
    run = create(client, hidden=[3, 2], momentum=0.0)
    state = step(client, run["id"], 2)
    blocks = client.get(f"/api/runs/{run['id']}/backward").json()["blocks"]
    titles = [b["title"] for b in blocks]
    assert titles == [
        "The loss and its gradient",
        "Backward through Linear 3",
        "Backward through tanh (layer 2)",
        "Backward through Linear 2",
        "Backward through tanh (layer 1)",
        "Backward through Linear 1",
        "The update, every layer",
    ]
    first_linear = blocks[5]
    dW = next(v for v in first_linear["values"] if v["name"] == "∂L/∂W⁽¹⁾")
    assert dW["lines"] == format_array(np.array(state["layers"][0]["weight_grad"]))
    assert "∂L/∂W⁽¹⁾ = Xᵀ ∂L/∂Z⁽¹⁾" in first_linear["equation"]


def test_weight_edit_changes_that_weight_only(client: TestClient) -> None:
    run = create(client)
    before = run["state"]["layers"][1]["weight"]
    r = client.post(
        f"/api/runs/{run['id']}/weight", json={"layer": 1, "row": 2, "col": 3, "value": 0.75}
    )
    assert r.status_code == 200, r.text
    after = r.json()["layers"][1]["weight"]
    expected = [row[:] for row in before]
    expected[2][3] = 0.75
    assert after == expected
    r = client.post(
        f"/api/runs/{run['id']}/weight", json={"layer": 0, "row": None, "col": 1, "value": -2}
    )
    assert r.json()["layers"][0]["bias"][1] == -2.0


def test_replay_from_the_same_settings_starts_from_the_same_weights(client: TestClient) -> None:
    a = create(client, seed=7, hidden=[5])
    step(client, a["id"], 10)
    b = create(client, seed=7, hidden=[5])
    assert a["state"]["layers"] == b["state"]["layers"]


def test_exports(client: TestClient, tmp_path: Any) -> None:
    torch = pytest.importorskip("torch")
    from backprop import load

    run = create(client, hidden=[3], activation="relu", loss="cross_entropy")
    state = step(client, run["id"], 5)
    r = client.get(f"/api/runs/{run['id']}/export", params={"format": "json"})
    assert r.status_code == 200
    assert r.json()["layers"][0]["weight"] == state["layers"][0]["weight"]
    assert "attachment" in r.headers["content-disposition"]

    r = client.get(f"/api/runs/{run['id']}/export", params={"format": "npz"})
    path = tmp_path / "run.npz"
    path.write_bytes(r.content)
    model = load(path)
    np.testing.assert_array_equal(model[0].weight.data, state["layers"][0]["weight"])  # type: ignore[attr-defined]

    r = client.get(f"/api/runs/{run['id']}/export", params={"format": "pytorch"})
    namespace: dict[str, Any] = {"__name__": "exported"}
    exec(compile(r.text, "exported.py", "exec"), namespace)
    tmodel = namespace["model"]
    x = np.random.default_rng(0).uniform(-1, 1, (9, 2))
    ours = model(x)
    theirs = tmodel(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(theirs, ours, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(
        tmodel[0].weight.detach().numpy(), np.array(state["layers"][0]["weight"]).T
    )


def test_pytorch_export_of_a_diverged_run_runs_and_keeps_its_weights(
    client: TestClient, tmp_path: Any
) -> None:
    pytest.importorskip("torch")

    run = create(client, lr=10.0, hidden=[8, 8], activation="relu", seed=1)
    assert client.post(f"/api/runs/{run['id']}/step", json={"steps": 1000}).status_code == 400
    path = tmp_path / "run.npz"
    path.write_bytes(client.get(f"/api/runs/{run['id']}/export", params={"format": "npz"}).content)
    r = client.get(f"/api/runs/{run['id']}/export", params={"format": "pytorch"})
    namespace: dict[str, Any] = {"__name__": "exported"}
    exec(compile(r.text, "exported.py", "exec"), namespace)
    model = namespace["model"]
    with np.load(path) as npz:  # the checkpoint's arrays (backprop.load refuses nan weights)
        assert not all(np.isfinite(npz[k]).all() for k in npz.files if k.startswith("param."))
        for i in (0, 2, 4):  # the Linears; nan where nan, ±inf where ±inf
            weight, bias = model[i].weight.detach().numpy(), model[i].bias.detach().numpy()
            np.testing.assert_array_equal(weight.T, npz[f"param.{i}.weight"])
            np.testing.assert_array_equal(bias, npz[f"param.{i}.bias"])


def test_csv_points(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-3, 3, (40, 2))
    rows = "\n".join(f"{a},{b},{int(a * b > 0)}" for a, b in pts)
    run = create(client, dataset="csv", csv="x1,x2,label\n" + rows, batch_size=5)
    xs = np.array(run["state"]["train"]["x"] + run["state"]["test"]["x"])
    assert len(xs) == 40 and np.abs(xs).max() == pytest.approx(0.9)
    r = client.post("/api/runs", json={"dataset": "csv", "csv": "1,2\n3,4\n5,6\n7,8\n"})
    assert r.status_code == 400
    assert r.json()["error"] == "csv line 1: expected three numbers x1,x2,label, got '1,2'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,c\n1,2,0\n2,3,1\n3,4,0\n4,x,1\n",
         "csv line 5: expected three numbers x1,x2,label, got '4,x,1'"),
        ("1,2,0\n\n2,3,1\r\n\r\n3,4,0\n4,x,1\n",
         "csv line 6: expected three numbers x1,x2,label, got '4,x,1'"),
        (",1,0\n1,2,0\n2,3,1\n3,4,0\n4,5,1\n",
         "csv line 1: cell 1 is empty; expected three numbers x1,x2,label, got ',1,0'"),
        ("x1,x2,label\n1,2,0\n2, ,1\n3,4,0\n4,5,1\n",
         "csv line 3: cell 2 is empty; expected three numbers x1,x2,label, got '2, ,1'"),
        ("1,2,1\n2,3,0\n3,4,-1\n4,5,1\n",
         "csv labels must be 0/1 or -1/1, not both: line 2 has 0, line 3 has -1"),
        ("1,2,1\n2,3,0\n3,4,2\n4,5,1\n", "csv line 3: label 2; labels must be 0/1 or -1/1"),
    ],
)  # fmt: skip
def test_csv_errors_name_the_line_of_the_text(client: TestClient, text: str, message: str) -> None:
    r = client.post("/api/runs", json={"dataset": "csv", "csv": text})
    assert r.status_code == 400 and r.json() == {"error": message}


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("1e-310,2e-310,0\n-1e-310,3e-310,1\n0,0,0\n1e-310,-1e-310,1\n", [0, 1, 0, 1]),
        ("1,2,-1\r3,4,1\r5,6,-1\r7,8,1\r", [0, 1, 0, 1]),  # old Mac line ends
    ],
)
def test_csv_tiny_coordinates_and_bare_cr_lines_train(
    client: TestClient, text: str, labels: list[int]
) -> None:
    run = create(client, dataset="csv", csv=text, batch_size=1, ratio=0.9)
    state = run["state"]
    xs = np.array(state["train"]["x"] + state["test"]["x"])
    assert np.abs(xs).max() == pytest.approx(0.9)
    assert sorted(state["train"]["label"] + state["test"]["label"]) == sorted(labels)
    assert step(client, run["id"], 5)["step"] == 5


def test_defaults_are_documented(client: TestClient) -> None:
    d = client.get("/api/defaults").json()
    assert d["settings"]["dataset"] == "xor" and d["default_steps"] == DEFAULT_STEPS
    assert json.loads(json.dumps(d)) == d


def test_live_websocket_streams_frames(client: TestClient) -> None:
    run = create(client)
    headers = {"origin": "http://127.0.0.1:8765"}
    with client.websocket_connect(
        f"ws://127.0.0.1:8765/api/runs/{run['id']}/live?token={TOKEN}", headers=headers
    ) as ws:
        ws.send_text(json.dumps({"step": 3}))
        frame = ws.receive_json()
        assert frame["step"] == 3 and frame["losses_from"] == 0 and len(frame["losses"]) == 3
        ws.send_text(json.dumps({"play": True}))
        steps = [ws.receive_json()["step"] for _ in range(3)]
        # pause, then play again: frames keep coming, with steps beyond those seen
        ws.send_text(json.dumps({"play": False}))
        ws.send_text(json.dumps({"play": True}))
        frames = [ws.receive_json() for _ in range(6)]
        later = [f["step"] for f in frames]
        # each frame carries only what is new: the curve from where the last frame stopped
        for a, b in itertools.pairwise(frames):
            assert b["curve_from"] == a["curve_from"] + len(a["curve"])
            assert b["losses_from"] == a["losses_from"] + len(a["losses"])
        ws.send_text(json.dumps({"play": False}))
    assert max(later) > max(steps)
    assert steps == sorted(steps) and steps[0] > 3


def test_losses_from_sends_only_the_newer_losses(client: TestClient) -> None:
    run = create(client)
    full = step(client, run["id"], 50)["losses"]
    assert len(full) == 50
    r = client.get(f"/api/runs/{run['id']}", params={"losses_from": 45})
    assert r.json()["losses_from"] == 45 and r.json()["losses"] == full[45:]
    assert "train" in r.json()  # the points, as without losses_from
    r = client.post(f"/api/runs/{run['id']}/step?losses_from=50", json={"steps": 3})
    newer = r.json()
    assert newer["losses_from"] == 50 and len(newer["losses"]) == 3 and newer["step"] == 53
    edit = {"layer": 0, "row": 0, "col": 0, "value": 0.5}
    r = client.post(f"/api/runs/{run['id']}/weight?losses_from=53", json=edit)
    assert r.json()["losses"] == []
    assert client.get(f"/api/runs/{run['id']}").json()["losses"][:53] == full + newer["losses"]
    for bad in ("-1", "x", "1.5", "9" * 50):
        r = client.get(f"/api/runs/{run['id']}", params={"losses_from": bad})
        assert r.status_code == 400
        assert r.json()["error"].startswith("losses_from must be a whole number of steps")


def test_a_diverging_run_is_stopped_and_still_readable(client: TestClient) -> None:
    run = create(client, lr=10.0, hidden=[8, 8], activation="relu", seed=1)
    first = client.post(f"/api/runs/{run['id']}/step", json={"steps": 1000})
    assert first.status_code == 400 and "lr=10 is too large" in first.json()["error"]
    step_count = client.get(f"/api/runs/{run['id']}").json()["step"]
    again = client.post(f"/api/runs/{run['id']}/step", json={"steps": 1})
    assert again.status_code == 400 and "lr=10 is too large" in again.json()["error"]
    state = client.get(f"/api/runs/{run['id']}").json()  # strict JSON: no NaN or Infinity
    assert state["step"] == step_count
    assert state["loss"] is None or state["loss"] > 1e6
    assert client.get(f"/api/runs/{run['id']}/export", params={"format": "json"}).status_code == 200
