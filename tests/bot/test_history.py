"""The history, on SQLite and on a real PostgreSQL (a fresh database per test): conversations
expire and are capped; the log, feedback and report."""

import sqlite3
import threading
from collections.abc import Iterator
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


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[History]:
    where = tmp_path / "data" / "kqa.sqlite3" if request.param == "sqlite" else request.getfixturevalue("postgres")
    made = History(where, HistoryOptions(ttl_s=600, max_turns=3, keep_days=30), clock)
    yield made
    made.close()


def test_a_conversation_remembers_its_last_turns_terms(history: History) -> None:
    cid = history.add_turn(None, "StatefulSet 是什么", ["StatefulSet"], "a1", door="http")
    assert history.last_terms(cid, door="http") == ["StatefulSet"]
    assert history.add_turn(cid, "那它呢", ["StatefulSet", "Pod"], "a2", door="http") == cid
    assert history.last_terms(cid, door="http") == ["StatefulSet", "Pod"]


def test_unknown_and_expired_conversations(history: History, clock: Clock) -> None:
    with pytest.raises(ConversationNotFound):
        history.last_terms("nope", door="http")
    cid = history.add_turn(None, "Pod 是什么", ["Pod"], "a1", door="http")
    clock.now += 599
    assert history.last_terms(cid, door="http") == ["Pod"]  # idle time counts from the last turn
    history.add_turn(cid, "它呢", ["Pod"], "a2", door="http")
    clock.now += 599
    assert history.last_terms(cid, door="http") == ["Pod"]
    clock.now += 2
    with pytest.raises(ConversationNotFound, match="expired"):
        history.last_terms(cid, door="http")
    history.add_turn(None, "新的", [], "a3", door="http")  # purges what expired
    assert history.turns(cid) == []


def test_conversations_keep_only_their_last_turns(history: History) -> None:
    cid = history.add_turn(None, "m1", ["t1"], "a1", door="http")
    for i in range(2, 8):
        history.add_turn(cid, f"m{i}", [f"t{i}"], f"a{i}", door="http")
    assert [m for m, _ in history.turns(cid)] == ["m5", "m6", "m7"]
    assert history.last_terms(cid, door="http") == ["t7"]


def test_feedback_needs_an_answer_that_was_given(history: History) -> None:
    history.log("a1", "Pod 是什么", refused=False, top_score=0.91, door="ask")
    history.add_feedback("a1", "up", None, voter="key:1")
    with pytest.raises(AnswerNotFound):
        history.add_feedback("never", "down", "x", voter="key:1")


def test_a_comment_amends_the_vote_it_belongs_to(history: History) -> None:
    history.log("a1", "Pod 是什么", refused=False, top_score=0.91, door="ask")
    history.log("a2", "Service 是什么", refused=False, top_score=0.91, door="ask")
    vote = history.add_feedback("a1", "down", None, voter="key:1")
    assert history.add_feedback("a1", "down", "太短", amends=vote, voter="key:1") == vote
    with pytest.raises(AnswerNotFound):  # another answer's vote cannot be amended through this one
        history.add_feedback("a2", "up", "x", amends=vote, voter="key:1")
    report = history.report()
    assert (report.up, report.down) == (0, 1) and report.downvoted[0].comments == ["太短"]


def test_report_groups_the_same_question_however_typed(history: History, clock: Clock) -> None:
    for i, q in enumerate(["Pod 是什么？", "pod 是什么", "POD  是什么?", "Pod 是什么"]):
        history.log(f"p{i}", q, refused=False, top_score=0.9, door="ask")
    history.log("r1", "红烧肉怎么做", refused=True, top_score=0.8, door="ask")
    history.log("r2", "红烧肉怎么做？", refused=True, top_score=0.8, door="chat", conversation_id="c")
    history.log("s1", "Service 的 DNS", refused=False, top_score=0.9, door="ask")
    history.add_feedback("s1", "down", "没讲 Headless", voter="addr:10.0.0.1")
    history.add_feedback("s1", "down", None, voter="slack:U1")
    history.add_feedback("p0", "up", None, voter="addr:10.0.0.1")
    history.add_feedback("p1", "down", "太短", voter="addr:10.0.0.1")

    report = history.report(limit=5)
    assert (report.questions, report.refused, report.up, report.down) == (7, 2, 1, 3)
    assert [(r.count, asked_form(r.question)) for r in report.most_asked] == [
        (4, "pod 是什么"), (2, "红烧肉怎么做"), (1, "service 的 dns")]
    assert [(r.count, asked_form(r.question)) for r in report.most_refused] == [(2, "红烧肉怎么做")]
    assert [(r.down, r.up, r.comments) for r in report.downvoted] == [(2, 0, ["没讲 Headless"]), (1, 1, ["太短"])]

    clock.now += 3600
    history.log("late", "Namespace", refused=False, top_score=0.9, door="ask")
    assert history.report(since_s=60).questions == 1


