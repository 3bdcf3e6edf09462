"""The one object every door (HTTP, CLI, widget, Slack) calls: validated questions in,
hits or cited answers out. Built once per process from Settings."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.answer import Answer, answer
from bot.errors import BadQuestion
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

    @classmethod
    def open(cls, settings: Settings) -> Bot:
        store = Store(settings.store_options())
        embedder = Embedder(settings.embed_options())
        return cls(settings, store, embedder, Retriever(store, embedder, settings.retrieval))

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
        return answer(self.check(question), self.retriever, self.settings.answer,
                      top_k=None if top_k is None else self._bound(top_k))

    def _bound(self, k: int) -> int:
        if k < 1 or k > self.settings.server.max_top_k:
            raise BadQuestion(f"k must be between 1 and {self.settings.server.max_top_k}")
        return k
