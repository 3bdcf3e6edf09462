"""What a reader sees of a text file: Markdown without comments, Hugo shortcodes or link targets,
HTML as Markdown-ish text (headings as `#` lines, <pre> as fences, list items as `- ` lines).

Every pattern here runs in linear time: corpus files are input nobody vetted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

# Possessive quantifiers (`*+`, `++`) and the look-behinds below keep each pattern linear: a long
# line of `[`, spaces or `#` once cost seconds per 40 KB, growing with the square of the line.
COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
SHORTCODE_OPEN = re.compile(r"\{\{[<%]\s*+(/?)\s*+([\w-]++)")
SHORTCODE_CLOSE = re.compile(r"[%>]\}\}")
ATTR = re.compile(r'(?<!\w)(\w++)\s*+=\s*+"([^"]*+)"')
# A label runs to the first `]`; with no `(target)` after it the match keeps the text as it was, so
# the search goes on after the label instead of scanning it again from each `[` inside it.
MD_LINK = re.compile(r'(!?)\[([^\]\n]*+)(\]\((?:[^()\s]|\([^()\s]*+\))*+(?:\s++"[^"]*+")?\))?')
FENCE_OPEN = re.compile(r" {0,3}(?:`{3,}+|~{3,}+)")
FENCE_CLOSE = re.compile(r" {0,3}(?:`{3,}+|~{3,}+)[ \t]*+$", re.M)
HEADING_ANCHOR = re.compile(r"(?m)^(#{1,6}[ \t](?:[ \t]*+[^ \t\n])*?)[ \t]*+\{#[\w.-]++\}[ \t]*+$")
TRAILING_BLANKS = re.compile(r"(?<![ \t])[ \t]++\n")


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
    """HTML → Markdown-ish text: headings become `#` lines, <pre> becomes a fence, list items `- `
    (or `1. `) lines, one list's items on consecutive lines (so an answer can quote a list whole)."""

    BLOCKS = frozenset({"p", "div", "tr", "br", "section", "article", "table", "ul", "ol", "blockquote"})
    SKIP = frozenset({"script", "style", "template", "noscript", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.lists: list[int] = []  # per open list: items so far (-1: unordered)
        self.items = 0  # open <li> elements
        self.pre = 0  # open <pre> elements

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "pre":
            self.pre += 1
            self.out.append("\n\n```\n")
        elif tag in {"ul", "ol"}:
            self.lists.append(0 if tag == "ol" else -1)
            self.out.append("\n\n" if not self.items else "\n")
        elif tag == "li":
            self.items += 1
            if self.lists and self.lists[-1] >= 0:
                self.lists[-1] += 1
                marker = f"{self.lists[-1]}. "
            else:
                marker = "- "
            self.out.append(("" if self.out and self.out[-1].endswith("\n") else "\n")
                            + "  " * max(0, len(self.lists) - 1) + marker)
        elif tag in self.BLOCKS and not self.items:  # a paragraph inside an item stays on its line
            self.out.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in {"ul", "ol"}:
            if self.lists:
                self.lists.pop()
            self.out.append("\n\n" if not self.items else "\n")
        elif tag == "li":
            self.items = max(0, self.items - 1)
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"} or (tag in self.BLOCKS and not self.items):
            self.out.append("\n\n")
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self.out.append(("```" if self.out and self.out[-1].endswith("\n") else "\n```") + "\n\n")

    def handle_data(self, data: str) -> None:
        if self.lists and not self.items and not data.strip():
            return  # the blanks between a list's items
        if not self.skip:
            self.out.append(data if not self.items or self.pre else data.replace("\n", " "))


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
