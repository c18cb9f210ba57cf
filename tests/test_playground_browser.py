"""The playground page in a real Chromium (Debian's, driven by Playwright): what a learner sees,
checked against the API's numbers, with no console error. Run by ``make test-browser``.

Screenshots of every view go to $PLAYGROUND_SCREENSHOTS (default: a folder in the temp dir).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = Path(
    os.environ.get("PLAYGROUND_SCREENSHOTS", Path(tempfile.gettempdir()) / "playground-screenshots")
)

sync_api = pytest.importorskip("playwright.sync_api")
httpx2 = pytest.importorskip("httpx2")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no {CHROMIUM}: apt-get install chromium", allow_module_level=True)


def js_fixed(v: float) -> str:
    """The page's number format: 4 decimals, or 4 significant digits in JS's exponent form."""
    if v == 0 or abs(v) >= 1e-3:
        return f"{v:.4f}"
    mantissa, exponent = f"{v:.3e}".split("e")
    return f"{mantissa}e{int(exponent):+d}".replace("e+", "e+")


class Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backprop", "playground", "--no-browser", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        self.base, self.token = self.url.split("/?token=")
        self.http = httpx2.Client(
            base_url=self.base, headers={"Authorization": f"token {self.token}"}, timeout=30
        )

    def get(self, path: str) -> Any:
        r = self.http.get(path)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def page(server: Server) -> Iterator[tuple[Any, list[str]]]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        pg.on(
            "console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None
        )
        pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        yield pg, errors
        browser.close()
    assert errors == [], errors


def shot(pg: Any, name: str) -> None:
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def step_shown(pg: Any) -> int:
    return int(pg.inner_text("#step-count").replace(",", ""))


def edge_point(pg: Any, k: int, i: int, j: int) -> tuple[float, float]:
    """A point on edge k-i-j where that edge (and no other) is the element under the mouse."""
    point = pg.evaluate(
        """(key) => {
        const path = document.querySelector(`.edge-hit[data-edge="${key}"]`);
        const m = path.getScreenCTM();
        const length = path.getTotalLength();
        for (let t = 0.3; t < 0.8; t += 0.02) {
          const p = path.getPointAtLength(length * t);
          const x = m.a * p.x + m.c * p.y + m.e, y = m.b * p.x + m.d * p.y + m.f;
          if (document.elementFromPoint(x, y) === path) return [x, y];
        }
        return null;
      }""",
        f"{k}-{i}-{j}",
    )
    assert point is not None, f"edge {k}-{i}-{j} is hidden under others everywhere"
    return point[0], point[1]


def open_page(pg: Any, url: str) -> str:
    """Load the page at ``url`` and wait for its first run: that run's id."""
    pg.goto(url)
    pg.wait_for_function("window.playground && window.playground.state")
    return str(pg.evaluate("window.playground.run"))


def hover_edge(pg: Any, k: int, i: int, j: int) -> str:
    x, y = edge_point(pg, k, i, j)
    pg.mouse.move(x, y)
    pg.wait_for_selector("#tooltip:not([hidden])")
    return str(pg.inner_html("#tooltip"))


