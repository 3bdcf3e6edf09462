"""Question → hits → an extractive, cited Answer. No LLM: the answer is a few of the
column's own sentences, each followed by the marker of the passage it came from.

When the evidence is weak the answer is a refusal that still lists the closest passages
(the rule: bot.refusal).

`gather` (retrieval and the refusal rule) and `extract` (sentence selection) are separate so
that a generated answer (bot.generate) can start from the same evidence and fall back to the
extractive answer, which is always computed first: it is the floor.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from bot.refusal import RefusalOptions, refusal_text, refuse, signals
from bot.retrieve import Hit, Retriever, Snapshot
from bot.terms import CJK_RUN, query_terms, tokens
from corpus.chunk import split_blocks, split_sentences

LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
TABLE_ROW = re.compile(r"^\s*\|")


class AnswerOptions(BaseModel):
    passages: int = Field(4, ge=1, le=20, description="Top passages that sentences are drawn from.")
    max_sentences: int = Field(4, ge=1, le=10, description="Most sentences in an answer.")
    max_chars: int = Field(400, ge=50, description="Answer length budget in characters.")


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    title: str
    lecture: int | None
    section: str
    quote: str
    text: str
    score: float
    url: str | None


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    took_ms: float
    confidence: dict[str, float] = field(default_factory=dict)
    mode: str = "extractive"  # or "generated" (bot.generate)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sentence:
    hit_rank: int
    start: int
    text: str
    score: float
    index: int = 0


def is_chinese(text: str) -> bool:
    return bool(CJK_RUN.search(text))


@dataclass(frozen=True)
class Evidence:
    """What an answer is built from: the retrieved hits, the passages drawn on, and whether
    the refusal rule refuses."""

    question: str
    hits: list[Hit]  # everything retrieved, best first
    passages: list[Hit]  # the top hits an answer is drawn from
    refused: bool
    confidence: dict[str, float]
    snapshot: Snapshot
    started: float


def gather(question: str, retriever: Retriever, options: AnswerOptions, refusal: RefusalOptions,
           top_k: int | None = None) -> Evidence:
    """Retrieval and the refusal rule, for a checked question."""
    started = time.perf_counter()
    found = retriever.retrieve(question, k=max(top_k or options.passages, refusal.citations, 5))
    hits = found.hits
    snap = retriever.snapshot()
    sig = signals(snap, question, found)
    confidence = {**sig.as_dict(), "fused": round(float(hits[0].score), 5) if hits else 0.0}
    return Evidence(question=question, hits=hits, passages=hits[: top_k or options.passages],
                    refused=not hits or refuse(sig, refusal), confidence=confidence, snapshot=snap,
                    started=started)


def extract(ev: Evidence, options: AnswerOptions, refusal: RefusalOptions) -> Answer:
    """The extractive answer (or the refusal) for the evidence."""
    question, hits, started = ev.question, ev.hits, ev.started
    if ev.refused:
        return Answer(
            question=question, answer=refusal_text(question), refused=True,
            citations=[cite(i + 1, h, lead(h)) for i, h in enumerate(hits[: refusal.citations])],
            took_ms=ms_since(started), confidence=ev.confidence,
        )
    base, extra = query_terms(question)
    chosen = _choose(ev.snapshot, ev.passages, base, extra, options) or [
        Sentence(hits[0].rank, 0, lead(hits[0]), 0.0)
    ]
    numbers: dict[int, int] = {}
    quotes: dict[int, Sentence] = {}
    parts = []
    for s in chosen:
        n = numbers.setdefault(s.hit_rank, len(numbers) + 1)
        if s.hit_rank not in quotes or s.score > quotes[s.hit_rank].score:
            quotes[s.hit_rank] = s
        parts.append(f"{s.text}[{n}]")
    text = _join(parts)
    by_rank = {h.rank: h for h in hits}
    citations = [cite(n, by_rank[rank], quotes[rank].text) for rank, n in numbers.items()]
    return Answer(question=question, answer=text, refused=False, citations=citations,
                  took_ms=ms_since(started), confidence=ev.confidence)


def candidates(hit: Hit) -> list[tuple[int, str]]:
    """(offset, sentence) pairs of a passage's prose, list marks stripped, code skipped."""
    out, pos = [], 0
    for block, is_code in split_blocks(hit.chunk.text):
        if not is_code:
            at = pos
            for sent in split_sentences(block):
                clean = LIST_MARK.sub("", sent).strip()
                if len(clean) >= 8 and not TABLE_ROW.match(sent) and not clean.startswith("#"):
                    out.append((at + sent.index(clean), clean))
                at += len(sent)
        pos += len(block)
    return out


