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

tests/data/repeat-answers.jsonl holds all 322 development answers at commit 0a2a082 (session 23), each read whole by two
readers (three pairs of readers, a third of the answers each) who saw only the question and the answer and said whether
it says one thing twice, and which two sentences. Pairs of sentences undercount: the whole answers hold far more
restatements than the pair strata found.

`python -m bench.repeats` prints, for each pair file, the measure's precision and recall against the readers,
weighted, and how many answers have a pair the readers call a restatement (a floor: pairs outside the strata were not
read). For the whole answers it prints the readers' share (either reader, both), their agreement, the measure's
agreement by answer, and today's answers: those unchanged since the reading keep its verdicts; those changed are
counted apart, unread."""

from __future__ import annotations

import json
from pathlib import Path

from bot.answer import extract, gather
from bot.bot import Bot
from bot.evaluate import Question, Vector, _restates, judge, load_questions, sentence_vectors
from bot.settings import Settings

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
FILES = ("repeat-pairs.jsonl", "repeat-pairs-2.jsonl")
ANSWERS = "repeat-answers.jsonl"


def main() -> None:
    questions = {q.id: q for name in ("answers-dev.jsonl", "dev-ops.jsonl") for q in load_questions(DATA / name)}
    bot = Bot.open(Settings())
    bot.warm()
    vector = sentence_vectors(bot)
    report = {name: score(name, questions, vector) for name in FILES}
    report[ANSWERS] = read_whole(bot, questions, vector)
    print(json.dumps(report, ensure_ascii=False, indent=1))


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


def read_whole(bot: Bot, questions: dict[str, Question], vector: Vector) -> dict[str, object]:
    """The readers' verdicts on whole answers, the measure's agreement with them, and today's answers."""
    rows = [json.loads(line) for line in (DATA / ANSWERS).read_text(encoding="utf-8").splitlines()]
    either = {r["id"] for r in rows if any(v["repeats"] for v in r["readers"])}
    both = {r["id"] for r in rows if all(v["repeats"] for v in r["readers"])}
    measure = {r["id"] for r in rows if judge(questions[r["id"]], r["answer"], vector)["repeated"]}
    options = bot.settings
    unchanged = changed = flagged = 0
    for r in rows:
        now = extract(gather(bot.check(r["question"]), bot.retriever, options.answer, options.refusal),
                      options.answer, options.refusal).answer
        if now == r["answer"]:
            unchanged += 1
            flagged += r["id"] in either
        else:
            changed += 1
    n = len(rows)
    return {
        "answers": n,
        "readers agree": sum(len({v["repeats"] for v in r["readers"]}) == 1 for r in rows),
        "repeats, either reader": f"{len(either)} ({len(either) / n:.1%})",
        "repeats, both readers": f"{len(both)} ({len(both) / n:.1%})",
        "measure flags": len(measure),
        "measure precision (either)": round(len(measure & either) / len(measure), 3) if measure else None,
        "measure recall (either)": round(len(measure & either) / len(either), 3) if either else None,
        "today: unchanged since the reading, of them repeats (either)": f"{unchanged}, {flagged}",
        "today: changed, not read": changed,
    }


if __name__ == "__main__":
    main()
