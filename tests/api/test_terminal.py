"""Text from the corpus or from readers, printed on an operator's terminal, shows its control characters
instead of obeying them."""

import os

from api.terminal import printable


def test_controls_and_bidi_overrides_become_visible_escapes() -> None:
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"  # ESC: clear the screen
    assert printable("\x9b31mred") == "\\x9b31mred"  # the one-byte C1 form of ESC [
    assert printable("\x07\x00\x7f") == "\\x07\\x00\\x7f"
    assert printable("invoice\u202efdp.exe") == "invoice\\u202efdp.exe"  # shows as invoiceexe.pdf
    assert printable("\u2066x\u2069\u200f") == "\\u2066x\\u2069\\u200f"
    assert printable(os.fsdecode(b"\xff.md")) == "\\udcff.md"  # a file name that is not UTF-8


def test_line_breaks_are_escaped_unless_kept() -> None:
    assert printable("一\n二\r三\t四") == "一\\n二\\r三\\t四"
    assert printable("一\n二\r\n三\t四\u2028", newlines=True) == "一\n二\\r\n三\t四\\u2028"


def test_ordinary_text_is_untouched() -> None:
    text = "容器就是进程：kubectl get pods -o wide «ok» é 😀 \\x1b"
    assert printable(text) == printable(text, newlines=True) == text
