"""Read a folder of .md / .markdown / .txt / .html files into LangChain `Document`s.

The loaded text is what a reader would see: YAML front matter becomes metadata, HTML
comments are dropped, Hugo shortcodes keep only their visible text, Markdown links keep
their label. Offsets of chunks refer to this loaded text.

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
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import yaml
from langchain_core.documents import Document
from pydantic import BaseModel, Field

from corpus.errors import CorpusNotFound

log = logging.getLogger(__name__)

SUFFIXES = {".md", ".markdown", ".txt", ".html", ".htm"}
FIELD_MAX_CHARS = 300  # a title, module, url or kind (or a heading standing in for one) longer than this is noise
MAX_LECTURES = 50
MAX_YAML_DEPTH = 20  # front matter nests a level or two; PyYAML recurses once per level
LECTURE_NUMBER = re.compile(r"\d{1,4}", re.ASCII)
LEADING_NUMBER = re.compile(r"^(\d{1,3})(?:[-_. ]|$)")

# Possessive quantifiers (`*+`, `++`) and the look-behinds below keep each pattern linear: a long
# line of `[`, spaces or `#` once cost seconds per 40 KB, growing with the square of the line.
FRONT_MATTER = re.compile(r"\A---[ \t]*+\r?\n(.*?)\r?\n---[ \t]*+(?:\r?\n|\Z)", re.S)
COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
SHORTCODE_OPEN = re.compile(r"\{\{[<%]\s*+(/?)\s*+([\w-]++)")
SHORTCODE_CLOSE = re.compile(r"[%>]\}\}")
ATTR = re.compile(r'(?<!\w)(\w++)\s*+=\s*+"([^"]*+)"')
# A label runs to the first `]`; with no `(target)` after it the match keeps the text as it was, so
# the search goes on after the label instead of scanning it again from each `[` inside it.
MD_LINK = re.compile(r'(!?)\[([^\]\n]*+)(\]\((?:[^()\s]|\([^()\s]*+\))*+(?:\s++"[^"]*+")?\))?')
FENCE_OPEN = re.compile(r" {0,3}(?:`{3,}+|~{3,}+)")
FENCE_CLOSE = re.compile(r" {0,3}(?:`{3,}+|~{3,}+)[ \t]*+$", re.M)
# The name is what remains once the closing `#`s and blanks are gone (or, when nothing does, one of them).
HEADING = re.compile(r"^#{1,6}[ \t]+((?:[ \t#]*+[^ \t#\n])++|[ \t#])[ \t#]*+$", re.M)
HEADING_ANCHOR = re.compile(r"(?m)^(#{1,6}[ \t](?:[ \t]*+[^ \t\n])*?)[ \t]*+\{#[\w.-]++\}[ \t]*+$")
TRAILING_BLANKS = re.compile(r"(?<![ \t])[ \t]++\n")


class LoadOptions(BaseModel):
    max_file_bytes: int = Field(5 * 1024 * 1024, ge=1,
                                description="Larger files are skipped, with a warning naming them and their size.")
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
    """Yield one Document per readable file under `root`, in path order.

    Each file not read (outside the folder, too large, binary, empty, undecodable...) is logged
    with a warning naming it, and added to `skipped` when given.
    """
    if not root.is_dir():
        raise CorpusNotFound(f"corpus folder not found: {root}")
    options = options or LoadOptions()
    for found in text_files(root):
        if isinstance(found, Skipped):
            result: Document | Skipped = found
        else:
            source, path = found
            result = read_document(path, source, options)
        if isinstance(result, Document):
            yield result
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


def read_document(path: Path, source: str, options: LoadOptions | None = None) -> Document | Skipped:
    """The Document for the file at `path`, named `source` (whose name gives the title and lecture
    when the front matter does not), or why it is skipped."""
    options = options or LoadOptions()
    limit = options.max_file_bytes
    try:
        with _open_no_follow(path) as file:
            size = os.fstat(file.fileno()).st_size
            # Never more than one byte over: the file may have grown since, or not know its size.
            raw = file.read(limit + 1) if size <= limit else b""
    except OSError as exc:  # no permission, gone, or swapped for a symlink since it was checked
        return Skipped(source, f"cannot be read ({exc.strerror})")
    if max(size, len(raw)) > limit:
        return Skipped(source, f"{max(size, len(raw)):,} bytes, over max_file_bytes ({limit:,})")
    reason = _unreadable(raw)
    if reason:
        return Skipped(source, reason)
    name = PurePosixPath(source)
    meta, body = _split_front_matter(raw.decode("utf-8-sig"), source, options)
    try:
        text = html_to_text(body) if name.suffix.lower() in {".html", ".htm"} else clean_markdown(body)
    except AssertionError:  # how html.parser rejects some malformed declarations (`<![ >`)
        return Skipped(source, "malformed HTML")
    if not text.strip():
        return Skipped(source, "no visible text")
    title = meta.title or _first_heading(text) or name.stem
    return Document(
        page_content=text,
        metadata={
            "source": source,
            "title": title.strip(),
            "lecture": meta.lecture if meta.lecture is not None else _lecture_in_name(name.stem),
            "lectures": meta.lectures,
            "module": meta.module,
            "url": meta.url or None,
            "kind": meta.kind,
            "file_hash": hashlib.sha256(raw).hexdigest(),
        },
    )


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


def clean_markdown(text: str) -> str:
    """Drop what a reader never sees; code blocks keep their links untouched."""
    text = COMMENT.sub("", text)
    text = strip_shortcodes(text)
    parts = split_fenced(text)
    text = "".join(p if i % 2 else MD_LINK.sub(_link_label, p) for i, p in enumerate(parts))
    text = HEADING_ANCHOR.sub(r"\1", text)
    text = TRAILING_BLANKS.sub("\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def strip_shortcodes(text: str) -> str:
    """Each Hugo shortcode (`{{< name args >}}`, `{{% ... %}}`) replaced by its visible text.

    A scan, not one pattern: `\\{\\{[<%]...(.*?)[%>]\\}\\}` searched the rest of the text again from
    every `{{<` that never closes.
    """
    out: list[str] = []
    done = 0
    for opened in SHORTCODE_OPEN.finditer(text):
        if opened.start() < done:
            continue  # inside the shortcode just replaced
        closed = SHORTCODE_CLOSE.search(text, opened.end())
        if not closed:
            break  # nor can any later one close
        args = text[opened.end() : closed.start()]
        out += [text[done : opened.start()], _shortcode_text(opened.group(1), opened.group(2), args)]
        done = closed.end()
    return "".join(out) + text[done:]


def _shortcode_text(closing: str, name: str, args: str) -> str:
    if closing:
        return ""
    attrs: dict[str, str] = dict(ATTR.findall(args))
    if "text" in attrs:
        return attrs["text"]
    if name == "feature-state" and "for_k8s_version" in attrs:
        return f"Kubernetes {attrs['for_k8s_version']} [{attrs.get('state', '')}]"
    return ""


def split_fenced(text: str) -> list[str]:
    """`[prose, code, prose, ..., prose]`: a code block runs from a line opening with ``` or ~~~ to
    the next line that is only a fence.

    Line by line, not one `^fence.*?^fence$` pattern, which searched the rest of the text again
    from every fence that never closes.
    """
    parts: list[str] = []
    prose = 0
    lines = _line_starts(text)  # one iterator: each line is looked at once
    for start in lines:
        if not FENCE_OPEN.match(text, start):
            continue
        close = _first_match(FENCE_CLOSE, text, lines)
        if close is None:
            break  # nor does any later fence close: the rest is prose
        parts += [text[prose:start], text[start : close.end()]]
        prose = close.end()
    return [*parts, text[prose:]]


def _first_match(pattern: re.Pattern[str], text: str, starts: Iterator[int]) -> re.Match[str] | None:
    """The match of `pattern` at the first of `starts` where it matches (`starts` goes on from there)."""
    for start in starts:
        if match := pattern.match(text, start):
            return match
    return None


def _line_starts(text: str) -> Iterator[int]:
    start = 0
    while True:
        yield start
        newline = text.find("\n", start)
        if newline < 0:
            return
        start = newline + 1


def _link_label(match: re.Match[str]) -> str:
    return match.group(2) if match.group(3) else match.group(0)


class _TextExtractor(HTMLParser):
    """HTML → Markdown-ish text: headings become `#` lines, <pre> becomes a fence."""

    BLOCKS = frozenset({"p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol", "blockquote"})
    SKIP = frozenset({"script", "style", "template", "noscript", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "pre":
            self.out.append("\n\n```\n")
        elif tag in self.BLOCKS:
            self.out.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"} or tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag == "pre":
            self.out.append("\n```\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    # What feed() leaves starts, if with `<`, at a construct that never completes (`<a` and no `>`,
    # `<!--` and no `-->`). At close(), Python before 3.11.13 searches the rest of the text again
    # from every `<` after it: quadratic (CVE-2025-6069). Later ones drop the rest, as HTML5 says
    # a browser does; so do we. Well-formed HTML leaves nothing, or text, and is read as before.
    if parser.rawdata.startswith("<"):
        parser.rawdata = ""
    parser.close()
    return clean_markdown("".join(parser.out))
