"""`kqa eval`: doc-level retrieval quality, refusal and latency on a question set.

Each question line: {"id", "q", "lang": "zh"|"en", "gold": [lecture numbers or source paths], "kind"};
an empty gold means the corpus cannot answer it (it should be refused).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bot.answer import gather
from bot.bot import Bot
from bot.retrieve import Hit


@dataclass(frozen=True)
class Question:
    id: str
    q: str
    lang: str
    gold: tuple[int | str, ...]
    kind: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def load_questions(path: Path) -> list[Question]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            out.append(Question(str(row.get("id", n)), row["q"], row.get("lang", "zh"), tuple(row.get("gold", [])),
                                row.get("kind", "")))
    return out


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
    return {"overall": block(rows), **{lang: block([r for r in rows if r["lang"] == lang]) for lang in langs}}


def run(questions: list[Question], search: Callable[[str], list[Hit]],
        refuse: Callable[[str], bool] | None = None, progress: bool = True) -> list[dict[str, Any]]:
    rows = []
    for q in tqdm(questions, desc="eval", unit="q", disable=not progress):
        t0 = time.perf_counter()
        hits = search(q.q)
        t1 = time.perf_counter()
        refused = refuse(q.q) if refuse else False
        t2 = time.perf_counter()
        row = {"id": q.id, "lang": q.lang, "answerable": q.answerable, "refused": float(refused),
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
        cells = ["" if block.get(c) is None else str(block.get(c)) for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
