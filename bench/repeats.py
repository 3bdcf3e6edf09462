"""How well the answers eval's "repeated" measure agrees with readers.

tests/data/repeat-pairs.jsonl holds 340 pairs of sentences that stood together in one development
answer (kqa's or composer v1's, at commit f356f9e), each labelled by a reader who saw only the
question and the two sentences: "restates" (the answer says it twice) or "adds". Two readers
labelled 190 pairs each, 40 of them both (they agreed on all 40). The pairs are every pair that
states one nugget ("shares a nugget"), every pair sharing much wording ("shares wording"), and a
sample of the pairs whose vectors are close but that share neither ("close vectors", weighted by
how many such pairs it stands for).

tests/data/repeat-pairs-2.jsonl holds 366 pairs of kqa's development answers at commit aa2bd51 (session 22), labelled
the same way by two readers (half each): every pair the measure flags, every pair stating one nugget, every pair whose
character pairs overlap 50% or more (of the shorter), and every pair with cosine ≥ 0.95.

`python -m bench.repeats` prints, for each file, the measure's precision and recall against the readers, weighted,
and how many answers have a pair the readers call a restatement (a floor: pairs outside the strata were not read)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.bot import Bot
from bot.evaluate import Question, Vector, _restates, load_questions, sentence_vectors
from bot.settings import Settings

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
FILES = ("repeat-pairs.jsonl", "repeat-pairs-2.jsonl")


def main() -> None:
    questions = {q.id: q for name in ("answers-dev.jsonl", "dev-ops.jsonl") for q in load_questions(DATA / name)}
    bot = Bot.open(Settings())
    bot.warm()
    vector = sentence_vectors(bot)
    print(json.dumps({name: score(name, questions, vector) for name in FILES}, ensure_ascii=False, indent=1))


def score(name: str, questions: dict[str, Question], vector: Vector) -> dict[str, object]:
    pairs = [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]
    hits = flagged = said = 0.0
    answers: dict[str, set[str]] = {"kqa": set(), "composer v1": set()}
    for p in pairs:
        q = questions[p["id"]]
        measure = _restates(p["a"], p["b"], q.vital + q.extra, vector)
        reader = p["label"] == "restates"
        hits += p["weight"] * (measure and reader)
        flagged += p["weight"] * measure
        said += p["weight"] * reader
        if reader:
            answers[p["system"]].add(p["id"])
    return {
        "pairs": len(pairs),
        "reader restatements (weighted)": round(said, 1),
        "measure precision": round(hits / flagged, 3) if flagged else None,
        "measure recall": round(hits / said, 3) if said else None,
        "answers with a reader-judged restatement (of 322, a floor)": {k: len(v) for k, v in answers.items() if v},
    }


if __name__ == "__main__":
    main()
