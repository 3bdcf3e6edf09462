"""What the service tells its operators: a request id on every response and every log line,
one structured (JSON) access-log line per request, and Prometheus metrics at /metrics.

The request id is the client's `X-Request-ID` when it is sane (1-128 characters of
`A-Za-z0-9._:-`), a fresh one otherwise; it lives in a context variable that log records
pick up, so lines logged by the bot while answering carry it too.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http import problems
from api.terminal import json_text
from bot.bot import AnswerCache, Reply
from bot.retrieve import StoreState
from index.store import IndexInfo

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("kqa_request_id", default="-")
SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("kqa.access")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def install_log_context() -> None:
    """Give every log record a `request_id` attribute (once per process)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "kqa", False):
        return

    def make(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = request_id.get()
        return record

    make.kqa = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, message, and `http` for access lines."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "msg": record.getMessage(),
        }
        if hasattr(record, "http"):
            line["http"] = record.http
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json_text(line)  # messages quote readers' text: C1 and bidi controls escaped, not left raw


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the server process (the CLI keeps its plain one-liners)."""
    install_log_context()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = name != "uvicorn.access"  # kqa.access replaces it
    # Libraries that are chatty at INFO: one line per Chroma call; sentence-transformers even
    # draws a progress bar per query when its logger is at INFO.
    for name in ("httpx", "httpcore", "chromadb", "sentence_transformers", "transformers", "bm25s", "jieba"):
        logging.getLogger(name).setLevel(logging.WARNING)


class StateCollector(Collector):
    """What is read at scrape time: the index held in memory, how the store is doing, the answer
    cache's state and the question-log lines dropped while the database was away."""

    def __init__(self, index: Callable[[], IndexInfo | None], store: Callable[[], StoreState],
                 cache: AnswerCache, dropped: Callable[[], int]) -> None:
        self.index, self.store, self.cache, self.dropped = index, store, cache, dropped

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        state = self.store()
        yield GaugeMetricFamily("kqa_store_up", "1 when the last look at the vector store succeeded, 0 while it "
                                "is unreachable (answers go on from the index held in memory).",
                                value=int(state.unreachable_since is None))
        if state.unreachable_since is not None:
            yield GaugeMetricFamily("kqa_store_unreachable_since_timestamp_seconds",
                                    "When the vector store stopped answering.", value=state.unreachable_since)
        yield CounterMetricFamily("kqa_store_failures", "Looks at the vector store that failed (gone, or no "
                                  "answer within KQA_STORE__TIMEOUT_S).", value=state.failures)
        info = self.index()
        if info is not None:
            yield GaugeMetricFamily("kqa_index_chunks", "Passages in the published index.", value=info.chunks)
            yield GaugeMetricFamily("kqa_index_files", "Files in the published index.", value=info.files)
            yield GaugeMetricFamily("kqa_index_built_timestamp_seconds", "When the published index was built.",
                                    value=info.built_at)
        yield GaugeMetricFamily("kqa_answer_cache_entries", "Answers held in the answer cache.", value=len(self.cache))
        yield CounterMetricFamily("kqa_answer_cache_hits", "Answers served from the cache.", value=self.cache.hits)
        yield CounterMetricFamily("kqa_answer_cache_misses", "Answers computed.", value=self.cache.misses)
        yield CounterMetricFamily("kqa_question_log_dropped", "Answers given but not logged: the conversation and "
                                  "feedback database was away.", value=self.dropped())


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self, index: Callable[[], IndexInfo | None], store: Callable[[], StoreState],
                 cache: AnswerCache, dropped: Callable[[], int] = lambda: 0) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("kqa_http_requests", "HTTP requests by route and status.",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("kqa_http_request_duration_seconds", "Time to the last byte, by route.",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.answers = Counter("kqa_answers", "Answers given, by door and whether they were refusals.",
                               ["door", "refused"], registry=r)
        self.feedback = Counter("kqa_feedback", "Feedback received, by rating.", ["rating"], registry=r)
        self.rate_limited = Counter("kqa_rate_limited", "Requests refused by the rate limit.", registry=r)
        r.register(StateCollector(index, store, cache, dropped))

    def answered(self, door: str) -> Callable[[Reply], None]:
        """Counts an answer given through `door` (a callback for streams)."""
        def count(reply: Reply) -> None:
            self.answers.labels(door, str(reply.answer.refused).lower()).inc()
        return count


class Observe:
    """ASGI middleware, outermost: request id, access log, metrics, and a problem+json 500 for
    anything that escapes the app (so even a crash carries the request id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and SANE_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status, sent, responded = 500, 0, False

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if responded:
                problems.log.error("error after the response started", exc_info=exc)
            else:
                await problems.send_problem(send_with_id, exc)
        finally:
            self._record(scope, status, sent, time.perf_counter() - started)
            request_id.reset(token)

    def _record(self, scope: Scope, status: int, sent: int, elapsed: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "<unmatched>"
        self.metrics.requests.labels(scope["method"], route, str(status)).inc()
        self.metrics.latency.labels(scope["method"], route).observe(elapsed)
        addr = scope.get("client")
        access_log.info("%s %s %s", scope["method"], scope["path"], status, extra={"http": {
            "method": scope["method"], "path": scope["path"], "route": route, "status": status,
            "ms": round(elapsed * 1000, 2), "bytes": sent, "client": scope.get("state", {}).get("client", "-"),
            "addr": addr[0] if addr else None,
        }})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None
