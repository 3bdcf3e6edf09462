"""What kqa's answers are measured against (`kqa eval --answers`), on the same retrieval:

- `best_passage`: the best passage alone, cut at a sentence end within the answer budget;
- `composer_v1`: the extractive composer as it was before sentence-level citations (kept frozen,
  so every run can show the gain in the same conditions).

Neither is used to answer readers.
"""

from __future__ import annotations

import re

from bot.answer import Evidence
from bot.retrieve import Hit
from bot.terms import is_chinese, query_terms, tokens
from corpus.chunk import split_blocks, split_sentences

LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
TABLE_ROW = re.compile(r"^\s*\|")
PROSE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)(?=\s)|\n+")


def best_passage(ev: Evidence, max_chars: int) -> str:
    """The top passage's prose (code left out, as an answer would), whole sentences within `max_chars`."""
    if not ev.hits:
        return ""
    prose = "".join(block for block, code in split_blocks(ev.hits[0].chunk.text) if not code)
    out = ""
    for sentence in PROSE_END.split(prose):
        if out and len(out) + len(sentence) > max_chars:
            break
        out += sentence
    return " ".join(out.split()) + "[1]"


def composer_v1(ev: Evidence, max_sentences: int = 4, max_chars: int = 400) -> str:
    """The session-3 composer: the best sentence by idf-weighted term overlap and passage rank,
    then the next best, preferring its neighbours; one marker per passage."""
    base, extra = query_terms(ev.question)
    weights = {t: ev.snapshot.idf.get(t, 1.0) for t in base}
    weights.update({t: 0.5 * ev.snapshot.idf.get(t, 1.0) for t in extra if t not in weights})
    total = sum(weights.values()) or 1.0
    scored: list[tuple[float, int, int, int, str]] = []  # score, rank, index, start, text
    for hit in ev.passages:
        prior = 1.0 / (1.0 + 0.4 * (hit.rank - 1))
        for i, (start, text) in enumerate(_candidates(hit)):
            found = set(tokens(text))
            match = sum(w for t, w in weights.items() if t in found) / total
            scored.append((prior * (0.25 + match) - 0.01 * i, hit.rank, i, start, text))
    if not scored:
        return ""
    best = max(scored)
    chosen, used = [best], len(best[4])

    def rank(s: tuple[float, int, int, int, str]) -> float:
        near = s[1] == best[1] and abs(s[2] - best[2]) == 1
        return s[0] + (0.15 * best[0] if near else 0.0)

    for s in sorted((s for s in scored if s is not best), key=rank, reverse=True):
        if len(chosen) >= max_sentences:
            break
        if used + len(s[4]) > max_chars or (len(chosen) >= 2 and rank(s) < 0.45 * best[0]):
            continue
        if any(_similar(s[4], c[4]) for c in chosen):
            continue
        chosen.append(s)
        used += len(s[4])
    chunk = {h.rank: h.chunk for h in ev.passages}
    files: dict[str, int] = {}
    for s in sorted(chosen, key=lambda s: s[1]):
        files.setdefault(chunk[s[1]].source, len(files))
    chosen.sort(key=lambda s: (files[chunk[s[1]].source], chunk[s[1]].start + s[3]))
    numbers: dict[int, int] = {}
    out = ""
    for s in chosen:
        part = f"{s[4]}[{numbers.setdefault(s[1], len(numbers) + 1)}]"
        out += part if not out or (is_chinese(out[-8:]) and is_chinese(part[:4])) else " " + part
    return out


def _candidates(hit: Hit) -> list[tuple[int, str]]:
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


def _similar(a: str, b: str) -> bool:
    grams = [{x[i : i + 2] for i in range(len(x) - 1)} for x in (a, b)]
    union = grams[0] | grams[1]
    return bool(union) and len(grams[0] & grams[1]) / len(union) > 0.6
