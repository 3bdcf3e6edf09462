"""`kqa slack try`: the real Bolt app and listener, a Web API stand-in on loopback, and the
messages printed as Slack would receive them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from api.settings import Settings
from api.slack import blocks
from api.slack.preview import scratch_bot, try_command, try_messages
from bot.bot import Bot
from tests.conftest import ROOT


def actions(body: dict) -> dict[str, str]:
    """action_id → value of an answer's buttons."""
    return {e["action_id"]: e["value"] for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]}


def test_a_mention_and_a_follow_up_in_its_thread(built: Settings, bot: Bot, tmp_path: Path) -> None:
    settings = built.model_copy(update={"data_dir": tmp_path / "data"})
    with scratch_bot(settings, bot.embedder) as scratch:
        first, follow = try_messages(scratch, settings, "CLONE_NEWPID 是干什么的？", ["那它和 Cgroups 有什么区别？"])
        command = try_command(scratch, settings, "Cgroups 是怎么限制 CPU 的？")
        scratch_log = scratch.history.path
    assert not (tmp_path / "data").exists(), "the deployment's question log is not touched"
    assert not scratch_log.exists(), "the scratch log is deleted after"

    # the mention: "looking…" in a new thread at once, then the answer in its place
    looking, answer = first
    assert (looking.method, answer.method) == ("chat.postMessage", "chat.update")
    assert looking.body["text"] == "正在专栏里查找…" and looking.body["thread_ts"]
    assert answer.body["ts"] != looking.body["thread_ts"]  # the placeholder (the stand-in's ts), replaced
    assert answer.body["blocks"][0]["type"] == "section"
    assert "CLONE_NEWPID" in answer.body["text"]
    assert set(actions(answer.body)) >= {blocks.PASSAGES, blocks.UP, blocks.DOWN}
    # exactly the blocks the door renders for that answer (same bot, same question: same answer)
    reply = bot.ask("CLONE_NEWPID 是干什么的？", door="slack")
    expected = blocks.answer_messages(reply)[0]
    answer_id = actions(answer.body)[blocks.UP]
    assert json.loads(json.dumps(expected.blocks).replace(reply.answer_id, answer_id)) == answer.body["blocks"]

    # the reply in the thread: a follow-up, in the same thread, carrying the earlier turn's terms
    looking2, answer2 = follow
    assert looking2.body["thread_ts"] == looking.body["thread_ts"]
    assert "CLONE_NEWPID" in json.dumps(answer2.body["blocks"], ensure_ascii=False)

    # the slash command: "looking…" as its ack, then the answer to the response_url, only to the caller
    ack, posted = command
    assert (ack.method, ack.body) == ("ack", {"text": "正在专栏里查找…"})
    assert posted.method == "response_url" and posted.body["response_type"] == "ephemeral"
    assert posted.body["replace_original"] is True and "cpu.cfs_quota_us" in posted.body["text"]
    assert blocks.SHARE in actions(posted.body)  # a private answer offers to share it


def test_the_command_prints_what_would_be_posted(built: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "KQA_DATA_DIR": str(tmp_path / "data"), "KQA_STORE__PATH": str(built.store.path)}

    def kqa(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "api.cli", "slack", "try", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)

    r = kqa("Why can't I ping a Service?", "--thread", "and a headless one? \x1b[2J")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "━━ the reader: Why can't I ping a Service?"
    assert "━━ the reader: and a headless one? \\x1b[2J" in lines  # the reader's text shown, never obeyed
    assert "\x1b" not in r.stdout
    assert [line.split(" to ")[0] for line in lines if line.startswith("── ")] == [
        "── chat.postMessage", "── chat.update", "── chat.postMessage", "── chat.update"]
    assert "ClusterIP" in r.stdout and f'"action_id": "{blocks.UP}"' in r.stdout
    assert "the question contains control or invalid characters" in r.stdout  # what the thread would be told

    assert kqa("Pod 是什么", "--command", "--thread", "x").returncode == 2  # a command has no thread

    r = kqa("周末去杭州玩两天，有啥推荐路线", "--json")
    assert r.returncode == 0, r.stderr
    (calls,) = json.loads(r.stdout)
    update = calls[-1]
    assert update["method"] == "chat.update" and "杭州" in update["text"]  # a refusal says what is not covered
    assert not (tmp_path / "data").exists()
