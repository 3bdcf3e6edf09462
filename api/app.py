"""The HTTP door: FastAPI over one Assistant (the Bot with a memory). Thin: each route checks
its request, runs the answer in a worker thread under a time limit, and shapes the result.

Errors become application/problem+json in `api.problems` and nowhere else; access rules are
in `api.access`; request ids, the access log and /metrics in `api.observe`; SSE in `api.stream`.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from api import problems, slack, stream, widget
from api.access import BodyLimit, Cors, Gate
from api.observe import Metrics, Observe, configure_logging, install_log_context
from bot.assistant import Assistant
from bot.errors import AnswerTimeout, KqaError
from bot.service import Bot
from bot.settings import Settings

log = logging.getLogger("kqa.api")
T = TypeVar("T")


class AskRequest(BaseModel):
    question: str = Field(description="The reader's question, Chinese or English.")
    top_k: int | None = Field(None, description="Passages to draw the answer from (1-20).")


class ChatRequest(BaseModel):
    conversation_id: str | None = Field(None, max_length=64, description="Leave out to start a conversation.")
    message: str = Field(description="The reader's message; follow-ups may refer back (它, 那个, this, that).")


class FeedbackRequest(BaseModel):
    answer_id: str = Field(max_length=64, description="The `answer_id` of an answer.")
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=2000, description="What was wrong or missing.")
    amends: int | None = Field(None, ge=1, description="The `feedback_id` of this reader's earlier vote on the same "
                               "answer: it is replaced (to add a comment, say) instead of counted again.")


class CitationOut(BaseModel):
    n: int
    source: str
    title: str
    lecture: int | None
    section: str
    quote: str = Field(description="The cited sentence, an exact substring of `text`.")
    text: str
    score: float
    url: str | None


class AskResponse(BaseModel):
    answer_id: str = Field(description="Opaque and unique; send it with feedback.")
    question: str
    answer: str
    refused: bool
    citations: list[CitationOut]
    took_ms: float
    confidence: dict[str, float] = Field(
        description="The refusal signals (dense, margin, unknown_terms) and the fused score.")
    mode: Literal["generated", "extractive"] = Field(
        description="`generated`: written by the configured chat model from the passages, its citations "
        "checked; `extractive`: the column's own sentences (no model configured, a refusal, or the "
        "model failed, ran out of time or cited wrongly).")


class ChatResponse(AskResponse):
    conversation_id: str
    context_terms: list[str] = Field(description="Key terms carried from earlier turns into retrieval.")
    standalone_question: str | None = Field(
        description="With a chat model: the follow-up rewritten as a standalone question and searched "
        "instead of the message (then context_terms is empty); null otherwise.")


class FeedbackResponse(BaseModel):
    status: Literal["recorded"]
    feedback_id: int = Field(description="Send it back as `amends` to change this vote or add a comment.")


class SearchResult(BaseModel):
    source: str
    title: str
    lecture: int | None
    section: str
    text: str
    score: float


class SearchResponse(BaseModel):
    results: list[SearchResult]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "content": {problems.PROBLEM: {}}} for code in codes}


SSE_DOC = {"content": {stream.EVENT_STREAM: {"schema": {"type": "string"}}},
           "description": "JSON, or Server-Sent Events with `Accept: text/event-stream` "
                          "(citations, delta..., [replace], done; or error)."}


class NotReady(KqaError):
    title = "kqa is starting up"
    status = 503
    public = True


class Warmup:
    """Loads the model and index in the background so /healthz answers at once."""

    def __init__(self, bot: Bot) -> None:
        self.bot, self.done, self.error = bot, threading.Event(), None
        self.thread = threading.Thread(target=self._run, name="kqa-warmup", daemon=True)

    def _run(self) -> None:
        try:
            self.bot.warm()
        except KqaError as exc:
            self.error = exc
            log.error("not ready: %s", exc)
        except Exception as exc:  # keep serving /healthz; /readyz reports it
            self.error = exc
            log.exception("warm-up failed")
        finally:
            self.done.set()

    def require(self) -> Bot:
        if not self.done.is_set():
            raise NotReady("the model and index are still loading; retry in a few seconds")
        if isinstance(self.error, KqaError):
            # A build may have happened since: try again rather than stay broken.
            self.error = None
            self.bot.warm()
        return self.bot


def create_app(settings: Settings, bot: Bot | None = None) -> FastAPI:
    install_log_context()
    assistant = Assistant.open(settings, bot)
    warmup = Warmup(assistant.bot)
    metrics = Metrics(functools.partial(_index_size, warmup), assistant.cache)
    timeout = settings.limits.answer_timeout_s
    # With a chat model, its own budget (condensing and generating) comes on top for answers.
    answer_limit = timeout + (settings.llm.timeout_s if settings.llm.enabled else 0.0)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        warmup.thread.start()
        yield

    app = FastAPI(title="kqa", version="0.1.0", lifespan=lifespan,
                  description="Questions about 《深入剖析Kubernetes》, answered from the column with citations.")
    app.state.bot, app.state.assistant, app.state.warmup, app.state.metrics = assistant.bot, assistant, warmup, metrics
    problems.install(app)

    async def run(fn: Callable[..., T], *args: Any, limit: float = timeout) -> T:
        """`fn` in a worker thread, after the warm-up, within the time limit."""
        def call() -> T:
            warmup.require()
            return fn(*args)

        try:
            with anyio.fail_after(limit):
                return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        except TimeoutError:
            raise AnswerTimeout(f"no answer within {limit:g} s; try again shortly") from None

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses=_problems(503))
    async def readyz() -> dict[str, Any]:
        def ready() -> dict[str, Any]:
            info = assistant.bot.store.require(assistant.bot.embedder.identity)
            return {"status": "ready", "model": info.model, "chunks": info.chunks, "files": info.files}
        return await run(ready)

    @app.get("/metrics", tags=["ops"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}})
    async def prometheus() -> Response:
        data = await anyio.to_thread.run_sync(generate_latest, metrics.registry)
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(Gate(settings, metrics.rate_limited.inc))],
                   responses=_problems(400, 401, 413, 422, 429, 503))

    @v1.post("/ask", response_model=AskResponse, tags=["questions"], responses={200: SSE_DOC})
    async def ask(body: AskRequest, request: Request) -> Any:
        if stream.wanted(request):
            await run(assistant.check_ask, body.question, body.top_k)
            return stream.respond(lambda: run(assistant.start_ask, body.question, body.top_k, limit=answer_limit),
                                  assistant, metrics.answered("ask"))
        reply = await run(assistant.ask, body.question, body.top_k, limit=answer_limit)
        metrics.answered("ask")(reply)
        return reply.to_dict()

    @v1.post("/chat", response_model=ChatResponse, tags=["questions"], responses={200: SSE_DOC, **_problems(404)})
    async def chat(body: ChatRequest, request: Request) -> Any:
        if stream.wanted(request):
            await run(assistant.check_chat, body.message, body.conversation_id)
            return stream.respond(lambda: run(assistant.start_chat, body.message, body.conversation_id,
                                                      limit=answer_limit),
                                  assistant, metrics.answered("chat"))
        reply = await run(assistant.chat, body.message, body.conversation_id, limit=answer_limit)
        metrics.answered("chat")(reply)
        return reply.to_dict()

    @v1.post("/feedback", status_code=201, response_model=FeedbackResponse, tags=["questions"],
             responses=_problems(404))
    async def feedback(body: FeedbackRequest) -> dict[str, Any]:
        feedback_id = await anyio.to_thread.run_sync(assistant.feedback, body.answer_id, body.rating, body.comment,
                                                     body.amends)
        if body.amends is None:  # an amendment is the same vote
            metrics.feedback.labels(body.rating).inc()
        return {"status": "recorded", "feedback_id": feedback_id}

    @v1.get("/search", response_model=SearchResponse, tags=["questions"])
    async def search(q: str = Query(description="The question or keywords."),
                     k: int = Query(10, description="Results to return (1-20).")) -> dict[str, Any]:
        hits = await run(assistant.bot.search, q, k)
        return {"results": [
            {"source": h.chunk.source, "title": h.chunk.title, "lecture": h.chunk.lecture,
             "section": h.chunk.section, "text": h.chunk.text, "score": round(h.score, 5)} for h in hits
        ]}

    app.include_router(v1)
    app.include_router(widget.router)
    slack.mount(app, assistant, settings, ready=warmup.require)

    # Outermost last: Observe (request id, log, metrics, crash → 500) › CORS › body limit › routes.
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(Cors, origins=settings.access.cors_origins)
    app.add_middleware(Observe, metrics=metrics)
    return app


def app_from_env() -> FastAPI:
    """For `uvicorn --factory api.app:app_from_env` (each of several workers): settings from the
    environment, JSON logs like `kqa serve`."""
    configure_logging()
    return create_app(Settings())


def _index_size(warmup: Warmup) -> dict[str, float] | None:
    """The published index's size for /metrics, once loaded; nothing while the store is away."""
    if not warmup.done.is_set() or warmup.error is not None:
        return None
    try:
        info = warmup.bot.retriever.snapshot().info
    except KqaError:
        return None
    return {"chunks": info.chunks, "files": info.files, "built_timestamp_seconds": info.built_at}
