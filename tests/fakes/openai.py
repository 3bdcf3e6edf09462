"""A stand-in for an OpenAI-compatible chat server on loopback: `POST /v1/chat/completions`,
plain JSON or streamed (SSE `data: {...}` chunks, then `data: [DONE]`), replying from a script
the test sets and recording every request body and its Authorization header. It also speaks
Ollama's `POST /api/chat` (NDJSON lines) from the same script, for the ollama provider."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer


@dataclass
class Reply:
    text: str = ""
    delay: float = 0.0  # seconds before anything is sent (a slow or stuck model)
    chunk_delay: float = 0.0  # seconds between streamed chunks
    chunk_size: int = 4  # characters per streamed chunk
    status: int = 200  # non-200: an error body instead of a completion


@dataclass
class Request:
    body: dict[str, Any]
    authorization: str | None
    at: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    def content(self, role: str) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == role)

    @property
    def streamed(self) -> bool:
        return bool(self.body.get("stream"))


class FakeOpenAI(LoopbackServer):
    name = "fake-openai"

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: list[Reply] = []
        self.default = Reply("")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        super().__init__()
        self.url += "/v1"

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        super().__exit__(*exc)

    def reply(self, *replies: Reply | str) -> None:
        """Queue the next replies, in order; once used up, `default` answers."""
        with self._lock:
            self.script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def _next(self) -> Reply:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if h.path.rstrip("/") not in ("/v1/chat/completions", "/api/chat"):
            self._send_json(h, 404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        if h.path.rstrip("/") == "/api/chat":
            self._ollama(h, json.loads(raw or b"{}"))
            return
        body = json.loads(raw or b"{}")
        reply = self._take(h, body)
        if reply is None:
            return
        try:
            if reply.status != 200:
                self._send_json(h, reply.status, {"error": {"message": "scripted failure", "type": "server_error"}})
            elif body.get("stream"):
                self._stream(h, body, reply)
            else:
                self._send_json(h, 200, completion(body, reply.text))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its time-out): fine

    def _take(self, h: BaseHTTPRequestHandler, body: dict) -> Reply | None:
        """Record the request; the scripted reply, after its delay (None: stopped meanwhile)."""
        with self._lock:
            self.requests.append(Request(body, h.headers.get("Authorization")))
        reply = self._next()
        if reply.delay and self._stop.wait(reply.delay):
            return None
        return reply

    def _ollama(self, h: BaseHTTPRequestHandler, body: dict) -> None:
        reply = self._take(h, body)
        if reply is None:
            return
        try:
            if reply.status != 200:
                self._send_json(h, reply.status, {"error": "scripted failure"})
                return
            h.send_response(200)
            h.send_header("Content-Type", "application/x-ndjson")
            h.end_headers()
            size = max(1, reply.chunk_size)
            for i in range(0, len(reply.text), size):
                line = {"model": body.get("model"), "created_at": "2026-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": reply.text[i : i + size]}, "done": False}
                h.wfile.write(json.dumps(line).encode() + b"\n")
                h.wfile.flush()
            end = {"model": body.get("model"), "created_at": "2026-01-01T00:00:00Z",
                   "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"}
            h.wfile.write(json.dumps(end).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send_json(self, h: BaseHTTPRequestHandler, status: int, data: dict) -> None:
        out = json.dumps(data).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(out)))
        h.end_headers()
        h.wfile.write(out)

    def _stream(self, h: BaseHTTPRequestHandler, body: dict, reply: Reply) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.end_headers()  # HTTP/1.0: the body ends when the connection closes
        text, size = reply.text, max(1, reply.chunk_size)
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        for i, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            h.wfile.write(sse(chunk(body, delta, None)))
            h.wfile.flush()
            if reply.chunk_delay and i < len(pieces) - 1 and self._stop.wait(reply.chunk_delay):
                return
        h.wfile.write(sse(chunk(body, {}, "stop")))
        h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()


def completion(body: dict, text: str) -> dict:
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def chunk(body: dict, delta: dict, finish: str | None) -> dict:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model", "fake"), "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def sse(data: dict) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()
