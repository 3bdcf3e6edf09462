"""The column's table of contents (`data/lectures.json`: number, title, module) and the mapping of a
chapter's or page's title to its lecture.

A reader's copy names its lectures in many ways: "05 | 白话容器基础（一）：从进程说开去", "05丨…",
"第5讲 …", "第 05 讲 …", the bare title, the bare subtitle, or the book's own numbering
("第3章 …", "2.1 …"), with full- or half-width punctuation and sometimes a reworded subtitle. The
title's words decide; a number decides only when it is written as a lecture's ("05 |", "第5讲") and
the words are no help, since a book's chapter numbers are not the column's lecture numbers.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "lectures.json"
# Labels the column gives some pieces in place of a number.
LABELS = {"开篇词": 0, "结束语": 53}
CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
# A number written as the column numbers its lectures: "05 |", "05丨", "第5讲", "第 05 讲".
LECTURE_NUMBER = re.compile(r"^\s*(?:第\s*(\d{1,2})\s*讲|(\d{1,2})\s*[|｜丨]|(开篇词|结束语)\s*[|｜丨:：]?)"
                            r"[\s|｜丨:：]*")
# Any other numbering in front of a title: the book's chapters ("第3章", "Chapter 3", "2.1", "3、").
BOOK_NUMBER = re.compile(r"^\s*(?:第\s*[\d一二三四五六七八九十百零]{1,4}\s*[章节篇部讲课]|chapter\s*\d{1,3}|"
                         r"\d{1,3}(?:\.\d{1,3})*(?=[\s.、:：\-—_]|[^\d.]))[\s.、:：\-—_|｜丨]*", re.I)
PAREN_NUMBER = re.compile(r"[（(]\s*([一二三四五六七八九十]|\d{1,2})\s*[)）]")
NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u9fff]+")
LABEL_PREFIX = re.compile(r"^(?:预习篇\s*[·・•.]\s*)")
SEGMENT_BREAK = re.compile(r"[：:|｜丨·・？?，,]")
MIN_RATIO = 0.72  # how alike a title must be to a lecture's (the share of the longer normalised string in common)
MIN_LEAD = 0.08  # ... and how far ahead of the next lecture's, else the match is ambiguous
MIN_PART = 4  # characters (normalised) a part of a title must have to be matched on its own


@dataclass(frozen=True)
class Lecture:
    number: int
    title: str
    module: str


@cache
def lectures() -> tuple[Lecture, ...]:
    """The column's 54 lectures, 00 (开篇词) to 53 (结束语), in order."""
    rows = json.loads(DATA.read_text(encoding="utf-8"))
    return tuple(Lecture(int(r["lecture"]), str(r["title"]), str(r["module"])) for r in rows)


def lecture(number: int) -> Lecture | None:
    table = lectures()
    return table[number] if 0 <= number < len(table) and table[number].number == number else None


def normalise(title: str) -> str:
    """Width, case, punctuation and spacing folded away; "（一）" and "(1)" both become "1"."""
    text = unicodedata.normalize("NFKC", title).lower()
    text = PAREN_NUMBER.sub(lambda m: str(CN_DIGITS.get(m.group(1), m.group(1))), text)
    return NOT_WORD.sub("", text)


@cache
def _variants() -> tuple[tuple[int, str, str], ...]:
    """(lecture, whole title, title without its series label), normalised."""
    out = []
    for lec in lectures():
        title = lec.title
        bare = LECTURE_NUMBER.sub("", LABEL_PREFIX.sub("", title))
        out.append((lec.number, normalise(title), normalise(bare)))
    return tuple(out)


@cache
def _segments() -> tuple[tuple[int, str], ...]:
    """(lecture, one of its title's parts between punctuation: "从进程说开去"), normalised."""
    out = []
    for lec in lectures():
        for part in SEGMENT_BREAK.split(lec.title):
            if len(normalise(part)) >= MIN_PART:
                out.append((lec.number, normalise(part)))
    return tuple(out)


@cache
def _modules() -> frozenset[str]:
    return frozenset(normalise(lec.module) for lec in lectures())


def split_number(title: str) -> tuple[int | None, str]:
    """(the lecture number the title is written with, or None; the title without any numbering)."""
    text = unicodedata.normalize("NFKC", title).strip()
    match = LECTURE_NUMBER.match(text)
    if match:
        number = match.group(1) or match.group(2)
        found = int(number) if number else LABELS[match.group(3)]
        return found, text[match.end():]
    book = BOOK_NUMBER.match(text)
    return None, text[book.end():] if book and book.end() < len(text) else text


def match_title(title: str) -> int | None:
    """The lecture `title` names, or None when it names none (or could name several)."""
    number, rest = split_number(title)
    rest = LABEL_PREFIX.sub("", rest)
    words = normalise(rest)
    if number is not None and lecture(number) is None:
        number = None
    if len(words) < 2 or words in _modules():
        return number  # a module's name heads a part of the book, not a lecture
    found = _by_words(words)
    if found is not None:
        return found
    return number


def _by_words(words: str) -> int | None:
    exact = {n for n, whole, bare in _variants() if words in (whole, bare)}
    if len(exact) == 1:
        return exact.pop()
    # A title that holds a lecture's whole title ("… - 某网站"), or a part of exactly one ("从进程说开去").
    held = [(len(bare), n) for n, _, bare in _variants() if len(bare) >= MIN_PART and bare in words]
    if held:
        held.sort(reverse=True)
        if len(held) == 1 or held[0][0] > held[1][0]:
            return held[0][1]
    part_of = {n for n, part in _segments() if part == words}
    if len(part_of) == 1:
        return part_of.pop()
    scored = sorted(((max(_ratio(words, whole), _ratio(words, bare)), n) for n, whole, bare in _variants()),
                    reverse=True)
    (best, n), (second, _) = scored[0], scored[1]
    return n if best >= MIN_RATIO and best - second >= MIN_LEAD else None


def _ratio(a: str, b: str) -> float:
    """The share of the longer string that the two have in common (difflib's ratio is kinder to a
    short title inside a long one: "Kubernetes网络" would be lecture 35, "解读Kubernetes三层网络方案")."""
    same = sum(block.size for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    return same / max(len(a), len(b), 1)
