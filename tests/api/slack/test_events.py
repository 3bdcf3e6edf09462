"""The Slack door over real HTTP: the real app under uvicorn, requests signed with a real
signing secret, and a loopback stand-in for Slack's Web API that records every call."""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from pydantic import SecretStr
from slack_bolt.request import BoltRequest
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as ws_serve

from api.http.app import create_app
from api.settings import LimitOptions, Settings
from api.slack import blocks
from api.slack.events import EVENTS_PATH, build_app
from api.slack.settings import SlackNotConfigured, SlackOptions
from api.slack.socket import run_socket_mode, socket_handler
from bot.bot import Bot
from bot.database import DatabaseOptions
from tests.api.conftest import serving
from tests.conftest import POSTGRES, ROOT
from tests.fakes.loopback import Listener
from tests.fakes.slack import BOT_USER, Call, Failure, FakeSlack, Signer, event_body
from tests.fakes.tcpproxy import TcpProxy

SECRET = "3c5e0a1f9b8d47e2a6c4f0e1d2b3a495"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture(scope="module")
def slack_settings(built: Settings, fake: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    options = SlackOptions(bot_token=SecretStr("xoxb-test"), signing_secret=SecretStr(SECRET), api_url=fake.api_url,
                           response_url_prefix=f"{fake.url}/response/")
    return built.model_copy(update={"data_dir": tmp_path_factory.mktemp("slack-data"), "slack": options,
                                    "limits": LimitOptions(rate_per_minute=0)})


@pytest.fixture(scope="module")
def app(slack_settings: Settings, bot: Bot) -> FastAPI:
    app = create_app(slack_settings, bot.embedder)
    return app


@pytest.fixture(scope="module")
def slack(app: FastAPI) -> Iterator[str]:
    with serving(app) as base:
        yield base


@pytest.fixture
def calls(fake: FakeSlack) -> FakeSlack:
    fake.reset()
    return fake


signer = Signer(SECRET)
_ts = iter(range(1_000, 1_000_000))


def new_ts() -> str:
    return f"1710000000.{next(_ts):06d}"


def post_event(base: str, event: dict[str, Any], event_id: str | None = None, age_s: float = 0.0,
               secret: str = SECRET, **headers: str) -> httpx.Response:
    body = json.dumps(event_body(event, event_id or f"Ev{event['ts'].replace('.', '')}"))
    signed = Signer(secret).headers(body, JSON, age_s=age_s, **headers)
    return httpx.post(f"{base}{EVENTS_PATH}", content=body, headers=signed, timeout=10)


def post_form(base: str, fields: dict[str, str]) -> httpx.Response:
    body = urllib.parse.urlencode(fields)
    return httpx.post(f"{base}{EVENTS_PATH}", content=body, headers=signer.headers(body, FORM), timeout=10)


def action_payload(action_id: str, value: str, name: str, response_url: str, channel: str = "C0TEST",
                   ephemeral: bool = False, user: str = "U0READER") -> str:
    """A button click's form body, as Slack posts it."""
    payload = {
        "type": "block_actions", "team": {"id": "T0TEST"}, "user": {"id": user, "team_id": "T0TEST"},
        "api_app_id": "A0KQA", "token": "legacy", "trigger_id": f"trigger-{name}",
        "container": {"type": "message", "message_ts": "1710000000.000001", "channel_id": channel,
                      "is_ephemeral": ephemeral},
        "channel": {"id": channel}, "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "kqa_actions", "value": value,
                     "action_ts": "1710000001.000001"}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def click(base: str, fake: FakeSlack, action_id: str, value: str, name: str, channel: str = "C0TEST",
          ephemeral: bool = False, user: str = "U0READER") -> httpx.Response:
    body = action_payload(action_id, value, name, fake.response_url(name), channel, ephemeral, user)
    return httpx.post(f"{base}{EVENTS_PATH}", content=body, headers=signer.headers(body, FORM), timeout=10)


def mention(text: str, channel: str = "C0TEST", ts: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "app_mention", "user": "U0READER", "text": f"<@{BOT_USER}> {text}", "ts": ts or new_ts(),
            "channel": channel, "event_ts": ts, **extra}


def dm(text: str, ts: str | None = None, channel: str = "D0READER", **extra: Any) -> dict[str, Any]:
    return {"type": "message", "channel_type": "im", "user": "U0READER", "text": text, "ts": ts or new_ts(),
            "channel": channel, **extra}


def answered(fake: FakeSlack, channel: str, thread: str) -> tuple[Call, Call]:
    """The threaded "looking…" reply to a message, and the chat.update that put the answer there."""
    looking = fake.wait_for("chat.postMessage", channel=channel, thread_ts=thread)[0]
    update = fake.wait_for("chat.update", channel=channel, ts=looking.reply["ts"])[0]
    return looking, update


def kinds(update: Call) -> list[str]:
    return [b["type"] for b in update.body["blocks"]]


def texts(update: Call) -> str:
    out = []
    for b in update.body["blocks"]:
        if b["type"] == "section":
            out.append(b["text"]["text"])
        elif b["type"] == "context":
            out.extend(e["text"] for e in b["elements"])
    return "\n".join(out)


def buttons(blocks_: list[dict]) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in blocks_ if b["type"] == "actions" for e in b["elements"]}


