"""The HTTP door: FastAPI over one Bot. Errors become application/problem+json here and
nowhere else; unknown errors are logged and answered with a generic 500."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.errors import KqaError
from bot.service import Bot
from bot.settings import Settings

log = logging.getLogger("kqa.api")
PROBLEM = "application/problem+json"


class AskRequest(BaseModel):
    question: str = Field(description="The reader's question, Chinese or English.")
    top_k: int | None = Field(None, description="Passages to draw the answer from (1-20).")


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
    question: str
    answer: str
    refused: bool
    citations: list[CitationOut]
    took_ms: float
    confidence: dict[str, float] = Field(description="dense, fused and coverage scores of the evidence.")


class SearchResult(BaseModel):
    source: str
    title: str
    lecture: int | None
    section: str
    text: str
    score: float


class SearchResponse(BaseModel):
    results: list[SearchResult]


class NotReady(KqaError):
    title = "kqa is starting up"
    status = 503


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


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
    bot = bot or Bot.open(settings)
    warmup = Warmup(bot)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        warmup.thread.start()
        yield

    app = FastAPI(title="kqa", version="0.1.0", lifespan=lifespan,
                  description="Questions about 《深入剖析Kubernetes》, answered from the column with citations.")
    app.state.bot = bot
    app.state.warmup = warmup

    @app.exception_handler(KqaError)
    async def kqa_error(request: Request, exc: KqaError) -> JSONResponse:
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        return problem(exc.status, exc.title, str(exc) or exc.title, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "request not valid", _explain(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error", "something went wrong on our side; it has been logged")

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> dict[str, Any]:
        ready = warmup.require()
        info = ready.store.require(ready.embedder.identity)
        return {"status": "ready", "model": info.model, "chunks": info.chunks, "files": info.files}

    @app.post("/v1/ask", response_model=AskResponse, tags=["questions"])
    def ask(body: AskRequest) -> dict[str, Any]:
        return warmup.require().ask(body.question, top_k=body.top_k).to_dict()

    @app.get("/v1/search", response_model=SearchResponse, tags=["questions"])
    def search(q: str = Query(description="The question or keywords."),
               k: int = Query(10, description="Results to return (1-20).")) -> dict[str, Any]:
        hits = warmup.require().search(q, k=k)
        return {"results": [
            {"source": h.chunk.source, "title": h.chunk.title, "lecture": h.chunk.lecture,
             "section": h.chunk.section, "text": h.chunk.text, "score": round(h.score, 5)} for h in hits
        ]}

    return app


def _explain(errors: list[dict]) -> str:
    """Pydantic's error list → one sentence a person understands."""
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
