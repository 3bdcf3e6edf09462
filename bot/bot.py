"""The one object every door calls (HTTP, widget, Slack, CLI). Built once per process from
Settings; a door holds a `Bot` and calls its methods, never its parts.

- `search`, `ask`, `chat`, `feedback`, `report`, `status`: what the doors offer. Every answer
  gets an id and a line in the question log naming its door (`http`, `widget`, `slack`, `cli`);
  conversations carry earlier turns into retrieval (bot.followup), and belong to the door that
  started them. Feedback is one vote per answer per voter (the door says who votes).
- Answers come through a cache keyed by the question as searched, top_k, the published index and
  the answering mode (the model, or none). Retrieval and answering are deterministic for one
  index, so a hit is the answer a fresh computation would give; a new ingest changes the key.
- A turn has two steps, so streaming doors can send the model's text as it comes: `start_ask` /
  `start_chat` retrieve, apply the refusal rule, compute the extractive answer and log the
  question (no model call but condensing); `complete` (blocking) or `stream` (async) then ask
  the model, when there is one and the answer is neither refused nor cached. `ask` and `chat`
  do both. The extractive answer is always computed first: it is the floor.
- `warm_in_background` loads the model and index in a thread so a server answers health checks
  at once; until it is done, `ready()` raises NotReady.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from bot.answer import Answer, Citation, Evidence, extract, gather, ms_since
from bot.compose import prepare
from bot.database import DatabaseUnavailable
from bot.errors import BadFeedback, BadQuestion, ConversationNotFound, KqaError, NotReady
from bot.followup import Condenser, carry, key_terms, search_text
from bot.generate import Generator, given
from bot.history import History, Report, new_id
from bot.retrieve import Hit, Retriever, StoreState
from bot.settings import Settings
from bot.terms import tokens
from index.embed import Embedder
from index.store import IndexInfo, Store

log = logging.getLogger("kqa.bot")
Door = Literal["http", "widget", "slack", "cli"]
CacheKey = tuple[str, int | None, str, tuple[Any, ...]]


@dataclass(frozen=True)
class Reply:
    """An answer as a door gives it: with its id, and for a conversation its id and what was carried."""

    answer_id: str
    answer: Answer
    conversation_id: str | None = None
    context_terms: list[str] = field(default_factory=list)
    standalone: str | None = None  # the condensed question a follow-up was searched as

    @property
    def asked(self) -> str:
        """What retrieval saw: the standalone question, or the message with the carried terms."""
        return self.standalone or search_text(self.answer.question, self.context_terms)

    def to_dict(self) -> dict[str, Any]:
        out = {"answer_id": self.answer_id, **self.answer.to_dict()}
        if self.conversation_id is not None:
            out = {"conversation_id": self.conversation_id, **out, "context_terms": self.context_terms,
                   "standalone_question": self.standalone}
        return out


@dataclass(frozen=True)
class Status:
    index: IndexInfo  # the index held in memory, that answers come from
    store: StoreState  # how the last looks at the store for a newer one went


@dataclass(frozen=True)
class Turn:
    """A question answered up to the model: `reply` holds the extractive (or cached, or
    refused) answer; when `pending`, the model is still to be asked about `evidence`."""

    reply: Reply
    evidence: Evidence | None
    asked: str  # what the model is asked: the question, or the follow-up as searched
    key: CacheKey
    started: float  # perf_counter
    deadline: float  # monotonic: the model's time budget for this turn
    pending: bool = False

    def head_citations(self) -> list[Citation]:
        """The citations to show before the answer: the passages the model gets, numbered as in
        its prompt, or the finished answer's own."""
        if self.pending and self.evidence is not None:
            return given(self.evidence.passages)
        return self.reply.answer.citations


