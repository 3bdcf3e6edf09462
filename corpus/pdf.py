"""A PDF of the column → one Part per lecture, with the offset where each printed page starts.

pypdf reads the text layer page by page (pure Python; on our CJK test PDFs it gave the same text
as pdfplumber in a fraction of the time: bench/your_copy.py). A PDF breaks every line where the page
did, so lines are joined back into paragraphs: a line that fills the page's width and does not end
a sentence goes on in the next.

Lectures start where the book's outline (its bookmarks) says, at entries whose titles name a
lecture; without such an outline, at each page whose first line names one. A PDF with neither is
one document. A citation names the page its quote starts on (corpus.chunk keeps each page's start).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PyPdfError

from corpus.lectures import match_title
from corpus.part import Part, Unreadable

logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every odd object of a real-world PDF
SENTENCE_END = re.compile(r"[。！？：；…”’」』）)\].!?:;]$")
CJK_END = re.compile(r"[\u3000-\u9fff\uff00-\uffef]$")
CJK_START = re.compile(r"^[\u3000-\u9fff\uff00-\uffef]")
FULL_LINE = 0.85  # a line at least this share of the page's longest line runs on into the next
HEADING_LINES = 3  # a page starts a lecture when one of its first lines names it


def chapters(raw: bytes, max_pages: int) -> list[Part]:
    """The book's lectures (or the whole file as one part), or Unreadable saying why not."""
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted: remove the password first")
        if len(reader.pages) > max_pages:
            raise Unreadable(f"{len(reader.pages):,} pages, over max_pdf_pages ({max_pages:,})")
        texts = [page.extract_text() or "" for page in reader.pages]
        marks = _outline(reader)
    except Unreadable:
        raise
    except (FileNotDecryptedError, DependencyError) as exc:  # AES needs a crypto package: still "encrypted"
        raise Unreadable("encrypted: remove the password first") from exc
    except (PyPdfError, PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError) as exc:  # what a broken file raises from pypdf's parser
        raise Unreadable(f"not a readable PDF ({exc.__class__.__name__})") from exc
    if not any(t.strip() for t in texts):
        raise Unreadable("no text layer; OCR it first")
    starts = [(page, title) for page, title in marks if match_title(title) is not None] or _headed_pages(texts)
    firsts: dict[int, str] = {}
    for page, title in starts:
        firsts.setdefault(page, title)  # two lectures starting on one page: the first takes it
    pages = [_page_text(text, firsts.get(i)) for i, text in enumerate(texts)]
    return _split(pages, firsts)


def _page_text(text: str, title: str | None) -> str:
    """The page reflowed; on a page where a lecture starts, the line that names it as a heading."""
    if title is not None:
        lines = text.splitlines()
        lecture = match_title(title)
        for i, line in enumerate(lines[:HEADING_LINES]):
            if line.strip() and match_title(line) == lecture:
                before, after = reflow("\n".join(lines[:i])), reflow("\n".join(lines[i + 1:]))
                return "\n\n".join(p for p in (before, f"# {line.strip()}", after) if p)
    return reflow(text)


def reflow(text: str) -> str:
    """The page's lines joined back into paragraphs."""
    lines = [line.rstrip() for line in text.splitlines()]
    widest = max((len(line) for line in lines), default=0)
    out: list[str] = []
    for line in lines:
        if not line.strip():
            if out and out[-1]:
                out.append("")
            continue
        prev = out[-1] if out else ""
        if prev and len(prev.splitlines()[-1]) >= FULL_LINE * widest and not SENTENCE_END.search(prev):
            glue = "" if CJK_END.search(prev) and CJK_START.search(line.lstrip()) else " "
            out[-1] = prev + glue + line.strip()
        else:
            out.append(line)
    return "\n".join(out).strip()


def _outline(reader: PdfReader) -> list[tuple[int, str]]:
    """(page index, title) of every bookmark, in order."""
    found: list[tuple[int, str]] = []
    for item in _flatten(reader.outline):
        page = reader.get_destination_page_number(item)
        if page is not None and page >= 0:
            found.append((page, str(item.title or "")))
    return sorted(found, key=lambda pt: pt[0])


def _flatten(outline: Any) -> Iterator[Any]:
    for item in outline:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def _headed_pages(pages: list[str]) -> list[tuple[int, str]]:
    """(page index, title) of each page one of whose first lines names a lecture."""
    out = []
    for i, text in enumerate(pages):
        for line in [ln.strip() for ln in text.splitlines() if ln.strip()][:HEADING_LINES]:
            if match_title(line) is not None:
                out.append((i, line))
                break
    return out


def _split(pages: list[str], firsts: dict[int, str]) -> list[Part]:
    """The pages cut where each lecture starts (pages before the first are a part of their own)."""
    bounds = sorted(firsts)
    if not bounds or bounds[0] != 0:
        bounds.insert(0, 0)
    parts = []
    for k, first in enumerate(bounds):
        last = bounds[k + 1] if k + 1 < len(bounds) else len(pages)
        text, marks = "", []
        for i in range(first, last):
            if not pages[i].strip():
                continue
            text += "\n\n" if text else ""
            marks.append((len(text), i + 1))
            text += pages[i]
        if text.strip():
            parts.append(Part(firsts.get(first, ""), text + "\n", tuple(marks)))
    return parts