def test_a_learner_steps_walks_the_backward_pass_edits_and_exports(
    server: Server, page: tuple[Any, list[str]]
) -> None:
    pg, errors = page
    run_id = open_page(pg, server.url)
    initial = server.get(f"/api/runs/{run_id}")
    assert step_shown(pg) == 0
    assert pg.locator(".node").count() == 2 + 4 + 4 + 1  # the default 2-4-4-1 network
    assert pg.inner_text("#train-loss") == js_fixed(initial["loss"])
    shot(pg, "01-fresh-page")

    # One step: the numbers on the page are the API's.
    pg.click("#step")
    pg.wait_for_function("document.getElementById('step-count').textContent === '1'")
    state = server.get(f"/api/runs/{run_id}")
    assert state["step"] == 1
    tip = hover_edge(pg, 1, 2, 3)
    layer = state["layers"][1]
    assert "W⁽²⁾[3,4]" in tip
    assert f"weight <b>{js_fixed(layer['weight'][2][3])}</b>" in tip
    assert f"gradient ∂L/∂W <b>{js_fixed(layer['weight_grad'][2][3])}</b>" in tip
    assert f"last update ΔW <b>{js_fixed(layer['weight_update'][2][3])}</b>" in tip
    shot(pg, "02-hover-an-edge")

    # The backward pass, block by block, from the loss back to the first layer.
    pg.click("#backprop")
    pg.wait_for_selector("#backward:not([hidden])")
    assert step_shown(pg) == 2
    blocks = server.get(f"/api/runs/{run_id}/backward")["blocks"]
    assert pg.is_checked("input[name=edges][value=gradient]")
    for index, block in enumerate(blocks):
        assert pg.inner_text("#bw-title") == block["title"]
        assert pg.inner_text("#bw-equation") == block["equation"]
        values = pg.inner_text("#bw-values")
        for v in block["values"]:
            assert f"{v['name']} = {v['lines'][0]}" in values
            for line in v["lines"][1:]:
                assert line in values
        if block["part"] == "loss":
            assert pg.locator(".node.hl").count() == 1
            shot(pg, "03-backward-the-loss")
        if block["part"] == "linear":
            k = block["layer"]
            sizes = [2, 4, 4, 1]
            assert pg.locator("path.edge.hl").count() == sizes[k] * sizes[k + 1]
            assert pg.locator(".node.hl").count() == sizes[k + 1]
            if k == 0:
                shot(pg, "04-backward-the-first-layer")
        if block["part"] == "update":
            assert pg.is_checked("input[name=edges][value=update]")
            shot(pg, "05-backward-the-update")
        if index < len(blocks) - 1:
            pg.click("#bw-next")
    pg.click("#bw-close")
    assert pg.is_hidden("#backward")

    # Edges as gradients: the thickest edge is the largest |dL/dW| of the API's state.
    state = server.get(f"/api/runs/{run_id}")
    pg.check("input[name=edges][value=gradient]")
    widths = pg.evaluate(
        "[...document.querySelectorAll('path.edge')].map(p => +p.getAttribute('stroke-width'))"
    )
    grads = [
        abs(g)
        for layer in state["layers"]
        for row_i in range(len(layer["weight_grad"]))
        for g in layer["weight_grad"][row_i]
    ]
    assert widths.index(max(widths)) == grads.index(max(grads))
    assert max(widths) == pytest.approx(6.0)
    assert "#edges=gradient" in pg.url or "edges=gradient" in pg.url
    shot(pg, "06-edges-as-gradients")
    pg.check("input[name=neurons][value=gradient]")
    shot(pg, "07-neurons-as-gradients")
    pg.check("input[name=neurons][value=output]")

    # Click a weight, edit it: the server's weight is the typed value.
    x, y = edge_point(pg, 0, 1, 2)
    pg.mouse.click(x, y)
    pg.wait_for_selector("#editor:not([hidden])")
    assert "W⁽¹⁾[2,3]" in pg.inner_text("#editor-label")
    shot(pg, "08-edit-a-weight")
    pg.fill("#editor-value", "0.5")
    pg.press("#editor-value", "Enter")
    pg.wait_for_function("window.playground.state.layers[0].weight[1][2] === 0.5")
    assert server.get(f"/api/runs/{run_id}")["layers"][0]["weight"][1][2] == 0.5
    assert "weight <b>0.5000</b>" in hover_edge(pg, 0, 1, 2)

    # Play, pause: the page shows the server's step and loss.
    pg.check("input[name=edges][value=weight]")
    pg.click("#play")
    pg.wait_for_function("window.playground.state.step > 300")
    pg.click("#play")
    pg.wait_for_timeout(300)
    state = server.get(f"/api/runs/{run_id}")
    assert step_shown(pg) == state["step"]
    assert pg.inner_text("#train-loss") == js_fixed(state["loss"])
    assert not math.isnan(state["loss"])
    shot(pg, "09-after-training")

    # Export: the JSON download holds the API's weights; the PyTorch script rebuilds the net.
    with pg.expect_download() as download:
        pg.click("#export-json")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["layers"] == state["layers"] or exported["step"] == state["step"]
    assert exported["layers"][0]["weight"] == state["layers"][0]["weight"]
    with pg.expect_download() as download:
        pg.click("#export-pytorch")
    script = Path(download.value.path()).read_text()
    assert "nn.Linear(2, 4, dtype=torch.float64)" in script and "nn.Tanh()" in script
    with pg.expect_download() as download:
        pg.click("#export-npz")
    assert Path(download.value.path()).read_bytes()[:2] == b"PK"

    # The README's picture: a trained network, its backward pass at the second layer.
    pg.click("#backprop")
    pg.wait_for_selector("#backward:not([hidden])")
    while pg.inner_text("#bw-title") != "Backward through Linear 2":
        pg.click("#bw-next")
    pg.mouse.move(5, 5)
    pg.screenshot(path=str(SHOTS / "readme.png"))
    pg.click("#bw-close")

    # Replay: a new run from the same initial weights.
    pg.click("#replay")
    pg.wait_for_function(f"window.playground.run && window.playground.run !== {json.dumps(run_id)}")
    pg.wait_for_function("window.playground.state.step === 0")
    replay = server.get(f"/api/runs/{pg.evaluate('window.playground.run')}")
    assert replay["layers"][0]["weight"] == initial["layers"][0]["weight"]
    assert errors == []


