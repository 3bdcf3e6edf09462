"""Read a folder of .md / .markdown / .txt / .html files into LangChain `Document`s.

The loaded text is what a reader would see: YAML front matter becomes metadata, HTML
comments are dropped, Hugo shortcodes keep only their visible text, Markdown links keep
their label (corpus.text). Offsets of chunks refer to this loaded text.

A reader's own copy of the column is read as it comes: a page saved from the web (a whole .html
page, with <html> or <body>, whose front matter gives no kind but `column`) gives its article's
main text (corpus.web); it is `kind: column`, and its lecture is found from its title
(corpus.lectures). So is each chapter of an EPUB book (corpus.epub) and each lecture of a PDF
(corpus.pdf, which also gives where each page starts: `pages`, as (offset, page number)).

A corpus file is input nobody vetted, and what ingest reads becomes searchable over HTTP. So
only files that really lie in the folder are read (a symlink whose real path leaves it is
skipped, symlinked folders are not entered), files over `max_file_bytes` are skipped, front
matter yields only short scalar fields, and every pattern here runs in linear time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import yaml
from langchain_core.documents import Document
from pydantic import BaseModel, Field

from corpus import epub, pdf
from corpus.errors import CorpusNotFound
from corpus.lectures import lecture as lecture_entry
from corpus.lectures import match_title
from corpus.part import Part, Unreadable
from corpus.text import clean_markdown, html_to_text
from corpus.web import saved_page

log = logging.getLogger(__name__)

BOOKS = {".epub", ".pdf"}  # formats read whole, not as UTF-8 text
SUFFIXES = {".md", ".markdown", ".txt", ".html", ".htm", *BOOKS}
COLUMN = "column"  # the kind of a text that is the column itself
FIELD_MAX_CHARS = 300  # a title, module, url or kind (or a heading standing in for one) longer than this is noise
MAX_LECTURES = 50
MAX_YAML_DEPTH = 20  # front matter nests a level or two; PyYAML recurses once per level
LECTURE_NUMBER = re.compile(r"\d{1,4}", re.ASCII)
LEADING_NUMBER = re.compile(r"^(\d{1,3})(?:[-_. ]|$)")

WHOLE_PAGE = re.compile(r"<(?:html|body)[\s>]", re.I)  # a whole page, not a fragment of one
FRONT_MATTER = re.compile(r"\A---[ \t]*+\r?\n(.*?)\r?\n---[ \t]*+(?:\r?\n|\Z)", re.S)
# The name is what remains once the closing `#`s and blanks are gone (or, when nothing does, one of them).
HEADING = re.compile(r"^#{1,6}[ \t]+((?:[ \t#]*+[^ \t#\n])++|[ \t#])[ \t#]*+$", re.M)


class LoadOptions(BaseModel):
    max_file_bytes: int = Field(5 * 1024 * 1024, ge=1,
                                description="Larger text files are skipped, with a warning naming them and their size.")
    max_book_bytes: int = Field(200 * 1024 * 1024, ge=1, description="The same for an EPUB or PDF (and for an EPUB's "
                                "unpacked size).")
    max_pdf_pages: int = Field(5000, ge=1, description="A PDF with more pages is skipped, with a warning.")
    max_front_matter_bytes: int = Field(16 * 1024, ge=0, description="Larger YAML front matter is ignored (and, "
                                        "as always, not indexed), with a warning.")


@dataclass(frozen=True)
class Skipped:
    """A file (or symlinked folder) under the corpus folder that ingest did not read, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class FrontMatter:
    """What ingest takes from a file's YAML header: short text and small numbers, nothing else."""

    title: str = ""
    module: str = ""
    url: str = ""
    kind: str = ""
    lecture: int | None = None
    lectures: list[int] = field(default_factory=list)


def read_documents(root: Path, options: LoadOptions | None = None,
                   skipped: list[Skipped] | None = None) -> Iterator[Document]:
    """Yield the Documents of each readable file under `root` (one, or a book's chapters), in path order.

    Each file not read (outside the folder, too large, binary, empty, undecodable...) is logged
    with a warning naming it, and added to `skipped` when given.
    """
    if not root.is_dir():
        raise CorpusNotFound(f"corpus folder not found: {root}")
    options = options or LoadOptions()
    for found in text_files(root):
        if isinstance(found, Skipped):
            result: list[Document] | Skipped = found
        else:
            source, path = found
            result = read_document(path, source, options)
        if not isinstance(result, Skipped):
            yield from result
            continue
        log.warning("skipped %s: %s", result.source, result.reason)
        if skipped is not None:
            skipped.append(result)


def text_files(root: Path) -> Iterator[tuple[str, Path] | Skipped]:
    """(name under `root`, path to read) for each text file in the folder, in path order, or why not.

    Hidden files and READMEs (they describe a folder rather than teach anything) are passed over.
    """
    yield from _walk(root, "", root.resolve())


