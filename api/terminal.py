"""Text from readers or the corpus, made safe to print on an operator's terminal.

A question, a feedback comment, a corpus title or file name may carry what a terminal obeys
rather than shows: ESC sequences (clear the screen, set the title, OSC 8 links), their one-byte
C1 forms (U+009B is CSI), bidi overrides that reorder what is shown, and newlines that forge
rows. `printable` turns each into a visible escape (`\\x1b`, `\\u202e`, `\\n`); everything
else, Chinese included, is printed as is. Self-contained on purpose: any door may import it.
"""

from __future__ import annotations

import json
import re

# C0 and DEL, C1, lone surrogates (they cannot be encoded for printing), the bidi embeddings,
# overrides and isolates, the direction marks (LRM, RLM, ALM), and the line and paragraph
# separators some terminals and pagers break lines at.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029]")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LAYOUT = frozenset("\n\t")  # what an answer printed whole may keep: its own line breaks and tabs


def printable(text: str, newlines: bool = False) -> str:
    """`text` with control characters, bidi controls and (unless `newlines`) line breaks shown as
    escapes. With `newlines`, \\n and \\t stay; \\r is escaped either way, since a bare carriage
    return lets the rest of a line overwrite what came before it."""
    kept = _LAYOUT if newlines else frozenset()
    return _UNSAFE.sub(lambda m: m.group() if m.group() in kept else _escape(m.group()), text)


def json_text(data: object, indent: int | None = None) -> str:
    """JSON as json.dumps(ensure_ascii=False) writes it (Chinese stays readable), with what it leaves
    raw and a terminal would obey escaped too: C1 controls, DEL, bidi controls, U+2028/9 (json.dumps
    escapes C0 itself). Still valid JSON that decodes to the same data."""
    dumped = json.dumps(data, ensure_ascii=False, indent=indent)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def _escape(ch: str) -> str:
    code = ord(ch)
    return _NAMED.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
