"""An EPUB book → one Part per chapter, titled and ordered by the book's own navigation.

The chapters are the book's reading order (its spine); each is titled by its entry in the table of
contents (EPUB 3's nav, or EPUB 2's NCX). A file of the spine with no entry of its own continues the
chapter before it (converters split long chapters into several files), unless its first heading
names a lecture. ebooklib reads the book; corpus.text turns each XHTML file into text.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from ebooklib import ITEM_DOCUMENT, epub
from lxml.etree import LxmlError

from corpus.lectures import match_title
from corpus.part import Part, Unreadable
from corpus.text import html_to_text

# DRM lists the chapters it encrypts here (font obfuscation lists only fonts).
ENCRYPTED_TEXT = re.compile(r'URI="[^"]*\.(?:x?html?|xml)"', re.I)
HEADING = re.compile(r"^#{1,3} (.+)$", re.M)


def chapters(raw: bytes, max_bytes: int) -> list[Part]:
    """The book's chapters in reading order, or Unreadable saying why not."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > max_bytes:  # a zip bomb, or a book too large to read whole
                raise Unreadable(f"unpacks to {unpacked:,} bytes, over max_book_bytes ({max_bytes:,})")
            names = set(archive.namelist())
            if "META-INF/encryption.xml" in names and ENCRYPTED_TEXT.search(
                    archive.read("META-INF/encryption.xml").decode("utf-8", "replace")):
                raise Unreadable("encrypted (DRM): remove the protection first")
        book = epub.read_epub(io.BytesIO(raw))
    except Unreadable:
        raise
    except (zipfile.BadZipFile, epub.EpubException, LxmlError, KeyError, ValueError, IndexError,
            AttributeError) as exc:  # what a broken archive or package file raises in ebooklib
        raise Unreadable(f"not a readable EPUB ({exc.__class__.__name__})") from exc
    titles: dict[str, str] = {}
    for title, href in _entries(book.toc):
        titles.setdefault(href.split("#", 1)[0], title)
    parts: list[Part] = []
    for item in _reading_order(book):
        text = html_to_text(item.get_content().decode("utf-8", "replace"))
        if not text.strip():
            continue
        title = titles.get(item.get_name(), "")
        heading = HEADING.search(text)
        starts = bool(title) or not parts or (heading is not None and match_title(heading.group(1)) is not None)
        if starts:
            parts.append(Part(title or (heading.group(1).strip() if heading else ""), text))
        else:  # the rest of the chapter before
            parts[-1] = Part(parts[-1].title, parts[-1].text + "\n" + text)
    return parts


def _entries(toc: Any) -> Iterator[tuple[str, str]]:
    """(title, href) of every entry of the table of contents, depth first, in order."""
    for entry in toc:
        if isinstance(entry, tuple):  # (Section, [children])
            section, children = entry
            if getattr(section, "href", ""):
                yield section.title, section.href
            yield from _entries(children)
        elif isinstance(entry, epub.Link):
            yield entry.title, entry.href
        elif isinstance(entry, list):
            yield from _entries(entry)


def _reading_order(book: epub.EpubBook) -> Iterator[Any]:
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is not None and item.get_type() == ITEM_DOCUMENT and not isinstance(item, epub.EpubNav):
            yield item
