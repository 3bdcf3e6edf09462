"""The refusal signals and rule on the fixture corpus (real model, real Chroma)."""

from bot.bot import Bot
from bot.refusal import RefusalOptions, Signals, refuse, unseen_terms


def test_unseen_terms_are_latin_words_of_a_chinese_question_the_corpus_never_uses(bot: Bot) -> None:
    snap = bot.retriever.snapshot()
    assert unseen_terms(snap, "用 velero 备份 Namespace 里的 PVC 要怎么配") == ("velero",)
    assert unseen_terms(snap, "cgroups 怎么限制 CPU") == ()  # in the corpus
    assert unseen_terms(snap, "cgruops 怎么限制内存") == ()  # one typo from a corpus word
    assert unseen_terms(snap, "sts 的 Pod 为什么一个一个起") == ()  # the glossary maps it (StatefulSet)
    assert unseen_terms(snap, "how do I back up a namespace with velero") == ()  # English: not judged


def test_an_unseen_term_refuses_only_with_middling_evidence() -> None:
    options = RefusalOptions()
    strong, middling = options.unseen_min_dense + 0.01, options.min_dense + 0.01
    assert not refuse(Signals(dense=middling, margin=0.05, unknown=()), options)
    assert refuse(Signals(dense=middling, margin=0.05, unknown=(), unseen=("velero",)), options)
    assert not refuse(Signals(dense=strong, margin=0.05, unknown=(), unseen=("velero",)), options)


def test_a_chinese_question_about_a_tool_the_corpus_never_names_is_refused_with_passages(bot: Bot) -> None:
    answer = bot.answer("用 velero 把 Namespace 备份到 minio 要怎么配置")
    assert answer.refused and answer.citations
    assert answer.confidence["unseen_terms"] == 2
    # the passages are similar enough to pass the plain cosine threshold: the unseen terms decide
    assert answer.confidence["dense"] >= RefusalOptions().min_dense