def wait_log(caplog: pytest.LogCaptureFixture, needle: str, timeout: float = 20.0) -> logging.LogRecord:
    deadline = time.monotonic() + timeout
    while True:
        for record in caplog.records:
            if needle in record.getMessage():
                return record
        assert time.monotonic() < deadline, f"no log line with {needle!r}"
        time.sleep(0.05)


# switched off, signatures, replays


def test_slack_is_off_without_token_and_secret(server: str) -> None:
    """The shared server has no Slack settings: no route, and the rest works."""
    body = json.dumps({"type": "url_verification", "challenge": "c"})
    assert httpx.post(f"{server}{EVENTS_PATH}", content=body, headers=signer.headers(body, JSON)).status_code == 404
    assert httpx.get(f"{server}/healthz").status_code == 200
    assert not SlackOptions().enabled and not SlackOptions(bot_token=SecretStr("xoxb-1")).enabled


def test_url_verification_answers_the_challenge(slack: str, calls: FakeSlack) -> None:
    body = json.dumps({"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    r = httpx.post(f"{slack}{EVENTS_PATH}", content=body, headers=signer.headers(body, JSON))
    assert r.status_code == 200 and r.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


@pytest.mark.parametrize(("secret", "age_s"), [("0" * 32, 0.0), (SECRET, 330.0), (SECRET, -330.0)],
                         ids=["wrong secret", "stale: replayed after 5 minutes", "from the future"])
def test_unsigned_or_replayed_requests_get_401_and_no_answer(slack: str, calls: FakeSlack, secret: str,
                                                             age_s: float) -> None:
    r = post_event(slack, mention("Cgroups 是怎么限制 CPU 的？"), secret=secret, age_s=age_s)
    assert r.status_code == 401
    body = json.dumps(event_body(mention("Cgroups 是怎么限制 CPU 的？"), "Ev1"))
    tampered = signer.headers(body, JSON)
    r = httpx.post(f"{slack}{EVENTS_PATH}", content=body.replace("CPU", "GPU"), headers=tampered)
    assert r.status_code == 401
    unsigned = httpx.post(f"{slack}{EVENTS_PATH}", content=body, headers={"Content-Type": JSON})
    assert unsigned.status_code == 401
    assert calls.calls == []  # nothing reached the listeners: no auth.test, no message


# answers


def test_mention_gets_one_threaded_reply_with_the_answer_blocks(slack: str, calls: FakeSlack) -> None:
    event = mention("Cgroups 是怎么限制 CPU 的？")
    started = time.monotonic()
    r = post_event(slack, event)
    assert r.status_code == 200 and time.monotonic() - started < 3  # acknowledged within Slack's limit
    looking, update = answered(calls, "C0TEST", event["ts"])
    assert looking.token == "xoxb-test" and "正在专栏里查找" in looking.body["text"]
    assert len(calls.of("chat.postMessage", channel="C0TEST", thread_ts=event["ts"])) == 1
    assert kinds(update)[0] == "section" and kinds(update)[-1] == "actions"
    answer = update.body["blocks"][0]["text"]["text"]
    assert "[1]" in answer and "cpu" in answer.lower()
    cites = [b["elements"][0]["text"] for b in update.body["blocks"] if b["type"] == "context"]
    assert cites and cites[0].startswith("*[1]* 第06讲 ") and "“" in cites[0]
    assert set(buttons(update.body["blocks"])) == {blocks.PASSAGES, blocks.UP, blocks.DOWN}
    assert update.body["text"].startswith(answer[:20])  # fallback text for notifications
    assert [c.path for c in calls.calls].count("auth.test") <= 1


def test_a_mention_is_answered_while_the_conversation_database_is_away(bot: Bot, calls: FakeSlack,
                                                                     slack_settings: Settings, postgres: str,
                                                                     tmp_path: Path) -> None:
    """The thread's memory is in the database, the answer is not: with the database cut, a mention gets
    its answer and a line saying the thread's earlier messages were not read (not "Sorry")."""
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        database = DatabaseOptions(url=postgres.replace(POSTGRES, f"postgresql://postgres@127.0.0.1:{proxy.port}"),
                                   retry_after_s=0.3, connect_timeout_s=2)
        settings = slack_settings.model_copy(update={"database": database, "data_dir": tmp_path})
        with serving(create_app(settings, bot.embedder)) as base:
            proxy.cut()
            event = mention("Cgroups 是怎么限制 CPU 的？")
            assert post_event(base, event).status_code == 200
            _, update = answered(calls, "C0TEST", event["ts"])
            assert "[1]" in update.body["blocks"][0]["text"]["text"], update.body
            note = calls.wait_for("chat.postMessage", count=2, channel="C0TEST", thread_ts=event["ts"])[-1]
            assert "没有结合本帖之前的对话" in note.body["text"] and "抱歉" not in note.body["text"]


def test_dm_is_answered_in_a_thread_with_the_source_link(slack: str, calls: FakeSlack) -> None:
    event = dm("PID Namespace 和 CLONE_NEWPID")
    assert post_event(slack, event).status_code == 200
    _, update = answered(calls, "D0READER", event["ts"])
    assert "<https://example.org/notes/namespace|原文>" in texts(update)
    assert "第05讲" in texts(update)


def test_refusal_still_lists_the_closest_passages(slack: str, calls: FakeSlack) -> None:
    event = mention("周末去杭州玩两天，有啥推荐路线")
    post_event(slack, event)
    _, update = answered(calls, "C0TEST", event["ts"])
    shown = texts(update)
    # it says what the column does not cover (words it never uses), then the closest passages
    assert "专栏没有讲到 杭州" in shown and "最接近的段落" in shown and "*[1]*" in shown


def test_a_thread_follow_up_continues_the_conversation(slack: str, calls: FakeSlack, app: FastAPI) -> None:
    first = mention("Headless Service 的 DNS 记录是什么样的？", channel="C0THREAD")
    post_event(slack, first)
    answered(calls, "C0THREAD", first["ts"])
    # A later message in the thread, without a mention (message.channels event).
    follow = {"type": "message", "channel_type": "channel", "user": "U0READER", "text": "how do I debug that?",
              "ts": new_ts(), "thread_ts": first["ts"], "channel": "C0THREAD"}
    post_event(slack, follow)
    looking = calls.wait_for("chat.postMessage", count=2, channel="C0THREAD", thread_ts=first["ts"])[1]
    update = calls.wait_for("chat.update", channel="C0THREAD", ts=looking.reply["ts"])[0]
    shown = texts(update)
    assert "also searched for" in shown and "`Headless Service`" in shown
    assert "nslookup" in update.body["blocks"][0]["text"]["text"]
    turns = app.state.bot.history.turns(f"slack:C0THREAD:{first['ts']}")
    assert [m for m, _ in turns] == ["Headless Service 的 DNS 记录是什么样的？", "how do I debug that?"]


def test_messages_in_threads_kqa_is_not_in_are_left_alone(slack: str, calls: FakeSlack,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kqa.slack")
    other = {"type": "message", "channel_type": "channel", "user": "U0READER", "text": "lunch?", "ts": new_ts(),
             "thread_ts": "1710000000.999999", "channel": "C0THREAD"}
    post_event(slack, other)
    wait_log(caplog, f"ignored message/None event C0THREAD:{other['ts']}")
    assert calls.of("chat.postMessage", thread_ts=other["thread_ts"]) == []


def test_slash_command_answers_only_the_caller_with_a_share_button(slack: str, calls: FakeSlack) -> None:
    r = post_form(slack, {"command": "/kqa", "text": "为什么 ping 不通 Service 的 IP", "user_id": "U0READER",
                          "channel_id": "C0TEST", "team_id": "T0TEST", "trigger_id": "t1", "token": "legacy",
                          "response_url": calls.response_url("cmd")})
    assert r.status_code == 200 and "正在专栏里查找" in r.text  # the ack (plain text): only the caller sees it
    answer = calls.wait_for("response/cmd")[0].body
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is True
    actions = buttons(answer["blocks"])
    assert set(actions) == {blocks.PASSAGES, blocks.UP, blocks.DOWN, blocks.SHARE}
    assert calls.of("chat.postMessage", channel="C0TEST") == []

    click(slack, calls, blocks.SHARE, actions[blocks.SHARE], "share", ephemeral=True)
    shared, deleted = calls.wait_for("response/share", count=2)
    assert shared.body["response_type"] == "in_channel" and shared.body["replace_original"] is False
    assert shared.body["blocks"][0]["elements"][0]["text"].startswith("<@U0READER>: 为什么 ping 不通")
    assert shared.body["blocks"][1] == answer["blocks"][0]  # the same answer, now for everyone
    assert blocks.SHARE not in buttons(shared.body["blocks"])
    assert deleted.body["delete_original"] is True and not deleted.body.get("blocks")


def test_slash_command_without_a_question_explains_itself(slack: str, calls: FakeSlack) -> None:
    r = post_form(slack, {"command": "/kqa", "text": "  ", "user_id": "U0READER", "channel_id": "C0TEST",
                          "response_url": calls.response_url("empty"), "token": "legacy", "team_id": "T0TEST"})
    assert r.status_code == 200 and "/kqa 为什么" in r.text


def test_feedback_buttons_record_in_the_api_store(slack: str, calls: FakeSlack, slack_settings: Settings) -> None:
    event = mention("Cgroups 是怎么限制内存的？")
    post_event(slack, event)
    _, update = answered(calls, "C0TEST", event["ts"])
    answer_id = buttons(update.body["blocks"])[blocks.UP]
    click(slack, calls, blocks.UP, answer_id, "up")
    click(slack, calls, blocks.DOWN, answer_id, "down")
    for name in ("up", "down"):
        thanks = calls.wait_for(f"response/{name}")[0].body
        assert thanks["response_type"] == "ephemeral" and thanks["text"] == "谢谢反馈！"
    with sqlite3.connect(slack_settings.history_path()) as db:
        rows = db.execute("SELECT rating FROM feedback WHERE answer_id = ? ORDER BY id", (answer_id,)).fetchall()
        asked = db.execute("SELECT question, door FROM questions WHERE answer_id = ?", (answer_id,)).fetchone()
    assert rows == [("down",)] and asked == ("Cgroups 是怎么限制内存的？", "slack")  # one reader, one vote: the last
    # The HTTP API knows the same answer id: one store.
    r = httpx.post(f"{slack}/v1/feedback", json={"answer_id": answer_id, "rating": "up"})
    assert r.status_code == 201


def test_feedback_on_an_unknown_answer_gets_a_sentence_not_a_crash(slack: str, calls: FakeSlack) -> None:
    started = time.monotonic()
    r = click(slack, calls, blocks.UP, "no-such-answer", "unknown")
    assert r.status_code == 200 and time.monotonic() - started < 2  # the ack stands though the work failed
    told = calls.wait_for("response/unknown")[0].body
    assert told["response_type"] == "ephemeral" and "no answer 'no-such-answer'" in told["text"]


def test_show_passages_opens_them_in_a_modal(slack: str, calls: FakeSlack, app: FastAPI) -> None:
    event = dm("容器里执行 free 为什么看到的是宿主机内存？")
    post_event(slack, event)
    _, update = answered(calls, "D0READER", event["ts"])
    value = buttons(update.body["blocks"])[blocks.PASSAGES]
    click(slack, calls, blocks.PASSAGES, value, "passages", channel="D0READER")
    view = calls.wait_for("views.open", trigger_id="trigger-passages")[0].body["view"]
    assert view["type"] == "modal" and view["blocks"][0]["text"]["text"].startswith("*[1] 第06讲 ")
    assert "/proc/meminfo" in json.dumps(view, ensure_ascii=False)
    # Another worker, or this one after a restart, shows the same passages: the button carries the question.
    app.state.slack.recent = type(app.state.slack.recent)(16)
    click(slack, calls, blocks.PASSAGES, value, "again", channel="D0READER")
    assert calls.wait_for("views.open", trigger_id="trigger-again")[0].body["view"] == view


# robustness


def test_slack_retries_do_not_answer_twice(slack: str, calls: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kqa.slack")
    event = mention("Pod 的调度是怎么抢占的？")
    post_event(slack, event)
    answered(calls, "C0TEST", event["ts"])
    for n, reason in ((1, "http_timeout"), (2, "http_error")):
        r = post_event(slack, event, **{"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": reason})
        assert r.status_code == 200
        wait_log(caplog, f"Slack retry {n} ({reason}) of C0TEST:{event['ts']}: dropped")
    # The same message as message.channels after app_mention: still one answer.
    post_event(slack, {**event, "type": "message", "channel_type": "channel"}, event_id="EvOther")
    assert len(calls.of("chat.postMessage", thread_ts=event["ts"])) == 1
    # A retry of a delivery that never reached kqa is answered, once.
    lost = mention("PVC 和 PV 是怎么绑定的")
    post_event(slack, lost, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"})
    answered(calls, "C0TEST", lost["ts"])
    wait_log(caplog, f"Slack retry 1 (http_error) of C0TEST:{lost['ts']}: answering")


def test_own_and_other_bots_messages_are_ignored(slack: str, calls: FakeSlack,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kqa.slack")
    own = dm("Cgroups 是怎么限制 CPU 的？", channel="D0BOTS", user=BOT_USER)  # kqa's own user, no bot_id
    assert post_event(slack, own).status_code == 200  # dropped by Bolt before any listener runs
    other = dm("Cgroups 是怎么限制 CPU 的？", channel="D0BOTS", bot_id="B0OTHER", subtype="bot_message")
    post_event(slack, other)
    wait_log(caplog, f"ignored message/bot_message event D0BOTS:{other['ts']}")
    edited = dm("Cgroups?", channel="D0BOTS", subtype="message_changed")
    post_event(slack, edited)
    wait_log(caplog, f"ignored message/message_changed event D0BOTS:{edited['ts']}")
    assert calls.of("chat.postMessage", channel="D0BOTS") == [] and calls.of("chat.update", channel="D0BOTS") == []


def test_web_api_failures_are_logged_and_the_service_goes_on(slack: str, calls: FakeSlack,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kqa.slack")
    # Slack answers 500 to the first reply: nothing to update, the log has it.
    calls.fail("chat.postMessage", Failure(500, "Internal Server Error", times=1))
    broken = mention("Cgroups 是怎么限制 CPU 的？")
    assert post_event(slack, broken).status_code == 200
    record = wait_log(caplog, f"Slack request failed (event app_mention in C0TEST at {broken['ts']})")
    assert record.exc_info is not None
    # ok:false on the update: the reader is told in place of the answer.
    calls.fail("chat.update", Failure(200, {"ok": False, "error": "msg_too_long"}, times=1))
    event = mention("Cgroups 是怎么限制 CPU 的？")
    post_event(slack, event)
    looking = calls.wait_for("chat.postMessage", channel="C0TEST", thread_ts=event["ts"])[0]
    failed, told = calls.wait_for("chat.update", count=2, ts=looking.reply["ts"])
    assert failed.body["blocks"][-1]["type"] == "actions" and "抱歉" in told.body["text"]
    assert "msg_too_long" in caplog.text
    # The service goes on.
    assert httpx.get(f"{slack}/healthz").status_code == 200
    event = dm("Cgroups 是怎么限制 CPU 的？")
    post_event(slack, event)
    answered(calls, "D0READER", event["ts"])


# Socket Mode


def test_socket_mode_answers_over_a_websocket(slack_settings: Settings, app: FastAPI, calls: FakeSlack) -> None:
    """`kqa slack --socket`'s connection: Slack's WebSocket (a local one here) delivers an event,
    kqa acknowledges its envelope and answers through the Web API."""
    event = dm("Cgroups 是怎么限制 CPU 的？", channel="D0SOCKET")
    acks: queue.Queue[dict] = queue.Queue()

    def slack_side(ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1}))
        ws.send(json.dumps({"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False,
                            "retry_attempt": 0, "retry_reason": "", "payload": event_body(event, "EvSocket")}))
        for message in ws:
            acks.put(json.loads(message))

    options = slack_settings.slack.model_copy(update={"app_token": SecretStr("xapp-test"), "signing_secret": None})
    ws_server = ws_serve(slack_side, "127.0.0.1", 0, close_timeout=2)
    threading.Thread(target=ws_server.serve_forever, daemon=True).start()
    calls.socket_url = f"ws://127.0.0.1:{ws_server.socket.getsockname()[1]}/link"
    handler = socket_handler(app.state.bot, slack_settings.model_copy(update={"slack": options}))
    try:
        handler.connect()
        assert acks.get(timeout=20) == {"envelope_id": "env-1"}
        _, update = answered(calls, "D0SOCKET", event["ts"])
        assert "[1]" in update.body["blocks"][0]["text"]["text"]
        assert calls.of("apps.connections.open")[0].token == "xapp-test"
    finally:
        for stop in (handler.close, ws_server.shutdown):  # bounded: a stuck close fails the test, never hangs it
            stopper = threading.Thread(target=stop, daemon=True)
            stopper.start()
            stopper.join(timeout=30)
            assert not stopper.is_alive(), f"{stop} did not return"


def test_socket_mode_needs_its_tokens(slack_settings: Settings) -> None:
    with pytest.raises(SlackNotConfigured, match="KQA_SLACK__APP_TOKEN"):
        run_socket_mode(slack_settings)  # fails before loading anything


@pytest.mark.parametrize("name", ["manifest.yaml", "manifest-socket.yaml"])
def test_the_manifests_ask_for_what_kqa_listens_to(name: str) -> None:
    manifest = yaml.safe_load((ROOT / "slack" / name).read_text())
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "message.channels", "message.groups"} == events
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "im:history", "channels:history"} <= scopes
    command = manifest["features"]["slash_commands"][0]
    assert command["command"] == SlackOptions().command and manifest["settings"]["interactivity"]["is_enabled"]
    socket = name == "manifest-socket.yaml"
    assert manifest["settings"]["socket_mode_enabled"] is socket
    urls = [command.get("url"), manifest["settings"]["event_subscriptions"].get("request_url"),
            manifest["settings"]["interactivity"].get("request_url")]
    assert urls == [None] * 3 if socket else all(u.endswith(EVENTS_PATH) for u in urls)


def test_slash_command_can_answer_in_the_channel(slack: str, calls: FakeSlack, app: FastAPI) -> None:
    door = app.state.slack
    door.options = door.options.model_copy(update={"command_ephemeral": False})
    try:
        r = post_form(slack, {"command": "/kqa", "text": "PVC 和 PV 是怎么绑定的", "user_id": "U0READER",
                              "channel_id": "C0TEST", "team_id": "T0TEST", "token": "legacy",
                              "response_url": calls.response_url("public")})
        assert r.status_code == 200 and r.json()["response_type"] == "in_channel"
        answer = calls.wait_for("response/public")[0].body
        assert answer["response_type"] == "in_channel" and "[1]" in answer["blocks"][0]["text"]["text"]
        assert blocks.SHARE not in buttons(answer["blocks"])
    finally:
        door.options = door.options.model_copy(update={"command_ephemeral": True})


def test_buttons_on_an_answer_no_longer_at_hand_say_so(slack: str, calls: FakeSlack) -> None:
    gone = json.dumps({"id": "0123abcd"})  # no question to answer again, not in memory
    click(slack, calls, blocks.PASSAGES, gone, "gone-passages")
    view = calls.wait_for("views.open", trigger_id="trigger-gone-passages")[0].body["view"]
    assert "no longer at hand" in view["blocks"][0]["text"]["text"]
    click(slack, calls, blocks.SHARE, gone, "gone-share", ephemeral=True)
    told = calls.wait_for("response/gone-share")[0].body
    assert told["response_type"] == "ephemeral" and "no longer at hand" in told["text"]


# what an attacker who cannot sign can make kqa do: nothing


@pytest.fixture
def listener() -> Iterator[Listener]:
    """An internal service on loopback that an unsigned request names as its response_url."""
    with Listener() as server:
        yield server


def command_body(response_url: str, text: str = "Cgroups 是怎么限制 CPU 的？") -> str:
    return urllib.parse.urlencode({"command": "/kqa", "text": text, "user_id": "U0READER", "channel_id": "C0TEST",
                                   "team_id": "T0TEST", "token": "legacy", "trigger_id": "t-cmd",
                                   "response_url": response_url})


NOW = str(int(time.time()))
FORGED = "v0=" + "0" * 64


@pytest.mark.parametrize(("kind", "timestamp", "signature"), [
    ("command", "abc", FORGED),
    ("action", "1e9", FORGED),
    ("command", "9" * 5000, FORGED),  # more digits than int() takes
    ("action", "\u0661\u0667\u0661\u0660", FORGED),  # Arabic-Indic digits: int() takes them
    ("command", None, None),
    ("action", NOW, None),
    ("command", NOW, "v0=zz"),
], ids=["timestamp abc", "timestamp 1e9", "5000 digits", "non-ASCII digits", "no headers", "no signature",
        "malformed signature"])
def test_unverifiable_requests_are_a_plain_401_and_reach_no_url(slack: str, calls: FakeSlack, listener: Listener,
                                                                caplog: pytest.LogCaptureFixture, kind: str,
                                                                timestamp: str | None, signature: str | None) -> None:
    caplog.set_level(logging.INFO, logger="kqa")
    caplog.set_level(logging.INFO, logger="slack_bolt")
    target = f"{listener.url}/internal/admin"
    body = command_body(target) if kind == "command" else action_payload(blocks.DOWN, "0" * 32, "x", target)
    headers = {"Content-Type": FORM.encode()}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp.encode()
    if signature is not None:
        headers["X-Slack-Signature"] = signature.encode()
    r = httpx.post(f"{slack}{EVENTS_PATH}", content=body, headers=headers, timeout=10)
    assert r.status_code == 401
    time.sleep(1.0)  # anything kqa would do with the request has been done by now
    assert listener.requests == [] and calls.calls == []
    slack_lines = [rec for rec in caplog.records if rec.name.startswith(("kqa.slack", "slack_bolt"))]
    assert len(slack_lines) == 1, [rec.getMessage() for rec in slack_lines]
    line = slack_lines[0]
    assert line.exc_info is None and "\n" not in line.getMessage() and "refused" in line.getMessage()
    assert "9" * 200 not in line.getMessage()  # what was sent is not echoed at length


def test_bolt_sends_nothing_for_a_request_it_has_not_verified(app: FastAPI, listener: Listener,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """The second line, behind the route's check: Bolt's own dispatch, given the request directly.
    slack_sdk's int(timestamp) raises inside Bolt, whose error handler is kqa's `on_error`."""
    caplog.set_level(logging.INFO, logger="kqa.slack")
    bolt = build_app(app.state.slack)
    for body in (command_body(f"{listener.url}/internal/admin"),
                 action_payload(blocks.DOWN, "0" * 32, "x", f"{listener.url}/internal/admin")):
        request = BoltRequest(body=body, headers={"content-type": FORM, "x-slack-request-timestamp": "1e9",
                                                  "x-slack-signature": FORGED})
        assert bolt.dispatch(request).status == 401
    time.sleep(1.0)
    assert listener.requests == []
    assert all(rec.exc_info is None for rec in caplog.records)


def test_a_response_url_outside_slack_is_never_called(slack: str, calls: FakeSlack, listener: Listener,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Even a signed request (a leaked signing secret, a bug at Slack) sends nothing off Slack's hooks."""
    caplog.set_level(logging.DEBUG, logger="kqa.slack")
    target = f"{listener.url}/internal/admin"
    body = command_body(target)
    r = httpx.post(f"{slack}{EVENTS_PATH}", content=body, headers=signer.headers(body, FORM), timeout=10)
    assert r.status_code == 200
    warned = wait_log(caplog, "response_url outside")
    assert warned.levelno == logging.WARNING and "\n" not in warned.getMessage()
    wait_log(caplog, "not sent")  # the answer was ready and was dropped
    body = action_payload(blocks.PASSAGES, "0" * 32, "elsewhere", f"{listener.url}/x", ephemeral=True)
    httpx.post(f"{slack}{EVENTS_PATH}", content=body, headers=signer.headers(body, FORM), timeout=10)
    time.sleep(1.0)
    assert listener.requests == []


def test_the_slack_route_is_rate_limited_per_address(slack_settings: Settings, bot: Bot, calls: FakeSlack,
                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = slack_settings.model_copy(update={"limits": LimitOptions(rate_per_minute=6, burst=3),
                                                 "data_dir": tmp_path_factory.mktemp("slack-limited")})
    with serving(create_app(settings, bot.embedder)) as base:
        junk = [httpx.post(f"{base}{EVENTS_PATH}", content="x", headers={"Content-Type": FORM}).status_code
                for _ in range(4)]
        assert junk == [401, 401, 401, 429]
        body = json.dumps({"type": "url_verification", "challenge": "c"})
        r = httpx.post(f"{base}{EVENTS_PATH}", content=body, headers=signer.headers(body, JSON))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # the address is over, signed or not
        assert httpx.get(f"{base}/healthz").status_code == 200


# doors and votes


def test_http_cannot_open_or_write_a_slack_thread(slack: str, calls: FakeSlack, app: FastAPI) -> None:
    event = mention("Headless Service 的 DNS 记录是什么样的？", channel="C0DOORS")
    post_event(slack, event)
    answered(calls, "C0DOORS", event["ts"])
    thread = f"slack:C0DOORS:{event['ts']}"
    never = f"slack:C0DOORS:{new_ts()}"
    for headers in ({}, {"X-KQA-Door": "widget"}, {"Accept": "text/event-stream"}):
        hit, miss = (httpx.post(f"{slack}/v1/chat", json={"conversation_id": cid, "message": "Pod 为什么没有固定 IP？"},
                                headers=headers, timeout=30) for cid in (thread, never))
        assert hit.status_code == miss.status_code == 404, headers
        assert hit.json() == miss.json(), "a 404 must not tell another door's conversation from none"
    turns = app.state.bot.history.turns(thread)
    assert [m for m, _ in turns] == ["Headless Service 的 DNS 记录是什么样的？"]


def test_a_vote_counts_once_per_reader_however_often_it_arrives(slack: str, calls: FakeSlack,
                                                                slack_settings: Settings) -> None:
    event = mention("Cgroups 是怎么限制 CPU 的？", channel="C0VOTES")
    post_event(slack, event)
    _, update = answered(calls, "C0VOTES", event["ts"])
    answer_id = buttons(update.body["blocks"])[blocks.DOWN]
    # One signed 👎, delivered three times (Slack's retry, or a replay within the 5 minutes).
    body = action_payload(blocks.DOWN, answer_id, "replayed", calls.response_url("replayed"), channel="C0VOTES")
    headers = signer.headers(body, FORM)
    for _ in range(3):
        assert httpx.post(f"{slack}{EVENTS_PATH}", content=body, headers=headers, timeout=10).status_code == 200
    click(slack, calls, blocks.UP, answer_id, "second-reader", channel="C0VOTES", user="U0OTHER")
    calls.wait_for("response/second-reader")
    calls.wait_for("response/replayed")
    time.sleep(1.0)
    assert len(calls.of("response/replayed")) == 1  # thanked once
    with sqlite3.connect(slack_settings.history_path()) as db:
        rows = db.execute("SELECT rating, voter FROM feedback WHERE answer_id = ? ORDER BY id", (answer_id,)).fetchall()
    assert rows == [("down", "slack:U0READER"), ("up", "slack:U0OTHER")]