def test_report_says_which_door_and_counts_each_day(history: History, clock: Clock) -> None:
    clock.now = 1_700_000_000.0  # 2023-11-14 22:13 UTC
    history.log("w1", "Pod 是什么", refused=False, top_score=0.9, door="widget")
    history.log("s1", "pod 是什么？", refused=False, top_score=0.9, door="slack")
    history.log("w2", "红烧肉怎么做", refused=True, top_score=0.5, door="widget")
    clock.now += 2 * 86400  # two days later, nothing the day between
    history.log("h1", "Pod 是什么", refused=False, top_score=0.9, door="http")
    history.log("h2", "红烧肉怎么做", refused=True, top_score=0.5, door="http")
    history.add_feedback("h1", "down", "太短", voter="key:1")

    report = history.report()
    assert report.doors == {"http": 2, "widget": 2, "slack": 1}
    assert [(a.count, a.doors) for a in report.most_asked] == [
        (3, {"widget": 1, "slack": 1, "http": 1}), (2, {"widget": 1, "http": 1})]
    assert report.most_refused[0].doors == {"widget": 1, "http": 1}
    assert report.downvoted[0].doors == {"widget": 1, "slack": 1, "http": 1}
    assert [(d.day, d.answers, d.refused) for d in report.days] == [
        ("2023-11-14", 3, 1), ("2023-11-15", 0, 0), ("2023-11-16", 2, 1)]

    week = history.report(since_s=7 * 86400)
    assert week.days[0].day == "2023-11-09" and len(week.days) == 8 and sum(d.answers for d in week.days) == 5
    today = history.report(since_s=3600)
    assert [(d.day, d.answers) for d in today.days] == [("2023-11-16", 2)] and today.doors == {"http": 2}


def test_old_log_entries_are_deleted(history: History, clock: Clock) -> None:
    history.log("old", "Pod 是什么", refused=False, top_score=0.9, door="ask")
    clock.now += 31 * 86400
    history.add_turn(None, "新的", [], "a", door="http")  # the purge runs with writes
    assert history.report().questions == 0


def test_a_door_may_name_its_own_conversation(history: History, clock: Clock) -> None:
    with pytest.raises(ConversationNotFound):
        history.add_turn("slack:C1:1700000000.1", "m1", ["Pod"], "a1", door="slack")
    cid = history.add_turn("slack:C1:1700000000.1", "m1", ["Pod"], "a1", create=True, door="slack")
    assert cid == "slack:C1:1700000000.1" and history.last_terms(cid, door="slack") == ["Pod"]
    history.add_turn(cid, "m2", ["Service"], "a2", create=True, door="slack")
    assert [m for m, _ in history.turns(cid)] == ["m1", "m2"]
    clock.now += 601  # expired: starts afresh under the same id
    history.add_turn(cid, "m3", ["DNS"], "a3", create=True, door="slack")
    assert history.turns(cid) == [("m3", ["DNS"])]


def test_one_vote_per_answer_per_voter(history: History) -> None:
    history.log("a1", "Pod 是什么", refused=False, top_score=0.91, door="http")
    vote = history.add_feedback("a1", "down", None, voter="key:aaa")
    for _ in range(5):  # stuffing: the same voter again and again
        assert history.add_feedback("a1", "down", None, voter="key:aaa") == vote
    assert history.add_feedback("a1", "up", "好了", voter="key:aaa") == vote  # a repeat replaces the vote
    other = history.add_feedback("a1", "down", None, voter="slack:U0READER")
    assert other != vote
    report = history.report()
    assert (report.up, report.down) == (1, 1)
    assert history.add_feedback("a1", "down", "x", amends=vote, voter="key:aaa") == vote  # its own voter amends


def test_only_the_voter_can_amend_a_vote_and_the_404_does_not_say_whose(history: History) -> None:
    history.log("a1", "Pod 是什么", refused=False, top_score=0.91, door="http")
    vote = history.add_feedback("a1", "down", None, voter="key:aaa")
    with pytest.raises(AnswerNotFound) as theirs:
        history.add_feedback("a1", "up", "hijacked", amends=vote, voter="key:bbb")
    with pytest.raises(AnswerNotFound) as unknown:
        history.add_feedback("a1", "up", "hijacked", amends=vote + 1000, voter="key:bbb")
    assert str(theirs.value) == str(unknown.value)
    report = history.report()
    assert (report.up, report.down) == (0, 1) and report.downvoted[0].comments == []


