"""Conversations, streaming and feedback over real HTTP (real uvicorn, model and Chroma)."""

import json
import os
import sqlite3
import subprocess
import sys

import httpx

from bot.settings import Settings
from tests.conftest import ROOT

PROBLEM = "application/problem+json"
CHAT_KEYS = {"conversation_id", "answer_id", "question", "answer", "refused", "not_covered", "citations", "took_ms",
             "confidence", "mode", "context_terms", "standalone_question"}
CITATION_KEYS = {"n", "source", "title", "lecture", "section", "quote", "text", "score", "url", "quotes", "page"}


def chat(server: str, message: str, conversation_id: str | None = None) -> httpx.Response:
    body = {"message": message} | ({"conversation_id": conversation_id} if conversation_id else {})
    return httpx.post(f"{server}/v1/chat", json=body, timeout=30)


def sse(server: str, path: str, body: dict) -> list[tuple[str, dict]]:
    """POST with Accept: text/event-stream; the events as (name, data), in order."""
    events, name = [], None
    with httpx.stream("POST", f"{server}{path}", json=body, headers={"Accept": "text/event-stream"},
                      timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: "):])))
    return events


def test_chat_contract_and_a_follow_up_carries_the_topic(server: str) -> None:
    first = chat(server, "Headless Service 的 DNS 记录是什么样的？")
    assert first.status_code == 200
    one = first.json()
    assert set(one) == CHAT_KEYS and one["context_terms"] == [] and one["conversation_id"]
    assert one["mode"] == "extractive" and one["standalone_question"] is None  # no model configured
    assert one["citations"][0]["source"] == "network/37-service-dns.md"
    assert all(set(c) == CITATION_KEYS and c["quote"] in c["text"] for c in one["citations"])

    two = chat(server, "how do I debug that?", one["conversation_id"]).json()
    assert two["conversation_id"] == one["conversation_id"] and two["answer_id"] != one["answer_id"]
    assert two["question"] == "how do I debug that?"
    assert "Headless Service" in two["context_terms"] and "DNS" in two["context_terms"]
    assert not two["refused"] and two["citations"][0]["source"] == "network/37-service-dns.md"
    assert "nslookup" in two["answer"]  # the debugging sentence, found through the carried terms


def test_chinese_follow_up_refers_back_and_a_new_topic_starts_afresh(server: str) -> None:
    one = chat(server, "CLONE_NEWPID 是干什么的？").json()
    assert one["citations"][0]["source"] == "05-namespace.md"
    two = chat(server, "那它和 Cgroups 有什么区别？", one["conversation_id"]).json()
    assert two["context_terms"] == ["CLONE_NEWPID"]
    assert {"05-namespace.md", "06-cgroups.md"} <= {c["source"] for c in two["citations"]}
    three = chat(server, "PVC 和 PV 是怎么绑定的", one["conversation_id"]).json()
    assert three["context_terms"] == [] and three["citations"][0]["source"] == "storage.txt"


def test_unknown_or_bad_conversations_are_clean_4xx(server: str) -> None:
    r = chat(server, "那它呢？", "no-such-conversation")
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["title"] == "conversation not found"
    assert chat(server, "Pod 是什么", "x" * 65).status_code == 422
    assert chat(server, "   ").status_code == 422
    assert httpx.post(f"{server}/v1/chat", json={"message": ["a"]}).status_code == 422


def test_ask_streams_citations_then_deltas_then_done(server: str) -> None:
    events = sse(server, "/v1/ask", {"question": "容器里执行 free 为什么看到的是宿主机内存？"})
    names = [n for n, _ in events]
    assert names[0] == "citations" and names[-1] == "done" and set(names[1:-1]) == {"delta"} and len(names) > 4
    head, done = events[0][1], events[-1][1]
    assert set(head) == {"answer_id", "refused", "citations"} and head["refused"] is False
    assert head["citations"][0]["source"] == "06-cgroups.md"
    assert "".join(d["text"] for n, d in events if n == "delta") == done["answer"]
    assert set(done) == {"answer", "mode", "citations", "took_ms", "confidence", "not_covered"}
    assert done["mode"] == "extractive" and done["citations"] == head["citations"]
    # the same answer as plain JSON
    plain = httpx.post(f"{server}/v1/ask", json={"question": "容器里执行 free 为什么看到的是宿主机内存？"}, timeout=30)
    assert plain.json()["answer"] == done["answer"] and plain.json()["citations"] == head["citations"]


def test_chat_streams_with_its_conversation(server: str) -> None:
    first = sse(server, "/v1/chat", {"message": "Cgroups 怎么限制 CPU？"})
    head = first[0][1]
    assert set(head) == {"conversation_id", "answer_id", "refused", "citations", "context_terms",
                         "standalone_question"}
    follow = sse(server, "/v1/chat", {"message": "那内存呢？", "conversation_id": head["conversation_id"]})
    assert "Cgroups" in follow[0][1]["context_terms"] and follow[-1][0] == "done"


def test_stream_request_errors_are_plain_problems_before_the_stream(server: str) -> None:
    for path, body, status in [("/v1/ask", {"question": ""}, 422), ("/v1/chat", {"message": "那它呢", "conversation_id":
                                                                                   "gone"}, 404)]:
        r = httpx.post(f"{server}{path}", json=body, headers={"Accept": "text/event-stream"})
        assert r.status_code == status and r.headers["content-type"].startswith(PROBLEM)


def test_feedback_is_recorded_and_reported(server: str, served_settings: Settings) -> None:
    refused = httpx.post(f"{server}/v1/ask", json={"question": "红烧肉怎么做才不腻"}, timeout=30).json()
    for _ in range(2):
        asked = httpx.post(f"{server}/v1/ask", json={"question": "PVC 和 PV 是怎么绑定的？"}, timeout=30).json()
    r = httpx.post(f"{server}/v1/feedback", json={"answer_id": asked["answer_id"], "rating": "down",
                                                  "comment": "没说 StorageClass 的绑定模式"})
    assert r.status_code == 201 and r.json()["status"] == "recorded"
    # A later comment amends that vote (one vote, with the comment), and only on its own answer.
    vote = httpx.post(f"{server}/v1/feedback", json={"answer_id": refused["answer_id"], "rating": "down"}).json()
    amend = {"answer_id": refused["answer_id"], "rating": "down", "comment": "答非所问",
             "amends": vote["feedback_id"]}
    assert httpx.post(f"{server}/v1/feedback", json=amend).json() == {"status": "recorded",
                                                                     "feedback_id": vote["feedback_id"]}
    with sqlite3.connect(served_settings.history_path()) as db:
        assert db.execute("SELECT rating, comment FROM feedback WHERE answer_id = ?",
                          (refused["answer_id"],)).fetchall() == [("down", "答非所问")]
    assert httpx.post(f"{server}/v1/feedback", json={"answer_id": refused["answer_id"], "rating": "up"}
                      ).status_code == 201

    for body, status in [({"answer_id": "never-given", "rating": "up"}, 404),
                         ({"answer_id": asked["answer_id"], "rating": "meh"}, 422),
                         ({"answer_id": asked["answer_id"], "rating": "down", "comment": "x" * 2001}, 422),
                         ({"rating": "down"}, 422),
                         ({"answer_id": asked["answer_id"], "rating": "up", "amends": vote["feedback_id"]}, 404),
                         ({"answer_id": refused["answer_id"], "rating": "up", "amends": 0}, 422),
                         # a comment follows the question's rule: no control characters but tab and newlines
                         ({"answer_id": asked["answer_id"], "rating": "down", "comment": "\x1b[2J"}, 422),
                         ({"answer_id": asked["answer_id"], "rating": "down", "comment": "a\x9b31m"}, 422),
                         ({"answer_id": asked["answer_id"], "rating": "down", "comment": "\x00"}, 422)]:
        r = httpx.post(f"{server}/v1/feedback", json=body)
        assert r.status_code == status and r.headers["content-type"].startswith(PROBLEM), body

    env = {**os.environ, "KQA_DATA_DIR": str(served_settings.data_dir)}
    out = subprocess.run([sys.executable, "-m", "api.cli", "report", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["questions"] >= 3 and report["down"] >= 1 and report["up"] >= 1
    assert any(row["question"].startswith("PVC 和 PV") and row["count"] >= 2 for row in report["most_asked"])
    assert any(row["question"] == "红烧肉怎么做才不腻" for row in report["most_refused"])
    down = next(row for row in report["downvoted"] if row["question"].startswith("PVC 和 PV"))
    assert down["down"] == 1 and down["comments"] == ["没说 StorageClass 的绑定模式"]

    text = subprocess.run([sys.executable, "-m", "api.cli", "report"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120).stdout
    assert "Most asked" in text and "Refused" in text and "Downvoted" in text and "红烧肉怎么做才不腻" in text
