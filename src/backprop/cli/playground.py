"""``backprop playground``: a local web page where a network learns 2-D data and every gradient
of its backward pass is shown. Needs the ``[web]`` extra (Starlette and uvicorn)."""

from __future__ import annotations

import argparse
import errno
import secrets
import signal
import socket
import sys
import threading
import webbrowser
from typing import Any

from ..extras import MissingExtra
from .common import non_negative_int

NEEDS = "needs starlette and uvicorn: pip install 'backprop-by-hand[web]'"


def port_number(text: str) -> int:
    value = non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be <= 65535, got {value}")
    return value


def add_playground_parser(sub: Any) -> None:
    p = sub.add_parser(
        "playground",
        help="a browser page where a network learns and every gradient is visible",
        description="Start a local server and open the playground page: 2-D data, a small "
        "network, and its backward pass step by step, every dL/dW on its edge and dL/da on its "
        "neuron. The first line printed is the page's URL with its access token. Ctrl-C stops it.",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port",
        type=port_number,
        default=8765,
        help="port; 0 picks a free one (default: %(default)s)",
    )
    p.add_argument("--no-browser", action="store_true", help="print the URL, do not open a browser")
    p.set_defaults(func=cmd_playground)


def cmd_playground(args: argparse.Namespace) -> int:
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise MissingExtra(NEEDS) from None
    from ..web.app import create_app

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            reason = f"port {args.port} on {args.host} is in use (try --port 0 for a free one)"
        else:
            reason = f"cannot listen on {args.host}:{args.port}: {e.strerror or e}"
        print(f"backprop playground: {reason}", file=sys.stderr)
        return 1
    sock.listen(64)
    port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{port}/?token={token}"
    app = create_app(token, hosts=(args.host,))
    config = uvicorn.Config(app, log_level="warning", ws="websockets-sansio", lifespan="off")
    server = uvicorn.Server(config)

    # Ctrl-C may come as soon as the URL is out, before uvicorn has taken over SIGINT. Until it
    # does, SIGINT only asks the server to stop (as uvicorn's own handler does), rather than
    # raising KeyboardInterrupt wherever start-up happens to be, which can leave it hanging.
    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    previous = signal.signal(signal.SIGINT, stop)
    try:
        print(url, flush=True)
        print("Ctrl-C stops the server.", file=sys.stderr, flush=True)
        if not args.no_browser:
            threading.Timer(0.5, webbrowser.open, (url,)).start()
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, previous)
        sock.close()
    return 0
