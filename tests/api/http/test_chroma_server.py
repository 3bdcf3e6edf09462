"""Scale-out mode against a real `chroma run` server started here: ingest with `kqa ingest`
(KQA_STORE__URL), serve from it, ingest again while queries run, then kill the server
mid-run (503 problems in bounded time, no hang) and bring it back (recovery)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.http.app import create_app
from api.settings import LimitOptions
from bot.bot import Bot
from bot.retrieve import RetrievalOptions
from index.embed import Embedder
from index.store import StoreOptions
from tests.api.conftest import free_port, open_settings, serving, wait_ok
from tests.conftest import ROOT, copy_corpus

CHROMA = Path(sys.executable).parent / "chroma"
PROBLEM = "application/problem+json"
FILES = {"05-namespace.md", "06-cgroups.md", "network/37-service-dns.md", "scheduler.html", "storage.txt"}
CANARY = "extra/99-canary.md"
QUESTIONS = ["Cgroups 怎么限制 CPU", "CLONE_NEWPID 是干什么的", "为什么 ping 不通 Service 的 IP",
             "PVC 和 PV 是怎么绑定的", "高优先级 Pod 怎么抢占", "how does a headless service resolve in DNS",
             "容器里 free 为什么不准"]

pytestmark = pytest.mark.skipif(not CHROMA.exists(), reason="the chroma CLI is not installed")


class ChromaServer:
    def __init__(self, path: Path, log: Path) -> None:
        self.path, self.log, self.port = path, log, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1",
                                          "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT)
        wait_ok(f"{self.url}/api/v2/heartbeat", 30, alive=lambda: self.proc.poll() is None,
                why=lambda: self.log.read_text()[-2000:])

    def pause(self, paused: bool) -> None:
        """SIGSTOP / SIGCONT: the server keeps its port but answers nothing (a hung store)."""
        self.proc.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[ChromaServer]:
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

    settings = open_settings(bot, tmp_path / "data", store=StoreOptions(url=chroma.url),
                             retrieval=RetrievalOptions(refresh_s=0.5),
                             limits=LimitOptions(rate_per_minute=0, answer_timeout_s=5))
    with serving(create_app(settings, embedder)) as base:
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["files"] == 5
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
            deadline = time.monotonic() + 15
            while True:
                hits = httpx.get(f"{base}/v1/search", params={"q": "金丝雀发布是什么", "k": 1}).json()["results"]
                if hits and hits[0]["source"] == CANARY:
                    break
                assert time.monotonic() < deadline, "the new file never became visible"
                time.sleep(0.2)
        assert len(during.results) >= 10
        assert [r for r in during.results if r[0] != 200] == []
        for _, _, answer in during.results:  # every answer from one whole index, never a half-built one
            assert {c["source"] for c in answer["citations"]} <= FILES | {CANARY}

        # Kill the store mid-run: 503 problems, quickly, while clients keep asking; then recovery.
        with Traffic(base) as outage:
            time.sleep(1.0)
            chroma.kill()
            killed = time.monotonic()
            # Passages are scored in memory, so answers may go on until the next look at the
            # store (refresh_s = 0.5 s); after that, a 503 problem.
            while (r := httpx.post(f"{base}/v1/ask", json={"question": "Namespace 隔离了什么？"},
                                   timeout=30)).status_code == 200:
                assert time.monotonic() - killed < 3, "still answering after the store went away"
            assert r.status_code == 503 and time.monotonic() - killed < 5
            assert r.headers["content-type"].startswith(PROBLEM) and r.headers["retry-after"]
            assert "Traceback" not in r.text and r.json()["status"] == 503
            assert httpx.get(f"{base}/readyz", timeout=30).status_code == 503
            assert httpx.get(f"{base}/v1/search", params={"q": "Namespace 隔离"}, timeout=30).status_code == 503
            streamed = stream_events(base, {"question": "Mount Namespace 是什么"})
            assert streamed[0][0] == "error" and streamed[0][1]["status"] == 503
            time.sleep(1.0)
            chroma.start()
            deadline = time.monotonic() + 30
            while httpx.post(f"{base}/v1/ask", json={"question": "Cgroups 的文件接口在哪里"},
                             timeout=30).status_code != 200:
                assert time.monotonic() < deadline, "no recovery after the store came back"
                time.sleep(0.2)
            time.sleep(1.0)
        assert httpx.get(f"{base}/readyz").status_code == 200
        statuses = [s for s, _, _ in outage.results]
        assert set(statuses) <= {200, 503}, statuses
        assert 503 in statuses and statuses[-1] == 200
        assert max(t for _, t, _ in outage.results) < 10  # no request hung
        assert all(b["status"] == 503 for s, _, b in outage.results if s == 503)
        assert time.monotonic() - killed < 60

        # A hung store (stopped, port still open, no client timeout underneath): the answer time
        # limit turns the wait into a 503 problem; when it resumes, answers come back.
        chroma.pause(True)
        try:
            paused = time.monotonic()
            while True:
                started = time.monotonic()
                r = httpx.post(f"{base}/v1/ask", json={"question": "Network Namespace 给了容器什么"}, timeout=30)
                if r.status_code != 200:
                    break
                assert started - paused < 3, "still answering long after the store hung"
            assert r.status_code == 503 and r.json()["title"] == "no answer in time"
            assert 4 < time.monotonic() - started < 8
        finally:
            chroma.pause(False)
        deadline = time.monotonic() + 30
        while httpx.post(f"{base}/v1/ask", json={"question": "Network Namespace 给了容器什么"},
                         timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "no recovery after the store resumed"
            time.sleep(0.2)


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
