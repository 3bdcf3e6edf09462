"""Cut a loaded Document into chunks that respect its structure.

Headings first (the heading path becomes the chunk's `section`), then paragraphs and
Chinese/English sentence ends; fenced code blocks stay whole unless one alone exceeds
`max_size`. Packing and overlap are LangChain's `TextSplitter._merge_splits`, fed with
units that concatenate back to the original text, so every chunk is an exact slice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter, TextSplitter
from pydantic import BaseModel, Field

HEADING_LINE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# A sentence ends at 。！？；… (plus closing quotes/brackets) or at . ! ? ; before a space.
SENTENCE_END = re.compile(r"[。！？；…]+[”’」』）)\]]*[ \t]*|[.!?;](?=[ \t\n]|$)[ \t]*|\n+")


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

    @property
    def headed_text(self) -> str:
        """What gets embedded and keyword-indexed: where the passage sits, then the passage."""
        where = " > ".join(p for p in (self.title, self.section) if p)
        return f"{where}\n{self.text}"

    def metadata(self) -> dict[str, Any]:
        meta = asdict(self)
        del meta["id"], meta["text"]
        # Chroma metadata cannot hold None.
        return {k: ("" if v is None else v) if k != "lecture" else (-1 if v is None else v) for k, v in meta.items()}

    @classmethod
    def from_record(cls, id: str, text: str, meta: dict[str, Any]) -> Chunk:
        lecture = meta.get("lecture", -1)
        return cls(
            id=id, text=text, source=meta["source"], title=meta.get("title", ""),
            lecture=None if lecture in (-1, None) else int(lecture), section=meta.get("section", ""),
            start=int(meta["start"]), end=int(meta["end"]), hash=meta.get("hash", ""),
            url=meta.get("url") or None, file_hash=meta.get("file_hash", ""),
        )


class StructuredSplitter(TextSplitter):
    """Splits one section body into chunk strings (headings are handled by `chunk_document`)."""

    def __init__(self, options: ChunkOptions) -> None:
        super().__init__(chunk_size=options.size, chunk_overlap=min(options.overlap, options.size // 2),
                         strip_whitespace=False)
        self.max_size = options.max_size
        # Oversized code blocks are intended (kept whole up to max_size); don't warn about them.
        logging.getLogger("langchain_text_splitters.base").setLevel(logging.ERROR)
        self._fallback = RecursiveCharacterTextSplitter(
            chunk_size=options.max_size, chunk_overlap=0, strip_whitespace=False, keep_separator="end",
            separators=["\n", "，", ",", "、", " ", ""],
        )

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
    prose, i = "", 0
    while i < len(lines):
        opened = FENCE_OPEN.match(lines[i])
        if not opened:
            prose += lines[i]
            i += 1
            continue
        marker = opened.group(1)
        j = i + 1
        while j < len(lines) and not lines[j].lstrip(" ").startswith(marker[0] * len(marker)):
            j += 1
        if prose:
            out.append((prose, False))
            prose = ""
        out.append(("".join(lines[i : j + 1]), True))
        i = j + 1
    if prose:
        out.append((prose, False))
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
            stack = [(lvl, name) for lvl, name in stack if lvl < level] + [(level, heading.group(2).strip())]
            path = " > ".join(name for lvl, name in stack if lvl > 1)
            body_start = pos + len(line)
        pos += len(line)
    out.append((path, body_start, len(text)))
    return [(p, s, e) for p, s, e in out if text[s:e].strip()]


def chunk_document(doc: Document, options: ChunkOptions) -> list[Chunk]:
    text, meta = doc.page_content, doc.metadata
    splitter = StructuredSplitter(options)
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
                    file_hash=meta.get("file_hash", ""),
                )
            )
    return chunks
