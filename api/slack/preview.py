"""`kqa slack try "question"`: what the bot would post in Slack, before there is a Slack app.

The question goes through the real Bolt app and the same listener as a mention in a channel
(`build_app`, `SlackDoor.on_event`); each `--thread` message after it is a reply in that thread,
answered as a follow-up. The Web API calls the listener makes (chat.postMessage "looking…", the
chat.update that puts the answer in its place, more messages for a long answer) go to a stand-in
for Slack's Web API on loopback (`WebApiStandIn`), which records them; they are printed as
Slack would receive them. With `--command` the question is the slash command instead
(`SlackDoor.on_command`): its ack (the reply to Slack's request) and what is posted to the
request's response_url, which the stand-in also serves. Nothing leaves the machine, and the
questions are logged in a temporary store, not the deployment's.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from slack_bolt import App
from slack_bolt.request import BoltRequest

from api.settings import Settings
from api.slack.events import SlackDoor, build_app
from bot.bot import Bot
from index.embed import Embedder

CHANNEL = "C0PREVIEW"
READER = "U0READER"
BOT_USER = "U0KQA"
BOT_ID = "B0KQA"
TEAM = "T0PREVIEW"
SHOWN = ("chat.", "views.", "ack", "response_url")  # what a reader would see; auth.test is Bolt's own


@dataclass(frozen=True)
class Posted:
    method: str  # "chat.postMessage", "chat.update", …; "ack" and "response_url" for a command
    body: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, **self.body}


class WebApiStandIn:
    """Slack's Web API on a free loopback port, for the length of a `with` block: answers as
    Slack does (a new `ts` per message) and records every call."""

    def __init__(self) -> None:
        self.calls: list[Posted] = []
        self._ts = time.time()
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stand_in._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/"
        self.response_url = f"http://127.0.0.1:{self.server.server_port}/response/"
        self.thread = threading.Thread(target=self.server.serve_forever, name="slack-stand-in", daemon=True)

    def __enter__(self) -> WebApiStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        raw = req.rfile.read(int(req.headers.get("Content-Length") or 0)).decode()
        if (req.headers.get("Content-Type") or "").startswith("application/json"):
            body = json.loads(raw or "{}")
        else:
            body = {k: v[-1] for k, v in urllib.parse.parse_qs(raw).items()}
        path = req.path.split("?")[0]
        method = "response_url" if path.startswith("/response/") else path.removeprefix("/api/")
        with self._lock:
            self.calls.append(Posted(method, body))
            reply = self._reply(method, body)
        data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _reply(self, method: str, body: dict[str, Any]) -> dict[str, Any] | str:
        if method == "response_url":
            return "ok"
        if method == "auth.test":
            return {"ok": True, "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID, "team": "preview",
                    "user": "kqa", "url": "https://preview.slack.com/", "is_enterprise_install": False}
        if method.startswith("chat.post"):
            self._ts += 1
            return {"ok": True, "channel": body.get("channel"), "ts": f"{self._ts:.6f}"}
        if method == "chat.update":
            return {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}
        return {"ok": True}


def try_messages(bot: Bot, settings: Settings, question: str, thread: list[str]) -> list[list[Posted]]:
    """What the bot posts for `question` mentioned in a channel, then for each of `thread` as a
    reply in its thread: one list of Web API calls per message."""
    with WebApiStandIn() as slack:
        app = _app(bot, settings, slack)
        first = f"{time.time():.6f}"
        out = [_dispatch(app, slack, {"type": "app_mention", "text": f"<@{BOT_USER}> {question}", "ts": first})]
        for i, text in enumerate(thread, 1):
            ts = f"{float(first) + i:.6f}"
            out.append(_dispatch(app, slack, {"type": "message", "channel_type": "channel", "text": text,
                                              "ts": ts, "thread_ts": first}))
        return out


def try_command(bot: Bot, settings: Settings, question: str) -> list[Posted]:
    """What the bot answers to `/kqa question`: its ack, then what it posts to the response_url."""
    with WebApiStandIn() as slack:
        app = _app(bot, settings, slack)
        form = {"command": settings.slack.command, "text": question, "user_id": READER, "channel_id": CHANNEL,
                "team_id": TEAM, "api_app_id": "A0PREVIEW", "token": "preview",
                "response_url": slack.response_url + "1", "trigger_id": f"preview.{time.time():.6f}"}
        acked = app.dispatch(BoltRequest(body=urllib.parse.urlencode(form),
                                         headers={"content-type": "application/x-www-form-urlencoded"}))
        json_body = "json" in "".join(acked.headers.get("content-type", []))
        ack = Posted("ack", (json.loads(acked.body) if json_body else {"text": acked.body}) if acked.body else {})
        return [ack, *(c for c in slack.calls if c.method.startswith(SHOWN))]


def _app(bot: Bot, settings: Settings, slack: WebApiStandIn) -> App:
    """The Bolt app the door builds, talking to `slack`, its listeners run before dispatch returns."""
    options = settings.slack.model_copy(update={"bot_token": SecretStr("xoxb-preview"), "api_url": slack.url,
                                                "response_url_prefix": slack.response_url})
    return build_app(SlackDoor(bot, options), socket_mode=True, wait=True)


def _dispatch(app: App, slack: WebApiStandIn, event: dict[str, Any]) -> list[Posted]:
    """`event` from the reader in the channel, through Bolt as Slack would deliver it."""
    before = len(slack.calls)
    event = {"user": READER, "channel": CHANNEL, "event_ts": event["ts"], **event}
    body = {"token": "preview", "team_id": TEAM, "api_app_id": "A0PREVIEW", "type": "event_callback",
            "event_id": f"Ev{event['ts'].replace('.', '')}", "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}
    app.dispatch(BoltRequest(body=json.dumps(body), headers={"content-type": "application/json"}))
    return [c for c in slack.calls[before:] if c.method.startswith(SHOWN)]


@contextmanager
def scratch_bot(settings: Settings, embedder: Embedder | None = None) -> Iterator[Bot]:
    """The deployment's bot (index, model, chat model), loaded, with a question log of its own that
    is deleted after (`embedder`: a model already loaded, to share it)."""
    with tempfile.TemporaryDirectory(prefix="kqa-slack-try-") as tmp:
        history = settings.history.model_copy(update={"path": None})
        bot = Bot.open(settings.model_copy(update={"data_dir": Path(tmp), "history": history}), embedder)
        bot.warm()
        yield bot

