"""What was asked and what readers thought of it, in one SQLite file under the data dir:
conversations and their turns (they expire, and keep only their last turns), the log of
every answer given (question, refused, top score, answer id, time) and feedback on answers.

- A conversation belongs to the door that started it (`http`, `widget`, `slack`): another door
  cannot read or extend it, and is told exactly what it would be told of an id never used.
- One vote per answer per voter (an API key, a client address, a Slack user): voting again
  replaces the vote, and only its voter may amend it.
- A file written before doors and voters were recorded is migrated in place when opened.

SQLite in WAL mode with one connection per thread, so the API's worker threads and several
worker processes on one host can share the file.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from bot.errors import AnswerNotFound, ConversationNotFound
from bot.terms import normalize

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL, turns INTEGER NOT NULL DEFAULT 0,
    door TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL, n INTEGER NOT NULL, message TEXT NOT NULL, terms TEXT NOT NULL,
    answer_id TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (conversation_id, n));
CREATE TABLE IF NOT EXISTS questions (
    answer_id TEXT PRIMARY KEY, question TEXT NOT NULL, asked TEXT NOT NULL, refused INTEGER NOT NULL,
    top_score REAL NOT NULL, door TEXT NOT NULL, conversation_id TEXT, context_terms TEXT NOT NULL,
    at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS questions_at ON questions(at);
CREATE INDEX IF NOT EXISTS questions_asked ON questions(asked);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT NOT NULL, rating TEXT NOT NULL
    CHECK (rating IN ('up', 'down')), comment TEXT, at REAL NOT NULL, voter TEXT);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback(answer_id);
"""
# Columns added since the first release, for files made before them (SQLite adds a NOT NULL
# column only with a default). A vote from before voters were recorded has none (NULL): it
# stays one vote of its own, since NULLs never collide in a unique index.
ADDED = {
    ("conversations", "door"): "TEXT NOT NULL DEFAULT ''",
    ("feedback", "voter"): "TEXT",
}
# An older conversation's door: the one its first question was logged with, else its id's form.
OLD_DOORS = """
UPDATE conversations SET door = COALESCE(
    (SELECT q.door FROM questions q WHERE q.conversation_id = conversations.id ORDER BY q.at LIMIT 1),
    CASE WHEN id LIKE 'slack:%' THEN 'slack' ELSE 'http' END)
WHERE door = ''
"""
VOTES = "CREATE UNIQUE INDEX IF NOT EXISTS feedback_vote ON feedback(answer_id, voter)"
NO_CONVERSATION = ("no such conversation: it never existed or has expired "
                   "(start a new one by leaving out conversation_id)")
NO_VOTE = "no vote of yours on this answer to amend (send the feedback_id your vote returned)"
TRAILING = re.compile(r"[\s?？!！.。~～]+$")
PURGE_EVERY_S = 60.0


class HistoryOptions(BaseModel):
    path: Path | None = Field(None, description="SQLite file (default: <data_dir>/kqa.sqlite3).")
    ttl_s: float = Field(86400.0, gt=0, description="A conversation idle this long is forgotten.")
    max_turns: int = Field(50, ge=1, description="Turns kept per conversation; older ones are dropped.")
    keep_days: float = Field(365.0, gt=0, description="Question log and feedback older than this are deleted.")


@dataclass(frozen=True)
class Asked:
    question: str
    count: int
    refused: int = 0
    up: int = 0
    down: int = 0
    comments: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)  # terms a follow-up carried (one example)
    doors: dict[str, int] = field(default_factory=dict)  # how often it came through each door


@dataclass(frozen=True)
class Day:
    """One UTC day of the period: answers given, and how many of them were refusals."""

    day: str  # ISO date
    answers: int
    refused: int


@dataclass(frozen=True)
class Report:
    since: float
    questions: int
    refused: int
    up: int
    down: int
    most_asked: list[Asked]
    most_refused: list[Asked]
    downvoted: list[Asked]
    doors: dict[str, int] = field(default_factory=dict)  # answers per door, most first
    days: list[Day] = field(default_factory=list)  # every day from the period's first to today

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def asked_form(question: str) -> str:
    """The form questions are grouped by: NFKC, lower case, single spaces, no trailing ?!."""
    return TRAILING.sub("", " ".join(normalize(question).split()))


def new_id() -> str:
    return uuid.uuid4().hex


