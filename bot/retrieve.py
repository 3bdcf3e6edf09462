"""Hybrid retrieval: dense (cosine) and BM25 (jieba terms) fused by reciprocal rank.

Both sides are rebuilt from the store itself, so they always match what Chroma
holds; the retriever follows the store's published version (checked at most every `refresh_s`),
and swaps in a complete new snapshot, so a query never sees a half-built index.

Only the first load waits for the store. After it, the snapshot held in memory is whole and is
all a query needs: looking for a new publication happens in a background thread, so a store that
is gone or hangs delays no answer; it is noted (`StoreState`) and looked at again every
`refresh_s`, and the first look that succeeds picks up whatever was published meanwhile.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import bm25s
import numpy as np
from pydantic import BaseModel, Field

from bot.spelling import Spelling
from bot.terms import CJK_RUN, PARTS, normalize, query_terms, tokens
from corpus.chunk import Chunk
from corpus.errors import KqaError
from index.embed import Embedder
from index.store import UNITS, IndexInfo, Records, Store, StoreUnavailable

log = logging.getLogger("kqa.retrieve")
# Words a question about a lecture itself asks with ("第 38 讲讲了什么", "what is lecture 38 about?").
LECTURE_WORDS = frozenset({"讲", "讲讲", "主要", "内容", "讲了", "说", "答案",
                           "about", "cover", "covers", "answer", "answers"})
LECTURE_NAMED = re.compile(r"第\s*0*(\d{1,2})\s*讲|\blecture\s*0*(\d{1,2})\b", re.I)  # "第 25 讲的思考题"
# A part of a question asks a FAQ entry's title when this share of the title's terms are in it and of its terms in
# the title (by idf): the unanswerable development questions reach 0.53 both ways, the answerable up to 1.0.
TITLE_ASKED = 0.8
FAQ = "faq"  # the kind of a FAQ entry (corpus/README.md)


class RetrievalOptions(BaseModel):
    candidates: int = Field(40, ge=1, le=500, description="Candidates taken from each side before fusion.")
    rrf_k: float = Field(60.0, gt=0, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in the fusion.")
    sparse_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in the fusion.")
    expansion_weight: float = Field(0.5, ge=0, le=1, description="BM25 weight of glossary equivalents.")
    expand_dense: bool = Field(True, description="Append glossary equivalents to the dense query of a question "
                                                 "with no Chinese in it (measured: helps English, hurts Chinese).")
    doc_weight: float = Field(
        0.3, ge=0, description="Weight of a whole-file dense ranking (the mean of a file's passage vectors) "
        "in the fusion: favours files that are about the question as a whole.")
    named_weight: float = Field(
        1.0, ge=0, description="Weight of a ranking by the rare names the question writes as one word (a flag, a "
        "file, a key: --network-plugin, resolv.conf) in the fusion: the passage that writes such a name is likely "
        "what the question is about, even when its meaning scores it low.")
    named_passages: int = Field(8, ge=1, description="How rare a name written as one must be to rank on: written "
                                "in at most this many passages.")
    refresh_s: float = Field(2.0, ge=0, description="How often to look for a newly published index.")


@dataclass(frozen=True)
class StoreState:
    """How the last looks at the store went, for readiness and metrics."""

    unreachable_since: float | None  # wall-clock time of the first failed look in a row; None: reachable
    failures: int  # failed looks since the process started
    error: str = ""  # the last failure, as StoreUnavailable worded it (for the log, not for clients)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused RRF score
    dense: float  # cosine similarity of question and passage
    sparse: float  # BM25 score (0 when no term matched)
    rank: int


@dataclass(frozen=True)
class Retrieval:
    """Ranked hits plus how the best passage stands out from the rest of the corpus."""

    hits: list[Hit]
    margin: float  # best cosine minus the mean cosine of passages ranked 21-50
    query: np.ndarray | None = None  # the question's vector


@dataclass
class Snapshot:
    """One published index, whole: chunks, their vectors and the BM25 index over them."""

    info: IndexInfo
    chunks: list[Chunk]
    position: dict[str, int]
    vectors: np.ndarray
    bm25: bm25s.BM25
    vocab: dict[str, int]
    idf: dict[str, float]
    long_terms: list[str]  # Latin terms of 6+ characters, for typo-tolerant lookups
    spelling: Spelling
    doc_of: np.ndarray  # chunk position -> file number
    doc_vectors: np.ndarray  # one normalised mean vector per file
    section_chunks: dict[tuple[str, str], list[int]]  # (source, section) -> chunk positions
    unit_rows: dict[tuple[str, str, str], int]  # (source, section, unit text) -> row of unit_vectors
    unit_vectors: np.ndarray  # sentence and list-item vectors (none for an index built before them)
    lead_sections: dict[str, str]  # source -> its first section
    file_sections: dict[str, list[tuple[str, str]]]  # source -> its (source, section) keys, in order
    text: str  # every passage with its title and section, normalised (bot.terms.normalize), for lookups
    lectures: frozenset[int]  # the lectures the corpus has passages on
    faq_titles: tuple[tuple[frozenset[str], frozenset[str]], ...]  # each FAQ title's terms, and with their equivalents
    sections_cache: dict[tuple[str, str], Any] = field(default_factory=dict)  # bot.compose's, filled lazily
    terms_cache: dict[str, Any] = field(default_factory=dict)  # bot.compose's: a corpus text's terms
    mentions_cache: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, store: Store, info: IndexInfo) -> Snapshot:
        rec = store.records(info.collection, embeddings=True)
        chunks = [Chunk.from_record(i, t, m) for i, t, m in zip(rec.ids, rec.texts, rec.metadatas, strict=True)]
        bm25 = bm25s.BM25()
        corpus_tokens = [tokens(c.headed_text) or ["\u0000"] for c in chunks]
        bm25.index(corpus_tokens, show_progress=False)
        df = Counter(t for toks in corpus_tokens for t in set(toks))
        idf = {t: math.log(1 + (len(chunks) - n + 0.5) / (n + 0.5)) for t, n in df.items()}
        vectors = np.asarray(rec.embeddings, dtype=np.float32).reshape(len(chunks), -1)
        files = {src: i for i, src in enumerate(dict.fromkeys(c.source for c in chunks))}
        doc_of = np.array([files[c.source] for c in chunks], dtype=np.int32)
        doc_vectors = np.zeros((len(files), vectors.shape[1] if len(chunks) else 0), dtype=np.float32)
        np.add.at(doc_vectors, doc_of, vectors)
        doc_vectors /= np.linalg.norm(doc_vectors, axis=1, keepdims=True) + 1e-9
        section_chunks: dict[tuple[str, str], list[int]] = {}
        lead_sections: dict[str, str] = {}
        for i, c in sorted(enumerate(chunks), key=lambda ic: ic[1].start):
            section_chunks.setdefault((c.source, c.section), []).append(i)
            lead_sections.setdefault(c.source, c.section)
        units = store.records(info.collection + UNITS, embeddings=True) if store.has(info.collection + UNITS) \
            else Records([], [], [], [])
        unit_rows = {(m["source"], m["section"], t): i for i, (t, m) in enumerate(zip(units.texts, units.metadatas,
                                                                                       strict=True))}
        dim = vectors.shape[1] if len(chunks) else 0
        unit_vectors = np.asarray(units.embeddings, dtype=np.float32).reshape(-1, dim) if units.embeddings \
            else np.zeros((0, dim), dtype=np.float32)
        file_sections: dict[str, list[tuple[str, str]]] = {}
        for key in section_chunks:
            file_sections.setdefault(key[0], []).append(key)
        faq_titles = []
        for title in dict.fromkeys(c.title for c in chunks if c.kind == FAQ):
            base, extra = query_terms(title, idf)
            terms = frozenset(t for t in base if t in idf)
            faq_titles.append((terms, terms | {t for t in extra if t in idf}))
        return cls(
            section_chunks=section_chunks, unit_rows=unit_rows, unit_vectors=unit_vectors,
            lead_sections=lead_sections, file_sections=file_sections,
            text="\n".join(normalize(c.headed_text) for c in chunks),
            lectures=frozenset(c.lecture for c in chunks if c.lecture is not None), faq_titles=tuple(faq_titles),
            doc_of=doc_of, doc_vectors=doc_vectors,
            info=info, chunks=chunks, position={c.id: i for i, c in enumerate(chunks)},
            vectors=vectors,
            bm25=bm25, vocab=bm25.vocab_dict, idf=idf,
            long_terms=[t for t in idf if len(t) >= 6 and t.isascii()],
            spelling=Spelling(df),
        )

    def lecture_named(self, question: str) -> int | None:
        """The lecture the question names ("第 25 讲的思考题", "lecture 25"), when the corpus has passages on it."""
        m = LECTURE_NAMED.search(question)
        if m is None:
            return None
        lecture = int(m.group(1) or m.group(2))
        return lecture if lecture in self.lectures else None

    def lecture_asked(self, question: str) -> tuple[str, str] | None:
        """For a question about a lecture itself, the section of the lecture's note it asks for: the one whose heading
        has every other word of the question ("第 25 讲的思考题是什么": 思考题, "第 40 讲的现状": 现状), or the note's
        opening when it has none ("第 38 讲讲了什么", "what is lecture 38 about?"); None for any other question, and
        for a question on a subject in the lecture ("第 5 讲里 clone 的那个参数是干嘛的")."""
        lecture = self.lecture_named(question)
        if lecture is None:
            return None
        base, extra = query_terms(LECTURE_NAMED.sub(" ", question), self.idf)
        asks = {t for t in (*base, *extra) if t in self.idf} - LECTURE_WORDS
        for source, keys in self.file_sections.items():
            if source.startswith("faq/") or self.chunks[self.section_chunks[keys[0]][0]].lecture != lecture:
                continue
            if not asks:
                return keys[0]
            return next((key for key in keys if asks <= set(tokens(key[1]))), None)
        return None

    def title_asked(self, question: str) -> str | None:
        """The part of the question (PARTS) that asks a FAQ entry's title nearly word for word: TITLE_ASKED of the
        title's terms are in it, or their glossary equivalents, and as much of its own terms are in the title
        ("为啥都说容器里只能跑一个进程" of "为什么容器里只能跑一个进程？"); None when no part does."""
        for part in PARTS.split(question):
            base, extra = query_terms(part, self.idf)
            own = {t for t in base if t in self.idf}
            said = own | {t for t in extra if t in self.idf}
            for terms, widened in self.faq_titles:
                if own and self.weight(terms & said) >= TITLE_ASKED * self.weight(terms) \
                        and self.weight(own & widened) >= TITLE_ASKED * self.weight(own):
                    return part
        return None

    def weight(self, terms: Iterable[str]) -> float:
        """The terms' idf, summed (each a term of the corpus)."""
        return sum(self.idf[t] for t in terms)

    def mentions(self, term: str) -> bool:
        """Whether the corpus has `term` (normalised) anywhere in its text."""
        return self.count(term) > 0

    def count(self, term: str) -> int:
        """How often the corpus's text has `term` (normalised); remembered, since a substring search
        of the whole corpus costs about a millisecond."""
        found = self.mentions_cache.get(term)
        if found is None:
            if len(self.mentions_cache) > MENTIONS_KEPT:
                self.mentions_cache.clear()
            found = self.mentions_cache[term] = self.text.count(term)
        return found

    def section_text(self, source: str, section: str) -> str:
        """A section's passages joined (they overlap), for looking terms up in."""
        return "\n".join(self.chunks[i].text for i in self.section_chunks.get((source, section), ()))


