"""Scale-out: two `kqa serve` processes (two replicas behind a load balancer) sharing one real
PostgreSQL (through a TCP proxy the test can cut) and one `chroma run` server. A conversation
started on one continues on the other, a vote given on one is amended on the other, `kqa report`
sees what both answered; with the database cut, answers go on and conversations get 503, and
both replicas recover when it is back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from api.settings import Settings
from tests.api.conftest import free_port, wait_ok
from tests.api.http.test_chroma_server import CHROMA, ChromaServer
from tests.api.http.test_database import through
from tests.conftest import ROOT
from tests.fakes.tcpproxy import TcpProxy

pytestmark = pytest.mark.skipif(not CHROMA.exists(), reason="the chroma CLI is not installed")


@contextmanager
def replica(env: dict[str, str], log: Path) -> Iterator[str]:
    """`kqa serve` in its own process on a free port; yields its base URL once ready."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ok(f"{base}/readyz", 300, alive=lambda: proc.poll() is None, why=lambda: log.read_text()[-3000:])
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_two_replicas_share_conversations_feedback_and_the_report(built: Settings, tmp_path: Path,
                                                                   postgres: str) -> None:
    shutil.copytree(built.store.path, tmp_path / "chroma")  # `chroma run` reads the embedded index's format
    with ExitStack() as stack:
        proxy = stack.enter_context(TcpProxy(("127.0.0.1", 5432)))
        chroma = ChromaServer(tmp_path / "chroma", tmp_path / "chroma.log")
        chroma.start()
        stack.callback(chroma.kill)
        env = {**os.environ, "KQA_STORE__URL": chroma.url, "KQA_DATABASE_URL": through(proxy, postgres),
               "KQA_DATABASE__RETRY_AFTER_S": "0.3", "KQA_LIMITS__RATE_PER_MINUTE": "0", "KQA_LLM__PROVIDER": "none"}
        env.pop("KQA_STORE__PATH", None)
        a, b = (stack.enter_context(replica({**env, "KQA_DATA_DIR": str(tmp_path / name)}, tmp_path / f"{name}.log"))
                for name in ("a", "b"))
        http = stack.enter_context(httpx.Client(timeout=60))

        first = http.post(f"{a}/v1/chat", json={"message": "Cgroups 怎么限制 CPU？"}).json()
        cid = first["conversation_id"]
        follow = http.post(f"{b}/v1/chat", json={"message": "那内存呢？", "conversation_id": cid})
        assert follow.status_code == 200 and follow.json()["conversation_id"] == cid, follow.text
        assert follow.json()["context_terms"]  # B carried A's turn into its search
        again = http.post(f"{a}/v1/chat", json={"message": "它们在哪个目录？", "conversation_id": cid})
        assert again.status_code == 200, again.text

        vote = http.post(f"{a}/v1/feedback", json={"answer_id": first["answer_id"], "rating": "up"})
        assert vote.status_code == 201, vote.text
        amended = http.post(f"{b}/v1/feedback", json={"answer_id": first["answer_id"], "rating": "down",
                                                      "comment": "没讲内存", "amends": vote.json()["feedback_id"]})
        assert amended.status_code == 201 and amended.json()["feedback_id"] == vote.json()["feedback_id"]
        asked = http.post(f"{b}/v1/ask", json={"question": "Namespace 是什么？"})
        assert asked.status_code == 200, asked.text

        report = subprocess.run([sys.executable, "-m", "api.cli", "report", "--json"], cwd=ROOT, capture_output=True,
                                text=True, env={**env, "KQA_DATA_DIR": str(tmp_path / "elsewhere")}, timeout=300)
        assert report.returncode == 0, report.stderr
        seen = json.loads(report.stdout)
        assert (seen["questions"], seen["up"], seen["down"]) == (4, 0, 1)  # A's two turns, B's turn and ask
        assert {q["question"] for q in seen["most_asked"]} == {
            "Cgroups 怎么限制 CPU？", "那内存呢？", "它们在哪个目录？", "Namespace 是什么？"}
        assert seen["downvoted"][0]["comments"] == ["没讲内存"]

        proxy.cut()
        assert http.post(f"{a}/v1/ask", json={"question": "Pod 是什么？"}).status_code == 200
        assert http.post(f"{b}/v1/ask", json={"question": "Pod 是什么？"}).status_code == 200
        for base in (a, b):
            cut = http.post(f"{base}/v1/chat", json={"message": "还有呢？", "conversation_id": cid})
            assert cut.status_code == 503 and cut.headers["content-type"].startswith("application/problem+json")
        proxy.restore()
        time.sleep(0.5)  # past retry_after_s
        for base in (a, b):
            back = http.post(f"{base}/v1/chat", json={"message": "还有呢？", "conversation_id": cid})
            assert back.status_code == 200 and back.json()["conversation_id"] == cid, back.text
