"""Cut a loaded Document into chunks that respect its structure.

Headings first (the heading path becomes the chunk's `section`), then paragraphs and
Chinese/English sentence ends; fenced code blocks stay whole unless one alone exceeds
`max_size`. Packing and overlap are LangChain's `TextSplitter._merge_splits`, fed with
units that concatenate back to the original text, so every chunk is an exact slice.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from itertools import accumulate
from typing import Any

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter, TextSplitter
from pydantic import BaseModel, Field

from corpus.load import FIELD_MAX_CHARS

# As corpus.load.HEADING: possessive, so that a heading line of spaces and `#` stays linear.
HEADING_LINE = re.compile(r"^(#{1,6})[ \t]+((?:[ \t#]*+[^ \t#\n])++|[ \t#])[ \t#]*+$")
FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# A sentence ends at 。！？；… (plus closing quotes/brackets) or at . ! ? ; before a space.
SENTENCE_END = re.compile(r"[。！？；…]+[”’」』）)\]]*[ \t]*|[.!?;](?=[ \t\n]|$)[ \t]*|\n+")


NUMBERS = {"lecture", "page"}  # Chunk fields that are ints or None


class ChunkOptions(BaseModel):
    size: int = Field(600, ge=50, description="Target chunk length in characters.")
    overlap: int = Field(120, ge=0, description="Characters carried over between neighbouring chunks.")
    max_size: int = Field(1500, ge=100, description="Hard limit; longer code blocks or sentences are cut.")


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    source: str
    title: str
    lecture: int | None
    section: str
    start: int
    end: int
    hash: str
    url: str | None = None
    file_hash: str = ""
    kind: str = ""  # "column": the column's own text; "note", "faq", "" (corpus/README.md)
    page: int | None = None  # the printed page the passage starts on (a PDF's), else None
    page_breaks: str = ""  # where later pages start inside the passage: "offset:page,..." (Chroma keeps scalars)

    def page_at(self, offset: int) -> int | None:
        """The page that the passage's text at `offset` is printed on (None: not from a PDF)."""
        page = self.page
        for mark in filter(None, self.page_breaks.split(",")):
            at, number = mark.split(":")
            if int(at) <= offset:
                page = int(number)
        return page

    @property
    def headed_text(self) -> str:
        """What gets embedded and keyword-indexed: where the passage sits, then the passage."""
        where = " > ".join(p for p in (self.title, self.section) if p)
        return f"{where}\n{self.text}"

    def metadata(self) -> dict[str, Any]:
        meta = asdict(self)
        del meta["id"], meta["text"]
        # Chroma metadata cannot hold None: a missing lecture or page is -1, a missing text "".
        return {k: (-1 if k in NUMBERS else "") if v is None else v for k, v in meta.items()}

    @classmethod
    def from_record(cls, id: str, text: str, meta: dict[str, Any]) -> Chunk:
        lecture, page = meta.get("lecture", -1), meta.get("page", -1)
        return cls(
            id=id, text=text, source=meta["source"], title=meta.get("title", ""),
            lecture=None if lecture in (-1, None) else int(lecture), section=meta.get("section", ""),
            start=int(meta["start"]), end=int(meta["end"]), hash=meta.get("hash", ""),
            url=meta.get("url") or None, file_hash=meta.get("file_hash", ""), kind=meta.get("kind", ""),
            page=None if page in (-1, None) else int(page), page_breaks=meta.get("page_breaks", ""),
        )


class LinearMerge(TextSplitter):
    """LangChain's packing of splits into chunks, the same chunks in time linear in the splits."""

    def _merge_splits(self, splits: Iterable[str], separator: str) -> list[str]:
        """`TextSplitter._merge_splits` for splits joined by "" (all ours are), jumping from chunk to
        chunk by bisection over the splits' running length instead of a Python step per split, and
        without its `current_doc = current_doc[1:]` per dropped split: that made each chunk cost the
        square of its splits, seconds for a 1 MB line cut into single characters. Nor does it warn
        about chunks over the size: code blocks kept whole up to max_size are intended."""
        if separator:
            return super()._merge_splits(splits, separator)
        items = list(splits)
        ends = list(accumulate(map(self._length_function, items), initial=0))  # ends[i]: length of items[:i]
        size, overlap = self._chunk_size, self._chunk_overlap
        docs: list[str | None] = []
        lo, i = 0, 0  # the window is items[lo:i]
        # Skip to the first item that no longer fits after the window's start.
        while (i := max(i, bisect_right(ends, ends[lo] + size) - 1)) < len(items):
            # items[i] would overflow the window: emit the window, then drop from its front until
            # what is left fits the overlap and leaves room for items[i] (LangChain's two conditions).
            if lo < i:
                docs.append(self._join_docs(items[lo:i], separator))
                keep_overlap = bisect_left(ends, ends[i] - overlap, lo, i)
                make_room = min(bisect_left(ends, ends[i + 1] - size, lo, i), bisect_left(ends, ends[i], lo, i))
                lo = max(keep_overlap, make_room)
            i += 1
        docs.append(self._join_docs(items[lo:], separator))
        return [doc for doc in docs if doc is not None]  # None: the window was only blanks, stripped


class CharacterFallback(LinearMerge, RecursiveCharacterTextSplitter):
    """Cuts a piece longer than max_size at a line end, a comma, a space or, failing all, anywhere."""

    def __init__(self, max_size: int) -> None:
        super().__init__(chunk_size=max_size, chunk_overlap=0, strip_whitespace=False, keep_separator="end",
                         separators=["\n", "，", ",", "、", " ", ""])

    def _split_text(self, text: str, separators: list[str]) -> list[str]:
        if not any(s and s in text for s in separators):
            # Only "" is left: LangChain would list every character and pack them back, one by one,
            # into the same max_size slices (no overlap, nothing stripped).
            size = self._chunk_size
            return [text[i : i + size] for i in range(0, len(text), size)]
        return super()._split_text(text, separators)