def _choose(snap: Snapshot, hits: list[Hit], base: list[str], extra: list[str], options: AnswerOptions
            ) -> list[Sentence]:
    """The best sentence, then the next best, preferring its neighbours (they explain it)."""
    weights = {t: snap.idf.get(t, 1.0) for t in base}
    weights.update({t: 0.5 * snap.idf.get(t, 1.0) for t in extra if t not in weights})
    total = sum(weights.values()) or 1.0
    scored: list[Sentence] = []
    for hit in hits:
        prior = 1.0 / (1.0 + 0.4 * (hit.rank - 1))
        for i, (start, text) in enumerate(candidates(hit)):
            found = set(tokens(text))
            match = sum(w for t, w in weights.items() if t in found) / total
            scored.append(Sentence(hit.rank, start, text, prior * (0.25 + match) - 0.01 * i, i))
    if not scored:
        return []
    best = max(scored, key=lambda s: s.score)
    chosen, used = [best], len(best.text)

    def rank(s: Sentence) -> float:
        near = s.hit_rank == best.hit_rank and abs(s.index - best.index) == 1
        return s.score + (0.15 * best.score if near else 0.0)

    for s in sorted((s for s in scored if s is not best), key=rank, reverse=True):
        if len(chosen) >= options.max_sentences:
            break
        if used + len(s.text) > options.max_chars or (len(chosen) >= 2 and rank(s) < 0.45 * best.score):
            continue
        if any(_similar(s.text, c.text) for c in chosen):
            continue
        chosen.append(s)
        used += len(s.text)
    # Reading order: files in order of their best passage, and within a file, by position.
    by_rank = {h.rank: h.chunk for h in hits}
    file_order: dict[str, int] = {}
    for s in sorted(chosen, key=lambda s: s.hit_rank):
        file_order.setdefault(by_rank[s.hit_rank].source, len(file_order))
    return sorted(chosen, key=lambda s: (file_order[by_rank[s.hit_rank].source], by_rank[s.hit_rank].start + s.start))


def _similar(a: str, b: str) -> bool:
    grams = [{x[i : i + 2] for i in range(len(x) - 1)} for x in (a, b)]
    union = grams[0] | grams[1]
    return bool(union) and len(grams[0] & grams[1]) / len(union) > 0.6


def lead(hit: Hit) -> str:
    cands = candidates(hit)
    return cands[0][1] if cands else hit.chunk.text.strip().splitlines()[0]


def cite(n: int, hit: Hit, quote: str) -> Citation:
    c = hit.chunk
    return Citation(n=n, source=c.source, title=c.title, lecture=c.lecture, section=c.section, quote=quote,
                    text=c.text, score=round(hit.score, 5), url=c.url)


def _join(parts: list[str]) -> str:
    out = ""
    for part in parts:
        out += part if not out or (is_chinese(out[-8:]) and is_chinese(part[:4])) else " " + part
    return out


def lecture_tag(lecture: int | None) -> str:
    """"第06讲 " for a lecture, "" for none: how citations name lectures everywhere."""
    return f"第{lecture:02d}讲 " if lecture is not None else ""


def ms_since(started: float) -> float:
    """Milliseconds since `started` (a perf_counter reading), as answers report them."""
    return round((time.perf_counter() - started) * 1000, 2)