class AnswerCache:
    """A small thread-safe LRU of finished answers."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._items: OrderedDict[Hashable, Answer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Answer | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, value: Answer) -> None:
        if not self.size:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class Bot:
    def __init__(self, settings: Settings, store: Store, embedder: Embedder, history: History,
                 generator: Generator | None = None) -> None:
        self.settings, self.store, self.embedder, self.history = settings, store, embedder, history
        self.retriever = Retriever(store, embedder, settings.retrieval, prepare=prepare)
        self.cache = AnswerCache(settings.cache.answers)
        self.generator: Generator | None = None
        self.condenser: Condenser | None = None
        self.with_model(generator)
        self._warmed = threading.Event()
        self._warm_error: BaseException | None = None
        self.log_dropped = 0  # question-log lines lost while the database was away
        self._dropped_lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> Bot:
        """The bot for `settings` (`embedder`: one already loaded, to share it)."""
        history = History(settings.history_location(), settings.history, database=settings.database)
        return cls(settings, Store(settings.store), embedder or Embedder(settings.embed), history,
                   Generator.open(settings.llm))

    def with_model(self, generator: Generator | None) -> Bot:
        """This bot with `generator` (None: none) and a condenser over the same model."""
        self.generator = generator
        self.condenser = Condenser(generator, self.settings.questions.max_chars) if generator else None
        return self

    # readiness

    def warm(self) -> None:
        """Load the model, the index and jieba now rather than on the first question."""
        self.retriever.search("容器 warm-up", k=1)
        self._warmed.set()

    def warm_in_background(self) -> None:
        threading.Thread(target=self._warm_quietly, name="kqa-warmup", daemon=True).start()

    def _warm_quietly(self) -> None:
        try:
            self.warm()
        except KqaError as exc:
            log.error("not ready: %s", exc)
            self._warm_error = exc
        except Exception as exc:  # keep serving health checks; readiness reports it
            log.exception("warm-up failed")
            self._warm_error = exc
        finally:
            self._warmed.set()

    def ready(self) -> None:
        """Raise NotReady while warming up. A warm-up that failed with a kqa error (no index yet,
        say) is tried again here, and raises again if it still fails: a build may have happened."""
        if not self._warmed.is_set():
            raise NotReady("the model and index are still loading; retry in a few seconds")
        if isinstance(self._warm_error, KqaError):
            self._warm_error = None
            self.warm()

    def status(self) -> Status:
        """The index answers come from, and how the store is doing. Raises only while nothing
        was ever loaded (warming up, no index yet, the store away from the start): a store that
        goes away later leaves the index held in memory, and answers go on from it."""
        self.ready()
        return Status(self.retriever.snapshot().info, self.retriever.state)

    def index_info(self) -> IndexInfo | None:
        """The index answers come from, once loaded (None before), without looking at the store."""
        snap = self.retriever.loaded
        return snap.info if snap is not None else None

    def store_state(self) -> StoreState:
        """How the last looks at the store went (for metrics), without looking at it."""
        return self.retriever.state

    # questions

    def check(self, question: str) -> str:
        """The question stripped, or BadQuestion saying what is wrong with it."""
        text = question.strip() if isinstance(question, str) else ""
        if not text:
            raise BadQuestion("the question is empty")
        limit = self.settings.questions.max_chars
        if len(text) > limit:
            raise BadQuestion(f"the question is {len(text)} characters long; the limit is {limit}")
        if has_controls(text):
            raise BadQuestion("the question contains control or invalid characters")
        return text

    def bound(self, k: int) -> int:
        if k < 1 or k > self.settings.questions.max_top_k:
            raise BadQuestion(f"k must be between 1 and {self.settings.questions.max_top_k}")
        return k

    def search(self, question: str, k: int = 10) -> list[Hit]:
        return self.retriever.search(self.check(question), k=self.bound(k))

    def check_ask(self, question: str, top_k: int | None = None) -> None:
        """Raise what `ask` would raise for a bad request, without answering."""
        self.check(question)
        if top_k is not None:
            self.bound(top_k)

    def check_chat(self, message: str, conversation_id: str | None, door: Door = "http") -> None:
        self.check(message)
        if conversation_id is not None:
            self.history.last_terms(conversation_id, door=door)

    def has_conversation(self, conversation_id: str, door: Door) -> bool:
        """True when `conversation_id` is live and `door`'s (another door's is not there for it)."""
        try:
            self.history.last_terms(conversation_id, door=door)
        except ConversationNotFound:
            return False
        return True

    def ask(self, question: str, top_k: int | None = None, door: Door = "http") -> Reply:
        return self.complete(self.start_ask(question, top_k, door))

    def chat(self, message: str, conversation_id: str | None = None, door: Door = "http",
             start: bool = False) -> Reply:
        """One turn. `start`: an unknown (or expired) `conversation_id` begins a conversation
        under that id instead of failing, for doors that name their own (a Slack thread). Only
        `door`'s own conversations can be continued: another door's is ConversationNotFound."""
        return self.complete(self.start_chat(message, conversation_id, door, start))

    def answer(self, question: str) -> Answer:
        """The answer to `question` as searched, without logging it: to show again what was
        answered before (a Slack button on an answer this process no longer holds)."""
        started = time.perf_counter()
        text = self.check(question)
        ans, ev, key = self._draft(text, None, started)
        turn = Turn(Reply("", ans), ev, text, key, started, self._deadline(), pending=ev is not None)
        return self.complete(turn).answer

    def start_ask(self, question: str, top_k: int | None = None, door: Door = "http") -> Turn:
        started, deadline = time.perf_counter(), self._deadline()
        text = self.check(question)
        if top_k is not None:
            self.bound(top_k)
        ans, ev, key = self._draft(text, top_k, started)
        reply = Reply(new_id(), ans)
        self._log(reply.answer_id, text, ans.refused, ans.confidence.get("dense", 0.0), door)
        return Turn(reply, ev, text, key, started, deadline, pending=ev is not None)

    def start_chat(self, message: str, conversation_id: str | None = None, door: Door = "http",
                   start: bool = False) -> Turn:
        started, deadline = time.perf_counter(), self._deadline()
        text = self.check(message)
        earlier = self._earlier(conversation_id, start, door)
        standalone = self._condense(conversation_id, text, deadline, door)
        carried = [] if standalone else carry(text, earlier, self.settings.followup, known=self._known)
        query = standalone or search_text(text, carried)
        ans, ev, key = self._draft(query, None, started)
        ans = replace(ans, question=text)
        answer_id = new_id()
        # What the next turn may carry: this message's own terms, then what it carried itself.
        own = key_terms(text) + (key_terms(standalone) if standalone else carried)
        remembered = list(dict.fromkeys(own))[: 2 * self.settings.followup.max_terms]
        conversation_id = self.history.add_turn(conversation_id, text, remembered, answer_id, create=start, door=door)
        self._log(answer_id, text, ans.refused, ans.confidence.get("dense", 0.0), door, conversation_id, carried)
        reply = Reply(answer_id, ans, conversation_id, carried, standalone)
        return Turn(reply, ev, query, key, started, deadline, pending=ev is not None)

    def complete(self, turn: Turn) -> Reply:
        """The turn's final reply, asking the model (blocking) when it is pending."""
        if not turn.pending or turn.evidence is None or self.generator is None:
            return turn.reply
        return self._settle(turn, self.generator.answer(turn.asked, turn.evidence.passages, turn.reply.answer,
                                                        turn.deadline))

    async def stream(self, turn: Turn) -> AsyncIterator[str | Reply]:
        """The model's text as it arrives (when pending), then the final reply."""
        generator = self.generator
        if not turn.pending or turn.evidence is None or generator is None:
            yield turn.reply
            return
        async for piece in generator.stream(turn.asked, turn.evidence.passages, turn.reply.answer, turn.deadline):
            yield piece if isinstance(piece, str) else self._settle(turn, piece)

    # feedback and the report

    def feedback(self, answer_id: str, rating: str, comment: str | None = None, amends: int | None = None, *,
                 voter: str) -> int:
        """Record `voter`'s vote (one per answer: a repeat replaces it) and return its id. `voter`
        is who the door knows is voting: an API key's or client address's id, a Slack user."""
        if not voter:
            raise ValueError("a vote needs its voter")
        if comment is not None and has_controls(comment):
            raise BadFeedback("the comment contains control or invalid characters")
        return self.history.add_feedback(answer_id, rating, comment, amends, voter=voter)

    def report(self, limit: int = 10, since_s: float | None = None) -> Report:
        return self.history.report(limit=limit, since_s=since_s)

    # inside

    def _draft(self, query: str, top_k: int | None, started: float) -> tuple[Answer, Evidence | None, CacheKey]:
        """(the cached or extractive answer, the evidence when the model is still to be asked,
        the cache key)."""
        version = self.retriever.snapshot().info.collection
        mode = self.generator.key if self.generator else ("extractive",)
        key: CacheKey = (query, top_k, version, mode)
        found = self.cache.get(key)
        ev = None
        if found is None:
            ev = gather(query, self.retriever, self.settings.answer, self.settings.refusal, top_k=top_k)
            found = extract(ev, self.settings.answer, self.settings.refusal)
            if self.generator is None or found.refused:
                self.cache.put(key, found)
                ev = None
            log.debug("answered from index %s in %.1f ms", version, ms_since(started))
        return replace(found, took_ms=ms_since(started)), ev, key

    def _settle(self, turn: Turn, ans: Answer) -> Reply:
        """The reply with the model's answer (cached only when generated: a fallback is not the
        answer this mode gives when the model works)."""
        if ans.mode == "generated":
            self.cache.put(turn.key, replace(ans, question=turn.asked))
        return replace(turn.reply, answer=replace(ans, question=turn.reply.answer.question,
                                                  took_ms=ms_since(turn.started)))

    def _log(self, answer_id: str, question: str, refused: bool, top_score: float, door: Door,
             conversation_id: str | None = None, context_terms: list[str] | None = None) -> None:
        """The question log's line, or, while its database is away, none: an answer never waits
        for the log (the lines lost are counted: `log_dropped`)."""
        try:
            self.history.log(answer_id, question, refused, top_score, door, conversation_id, context_terms)
        except DatabaseUnavailable as exc:
            with self._dropped_lock:
                self.log_dropped += 1
            log.warning("question log line dropped: %s", exc)

    def _deadline(self) -> float:
        return self.generator.deadline() if self.generator else float("inf")

    def _condense(self, conversation_id: str | None, message: str, deadline: float, door: Door) -> str | None:
        if self.condenser is None or conversation_id is None or not self.has_conversation(conversation_id, door):
            return None
        earlier = [m for m, _ in self.history.turns(conversation_id)]
        return self.condenser.condense(earlier, message, deadline)

    def _earlier(self, conversation_id: str | None, start: bool, door: Door) -> list[str]:
        if conversation_id is None:
            return []
        try:
            return self.history.last_terms(conversation_id, door=door)
        except ConversationNotFound:
            if start:
                return []
            raise

    def _known(self, term: str) -> bool:
        """True when every word of `term` occurs in the published index."""
        idf = self.retriever.snapshot().idf
        words = tokens(term)
        return bool(words) and all(w in idf for w in words)


def has_controls(text: str) -> bool:
    """Control, surrogate or private-use characters other than tab and line breaks: never in a
    question or comment a person typed, and what terminal escapes are made of."""
    return any(unicodedata.category(ch) in {"Cc", "Cs", "Co"} and ch not in "\t\n\r" for ch in text)