def test_settings_come_from_the_url(server: Server, page: tuple[Any, list[str]]) -> None:
    pg, _ = page
    run_id = open_page(
        pg,
        f"{server.url}#dataset=circle&hidden=3,2&activation=relu&loss=cross_entropy&edges=gradient",
    )
    settings = server.get(f"/api/runs/{run_id}")["settings"]
    assert settings["dataset"] == "circle" and settings["hidden"] == [3, 2]
    assert settings["activation"] == "relu" and settings["loss"] == "cross_entropy"
    assert pg.locator(".node").count() == 2 + 3 + 2 + 2
    assert pg.is_checked("input[name=edges][value=gradient]")
    # a neuron more in layer 1, from the page
    pg.click(".width-plus >> nth=0")
    pg.wait_for_function(
        f"window.playground.run !== {json.dumps(run_id)} && window.playground.state"
    )
    pg.wait_for_function("document.querySelectorAll('.node').length === 10")
    assert "hidden=4%2C2" in pg.url or "hidden=4,2" in pg.url
    pg.click("button[data-dataset=spiral]")
    pg.wait_for_function(
        "window.playground.state && window.playground.settings.dataset === 'spiral'"
    )
    pg.click("#play")
    pg.wait_for_function("window.playground.state.step > 200")
    pg.click("#play")
    shot(pg, "10-spiral-from-the-url")

    # Hover over a neuron: its bias and gradient are the API's.
    run_id = pg.evaluate("window.playground.run")
    state = server.get(f"/api/runs/{run_id}")
    pg.hover('.node[data-node="1-0"]')
    tip = pg.inner_html("#tooltip")
    assert f"bias b <b>{js_fixed(state['layers'][0]['bias'][0])}</b>" in tip
    assert f"gradient ∂L/∂b <b>{js_fixed(state['layers'][0]['bias_grad'][0])}</b>" in tip
    assert "relu(" in tip
    shot(pg, "11-hover-a-neuron")

    # The post's task: a regression with two outputs.
    pg.click("button[data-dataset=slp]")
    pg.wait_for_function("window.playground.state && window.playground.regression === true")
    assert pg.locator(".node").count() == 2 + 4 + 2 + 2
    assert pg.input_value("#loss") == "mse"
    pg.click("#step")
    pg.wait_for_function("document.getElementById('step-count').textContent === '1'")
    shot(pg, "12-the-posts-task")


def test_your_own_points_from_a_csv_file(server: Server, page: tuple[Any, list[str]]) -> None:
    pg, _ = page
    open_page(pg, server.url)
    rows = ["x1,x2,label"] + [f"{i % 7 - 3},{i % 5 - 2},{int(i % 7 > 3)}" for i in range(60)]
    pg.set_input_files(
        "#csv",
        files=[{"name": "mine.csv", "mimeType": "text/csv", "buffer": "\n".join(rows).encode()}],
    )
    pg.wait_for_function("window.playground.settings.dataset === 'csv' && window.playground.state")
    pg.wait_for_function(
        "window.playground.train.x.length + window.playground.test.x.length === 60"
    )
    run_id = pg.evaluate("window.playground.run")
    state = server.get(f"/api/runs/{run_id}")
    assert state["settings"]["dataset"] == "csv"
    assert len(state["train"]["x"]) + len(state["test"]["x"]) == 60
    shot(pg, "13-your-own-points")
    # A file over the limit is refused on the page, before any request.
    pg.set_input_files(
        "#csv", files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": b"1,2,0\n" * 20000}]
    )
    pg.wait_for_selector("#message:not([hidden])")
    assert pg.inner_text("#message") == "big.csv is larger than 64 KiB"
    assert pg.evaluate("window.playground.run") == run_id


