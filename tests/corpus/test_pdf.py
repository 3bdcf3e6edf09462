import logging
from pathlib import Path

import pytest

from bot.answer import cite
from corpus.chunk import Chunk, ChunkOptions, chunk_document
from corpus.lectures import lecture
from corpus.load import read_documents
from tests.corpus.copies import pdf_book

# Our own sentences, a few per page; lecture 5 runs over pages 2-4.
LINES = [f"第{i}句：这是我们为测试写的第{i}句话，讲容器与进程的关系。" for i in range(1, 40)]
PAGES = [
    ["我们自己的测试书", "前言：这本书只为测试而写。"],
    ["05 | 白话容器基础（一）：从进程说开去", *LINES[0:12]],
    LINES[12:26],
    LINES[26:39],
    ["第 13 讲 为什么我们需要Pod", "几个紧密协作的进程常常需要放在同一台机器上运行。"],
]


def _title(n: int) -> str:
    entry = lecture(n)
    assert entry is not None
    return entry.title


def test_a_pdf_is_cut_into_its_lectures_and_keeps_its_page_numbers(tmp_path: Path) -> None:
    pdf_book(str(tmp_path / "book.pdf"), PAGES)
    docs = list(read_documents(tmp_path))
    assert [(d.metadata["source"], d.metadata["lecture"], d.metadata["title"]) for d in docs] == [
        ("book.pdf#001", None, "book"),  # pages before the first lecture: named by the file
        ("book.pdf#002", 5, _title(5)),
        ("book.pdf#003", 13, _title(13)),
    ]
    five = docs[1]
    assert five.metadata["kind"] == "column"
    assert [page for _, page in five.metadata["pages"]] == [2, 3, 4]
    chunks = chunk_document(five, ChunkOptions(size=200, overlap=40))
    assert len(chunks) > 3
    for chunk in chunks:  # each sentence is cited by the page it is printed on
        for i, line in enumerate(LINES, 1):
            at = chunk.text.find(line)
            if at >= 0:
                assert chunk.page_at(at) == (2 if i <= 12 else 3 if i <= 26 else 4), (line, chunk)
    spanning = next(c for c in chunks if c.page_breaks)
    assert spanning.page is not None and spanning.page_at(len(spanning.text) - 1) == spanning.page + 1
    quote = LINES[13]
    holder = next(c for c in chunks if quote in c.text)
    citation = cite(1, holder, [quote], 0.5)
    assert citation.page == 3 and citation.quote in citation.text


def test_the_outline_names_the_lectures_when_the_pages_do_not(tmp_path: Path) -> None:
    pages = [["前言"], LINES[0:5], LINES[5:10], LINES[10:15]]
    outline = [("前言", 0), ("第1章 白话容器基础（一）：从进程说开去", 1), ("第2章 为什么我们需要Pod", 3)]
    pdf_book(str(tmp_path / "book.pdf"), pages, outline=outline)
    docs = list(read_documents(tmp_path))
    assert [(d.metadata["lecture"], [p for _, p in d.metadata["pages"]]) for d in docs] == \
        [(None, [1]), (5, [2, 3]), (13, [4])]


def test_lines_broken_by_the_page_are_joined_back_into_sentences(tmp_path: Path) -> None:
    lines = ["这是一个很长的句子，它在页面的右边缘被折断了，然后", "在下一行继续说完。", "短行。"]
    pdf_book(str(tmp_path / "06-note.pdf"), [lines])
    (doc,) = read_documents(tmp_path)
    assert doc.metadata["source"] == "06-note.pdf" and doc.metadata["lecture"] == 6  # from the file name
    assert "然后在下一行继续说完。\n短行。" in doc.page_content


def test_broken_encrypted_and_image_only_pdfs_are_skipped_with_the_reason(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pdf_book(str(tmp_path / "locked.pdf"), PAGES, password="our-secret")
    pdf_book(str(tmp_path / "scan.pdf"), PAGES, image_only=True)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not a pdf at all")
    pdf_book(str(tmp_path / "ok.pdf"), PAGES[1:3])
    with caplog.at_level(logging.WARNING):
        docs = list(read_documents(tmp_path))
    assert {d.metadata["source"] for d in docs} == {"ok.pdf"}  # and the ingest went on
    assert "skipped locked.pdf: encrypted: remove the password first" in caplog.text
    assert "skipped scan.pdf: no text layer; OCR it first" in caplog.text
    assert "skipped broken.pdf: not a readable PDF" in caplog.text


def test_page_survives_the_store_and_is_absent_for_other_texts() -> None:
    chunk = Chunk(id="x", text="甲乙", source="a.pdf", title="t", lecture=None, section="", start=0, end=2,
                  hash="h", kind="column", page=7, page_breaks="1:8")
    meta = chunk.metadata()
    assert all(v is not None for v in meta.values())
    back = Chunk.from_record("x", "甲乙", meta)
    assert back == chunk and back.page_at(0) == 7 and back.page_at(1) == 8
    plain = Chunk.from_record("y", "丙", {**meta, "page": -1, "page_breaks": ""})
    assert plain.page is None and plain.page_at(0) is None
