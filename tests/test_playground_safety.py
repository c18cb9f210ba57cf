"""The playground server's safety: the token on every request, the Host and Origin checks, every
limit refused with a 4xx and a one-line JSON error, no file named by a request, and a real server
on loopback that keeps serving through a loop of bad requests. Also the command's own errors."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("starlette")
httpx2 = pytest.importorskip("httpx2")

from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from backprop.web.app import MAX_BODY, MAX_RUNS, MAX_VIEWS, create_app  # noqa: E402
from backprop.web.runs import MAX_STEPS_PER_CALL  # noqa: E402

TOKEN = "s3cret"
BASE = "http://127.0.0.1:8765"


@pytest.fixture
def app() -> Any:
    return create_app(TOKEN)


@pytest.fixture
def client(app: Any) -> TestClient:
    return TestClient(app, base_url=BASE, headers={"Authorization": f"token {TOKEN}"})


@pytest.fixture
def anonymous(app: Any) -> TestClient:
    """The same server, as a client that has no token."""
    return TestClient(app, base_url=BASE)


def one_line_error(r: Any, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"}
    assert "\n" not in body["error"] and body["error"]
    return str(body["error"])


ROUTES = [
    ("GET", "/"),
    ("GET", "/api/defaults"),
    ("POST", "/api/runs"),
    ("GET", "/api/runs/r1"),
    ("POST", "/api/runs/r1/step"),
    ("POST", "/api/runs/r1/weight"),
    ("GET", "/api/runs/r1/backward"),
    ("GET", "/api/runs/r1/export?format=json"),
    ("DELETE", "/api/runs/r1"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_the_token(anonymous: TestClient, method: str, path: str) -> None:
    assert "token missing" in one_line_error(anonymous.request(method, path), 403)
    wrong = anonymous.request(method, path, headers={"Authorization": "token nope"})
    assert "token wrong" in one_line_error(wrong, 403)
    sep = "&" if "?" in path else "?"
    assert "token wrong" in one_line_error(anonymous.request(method, f"{path}{sep}token=x"), 403)


def test_token_in_query_or_header(anonymous: TestClient) -> None:
    assert anonymous.get(f"/api/defaults?token={TOKEN}").status_code == 200
    assert (
        anonymous.get("/api/defaults", headers={"Authorization": f"token {TOKEN}"}).status_code
        == 200
    )
    assert anonymous.get(f"/?token={TOKEN}").headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.1.evil.example", "192.168.1.10:8765", ""]
)
def test_host_header_must_be_loopback(client: TestClient, host: str) -> None:
    r = client.get("/api/defaults", headers={"Host": host})
    assert "is not this server's" in one_line_error(r, 403)


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST"])
def test_loopback_hosts_are_served(client: TestClient, host: str) -> None:
    assert client.get("/api/defaults", headers={"Host": host}).status_code == 200


def test_websocket_needs_token_and_own_origin(client: TestClient, anonymous: TestClient) -> None:
    run_id = client.post("/api/runs", json={}).json()["id"]
    url = f"ws://127.0.0.1:8765/api/runs/{run_id}/live"
    for path, headers in [
        (url, {}),  # no token
        (f"{url}?token=wrong", {}),
        (f"{url}?token={TOKEN}", {"origin": "http://evil.example"}),
        (f"{url}?token={TOKEN}", {"origin": "http://127.0.0.1:9999"}),
    ]:
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            anonymous.websocket_connect(path, headers=headers),
        ):
            pass
        assert refused.value.code == 1008
        assert "token" in refused.value.reason or "is not this server's" in refused.value.reason
    with anonymous.websocket_connect(
        f"{url}?token={TOKEN}", headers={"origin": "http://127.0.0.1:8765"}
    ) as ws:
        ws.send_text(json.dumps({"step": 1}))
        assert ws.receive_json()["step"] == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"hidden": [4] * 7}, 400, "at most 6"),
        ({"hidden": [17]}, 400, "hidden[0] must lie in 1 … 16"),
        ({"hidden": [0]}, 400, "hidden[0]"),
        ({"lr": 1e308}, 400, "lr must lie in"),
        ({"lr": "fast"}, 400, "lr must be a finite number"),
        ({"lr": 10**400}, 400, "lr must be a finite number, got 1000"),
        ({"momentum": -(10**400)}, 400, "momentum must be a finite number"),
        ({"noise": 10**400}, 400, "noise must be a finite number"),
        ({"ratio": 10**400}, 400, "ratio must be a finite number"),
        ({"batch_size": 10**400}, 400, "batch_size must lie in 1 … 500"),
        ({"hidden": [10**400]}, 400, "hidden[0] must lie in 1 … 16"),
        ({"seed": -(10**400)}, 400, "seed must lie in"),
        ({"seed": 2**64}, 400, "seed must lie in"),
        ({"seed": True}, 400, "seed must be a whole number"),
        ({"batch_size": 10**9}, 400, "batch_size"),
        ({"dataset": "../../etc/passwd"}, 400, "dataset must be one of"),
        ({"activation": "gelu"}, 400, "activation must be one of"),
        ({"bogus": 1}, 400, "unknown setting 'bogus'"),
        ({"dataset": "slp", "loss": "cross_entropy"}, 400, "slp is a regression"),
        ({"dataset": "csv", "csv": "1,2,0\n" * 12000}, 413, "64 KiB"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_bad_settings_are_refused(client: TestClient, body: Any, status: int, words: str) -> None:
    assert words in one_line_error(client.post("/api/runs", json=body), status)


def test_body_size_limit(client: TestClient) -> None:
    big = b"{" + b" " * (MAX_BODY + 1) + b"}"
    r = client.post("/api/runs", content=big, headers={"content-type": "application/json"})
    assert "KiB" in one_line_error(r, 413)


def test_bad_json_and_unknown_ids(client: TestClient) -> None:
    r = client.post("/api/runs", content=b"{not json", headers={"content-type": "application/json"})
    assert one_line_error(r, 400) == "the request body is not valid JSON"
    assert "no run 'r999'" in one_line_error(client.get("/api/runs/r999"), 404)
    assert "no run" in one_line_error(client.post("/api/runs/nope/step", json={"steps": 1}), 404)


def test_steps_per_call_limit(client: TestClient) -> None:
    run_id = client.post("/api/runs", json={}).json()["id"]
    for steps in (MAX_STEPS_PER_CALL + 1, 0, -5, 10**30, 10**400):
        r = client.post(f"/api/runs/{run_id}/step", json={"steps": steps})
        assert "steps must lie in" in one_line_error(r, 400)
    r = client.post(f"/api/runs/{run_id}/step", json={"steps": "many"})
    assert "steps must be a whole number" in one_line_error(r, 400)


def test_weight_edit_limits(client: TestClient) -> None:
    run_id = client.post("/api/runs", json={}).json()["id"]
    for body, words in [
        ({"layer": 9, "row": 0, "col": 0, "value": 1}, "layer must lie in"),
        ({"layer": 0, "row": 5, "col": 0, "value": 1}, "row must lie in"),
        ({"layer": 0, "row": 0, "col": 0, "value": 1e300}, "value must be a number"),
        ({"layer": 0, "row": 0, "col": 0, "value": 10**400}, "value must be a number"),
        ({"layer": 10**400, "row": 0, "col": 0, "value": 1}, "layer must lie in"),
        ({"layer": 0, "row": -(10**400), "col": 0, "value": 1}, "row must lie in"),
        ({"layer": 0, "row": None, "col": 10**400, "value": 1}, "col must lie in"),
        ({"layer": 0, "row": 0, "col": 0}, "the body must be"),
    ]:
        r = client.post(f"/api/runs/{run_id}/weight", json=body)
        assert words in one_line_error(r, 400)


def test_live_runs_limit(client: TestClient) -> None:
    ids = [client.post("/api/runs", json={"hidden": [1]}).json()["id"] for _ in range(MAX_RUNS)]
    r = client.post("/api/runs", json={})
    assert "runs are live already" in one_line_error(r, 429)
    assert client.delete(f"/api/runs/{ids[0]}").status_code == 204
    assert client.post("/api/runs", json={}).status_code == 201


def test_concurrent_creates_cannot_pass_the_live_runs_limit(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creates that arrive while other runs are still being built count those runs: with every
    build held open, MAX_RUNS of MAX_RUNS + 4 simultaneous creates build and 4 are refused."""
    import backprop.web.app as web_app

    building, go = [], threading.Event()

    class HeldRun(web_app.Run):
        def __init__(self, *args: Any) -> None:
            building.append(self)
            go.wait(10)
            super().__init__(*args)

    monkeypatch.setattr(web_app, "Run", HeldRun)
    statuses: list[int] = []

    def post() -> None:
        statuses.append(client.post("/api/runs", json={"hidden": [1]}).status_code)

    threads = [threading.Thread(target=post) for _ in range(MAX_RUNS + 4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while len(building) + len(statuses) < MAX_RUNS + 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.set()
    for t in threads:
        t.join(10)
    assert len(building) == MAX_RUNS
    assert sorted(statuses) == [201] * MAX_RUNS + [429] * 4


def test_a_run_that_fails_to_build_gives_its_slot_back(client: TestClient) -> None:
    for _ in range(MAX_RUNS + 1):
        r = client.post("/api/runs", json={"batch_size": 400})  # 250 training points
        assert "larger than the 250 training points" in one_line_error(r, 400)
    for _ in range(MAX_RUNS):
        assert client.post("/api/runs", json={"hidden": [1]}).status_code == 201


def live_url(run_id: str) -> str:
    return f"ws://127.0.0.1:8765/api/runs/{run_id}/live?token={TOKEN}"


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every Run the app builds from here on, in order (the app's Run class, recording)."""
    import backprop.web.app as web_app

    runs: list[Any] = []

    class SeenRun(web_app.Run):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            runs.append(self)

    monkeypatch.setattr(web_app, "Run", SeenRun)
    return runs


def test_deleting_a_playing_run_stops_it_and_closes_its_sockets(app: Any, made: list[Any]) -> None:
    # one event loop for the socket and the requests, as under uvicorn
    with TestClient(app, base_url=BASE, headers={"Authorization": f"token {TOKEN}"}) as client:
        run_id = client.post("/api/runs", json={}).json()["id"]
        with client.websocket_connect(live_url(run_id)) as ws:
            ws.send_text(json.dumps({"play": True}))
            assert ws.receive_json()["step"] > 0
            assert client.delete(f"/api/runs/{run_id}").status_code == 204
            for _ in range(100):  # frames sent before the delete, then the close
                message = ws.receive()
                if message["type"] == "websocket.close":
                    break
            assert message == {
                "type": "websocket.close", "code": 1001, "reason": "the run was deleted"
            }  # fmt: skip
            stopped_at = made[0].step_count
            time.sleep(0.2)
            assert made[0].step_count == stopped_at
        r = client.post(f"/api/runs/{run_id}/step", json={"steps": 1})
        assert "no run" in one_line_error(r, 404)


def test_a_weight_edit_waiting_for_a_long_step_blocks_no_other_request(
    app: Any, made: list[Any]
) -> None:
    with TestClient(app, base_url=BASE, headers={"Authorization": f"token {TOKEN}"}) as client:
        run_id = client.post("/api/runs", json={}).json()["id"]
        edit = {"layer": 0, "row": 0, "col": 0, "value": 0.5}
        answers: dict[str, int] = {}

        def request(name: str, method: str, path: str, **kwargs: Any) -> threading.Thread:
            def go() -> None:
                answers[name] = client.request(method, path, **kwargs).status_code

            thread = threading.Thread(target=go)
            thread.start()
            return thread

        made[0].lock.acquire()  # as a long step holds it
        try:
            weight = request("weight", "POST", f"/api/runs/{run_id}/weight", json=edit)
            time.sleep(0.2)
            request("defaults", "GET", "/api/defaults").join(3)
            assert answers == {"defaults": 200}
        finally:
            made[0].lock.release()
        weight.join(10)
        assert answers == {"defaults": 200, "weight": 200}
        assert client.get(f"/api/runs/{run_id}").json()["layers"][0]["weight"][0][0] == 0.5


def test_live_view_answers_bad_messages_and_stays_open(client: TestClient) -> None:
    run_id = client.post("/api/runs", json={}).json()["id"]
    with client.websocket_connect(live_url(run_id)) as ws:
        for message in ["hello", "[1]", "[" * 100_000 + "]" * 100_000]:
            ws.send_text(message)
            assert ws.receive_json() == {"error": 'send a JSON object: {"play": true}'}
        ws.send_bytes(b'{"play": true}')
        assert ws.receive_json() == {"error": 'send text frames: a JSON object, {"play": true}'}
        ws.send_text(json.dumps({"step": 1}))
        assert ws.receive_json()["step"] == 1


def test_live_views_per_run_are_capped(client: TestClient) -> None:
    run_id = client.post("/api/runs", json={}).json()["id"]
    other = client.post("/api/runs", json={}).json()["id"]
    with contextlib.ExitStack() as stack:
        views = [stack.enter_context(client.websocket_connect(live_url(run_id)))
                 for _ in range(MAX_VIEWS)]  # fmt: skip
        with client.websocket_connect(live_url(run_id)) as refused:
            error = refused.receive_json()["error"]
            assert error == f"{MAX_VIEWS} live views of this run are open already: close one first"
            with pytest.raises(WebSocketDisconnect) as closed:
                refused.receive_json()
            assert closed.value.code == 1008 and closed.value.reason == error
        with client.websocket_connect(live_url(other)) as ws:  # another run has its own views
            ws.send_text(json.dumps({"step": 1}))
            assert ws.receive_json()["step"] == 1
        views[0].send_text(json.dumps({"step": 2}))
        assert views[0].receive_json()["step"] == 2
    with client.websocket_connect(live_url(run_id)) as ws:  # the views closed: room again
        ws.send_text(json.dumps({"step": 1}))
        assert ws.receive_json()["step"] == 3


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e/app.py",
        "/static/..%2f..%2fapp.py",
        "/static/vendor/../../app.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/etc/passwd",
        "/app.py",
    ],
)
def test_no_request_names_a_server_file(client: TestClient, path: str) -> None:
    r = client.get(f"{path}?token={TOKEN}")
    assert r.status_code == 404, (path, r.status_code)
    assert "root:" not in r.text and "import" not in r.text


def test_export_format_is_a_name_not_a_path(client: TestClient) -> None:
    run_id = client.post("/api/runs", json={}).json()["id"]
    r = client.get(f"/api/runs/{run_id}/export", params={"format": "../../etc/passwd"})
    assert "format must be one of" in one_line_error(r, 400)


def test_static_files_are_served_and_d3_is_vendored(client: TestClient) -> None:
    r = client.get("/static/vendor/d3-7.9.0/d3.min.js")
    assert r.status_code == 200 and r.text.startswith("// https://d3js.org v7.9.0")
    assert "Mike Bostock" in client.get("/static/vendor/d3-7.9.0/LICENSE").text


# ------------------------------------------------------------------ the real server on loopback


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "backprop", "playground", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)