def expected_refusals(errors: list[str]) -> None:
    """Drop the console's line for each 400 the test provoked on purpose."""
    errors[:] = [e for e in errors if "status of 400" not in e]


def upload(pg: Any, name: str, rows: list[str]) -> None:
    pg.set_input_files(
        "#csv", files=[{"name": name, "mimeType": "text/csv", "buffer": "\n".join(rows).encode()}]
    )


def test_a_refused_run_keeps_the_run_on_screen_and_its_settings(
    server: Server, page: tuple[Any, list[str]]
) -> None:
    pg, errors = page
    run_id = open_page(pg, server.url)
    hint = pg.inner_text("#data-hint")
    # A row the server refuses: the xor run stays, with its controls, and Step still steps it.
    upload(pg, "broken.csv", ["x1,x2,label", "1,2,0", "3,4", "5,6,1", "7,8,0", "9,1,1"])
    pg.wait_for_selector("#message:not([hidden])")
    assert "expected three numbers x1,x2,label, got '3,4'" in pg.inner_text("#message")
    assert pg.evaluate("window.playground.settings.dataset") == "xor"
    assert pg.get_attribute("#datasets button.selected", "data-dataset") == "xor"
    assert pg.inner_text("#data-hint") == hint
    assert run_id in str(pg.get_attribute("#export-json", "href"))
    shot(pg, "14-a-refused-csv")
    pg.fill("#seed", "99999999999")
    pg.press("#seed", "Enter")
    pg.wait_for_function("document.getElementById('seed').value === '0'")
    pg.click("#step")
    pg.wait_for_function("document.getElementById('step-count').textContent === '1'")
    assert pg.evaluate("window.playground.run") == run_id
    assert server.get(f"/api/runs/{run_id}")["step"] == 1
    expected_refusals(errors)


def test_a_small_csv_gets_a_batch_size_it_can_fill(
    server: Server, page: tuple[Any, list[str]]
) -> None:
    pg, _ = page
    xor_run = open_page(pg, server.url)
    upload(pg, "small.csv", ["x1,x2,label"] + [f"{i % 4},{i % 3},{i % 2}" for i in range(12)])
    pg.wait_for_function(f"window.playground.run !== {json.dumps(xor_run)}")
    run_id = pg.evaluate("window.playground.run")
    assert server.get(f"/api/runs/{run_id}")["settings"]["batch_size"] == 6
    assert pg.inner_text("#batch-value") == "6"
    assert "Batch size 10 → 6" in pg.inner_text("#message")
    pg.click("#step")
    pg.wait_for_function("document.getElementById('step-count').textContent === '1'")
    shot(pg, "15-a-small-csv")


BAD_LINKS = [
    "hidden=99,3", "batch_size=1000", "seed=-1", "activation=foo", "dataset=slp&loss=cross_entropy"
]  # fmt: skip


def test_a_bad_value_in_the_url_is_ignored_with_a_note(
    server: Server, page: tuple[Any, list[str]]
) -> None:
    pg, _ = page
    for bad in BAD_LINKS:
        pg.goto("about:blank")
        run_id = open_page(pg, f"{server.url}#lr=0.05&{bad}")
        settings = server.get(f"/api/runs/{run_id}")["settings"]
        assert settings["lr"] == 0.05
        assert pg.input_value("#lr") == "0.05"  # a rate the list lacks joins it
        name, value = bad.split("&")[-1].split("=")
        assert str(settings[name]) != value
        assert f"Ignored from the link: {name}={value}" in pg.inner_text("#message")
        pg.click("#step")
        pg.wait_for_function("document.getElementById('step-count').textContent === '1'")
        shot(pg, f"16-a-bad-link-{name}")


