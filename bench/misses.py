"""Where the vital facts the extractive answers miss sit, by how far the answer was from them.

Each nugget of the answer sets names the corpus sentence that states it (`evidence`: source and
sentence). For every vital nugget an answer does not state, this finds the section holding that
sentence and says where it sits against the answer: in a section the answer quotes, in another
section of a file it quotes, in a file among the passages the answer is drawn from, in the
retrieved hits ranked 5-20, or not retrieved at all (or the question was refused). The nearer the
category, the more the miss is the composer's; the farther, the more it is retrieval's.

`python -m bench.misses` (the 322 development questions; `--list` prints every miss), or name the
sets: `python -m bench.misses tests/data/answers-dev-en.jsonl`."""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bot.answer import MARKER, extract, gather
from bot.bot import Bot
from bot.compose import section
from bot.evaluate import load_questions
from bot.retrieve import Snapshot
from bot.settings import Settings

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = (DATA / "answers-dev.jsonl", DATA / "dev-ops.jsonl")
SEARCHED = 20  # hits looked through for the evidence beyond the passages

# From nearest to farthest: a miss counts once, at the nearest place any of its evidence sits.
PLACES = ("in a section the answer quotes", "in another section of a file it quotes",
          "in a passage's file it does not quote", "retrieved at ranks 5-20", "not retrieved")


def where(evidence: Iterable[tuple[str, str | None]], quoted: set[tuple[str, str]], passages: set[str],
          retrieved: set[str]) -> str:
    """The nearest place of a fact's evidence (source, section) to an answer that quotes the sections
    `quoted`, drawn from the files `passages`, with the files `retrieved` further down the hits."""
    files = {source for source, _ in quoted}

    def rank(source: str, name: str | None) -> int:
        if (source, name) in quoted:
            return 0
        if source in files:
            return 1
        if source in passages:
            return 2
        return 3 if source in retrieved else 4

    ranks = [rank(s, n) for s, n in evidence]
    return PLACES[min(ranks)] if ranks else "no evidence given"


def section_of(snap: Snapshot, source: str, sentence: str) -> str | None:
    """The name of the section of `source` that holds `sentence` (None when the index lacks it)."""
    probe = re.sub(r"\s+", "", sentence)[:30]
    for key in snap.file_sections.get(source, []):
        if probe in re.sub(r"\s+", "", section(snap, key).text):
            return key[1]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", type=Path, default=list(SETS))
    parser.add_argument("--list", action="store_true", help="print every miss with its place")
    args = parser.parse_args()
    bot = Bot.open(Settings())
    bot.warm()
    snap = bot.retriever.snapshot()
    places: Counter[str] = Counter()
    missed = total = 0
    for path in args.sets:
        evidence = {row["id"]: [[(e["source"], e["sentence"]) for e in n.get("evidence", [])] for n in row["vital"]]
                    for row in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if row.get("vital")}
        for q in load_questions(path):
            if not q.vital:
                continue
            # As the answers eval asks: retrieval, the refusal rule and the extractive answer, no chat model.
            ev = gather(bot.check(q.q), bot.retriever, bot.settings.answer, bot.settings.refusal)
            answer = extract(ev, bot.settings.answer, bot.settings.refusal)
            plain = MARKER.sub("", answer.answer)
            quoted = {(c.source, c.section) for c in answer.citations}
            passages = {h.chunk.source for h in ev.passages}
            retrieved = {h.chunk.source for h in bot.search(q.q, k=SEARCHED)}
            for nugget, sentences in zip(q.vital, evidence[q.id], strict=True):
                total += 1
                if nugget.stated_in(plain):
                    continue
                missed += 1
                place = "refused" if answer.refused else where(
                    [(s, section_of(snap, s, text)) for s, text in sentences], quoted, passages, retrieved)
                places[place] += 1
                if args.list:
                    print(f"{place:40s} {q.id:10s} {q.q[:40]} | {nugget.fact[:60]}")
    print(json.dumps({"vital facts": total, "missed": missed,
                      "where": {p: places[p] for p in ("refused", *PLACES, "no evidence given") if places[p]}},
                     ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
