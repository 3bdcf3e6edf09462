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
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
SHORTCODE = re.compile(r"\{\{[<%]\s*(/?)\s*([\w-]+)(.*?)\s*[%>]\}\}", re.S)
ATTR = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
MD_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})", re.M)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
HEADING_ANCHOR = re.compile(r"(?m)^(#{1,6}[ \t].*?)[ \t]*\{#[\w.-]+\}[ \t]*$")
LEADING_NUMBER = re.compile(r"^(\d{1,3})(?:[-_. ]|$)")


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
    text = html_to_text(body) if path.suffix.lower() in {".html", ".htm"} else clean_markdown(body)
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
    text = SHORTCODE.sub(_shortcode_text, text)
    parts = re.split(r"(^ {0,3}(?:`{3,}|~{3,}).*?^ {0,3}(?:`{3,}|~{3,})[ \t]*$)", text, flags=re.M | re.S)
    text = "".join(p if i % 2 else MD_LINK.sub(_link_label, p) for i, p in enumerate(parts))
    text = HEADING_ANCHOR.sub(r"\1", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _shortcode_text(match: re.Match[str]) -> str:
    closing, name, args = match.groups()
    if closing:
        return ""
    attrs: dict[str, str] = dict(ATTR.findall(args))
    if "text" in attrs:
        return attrs["text"]
    if name == "feature-state" and "for_k8s_version" in attrs:
        return f"Kubernetes {attrs['for_k8s_version']} [{attrs.get('state', '')}]"
    return ""


def _link_label(match: re.Match[str]) -> str:
    return match.group(2) or ""


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
    parser.close()
    return clean_markdown("".join(parser.out))
