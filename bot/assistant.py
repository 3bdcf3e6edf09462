"""The bot with a memory, for the doors that talk to readers (HTTP, widget, Slack): every
answer gets an id and a line in the question log; conversations carry earlier turns' key
terms into retrieval (or, with a model, are condensed into a standalone question); feedback is
recorded against answer ids. Answers come from `Bot`, through a cache keyed by the question,
the published index and the answering mode (the model, or none).

A turn has two steps, so streaming doors can send the model's text as it comes: `start_ask` /
`start_chat` retrieve, apply the refusal rule, compute the extractive answer and log the
question (no model call but condensing); `complete` (blocking) or `stream` (async) then asks
the model, when there is one and the answer is not refused or cached. `ask` and `chat` do both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from bot.answer import Answer, Citation, Evidence
from bot.answer_cache import AnswerCache
from bot.errors import ConversationNotFound
from bot.followup import carry, key_terms, search_text
from bot.generate import given
from bot.history import History, new_id
from bot.service import Bot
from bot.settings import Settings
from bot.terms import tokens

log = logging.getLogger("kqa.assistant")


@dataclass(frozen=True)
class Reply:
    answer_id: str
    answer: Answer
    conversation_id: str | None = None
    context_terms: list[str] = field(default_factory=list)
    standalone: str | None = None  # the condensed question a follow-up was searched as

    def to_dict(self) -> dict[str, Any]:
        out = {"answer_id": self.answer_id, **self.answer.to_dict()}
        if self.conversation_id is not None:
            out = {"conversation_id": self.conversation_id, **out, "context_terms": self.context_terms,
                   "standalone_question": self.standalone}
        return out


@dataclass(frozen=True)
class Turn:
    """A question answered up to the model: `reply` holds the extractive (or cached, or
    refused) answer; when `pending`, the model is still to be asked about `evidence`."""

    reply: Reply
    evidence: Evidence | None
    asked: str  # what the model is asked: the question, or the follow-up as searched
    key: tuple  # the answer cache's key for a generated answer
    started: float  # perf_counter
    deadline: float  # monotonic: the model's time budget for this turn
    pending: bool = False

    def head_citations(self) -> list[Citation]:
        """The citations to show before the answer: the passages the model gets, numbered as in
        its prompt, or the finished answer's own."""
        if self.pending and self.evidence is not None:
            return given(self.evidence.passages)
        return self.reply.answer.citations


