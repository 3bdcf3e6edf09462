"""The JSON API's routes. Thin: each checks its request, runs the Bot in a worker thread under a
time limit, and shapes the result. The Bot, the time limits and the metrics come from the app's
state through typed dependencies (`create_app` puts them there)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.http import stream
from api.http.observe import Metrics
from api.http.schemas import (
    SSE_DOC,
    AskRequest,
    AskResponse,
    ChatRequest,
    ChatResponse,
    FeedbackRequest,
    FeedbackResponse,
    ReadyResponse,
    SearchResponse,
    problem_responses,
)
from bot.bot import Bot, Door
from bot.errors import KqaError

T = TypeVar("T")
DOOR_HEADER = "X-KQA-Door"  # the widget says it is the widget, so the question log can tell


class AnswerTimeout(KqaError):
    title = "no answer in time"
    status = 503
    public = True  # the message says only how long was waited
    headers = MappingProxyType({"Retry-After": "5"})


@dataclass(frozen=True)
class Runner:
    """Runs the Bot's blocking calls in a worker thread, after the warm-up, within a time limit."""

    bot: Bot
    timeout_s: float
    answer_timeout_s: float  # for answers: with a chat model, its own budget comes on top

    async def __call__(self, fn: Callable[..., T], *args: Any, answer: bool = False) -> T:
        limit = self.answer_timeout_s if answer else self.timeout_s

        def call() -> T:
            self.bot.ready()
            return fn(*args)

        try:
            with anyio.fail_after(limit):
                return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        except TimeoutError:
            raise AnswerTimeout(f"no answer within {limit:g} s; try again shortly") from None


def get_bot(request: Request) -> Bot:
    bot: Bot = request.app.state.bot
    return bot


def get_runner(request: Request) -> Runner:
    runner: Runner = request.app.state.runner
    return runner


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def get_door(request: Request) -> Door:
    return "widget" if request.headers.get(DOOR_HEADER, "").lower() == "widget" else "http"


def get_voter(request: Request) -> str:
    """Who votes: the client identity the Gate found (`key:<hash>` of a full API key, or
    `addr:<ip>` with a widget key or without keys), so one key or reader has one vote per answer."""
    voter: str = request.state.client
    return voter


BotDep = Annotated[Bot, Depends(get_bot)]
RunDep = Annotated[Runner, Depends(get_runner)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
DoorDep = Annotated[Door, Depends(get_door)]
VoterDep = Annotated[str, Depends(get_voter)]

ops = APIRouter(tags=["ops"])
v1 = APIRouter(prefix="/v1", tags=["questions"], responses=problem_responses(400, 401, 413, 422, 429, 503))


@ops.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@ops.get("/readyz", response_model=ReadyResponse, responses=problem_responses(503))
async def readyz(bot: BotDep, run: RunDep) -> dict[str, Any]:
    """Ready once an index is loaded, and still while the store is away (503: never loaded)."""
    status = await run(bot.status)
    info, since = status.index, status.store.unreachable_since
    store = "ok" if since is None else \
        f"unreachable since {datetime.fromtimestamp(since, UTC).isoformat(timespec='seconds')}"
    return {"status": "ready", "model": info.model, "chunks": info.chunks, "files": info.files,
            "built_at": info.built_at, "store": store}


@ops.get("/metrics", response_class=Response,
         responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}})
async def prometheus(metrics: MetricsDep) -> Response:
    data = await anyio.to_thread.run_sync(generate_latest, metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)


@v1.post("/ask", response_model=AskResponse, responses={200: SSE_DOC})
async def ask(body: AskRequest, request: Request, bot: BotDep, run: RunDep, metrics: MetricsDep,
              door: DoorDep) -> Any:
    if stream.wanted(request):
        await run(bot.check_ask, body.question, body.top_k)
        return stream.respond(lambda: run(bot.start_ask, body.question, body.top_k, door, answer=True),
                              bot, metrics.answered(door))
    reply = await run(bot.ask, body.question, body.top_k, door, answer=True)
    metrics.answered(door)(reply)
    return reply.to_dict()


@v1.post("/chat", response_model=ChatResponse, responses={200: SSE_DOC, **problem_responses(404)})
async def chat(body: ChatRequest, request: Request, bot: BotDep, run: RunDep, metrics: MetricsDep,
               door: DoorDep) -> Any:
    if stream.wanted(request):
        await run(bot.check_chat, body.message, body.conversation_id, door)
        return stream.respond(lambda: run(bot.start_chat, body.message, body.conversation_id, door, answer=True),
                              bot, metrics.answered(door))
    reply = await run(bot.chat, body.message, body.conversation_id, door, answer=True)
    metrics.answered(door)(reply)
    return reply.to_dict()


@v1.post("/feedback", status_code=201, response_model=FeedbackResponse, responses=problem_responses(404))
async def feedback(body: FeedbackRequest, bot: BotDep, metrics: MetricsDep, voter: VoterDep) -> dict[str, Any]:
    def record() -> int:
        return bot.feedback(body.answer_id, body.rating, body.comment, body.amends, voter=voter)

    feedback_id = await anyio.to_thread.run_sync(record)
    if body.amends is None:  # counts votes received; an amendment is the same vote
        metrics.feedback.labels(body.rating).inc()
    return {"status": "recorded", "feedback_id": feedback_id}


@v1.get("/search", response_model=SearchResponse)
async def search(bot: BotDep, run: RunDep, q: str = Query(description="The question or keywords."),
                 k: int = Query(10, description="Results to return (1-20).")) -> dict[str, Any]:
    hits = await run(bot.search, q, k)
    return {"results": [
        {"source": h.chunk.source, "title": h.chunk.title, "lecture": h.chunk.lecture,
         "section": h.chunk.section, "text": h.chunk.text, "score": round(h.score, 5), "page": h.chunk.page}
        for h in hits
    ]}
