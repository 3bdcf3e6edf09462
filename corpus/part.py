"""What a file reader hands the loader: one part per document (a saved page, an EPUB chapter, a
PDF's lecture), or `Unreadable` with the reason the ingest summary shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    title: str  # as the file names it ("" when it does not): the lecture is found from it
    text: str  # Markdown-ish text, as corpus.text makes it
    pages: tuple[tuple[int, int], ...] = ()  # (offset in text, page number) where each printed page starts


class Unreadable(Exception):
    """A file that cannot be read (broken, encrypted, no text layer...); the message says why."""
