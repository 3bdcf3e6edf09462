"""Question → hits → an extractive, cited Answer. No LLM: the answer is a few of the
column's own sentences (chosen by bot.compose), each followed by the marker of the passage it is
quoted from; each citation lists every sentence the answer took from it (`quotes`, in answer
order). An English question gets a one-line English lead-in naming the lectures quoted; an answer
drawn from a note whose `## 现状` section speaks to its subject ends with that update.

When the evidence is weak the answer is a refusal that still lists the closest passages
(the rule: bot.refusal).

`gather` (retrieval and the refusal rule) and `extract` (sentence selection) are separate so
that a generated answer (bot.generate) can start from the same evidence and fall back to the
extractive answer, which is always computed first: it is the floor.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from bot.compose import (
    ASKS,
    CHANGE,
    COLUMN,
    FRAMING,
    UPDATE_SECTION,
    Candidate,
    Composer,
    holder,
    leans_on_before,
    says_again,
    terms_of,
    updates_of,
)
from bot.refusal import RARE_MENTIONS, RefusalOptions, refusal_text, refuse, signals
from bot.retrieve import Hit, Retriever, Snapshot
from bot.terms import is_chinese, normalize, tokens
from corpus.chunk import Chunk
from corpus.sentences import units_of

MARKER = re.compile(r"\[(\d+)\]")


class AnswerOptions(BaseModel):
    passages: int = Field(4, ge=1, le=20, description="Top passages whose sections the answer is drawn from.")
    max_sentences: int = Field(6, ge=1, le=12, description="Most sentences in an answer, beyond a section quoted "
                               "whole (a list, with the sentence announcing it, counts as one).")
    max_chars: int = Field(600, ge=50, description="Answer length budget in characters (a short section that is "
                           "the answer may take it a third further).")
    updates: bool = Field(True, description="End an answer with the 现状 (what changed since the column) line of "
                          "a quoted note when it speaks to the answer's subject.")
    originals: Literal["original-first", "notes-only", "both-equal"] = Field(
        "original-first", description="When the column's own text (`kind: column`: a reader's copy) and a note "
        "cover a point: quote the original and cite it first (`original-first`), never quote the originals "
        "(`notes-only`), or let the better match lead whichever it is (`both-equal`).")


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    title: str
    lecture: int | None
    section: str
    quote: str  # the first of `quotes`
    text: str
    score: float
    url: str | None
    quotes: list[str] = field(default_factory=list)  # every exact sentence quoted from `text`, in answer order
    page: int | None = None  # a PDF's: the printed page the first quote starts on


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    took_ms: float
    confidence: dict[str, float] = field(default_factory=dict)
    mode: str = "extractive"  # or "generated" (bot.generate)
    not_covered: list[str] = field(default_factory=list)  # a refusal's: what the column does not cover

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    query: np.ndarray | None = None  # the question's vector, as retrieval embedded it
    not_covered: tuple[str, ...] = ()  # when refused: what the question asks that the column does not cover


def gather(question: str, retriever: Retriever, options: AnswerOptions, refusal: RefusalOptions,
           top_k: int | None = None) -> Evidence:
    """Retrieval and the refusal rule, for a checked question."""
    started = time.perf_counter()
    found = retriever.retrieve(question, k=max(top_k or options.passages, refusal.citations, 5))
    hits = found.hits
    snap = retriever.snapshot()
    sig = signals(snap, question, found)
    confidence = {**sig.as_dict(), "fused": round(float(hits[0].score), 5) if hits else 0.0}
    refused = not hits or refuse(sig, refusal)
    ev = Evidence(question=question, hits=hits, passages=hits[: top_k or options.passages],
                  refused=refused, confidence=confidence, snapshot=snap, started=started, query=found.query,
                  not_covered=sig.not_covered(refusal) if refused else ())
    ev = without_originals(ev) if options.originals == "notes-only" else ev
    if not ev.refused and (asked := snap.lecture_asked(question)) is not None:
        # A question about a lecture itself is answered from the section of its note it asks for (Composer.compose);
        # a generated answer is drafted from that section too, not from the passages nearest in meaning.
        scores = {h.chunk.id: h.score for h in hits}
        own = [Hit(snap.chunks[i], scores.get(snap.chunks[i].id, 0.0), 0.0, 0.0, n)
               for n, i in enumerate(snap.section_chunks.get(asked, ()), 1)]
        ev = replace(ev, passages=own[: len(ev.passages)] or ev.passages)
    return ev


def extract(ev: Evidence, options: AnswerOptions, refusal: RefusalOptions) -> Answer:
    """The extractive answer (or the refusal) for the evidence."""
    question, hits, started = ev.question, ev.hits, ev.started
    if ev.refused:
        closest = [h for h in hits if lead(h)][: refusal.citations]
        cited = [(h.chunk, lead(h), h.score) for h in closest]
        named = in_passing(ev.snapshot, ev.not_covered)
        if named:  # where the column names what it does not cover comes first, quoted where it names it
            term, chunk, sentence = named
            cited = [(chunk, sentence, 0.0), *[c for c in cited if c[0].id != chunk.id][: refusal.citations - 1]]
            text = refusal_text(question, ev.not_covered, passing=(term, neighbour(chunk, question)))
        else:
            text = refusal_text(question, ev.not_covered, neighbour(closest[0].chunk, question) if closest else "")
        return Answer(
            question=question, answer=text, refused=True,
            citations=[cite(i + 1, chunk, [quote], score) for i, (chunk, quote, score) in enumerate(cited)],
            took_ms=ms_since(started), confidence=ev.confidence, not_covered=list(ev.not_covered),
        )
    chosen: list[tuple[Candidate | None, Chunk]] = list(
        Composer(ev.snapshot, question, ev.query, options.max_chars, options.max_sentences,
                 original_first=options.originals == "original-first").compose(ev.passages))
    if not chosen:
        first = next((h for h in hits if lead(h)), hits[0])
        chosen = [(None, first.chunk)]
    # What changed since the column comes last, marked: the 现状 lines chosen, or one that speaks to the subject.
    updates = [(c.unit.text, k) for c, k in chosen if c and c.section.name.startswith(UPDATE_SECTION)]
    chosen = [(c, k) for c, k in chosen if not (c and c.section.name.startswith(UPDATE_SECTION))]
    if chosen:  # (an answer of 现状 lines alone, "第 40 讲的现状是什么", is all update)
        updates = [(line, k) for line, k in updates if speaks_to(ev.snapshot, question, line)]
    if not updates and options.updates and chosen:
        found = latest(ev.snapshot, question, chosen)
        updates = [found] if found else []
    updates = saying_more(ev.snapshot, updates, [c for c, _ in chosen if c])
    scores = {h.chunk.id: h.score for h in hits}
    text, citations = render(question, chosen, updates, scores, lead(ev.passages[0]) if ev.passages else "")
    return Answer(question=question, answer=text, refused=False, citations=citations,
                  took_ms=ms_since(started), confidence=ev.confidence)


def saying_more(snap: Snapshot, updates: list[tuple[str, Chunk]], quoted: list[Candidate]) -> list[tuple[str, Chunk]]:
    """One fact once: the updates that say more than the quoted sentences. A line most of whose words a quoted
    sentence has adds nothing but its label; one that holds a quoted sentence and more ("code-generator 后来也用
    `kube_codegen.sh` 脚本取代了 `generate-groups.sh`" after "专栏中使用的是 `generate-groups.sh` 脚本") says what
    changed."""
    return [(line, k) for line, k in updates if not says_again(snap, (k.source, k.section, line), quoted, shorter=True)]


def without_originals(ev: Evidence) -> Evidence:
    """The evidence without the column's own texts: the next passages stand in for them."""
    hits = [h for h in ev.hits if h.chunk.kind != COLUMN]
    return replace(ev, hits=hits, passages=hits[: len(ev.passages)], refused=ev.refused or not hits)


def render(question: str, chosen: list[tuple[Candidate | None, Chunk]], updates: list[tuple[str, Chunk]],
           scores: dict[str, float], fallback: str) -> tuple[str, list[Citation]]:
    """The answer text, every unit followed by its marker, and the citations, numbered in order."""
    numbers: dict[str, int] = {}
    quotes: dict[str, list[str]] = {}
    chunks: dict[str, Chunk] = {}
    parts: list[str] = []
    prev: Candidate | None = None
    for cand, chunk in chosen:
        n = numbers.setdefault(chunk.id, len(numbers) + 1)
        chunks[chunk.id] = chunk
        unit_text = cand.unit.text if cand else fallback
        quotes.setdefault(chunk.id, []).append(unit_text)
        parts.append(_joined(cand, prev, unit_text, n))
        prev = cand
    for i, (line, chunk) in enumerate(updates):
        n = numbers.setdefault(chunk.id, len(numbers) + 1)
        chunks[chunk.id] = chunk
        quotes.setdefault(chunk.id, []).append(line)
        label = ("现状：" if is_chinese(question) else "Update: ") if i == 0 else ""
        parts.append(("\n" if i == 0 and parts else "") + f"{label}{line}[{n}]")
    text = "".join(parts).strip()
    if not is_chinese(question):
        text = lead_in([chunks[i] for i in numbers]) + "\n" + text
    citations = [cite(n, chunks[cid], quotes[cid], scores.get(cid, 0.0)) for cid, n in numbers.items()]
    return text, citations


def _joined(cand: Candidate | None, prev: Candidate | None, text: str, n: int) -> str:
    """A unit with its marker, after the one before: list items and code blocks on lines of their
    own (a code block's marker on the line after its closing fence, so the block stays valid)."""
    kind = cand.unit.kind if cand else "sentence"
    part = f"{text}[{n}]"
    if kind == "item":
        return "\n- " + part
    if kind == "code":
        return f"\n{text}\n[{n}]\n"
    if prev is not None and prev.unit.kind in ("item", "code"):
        return "\n" + part
    if cand is not None and prev is not None and prev.section is cand.section \
            and prev.unit.paragraph != cand.unit.paragraph:
        return "\n" + part
    return part if is_chinese(part[:4]) else " " + part


def neighbour(chunk: Chunk, question: str) -> str:
    """How a refusal names the closest thing the column has: the lecture and section of a note, or
    the FAQ entry (its title is a question, not the lecture's title)."""
    where = " › ".join(p for p in (chunk.title, chunk.section) if p)
    faq = chunk.source.startswith("faq/")
    if is_chinese(question):
        if faq:
            return f"FAQ《{chunk.title}》"
        return f"{lecture_tag(chunk.lecture).strip()}《{where}》" if chunk.lecture is not None else f"《{where}》"
    if faq:
        return f"the FAQ entry “{chunk.title}”"
    return f"lecture {chunk.lecture} ({where})" if chunk.lecture is not None else f"“{where}”"


def lead_in(chunks: list[Chunk]) -> str:
    """An English reader's first line: what follows is quoted from the column's Chinese notes, and
    from which lectures (a FAQ entry counts for the lecture it belongs to)."""
    lectures = list(dict.fromkeys(c.lecture for c in chunks if c.lecture is not None))
    notes = {c.lecture: c.title for c in chunks if c.lecture is not None and not c.source.startswith("faq/")}
    kinds = {"FAQ" if c.source.startswith("faq/") else "notes" for c in chunks}
    source = "the column's Chinese " + " and ".join(k for k in ("notes", "FAQ") if k in kinds)  # only what it quotes
    if not lectures:
        return f"Quoted from {source}:"
    if len(lectures) == 1:
        title = f" ({notes[lectures[0]]})" if lectures[0] in notes else ""
        return f"Quoted from {source} on lecture {lectures[0]}{title}:"
    named = ", ".join(str(n) for n in lectures[:-1]) + f" and {lectures[-1]}"
    return f"Quoted from {source} on lectures {named}:"


def latest(snap: Snapshot, question: str, chosen: list[tuple[Candidate | None, Chunk]]) -> tuple[str, Chunk] | None:
    """The 现状 line of a quoted file that speaks to the answer's subject, if any: it must share a
    distinctive term (rare in the corpus) with the question or the quoted sentences."""
    quoted = " ".join(c.unit.text for c, _ in chosen if c)
    # A question about what became of it ("后来怎么样了", "还能用吗") is about the 现状 itself: a line
    # sharing any of its words but the commonest speaks to it.
    asked = rare_terms(snap, tokens(question), SPEAKS_IDF if FATE.search(question) else RARE_IDF)
    wanted = asked | rare_terms(snap, (t for c, _ in chosen if c for t in terms_of(snap, c.unit.text)[0]))
    if not asked:
        return None  # it must speak to what was asked, not only to what happened to be quoted
    chinese = is_chinese(question)
    best: tuple[float, str, Chunk] | None = None
    for source in dict.fromkeys(chunk.source for _, chunk in chosen):
        for sec in updates_of(snap, source):
            for unit in sec.units:
                if unit.kind == "code" or unit.text in quoted:
                    continue
                have = terms_of(snap, unit.text)[1]
                shared = wanted & have
                weight = sum(snap.idf[t] for t in shared)
                # A word the line writes only as code (`START REPLICA`) is not what an English question's prose
                # word ("the app starts") asks about.
                said = have if chinese else terms_of(snap, CODE_SPAN.sub(" ", unit.text))[1]
                if asked & said and (best is None or weight > best[0]):
                    holder_chunk = holder(sec, unit)
                    if holder_chunk is not None:
                        best = (weight, unit.text, holder_chunk)
    return (best[1], best[2]) if best else None


CODE_SPAN = re.compile(r"`[^`]*`")
RARE_IDF = 4.0  # a term in fewer than ~2% of passages
FATE = re.compile(r"后来|如今|目前|现状|现在还|最新|还能用|还在用|还有用|nowadays|these days|today", re.I)
SPEAKS_IDF = 1.0  # ... in fewer than ~45%: what the question shares with a line must not be a word of every passage
NUMBER = re.compile(r"v?[\d.]+")


def rare_terms(snap: Snapshot, terms: Iterable[str], rare: float = RARE_IDF) -> set[str]:
    """The distinctive ones of `terms`, without version numbers and words of change (弃用, removed):
    a 现状 line about apt repositories shares "1.30" and "弃用" with a question about dockershim in
    1.30, and is still about something else."""
    return {t for t in terms if snap.idf.get(t, 0.0) >= rare and not NUMBER.fullmatch(t) and not CHANGE.fullmatch(t)}


def speaks_to(snap: Snapshot, question: str, line: str) -> bool:
    """A 现状 line speaks to what was asked: they share a term other than a version number, a word of
    change or a word of nearly every passage (what was quoted is no guide: it shares words such as
    当作 with any line)."""
    return bool(rare_terms(snap, tokens(question), SPEAKS_IDF) & rare_terms(snap, terms_of(snap, line)[0], SPEAKS_IDF))


def in_passing(snap: Snapshot, terms: Iterable[str]) -> tuple[str, Chunk, str] | None:
    """A term the refusal names that the column mentions in passing (RARE_MENTIONS times), with the passage and
    the sentence that mention it: the reader learns the column knows the name and says no more ("Velero" in the
    etcd-backup entry's list of what a snapshot leaves out)."""
    for term in terms:
        key = normalize(term)
        if not 0 < snap.count(key) <= RARE_MENTIONS:
            continue
        word = re.compile(rf"(?<![a-z0-9]){re.escape(key)}(?![a-z0-9])" if key.isascii() else re.escape(key))
        for chunk in snap.chunks:
            if key not in normalize(chunk.text):
                continue
            for unit in units_of(chunk.text):
                if unit.kind != "code" and word.search(normalize(unit.text)):
                    return term, chunk, unit.text
    return None


def lead(hit: Hit) -> str:
    """The passage's first sentence of prose that says something (never a code fence or a heading,
    a lecture's framing or a question), and stands on its own when one does (not "第六步，检查 NetworkPolicy。"
    or "因此…" out of its list or argument), or ""."""
    return _lead(hit.chunk.text)


@lru_cache(maxsize=1 << 12)  # an answer asks for its passages' leads, and the same passages come back
def _lead(text: str) -> str:
    prose = [u.text for u in units_of(text) if u.kind != "code" and len(u.text) >= 8]
    says = [t for t in prose if not FRAMING.search(t) and not ASKS.search(t)]
    alone = [t for t in says if not leans_on_before(t)]
    return (alone or says or prose or [""])[0]


def cite(n: int, chunk: Chunk, quotes: list[str], score: float) -> Citation:
    quote = quotes[0] if quotes else ""
    return Citation(n=n, source=chunk.source, title=chunk.title, lecture=chunk.lecture, section=chunk.section,
                    quote=quote, text=chunk.text, score=round(score, 5), url=chunk.url, quotes=quotes,
                    page=chunk.page_at(max(0, chunk.text.find(quote))))


def lecture_tag(lecture: int | None) -> str:
    """"第06讲 " for a lecture, "" for none: how citations name lectures everywhere."""
    return f"第{lecture:02d}讲 " if lecture is not None else ""


def place(lecture: int | None, title: str, section: str, source: str) -> str:
    """Where a cited passage is, as the CLI and Slack name it: "第06讲 Cgroups › CPU" for a note; a FAQ entry as
    one ("FAQ（第37讲）kube-proxy 的…？"), as its title is a reader's question, not the lecture's title (a reader
    took "第37讲 <the entry's question> ›" for the lecture's). The section only when it has a name of its own."""
    if not source.startswith("faq/"):
        tag = lecture_tag(lecture)
    elif lecture is None:
        tag = "FAQ "
    else:
        tag = f"FAQ（{lecture_tag(lecture).strip()}）"
    return tag + title + (f" › {section}" if section and section != title else "")


def ms_since(started: float) -> float:
    """Milliseconds since `started` (a perf_counter reading), as answers report them."""
    return round((time.perf_counter() - started) * 1000, 2)
