"""The JSON API contract, over real HTTP."""

import httpx
import pytest

PROBLEM = "application/problem+json"


def test_health_and_readiness(server: str) -> None:
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server}/readyz").json()
    assert ready["status"] == "ready" and ready["chunks"] > 0 and ready["model"] == "multilingual-e5-small"
    assert ready["store"] == "ok"


def test_ask_contract(server: str) -> None:
    r = httpx.post(f"{server}/v1/ask", json={"question": "Cgroups 是怎么限制 CPU 的？"}, timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"question", "answer", "refused", "citations", "took_ms"}
    assert body["refused"] is False and isinstance(body["took_ms"], float)
    assert body["citations"]
    for c in body["citations"]:
        assert set(c) == {"n", "source", "title", "lecture", "section", "quote", "text", "score", "url", "quotes",
                          "page"}
        assert c["quote"] in c["text"]
        assert f"[{c['n']}]" in body["answer"]
    assert body["citations"][0]["source"] == "06-cgroups.md" and body["citations"][0]["lecture"] == 6


def test_ask_carries_the_source_url(server: str) -> None:
    body = httpx.post(f"{server}/v1/ask", json={"question": "PID Namespace 和 CLONE_NEWPID"}, timeout=30).json()
    cited = {c["source"]: c["url"] for c in body["citations"]}
    assert cited.get("05-namespace.md") == "https://example.org/notes/namespace"


def test_search_contract(server: str) -> None:
    r = httpx.get(f"{server}/v1/search", params={"q": "Headless Service 的 DNS", "k": 3})
    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 3
    assert set(results[0]) == {"source", "title", "lecture", "section", "text", "score", "page"}
    assert results[0]["page"] is None  # not from a PDF
    assert results[0]["source"] == "network/37-service-dns.md"
    assert [x["score"] for x in results] == sorted((x["score"] for x in results), reverse=True)


def test_refusal_over_http(server: str) -> None:
    body = httpx.post(f"{server}/v1/ask", json={"question": "周末去杭州玩两天，有啥推荐路线"}, timeout=30).json()
    assert body["refused"] is True and body["citations"]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"question": ""}, "empty"),
        ({"question": "   "}, "empty"),
        ({"question": "问" * 2001}, "limit is 2000"),
        ({"question": 42}, "question"),
        ({}, "question"),
        ({"question": "Pod 是什么", "top_k": 0}, "between 1 and 20"),
        ({"question": "Pod 是什么", "top_k": 500}, "between 1 and 20"),
    ],
)
def test_bad_asks_get_422_problem_json(server: str, payload: dict, needle: str) -> None:
    r = httpx.post(f"{server}/v1/ask", json=payload)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == 422 and needle in body["detail"]
    assert "Traceback" not in r.text


def test_malformed_json_and_bad_search_params(server: str) -> None:
    r = httpx.post(f"{server}/v1/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert httpx.get(f"{server}/v1/search", params={"q": " "}).status_code == 422
    assert httpx.get(f"{server}/v1/search", params={"q": "pod", "k": "abc"}).status_code == 422
    assert httpx.get(f"{server}/v1/search").status_code == 422


def test_unknown_route_is_problem_json(server: str) -> None:
    r = httpx.get(f"{server}/v1/nope")
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)


def test_openapi_documents_the_routes(server: str) -> None:
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"/v1/ask", "/v1/search", "/healthz", "/readyz"} <= set(paths)
