"""A passage's text → the units an answer may quote: prose sentences, list items, code blocks.

A sentence ends at 。！？ (with any closing quote or bracket), at a line end, or at . ! ? before a
space in English; never at ；or ：, which join the halves of one thought. Consecutive list items
are one list; each unit knows its paragraph and, for items, its list, so an answer can keep a
list whole. Every unit's `text` is an exact slice of the passage: `text[start:end]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
LIST_ITEM = re.compile(r"[ \t]{0,8}(?:[-*+•]|\d{1,3}[.)、]|（\d{1,3}）|\(\d{1,3}\))[ \t]+")
TABLE_ROW = re.compile(r"[ \t]{0,8}\|")
HEADING = re.compile(r"#{1,6}[ \t]")
# The end of a sentence inside a line: 。！？ (and any closing marks), or . ! ? before whitespace.
# A Latin full stop ends a sentence when it ends a word (not "COPY . .", "memory/...", nor a name that
# starts with a dot, ".wh.") before a capital, a quote, a Chinese character or the line's end.
STOP = re.compile(r"[。！？]+[”’」』）)\]]{0,3}|(?<=[^\s.])[.!?](?=\s+[A-Z\"“(\[\u4e00-\u9fff]|\s*$)")
INLINE_CODE = re.compile(r"`[^`\n]{1,400}`")

Kind = Literal["sentence", "item", "code"]


@dataclass(frozen=True)
class Unit:
    kind: Kind
    text: str
    start: int  # offset in the passage
    paragraph: int  # blank-line separated block number (a code block is its own)
    list_id: int = -1  # for items: which list of the passage (-1: not an item)

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def units_of(text: str) -> list[Unit]:
    """The passage's units in order (headings and table rows are not units)."""
    out: list[Unit] = []
    paragraph, list_id, in_list = 0, -1, False
    pos, lines = 0, text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        line = lines[i]
        body = line.rstrip("\r\n")
        fence = FENCE.match(body)
        if fence:
            j = _fence_end(lines, i, fence.group(1))
            block = "".join(lines[i : j + 1]).rstrip("\r\n")
            paragraph += 1
            out.append(Unit("code", block, pos, paragraph))
            paragraph += 1
            in_list = False
            pos += sum(len(x) for x in lines[i : j + 1])
            i = j + 1
            continue
        if not body.strip():
            paragraph += 1 if out and out[-1].paragraph == paragraph else 0
            in_list = False
        elif HEADING.match(body) or TABLE_ROW.match(body):
            in_list = False
        elif (item := LIST_ITEM.match(body)) is not None:
            if not in_list:
                list_id, in_list = list_id + 1, True
            content = body[item.end():].strip()
            if content:
                out.append(Unit("item", content, pos + body.index(content, item.end()), paragraph, list_id))
        else:
            in_list = False
            out.extend(_sentences(body, pos, paragraph))
        pos += len(line)
        i += 1
    return out


def _fence_end(lines: list[str], i: int, marker: str) -> int:
    """The index of the line closing the fence opened at `i` (the last line if none does)."""
    for j in range(i + 1, len(lines)):
        if lines[j].lstrip(" ").startswith(marker[0] * len(marker)):
            return j
    return len(lines) - 1


def _sentences(line: str, offset: int, paragraph: int) -> list[Unit]:
    out, start = [], 0
    code = [m.span() for m in INLINE_CODE.finditer(line)]  # `...` inside backticks ends nothing
    for m in STOP.finditer(line):
        if any(a <= m.start() < b for a, b in code) or _dotted(line, m.start()):
            continue
        piece = line[start : m.end()]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            out.append(Unit("sentence", piece.strip(), offset + start + lead, paragraph))
        start = m.end()
    rest = line[start:]
    if rest.strip():
        out.append(Unit("sentence", rest.strip(), offset + start + len(rest) - len(rest.lstrip()), paragraph))
    return out


def _dotted(line: str, at: int) -> bool:
    """The full stop at `at` ends a name that starts with a dot (.wh., .dockerignore.): not a sentence."""
    word = line[: at + 1].rsplit(maxsplit=1)[-1]
    return word.startswith(".")
