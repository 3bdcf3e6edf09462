"""Generated answers through every door over real HTTP: the real app under uvicorn, the real
LangChain client talking to a scripted OpenAI-compatible server on loopback, SSE read off the
wire as it arrives, and the `kqa` CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from api.http.app import create_app
from api.settings import LimitOptions
from bot.bot import Bot
from tests.api.conftest import open_settings, serving
from tests.conftest import LLM_KEY, ROOT, llm_options
from tests.fakes.openai import FakeOpenAI, Reply

FREE = "容器里执行 free 为什么看到的是宿主机内存？"
GROUNDED = "因为 free 读取的 /proc/meminfo 并不知道 Cgroups 的存在，所以看到的是整台宿主机的内存[1]。"


@contextmanager
def llm_server(bot: Bot, fake: FakeOpenAI, data_dir: Path, answer_timeout_s: float = 15.0,
               **llm: object) -> Iterator[str]:
    settings = open_settings(bot, data_dir, llm=llm_options(fake, **llm),
                             limits=LimitOptions(rate_per_minute=0, answer_timeout_s=answer_timeout_s))
    with serving(create_app(settings, bot.embedder)) as base:
        yield base


def timed_sse(base: str, path: str, body: dict) -> list[tuple[str, dict, float]]:
    """POST with Accept: text/event-stream; (event, data, seconds since the request) as they arrive."""
    out, name, started = [], None, time.monotonic()
    with httpx.stream("POST", f"{base}{path}", json=body, headers={"Accept": "text/event-stream"},
                      timeout=60) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[len("data: "):]), time.monotonic() - started))
    return out


def test_ask_answers_generated_and_the_schema_documents_mode(bot: Bot, fake_llm: FakeOpenAI, tmp_path: Path
                                                              ) -> None:
    fake_llm.reply(GROUNDED)
    with llm_server(bot, fake_llm, tmp_path) as base:
        got = httpx.post(f"{base}/v1/ask", json={"question": FREE}, timeout=30).json()
        schema = httpx.get(f"{base}/openapi.json").json()["components"]["schemas"]
    assert got["mode"] == "generated" and got["answer"] == GROUNDED and not got["refused"]
    assert [c["n"] for c in got["citations"]] == [1] and got["citations"][0]["source"] == "06-cgroups.md"
    assert all(c["quote"] in c["text"] for c in got["citations"])
    assert schema["AskResponse"]["properties"]["mode"]["enum"] == ["generated", "extractive"]
    assert "mode" in schema["AskResponse"]["required"]
    assert "standalone_question" in schema["ChatResponse"]["properties"]
    assert not fake_llm.requests[0].streamed


def test_stream_sends_the_model_tokens_as_they_arrive(bot: Bot, fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    fake_llm.reply(Reply(GROUNDED, chunk_size=4, chunk_delay=0.1))
    with llm_server(bot, fake_llm, tmp_path) as base:
        events = timed_sse(base, "/v1/ask", {"question": FREE})
    names = [n for n, _, _ in events]
    assert names[0] == "citations" and names[-1] == "done" and set(names[1:-1]) == {"delta"}
    deltas = [(d["text"], t) for n, d, t in events if n == "delta"]
    head, done, done_at = events[0][1], events[-1][1], events[-1][2]
    # the model's chunks, one delta each, the first well before the end (not a buffered answer)
    assert [text for text, _ in deltas] == [GROUNDED[i : i + 4] for i in range(0, len(GROUNDED), 4)]
    assert deltas[0][1] < done_at - 0.5 and deltas[-1][1] - deltas[0][1] > 0.5
    assert fake_llm.requests[0].streamed
    # the head lists the passages the model was given, numbered as in its prompt
    prompt = fake_llm.requests[0].content("user")
    assert [c["n"] for c in head["citations"]] == list(range(1, len(head["citations"]) + 1))
    assert all(f'<passage n="{c["n"]}"' in prompt and c["text"].strip() in prompt for c in head["citations"])
    assert done["mode"] == "generated" and done["answer"] == GROUNDED
    assert [c["n"] for c in done["citations"]] == [1] and done["citations"][0]["quote"] in done["citations"][0]["text"]
    assert set(done) == {"answer", "mode", "citations", "took_ms", "confidence", "not_covered"}


def test_stream_that_fails_its_check_is_replaced_by_the_extractive_answer(bot: Bot, fake_llm: FakeOpenAI,
                                                                          tmp_path: Path) -> None:
    fake_llm.reply(Reply("Cgroups 限制资源[8]。", chunk_size=3))
    floor = bot.answer(FREE)
    with llm_server(bot, fake_llm, tmp_path) as base:
        events = timed_sse(base, "/v1/ask", {"question": FREE})
    names = [n for n, _, _ in events]
    assert names[0] == "citations" and names[-2:] == ["replace", "done"] and set(names[1:-2]) == {"delta"}
    assert "".join(d["text"] for n, d, _ in events if n == "delta") == "Cgroups 限制资源[8]。"
    replaced, done = events[-2][1], events[-1][1]
    assert replaced == {"text": floor.answer} and done["answer"] == floor.answer and done["mode"] == "extractive"
    assert [c["quote"] for c in done["citations"]] == [c.quote for c in floor.citations]


def test_time_outs_fall_back_within_the_limit_streamed_or_not(bot: Bot, fake_llm: FakeOpenAI, tmp_path: Path
                                                              ) -> None:
    limit = 1.5
    floor = bot.answer(FREE)
    # The answer time limit (1 s) is shorter than the model's: the model's budget comes on top.
    with llm_server(bot, fake_llm, tmp_path, answer_timeout_s=1.0, timeout_s=limit) as base:
        fake_llm.reply(Reply(GROUNDED, delay=30))
        started = time.monotonic()
        r = httpx.post(f"{base}/v1/ask", json={"question": FREE}, timeout=30)
        took = time.monotonic() - started
        assert r.status_code == 200 and r.json()["mode"] == "extractive" and r.json()["answer"] == floor.answer
        assert limit <= took < limit + 1.5, took

        # streamed: a few tokens, then the model stalls; the reader gets the extractive answer in time
        fake_llm.reply(Reply(GROUNDED, chunk_size=2, chunk_delay=0.6))
        events = timed_sse(base, "/v1/chat", {"message": FREE})
        names = [n for n, _, _ in events]
        assert "delta" in names and names[-2:] == ["replace", "done"]
        assert events[-1][1]["mode"] == "extractive" and events[-2][1]["text"] == floor.answer
        assert limit <= events[-1][2] < limit + 1.5, events[-1][2]

        # stalled before any token: the extractive answer comes as ordinary deltas
        fake_llm.reply(Reply(GROUNDED, delay=30))
        events = timed_sse(base, "/v1/ask", {"question": FREE})
        assert "replace" not in [n for n, _, _ in events]
        assert "".join(d["text"] for n, d, _ in events if n == "delta") == floor.answer
        assert events[-1][1]["mode"] == "extractive" and events[-1][2] < limit + 1.5


def test_chat_condenses_a_follow_up_over_http(bot: Bot, fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    fake_llm.reply(GROUNDED, "PVC 和 PV 是怎么绑定的？",
                   Reply("PersistentVolumeController 会把满足条件的 PV 和 PVC 绑定在一起[1]。", chunk_delay=0.02))
    with llm_server(bot, fake_llm, tmp_path) as base:
        one = httpx.post(f"{base}/v1/chat", json={"message": FREE}, timeout=30).json()
        events = timed_sse(base, "/v1/chat", {"message": "那它呢？", "conversation_id": one["conversation_id"]})
    assert one["mode"] == "generated" and one["standalone_question"] is None
    head, done = events[0][1], events[-1][1]
    assert head["standalone_question"] == "PVC 和 PV 是怎么绑定的？" and head["context_terms"] == []
    assert head["citations"][0]["source"] == "storage.txt"
    assert done["mode"] == "generated" and done["citations"][0]["source"] == "storage.txt"
    condense = fake_llm.requests[1]
    assert condense.content("user").endswith("那它呢？") and not condense.streamed
    assert len(fake_llm.requests) == 3 and fake_llm.requests[2].streamed


def test_refused_questions_never_reach_the_model(bot: Bot, fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    with llm_server(bot, fake_llm, tmp_path) as base:
        plain = httpx.post(f"{base}/v1/ask", json={"question": "红烧肉怎么做才不腻"}, timeout=30).json()
        events = timed_sse(base, "/v1/ask", {"question": "红烧肉怎么做才不腻？"})
    assert plain["refused"] and plain["mode"] == "extractive"
    assert events[0][1]["refused"] and events[-1][1]["mode"] == "extractive"
    assert fake_llm.requests == []


def run_cli(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=300)


def test_cli_without_a_model_makes_no_request_and_loads_no_client(bot: Bot, fake_llm: FakeOpenAI, tmp_path: Path
                                                                 ) -> None:
    code = ("import sys, json\nfrom api.cli import main\nrc = main(['ask', '--json', " + repr(FREE) + "])\n"
            "print(json.dumps({'rc': rc, 'loaded': sorted(m for m in sys.modules if m.split('.')[0] in "
            "('langchain_openai', 'langchain_ollama', 'openai', 'ollama'))}))")
    env = {"KQA_STORE__PATH": str(bot.settings.store.path), "KQA_DATA_DIR": str(tmp_path),
           "KQA_LLM__BASE_URL": fake_llm.url,
           "KQA_LLM__MODEL": "fake-model", "KQA_LLM__API_KEY": LLM_KEY, "KQA_LLM__PROVIDER": "none"}
    out = run_cli(code, env)
    assert out.returncode == 0, out.stderr
    *answer, last = out.stdout.strip().splitlines()
    assert json.loads(last) == {"rc": 0, "loaded": []}
    assert json.loads("\n".join(answer))["mode"] == "extractive"
    assert fake_llm.requests == []


def test_cli_ask_gets_a_generated_answer(bot: Bot, fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    fake_llm.reply(GROUNDED)
    env = {"KQA_STORE__PATH": str(bot.settings.store.path), "KQA_DATA_DIR": str(tmp_path),
           "KQA_LLM__PROVIDER": "openai",
           "KQA_LLM__BASE_URL": fake_llm.url, "KQA_LLM__MODEL": "fake-model", "KQA_LLM__API_KEY": LLM_KEY,
           "KQA_LLM__TIMEOUT_S": "120"}  # the fake answers at once; a busy machine must not turn this extractive
    out = subprocess.run([sys.executable, "-m", "api.cli", "ask", FREE], cwd=ROOT, env={**os.environ, **env},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(GROUNDED) and "[1] 第06讲" in out.stdout
    assert len(fake_llm.requests) == 1 and fake_llm.requests[0].authorization == f"Bearer {LLM_KEY}"
    assert LLM_KEY not in out.stdout + out.stderr
