"""The SQLite history: conversations expire and are capped; the log, feedback and report."""

from pathlib import Path

import pytest

from bot.errors import AnswerNotFound, ConversationNotFound
from bot.history import History, HistoryOptions, asked_form


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def history(tmp_path: Path, clock: Clock) -> History:
    return History(tmp_path / "data" / "kqa.sqlite3", HistoryOptions(ttl_s=600, max_turns=3, keep_days=30), clock)


def test_a_conversation_remembers_its_last_turns_terms(history: History) -> None:
    cid = history.add_turn(None, "StatefulSet 是什么", ["StatefulSet"], "a1")
    assert history.last_terms(cid) == ["StatefulSet"]
    assert history.add_turn(cid, "那它呢", ["StatefulSet", "Pod"], "a2") == cid
    assert history.last_terms(cid) == ["StatefulSet", "Pod"]


def test_unknown_and_expired_conversations(history: History, clock: Clock) -> None:
    with pytest.raises(ConversationNotFound):
        history.last_terms("nope")
    cid = history.add_turn(None, "Pod 是什么", ["Pod"], "a1")
    clock.now += 599
    assert history.last_terms(cid) == ["Pod"]  # idle time counts from the last turn
    history.add_turn(cid, "它呢", ["Pod"], "a2")
    clock.now += 599
    assert history.last_terms(cid) == ["Pod"]
    clock.now += 2
    with pytest.raises(ConversationNotFound, match="expired"):
        history.last_terms(cid)
    history.add_turn(None, "新的", [], "a3")  # purges what expired
    assert history.turns(cid) == []


def test_conversations_keep_only_their_last_turns(history: History) -> None:
    cid = history.add_turn(None, "m1", ["t1"], "a1")
    for i in range(2, 8):
        history.add_turn(cid, f"m{i}", [f"t{i}"], f"a{i}")
    assert [m for m, _ in history.turns(cid)] == ["m5", "m6", "m7"]
    assert history.last_terms(cid) == ["t7"]


def test_feedback_needs_an_answer_that_was_given(history: History) -> None:
    history.log("a1", "Pod 是什么", refused=False, top_score=0.91, door="ask")
    history.add_feedback("a1", "up", None)
    with pytest.raises(AnswerNotFound):
        history.add_feedback("never", "down", "x")


def test_a_comment_amends_the_vote_it_belongs_to(history: History) -> None:
    history.log("a1", "Pod 是什么", refused=False, top_score=0.91, door="ask")
    history.log("a2", "Service 是什么", refused=False, top_score=0.91, door="ask")
    vote = history.add_feedback("a1", "down", None)
    assert history.add_feedback("a1", "down", "太短", amends=vote) == vote
    with pytest.raises(AnswerNotFound):  # another answer's vote cannot be amended through this one
        history.add_feedback("a2", "up", "x", amends=vote)
    report = history.report()
    assert (report.up, report.down) == (0, 1) and report.downvoted[0].comments == ["太短"]


def test_report_groups_the_same_question_however_typed(history: History, clock: Clock) -> None:
    for i, q in enumerate(["Pod 是什么？", "pod 是什么", "POD  是什么?", "Pod 是什么"]):
        history.log(f"p{i}", q, refused=False, top_score=0.9, door="ask")
    history.log("r1", "红烧肉怎么做", refused=True, top_score=0.8, door="ask")
    history.log("r2", "红烧肉怎么做？", refused=True, top_score=0.8, door="chat", conversation_id="c")
    history.log("s1", "Service 的 DNS", refused=False, top_score=0.9, door="ask")
    history.add_feedback("s1", "down", "没讲 Headless")
    history.add_feedback("s1", "down", None)
    history.add_feedback("p0", "up", None)
    history.add_feedback("p1", "down", "太短")

    report = history.report(limit=5)
    assert (report.questions, report.refused, report.up, report.down) == (7, 2, 1, 3)
    assert [(r.count, asked_form(r.question)) for r in report.most_asked] == [
        (4, "pod 是什么"), (2, "红烧肉怎么做"), (1, "service 的 dns")]
    assert [(r.count, asked_form(r.question)) for r in report.most_refused] == [(2, "红烧肉怎么做")]
    assert [(r.down, r.up, r.comments) for r in report.downvoted] == [(2, 0, ["没讲 Headless"]), (1, 1, ["太短"])]

    clock.now += 3600
    history.log("late", "Namespace", refused=False, top_score=0.9, door="ask")
    assert history.report(since_s=60).questions == 1


def test_old_log_entries_are_deleted(history: History, clock: Clock) -> None:
    history.log("old", "Pod 是什么", refused=False, top_score=0.9, door="ask")
    clock.now += 31 * 86400
    history.add_turn(None, "新的", [], "a")  # the purge runs with writes
    assert history.report().questions == 0


def test_a_door_may_name_its_own_conversation(history: History, clock: Clock) -> None:
    with pytest.raises(ConversationNotFound):
        history.add_turn("slack:C1:1700000000.1", "m1", ["Pod"], "a1")
    cid = history.add_turn("slack:C1:1700000000.1", "m1", ["Pod"], "a1", create=True)
    assert cid == "slack:C1:1700000000.1" and history.last_terms(cid) == ["Pod"]
    history.add_turn(cid, "m2", ["Service"], "a2", create=True)
    assert [m for m, _ in history.turns(cid)] == ["m1", "m2"]
    clock.now += 601  # expired: starts afresh under the same id
    history.add_turn(cid, "m3", ["DNS"], "a3", create=True)
    assert history.turns(cid) == [("m3", ["DNS"])]
