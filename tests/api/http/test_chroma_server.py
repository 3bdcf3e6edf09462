"""Scale-out mode against a real `chroma run` server started here: ingest with `kqa ingest`
(KQA_STORE__URL), serve from it, ingest again while queries run, then kill the server mid-run
(answers go on from the index held in memory, /readyz says since when the store is away), bring
it back and ingest again (picked up), then hang it (SIGSTOP: answers go on, looks at it time out)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from api.http.app import create_app
from api.settings import LimitOptions
from bench.outage import Chroma as ChromaServer
from bot.bot import Bot
from bot.retrieve import RetrievalOptions
from index.embed import Embedder
from index.store import StoreOptions
from tests.api.conftest import free_port, open_settings, serving
from tests.conftest import ROOT, copy_corpus

CHROMA = Path(sys.executable).parent / "chroma"
PROBLEM = "application/problem+json"
FILES = {"05-namespace.md", "06-cgroups.md", "network/37-service-dns.md", "scheduler.html", "storage.txt"}
CANARY = "extra/99-canary.md"
QUESTIONS = ["Cgroups 怎么限制 CPU", "CLONE_NEWPID 是干什么的", "为什么 ping 不通 Service 的 IP",
             "PVC 和 PV 是怎么绑定的", "高优先级 Pod 怎么抢占", "how does a headless service resolve in DNS",
             "容器里 free 为什么不准"]

pytestmark = pytest.mark.skipif(not CHROMA.exists(), reason="the chroma CLI is not installed")


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[ChromaServer]:
    """A real `chroma run` server on a free loopback port (bench.outage.Chroma)."""
    server = ChromaServer(tmp_path / "chroma", tmp_path / "chroma.log")
    server.start()
    yield server
    server.kill()


def kqa_ingest(corpus: Path, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KQA_STORE__URL": url}
    return subprocess.run([sys.executable, "-m", "api.cli", "ingest", str(corpus), "--replace"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


class Traffic:
    """Clients asking and searching in a loop until stopped; every outcome is recorded."""

    def __init__(self, base: str, clients: int = 2) -> None:
        self.base, self.stop = base, threading.Event()
        self.results: list[tuple[int, float, dict]] = []  # status, seconds, body
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def _run(self, offset: int) -> None:
        i = offset
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                i += 1
                started = time.monotonic()
                try:
                    q = f"{QUESTIONS[i % len(QUESTIONS)]} ({i})"  # never the same twice: no answer cache
                    r = client.post(f"{self.base}/v1/ask", json={"question": q})
                    self.results.append((r.status_code, time.monotonic() - started, r.json()))
                except httpx.HTTPError as exc:
                    self.results.append((-1, time.monotonic() - started, {"error": repr(exc)}))
                time.sleep(0.05)


def test_serve_from_a_chroma_server_through_ingest_outage_and_recovery(
        chroma: ChromaServer, bot: Bot, embedder: Embedder, tmp_path: Path) -> None:
    corpus = copy_corpus(tmp_path / "corpus")
    first = kqa_ingest(corpus, chroma.url)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "indexed 5 files" in first.stdout

    settings = open_settings(bot, tmp_path / "data", store=StoreOptions(url=chroma.url, timeout_s=1),
                             retrieval=RetrievalOptions(refresh_s=0.3),
                             limits=LimitOptions(rate_per_minute=0, answer_timeout_s=5))
    with serving(create_app(settings, embedder)) as base:
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["files"] == 5 and ready["store"] == "ok"
        body = httpx.post(f"{base}/v1/ask", json={"question": "Cgroups 怎么限制 CPU"}, timeout=30).json()
        assert body["citations"][0]["source"] == "06-cgroups.md"

        # An ingest while queries run: no errors, and the new file is answered from afterwards.
        (corpus / "extra").mkdir()
        (corpus / CANARY).write_text("# 金丝雀发布\n\n金丝雀发布（canary release）先把新版本放给一小部分流量，"
                                     "观察指标正常后再逐步扩大比例，出问题时只影响少数用户。\n", encoding="utf-8")
        with Traffic(base) as during:
            second = kqa_ingest(corpus, chroma.url)
            assert second.returncode == 0, second.stderr[-2000:]
            assert "from 1 new or changed files" in second.stdout
            wait_for_source(base, "金丝雀发布是什么", CANARY)
        assert len(during.results) >= 10
        assert [r for r in during.results if r[0] != 200] == []
        for _, _, answer in during.results:  # every answer from one whole index, never a half-built one
            assert {c["source"] for c in answer["citations"]} <= FILES | {CANARY}

        # Kill the store mid-run: answers go on from the index held in memory, /readyz stays 200
        # and says since when the store is away, /metrics shows it.
        with Traffic(base) as outage:
            time.sleep(1.0)
            chroma.kill()
            killed = time.time()
            ready = wait_for_store(base, lambda s: s.startswith("unreachable since "))
            since = datetime.fromisoformat(ready["store"].removeprefix("unreachable since "))
            assert killed - 2 <= since.timestamp() <= time.time()  # shown to the second; a look under way counts
            assert ready["files"] == 6  # the index held: the five files and the canary
            metrics = httpx.get(f"{base}/metrics").text
            assert "kqa_store_up 0.0" in metrics and "kqa_store_unreachable_since_timestamp_seconds" in metrics
            assert httpx.post(f"{base}/v1/ask", json={"question": "Cgroups 是怎么限制 CPU 的？"},
                              timeout=30).json()["citations"][0]["source"] == "06-cgroups.md"
            hits = httpx.get(f"{base}/v1/search", params={"q": "金丝雀发布是什么", "k": 1}, timeout=30).json()
            assert hits["results"][0]["source"] == CANARY
            streamed = stream_events(base, {"question": "Mount Namespace 是什么"})
            assert streamed[-1][0] == "done"
            time.sleep(1.5)  # several looks at the dead store, while clients keep asking
        statuses = [s for s, _, _ in outage.results]
        assert len(statuses) >= 10 and set(statuses) == {200}, statuses
        assert int(float(metric(httpx.get(f"{base}/metrics").text, "kqa_store_failures_total"))) >= 2

        # The store comes back, and an ingest made then is picked up.
        chroma.start()
        wait_for_store(base, lambda s: s == "ok")
        assert "kqa_store_up 1.0" in httpx.get(f"{base}/metrics").text
        (corpus / "extra" / "98-blue-green.md").write_text(
            "# 蓝绿部署\n\n蓝绿部署（blue-green deployment）同时保留新旧两套环境，验证新环境无误后一次性把流量"
            "切过去，回滚时再切回旧环境。\n", encoding="utf-8")
        third = kqa_ingest(corpus, chroma.url)
        assert third.returncode == 0, third.stderr[-2000:]
        wait_for_source(base, "蓝绿部署是什么", "extra/98-blue-green.md")
        assert httpx.get(f"{base}/readyz").json()["files"] == 7

        # A hung store (stopped, port still open): no answer waits for it. Looks at it give up
        # after KQA_STORE__TIMEOUT_S (else /readyz would never say it is away), while answers
        # come from memory (else the answer time limit would turn them into 503 problems).
        with Traffic(base) as hung:
            time.sleep(0.5)
            chroma.pause(True)
            try:
                wait_for_store(base, lambda s: s.startswith("unreachable since "))
                time.sleep(1.5)
            finally:
                chroma.pause(False)
            wait_for_store(base, lambda s: s == "ok")
        statuses = [s for s, _, _ in hung.results]
        assert len(statuses) >= 10 and set(statuses) == {200}, statuses


def wait_for_store(base: str, ok: Callable[[str], bool], seconds: float = 30) -> dict:
    """/readyz, once its `store` field passes `ok` (it stays 200 all along)."""
    deadline = time.monotonic() + seconds
    while True:
        r = httpx.get(f"{base}/readyz", timeout=30)
        assert r.status_code == 200, r.text
        if ok(r.json()["store"]):
            return r.json()
        assert time.monotonic() < deadline, f"/readyz still says store: {r.json()['store']}"
        time.sleep(0.1)


def wait_for_source(base: str, question: str, source: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while True:
        hits = httpx.get(f"{base}/v1/search", params={"q": question, "k": 1}, timeout=30).json()["results"]
        if hits and hits[0]["source"] == source:
            return
        assert time.monotonic() < deadline, f"{source} never became visible"
        time.sleep(0.2)


def metric(text: str, name: str) -> str:
    return next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " "))


def test_a_replica_that_never_loaded_an_index_is_not_ready(bot: Bot, tmp_path: Path) -> None:
    """The one case for 503: the store was away from the start, so there is nothing to answer from."""
    nobody = f"http://127.0.0.1:{free_port()}"
    settings = open_settings(bot, tmp_path / "data", store=StoreOptions(url=nobody, timeout_s=1))
    with serving(create_app(settings, bot.embedder), ready="/healthz") as base:
        deadline = time.monotonic() + 30
        while (r := httpx.get(f"{base}/readyz", timeout=30)).json()["title"] == "kqa is starting up":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert r.status_code == 503 and r.json()["title"] == "the vector store is not reachable"
        assert nobody not in r.text and r.headers["retry-after"]
        r = httpx.post(f"{base}/v1/ask", json={"question": "Pod 是什么"}, timeout=30)
        assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM)
        assert "kqa_store_up 0.0" in httpx.get(f"{base}/metrics").text


def stream_events(base: str, body: dict) -> list[tuple[str, dict]]:
    events, name = [], None
    with httpx.stream("POST", f"{base}/v1/ask", json=body, headers={"Accept": "text/event-stream"},
                      timeout=30) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events
