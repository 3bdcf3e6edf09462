import logging
from pathlib import Path

import pytest

from corpus.chunk import ChunkOptions, chunk_document
from corpus.lectures import lecture
from corpus.load import read_documents
from tests.corpus.copies import TEXTS, noise, saved_page


def test_a_saved_page_gives_its_article_only_mapped_to_its_lecture(tmp_path: Path) -> None:
    (tmp_path / "第5讲.html").write_text(saved_page(5, "05丨白话容器基础（一）：从进程说开去"), encoding="utf-8")
    (doc,) = read_documents(tmp_path)
    meta, text = doc.metadata, doc.page_content
    assert meta["lecture"] == 5 and meta["kind"] == "column"
    entry = lecture(5)
    assert entry is not None and meta["title"] == entry.title and meta["module"] == entry.module
    heading, paragraphs, items, code = TEXTS[5]
    assert all(p in text for p in paragraphs)
    assert f"## {heading}" in text  # headings kept
    assert "\n".join(f"- {i}" for i in items) in text  # one list, item by item
    assert f"```\n{code}\n```" in text  # the code block whole
    chunks = chunk_document(doc, ChunkOptions())
    indexed = "\n".join(c.headed_text for c in chunks)
    assert [n for n in noise() if n in indexed] == []


def test_a_page_with_a_short_article_loses_its_navigation_and_footer_too(tmp_path: Path) -> None:
    # So short an article that readability takes the whole <body>: what the page marks as chrome goes first.
    page = ("<html><head><title>05丨白话容器基础（一）：从进程说开去</title></head><body>"
            "<nav><a href='/'>首页</a><a href='/c'>全部课程</a></nav><div role='navigation'>上一讲 下一讲</div>"
            "<article><h1>05丨白话容器基础（一）：从进程说开去</h1><p>容器里的进程只看得到自己。</p>"
            "<aside>正文里的提示框：它是文章的一部分。</aside></article>"
            "<footer>版权所有 某学习网站</footer></body></html>")
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    (doc,) = read_documents(tmp_path)
    text = doc.page_content
    assert "容器里的进程只看得到自己。" in text and "正文里的提示框" in text, text
    assert not any(n in text for n in ("首页", "全部课程", "上一讲", "版权所有")), text
    assert doc.metadata["lecture"] == 5


@pytest.mark.parametrize(("title", "lecture_number"), [
    ("第 06 讲 | 白话容器基础（二）：隔离与限制", 6),
    ("为什么我们需要Pod？", 13),
    ("13 | 为什么我们需要 Pod", 13),
])
def test_the_lecture_comes_from_the_page_title(tmp_path: Path, title: str, lecture_number: int) -> None:
    (tmp_path / "page.html").write_text(saved_page(lecture_number, title), encoding="utf-8")
    (doc,) = read_documents(tmp_path)
    assert doc.metadata["lecture"] == lecture_number


def test_front_matter_still_wins_and_a_page_of_no_lecture_says_so(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("---\nlecture: 13\n---\n" + saved_page(5, "05丨白话容器基础（一）：从进程说开去"),
                                     encoding="utf-8")
    (tmp_path / "b.html").write_text(saved_page(6, "一篇与专栏目录对不上的文章"), encoding="utf-8")
    docs = {d.metadata["source"]: d.metadata for d in read_documents(tmp_path)}
    assert docs["a.html"]["lecture"] == 13 and docs["a.html"]["kind"] == "column"
    assert docs["b.html"]["lecture"] is None and docs["b.html"]["title"] == "一篇与专栏目录对不上的文章"


def test_an_html_fragment_or_a_note_is_read_whole(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "07-note.html").write_text("---\nkind: note\n---\n" + saved_page(6, "标题"), encoding="utf-8")
    (tmp_path / "frag.html").write_text("<h1>片段</h1><ul><li>甲</li><li>乙</li></ul>", encoding="utf-8")
    docs = {d.metadata["source"]: d for d in read_documents(tmp_path)}
    assert docs["07-note.html"].metadata["kind"] == "note" and docs["07-note.html"].metadata["lecture"] == 7
    assert "精选留言" in docs["07-note.html"].page_content  # a note is everything it says
    assert docs["frag.html"].page_content == "# 片段\n\n- 甲\n- 乙\n"
    assert docs["frag.html"].metadata["kind"] == ""


def test_a_page_with_no_text_is_skipped_by_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "empty.html").write_text("<html><body><nav></nav></body></html>", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert list(read_documents(tmp_path)) == []
    assert "skipped empty.html: no visible text" in caplog.text
