"""A reader's own copy beside our notes: the original is quoted and cited first (original-first), left
out (notes-only) or ranked like any text (both-equal); a PDF's citations name the page their quote is
printed on. Real model, real Chroma; every text is our own, built at test time."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import Settings
from bot.answer import AnswerOptions
from bot.bot import Bot
from index.build import build_index
from index.embed import Embedder
from index.store import Store, StoreOptions
from tests.corpus.copies import pdf_book

NOTE = """---
lecture: 5
title: 容器与进程
kind: note
---

# 容器与进程

## 容器里的进程为什么只看得到自己

容器里的进程只看得到自己，是因为它被放进了新的 PID 命名空间，在那里它的编号是 1。
宿主机上的其他进程都不在这个命名空间里，所以容器里的 ps 列不出它们。
"""

ORIGINAL = """<!DOCTYPE html><html><head><title>05丨白话容器基础（一）：从进程说开去 - 某学习网站</title></head><body>
<nav><a href="/">首页</a><a href="/c">全部课程</a></nav>
<article><h1>05丨白话容器基础（一）：从进程说开去</h1>
<p>我们先来看一个在容器里运行的进程。</p>
<p>创建这个进程时，我们给它指定了一个新的 PID 命名空间，于是它只看得到自己，在新空间里它的编号是 1。</p>
<p>宿主机上别的进程，它一个也看不到，容器里执行 ps 只会列出它自己。</p>
<h2>小结</h2><p>这就是容器隔离进程视图的办法，它本质上仍是宿主机上的一个普通进程。</p>
</article><div class="comments"><p>读者留言：终于看懂了进程的视图！</p></div><footer>版权所有 某学习网站</footer>
</body></html>
"""

# Our own sentences about grouping processes, printed over three pages of a PDF (lecture 13).
PAGES = [
    ["13 | 为什么我们需要Pod？", "几个紧密协作的进程常常需要被放在同一台机器上一起运行。",
     "如果把它们拆开调度，就可能出现一部分已经启动、另一部分却找不到机器的情况。"],
    ["为了避免这种半途而废的局面，调度器把这组进程当成一个不可分割的整体来处理。",
     "这个整体共享同一个网络命名空间，组内的进程可以通过本地回环地址互相访问。"],
    ["组内的进程还可以挂载同一个存储卷，从而交换文件。"],
]


@pytest.fixture(scope="module")
def copy_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    root = tmp_path_factory.mktemp("your-copy")
    corpus = root / "corpus"
    for name, text in {"column/05-process.md": NOTE, "mine/05.html": ORIGINAL}.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text, encoding="utf-8")
    pdf_book(str(corpus / "mine" / "pod.pdf"), PAGES)  # our note, and a reader's copy: a saved page, a PDF
    settings = Settings(corpus_dir=corpus, store=StoreOptions(path=root / "index"), data_dir=root / "data")
    build_index(corpus, Store(settings.store), embedder, settings.chunking, progress=False)
    return settings


def _bot(settings: Settings, embedder: Embedder, originals: str, data: Path) -> Bot:
    answer = AnswerOptions(originals=originals)  # type: ignore[arg-type]
    return Bot.open(settings.model_copy(update={"answer": answer, "data_dir": data}), embedder)


QUESTION = "容器里的进程为什么只看得到自己？"


@pytest.mark.parametrize("originals", ["original-first", "notes-only", "both-equal"])
def test_the_setting_decides_whether_the_original_is_quoted_and_cited_first(
        copy_index: Settings, embedder: Embedder, tmp_path: Path, originals: str) -> None:
    ans = _bot(copy_index, embedder, originals, tmp_path).answer(QUESTION)
    assert not ans.refused, ans.answer
    sources = [c.source for c in ans.citations]
    for c in ans.citations:
        assert c.quotes and all(q in c.text for q in c.quotes)
        assert "首页" not in c.text and "读者留言" not in c.text and "版权所有" not in c.text
    if originals == "original-first":
        assert sources[0] == "mine/05.html", ans.answer
        assert ans.citations[0].lecture == 5 and ans.citations[0].title == "白话容器基础（一）：从进程说开去"
    elif originals == "notes-only":
        assert sources and all(not s.startswith("mine/") for s in sources), ans.answer
    else:  # the note answers the question word for word: it leads when originals get no preference
        assert sources[0] == "column/05-process.md", ans.answer


def test_a_pdf_citation_names_the_page_its_quote_is_printed_on(
        copy_index: Settings, embedder: Embedder, tmp_path: Path) -> None:
    bot = _bot(copy_index, embedder, "original-first", tmp_path)
    ans = bot.answer("为什么要把一组进程当成一个整体来调度？")
    pdf = [c for c in ans.citations if c.source.startswith("mine/pod.pdf")]
    assert pdf, ans.answer
    for c in pdf:
        assert c.lecture == 13 and c.quote in c.text
        printed_on = next(i for i, lines in enumerate(PAGES, 1) if any(c.quote[:12] in line for line in lines))
        assert c.page == printed_on, (c.quote, c.page)
    hits = bot.search("组内的进程挂载同一个存储卷", k=3)
    assert hits[0].chunk.source.startswith("mine/pod.pdf") and hits[0].chunk.page in (1, 2, 3)