class Assistant:
    def __init__(self, bot: Bot, history: History, settings: Settings) -> None:
        self.bot, self.history, self.settings = bot, history, settings
        self.cache = AnswerCache(settings.cache.answers)

    @classmethod
    def open(cls, settings: Settings, bot: Bot | None = None) -> Assistant:
        return cls(bot or Bot.open(settings), History(settings.history_path(), settings.history), settings)

    @property
    def mode(self) -> tuple:
        """Part of every cache key, so extractive and generated answers (and two models') never mix."""
        return self.bot.generator.key if self.bot.generator else ("extractive",)

    def check_ask(self, question: str, top_k: int | None = None) -> None:
        """Raise what `ask` would raise for a bad request, without answering."""
        self.bot.check(question)
        if top_k is not None:
            self.bot._bound(top_k)  # the Bot's own check, so the message is the same

    def check_chat(self, message: str, conversation_id: str | None) -> None:
        self.bot.check(message)
        if conversation_id is not None:
            self.history.last_terms(conversation_id)

    def ask(self, question: str, top_k: int | None = None, door: str = "ask") -> Reply:
        return self.complete(self.start_ask(question, top_k, door))

    def chat(self, message: str, conversation_id: str | None = None, door: str = "chat",
             start: bool = False) -> Reply:
        """One turn. `start`: an unknown (or expired) `conversation_id` begins a conversation
        under that id instead of failing, for doors that name their own (a Slack thread)."""
        return self.complete(self.start_chat(message, conversation_id, door, start))

    def start_ask(self, question: str, top_k: int | None = None, door: str = "ask") -> Turn:
        started, deadline = time.perf_counter(), self._deadline()
        text = self.bot.check(question)
        if top_k is not None:
            self.bot._bound(top_k)
        ans, ev, key = self._draft(text, top_k, started)
        reply = Reply(new_id(), ans)
        self.history.log(reply.answer_id, text, ans.refused, ans.confidence.get("dense", 0.0), door)
        return Turn(reply, ev, text, key, started, deadline, pending=ev is not None)

    def start_chat(self, message: str, conversation_id: str | None = None, door: str = "chat",
                   start: bool = False) -> Turn:
        started, deadline = time.perf_counter(), self._deadline()
        text = self.bot.check(message)
        earlier = self._earlier(conversation_id, start)
        standalone = self._condense(conversation_id, text, deadline)
        carried = [] if standalone else carry(text, earlier, self.settings.followup, known=self._known)
        query = standalone or search_text(text, carried)
        ans, ev, key = self._draft(query, None, started)
        ans = replace(ans, question=text)
        answer_id = new_id()
        # What the next turn may carry: this message's own terms, then what it carried itself.
        own = key_terms(text) + (key_terms(standalone) if standalone else carried)
        remembered = list(dict.fromkeys(own))[: 2 * self.settings.followup.max_terms]
        conversation_id = self.history.add_turn(conversation_id, text, remembered, answer_id, create=start)
        self.history.log(answer_id, text, ans.refused, ans.confidence.get("dense", 0.0), door,
                         conversation_id, carried)
        reply = Reply(answer_id, ans, conversation_id, carried, standalone)
        return Turn(reply, ev, query, key, started, deadline, pending=ev is not None)

    def complete(self, turn: Turn) -> Reply:
        """The turn's final reply, asking the model (blocking) when it is pending."""
        if not turn.pending or turn.evidence is None:
            return turn.reply
        floor = turn.reply.answer
        return self._settle(turn, self.bot.complete(turn.evidence, floor, turn.asked, turn.deadline))

    async def stream(self, turn: Turn) -> AsyncIterator[str | Reply]:
        """The model's text as it arrives (when pending), then the final reply."""
        generator = self.bot.generator
        if not turn.pending or turn.evidence is None or generator is None:
            yield turn.reply
            return
        async for piece in generator.stream(turn.asked, turn.evidence.passages, turn.reply.answer, turn.deadline):
            yield piece if isinstance(piece, str) else self._settle(turn, piece)

    def feedback(self, answer_id: str, rating: str, comment: str | None = None, amends: int | None = None) -> int:
        return self.history.add_feedback(answer_id, rating, comment, amends)

    def _draft(self, query: str, top_k: int | None, started: float) -> tuple[Answer, Evidence | None, tuple]:
        """(the cached or extractive answer, the evidence when the model is still to be asked,
        the cache key)."""
        version = self.bot.retriever.snapshot().info.collection
        key = (query, top_k, version, self.mode)
        found = self.cache.get(key)
        ev = None
        if found is None:
            ev = self.bot.gather(query, top_k=top_k)
            found = self.bot.extract(ev)
            if not self.bot.generates(found):
                self.cache.put(key, found)
                ev = None
            log.debug("answered from index %s in %.1f ms", version, (time.perf_counter() - started) * 1000)
        return replace(found, took_ms=_ms(started)), ev, key

    def _settle(self, turn: Turn, ans: Answer) -> Reply:
        """The reply with the model's answer (cached only when generated: a fallback is not the
        answer this mode gives when the model works)."""
        if ans.mode == "generated":
            self.cache.put(turn.key, replace(ans, question=turn.asked))
        return replace(turn.reply, answer=replace(ans, question=turn.reply.answer.question, took_ms=_ms(turn.started)))

    def _deadline(self) -> float:
        return self.bot.generator.deadline() if self.bot.generator else float("inf")

    def _condense(self, conversation_id: str | None, message: str, deadline: float) -> str | None:
        if self.bot.condenser is None or conversation_id is None:
            return None
        try:
            self.history.last_terms(conversation_id)  # known and not expired
        except ConversationNotFound:
            return None
        earlier = [m for m, _ in self.history.turns(conversation_id)]
        return self.bot.condenser.condense(earlier, message, deadline)

    def _earlier(self, conversation_id: str | None, start: bool) -> list[str]:
        if conversation_id is None:
            return []
        try:
            return self.history.last_terms(conversation_id)
        except ConversationNotFound:
            if start:
                return []
            raise

    def _known(self, term: str) -> bool:
        """True when every word of `term` occurs in the published index."""
        idf = self.bot.retriever.snapshot().idf
        words = tokens(term)
        return bool(words) and all(w in idf for w in words)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
