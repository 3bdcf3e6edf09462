"""What reaches an operator's terminal: readers' and the corpus's text with its control characters,
bidi overrides and (in one-line rows) newlines made visible."""

import pytest

from api.terminal import printable


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[2J", "\\x1b[2J"),                                        # clear screen
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),                      # OSC: window title
    ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",         # OSC 8 hyperlink
     "\\x1b]8;;https://evil.example\\x1b\\link\\x1b]8;;\\x1b\\"),
    ("\x9b2J", "\\x9b2J"),                                          # C1 CSI: ESC [ in one byte
    ("\x85", "\\x85"),                                              # C1 NEL
    ("\x7f\x00\x08", "\\x7f\\x00\\x08"),                             # DEL, NUL, backspace
    ("abc\u202edef", "abc\\u202edef"),                              # right-to-left override
    ("\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d", "\\u2066\\u2067\\u2068\\u2069\\u202a\\u202b\\u202c\\u202d"),
    ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),               # marks
    ("\ud800", "\\ud800"),                                          # a lone surrogate cannot even be printed
    ("a\nb\rc\r\n", "a\\nb\\rc\\r\\n"),
    ("a\tb", "a\\tb"),
    ("第 6 讲：Cgroups 怎么限制 CPU？ é ß ‘quotes’ — 👍", "第 6 讲：Cgroups 怎么限制 CPU？ é ß ‘quotes’ — 👍"),
])
def test_one_line_text_is_escaped(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert printable(shown) == shown  # what it prints is plain text: printing it again changes nothing


def test_newlines_may_stay_in_an_answer_but_nothing_else_does() -> None:
    answer = "第一段。\n\n第二段\t[1]\x1b[31m 红字\u202e\r覆盖"
    assert printable(answer, newlines=True) == "第一段。\n\n第二段\t[1]\\x1b[31m 红字\\u202e\\r覆盖"
