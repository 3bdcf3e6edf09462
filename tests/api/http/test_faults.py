"""Bad input over real HTTP gets a clean 4xx problem, never a 5xx or a stack trace; and the
OpenAPI schema, fuzzed with schemathesis over every route, never yields a 5xx."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.http.app import create_app
from bot.bot import Bot
from tests.api.conftest import open_settings, serving
from tests.conftest import with_index

PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}


def assert_problem(r: httpx.Response, status: int | tuple[int, ...]) -> dict:
    assert r.status_code in (status if isinstance(status, tuple) else (status,)), (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert set(body) == {"type", "title", "status", "detail"} and body["status"] == r.status_code
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body


@pytest.mark.parametrize("path", ["/v1/ask", "/v1/chat", "/v1/feedback"])
@pytest.mark.parametrize("content", [b"{not json", b"", b"[1, 2", b'{"question": "a",}', b"\x00\x01\x02",
                                     b'"just a string"', b"[]", b"42", b"null"])
def test_malformed_bodies(server: str, path: str, content: bytes) -> None:
    assert_problem(httpx.post(f"{server}{path}", content=content, headers=JSON), 422)


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/ask", {"question": 42}), ("/v1/ask", {"question": ["a"]}), ("/v1/ask", {"question": None}),
    ("/v1/ask", {"question": "Pod", "top_k": "abc"}), ("/v1/ask", {"question": "Pod", "top_k": 1.5}),
    ("/v1/ask", {"question": {"$ne": 1}}), ("/v1/chat", {"message": 3.14}),
    ("/v1/chat", {"message": "hi", "conversation_id": 7}), ("/v1/chat", {}),
    ("/v1/feedback", {"answer_id": 1, "rating": "up"}), ("/v1/feedback", {"answer_id": "a", "rating": 1}),
    ("/v1/feedback", {"answer_id": "a", "rating": "up", "comment": ["x"]}),
])
def test_wrong_types(server: str, path: str, body: dict) -> None:
    assert_problem(httpx.post(f"{server}{path}", json=body), 422)


def test_ten_thousand_character_questions_and_messages(server: str) -> None:
    for path, key in (("/v1/ask", "question"), ("/v1/chat", "message")):
        body = assert_problem(httpx.post(f"{server}{path}", json={key: "为什么" * 3334}), 422)
        assert "limit is 2000" in body["detail"]
    body = assert_problem(httpx.get(f"{server}/v1/search", params={"q": "x" * 10_000}), 422)
    assert "limit is 2000" in body["detail"]


def test_huge_bodies_get_413(server: str) -> None:
    r = httpx.post(f"{server}/v1/ask", content=b'{"question": "' + b"a" * 1_000_000 + b'"}', headers=JSON)
    assert "65536 bytes" in assert_problem(r, 413)["detail"]
    with socket.create_connection(("127.0.0.1", int(server.rsplit(":", 1)[1])), timeout=10) as s:
        s.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 99999999999\r\n\r\n{")
        head = s.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413") and PROBLEM in head


@pytest.mark.parametrize("content", [b'{"question": "\xff\xfe\xfd"}', b'{"question": "\xc3\x28 Pod"}',
                                     b'{"message": "\xed\xa0\x80"}', b"\xef\xbb\xbf\xff"])
def test_invalid_utf8(server: str, content: bytes) -> None:
    for path in ("/v1/ask", "/v1/chat"):
        assert_problem(httpx.post(f"{server}{path}", content=content, headers=JSON), (400, 422))


def test_control_characters_and_lone_surrogates_in_json(server: str) -> None:
    assert_problem(httpx.post(f"{server}/v1/ask", content=b'{"question": "Pod\\u0000"}', headers=JSON), 422)
    assert_problem(httpx.post(f"{server}/v1/ask", content=b'{"question": "\\ud800 Pod"}', headers=JSON), 422)


def test_unknown_ids_wrong_methods_and_media_types(server: str) -> None:
    assert_problem(httpx.post(f"{server}/v1/chat", json={"message": "它呢", "conversation_id": "0" * 32}), 404)
    assert_problem(httpx.post(f"{server}/v1/feedback", json={"answer_id": "0" * 32, "rating": "up"}), 404)
    assert_problem(httpx.get(f"{server}/v1/ask"), 405)
    assert_problem(httpx.post(f"{server}/v1/ask", content=b"question=Pod",
                              headers={"content-type": "application/x-www-form-urlencoded"}), 422)
    assert_problem(httpx.get(f"{server}/v1/search", params={"q": "Pod", "k": "-1"}), 422)


ROUTES = [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/v1/ask"), ("POST", "/v1/chat"),
          ("POST", "/v1/feedback"), ("GET", "/v1/search")]


@pytest.fixture(scope="module")
def api_schema(server: str):
    return schemathesis.openapi.from_url(f"{server}/openapi.json")


def test_the_fuzzed_routes_are_all_the_routes(api_schema) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(ROUTES)


@pytest.mark.parametrize(("method", "path", "mode"), [
    *((m, p, GenerationMode.POSITIVE) for m, p in ROUTES),
    *((m, p, GenerationMode.NEGATIVE) for m, p in ROUTES if p.startswith("/v1/")),  # the others take no input
], ids=lambda v: v.value if isinstance(v, GenerationMode) else v)
def test_fuzzed_requests_never_get_a_5xx(api_schema, server: str, method: str, path: str,
                                         mode: GenerationMode) -> None:
    """Schema-shaped (positive) and schema-breaking (negative) requests: 2xx or 4xx, as documented."""
    seen: list[int] = []

    @given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    @settings(max_examples=20, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        response = case.call(base_url=server, timeout=30)
        seen.append(response.status_code)
        assert response.status_code < 500, (case.method, case.path, case.body, response.text[:300])
        case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                                 response_schema_conformance])

    run()
    assert seen


def test_server_side_problems_do_not_leak_hosts_or_folders(bot: Bot, tmp_path: Path) -> None:
    missing = tmp_path / "no-index-here"
    settings = with_index(open_settings(bot, tmp_path / "data"), missing)
    with serving(create_app(settings, bot.embedder), ready="/healthz") as base:
        r = httpx.post(f"{base}/v1/ask", json={"question": "Pod 是什么"}, timeout=30)
        for _ in range(50):  # until the warm-up has failed
            if r.json()["title"] != "kqa is starting up":
                break
            time.sleep(0.2)
            r = httpx.post(f"{base}/v1/ask", json={"question": "Pod 是什么"}, timeout=30)
        body = assert_problem(r, 503)
        assert body["title"] == "index not built: run kqa ingest" and r.headers["retry-after"]
        assert str(missing) not in r.text and str(tmp_path) not in r.text
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503 and str(tmp_path) not in ready.text
