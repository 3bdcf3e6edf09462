import logging
import zipfile
from pathlib import Path

import pytest

from corpus.lectures import lecture
from corpus.load import LoadOptions, read_documents
from tests.corpus.copies import TEXTS, article_html, epub_book


def _title(n: int) -> str:
    entry = lecture(n)
    assert entry is not None
    return entry.title


def test_chapters_come_in_the_books_order_titled_by_its_navigation(tmp_path: Path) -> None:
    epub_book([
        ("版权信息", "<p>本书为测试而作，版权归我们自己。</p>"),
        ("第1章 白话容器基础（一）：从进程说开去", article_html(5, "第1章 白话容器基础（一）：从进程说开去")),
        ("06丨白话容器基础（二）：隔离与限制", article_html(6, "06丨白话容器基础（二）：隔离与限制")),
        (None, "<p>这是上一章被转换工具切开的后半部分，仍属于同一讲。</p>"),
        ("第 13 讲 为什么我们需要Pod", article_html(13, "为什么我们需要Pod")),
        ("后记：写给测试的话", "<p>这一章不对应专栏的任何一讲。</p>"),
    ], str(tmp_path / "book.epub"))
    docs = list(read_documents(tmp_path))
    got = [(d.metadata["source"], d.metadata["lecture"], d.metadata["title"]) for d in docs]
    assert got == [
        ("book.epub#001", None, "版权信息"),
        ("book.epub#002", 5, _title(5)),
        ("book.epub#003", 6, _title(6)),
        ("book.epub#004", 13, _title(13)),
        ("book.epub#005", None, "后记：写给测试的话"),
    ]
    assert all(d.metadata["kind"] == "column" for d in docs)
    six = docs[2].page_content
    assert TEXTS[6][1][0] in six and "被转换工具切开的后半部分" in six  # the split-off file joined its chapter
    assert f"- {TEXTS[13][2][0]}\n- {TEXTS[13][2][1]}" in docs[3].page_content
    assert docs[1].metadata["module"] == "容器技术概念入门篇"


def test_broken_and_oversized_books_are_skipped_by_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "broken.epub").write_bytes(b"PK\x03\x04 not really a zip")
    epub_book([("05 | 白话容器基础（一）：从进程说开去", "<p>" + "同一句话反复出现。" * 20_000 + "</p>")],
              str(tmp_path / "big.epub"))
    limit = (tmp_path / "big.epub").stat().st_size + 1  # the file is under the limit, what it unpacks to is not
    with zipfile.ZipFile(tmp_path / "drm.epub", "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/encryption.xml", '<encryption><CipherReference URI="text/ch01.xhtml"/></encryption>')
    with caplog.at_level(logging.WARNING):
        docs = list(read_documents(tmp_path, LoadOptions(max_book_bytes=limit)))
    assert docs == []
    assert "skipped broken.epub: not a readable EPUB (BadZipFile)" in caplog.text
    assert "skipped drm.epub: encrypted (DRM): remove the protection first" in caplog.text
    assert "skipped big.epub: unpacks to" in caplog.text
