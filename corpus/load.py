"""Read a folder of .md / .markdown / .txt / .html files into LangChain `Document`s.

The loaded text is what a reader would see: YAML front matter becomes metadata, HTML
comments are dropped, Hugo shortcodes keep only their visible text, Markdown links keep
their label. Offsets of chunks refer to this loaded text.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml
from langchain_core.documents import Document

from corpus.errors import CorpusNotFound

log = logging.getLogger(__name__)

SUFFIXES = {".md", ".markdown", ".txt", ".html", ".htm"}
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


def read_documents(root: Path) -> Iterator[Document]:
    """Yield one Document per readable file under `root`, in path order.

    Binary, empty or undecodable files are skipped with a warning naming them.
    """
    if not root.is_dir():
        raise CorpusNotFound(f"corpus folder not found: {root}")
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
        rel = path.relative_to(root).as_posix()
        # Hidden files, and READMEs that describe a folder rather than teach anything.
        if any(part.startswith(".") for part in Path(rel).parts) or path.stem.lower() == "readme":
            continue
        doc = read_document(path, rel)
        if doc is not None:
            yield doc


def read_document(path: Path, source: str) -> Document | None:
    raw = path.read_bytes()
    reason = _unreadable(raw)
    if reason:
        log.warning("skipped %s: %s", source, reason)
        return None
    raw_text = raw.decode("utf-8-sig")
    meta, body = _split_front_matter(raw_text, source)
    try:
        text = html_to_text(body) if path.suffix.lower() in {".html", ".htm"} else clean_markdown(body)
    except AssertionError:  # how html.parser rejects some malformed declarations (`<![ >`)
        log.warning("skipped %s: malformed HTML", source)
        return None
    if not text.strip():
        log.warning("skipped %s: no visible text", source)
        return None
    title = str(meta.get("title") or _first_heading(text) or path.stem)
    return Document(
        page_content=text,
        metadata={
            "source": source,
            "title": title.strip(),
            "lecture": _lecture(meta.get("lecture"), path.stem),
            "module": str(meta.get("module") or ""),
            "url": str(meta["url"]) if meta.get("url") else None,
            "kind": str(meta.get("kind") or ""),
            "file_hash": hashlib.sha256(raw).hexdigest(),
        },
    )


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


def _split_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        log.warning("%s: front matter ignored (%s)", source, exc.__class__.__name__)
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    return meta, text[match.end() :]


def _lecture(value: object, stem: str) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    match = LEADING_NUMBER.match(stem)
    return int(match.group(1)) if match else None


def _first_heading(text: str) -> str | None:
    match = HEADING.search(text)
    return match.group(1) if match else None


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