def test_a_seed_the_page_refuses_goes_back_to_the_runs_seed(
    server: Server, page: tuple[Any, list[str]]
) -> None:
    pg, _ = page
    run_id = open_page(pg, f"{server.url}#seed=7")
    for typed in ["-3", "99999999999", "1.5"]:
        pg.fill("#seed", typed)
        pg.press("#seed", "Enter")
        pg.wait_for_function("document.getElementById('seed').value === '7'")
        assert "seed must be a whole number in 0 … 4294967295" in pg.inner_text("#message")
    assert pg.evaluate("window.playground.run") == run_id


def live_steps(pg: Any, n: int) -> None:
    """Ask for n training steps over the run's live view, once it is open."""
    pg.wait_for_function("window.playground.ws.readyState === WebSocket.OPEN")
    pg.evaluate(f"window.playground.ws.send(JSON.stringify({{ step: {n} }}))")


def edit_bias(pg: Any, value: str) -> None:
    pg.click('.node[data-node="1-0"]')
    pg.wait_for_selector("#editor:not([hidden])")
    pg.fill("#editor-value", value)
    pg.press("#editor-value", "Enter")


def test_messages_and_the_walk_do_not_outlive_what_they_describe(
    server: Server, page: tuple[Any, list[str]]
) -> None:
    pg, errors = page
    open_page(pg, server.url)
    # A refused edit's message goes once a later edit is made.
    edit_bias(pg, "5000")
    pg.wait_for_selector("#message:not([hidden])")
    assert "-1000 … 1000" in pg.inner_text("#message")
    edit_bias(pg, "2.5")
    pg.wait_for_function("window.playground.state.layers[0].bias[0] === 2.5")
    pg.wait_for_selector("#message", state="hidden")
    expected_refusals(errors)
    # The walk names its step as the counter does, and closes when training goes on.
    live_steps(pg, 1234)
    pg.wait_for_function("window.playground.state.step === 1234")
    pg.click("#backprop")
    pg.wait_for_selector("#backward:not([hidden])")
    assert "of step 1,235's backward pass" in pg.inner_text("#bw-count")
    pg.click("#play")
    pg.wait_for_selector("#backward", state="hidden")
    pg.wait_for_function("window.playground.state.step > 1300")
    assert pg.locator(".node.hl").count() == 0
    pg.click("#play")
    pg.click("#backprop")
    pg.wait_for_selector("#backward:not([hidden])")
    pg.click("#step")
    pg.wait_for_selector("#backward", state="hidden")
    shot(pg, "17-the-walk-closed-by-a-step")


def coloured_share(pg: Any, node: str) -> float:
    """The share of a neuron picture's pixels clearly blue or orange (not the grey of zero)."""
    return float(
        pg.evaluate(
            """(key) => {
            const canvas = document.querySelector(`.node[data-node="${key}"] canvas`);
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let coloured = 0;
            for (let i = 0; i < data.length; i += 4) {
              const spread = Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]);
              if (spread > 40) coloured += 1;
            }
            return coloured / (data.length / 4);
          }""",
            node,
        )
    )


def test_the_gradient_dots_stay_visible_after_training(
    server: Server, page: tuple[Any, list[str]]
) -> None:
    pg, _ = page
    open_page(pg, f"{server.url}#neurons=gradient")
    live_steps(pg, 3000)
    pg.wait_for_function("window.playground.state.step === 3000", timeout=60000)
    shares = [coloured_share(pg, f"1-{j}") for j in range(4)]
    assert min(shares) > 0.08, shares  # a linear scale to the largest leaves about 0.03
    assert "log scale" in pg.inner_text("#legend-text")
    # the hover card keeps the exact numbers
    state = server.get(f"/api/runs/{pg.evaluate('window.playground.run')}")
    grads = state["layers"][0]["activation_grad"][0]
    pg.hover('.node[data-node="1-0"]')
    mean = sum(abs(g) for g in grads) / len(grads)
    assert f"<b>{js_fixed(mean)}</b>" in pg.inner_html("#tooltip")
    shot(pg, "18-gradient-dots-after-training")
