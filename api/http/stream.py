"""Server-Sent Events for /v1/ask and /v1/chat (`Accept: text/event-stream`):

    event: citations  {"answer_id", "refused", "citations", ("conversation_id", "context_terms",
                       "standalone_question" for chat)}
    event: delta      {"text": "..."}          several; concatenated they are the answer
    event: replace    {"text": "..."}          only after a generated answer failed its check: the
                                               answer shown so far is replaced by this one
    event: done       {"answer", "mode", "citations", "took_ms", "confidence", "not_covered"}

With a chat model configured (bot.generate) the deltas are the model's tokens as they arrive,
and `citations` lists the passages the model was given, numbered as in its prompt; `done`
carries the final answer and its citations (the cited passages, each quoting the sentence most
like its claim). The citation check can only run at the end: when it fails, or the model fails
or runs out of time after deltas went out, `replace` carries the extractive answer before
`done` (mode "extractive"). Without a model, or for a refused or cached answer, the deltas are
the finished answer cut into pieces and `done.answer` is their concatenation.

When answering fails after the stream has started, one `event: error` whose data is the
problem JSON. Request errors found before the stream starts are ordinary problem responses.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict

from fastapi.responses import StreamingResponse
from starlette.requests import Request

from api.http import problems
from bot.bot import Bot, Reply, Turn

EVENT_STREAM = "text/event-stream"
PIECE = 24  # characters per delta at most
PIECE_END = re.compile(r"(?<=\])|(?<=[。！？；.!?;] )")  # after a marker, or a sentence's end


def wanted(request: Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "")


def event(name: str, data: object) -> bytes:
    return f"event: {name}\ndata: {problems.dumps(data)}\n\n".encode()


def pieces(text: str, size: int = PIECE) -> list[str]:
    """The answer cut at sentence ends, then into pieces of at most `size` characters."""
    out: list[str] = []
    for sentence in PIECE_END.split(text):
        out.extend(sentence[i : i + size] for i in range(0, len(sentence), size))
    return [p for p in out if p]


def head(turn: Turn) -> dict:
    full = turn.reply.to_dict()
    out = {k: full[k] for k in ("conversation_id", "answer_id", "refused", "citations", "context_terms",
                                "standalone_question") if k in full}
    return {**out, "citations": [asdict(c) for c in turn.head_citations()]}


def done(reply: Reply) -> dict:
    full = reply.to_dict()
    return {k: full[k] for k in ("answer", "mode", "citations", "took_ms", "confidence", "not_covered")}


def respond(start: Callable[[], Awaitable[Turn]], bot: Bot, after: Callable[[Reply], None]
            ) -> StreamingResponse:
    async def run() -> AsyncIterator[bytes]:
        try:
            turn = await start()
        except Exception as exc:
            yield event("error", problems.stream_event(exc))
            return
        yield event("citations", head(turn))
        reply, sent = turn.reply, False
        try:
            async for piece in bot.stream(turn):
                if isinstance(piece, str):
                    sent = True
                    yield event("delta", {"text": piece})
                else:
                    reply = piece
        except Exception as exc:
            yield event("error", problems.stream_event(exc))
            return
        if not sent:
            for p in pieces(reply.answer.answer):
                yield event("delta", {"text": p})
        elif reply.answer.mode != "generated":
            yield event("replace", {"text": reply.answer.answer})
        after(reply)
        yield event("done", done(reply))

    return StreamingResponse(run(), media_type=EVENT_STREAM,
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
