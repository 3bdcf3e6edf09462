"""Request ids, the structured access log and /metrics, over real HTTP."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from api.http.observe import JsonFormatter


def test_request_id_is_made_or_kept_on_every_response(server: str) -> None:
    made = httpx.get(f"{server}/healthz").headers["x-request-id"]
    assert len(made) == 32 and made != httpx.get(f"{server}/healthz").headers["x-request-id"]
    assert httpx.get(f"{server}/healthz", headers={"X-Request-ID": "edge-42.a:b_c"}).headers["x-request-id"] == \
        "edge-42.a:b_c"
    for insane in ("x" * 129, "a b", "<script>", "ü"):
        kept = httpx.get(f"{server}/healthz", headers={"X-Request-ID": insane.encode("utf-8")}).headers["x-request-id"]
        assert kept != insane and len(kept) == 32
    for r in (httpx.get(f"{server}/v1/nope"), httpx.post(f"{server}/v1/ask", json={}),
              httpx.post(f"{server}/v1/ask", content=b"{", headers={"content-type": "application/json"})):
        assert r.status_code >= 400 and len(r.headers["x-request-id"]) == 32


def test_access_log_is_json_with_the_request_id_and_so_are_the_bots_lines(
        server: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kqa")
    httpx.post(f"{server}/v1/ask", json={"question": "Mount Namespace 是第一个 Namespace 吗？"},
               headers={"X-Request-ID": "trace-obs-1"}, timeout=30)
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-obs-1"]
    access = [r for r in mine if r.name == "kqa.access"]
    assert len(access) == 1
    assert any(r.name == "kqa.bot" for r in mine)  # logged in the worker thread, same request id
    line = json.loads(JsonFormatter().format(access[0]))
    assert line["request_id"] == "trace-obs-1" and line["level"] == "info" and line["logger"] == "kqa.access"
    assert line["http"]["route"] == "/v1/ask" and line["http"]["status"] == 200 and line["http"]["ms"] > 0
    assert line["http"]["client"] == "addr:127.0.0.1"


def test_metrics_count_requests_latency_refusals_and_index_size(server: str) -> None:
    httpx.post(f"{server}/v1/ask", json={"question": "周末去杭州玩两天，有啥推荐路线"}, timeout=30)
    httpx.post(f"{server}/v1/ask", json={"question": ""}, timeout=30)
    r = httpx.get(f"{server}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'kqa_http_requests_total{method="POST",route="/v1/ask",status="200"}' in text
    assert 'kqa_http_requests_total{method="POST",route="/v1/ask",status="422"}' in text
    assert 'kqa_http_request_duration_seconds_bucket{le="0.25",method="POST",route="/v1/ask"}' in text
    assert 'kqa_answers_total{door="http",refused="true"}' in text
    chunks = next(line for line in text.splitlines() if line.startswith("kqa_index_chunks "))
    assert float(chunks.split()[1]) > 5
    assert "kqa_index_files 5.0" in text
    httpx.get(f"{server}/no/such/page")
    assert 'route="<unmatched>",status="404"' in httpx.get(f"{server}/metrics").text


def test_json_log_lines_escape_what_a_terminal_would_obey() -> None:
    """json.dumps escapes C0 but, with ensure_ascii=False, leaves C1 controls (\\x9b is CSI) and bidi
    overrides raw: an operator tailing the log would get them. Escaped, the line still decodes."""
    raw = "question: \x9b2J\x85 \u202eevil\u202c \u2066x\u2069 \u200f \u061c and \x1b[2J; 中文 stays"
    record = logging.LogRecord("kqa.bot", logging.INFO, __file__, 1, "%s", (raw,), None)
    line = JsonFormatter().format(record)
    assert not [ch for ch in line if ch in "\x9b\x85\u202e\u202c\u2066\u2069\u200f\u061c\x1b"], line
    assert "中文 stays" in line and json.loads(line)["msg"] == raw
