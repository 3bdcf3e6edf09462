"""Typo-tolerant keyword lookup: `configmpa` → `configmap`, `secert` → `secret`.

Readers type fast. A Latin term that the index does not contain is matched to the index's
own terms one edit away (a letter deleted, added, changed or two swapped), by the symmetric
delete method: each known term is filed under itself and every string one deletion shorter,
and a typed term is looked up the same way, so a lookup is a few dictionary probes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

MIN_LENGTH = 5  # shorter terms have too many neighbours one edit away


def _deletes(term: str) -> set[str]:
    return {term[:i] + term[i + 1 :] for i in range(len(term))}


class Spelling:
    def __init__(self, frequency: Mapping[str, int]) -> None:
        """`frequency`: the index's terms with how many passages contain them."""
        self.frequency = frequency
        self.keys: dict[str, list[str]] = {}
        for term in frequency:
            if len(term) >= MIN_LENGTH and term.isascii() and term.isalpha():
                for key in {term} | _deletes(term):
                    self.keys.setdefault(key, []).append(term)

    def correct(self, term: str) -> str | None:
        """The most frequent known term one edit from `term`, or None (also when `term` is known)."""
        if term in self.frequency or len(term) < MIN_LENGTH or not (term.isascii() and term.isalpha()):
            return None
        found = {t for key in {term} | _deletes(term) for t in self.keys.get(key, ())}
        return max(sorted(found), key=self.frequency.__getitem__, default=None)

    def corrections(self, terms: Iterable[str]) -> dict[str, str]:
        return {t: c for t in dict.fromkeys(terms) if (c := self.correct(t))}
