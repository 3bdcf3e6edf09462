"""Fit the composer's weights (bot/compose.py WEIGHTS and SECTION_WEIGHTS) on the development sets' nuggets.

Each unit the composer considers for a question is labelled by whether it states one of the
question's vital facts (a vital nugget's pattern matches it), and each section by whether it
states all of them; logistic regressions over their features (FEATURES, SECTION_FEATURES) learn
how much each feature says about that. The unit weights are fitted first: a section's features
include its units' scores. Reported: the cross-validated share of questions whose best-scored
unit states a vital fact, and whose best-scored section states them all (folds by question, so
no question is scored by weights fitted on it), for the fitted weights and the ones in the code.

    .venv/bin/python -m bench.fit_composer tests/data/answers-dev.jsonl tests/data/dev-ops.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def collect(paths: list[Path], weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Unit features, labels and question numbers, then the same for sections (their unit scores
    from `weights`, or the code's)."""
    from api.settings import Settings
    from bot.answer import gather
    from bot.bot import Bot
    from bot.compose import WEIGHTS, Composer
    from bot.evaluate import load_questions

    bot = Bot.open(Settings())
    bot.warm()
    s = bot.settings
    xs, ys, groups, sx, sy, sg = [], [], [], [], [], []
    questions = [q for p in paths for q in load_questions(p) if q.vital]
    for g, q in enumerate(questions):
        ev = gather(bot.check(q.q), bot.retriever, s.answer, s.refusal)
        if ev.refused:
            continue
        composer = Composer(ev.snapshot, q.q, ev.query, s.answer.max_chars, s.answer.max_sentences,
                            weights=WEIGHTS if weights is None else weights)
        cands = composer.candidates(ev.passages)
        for c in cands:
            if c.unit.kind != "code":
                xs.append(c.features.copy())
                ys.append(any(n.stated_in(c.unit.text) for n in q.vital))
                groups.append(g)
        for group, _, features in composer.rank_sections(cands, with_features=True):
            sx.append(features)
            sy.append(all(n.stated_in(group[0].section.text) for n in q.vital))
            sg.append(g)
    return (np.array(xs), np.array(ys, dtype=int), np.array(groups), np.array(sx), np.array(sy, dtype=int),
            np.array(sg))


def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Weights fitted on everything, and the 5-fold top-1 rate of weights fitted without the fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    out = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(x, y, groups):
        model = LogisticRegression(C=c, fit_intercept=False, max_iter=4000).fit(x[train], y[train])
        out[test] = x[test] @ model.coef_[0]
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=4000).fit(x, y)
    return model.coef_[0], top1(out, y, groups)


def top1(scores: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """The share of questions whose best-scored unit states a vital fact."""
    hits = [y[groups == g][np.argmax(scores[groups == g])] for g in np.unique(groups)]
    return float(np.mean(hits))


def main(argv: list[str] | None = None) -> int:
    from bot.compose import FEATURES, SECTION_FEATURES, SECTION_WEIGHTS, WEIGHTS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("questions", nargs="+", type=Path)
    p.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    args = p.parse_args(argv)
    x, y, groups, *_ = collect(args.questions)
    print(f"{len(np.unique(groups))} questions, {len(y)} units, {y.mean():.3f} state a vital fact", file=sys.stderr)
    unit_w, unit_cv = fit(x, y, groups, args.c)
    print(f"top-1 unit states a vital fact: fitted (5-fold) {unit_cv:.3f}, "
          f"in the code {top1(x @ WEIGHTS, y, groups):.3f}")
    *_, sx, sy, sg = collect(args.questions, unit_w)
    print(f"{len(sy)} sections, {sy.mean():.3f} state every vital fact", file=sys.stderr)
    sec_w, sec_cv = fit(sx, sy, sg, args.c)
    print(f"top-1 section states every vital fact: fitted (5-fold) {sec_cv:.3f}, "
          f"in the code {top1(sx @ SECTION_WEIGHTS, sy, sg):.3f}")
    for names, w, const in ((FEATURES, unit_w, "WEIGHTS"), (SECTION_FEATURES, sec_w, "SECTION_WEIGHTS")):
        for name, value in zip(names, w, strict=True):
            print(f"  {name:12s} {value:+.3f}")
        print(f"{const} = np.array([" + ", ".join(f"{v:.3f}" for v in w) + "], dtype=np.float32)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