def _walk(folder: Path, prefix: str, real_root: Path) -> Iterator[tuple[str, Path] | Skipped]:
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:  # no permission
        yield Skipped(prefix.rstrip("/") or ".", f"cannot be read ({exc.strerror})")
        return
    for entry in entries:
        source = prefix + entry.name
        if entry.name.startswith(".") or not (entry.is_dir() or _is_text(entry.name)):
            continue
        if not _is_utf8(entry.name):  # no database or hash can store it; nor can a terminal print it
            yield Skipped(source, "its name is not UTF-8")
        elif entry.is_symlink():
            yield from _follow(entry, source, real_root)
        elif entry.is_dir():
            yield from _walk(entry, source + "/", real_root)
        elif entry.is_file():
            yield source, entry


def _follow(link: Path, source: str, real_root: Path) -> Iterator[tuple[str, Path] | Skipped]:
    """A symlink is read only when its real path is a text file that ingest would read where it is."""
    try:
        real = Path(os.path.realpath(link, strict=True))
    except OSError:  # dangling, or a loop of links
        yield Skipped(source, "a broken symlink")
        return
    if not real.is_relative_to(real_root):
        yield Skipped(source, "its real path is outside the corpus folder")
    elif real.is_dir():
        # Its files are read under their real names; entering it could also loop (`sub/up -> ..`).
        log.debug("not entering %s: a symlinked folder inside the corpus folder", source)
    elif any(part.startswith(".") for part in real.relative_to(real_root).parts):
        yield Skipped(source, "its real path is a hidden file")
    elif not _is_text(real.name):
        yield Skipped(source, "its real path is not a text file")
    elif real.is_file():
        yield source, real


def _is_text(name: str) -> bool:
    path = PurePosixPath(name)
    return path.suffix.lower() in SUFFIXES and path.stem.lower() != "readme"


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 arrive as lone surrogates
        return False
    return True


def read_document(path: Path, source: str, options: LoadOptions | None = None) -> list[Document] | Skipped:
    """The Documents of the file at `path`, named `source`, or why it is skipped: one for a text
    file or a saved web page, one per chapter of a book (`source#001`, `source#002`, ...)."""
    options = options or LoadOptions()
    suffix = PurePosixPath(source).suffix.lower()
    limit, limit_name = (options.max_book_bytes, "max_book_bytes") if suffix in BOOKS else \
        (options.max_file_bytes, "max_file_bytes")
    try:
        with _open_no_follow(path) as file:
            size = os.fstat(file.fileno()).st_size
            # Never more than one byte over: the file may have grown since, or not know its size.
            raw = file.read(limit + 1) if size <= limit else b""
    except OSError as exc:  # no permission, gone, or swapped for a symlink since it was checked
        return Skipped(source, f"cannot be read ({exc.strerror})")
    if max(size, len(raw)) > limit:
        return Skipped(source, f"{max(size, len(raw)):,} bytes, over {limit_name} ({limit:,})")
    try:
        meta, parts = _parts(raw, suffix, source, options)
    except Unreadable as exc:
        return Skipped(source, str(exc))
    parts = [p for p in parts if p.text.strip()]
    if not parts:
        return Skipped(source, "no visible text")
    file_hash = hashlib.sha256(raw).hexdigest()
    name = PurePosixPath(source)
    docs = []
    for i, part in enumerate(parts):
        whole = len(parts) == 1  # the file is the document: its name may say which lecture it is
        heading = part.title or _first_heading(part.text) or (name.stem if whole else "")
        lecture = meta.lecture if meta.lecture is not None else _lecture_of(heading, name.stem, meta.kind, whole)
        toc = lecture_entry(lecture) if lecture is not None else None
        # The column's own texts are cited by the lecture's real title, whatever the copy calls it.
        title = meta.title or (toc.title if toc and meta.kind == COLUMN else heading) or name.stem
        docs.append(Document(
            page_content=part.text,
            metadata={
                "source": source if whole else f"{source}#{i + 1:03d}",
                "title": title.strip()[:FIELD_MAX_CHARS],
                "lecture": lecture,
                "lectures": meta.lectures,
                "module": meta.module or (toc.module if toc and meta.kind == COLUMN else ""),
                "url": meta.url or None,
                "kind": meta.kind,
                "pages": part.pages,
                "file_hash": file_hash,
            },
        ))
    return docs


def _parts(raw: bytes, suffix: str, source: str, options: LoadOptions) -> tuple[FrontMatter, list[Part]]:
    """The file's front matter (a book's is `kind: column` and nothing else) and its parts."""
    if suffix == ".epub":
        return FrontMatter(kind=COLUMN), epub.chapters(raw, options.max_book_bytes)
    if suffix == ".pdf":
        return FrontMatter(kind=COLUMN), pdf.chapters(raw, options.max_pdf_pages)
    reason = _unreadable(raw)
    if reason:
        raise Unreadable(reason)
    meta, body = _split_front_matter(raw.decode("utf-8-sig"), source, options)
    if suffix not in {".html", ".htm"}:
        return meta, [Part("", clean_markdown(body))]
    try:
        if meta.kind in ("", COLUMN) and WHOLE_PAGE.search(body):  # a page saved from the web: its article only
            return replace(meta, kind=COLUMN), [saved_page(body)]
        return meta, [Part("", html_to_text(body))]
    except AssertionError as exc:  # how html.parser rejects some malformed declarations (`<![ >`)
        raise Unreadable("malformed HTML") from exc


