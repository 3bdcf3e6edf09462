"""A web page saved from the browser → its article's main text (headings, code blocks and lists
kept; navigation, the table of contents, comments, "next lecture" links and footers dropped).

readability-lxml finds the article (the block with the most running prose, a port of Mozilla's
Readability); corpus.text turns it into Markdown-ish text like every other file. Chosen over
trafilatura by measurement (bench/your_copy.py; corpus/README.md): both kept the article and none of
the rest, but trafilatura's Markdown escapes `_` and `*` (`cfs\\_quota\\_us`: no longer the term a
reader searches for), its HTML output turns code into quotes, and it pulls in a dozen more packages.
Readability drops a block under 25 characters, made for English: a two-item Chinese list is
shorter, so the bar is lowered (MIN_TEXT).
"""

from __future__ import annotations

import logging

import lxml.html
from lxml.etree import ParserError
from readability import Document as Readable
from readability.readability import Unparseable

from corpus.lectures import match_title
from corpus.part import Part, Unreadable
from corpus.text import html_to_text

logging.getLogger("readability.readability").setLevel(logging.WARNING)  # it logs every page at INFO
MIN_TEXT = 8  # characters: a shorter block outside the article's paragraphs is dropped (readability: 25)
# What a page marks as not its article (outside an <article> or <main>). Readability drops such blocks by
# their class names, but on a page whose article is short it may take the whole <body>, navigation and footer
# with it ("首页全部课程").
CHROME = ("//*[(self::nav or self::footer or self::aside or @role='navigation' or @role='contentinfo'"
          " or @role='complementary') and not(ancestor::article or ancestor::main)]")


def saved_page(html: str) -> Part:
    """The page's article as a Part, titled by its first heading or <title> that names a lecture."""
    try:
        page = lxml.html.document_fromstring(html)
        for element in page.xpath(CHROME):
            element.drop_tree()
        main = Readable(lxml.html.tostring(page, encoding="unicode"), min_text_length=MIN_TEXT).summary(
            html_partial=True)
    except (Unparseable, ParserError, ValueError) as exc:
        raise Unreadable(f"not a readable web page ({exc.__class__.__name__})") from exc
    text = html_to_text(main)
    headings = [line[2:].strip() for line in text.splitlines() if line.startswith("# ")]
    named = [*headings, *(h.text_content().strip() for h in page.iter("h1")), page.findtext(".//title") or ""]
    named = [" ".join(n.split()) for n in named if n and n.strip()]
    title = next((n for n in named if match_title(n) is not None), named[0] if named else "")
    return Part(title, text)
