"""A stand-in for Slack on loopback: the Web API (`/api/<method>`) and response URLs
(`/response/<id>`), recording every call and answering as Slack does (after bolt-python's
tests/mock_web_api_server). Tests sign requests to kqa with a real signing secret and wait
on the calls recorded here."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from slack_sdk.signature import SignatureVerifier

from tests.fakes.loopback import LoopbackServer

BOT_USER = "UKQABOT"
BOT_ID = "BKQABOT"
TEAM = "T0TEST"


@dataclass
class Call:
    path: str  # "chat.postMessage", or "response/<id>"
    body: dict[str, Any]
    token: str | None = None
    reply: dict[str, Any] | str = ""  # what the fake answered


@dataclass
class Failure:
    status: int = 200
    body: dict[str, Any] | str = field(default_factory=lambda: {"ok": False, "error": "fatal_error"})
    times: int = 1_000_000  # how many calls fail before the method works again


class FakeSlack(LoopbackServer):
    name = "fake-slack"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: dict[str, Failure] = {}
        self.socket_url = ""
        self._changed = threading.Condition()
        self._ts = 1_700_000_000.0
        super().__init__()

    # what tests use

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    def fail(self, method: str, failure: Failure) -> None:
        with self._changed:
            self.failures[method] = failure

    def reset(self) -> None:
        with self._changed:
            self.calls.clear()
            self.failures.clear()

    def of(self, path: str, **match: Any) -> list[Call]:
        """Calls to `path` whose body has all of `match`."""
        with self._changed:
            return [c for c in self.calls if c.path == path and all(c.body.get(k) == v for k, v in match.items())]

    def wait(self, ready: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Wait until `ready()` is truthy (re-checked on every call recorded), and return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = ready()
                if found:
                    return found
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; calls so far: {[c.path for c in self.calls]}"
                self._changed.wait(min(left, 0.5))

    def wait_for(self, path: str, count: int = 1, timeout: float = 30.0, **match: Any) -> list[Call]:
        return self.wait(lambda: (found := self.of(path, **match)) and len(found) >= count and found, timeout)

    # the server side

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length).decode("utf-8") if length else ""
        if (req.headers.get("Content-Type") or "").startswith("application/json"):
            body = json.loads(raw or "{}")
        else:
            body = {k: v[-1] for k, v in urllib.parse.parse_qs(raw).items()}
        path = req.path.split("?")[0].removeprefix("/api/").lstrip("/")
        auth = req.headers.get("Authorization") or ""
        with self._changed:
            failure = self.failures.get(path)
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self.failures[path]
            status, payload = (failure.status, failure.body) if failure else (200, self._answer(path, body))
            self.calls.append(Call(path, body, auth.removeprefix("Bearer ") or None, payload))
            self._changed.notify_all()
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _answer(self, path: str, body: dict[str, Any]) -> dict[str, Any] | str:
        if path.startswith("response/"):
            return "ok"
        if path == "auth.test":
            return {"ok": True, "url": "https://kqa-test.slack.com/", "team": "kqa test", "user": "kqa",
                    "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": False}
        if path in ("chat.postMessage", "chat.postEphemeral"):
            self._ts += 1
            ts = f"{self._ts:.6f}"
            return {"ok": True, "channel": body.get("channel"), "ts": ts,
                    "message": {"type": "message", "ts": ts, "bot_id": BOT_ID, "text": body.get("text", "")}}
        if path == "chat.update":
            return {"ok": True, "channel": body.get("channel"), "ts": body.get("ts"), "text": body.get("text", "")}
        if path.startswith("views."):
            return {"ok": True, "view": {"id": "V0TEST", **(body.get("view") or {})}}
        if path == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        return {"ok": True}


class Signer:
    """Signs requests as Slack does, with a real signing secret."""

    def __init__(self, secret: str) -> None:
        self.verifier = SignatureVerifier(secret)

    def headers(self, body: str, content_type: str, age_s: float = 0.0, **extra: str) -> dict[str, str]:
        timestamp = str(int(time.time() - age_s))
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=timestamp, body=body) or "",
            **extra,
        }


def event_body(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {"token": "legacy", "team_id": TEAM, "api_app_id": "A0KQA", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}