def test_server_prints_url_with_token_and_survives_bad_requests(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = server
    assert url.startswith("http://127.0.0.1:") and "/?token=" in url
    base, token = url.split("/?token=")
    auth = {"Authorization": f"token {token}"}
    with httpx2.Client(base_url=base, timeout=10) as http:
        run_id = http.post("/api/runs", json={}, headers=auth).json()["id"]
        bad: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/api/runs", {"content": b"{", "headers": auth}),
            ("POST", "/api/runs", {"json": {"hidden": ["x"]}, "headers": auth}),
            ("POST", "/api/runs", {"json": {"lr": 1e308}, "headers": auth}),
            ("POST", f"/api/runs/{run_id}/step", {"json": {"steps": 10**12}, "headers": auth}),
            ("POST", f"/api/runs/{run_id}/step", {"content": b"\xff\xfe", "headers": auth}),
            ("GET", "/api/runs/r404", {"headers": auth}),
            ("GET", "/api/runs/r1", {}),
            ("GET", "/api/runs/r1", {"headers": {**auth, "Host": "evil.example"}}),
            ("POST", "/api/runs", {"content": b"[" * 100_000, "headers": auth}),
        ]
        for _ in range(8):
            for method, path, kwargs in bad:
                r = http.request(method, path, **kwargs)
                assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
                assert "error" in r.json()
        assert http.get(f"/api/runs/{run_id}", headers=auth).status_code == 200
        assert (
            http.post(f"/api/runs/{run_id}/step", json={"steps": 5}, headers=auth).json()["step"]
            == 5
        )
    assert proc.poll() is None


def test_refused_websocket_handshakes_get_403_and_log_no_error(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = server
    base, token = url.split("/?token=")
    port = int(base.rsplit(":", 1)[1])
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip
    for path, headers in [
        ("/api/runs/r1/live", {}),
        ("/api/runs/r1/live?token=wrong", {}),
        (f"/api/runs/r1/live?token={token}", {"Origin": "http://evil.example"}),
    ]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers={**upgrade, **headers})
        assert conn.getresponse().status == 403
        conn.close()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert err == "Ctrl-C stops the server.\n"


def test_ctrl_c_stops_cleanly(server: tuple[subprocess.Popen[str], str]) -> None:
    proc, _ = server
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_ctrl_c_the_moment_the_url_is_printed_stops_cleanly() -> None:
    """SIGINT right after the URL, while the server is still starting, is a clean stop too: exit 0,
    nothing on stderr but the hint (no traceback, no warning), in well under the timeout."""
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "backprop", "playground", "--no-browser", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0
        assert err == "Ctrl-C stops the server.\n"


def test_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "backprop", "playground", "--no-browser", "--port", str(port)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert r.returncode == 1
    assert (
        r.stderr
        == f"backprop playground: port {port} on 127.0.0.1 is in use (try --port 0 for a free one)\n"
    )
    assert r.stdout == ""


def test_missing_web_extra_is_one_line_and_exit_1() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None\n"
        "from backprop.cli import main; sys.exit(main(['playground', '--no-browser']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr == (
        "backprop playground: error: needs starlette and uvicorn: "
        "pip install 'backprop-by-hand[web]'\n"
    )


def test_bad_port_is_usage_error() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "backprop", "playground", "--port", "70000"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        == "backprop playground: error: argument --port: must be <= 65535, got 70000"
    )
