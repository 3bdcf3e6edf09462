"""Search and answers over the fixture corpus, with the real model and a real Chroma."""

import numpy as np
import pytest

from bot.bot import Bot
from bot.errors import BadQuestion
from bot.retrieve import RetrievalOptions, Retriever


@pytest.mark.parametrize(
    ("question", "source"),
    [
        ("容器里 free 看到的内存为什么是宿主机的", "06-cgroups.md"),
        ("CLONE_NEWPID 是干什么的", "05-namespace.md"),
        ("为什么 ping 不通 Service 的 IP", "network/37-service-dns.md"),
        ("PVC 和 PV 是怎么绑定的", "storage.txt"),
        ("高优先级 Pod 怎么抢占", "scheduler.html"),
        ("why does free inside a container show the host memory", "06-cgroups.md"),
        ("how does a headless service resolve in DNS", "network/37-service-dns.md"),
        ("what does the scheduler do when a high priority pod cannot be placed", "scheduler.html"),
    ],
)
def test_search_ranks_the_right_file_first(bot: Bot, question: str, source: str) -> None:
    hits = bot.search(question, k=5)
    assert hits[0].chunk.source == source
    assert hits == sorted(hits, key=lambda h: h.score, reverse=True)


def test_dense_side_is_exact_cosine_order_over_every_passage(bot: Bot) -> None:
    # Dense alone (no BM25, no whole-file ranking, no glossary in the query): the hits are the
    # passages of highest cosine, in that order, not an approximate neighbourhood.
    options = RetrievalOptions(sparse_weight=0, doc_weight=0, expand_dense=False)
    dense_only = Retriever(bot.store, bot.embedder, options)
    snap = dense_only.snapshot()
    for question in ("容器里 free 看到的内存为什么是宿主机的", "how does a headless service resolve in DNS"):
        cos = snap.vectors @ bot.embedder.encode_query(question)
        expected = [snap.chunks[i].id for i in np.argsort(-cos)[:8]]
        assert [h.chunk.id for h in dense_only.search(question, k=8)] == expected


def test_answer_quotes_are_exact_substrings_with_markers(bot: Bot) -> None:
    ans = bot.answer("容器里执行 free 为什么看到的是宿主机内存？")
    assert not ans.refused
    assert ans.citations and "[1]" in ans.answer
    assert len(ans.answer) <= 450
    for c in ans.citations:
        assert c.quote in c.text
        assert f"[{c.n}]" in ans.answer
    assert ans.citations[0].source == "06-cgroups.md"
    assert "/proc" in ans.answer


def test_english_question_over_chinese_text_is_answered(bot: Bot) -> None:
    ans = bot.answer("Why can't I ping a Service ClusterIP?")
    assert not ans.refused
    assert ans.citations[0].source == "network/37-service-dns.md"
    assert all(c.quote in c.text for c in ans.citations)


@pytest.mark.parametrize(
    "question", ["红烧肉怎么做才不腻", "Pod spec 里 autoHeal 字段怎么配", "kubectl teleport 怎么用"]
)
def test_unrelated_or_made_up_is_refused_with_closest_passages(bot: Bot, question: str) -> None:
    ans = bot.answer(question)
    assert ans.refused
    assert "没有讲到" in ans.answer
    assert ans.citations and all(c.quote in c.text for c in ans.citations)


@pytest.mark.parametrize("question", ["", "   \n ", "x" * 2001, "bad\x00byte"])
def test_bad_questions_are_rejected_clearly(bot: Bot, question: str) -> None:
    with pytest.raises(BadQuestion):
        bot.answer(question)
