"""The façade over the real index: answer ids, the log, the answer cache and follow-ups."""

from pathlib import Path

import pytest

from bot.bot import Bot
from bot.errors import BadFeedback, ConversationNotFound
from tests.conftest import private


def test_cached_answers_are_the_computed_ones_with_fresh_ids(bot: Bot, tmp_path: Path) -> None:
    assistant = private(bot, tmp_path)
    first = assistant.ask("Cgroups 怎么限制 CPU？")
    again = assistant.ask("Cgroups 怎么限制 CPU？")
    assert (assistant.cache.misses, assistant.cache.hits) == (1, 1)
    assert again.answer_id != first.answer_id
    assert {**again.answer.to_dict(), "took_ms": 0} == {**first.answer.to_dict(), "took_ms": 0}
    assert assistant.history.report().most_asked[0].count == 2
    # with another top_k it is another answer
    assistant.ask("Cgroups 怎么限制 CPU？", top_k=1)
    assert assistant.cache.misses == 2


def test_chat_carries_terms_and_logs_them(bot: Bot, tmp_path: Path) -> None:
    assistant = private(bot, tmp_path)
    one = assistant.chat("Headless Service 的 DNS 记录是什么样的？")
    two = assistant.chat("how do I debug that?", one.conversation_id)
    assert two.context_terms == ["Headless Service", "DNS"]
    assert two.answer.question == "how do I debug that?"
    assert two.to_dict()["context_terms"] == ["Headless Service", "DNS"]
    three = assistant.chat("那它呢？", two.conversation_id)
    assert three.context_terms[:2] == ["Headless Service", "DNS"]


def test_conversations_belong_to_their_door(bot: Bot, tmp_path: Path) -> None:
    assistant = private(bot, tmp_path)
    web = assistant.chat("Headless Service 的 DNS 记录是什么样的？", door="http")
    assert assistant.chat("how do I debug that?", web.conversation_id, door="http").conversation_id == \
        web.conversation_id
    assert not assistant.has_conversation(web.conversation_id, door="slack")
    with pytest.raises(ConversationNotFound):
        assistant.chat("那它呢？", web.conversation_id, door="slack", start=True)
    thread = assistant.chat("Cgroups 怎么限制 CPU？", "slack:C1:1700000000.1", door="slack", start=True)
    assert assistant.has_conversation(thread.conversation_id, door="slack")
    for door in ("http", "widget"):
        assert not assistant.has_conversation(thread.conversation_id, door=door)
        with pytest.raises(ConversationNotFound) as foreign:
            assistant.chat("那内存呢？", thread.conversation_id, door=door)
        with pytest.raises(ConversationNotFound) as never:
            assistant.check_chat("那内存呢？", "slack:C1:1700000000.2", door=door)
        assert str(foreign.value) == str(never.value)
    assert [m for m, _ in assistant.history.turns(thread.conversation_id)] == ["Cgroups 怎么限制 CPU？"]


def test_feedback_is_one_vote_per_voter_and_comments_hold_no_controls(bot: Bot, tmp_path: Path) -> None:
    assistant = private(bot, tmp_path)
    answer_id = assistant.ask("Cgroups 怎么限制 CPU？").answer_id
    vote = assistant.feedback(answer_id, "down", "少了\tcpu.shares\r\n的例子", voter="key:aaa")
    assert assistant.feedback(answer_id, "down", None, voter="key:aaa") == vote
    for comment in ("\x1b[2J", "\x9b31m", "a\x00b", "\ud800"):
        with pytest.raises(BadFeedback):
            assistant.feedback(answer_id, "down", comment, voter="key:aaa")
