"""The playground's speed: training steps per second of a 2-8-8-1 tanh network at batch 10 while
a client is connected to the live WebSocket, and the view updates per second that reach it.

``python -m benchmarks.playground [--seconds S]`` (``make bench`` runs it): starts
``backprop playground`` on a free port, creates the run over the JSON API, presses play over the
WebSocket as the page does, and counts the frames received and the steps they report; then
does the same in the page itself, in Chromium, when it is installed. Goals:
at least 2,000 steps/s and 20 view updates/s. Writes benchmarks/playground-results.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "playground-results.md"
GOAL_STEPS, GOAL_FRAMES = 2000.0, 20.0


def measure(seconds: float) -> dict[str, float]:
    from websockets.sync.client import connect
    from websockets.typing import Origin

    proc = subprocess.Popen(
        [sys.executable, "-m", "backprop", "playground", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        base, token = url.split("/?token=")
        settings = {"hidden": [8, 8], "activation": "tanh", "batch_size": 10, "dataset": "xor"}
        request = urllib.request.Request(
            f"{base}/api/runs",
            data=json.dumps(settings).encode(),
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as r:
            run_id = json.loads(r.read())["id"]
        ws_url = f"{base.replace('http', 'ws', 1)}/api/runs/{run_id}/live?token={token}"
        frames, bytes_in, first_step, last_step = 0, 0, None, 0
        with connect(ws_url, origin=Origin(base), max_size=2**24) as ws:
            ws.send(json.dumps({"play": True}))
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                message = ws.recv()
                state = json.loads(message)
                frames += 1
                bytes_in += len(message)
                if first_step is None:
                    first_step, start = state["step"], time.perf_counter()
                    frames, bytes_in = 0, 0
                last_step = state["step"]
            elapsed = time.perf_counter() - start
            ws.send(json.dumps({"play": False}))
        return {
            "steps_per_s": (last_step - (first_step or 0)) / elapsed,
            "frames_per_s": frames / elapsed,
            "kb_per_frame": bytes_in / max(frames, 1) / 1024,
            "seconds": elapsed,
        }
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def measure_page(seconds: float) -> dict[str, float] | None:
    """The same run in the real page (Chromium through Playwright): play for ``seconds``, then
    count the steps made and the frames the page received and drew. None without a browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not os.path.exists(CHROMIUM):
        return None
    proc = subprocess.Popen(
        [sys.executable, "-m", "backprop", "playground", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}#hidden=8,8&activation=tanh&batch_size=10&dataset=xor")
            page.wait_for_function("window.playground && window.playground.state")
            page.click("#play")
            page.wait_for_function("window.playground.frames > 0")
            frames0, step0 = page.evaluate(
                "[window.playground.frames, window.playground.state.step]"
            )
            start = time.perf_counter()
            page.wait_for_timeout(seconds * 1000)
            frames1, step1 = page.evaluate(
                "[window.playground.frames, window.playground.state.step]"
            )
            elapsed = time.perf_counter() - start
            page.click("#play")
            browser.close()
        return {
            "steps_per_s": (step1 - step0) / elapsed,
            "frames_per_s": (frames1 - frames0) / elapsed,
        }
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    load = os.getloadavg()
    r = measure(args.seconds)
    page = measure_page(args.seconds)
    ok = r["steps_per_s"] >= GOAL_STEPS and r["frames_per_s"] >= GOAL_FRAMES
    if page is not None:
        ok = ok and page["steps_per_s"] >= GOAL_STEPS and page["frames_per_s"] >= GOAL_FRAMES
    lines = [
        "# The playground's speed",
        "",
        f"`python -m benchmarks.playground --seconds {args.seconds:g}` on "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, load average before: "
        f"{load[0]:.2f} on {os.cpu_count()} cores.",
        "",
        "A 2-8-8-1 tanh network at batch 10 on xor, playing, with a WebSocket client connected",
        "(a Python client that only reads, then the page itself in Chromium, which also draws):",
        "",
        "| measure | result | goal |",
        "|---|---|---|",
        f"| training steps per second, Python client | {r['steps_per_s']:,.0f} | ≥ {GOAL_STEPS:,.0f} |",
        f"| view updates per second reaching it | {r['frames_per_s']:.1f} | ≥ {GOAL_FRAMES:.0f} |",
        f"| size of one view update | {r['kb_per_frame']:.0f} KiB | |",
        *(
            [
                f"| training steps per second, the page | {page['steps_per_s']:,.0f} | ≥ {GOAL_STEPS:,.0f} |",
                f"| view updates per second the page received | {page['frames_per_s']:.1f} | ≥ {GOAL_FRAMES:.0f} |",
            ]
            if page is not None
            else ["| the page | not measured: no Chromium or Playwright | |"]
        ),
        "",
        f"Goals {'met' if ok else 'NOT met'}.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
