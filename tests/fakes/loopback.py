"""A threaded HTTP server on a free loopback port, run for the length of a `with` block:
the base of the fakes that stand in for outside services (Slack, a chat model)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackServer:
    name = "fake"

    def __init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name=self.name, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError


class Listener(LoopbackServer):
    """A server that must not be called: records every request it gets (method, path, User-Agent)."""

    name = "listener"

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        super().__init__()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        self.requests.append((h.command, h.path, h.headers.get("User-Agent") or ""))
        h.send_response(200)
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"ok")