def test_conversations_belong_to_the_door_that_started_them(history: History) -> None:
    web = history.add_turn(None, "Pod 是什么", ["Pod"], "a1", door="http")
    thread = history.add_turn("slack:C1:1700000000.1", "Service 是什么", ["Service"], "a2", create=True, door="slack")
    assert history.last_terms(web, door="http") == ["Pod"]
    with pytest.raises(ConversationNotFound) as foreign:
        history.last_terms(thread, door="http")
    with pytest.raises(ConversationNotFound) as never:
        history.last_terms("slack:C1:1700000000.2", door="http")
    assert str(foreign.value) == str(never.value)
    for cid, door in ((thread, "http"), (thread, "widget"), (web, "slack"), (web, "widget")):
        with pytest.raises(ConversationNotFound):
            history.add_turn(cid, "写进去", ["Evil"], "a3", door=door)
        with pytest.raises(ConversationNotFound):  # not even a door that names its own ids may take it over
            history.add_turn(cid, "写进去", ["Evil"], "a3", create=True, door=door)
    assert history.turns(thread) == [("Service 是什么", ["Service"])]
    assert history.turns(web) == [("Pod 是什么", ["Pod"])]


OLD_SCHEMA = """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL, turns INTEGER NOT NULL DEFAULT 0);
CREATE TABLE turns (
    conversation_id TEXT NOT NULL, n INTEGER NOT NULL, message TEXT NOT NULL, terms TEXT NOT NULL,
    answer_id TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (conversation_id, n));
CREATE TABLE questions (
    answer_id TEXT PRIMARY KEY, question TEXT NOT NULL, asked TEXT NOT NULL, refused INTEGER NOT NULL,
    top_score REAL NOT NULL, door TEXT NOT NULL, conversation_id TEXT, context_terms TEXT NOT NULL,
    at REAL NOT NULL);
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT NOT NULL, rating TEXT NOT NULL
    CHECK (rating IN ('up', 'down')), comment TEXT, at REAL NOT NULL);
"""


def test_a_store_from_before_doors_and_voters_is_migrated_in_place(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "kqa.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        now = clock()
        for cid, door in (("c0ffee", "http"), ("beef", "widget"), ("slack:C1:1700000000.1", "slack")):
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, 1)", (cid, now, now))
            db.execute("INSERT INTO turns VALUES (?, 1, 'Pod 是什么', '[\"Pod\"]', ?, ?)", (cid, f"a-{cid}", now))
            db.execute("INSERT INTO questions VALUES (?, 'Pod 是什么', 'pod 是什么', 0, 0.9, ?, ?, '[]', ?)",
                       (f"a-{cid}", door, cid, now))
        db.execute("INSERT INTO conversations VALUES ('unlogged', ?, ?, 0)", (now, now))
        db.execute("INSERT INTO questions VALUES ('a1', 'Pod 是什么', 'pod 是什么', 0, 0.9, 'http', NULL, '[]', ?)",
                   (now,))
        db.executemany("INSERT INTO feedback (answer_id, rating, comment, at) VALUES ('a1', ?, NULL, ?)",
                       [("down", now), ("down", now)])
    history = History(path, HistoryOptions(ttl_s=600), clock)
    # Each conversation's door is read from the question log (by its id's form when it has no line there).
    assert history.last_terms("c0ffee", door="http") == ["Pod"] and history.last_terms("beef", door="widget") == ["Pod"]
    assert history.last_terms("slack:C1:1700000000.1", door="slack") == ["Pod"]
    assert history.last_terms("unlogged", door="http") == []
    with pytest.raises(ConversationNotFound):
        history.last_terms("slack:C1:1700000000.1", door="http")
    assert history.report().down == 2  # votes from before voters were known still count, each once
    history.add_feedback("a1", "up", None, voter="key:aaa")
    assert history.add_feedback("a1", "up", None, voter="key:aaa") == history.add_feedback("a1", "up", None,
                                                                                          voter="key:aaa")
    assert (history.report().up, history.report().down) == (1, 2)
    History(path, HistoryOptions(ttl_s=600), clock).report()  # opening a migrated store again changes nothing
    with sqlite3.connect(path) as db:
        assert {"door"} <= {row[1] for row in db.execute("PRAGMA table_info(conversations)")}
        assert {"voter"} <= {row[1] for row in db.execute("PRAGMA table_info(feedback)")}


def test_replicas_adding_turns_to_one_conversation_at_once_take_turns(postgres: str) -> None:
    replicas = [History(postgres, HistoryOptions(max_turns=100)) for _ in range(2)]
    cid = replicas[0].add_turn(None, "m0", [], "a0", door="http")
    failures: list[BaseException] = []

    def talk(history: History, who: int) -> None:
        for i in range(5):
            try:
                history.add_turn(cid, f"m{who}-{i}", [], f"a{who}-{i}", door="http")
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

    threads = [threading.Thread(target=talk, args=(replicas[w % 2], w)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(replicas[1].turns(cid)) == 31  # every turn kept, none lost to a race on its number
    for history in replicas:
        history.close()
