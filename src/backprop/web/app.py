"""The playground's ASGI app (Starlette): the page, the JSON API, the live WebSocket, and the
checks every request passes first.

API (every request carries the token, as ``?token=…`` or ``Authorization: token …``):

    POST   /api/runs                  settings (JSON, all optional)  → 201 {"id", "state": STATE}
    GET    /api/runs/{id}             → STATE
    POST   /api/runs/{id}/step        {"steps": n}                   → STATE
    POST   /api/runs/{id}/weight      {"layer", "row", "col", "value"} (row null: the bias) → STATE
           (these three take ?losses_from=k: STATE's ``losses`` from step k on, not from 0)
    GET    /api/runs/{id}/backward    → {"blocks": [...]}: the last step's backward pass
    GET    /api/runs/{id}/export?format=json|npz|pytorch
    DELETE /api/runs/{id}             → 204
    GET    /api/defaults              → the default settings and the limits
    WS     /api/runs/{id}/live        send {"play": true|false} or {"step": n}; receives STATE
                                      frames (without the points; ``losses`` from ``losses_from``)
                                      (MAX_VIEWS per run; closed with 1001 when the run is deleted)

Safety: the Host header must be a loopback name (or the host the server was bound to), against
DNS rebinding; a WebSocket's Origin, when the client sends one, must be the server's own origin;
bodies, networks, steps per call, live runs and live views per run are capped; every refusal is a
4xx with a one-line JSON ``{"error": …}`` (a refused WebSocket handshake: a bare 403). Files are
served only from a list made at start-up, never from a path in the request.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from .datasets import TooLarge
from .export import EXPORTERS, FORMATS
from .live import live_view
from .runs import MAX_STEPS_PER_CALL, MAX_TOTAL_STEPS, Run
from .settings import DEFAULT_STEPS, DEFAULTS, MAX_LAYERS, MAX_WIDTH, parse_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 256 * 1024
MAX_RUNS = 16
MAX_VIEWS = 4  # WebSockets open on one run
LOOPBACK = ("127.0.0.1", "localhost", "::1")
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    "": "text/plain; charset=utf-8",
}


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message.splitlines()[0][:300] if message else "error"}, status)


def host_name(host: str) -> str:
    """'127.0.0.1:8765' → '127.0.0.1', '[::1]:80' → '::1'."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def static_files() -> dict[str, Path]:
    """Every file under static/, by its path there: the only files the server will send."""
    root = Path(str(resources.files("backprop.web") / "static"))
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