def _lecture_of(title: str, stem: str, kind: str, whole: bool) -> int | None:
    """A note's lecture is in its file name ("05-....md"); the column's, in its title ("05丨…",
    "第5讲", the bare title), and for a file that is one lecture, in its name if not in its title."""
    if kind != COLUMN:
        return _lecture_in_name(stem) if whole else None
    found = match_title(title) if title else None
    if found is None and whole:
        found = match_title(stem)
        if found is None:
            found = _lecture_in_name(stem)
    return found


def _open_no_follow(path: Path) -> BinaryIO:
    # The path was checked; a symlink swapped in since must not be followed, and a FIFO must not
    # hang ingest (reading one with no writer gives "empty file").
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    return os.fdopen(os.open(path, flags), "rb")


def _unreadable(raw: bytes) -> str | None:
    if not raw.strip():
        return "empty file"
    if b"\x00" in raw[:8192]:
        return "binary file"
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start})"
    return None


def _split_front_matter(text: str, source: str, options: LoadOptions) -> tuple[FrontMatter, str]:
    """The front matter's fields and the text after it (the header is never indexed, even when ignored)."""
    match = FRONT_MATTER.match(text)
    if not match:
        return FrontMatter(), text
    body = text[match.end() :]
    size = len(match.group(1).encode())
    if size > options.max_front_matter_bytes:
        log.warning("%s: front matter ignored (%s bytes, over max_front_matter_bytes: %s)",
                    source, f"{size:,}", f"{options.max_front_matter_bytes:,}")
        return FrontMatter(), body
    return _front_matter_fields(_parse_yaml(match.group(1), source), source), body


class _Refused(yaml.YAMLError):
    """YAML that is valid but not front matter; its message says why."""


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader without aliases or deep nesting. Aliases to lists of aliases expand a few hundred
    bytes into tens of millions of characters; PyYAML composes nested nodes recursively, so three
    thousand `[` end in RecursionError."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise _Refused("YAML aliases are not allowed")
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise _Refused(f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _parse_yaml(text: str, source: str) -> dict[object, object]:
    try:
        data = yaml.load(text, Loader=_FrontMatterLoader)  # a SafeLoader
    except _Refused as exc:
        log.warning("%s: front matter ignored (%s)", source, exc)
        return {}
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an int of 5,000 digits, a 13th month
        log.warning("%s: front matter ignored (%s)", source, exc.__class__.__name__)
        return {}
    return data if isinstance(data, dict) else {}


def _front_matter_fields(data: dict[object, object], source: str) -> FrontMatter:
    return FrontMatter(
        title=_text_field(data, "title", source), module=_text_field(data, "module", source),
        url=_text_field(data, "url", source), kind=_text_field(data, "kind", source),
        lecture=_lecture_field(data, source), lectures=_lectures_field(data, source),
    )


def _text_field(data: dict[object, object], name: str, source: str) -> str:
    value = data.get(name)
    if not value:
        return ""
    if not isinstance(value, str | int | float | date):  # bool is an int
        log.warning("%s: front matter %s ignored (%s, not text)", source, name, _a(value))
        return ""
    text = str(value)
    if len(text) > FIELD_MAX_CHARS:
        log.warning("%s: front matter %s ignored (%s characters, over %s)", source, name, f"{len(text):,}",
                    FIELD_MAX_CHARS)
        return ""
    return text


def _a(value: object) -> str:
    """`value`'s kind, as a warning names it."""
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else f"a {type(value).__name__}"


def _lecture_field(data: dict[object, object], source: str) -> int | None:
    value = data.get("lecture")
    if value is None:
        return None
    number = _lecture_number(value)
    if number is None:
        log.warning("%s: front matter lecture ignored (not a number from 0 to 9999)", source)
    return number


def _lectures_field(data: dict[object, object], source: str) -> list[int]:
    value = data.get("lectures")
    if value is None:
        return []
    numbers = [_lecture_number(v) for v in value] if isinstance(value, list) else [None]
    if len(numbers) > MAX_LECTURES or None in numbers:
        log.warning("%s: front matter lectures ignored (not a list of at most %s numbers from 0 to 9999)",
                    source, MAX_LECTURES)
        return []
    return [n for n in numbers if n is not None]


def _lecture_number(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= 9999 else None
    if isinstance(value, str) and LECTURE_NUMBER.fullmatch(value.strip()):
        return int(value)
    return None


def _lecture_in_name(stem: str) -> int | None:
    match = LEADING_NUMBER.match(stem)
    return int(match.group(1)) if match else None


def _first_heading(text: str) -> str | None:
    match = HEADING.search(text)
    return match.group(1)[:FIELD_MAX_CHARS] if match else None
