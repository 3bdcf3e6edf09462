"""`kqa eval`: doc-level retrieval quality, refusal and latency on a question set; with
`--answers`, whether the answers answer (the nugget method of TREC's RAG track).

Each question line: {"id", "q", "lang": "zh"|"en", "gold": [lecture numbers or source paths], "kind"};
an empty gold means the corpus cannot answer it (it should be refused). An answer-level set adds
"vital" (and "extra") nuggets: {"fact", "patterns": [regex, ...], "evidence": [...]}; a nugget is
stated by an answer when any of its patterns matches the answer's text (tests/data/README.md).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bot.answer import MARKER, extract, gather, ms_since
from bot.baselines import best_passage, composer_v1
from bot.bot import Bot
from bot.retrieve import Hit


@dataclass(frozen=True)
class Nugget:
    fact: str
    patterns: tuple[re.Pattern[str], ...]

    def stated_in(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)


@dataclass(frozen=True)
class Question:
    id: str
    q: str
    lang: str
    gold: tuple[int | str, ...]
    kind: str = ""
    vital: tuple[Nugget, ...] = field(default=(), repr=False)
    extra: tuple[Nugget, ...] = field(default=(), repr=False)

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def load_questions(path: Path) -> list[Question]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            out.append(Question(str(row.get("id", n)), row["q"], row.get("lang", "zh"), tuple(row.get("gold", [])),
                                row.get("kind", ""), _nuggets(row.get("vital")), _nuggets(row.get("extra"))))
    return out


def _nuggets(rows: list[dict[str, Any]] | None) -> tuple[Nugget, ...]:
    return tuple(Nugget(r["fact"], tuple(re.compile(p, re.I | re.S) for p in r["patterns"])) for r in rows or ())


def doc_key(hit: Hit, gold: tuple[int | str, ...]) -> str | int:
    """Lecture number when the gold speaks in lectures, else the source path."""
    if gold and all(isinstance(g, int) for g in gold) and hit.chunk.lecture is not None:
        return hit.chunk.lecture
    return hit.chunk.source


def ranked_docs(hits: Iterable[Hit], gold: tuple[int | str, ...]) -> list[int | str]:
    return list(dict.fromkeys(doc_key(h, gold) for h in hits))


def rank_metrics(docs: list[int | str], gold: tuple[int | str, ...]) -> dict[str, float]:
    first = next((i for i, d in enumerate(docs[:10]) if d in gold), None)
    return {
        "hit@1": float(first == 0),
        "hit@5": float(first is not None and first < 5),
        "mrr@10": 0.0 if first is None else 1.0 / (first + 1),
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """rows: {lang, answerable, hit@1, hit@5, mrr@10, refused, search_ms, ask_ms}."""
    def block(sel: list[dict[str, Any]]) -> dict[str, Any]:
        ans = [r for r in sel if r["answerable"]]
        una = [r for r in sel if not r["answerable"]]
        out: dict[str, Any] = {"questions": len(sel), "answerable": len(ans), "unanswerable": len(una)}
        for m in ("hit@1", "hit@5", "mrr@10"):
            out[m] = round(float(np.mean([r[m] for r in ans])), 4) if ans else None
        out["refused_unanswerable"] = round(float(np.mean([r["refused"] for r in una])), 4) if una else None
        out["false_refusal"] = round(float(np.mean([r["refused"] for r in ans])), 4) if ans else None
        for t in ("search_ms", "ask_ms"):
            vals = [r[t] for r in sel if r.get(t) is not None]
            if vals:
                out[f"{t}_p50"] = round(float(np.percentile(vals, 50)), 2)
                out[f"{t}_p95"] = round(float(np.percentile(vals, 95)), 2)
        return out

    langs = sorted({r["lang"] for r in rows})
    kinds = sorted({r["kind"] for r in rows if not r["answerable"]})
    return {"overall": block(rows), **{lang: block([r for r in rows if r["lang"] == lang]) for lang in langs},
            "refused by kind": {k: _mean(r["refused"] for r in rows if r["kind"] == k and not r["answerable"])
                                for k in kinds}}


def run(questions: list[Question], search: Callable[[str], list[Hit]],
        refuse: Callable[[str], bool] | None = None, progress: bool = True) -> list[dict[str, Any]]:
    rows = []
    for q in tqdm(questions, desc="eval", unit="q", disable=not progress):
        t0 = time.perf_counter()
        hits = search(q.q)
        t1 = time.perf_counter()
        refused = refuse(q.q) if refuse else False
        t2 = time.perf_counter()
        row = {"id": q.id, "lang": q.lang, "kind": q.kind, "answerable": q.answerable, "refused": float(refused),
               "search_ms": (t1 - t0) * 1000, "ask_ms": (t2 - t1) * 1000 if refuse else None,
               "top": hits[0].chunk.source if hits else None,
               "dense": hits[0].dense if hits else 0.0}
        row.update(rank_metrics(ranked_docs(hits, q.gold), q.gold) if q.answerable else
                   {"hit@1": 0.0, "hit@5": 0.0, "mrr@10": 0.0})
        rows.append(row)
    return rows


def evaluate(bot: Bot, questions: list[Question], progress: bool = True) -> dict[str, Any]:
    bot.warm()
    options = bot.settings

    def refused(q: str) -> bool:
        # the refusal rule alone: a configured chat model (KQA_LLM__*) is not asked for every question
        return gather(bot.check(q), bot.retriever, options.answer, options.refusal).refused

    rows = run(questions, lambda q: bot.search(q, k=20), refused, progress)
    return {"summary": summarize(rows), "rows": rows}


def render(report: dict[str, Any]) -> str:
    cols = ["questions", "hit@1", "hit@5", "mrr@10", "refused_unanswerable", "false_refusal",
            "search_ms_p50", "search_ms_p95", "ask_ms_p50", "ask_ms_p95"]
    lines = ["| set | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for name, block in report["summary"].items():
        if name == "refused by kind":
            continue
        cells = ["" if block.get(c) is None else str(block.get(c)) for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    kinds = report["summary"].get("refused by kind") or {}
    if kinds:
        lines += ["", "unanswerable refused, by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items())]
    return "\n".join(lines)


# Answers: do they answer?

SEGMENT = re.compile(r"(.*?)((?:\[\d+\])+)", re.S)  # a stretch of answer and the markers closing it
LIST_START = re.compile(r"^(?:[-*•]\s|1[.)、]\s?|（?1）|第一|首先|其一|一是)")
SENTENCE_END = re.compile(r"(?<=[。！？])|\n")
LABELS = ("现状：", "Update: ")  # what the composer may put before a quoted update


def segments(answer: str) -> list[tuple[str, list[int]]]:
    """The answer's quoted stretches, each with the markers that close it; a first line without
    markers (an English answer's lead-in, not a code fence) is left out."""
    first, _, rest = answer.partition("\n")
    # A first line that opens a code block is the answer's first quote, not a lead-in.
    body = rest if rest and not MARKER.search(first) and not first.startswith("```") else answer
    return [(m.group(1).strip(), [int(n) for n in re.findall(r"\d+", m.group(2))])
            for m in SEGMENT.finditer(body) if m.group(1).strip()]


Vector = Callable[[str], "np.ndarray | None"]


def judge(q: Question, answer: str, vector: Vector = lambda _: None) -> dict[str, Any]:
    """The nugget figures of one answer to one question (`vector`: a sentence's embedding, for
    telling a restatement from a sentence that adds to the same fact)."""
    plain = MARKER.sub("", answer)
    stated = [n.stated_in(plain) for n in q.vital]
    raw = [text for text, _ in segments(answer)] or [plain]
    # Sentences, not code: a command shown after the sentence that describes it is not the fact said twice.
    parts = [_bare(text) for text in raw if not text.lstrip().startswith("```")]
    nuggets = q.vital + q.extra
    repeated = any(_restates(a, b, nuggets, vector) for a, b in combinations(parts, 2))
    last = raw[-1].strip()
    first_item = bool(LIST_START.match(last)) and len(raw) > 1 and not LIST_START.match(raw[-2].strip())
    # The reader's first sentence: does it already state a vital fact, or does the answer get there later?
    # (A stretch may hold several sentences: the best-passage baseline carries one marker for all of them.)
    first = next((t for t in SENTENCE_END.split(parts[0]) if t.strip()), "") if parts else ""
    leads = any(n.stated_in(first) for n in q.vital)
    return {"vital": sum(stated) / len(stated) if stated else 0.0, "full": all(stated) if stated else False,
            "leads": leads, "chars": len(plain.strip()), "repeated": repeated,
            "bad_end": last.endswith(("；", "：", ";", ":")) or first_item}


def _bare(text: str) -> str:
    """A quoted stretch without what the composer puts before it (a list mark, a label)."""
    text = text.removeprefix("- ")
    for label in LABELS:
        text = text.removeprefix(label)
    return text


def cited_exactly(answer: str, quotes: dict[int, list[str]]) -> bool:
    """Every stretch of the answer is followed by markers whose citations quote that exact stretch."""
    parts = segments(answer)
    if not parts:
        return False
    return all(all(_bare(text) in quotes.get(n, []) for n in numbers) for text, numbers in parts)


SAME_THING = 0.94  # cosine of two sentences stating one nugget above which one only restates the other


def _restates(a: str, b: str, nuggets: tuple[Nugget, ...], vector: Vector) -> bool:
    """Two stretches say the same thing: both state one nugget and mean nearly the same (a
    sentence that adds a detail to the same fact does not count), or they are nearly the same text."""
    grams = [{x[i : i + 2] for i in range(len(x) - 1)} for x in (a, b)]
    union = grams[0] | grams[1]
    if union and len(grams[0] & grams[1]) / len(union) >= 0.5:
        return True
    if not any(n.stated_in(a) and n.stated_in(b) for n in nuggets):
        return False
    va, vb = vector(a), vector(b)
    return va is None or vb is None or float(va @ vb) >= SAME_THING


def evaluate_answers(bot: Bot, questions: list[Question], progress: bool = True) -> dict[str, Any]:
    """kqa's extractive answers against two baselines on the same retrieval, question by question."""
    bot.warm()
    options = bot.settings
    vector = sentence_vectors(bot)
    rows = []
    for q in tqdm([q for q in questions if q.vital], desc="answers", unit="q", disable=not progress):
        started = time.perf_counter()
        ev = gather(bot.check(q.q), bot.retriever, options.answer, options.refusal)
        gathered = time.perf_counter()
        ans = extract(ev, options.answer, options.refusal)
        composed = ms_since(gathered)
        t = time.perf_counter()
        v1 = ans.answer if ans.refused else composer_v1(ev)
        v1_ms = ms_since(t)
        best = ans.answer if ans.refused else best_passage(ev, options.answer.max_chars)
        quotes = {c.n: c.quotes for c in ans.citations}
        rows.append({
            "id": q.id, "lang": q.lang, "kind": q.kind, "question": q.q, "refused": ans.refused,
            "gather_ms": (gathered - started) * 1000, "kqa_ms": composed, "v1_ms": v1_ms,
            "kqa": {**judge(q, ans.answer, vector), "answer": ans.answer,
                    "cited_exactly": not ans.refused and cited_exactly(ans.answer, quotes)},
            "best passage": {**judge(q, best, vector), "answer": best},
            "composer v1": {**judge(q, v1, vector), "answer": v1},
        })
    return {"summary": summarize_answers(rows), "rows": rows}


def sentence_vectors(bot: Bot) -> Vector:
    """A sentence's vector: the index's own when it holds that sentence, else embedded now."""
    snap = bot.retriever.snapshot()
    rows = {text: row for (_, _, text), row in snap.unit_rows.items()}
    made: dict[str, np.ndarray] = {}

    def vector(text: str) -> np.ndarray | None:
        if text in rows:
            return np.asarray(snap.unit_vectors[rows[text]])
        if text not in made:
            made[text] = bot.embedder.encode_passages([text])[0]
        return made[text]

    return vector


def summarize_answers(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def block(sel: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"questions": len(sel), "refused": sum(r["refused"] for r in sel)}
        for system in ("kqa", "best passage", "composer v1"):
            judged = [r[system] for r in sel]
            out[system] = {
                "vital_recall": _mean(j["vital"] for j in judged), "fully_answered": _mean(j["full"] for j in judged),
                "answer_first": _mean(j["leads"] for j in judged),
                "chars": round(_mean(j["chars"] for j in judged) or 0.0, 1),
                "repeated": _mean(j["repeated"] for j in judged), "bad_end": sum(j["bad_end"] for j in judged),
            }
        out["kqa"]["cited_exactly"] = _mean(r["kqa"]["cited_exactly"] for r in sel if not r["refused"])
        for name, key in (("kqa", "kqa_ms"), ("composer v1", "v1_ms")):
            out[name]["ask_ms_p50"] = round(float(np.percentile([r["gather_ms"] + r[key] for r in sel], 50)), 2) \
                if sel else None
        return out

    langs = sorted({r["lang"] for r in rows})
    return {"overall": block(rows), **{lang: block([r for r in rows if r["lang"] == lang]) for lang in langs}}


def render_answers(report: dict[str, Any]) -> str:
    cols = ["vital_recall", "fully_answered", "answer_first", "chars", "repeated", "bad_end", "cited_exactly",
            "ask_ms_p50"]
    lines = ["| set | system | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for name, block in report["summary"].items():
        for system in ("kqa", "best passage", "composer v1"):
            cells = ["" if block[system].get(c) is None else str(block[system].get(c)) for c in cols]
            lines.append(f"| {name} ({block['questions']}) | {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean(values: Iterable[float | bool]) -> float | None:
    vals = [float(v) for v in values]
    return round(sum(vals) / len(vals), 4) if vals else None
