"""Server-Sent Events for /v1/ask and /v1/chat (`Accept: text/event-stream`):

    event: citations  {"answer_id", "refused", "citations", ("conversation_id", "context_terms" for chat)}
    event: delta      {"text": "..."}          several; concatenated they are the answer
    event: done       {"answer", "took_ms", "confidence"}

or, when answering fails after the stream has started, one `event: error` whose data is the
problem JSON. Request errors found before the stream starts are ordinary problem responses.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi.responses import StreamingResponse
from starlette.requests import Request

from api import problems
from bot.assistant import Reply

EVENT_STREAM = "text/event-stream"
PIECE = 24  # characters per delta at most
SENTENCE_END = re.compile(r"(?<=\])|(?<=[。！？；.!?;] )")


def wanted(request: Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "")


def event(name: str, data: object) -> bytes:
    return f"event: {name}\ndata: {problems.dumps(data)}\n\n".encode()


def pieces(text: str, size: int = PIECE) -> list[str]:
    """The answer cut at sentence ends, then into pieces of at most `size` characters."""
    out = []
    for sentence in SENTENCE_END.split(text):
        out.extend(sentence[i : i + size] for i in range(0, len(sentence), size))
    return [p for p in out if p]


def events(reply: Reply) -> list[bytes]:
    full = reply.to_dict()
    head = {k: full[k] for k in ("conversation_id", "answer_id", "refused", "citations", "context_terms")
            if k in full}
    tail = {k: full[k] for k in ("answer", "took_ms", "confidence")}
    return [event("citations", head), *(event("delta", {"text": p}) for p in pieces(reply.answer.answer)),
            event("done", tail)]


def respond(compute: Callable[[], Awaitable[Reply]], after: Callable[[Reply], None]) -> StreamingResponse:
    async def run() -> AsyncIterator[bytes]:
        try:
            reply = await compute()
        except Exception as exc:
            yield event("error", problems.stream_event(exc))
            return
        after(reply)
        for chunk in events(reply):
            yield chunk

    return StreamingResponse(run(), media_type=EVENT_STREAM,
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
