"""Typos in Latin terms of a Chinese question still find the passage that uses the term."""

from __future__ import annotations

import pytest

from bot.bot import Bot
from bot.spelling import Spelling

TERMS = {"configmap": 40, "secret": 55, "service": 90, "serving": 3, "namespace": 30, "kubelet": 12}


@pytest.mark.parametrize(("typo", "fixed"), [
    ("configmpa", "configmap"),  # two letters swapped
    ("secert", "secret"),
    ("namepsace", "namespace"),
    ("servce", "service"),  # a letter missing
    ("kubeleet", "kubelet"),  # a letter too many
    ("serbice", "service"),  # a letter changed
])
def test_one_edit_away_is_corrected(typo: str, fixed: str) -> None:
    assert Spelling(TERMS).correct(typo) == fixed


def test_the_most_frequent_neighbour_wins() -> None:
    # "servine" is one edit from both "service" and "serving"
    assert Spelling(TERMS).correct("servine") == "service"


@pytest.mark.parametrize("term", ["secret", "pod", "abcd", "ingress-nginx", "x86_64", "完全不同", "zzzzzzzz"])
def test_known_short_compound_or_far_terms_are_left_alone(term: str) -> None:
    assert Spelling(TERMS).correct(term) is None


def test_corrections_map_only_what_changes() -> None:
    assert Spelling(TERMS).corrections(["secert", "pod", "secert", "configmpa"]) == {
        "secert": "secret", "configmpa": "configmap"}


def _first_source(bot: Bot, question: str) -> str:
    return bot.search(question, k=3)[0].chunk.source


def test_a_typo_in_a_chinese_question_finds_the_same_passage(bot: Bot) -> None:
    right = _first_source(bot, "lxcfs 是怎么修正容器里 free 看到的内存的")
    assert _first_source(bot, "lxcffs 是怎么修正容器里 free 看到的内存的") == right
    # Only the misspelt word can match a keyword here; corrected, it matches the lxcfs passage.
    hits = bot.search("lxcffs 是啥", k=5)
    assert [h for h in hits if h.sparse > 0] and all("lxcfs" in h.chunk.text for h in hits if h.sparse > 0)


def test_english_questions_are_not_corrected(bot: Bot) -> None:
    """Most words of an English question are not in a Chinese corpus; 'correcting' them is noise."""
    hits = bot.search("what does lxcffs do", k=5)
    assert all(h.sparse == 0 or "lxcfs" not in h.chunk.text for h in hits)
