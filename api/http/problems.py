"""Errors → `application/problem+json` (RFC 9457: `type`, `title`, `status`, `detail`), here and
nowhere else. kqa's own errors say what is wrong; validation errors get one readable sentence;
anything unexpected is logged with its stack trace and answered with a generic 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from bot.errors import KqaError

log = logging.getLogger("kqa.api")
PROBLEM = "application/problem+json"
INTERNAL = ("internal error", "something went wrong on our side; it has been logged")


def body(status: int, title: str, detail: str) -> dict[str, object]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def of(exc: KqaError) -> tuple[dict[str, object], dict[str, str]]:
    """A kqa error's problem body and headers (503s say when to retry).

    A client error's message is for the client (what was wrong with the request). A server-side
    one may name hosts, folders or a library's own words, so it is logged, and the client gets
    the title (safe by contract) unless the error says its message is meant for clients too."""
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status == 503:
        headers.setdefault("Retry-After", "5")
    detail = str(exc) or exc.title
    if exc.status >= 500 and not getattr(exc, "public", False):
        log.warning("%s: %s", exc.__class__.__name__, detail)
        detail = f"{exc.title}; try again in a little while" if exc.status == 503 else exc.title
    return body(exc.status, exc.title, detail), headers


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body(status, title, detail), status_code=status, media_type=PROBLEM, headers=headers)


def response(exc: BaseException) -> JSONResponse:
    """The response for any exception; unknown ones are logged here."""
    if isinstance(exc, KqaError):
        content, headers = of(exc)
        return JSONResponse(content, status_code=exc.status, media_type=PROBLEM, headers=headers)
    log.error("unhandled error", exc_info=exc)
    return problem(500, *INTERNAL)


def stream_event(exc: BaseException) -> dict[str, object]:
    """The problem body sent as an `error` event when a stream has already started."""
    if isinstance(exc, KqaError):
        return of(exc)[0]
    log.error("unhandled error during a stream", exc_info=exc)
    return body(500, *INTERNAL)


async def send_problem(send: Send, exc: BaseException, extra_headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """For ASGI middleware that answers before the app runs (body limit, crashes)."""
    resp = response(exc)
    raw = [(k, v) for k, v in resp.raw_headers if k.lower() != b"content-length"]
    content = resp.body
    await send({"type": "http.response.start", "status": resp.status_code,
                "headers": [*raw, (b"content-length", str(len(content)).encode()), *extra_headers]})
    await send({"type": "http.response.body", "body": content})


def install(app: FastAPI) -> None:
    @app.exception_handler(KqaError)
    async def kqa_error(request: Request, exc: KqaError) -> JSONResponse:
        return response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "request not valid", explain(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        return response(exc)


def explain(errors: Sequence[Any]) -> str:
    """Pydantic's error list → one sentence a person understands (never the input echoed whole)."""
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
