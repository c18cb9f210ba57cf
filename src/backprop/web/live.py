"""The live view of one run over a WebSocket: the client sends ``{"play": true|false}`` or
``{"step": n}``; the server trains while playing and sends STATE frames (without the points),
each with only the losses and curve points the client has not had yet.

A conversation ends when the client leaves or when the run is deleted (``gone`` is set): the
player stops at once and the socket is closed with 1001 and a reason.
"""

from __future__ import annotations

import contextlib
import json
import time

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from .runs import MAX_STEPS_PER_CALL, LimitError, Run

FRAME_SECONDS = 0.02  # training time per live frame: about 30 frames a second reach the page


async def live_view(ws: WebSocket, run: Run, gone: anyio.Event) -> None:
    """Talk to an accepted ``ws`` about ``run`` until the client leaves or ``gone`` is set."""
    playing = False
    wake = anyio.Event()  # set when play is pressed; replaced after each wake-up
    sent, curve_sent = len(run.losses), len(run.curve)
    per_step = 1e-4
    left = False  # the client closed the socket (or it broke)

    sending = anyio.Lock()  # the player and a pause both send frames: one at a time

    async def frame(points: bool = False) -> None:
        nonlocal sent, curve_sent
        async with sending:
            since = min(sent, len(run.losses))
            state = await run_in_threadpool(
                run.state, points=points, since=since, curve_since=curve_sent
            )
            sent = since + len(state["losses"])
            curve_sent = state["curve_from"] + len(state["curve"])
            await ws.send_text(json.dumps(state))

    async def player() -> None:
        nonlocal per_step, playing, wake
        while True:
            if not playing:
                await wake.wait()
                wake = anyio.Event()
                continue
            steps = max(1, min(MAX_STEPS_PER_CALL, round(FRAME_SECONDS / per_step)))
            t0 = time.perf_counter()
            try:
                await run_in_threadpool(run.step, steps)
            except LimitError as e:
                playing = False
                await ws.send_json({"error": str(e)})
                continue
            per_step = max(1e-6, (time.perf_counter() - t0) / steps)
            await frame()

    async def play() -> None:
        nonlocal left
        try:
            await player()
        except WebSocketDisconnect:
            left = True
            tg.cancel_scope.cancel()

    async def watch() -> None:
        await gone.wait()
        tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(play)
        tg.start_soon(watch)
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(message.get("code", 1000))
                if message.get("text") is None:  # a binary frame
                    await ws.send_json({"error": 'send text frames: a JSON object, {"play": true}'})
                    continue
                try:
                    command = json.loads(message["text"])
                except (ValueError, RecursionError):  # deep nesting: RecursionError
                    command = None
                if not isinstance(command, dict):
                    await ws.send_json({"error": 'send a JSON object: {"play": true}'})
                    continue
                if command.get("play") is True:
                    playing = True
                    wake.set()
                elif command.get("play") is False:
                    playing = False
                    await frame()
                elif isinstance(command.get("step"), int) and not isinstance(command["step"], bool):
                    try:
                        await run_in_threadpool(run.step, command["step"])
                    except LimitError as e:
                        await ws.send_json({"error": str(e)})
                        continue
                    await frame()
                else:
                    await ws.send_json({"error": "unknown command; send play or step"})
        except WebSocketDisconnect:
            left = True
        finally:
            tg.cancel_scope.cancel()
    if gone.is_set() and not left:
        with contextlib.suppress(WebSocketDisconnect):  # the client left at the same moment
            await ws.close(code=1001, reason="the run was deleted")