class History:
    def __init__(self, path: Path, options: HistoryOptions, clock: Callable[[], float] = time.time) -> None:
        self.path, self.options, self.clock = path, options, clock
        self._local = threading.local()
        self._purged = 0.0
        self._created = False

    def _db(self) -> sqlite3.Connection:
        """This thread's connection; the file and its tables are made on first use, so a command
        that never records anything (search, eval) leaves no database behind."""
        db = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if not self._created:
                db.executescript(SCHEMA)
                _migrate(db)
                db.execute(VOTES)
                self._created = True
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # conversations

    def last_terms(self, conversation_id: str, *, door: str) -> list[str]:
        """Key terms of the conversation's last turn; ConversationNotFound if unknown, expired or
        another door's (the same error: a door learns nothing of the others' conversations)."""
        row = self._db().execute("SELECT updated FROM conversations WHERE id = ? AND door = ?",
                                 (conversation_id, door)).fetchone()
        if row is None or row[0] < self.clock() - self.options.ttl_s:
            raise ConversationNotFound(NO_CONVERSATION)
        turn = self._db().execute(
            "SELECT terms FROM turns WHERE conversation_id = ? ORDER BY n DESC LIMIT 1", (conversation_id,)
        ).fetchone()
        return json.loads(turn[0]) if turn else []

    def add_turn(self, conversation_id: str | None, message: str, terms: list[str], answer_id: str,
                 create: bool = False, *, door: str) -> str:
        """Append a turn through `door` and return the conversation id. `conversation_id` None
        starts a new conversation; `create` starts one under the given id when it is unknown or
        expired. A live conversation of another door is ConversationNotFound, even with `create`."""
        now = self.clock()
        self._purge(now)
        with self._tx() as db:
            if conversation_id is None:
                conversation_id = new_id()
                create = True
            row = db.execute("SELECT turns, updated, door FROM conversations WHERE id = ?",
                             (conversation_id,)).fetchone()
            live = row is not None and row[1] >= now - self.options.ttl_s
            if (live and row[2] != door) or (not live and not create):
                raise ConversationNotFound(NO_CONVERSATION)
            if not live:
                db.execute("DELETE FROM turns WHERE conversation_id = ?", (conversation_id,))
                db.execute("INSERT OR REPLACE INTO conversations (id, created, updated, turns, door) "
                           "VALUES (?, ?, ?, 0, ?)", (conversation_id, now, now, door))
                row = (0, now, door)
            n = row[0] + 1
            db.execute("INSERT INTO turns (conversation_id, n, message, terms, answer_id, at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (conversation_id, n, message, json.dumps(terms, ensure_ascii=False), answer_id, now))
            db.execute("DELETE FROM turns WHERE conversation_id = ? AND n <= ?",
                       (conversation_id, n - self.options.max_turns))
            db.execute("UPDATE conversations SET updated = ?, turns = ? WHERE id = ?", (now, n, conversation_id))
        return conversation_id

    def turns(self, conversation_id: str) -> list[tuple[str, list[str]]]:
        rows = self._db().execute(
            "SELECT message, terms FROM turns WHERE conversation_id = ? ORDER BY n", (conversation_id,)).fetchall()
        return [(m, json.loads(t)) for m, t in rows]

    # the question log and feedback

    def log(self, answer_id: str, question: str, refused: bool, top_score: float, door: str,
            conversation_id: str | None = None, context_terms: list[str] | None = None) -> None:
        self._purge(self.clock())  # also here: a deployment may never hold a conversation
        with self._tx() as db:
            db.execute(
                "INSERT INTO questions (answer_id, question, asked, refused, top_score, door, conversation_id, "
                "context_terms, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (answer_id, question, asked_form(question), int(refused), float(top_score), door, conversation_id,
                 json.dumps(context_terms or [], ensure_ascii=False), self.clock()),
            )

    def add_feedback(self, answer_id: str, rating: str, comment: str | None, amends: int | None = None, *,
                     voter: str) -> int:
        """Record `voter`'s vote on the answer and return its id. One vote per answer per voter:
        voting again replaces the vote (same id). `amends` names the vote to replace and must be
        the voter's own on this answer; any other id is AnswerNotFound, whoever's it is."""
        now = self.clock()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM questions WHERE answer_id = ?", (answer_id,)).fetchone() is None:
                raise AnswerNotFound(f"no answer {answer_id!r} was given (or it is too old to rate)")
            if amends is not None:
                if not db.execute("UPDATE feedback SET rating = ?, comment = ?, at = ? "
                                  "WHERE id = ? AND answer_id = ? AND voter = ?",
                                  (rating, comment or None, now, amends, answer_id, voter)).rowcount:
                    raise AnswerNotFound(NO_VOTE)
                return amends
            (row_id,) = db.execute(
                "INSERT INTO feedback (answer_id, rating, comment, at, voter) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (answer_id, voter) DO UPDATE SET rating = excluded.rating, comment = excluded.comment, "
                "at = excluded.at RETURNING id", (answer_id, rating, comment or None, now, voter)).fetchall()[0]
            return int(row_id)

    def report(self, limit: int = 10, since_s: float | None = None) -> Report:
        """Totals and the top questions. Feedback rows are votes: one per answer and voter."""
        since = self.clock() - since_s if since_s else 0.0
        db = self._db()
        totals = db.execute("SELECT COUNT(*), COALESCE(SUM(refused), 0) FROM questions WHERE at >= ?",
                            (since,)).fetchone()
        votes = dict(db.execute("SELECT rating, COUNT(*) FROM feedback WHERE at >= ? GROUP BY rating",
                                (since,)).fetchall())
        grouped = (
            "SELECT MAX(question), COUNT(*), SUM(refused), MAX(context_terms), asked FROM questions "
            "WHERE at >= ? {where} GROUP BY asked ORDER BY {order} LIMIT ?"
        )
        most = db.execute(grouped.format(where="", order="COUNT(*) DESC, MAX(at) DESC"), (since, limit)).fetchall()
        refused = db.execute(grouped.format(where="AND refused = 1", order="COUNT(*) DESC, MAX(at) DESC"),
                             (since, limit)).fetchall()
        down = db.execute(
            "SELECT MAX(q.question), COUNT(DISTINCT q.answer_id), SUM(f.rating = 'up'), SUM(f.rating = 'down'), "
            "GROUP_CONCAT(f.comment, char(31)), MAX(q.context_terms), q.asked "
            "FROM feedback f JOIN questions q ON q.answer_id = f.answer_id "
            "WHERE f.at >= ? GROUP BY q.asked HAVING SUM(f.rating = 'down') > 0 "
            "ORDER BY SUM(f.rating = 'down') DESC, MAX(f.at) DESC LIMIT ?", (since, limit)).fetchall()
        # the period's rows, plain: days and doors are counted here rather than in SQL dialects
        rows = db.execute("SELECT at, refused, door, asked FROM questions WHERE at >= ?", (since,)).fetchall()
        doors: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for _, _, door, form in rows:
            doors[form][door] += 1
        return Report(
            since=since, questions=totals[0], refused=totals[1], up=votes.get("up", 0), down=votes.get("down", 0),
            most_asked=[Asked(q, n, r, context=json.loads(ctx), doors=dict(doors[a].most_common()))
                        for q, n, r, ctx, a in most],
            most_refused=[Asked(q, n, r, context=json.loads(ctx), doors=dict(doors[a].most_common()))
                          for q, n, r, ctx, a in refused],
            downvoted=[Asked(q, n, 0, up, dn, [c for c in (cs or "").split("\x1f") if c][-5:], json.loads(ctx),
                             dict(doors[a].most_common())) for q, n, up, dn, cs, ctx, a in down],
            doors=dict(Counter(door for _, _, door, _ in rows).most_common()),
            days=count_days(rows, since, self.clock()),
        )

    def _purge(self, now: float) -> None:
        """Forget expired conversations and old log entries, at most once a minute."""
        if now - self._purged < PURGE_EVERY_S:
            return
        self._purged = now
        with self._tx() as db:
            expired = now - self.options.ttl_s
            db.execute("DELETE FROM turns WHERE conversation_id IN (SELECT id FROM conversations WHERE updated < ?)",
                       (expired,))
            db.execute("DELETE FROM conversations WHERE updated < ?", (expired,))
            old = now - self.options.keep_days * 86400
            db.execute("DELETE FROM questions WHERE at < ?", (old,))
            db.execute("DELETE FROM feedback WHERE at < ?", (old,))


def count_days(rows: list[tuple[float, int, str, str]], since: float, now: float) -> list[Day]:
    """Answers and refusals per UTC day of (at, refused, …) rows, every day from the period's
    first (or, for all time, the first row's) to today, days without a question at zero."""
    per_day: Counter[date] = Counter()
    refused: Counter[date] = Counter()
    for at, was_refused, *_ in rows:
        day = datetime.fromtimestamp(at, UTC).date()
        per_day[day] += 1
        refused[day] += int(was_refused)
    today = datetime.fromtimestamp(now, UTC).date()
    start = datetime.fromtimestamp(since, UTC).date() if since else min(per_day, default=today)
    span = range((today - start).days + 1)
    return [Day(d.isoformat(), per_day[d], refused[d]) for d in (start + timedelta(n) for n in span)]


def _migrate(db: sqlite3.Connection) -> None:
    """Add the columns a file made by an older kqa lacks, in one transaction, so that processes
    opening the same file at once do not both add them."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for (table, column), kind in ADDED.items():
            if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        db.execute(OLD_DOORS)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
