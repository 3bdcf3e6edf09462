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


# ---- widget keys: a key in a public page ---------------------------------------------------------

OPS_KEY, WIDGET_KEY = "ops-key-5c4b3a", "site-key-in-the-page"


@pytest.fixture(scope="module")
def widgeted(bot: Bot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Keys on: one full key and one widget key (written as in the environment), three requests at once."""
    settings = open_settings(
        bot, tmp_path_factory.mktemp("widgeted"), limits=LimitOptions(rate_per_minute=6, burst=3),
        access=AccessOptions(api_keys=f"{OPS_KEY},widget:{WIDGET_KEY}", cors_origins=[SITE]))
    with serving(create_app(settings, bot.embedder)) as base:
        yield base


def from_page(origin: str = SITE) -> dict[str, str]:
    return {"X-API-Key": WIDGET_KEY, "Origin": origin}


def test_a_widget_key_opens_only_the_widgets_routes(widgeted: str) -> None:
    with httpx.Client(base_url=widgeted, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.3")) as c:
        assert c.post("/v1/ask", json={"question": "Cgroups 怎么限制 CPU"}, headers=from_page()).status_code == 200
        r = c.get("/v1/search", params={"q": "cgroups"}, headers=from_page())
        assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
        assert "/v1/ask, /v1/chat, /v1/feedback only" in r.json()["detail"] and WIDGET_KEY not in r.text
    with httpx.Client(base_url=widgeted, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.4")) as c:
        assert c.post("/v1/chat", json={"message": "Pod 是什么"}, headers=from_page()).status_code == 200
        # past the gate: an unknown answer is the route's own 404
        assert c.post("/v1/feedback", json={"answer_id": "nope", "rating": "up"}, headers=from_page()
                      ).status_code == 404
    # the full key opens search, from anywhere
    assert httpx.get(f"{widgeted}/v1/search", params={"q": "cgroups"}, headers={"X-API-Key": OPS_KEY}
                     ).status_code == 200


@pytest.mark.parametrize(("n", "origin"), list(enumerate(
    [None, "https://evil.example", SITE + "/", "http://docs.site.example", "null"])))
def test_a_widget_key_needs_an_allowed_origin(widgeted: str, n: int, origin: str | None) -> None:
    headers = {"X-API-Key": WIDGET_KEY, **({"Origin": origin} if origin else {})}
    reader = httpx.HTTPTransport(local_address=f"127.0.1.{n + 1}")  # each case its own address: its own bucket
    with httpx.Client(base_url=widgeted, timeout=30, transport=reader) as c:
        r = c.post("/v1/ask", json={"question": "Pod 是什么"}, headers=headers)
    assert r.status_code == 403 and "allowed to embed the widget" in r.json()["detail"]


def test_one_reader_looping_does_not_lock_out_another(widgeted: str) -> None:
    """Readers share the widget key but not its bucket: one address looping gets 429, another
    address (another loopback source address) and the full key are still served."""
    empty = {"question": ""}  # 422 once past the gate: cheap
    with httpx.Client(base_url=widgeted, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.6")) as a:
        statuses = [a.post("/v1/ask", json=empty, headers=from_page()).status_code for _ in range(6)]
    assert statuses[:3] == [422] * 3 and statuses[-1] == 429
    with httpx.Client(base_url=widgeted, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.7")) as b:
        assert b.post("/v1/ask", json=empty, headers=from_page()).status_code == 422
    with httpx.Client(base_url=widgeted, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.6")) as a:
        assert a.post("/v1/ask", json=empty, headers={"X-API-Key": OPS_KEY}).status_code == 422  # its own bucket


def test_a_refused_preflight_is_a_warning_naming_the_origin(locked: str, caplog: pytest.LogCaptureFixture) -> None:
    """The reader behind a refused preflight sees only a network error: the log says which origin."""
    caplog.set_level("WARNING", logger="kqa.access")
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    assert httpx.options(f"{locked}/v1/chat", headers={"Origin": SITE, **preflight}).status_code == 200
    assert not [r for r in caplog.records if r.name == "kqa.access" and r.levelname == "WARNING"]
    typo = "https://docs.site.example.org"
    assert httpx.options(f"{locked}/v1/chat", headers={"Origin": typo, **preflight}).status_code == 400
    warnings = [r.getMessage() for r in caplog.records if r.name == "kqa.access" and r.levelname == "WARNING"]
    assert len(warnings) == 1 and repr(typo) in warnings[0] and "Disallowed CORS origin" in warnings[0]
    assert f"(KQA_ACCESS__CORS_ORIGINS): {SITE}" in warnings[0]


def test_the_effective_settings_are_one_log_line_without_secrets(bot: Bot, locked_settings: Settings,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="kqa.settings")
    create_app(locked_settings, bot.embedder)
    lines = [r.getMessage() for r in caplog.records if r.name == "kqa.settings"]
    assert len(lines) == 1 and lines[0].startswith("effective settings: {") and "\n" not in lines[0]
    assert '"KQA_ACCESS__API_KEYS": "full:**********,full:**********,full:**********"' in lines[0]
    assert f'"KQA_ACCESS__CORS_ORIGINS": "{SITE}"' in lines[0] and '"KQA_LIMITS__BURST": "20"' in lines[0]
    assert "k-one" not in lines[0] and "k-two" not in lines[0]
