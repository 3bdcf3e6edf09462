"""Text from the corpus or from readers, made safe to print on an operator's terminal.

A file name, a title or a question may carry what a terminal obeys rather than shows: ESC
sequences (clear the screen, rewrite the title, OSC 8 links), their one-byte C1 forms (U+009B is
CSI), bidi overrides that reorder what is shown (U+202E), line breaks that forge rows, and lone
surrogates (a file name that is not UTF-8), which cannot even be encoded for printing.
`printable` shows each as an escape (`\\x1b`, `\\u202e`, `\\n`); all else, Chinese included, stays.
Self-contained on purpose: any door may import it.
"""

from __future__ import annotations

import re

# C0 and DEL, C1, lone surrogates, the bidi embeddings, overrides and isolates, the direction marks
# (LRM, RLM, ALM), and the line and paragraph separators some terminals break lines at.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029]")
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
LAYOUT = frozenset("\n\t")  # what text printed whole may keep: its own line breaks and tabs


def printable(text: str, newlines: bool = False) -> str:
    """`text` with control characters, bidi controls and (unless `newlines`) line breaks and tabs
    shown as escapes. \\r is escaped either way: a bare carriage return lets the rest of a line
    overwrite what came before it."""
    kept = LAYOUT if newlines else frozenset()
    return UNSAFE.sub(lambda m: m.group() if m.group() in kept else escape(m.group()), text)


def escape(char: str) -> str:
    code = ord(char)
    return NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