MENTIONS_KEPT = 50_000
# A name written as one word with separators: a flag, a file, a key, a component (--network-plugin → network-plugin).
NAMED = re.compile(r"[a-z0-9]+(?:[-_./][a-z0-9]+)+")


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, options: RetrievalOptions,
                 prepare: Callable[[Snapshot], None] | None = None) -> None:
        self.store, self.embedder, self.options = store, embedder, options
        self.prepare = prepare  # run on a loaded snapshot before it answers (bot.compose.prepare)
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()  # one look at the store at a time
        self._state = StoreState(None, 0)

    @property
    def loaded(self) -> Snapshot | None:
        """The snapshot answers come from, without looking at the store; None before the first load."""
        return self._snapshot

    @property
    def state(self) -> StoreState:
        return self._state

    def snapshot(self) -> Snapshot:
        """The current index. The first call loads it (and raises when the store cannot give it);
        later ones return the one held and, every `refresh_s`, look for a newer one in the background."""
        snap = self._snapshot
        if snap is None:
            with self._lock:
                return self._snapshot or self._refresh()
        # The lock taken here is released by the thread when its look is done (a plain Lock may be):
        # while a look is under way, nobody starts another.
        if time.monotonic() - self._checked >= self.options.refresh_s and self._lock.acquire(blocking=False):
            try:
                threading.Thread(target=self._refresh_quietly, name="kqa-refresh", daemon=True).start()
            except BaseException:
                self._lock.release()
                raise
        return snap

    def _refresh_quietly(self) -> None:
        try:
            self._refresh()
        except KqaError:
            pass  # noted in the state by _refresh; answers go on from the snapshot held
        except Exception:
            log.exception("looking for a new index failed")
        finally:
            self._lock.release()

    def _refresh(self) -> Snapshot:
        """Look at the store once: load a newly published index; note whether the store answered."""
        try:
            info = self.store.require(self.embedder.identity)
            snap = self._snapshot
            if snap is None or snap.info.collection != info.collection:
                snap = Snapshot.load(self.store, info)
                if self.prepare is not None:
                    self.prepare(snap)
                self._snapshot = snap
        except StoreUnavailable as exc:
            state = self._state
            if state.unreachable_since is None and self._snapshot is not None:
                log.warning("the store is unreachable (%s): answering from the index held in memory", exc)
            self._state = StoreState(state.unreachable_since or time.time(), state.failures + 1, str(exc))
            raise
        except KqaError as exc:
            if self._snapshot is not None and str(exc) != self._state.error:  # said once, not every look
                log.warning("keeping the index held in memory: %s", exc)
            self._state = replace(self._state, error=str(exc))
            raise
        finally:
            self._checked = time.monotonic()
        if self._state.unreachable_since is not None:
            log.warning("the store is reachable again")
        self._state = StoreState(None, self._state.failures)
        return snap

    def search(self, question: str, k: int = 10) -> list[Hit]:
        return self.retrieve(question, k).hits

    def retrieve(self, question: str, k: int = 10) -> Retrieval:
        snap = self.snapshot()
        base, extra = query_terms(question, snap.idf)
        chinese = bool(CJK_RUN.search(question))
        # Latin words in a Chinese question are terms, so an unknown one is likely a typo; in an
        # English question most words are not in a Chinese corpus at all (measured: noise).
        fixes = snap.spelling.corrections(t for t in base if t not in snap.vocab) if chinese else {}
        base = base + list(fixes.values())
        cross_lingual = self.options.expand_dense and extra and not chinese
        # An English question is embedded with its glossary terms' Chinese, not its plain words' (measured:
        # those moved two development answers off a vital fact; looked up, they only help).
        meant = query_terms(question, snap.idf, plain=False)[1] if cross_lingual else []
        dense_query = question + (" " + " ".join(meant) if meant else "")
        for typo, fixed in fixes.items():
            dense_query = re.sub(rf"(?i)(?<![a-z]){re.escape(typo)}(?![a-z])", fixed, dense_query)
        qvec = self.embedder.encode_query(dense_query)
        n = min(self.options.candidates, len(snap.chunks))
        if n == 0:
            return Retrieval([], 0.0)
        # Exact cosine over the snapshot's vectors rather than Chroma's HNSW query: the snapshot holds
        # every vector anyway, this takes ~0.1 ms for 2,000 passages against ~1.8 ms, and HNSW missed
        # the best passage for 1% of the development questions (bench/results/experiments.md).
        cos = snap.vectors @ qvec
        top = np.argpartition(-cos, n - 1)[:n]
        dense_rank = [int(i) for i in top[np.argsort(-cos[top], kind="stable")]]
        sparse_scores = self._bm25(snap, base, extra)
        sparse_rank = [int(i) for i in np.argsort(-sparse_scores)[:n] if sparse_scores[i] > 0]
        # An error message's flag or a config file's name ranks far down in meaning (dense #57 for "unknown flag:
        # --network-plugin") and its BM25 lead is diluted by the question's other words; ranked on its own, the
        # passage that writes it gets a say in the fusion.
        named_rank = self._named(snap, base, n) if self.options.named_weight else []

        fused: dict[int, float] = {}
        if self.options.doc_weight and len(snap.doc_vectors):
            doc_rank = np.empty(len(snap.doc_vectors), dtype=np.int32)
            doc_rank[np.argsort(-(snap.doc_vectors @ qvec))] = np.arange(len(snap.doc_vectors))
            for idx in set(dense_rank) | set(sparse_rank) | set(named_rank):
                fused[idx] = self.options.doc_weight / (self.options.rrf_k + doc_rank[snap.doc_of[idx]] + 1)
        for weight, ranking in ((self.options.dense_weight, dense_rank), (self.options.sparse_weight, sparse_rank),
                                (self.options.named_weight, named_rank)):
            for r, idx in enumerate(ranking):
                fused[idx] = fused.get(idx, 0.0) + weight / (self.options.rrf_k + r + 1)
        # Equal fused scores are common (ranks 3 and 4 on one side, 4 and 3 on the other): the closer in meaning
        # first, so the order never rests on how a set happened to iterate.
        order = sorted(fused, key=lambda i: (-fused[i], -cos[i], i))[:k]
        best = -np.sort(np.partition(-cos, min(50, len(cos)) - 1)[:50])  # the 50 highest, descending
        margin = float(best[0] - best[20:50].mean()) if len(cos) > 20 else float(best[0] - cos.mean())
        hits = [
            Hit(chunk=snap.chunks[idx], score=fused[idx], dense=float(cos[idx]),
                sparse=float(sparse_scores[idx]), rank=r + 1)
            for r, idx in enumerate(order)
        ]
        return Retrieval(hits, margin, qvec)

    def _named(self, snap: Snapshot, base: list[str], n: int) -> list[int]:
        """The passages that write the question's rare names written as one (NAMED), by BM25 over those names."""
        names = [t for t in dict.fromkeys(base) if NAMED.fullmatch(t) and t in snap.vocab]
        if not names:
            return []
        scores = np.zeros(len(snap.chunks), dtype=np.float32)
        for name in names:
            found = snap.bm25.get_scores([name])
            if 0 < np.count_nonzero(found) <= self.options.named_passages:
                scores += found
        return [int(i) for i in np.argsort(-scores)[:n] if scores[i] > 0]

    def _bm25(self, snap: Snapshot, base: list[str], extra: list[str]) -> np.ndarray:
        scores = np.zeros(len(snap.chunks), dtype=np.float32)
        known = [t for t in base if t in snap.vocab]
        if known:
            scores += snap.bm25.get_scores(known)
        known_extra = [t for t in extra if t in snap.vocab]
        if known_extra and self.options.expansion_weight:
            scores += self.options.expansion_weight * snap.bm25.get_scores(known_extra)
        return scores
