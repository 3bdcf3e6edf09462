"""The one object every door (HTTP, CLI, widget, Slack) calls: validated questions in,
hits or cited answers out. Built once per process from Settings.

With a chat model configured (`KQA_LLM__PROVIDER`), answers are generated from the passages
(bot.generate) and follow-ups condensed (bot.condense); the extractive answer stays the floor,
and a refused question never reaches the model."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.answer import Answer, Evidence, extract, gather
from bot.condense import Condenser
from bot.errors import BadQuestion
from bot.generate import Generator
from bot.retrieve import Hit, Retriever
from bot.settings import Settings
from index.embed import Embedder
from index.store import Store


@dataclass
class Bot:
    settings: Settings
    store: Store
    embedder: Embedder
    retriever: Retriever
    generator: Generator | None = None  # None: extractive answers only
    condenser: Condenser | None = None

    @classmethod
    def open(cls, settings: Settings) -> Bot:
        store = Store(settings.store_options())
        embedder = Embedder(settings.embed_options())
        bot = cls(settings, store, embedder, Retriever(store, embedder, settings.retrieval))
        return bot.with_model(Generator.open(settings.llm))

    def with_model(self, generator: Generator | None) -> Bot:
        """This bot with `generator` (None: none) and a condenser over the same model."""
        self.generator = generator
        self.condenser = Condenser(generator, self.settings.server.max_question_chars) if generator else None
        return self

    def warm(self) -> None:
        """Load the model, the index and jieba now rather than on the first question."""
        self.retriever.search("容器 warm-up", k=1)

    def check(self, question: str) -> str:
        text = question.strip() if isinstance(question, str) else ""
        if not text:
            raise BadQuestion("the question is empty")
        limit = self.settings.server.max_question_chars
        if len(text) > limit:
            raise BadQuestion(f"the question is {len(text)} characters long; the limit is {limit}")
        if any(unicodedata.category(ch) in {"Cc", "Cs", "Co"} and ch not in "\t\n\r" for ch in text):
            raise BadQuestion("the question contains control or invalid characters")
        return text

    def search(self, question: str, k: int = 10) -> list[Hit]:
        return self.retriever.search(self.check(question), k=self._bound(k))

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        ev = self.gather(self.check(question), top_k=None if top_k is None else self._bound(top_k))
        return self.complete(ev, self.extract(ev))

    def gather(self, question: str, top_k: int | None = None) -> Evidence:
        """Retrieval and the refusal rule, for a checked question."""
        return gather(question, self.retriever, self.settings.answer, top_k=top_k)

    def extract(self, ev: Evidence) -> Answer:
        return extract(ev, self.settings.answer)

    def generates(self, floor: Answer) -> bool:
        """Whether `floor` goes to the model: a model is configured and the rule did not refuse."""
        return self.generator is not None and not floor.refused

    def complete(self, ev: Evidence, floor: Answer, question: str | None = None,
                 deadline: float | None = None) -> Answer:
        """The generated answer for the evidence, or `floor` (always, without a model)."""
        if self.generator is None or not self.generates(floor):
            return floor
        return self.generator.answer(question or ev.question, ev.passages, floor, deadline)

    def _bound(self, k: int) -> int:
        if k < 1 or k > self.settings.server.max_top_k:
            raise BadQuestion(f"k must be between 1 and {self.settings.server.max_top_k}")
        return k
