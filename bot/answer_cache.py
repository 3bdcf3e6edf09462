"""A small LRU of finished answers, keyed by the exact question, top_k and the published
index it was answered from. Retrieval and answering are deterministic for one index, so
a hit is the answer a fresh computation would give; a new ingest changes the key, so no
answer outlives the index it came from."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from pydantic import BaseModel, Field

from bot.answer import Answer


class CacheOptions(BaseModel):
    answers: int = Field(2048, ge=0, description="Finished answers kept in memory per process (0: no cache).")


class AnswerCache:
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
