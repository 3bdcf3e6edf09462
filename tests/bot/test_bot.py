"""The façade over the real index: answer ids, the log, the answer cache and follow-ups."""

from pathlib import Path

from bot.bot import Bot
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
