"""The bot with a memory, for the doors that talk to readers (HTTP, widget, Slack): every
answer gets an id and a line in the question log; conversations carry earlier turns' key
terms into retrieval; feedback is recorded against answer ids. Answers come from `Bot`, through
a cache keyed by the question and the published index.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bot.answer import Answer, answer
from bot.answer_cache import AnswerCache
from bot.errors import ConversationNotFound
from bot.followup import carry, key_terms, search_text
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

    def to_dict(self) -> dict[str, Any]:
        out = {"answer_id": self.answer_id, **self.answer.to_dict()}
        if self.conversation_id is not None:
            out = {"conversation_id": self.conversation_id, **out, "context_terms": self.context_terms}
        return out


class Assistant:
    def __init__(self, bot: Bot, history: History, settings: Settings) -> None:
        self.bot, self.history, self.settings = bot, history, settings
        self.cache = AnswerCache(settings.cache.answers)

    @classmethod
    def open(cls, settings: Settings, bot: Bot | None = None) -> Assistant:
        return cls(bot or Bot.open(settings), History(settings.history_path(), settings.history), settings)

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
        started = time.perf_counter()
        text = self.bot.check(question)
        ans = self._cached((text, top_k), lambda: self.bot.ask(text, top_k=top_k), started)
        reply = Reply(new_id(), ans)
        self.history.log(reply.answer_id, text, ans.refused, ans.confidence.get("dense", 0.0), door)
        return reply

    def chat(self, message: str, conversation_id: str | None = None, door: str = "chat",
             start: bool = False) -> Reply:
        """One turn. `start`: an unknown (or expired) `conversation_id` begins a conversation
        under that id instead of failing, for doors that name their own (a Slack thread)."""
        started = time.perf_counter()
        text = self.bot.check(message)
        earlier = self._earlier(conversation_id, start)
        carried = carry(text, earlier, self.settings.followup, known=self._known)
        query = search_text(text, carried)
        ans = self._cached((query, None), lambda: answer(query, self.bot.retriever, self.bot.settings.answer), started)
        ans = replace(ans, question=text)
        answer_id = new_id()
        # What the next turn may carry: this message's own terms, then what it carried itself.
        remembered = list(dict.fromkeys(key_terms(text) + carried))[: 2 * self.settings.followup.max_terms]
        conversation_id = self.history.add_turn(conversation_id, text, remembered, answer_id, create=start)
        self.history.log(answer_id, text, ans.refused, ans.confidence.get("dense", 0.0), door,
                         conversation_id, carried)
        return Reply(answer_id, ans, conversation_id, carried)

    def feedback(self, answer_id: str, rating: str, comment: str | None = None) -> None:
        self.history.add_feedback(answer_id, rating, comment)

    def _earlier(self, conversation_id: str | None, start: bool) -> list[str]:
        if conversation_id is None:
            return []
        try:
            return self.history.last_terms(conversation_id)
        except ConversationNotFound:
            if start:
                return []
            raise

    def _cached(self, key: tuple, compute: Callable[[], Answer], started: float) -> Answer:
        version = self.bot.retriever.snapshot().info.collection
        found = self.cache.get((*key, version))
        if found is None:
            found = compute()
            self.cache.put((*key, version), found)
            log.debug("answered from index %s in %.1f ms", version, (time.perf_counter() - started) * 1000)
        return replace(found, took_ms=round((time.perf_counter() - started) * 1000, 2))

    def _known(self, term: str) -> bool:
        """True when every word of `term` occurs in the published index."""
        idf = self.bot.retriever.snapshot().idf
        words = tokens(term)
        return bool(words) and all(w in idf for w in words)
