"""API keys, rate limits, body limits and CORS, on a locked-down server (real uvicorn)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from api.http.access import RateLimit
from api.http.app import create_app
from api.settings import AccessOptions, LimitOptions, Settings
from bot.bot import Bot
from tests.api.conftest import open_settings, serving

PROBLEM = "application/problem+json"
SITE = "https://docs.site.example"


@pytest.fixture(scope="module")
def locked_settings(bot: Bot, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return open_settings(
        bot, tmp_path_factory.mktemp("locked"),
        limits=LimitOptions(rate_per_minute=30, burst=20, max_body_bytes=2048),
        access=AccessOptions(api_keys=[SecretStr("k-one-9f8e7d"), SecretStr("k-two-1a2b3c"),
                                       SecretStr("k-three-4d5e6f")], cors_origins=[SITE]),
    )


@pytest.fixture(scope="module")
def locked(bot: Bot, locked_settings: Settings) -> Iterator[str]:
    with serving(create_app(locked_settings, bot.embedder)) as base:
        yield base


def ask(base: str, headers: dict | None = None, question: str = "Cgroups 怎么限制 CPU") -> httpx.Response:
    return httpx.post(f"{base}/v1/ask", json={"question": question}, headers=headers or {}, timeout=30)


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "k-one-9f8e7d-but-longer"}, {"Authorization": "Bearer"},
    {"Authorization": "Basic k-one-9f8e7d"}, {"X-API-Key": "K-ONE-9F8E7D"},
])
def test_missing_or_wrong_keys_get_401(locked: str, headers: dict) -> None:
    r = ask(locked, headers)
    assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
    assert r.headers["www-authenticate"].startswith("Bearer") and "k-one" not in r.text


def test_every_v1_route_needs_a_key(locked: str) -> None:
    assert httpx.get(f"{locked}/v1/search", params={"q": "pod"}).status_code == 401
    assert httpx.post(f"{locked}/v1/chat", json={"message": "pod"}).status_code == 401
    assert httpx.post(f"{locked}/v1/feedback", json={"answer_id": "a", "rating": "up"}).status_code == 401


def test_bearer_and_x_api_key_both_work(locked: str) -> None:
    assert ask(locked, {"Authorization": "Bearer k-one-9f8e7d"}).status_code == 200
    assert ask(locked, {"X-API-Key": "k-two-1a2b3c"}).status_code == 200


def test_open_routes_need_no_key(locked: str) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert httpx.get(f"{locked}{path}").status_code == 200, path
    for path in ("/", "/widget.js", "/static/kqa.css"):  # the widget's files: never 401 (404 until it exists)
        assert httpx.get(f"{locked}{path}").status_code != 401, path


def test_rate_limit_per_key_with_retry_after(locked: str) -> None:
    three = {"X-API-Key": "k-three-4d5e6f"}
    statuses = []
    for _ in range(24):
        r = httpx.get(f"{locked}/v1/search", params={"q": " "}, headers=three)  # cheap: 422 after the gate
        statuses.append(r.status_code)
        if r.status_code == 429:
            limited = r
    assert statuses[:20] == [422] * 20 and 429 in statuses
    assert limited.headers["content-type"].startswith(PROBLEM)
    assert 1 <= int(limited.headers["retry-after"]) <= 2  # 30 a minute: one every 2 s
    # another key has its own bucket
    assert httpx.get(f"{locked}/v1/search", params={"q": " "}, headers={"X-API-Key": "k-two-1a2b3c"}
                     ).status_code == 422


def test_guessing_keys_is_rate_limited_by_address(bot: Bot, tmp_path: Path) -> None:
    settings = open_settings(bot, tmp_path, access=AccessOptions(api_keys=[SecretStr("the-one-key")]),
                             limits=LimitOptions(rate_per_minute=6, burst=3))
    with serving(create_app(settings, bot.embedder)) as base:
        statuses = [ask(base, {"X-API-Key": f"guess-{i}"}).status_code for i in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        assert ask(base, {"X-API-Key": "the-one-key"}).status_code == 200  # the key has its own bucket


def test_token_bucket_refills_and_is_per_client() -> None:
    now = [0.0]
    limit = RateLimit(LimitOptions(rate_per_minute=60, burst=2), clock=lambda: now[0])
    assert [limit.take("a"), limit.take("a")] == [0.0, 0.0]
    assert limit.take("a") == pytest.approx(1.0)
    assert limit.take("b") == 0.0
    now[0] += 0.5
    assert limit.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limit.take("a") == 0.0
    assert RateLimit(LimitOptions(rate_per_minute=0)).take("a") == 0.0


def test_body_over_the_limit_gets_413_declared_or_streamed(locked: str) -> None:
    big = {"question": "问" * 1500}  # ~4.5 kB of UTF-8
    r = httpx.post(f"{locked}/v1/ask", json=big, headers={"X-API-Key": "k-one-9f8e7d"})
    assert r.status_code == 413 and r.headers["content-type"].startswith(PROBLEM)
    assert "2048 bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"question": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    r = httpx.post(f"{locked}/v1/ask", content=chunks(), headers={"X-API-Key": "k-one-9f8e7d",
                                                                  "Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["x-request-id"]
    # just under the limit is read and judged on its content
    r = httpx.post(f"{locked}/v1/ask", json={"question": "x" * 1900}, headers={"X-API-Key": "k-one-9f8e7d"})
    assert r.status_code == 200


def test_cors_allows_the_configured_origin_only(locked: str) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type, x-request-id"}
    ok = httpx.options(f"{locked}/v1/chat", headers={"Origin": SITE, **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == SITE
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    bad = httpx.options(f"{locked}/v1/chat", headers={"Origin": "https://evil.example", **preflight})
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers
    simple = ask(locked, {"Origin": SITE, "X-API-Key": "k-one-9f8e7d"})
    assert simple.headers["access-control-allow-origin"] == SITE
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    # the widget's files may be loaded from any site
    widget = httpx.get(f"{locked}/widget.js", headers={"Origin": "https://any.example"})
    assert widget.headers["access-control-allow-origin"] == "*"


def test_keys_are_not_in_the_data_dir_or_logs(locked: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="kqa.access")
    ask(locked, {"X-API-Key": "k-one-9f8e7d"})
    lines = [r for r in caplog.records if r.name == "kqa.access"]
    assert lines and all("k-one-9f8e7d" not in str(r.__dict__) for r in lines)
    assert lines[-1].http["client"].startswith("key:")


def test_one_vote_per_answer_per_key_and_only_that_key_amends_it(locked: str, locked_settings: Settings) -> None:
    one, two = {"X-API-Key": "k-one-9f8e7d"}, {"X-API-Key": "k-two-1a2b3c"}
    answer_id = ask(locked, one, "Pod 为什么没有固定 IP？").json()["answer_id"]

    def vote(key: dict, **body: object) -> httpx.Response:
        return httpx.post(f"{locked}/v1/feedback", json={"answer_id": answer_id, **body}, headers=key)

    first = vote(one, rating="down")
    assert first.status_code == 201
    mine = first.json()["feedback_id"]
    for rating in ("down", "down", "up"):  # stuffing, then a change of mind: the same vote each time
        assert vote(one, rating=rating).json() == {"status": "recorded", "feedback_id": mine}
    theirs = vote(two, rating="down")
    assert theirs.status_code == 201 and theirs.json()["feedback_id"] != mine
    hijack = vote(two, rating="down", comment="hijacked", amends=mine)
    unknown = vote(two, rating="down", comment="hijacked", amends=mine + 10_000)
    assert hijack.status_code == unknown.status_code == 404 and hijack.json() == unknown.json()
    with sqlite3.connect(locked_settings.history_path()) as db:
        rows = db.execute("SELECT rating, comment FROM feedback WHERE answer_id = ? ORDER BY id",
                          (answer_id,)).fetchall()
    assert rows == [("up", None), ("down", None)]