class StructuredSplitter(LinearMerge):
    """Splits one section body into chunk strings (headings are handled by `chunk_document`)."""

    def __init__(self, options: ChunkOptions) -> None:
        super().__init__(chunk_size=options.size, chunk_overlap=min(options.overlap, options.size // 2),
                         strip_whitespace=False)
        self.max_size = options.max_size
        self._fallback = CharacterFallback(options.max_size)

    def split_text(self, text: str) -> list[str]:
        return [c for c in self._merge_splits(self.units(text), "") if c.strip()]

    def units(self, text: str) -> list[str]:
        """Sentences and whole code blocks, in order; `"".join(units) == text`."""
        units: list[str] = []
        for block, is_code in split_blocks(text):
            pieces = [block] if is_code else split_sentences(block)
            for piece in pieces:
                units.extend(self._cut(piece, is_code) if len(piece) > self.max_size else [piece])
        return units

    def _cut(self, piece: str, is_code: bool) -> list[str]:
        if is_code:
            lines = [part for line in piece.splitlines(keepends=True)
                     for part in (self._fallback.split_text(line) if len(line) > self.max_size else [line])]
            out, cur = [], ""
            for line in lines:
                if cur and len(cur) + len(line) > self.max_size:
                    out.append(cur)
                    cur = ""
                cur += line
            return out + ([cur] if cur else [])
        return self._fallback.split_text(piece)


def split_blocks(text: str) -> list[tuple[str, bool]]:
    """Alternate prose and fenced code blocks; a fence's closing line belongs to the block."""
    out: list[tuple[str, bool]] = []
    lines = text.splitlines(keepends=True)
    prose, i = 0, 0  # prose: the first line not yet in `out`
    while i < len(lines):
        opened = FENCE_OPEN.match(lines[i])
        if not opened:
            i += 1
            continue
        marker = opened.group(1)
        closing = marker[0] * len(marker)  # once: rebuilt for every line, a fence of 0.5 MB costs minutes
        j = i + 1
        while j < len(lines) and not lines[j].lstrip(" ").startswith(closing):
            j += 1
        if prose < i:
            out.append(("".join(lines[prose:i]), False))
        out.append(("".join(lines[i : j + 1]), True))
        i = prose = j + 1
    if prose < len(lines):
        out.append(("".join(lines[prose:]), False))
    return out


def split_sentences(prose: str) -> list[str]:
    out, start = [], 0
    for match in SENTENCE_END.finditer(prose):
        if match.end() > start:
            out.append(prose[start : match.end()])
            start = match.end()
    if start < len(prose):
        out.append(prose[start:])
    return out


def sections(text: str) -> list[tuple[str, int, int]]:
    """(heading path, body start, body end) for each heading-delimited part of `text`."""
    stack: list[tuple[int, str]] = []
    out: list[tuple[str, int, int]] = []
    body_start, path = 0, ""
    pos, in_fence = 0, ""
    for line in text.splitlines(keepends=True):
        fence = FENCE_OPEN.match(line)
        if fence and not in_fence:
            in_fence = fence.group(1)[0] * len(fence.group(1))
        elif in_fence and line.lstrip(" ").startswith(in_fence):
            in_fence = ""
        elif not in_fence and (heading := HEADING_LINE.match(line.rstrip("\r\n"))):
            out.append((path, body_start, pos))
            level = len(heading.group(1))
            # Cut: the path rides along in every chunk's metadata and embedded text.
            name = heading.group(2).strip()[:FIELD_MAX_CHARS]
            stack = [(lvl, n) for lvl, n in stack if lvl < level] + [(level, name)]
            path = " > ".join(n for lvl, n in stack if lvl > 1)
            body_start = pos + len(line)
        pos += len(line)
    out.append((path, body_start, len(text)))
    return [(p, s, e) for p, s, e in out if text[s:e].strip()]


def chunk_document(doc: Document, options: ChunkOptions) -> list[Chunk]:
    text, meta = doc.page_content, doc.metadata
    splitter = StructuredSplitter(options)
    pages: list[tuple[int, int]] = list(meta.get("pages") or ())
    chunks: list[Chunk] = []
    for path, start, end in sections(text):
        body, cursor = text[start:end], 0
        for piece in splitter.split_text(body):
            stripped = piece.strip()
            local = body.find(stripped, cursor)
            cursor = local + 1
            begin = start + local
            chunks.append(
                Chunk(
                    id=hashlib.sha1(f"{meta['source']}\0{begin}\0{stripped}".encode()).hexdigest()[:20],
                    text=stripped, source=meta["source"], title=meta.get("title", ""),
                    lecture=meta.get("lecture"), section=path or "", start=begin, end=begin + len(stripped),
                    hash=hashlib.sha256(stripped.encode()).hexdigest()[:16], url=meta.get("url"),
                    file_hash=meta.get("file_hash", ""), kind=meta.get("kind", ""),
                    page=_page(pages, begin), page_breaks=",".join(
                        f"{at - begin}:{n}" for at, n in pages if begin < at < begin + len(stripped)),
                )
            )
    return chunks


def _page(pages: list[tuple[int, int]], offset: int) -> int | None:
    """The page printed at `offset` of the text, given (offset, page) where each page starts."""
    at = bisect_right([start for start, _ in pages], offset) - 1
    return pages[at][1] if at >= 0 else None
