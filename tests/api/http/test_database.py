"""The conversation and feedback database under the app, on a real PostgreSQL. Going away (a TCP
proxy in front of it, cut and restored): conversations and feedback get 503 problems, answers
and search go on (their log lines dropped, and counted in /metrics), and everything comes back
with the database, the conversation where it was. Starting: a schema that is behind is brought
up to date, a newer one stops the start."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.http.app import create_app
from bot import database
from bot.bot import Bot
from bot.database import DatabaseOptions, SchemaTooNew
from bot.history import History, HistoryOptions
from tests.api.conftest import open_settings, serving
from tests.api.http.test_faults import assert_problem
from tests.conftest import POSTGRES
from tests.fakes.tcpproxy import TcpProxy


def metric(text: str, name: str) -> float | None:
    """A sample's value in Prometheus text, None when it is not there."""
    return next((float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " ")), None)


def through(proxy: TcpProxy, url: str) -> str:
    return url.replace(POSTGRES, f"postgresql://postgres@127.0.0.1:{proxy.port}")


def test_a_database_that_goes_away_is_503_for_conversations_and_feedback_only(bot: Bot, tmp_path: Path,
                                                                            postgres: str) -> None:
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        options = DatabaseOptions(url=through(proxy, postgres), retry_after_s=0.3, connect_timeout_s=2)
        settings = open_settings(bot, tmp_path / "data", database=options)
        with serving(create_app(settings, bot.embedder)) as base, httpx.Client(base_url=base, timeout=30) as http:
            first = http.post("/v1/chat", json={"message": "Cgroups 怎么限制 CPU？"}).json()
            cid = first["conversation_id"]
            vote = http.post("/v1/feedback", json={"answer_id": first["answer_id"], "rating": "down"})
            assert vote.status_code == 201, vote.text

            proxy.cut()
            asked = http.post("/v1/ask", json={"question": "Namespace 是什么？"})
            assert asked.status_code == 200 and asked.json()["citations"], asked.text
            assert http.get("/v1/search", params={"q": "Cgroups"}).status_code == 200
            for r in (http.post("/v1/chat", json={"message": "那内存呢？", "conversation_id": cid}),
                      http.post("/v1/chat", json={"message": "Pod 是什么？"}),
                      http.post("/v1/feedback", json={"answer_id": first["answer_id"], "rating": "up",
                                                      "amends": vote.json()["feedback_id"]})):
                problem = assert_problem(r, 503)
                assert r.headers["Retry-After"] and str(proxy.port) not in problem["detail"]  # no host named
            assert metric(http.get("/metrics").text, "kqa_question_log_dropped_total") == 1

            proxy.restore()
            time.sleep(0.4)  # past retry_after_s: the next call tries the database again
            follow = http.post("/v1/chat", json={"message": "那内存呢？", "conversation_id": cid})
            assert follow.status_code == 200 and follow.json()["conversation_id"] == cid, follow.text
            amended = http.post("/v1/feedback", json={"answer_id": first["answer_id"], "rating": "up",
                                                      "amends": vote.json()["feedback_id"]})
            assert amended.status_code == 201, amended.text
    history = History(postgres, HistoryOptions())
    report = history.report()
    assert (report.questions, report.up, report.down) == (2, 1, 0)  # the ask while away was not logged
    assert [m for m, _ in history.turns(cid)] == ["Cgroups 怎么限制 CPU？", "那内存呢？"]
    history.close()


def test_serve_brings_the_schema_up_to_date_and_will_not_start_on_a_newer_one(bot: Bot, tmp_path: Path,
                                                                             postgres: str) -> None:
    settings = open_settings(bot, tmp_path / "data", database=DatabaseOptions(url=postgres))
    db = database.engine(database.url_of(postgres), settings.database)
    with TestClient(create_app(settings, bot.embedder)):
        assert database.current(db) == database.head()  # on start, before any request
    with db.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(SchemaTooNew), TestClient(create_app(settings, bot.embedder)):
        pass
    db.dispose()