class Guard:
    """ASGI middleware: Host check, token check (API, WebSocket, the page), body size limit."""

    def __init__(self, app: ASGIApp, token: str, hosts: set[str]) -> None:
        self.app, self.token, self.hosts = app, token, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self.check(scope, headers)
        if problem is not None:
            status, message = problem
            if scope["type"] == "websocket":
                # A close before the handshake is the ASGI way to refuse it: the server answers
                # 403. (uvicorn's websockets-sansio logs "ASGI callable returned without
                # completing handshake" as an error after a denial response with a body.)
                await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
                return
            await error(status, message)(scope, receive, send)
            return
        if scope["type"] == "http":
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > MAX_BODY:
                await error(413, f"request body over {MAX_BODY // 1024} KiB")(scope, receive, send)
                return
            receive = _capped(receive)
        await self.app(scope, receive, send)

    def check(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if host_name(host).lower() not in self.hosts:
            return 403, f"Host {host[:100]!r} is not this server's (loopback names only)"
        path: str = scope["path"]
        if scope["type"] == "websocket":
            origin = headers.get("origin")
            if origin is not None and origin.lower() != f"http://{host}".lower():
                return 403, f"WebSocket Origin {origin[:100]!r} is not this server's"
        if path.startswith("/static/"):
            return None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.get("token", [""])[0]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("token "):
            given = auth[6:].strip()
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            what = "missing" if not given else "wrong"
            return 403, f"token {what}: use the URL that backprop playground printed"
        return None


def _capped(receive: Receive) -> Receive:
    """A body that streams past MAX_BODY without a Content-Length is cut off with an error."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise BodyTooLarge
        return message

    return wrapped


class BodyTooLarge(Exception):
    pass


class NoRun(Exception):
    """An id that names no live run: a 404."""


class Runs:
    """The live runs. A create reserves its slot before the run is built (in a worker thread),
    so concurrent creates cannot pass MAX_RUNS between the check and the insert."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self.counter = 0
        self.building = 0  # slots reserved by creates whose run is still being built
        self.views: dict[str, set[anyio.Event]] = {}  # each live view's "run deleted" event
        self.lock = threading.Lock()

    def reserve(self) -> str | None:
        """A new run id with its slot taken, or None when MAX_RUNS runs are live or building."""
        with self.lock:
            if len(self.runs) + self.building >= MAX_RUNS:
                return None
            self.building += 1
            self.counter += 1
            return f"r{self.counter}"

    def add(self, run: Run) -> None:
        with self.lock:
            self.building -= 1
            self.runs[run.id] = run

    def release(self) -> None:
        """Give back a reserved slot whose run could not be built."""
        with self.lock:
            self.building -= 1

    def get(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise NoRun(run_id)
        return run

    def remove(self, run_id: str) -> None:
        """Delete a run: it trains no more, and each of its live views is told to close."""
        with self.lock:
            run = self.runs.pop(run_id, None)
            views = self.views.pop(run_id, set())
        if run is None:
            raise NoRun(run_id)
        run.close()
        for gone in views:
            gone.set()

    def attach(self, run_id: str) -> anyio.Event | None:
        """A new live view of a run: the event its deletion sets, or None at MAX_VIEWS."""
        with self.lock:
            views = self.views.setdefault(run_id, set())
            if len(views) >= MAX_VIEWS:
                return None
            gone = anyio.Event()
            views.add(gone)
            return gone

    def detach(self, run_id: str, gone: anyio.Event) -> None:
        with self.lock:
            views = self.views.get(run_id)
            if views is not None:
                views.discard(gone)
                if not views:
                    del self.views[run_id]


async def read_json(request: Request) -> Any:
    try:
        body = await request.body()
    except BodyTooLarge:
        raise TooLarge(f"request body over {MAX_BODY // 1024} KiB") from None
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the request body is not valid JSON") from None


def create_app(token: str, hosts: tuple[str, ...] = ()) -> Any:
    """The app for one server: ``token`` guards every request; ``hosts`` are names allowed in
    the Host header besides the loopback ones (the address given to --host)."""
    store = Runs()
    files = static_files()
    allowed = {h.lower() for h in (*LOOPBACK, *hosts)}

    async def state_response(request: Request, run: Run, points: bool = False) -> JSONResponse:
        """STATE; ``?losses_from=k`` keeps only the batch losses from step k on (the whole list
        reaches MAX_TOTAL_STEPS numbers, about 4 MB, and a client that has the first k needs
        only the rest)."""
        since = request.query_params.get("losses_from", "0")
        if not (since.isascii() and since.isdigit() and len(since) <= 9):
            raise ValueError(f"losses_from must be a whole number of steps, got {since[:30]!r}")
        return JSONResponse(await run_in_threadpool(run.state, points=points, since=int(since)))

    def run_of(request: Request) -> Run:
        return store.get(request.path_params["run_id"])

    async def index(request: Request) -> Response:
        return Response(files["index.html"].read_bytes(), media_type=STATIC_TYPES[".html"])

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        path = files.get(name)
        if path is None:
            return error(404, f"no file {name[:100]!r}")
        return Response(
            path.read_bytes(), media_type=STATIC_TYPES.get(path.suffix, STATIC_TYPES[""])
        )

    async def defaults(request: Request) -> Response:
        return JSONResponse({
            "settings": DEFAULTS, "default_steps": DEFAULT_STEPS, "max_layers": MAX_LAYERS,
            "max_width": MAX_WIDTH, "max_steps_per_call": MAX_STEPS_PER_CALL,
            "max_total_steps": MAX_TOTAL_STEPS, "max_runs": MAX_RUNS, "max_body": MAX_BODY,
            "max_views": MAX_VIEWS,
        })  # fmt: skip

    async def create(request: Request) -> Response:
        settings = parse_settings(await read_json(request))
        run_id = store.reserve()
        if run_id is None:
            return error(429, f"{MAX_RUNS} runs are live already: DELETE /api/runs/ID one first")
        try:
            run = await run_in_threadpool(Run, run_id, settings)
        except BaseException:
            store.release()
            raise
        store.add(run)
        return JSONResponse({"id": run_id, "state": await run_in_threadpool(run.state)}, 201)

    async def get(request: Request) -> Response:
        return await state_response(request, run_of(request), points=True)

    async def step(request: Request) -> Response:
        run = run_of(request)
        body = await read_json(request)
        if body is None:
            body = {}
        if not isinstance(body, dict) or set(body) - {"steps"}:
            raise ValueError('the body must be {"steps": n}')
        steps = body.get("steps", 1)
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise ValueError(f"steps must be a whole number, got {str(steps)[:50]!r}")
        await run_in_threadpool(run.step, steps)
        return await state_response(request, run)

    async def weight(request: Request) -> Response:
        run = run_of(request)
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"layer", "row", "col", "value"}:
            raise ValueError(
                'the body must be {"layer": l, "row": i or null, "col": j, "value": v}'
            )
        for name in ("layer", "col") + (("row",) if body["row"] is not None else ()):
            if isinstance(body[name], bool) or not isinstance(body[name], int):
                raise ValueError(f"{name} must be a whole number")
        value = body["value"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) <= 1e3:
            raise ValueError("value must be a number in -1000 … 1000")
        # in a worker thread: it waits for the run's lock, which a long step holds
        await run_in_threadpool(
            run.set_weight, body["layer"], body["row"], body["col"], float(value)
        )
        return await state_response(request, run)

    async def backward(request: Request) -> Response:
        run = run_of(request)
        return JSONResponse(
            {"step": run.step_count, "blocks": await run_in_threadpool(run.backward_blocks)}
        )

    async def export(request: Request) -> Response:
        run = run_of(request)
        fmt = request.query_params.get("format", "json")
        if fmt not in EXPORTERS:
            raise ValueError(f"format must be one of {', '.join(EXPORTERS)}, got {fmt[:30]!r}")
        body = await run_in_threadpool(EXPORTERS[fmt], run)
        media, suffix = FORMATS[fmt]
        name = f"playground-{run.id}-step{run.step_count}.{suffix}"
        return Response(
            body,
            media_type=media,
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    async def delete(request: Request) -> Response:
        store.remove(request.path_params["run_id"])
        return Response(status_code=204)

    async def live(ws: WebSocket) -> None:
        run_id = ws.path_params["run_id"]
        run = store.runs.get(run_id)
        gone = store.attach(run_id) if run is not None else None
        await ws.accept()
        try:
            if run is None or gone is None:
                reason = (
                    "no such run"
                    if run is None
                    else f"{MAX_VIEWS} live views of this run are open already: close one first"
                )
                await ws.send_json({"error": reason})
                await ws.close(code=1008, reason=reason)
                return
            await live_view(ws, run, gone)
        finally:
            if gone is not None:
                store.detach(run_id, gone)

    async def on_value_error(request: Request, exc: Exception) -> Response:
        status = 413 if isinstance(exc, TooLarge) else 400
        return error(status, str(exc))

    async def on_no_run(request: Request, exc: Exception) -> Response:
        return error(404, f"no run {str(exc)[:40]!r} (it may have been deleted)")

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, f"{exc.detail}: {request.method} {request.url.path[:100]}")

    async def on_error(request: Request, exc: Exception) -> Response:
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    routes = [
        Route("/", index),
        Route("/static/{name:path}", static),
        Route("/api/defaults", defaults),
        Route("/api/runs", create, methods=["POST"]),
        Route("/api/runs/{run_id}", get, methods=["GET"]),
        Route("/api/runs/{run_id}", delete, methods=["DELETE"]),
        Route("/api/runs/{run_id}/step", step, methods=["POST"]),
        Route("/api/runs/{run_id}/weight", weight, methods=["POST"]),
        Route("/api/runs/{run_id}/backward", backward),
        Route("/api/runs/{run_id}/export", export),
        WebSocketRoute("/api/runs/{run_id}/live", live),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: on_http,
            ValueError: on_value_error,
            NoRun: on_no_run,
            Exception: on_error,
        },
    )
    return Guard(app, token, allowed)
