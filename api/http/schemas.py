"""The JSON API's request and response bodies, as the OpenAPI schema at /docs shows them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.http import problems, stream


class AskRequest(BaseModel):
    question: str = Field(description="The reader's question, Chinese or English.")
    top_k: int | None = Field(None, description="Passages to draw the answer from (1-20).")


class ChatRequest(BaseModel):
    conversation_id: str | None = Field(
        None, max_length=64, description="Leave out to start a conversation. A conversation continues only through "
        "the door that started it (the widget's with `X-KQA-Door: widget`; never a Slack thread's): any other id "
        "gets the same 404 as an unknown one.")
    message: str = Field(description="The reader's message; follow-ups may refer back (它, 那个, this, that).")


class FeedbackRequest(BaseModel):
    answer_id: str = Field(max_length=64, description="The `answer_id` of an answer.")
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=2000, description="What was wrong or missing (text: no control "
                                "characters but tab and line breaks).")
    amends: int | None = Field(None, ge=1, description="The `feedback_id` of this caller's earlier vote on the same "
                               "answer, to change it or add a comment. Optional: a caller (an API key, or a client "
                               "address without keys) has one vote per answer, and voting again replaces it.")


class CitationOut(BaseModel):
    n: int
    source: str
    title: str
    lecture: int | None
    section: str
    quote: str = Field(description="The first sentence the answer quotes from `text` (an exact substring).")
    text: str
    score: float
    url: str | None
    quotes: list[str] = Field(description="Every sentence (or list item) the answer quotes from `text`, each an "
                              "exact substring, in the order of the markers [n] that cite it.")
    page: int | None = Field(None, description="For a text from a PDF: the printed page `quote` starts on; "
                             "null otherwise.")


class AskResponse(BaseModel):
    answer_id: str = Field(description="Opaque and unique; send it with feedback.")
    question: str
    answer: str
    refused: bool
    citations: list[CitationOut]
    took_ms: float
    confidence: dict[str, float] = Field(
        description="The refusal signals (dense, margin, unknown_terms, unseen_terms, absent_terms, known_words) and "
        "the fused score (docs/refusal.md).")
    not_covered: list[str] = Field(description="With a refusal: what the question asks about that the column does not "
                                   "cover, as the reader wrote it (names and terms it never uses); [] otherwise.")
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
    page: int | None = Field(None, description="For a passage from a PDF: the printed page it starts on; null "
                             "otherwise.")


class SearchResponse(BaseModel):
    results: list[SearchResult]


class ReadyResponse(BaseModel):
    status: Literal["ready"]
    model: str = Field(description="The embedding model the index was built with.")
    chunks: int = Field(description="Passages in the index answers come from (the one held in memory).")
    files: int
    built_at: float = Field(description="When that index was built (Unix time).")
    store: str = Field(description="`ok`, or `unreachable since <UTC time>` while the vector store is away: "
                       "answers go on from the index held in memory, and a new one is picked up once it is back.")


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "content": {problems.PROBLEM: {}}} for code in codes}


SSE_DOC = {"content": {stream.EVENT_STREAM: {"schema": {"type": "string"}}},
           "description": "JSON, or Server-Sent Events with `Accept: text/event-stream` "
                          "(citations, delta..., [replace], done; or error)."}
