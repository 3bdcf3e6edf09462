"""What was asked and what readers thought of it: conversations and their turns (they expire,
and keep only their last turns), the log of every answer given (question, refused, top score,
answer id, time) and feedback on answers. In one SQLite file under the data dir (one host), or
in PostgreSQL shared by every replica (`KQA_DATABASE_URL`): the same queries (SQLAlchemy Core)
and the same schema (bot/migrations/) for both.

- A conversation belongs to the door that started it (`http`, `widget`, `slack`): another door
  cannot read or extend it, and is told exactly what it would be told of an id never used.
- One vote per answer per voter (an API key, a client address, a Slack user): voting again
  replaces the vote, and only its voter may amend it.
- The schema is made, or brought up to date, on first use (bot.database.prepare); a SQLite file
  written before migrations existed is taken over in place, nothing lost.
- A database that cannot be reached is DatabaseUnavailable (503): the bot still answers, and
  drops the question log's line (bot.bot counts them).
"""

from __future__ import annotations

import json
import logging
import re
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
from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Double,
    Insert,
    Integer,
    MetaData,
    Table,
    Text,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from bot.database import UNREACHABLE, WRITE, DatabaseOptions, DatabaseUnavailable, engine, prepare, url_of
from bot.errors import AnswerNotFound, ConversationNotFound
from bot.terms import normalize
from corpus.paths import PathSetting

# The tables as the queries see them; bot/migrations/ makes and changes them.
metadata = MetaData()
conversations = Table(
    "conversations", metadata, Column("id", Text, primary_key=True), Column("created", Double, nullable=False),
    Column("updated", Double, nullable=False), Column("turns", Integer, nullable=False),
    Column("door", Text, nullable=False))
turns = Table(
    "turns", metadata, Column("conversation_id", Text, primary_key=True), Column("n", Integer, primary_key=True),
    Column("message", Text, nullable=False), Column("terms", Text, nullable=False),
    Column("answer_id", Text, nullable=False), Column("at", Double, nullable=False))
questions = Table(
    "questions", metadata, Column("answer_id", Text, primary_key=True), Column("question", Text, nullable=False),
    Column("asked", Text, nullable=False), Column("refused", Integer, nullable=False),
    Column("top_score", Double, nullable=False), Column("door", Text, nullable=False),
    Column("conversation_id", Text), Column("context_terms", Text, nullable=False),
    Column("at", Double, nullable=False))
feedback = Table(
    "feedback", metadata, Column("id", Integer, primary_key=True), Column("answer_id", Text, nullable=False),
    Column("rating", Text, CheckConstraint("rating IN ('up', 'down')"), nullable=False), Column("comment", Text),
    Column("at", Double, nullable=False), Column("voter", Text))
NO_CONVERSATION = ("no such conversation: it never existed or has expired "
                   "(start a new one by leaving out conversation_id)")
NO_VOTE = "no vote of yours on this answer to amend (send the feedback_id your vote returned)"
TRAILING = re.compile(r"[\s?？!！.。~～]+$")
log = logging.getLogger("kqa.history")
DOWN = "the conversation and feedback database cannot be reached"
SEP = "\x1f"  # between the comments of one question in the report (no reader types it)
PURGE_EVERY_S = 60.0


class HistoryOptions(BaseModel):
    path: PathSetting | None = Field(None, description="SQLite file (default: <data_dir>/kqa.sqlite3).")
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
    """The history at `where`: a SQLite file (Path) or a database URL (str, e.g. PostgreSQL's)."""

    def __init__(self, where: Path | str, options: HistoryOptions, clock: Callable[[], float] = time.time, *,
                 database: DatabaseOptions | None = None) -> None:
        self.options, self.clock = options, clock
        self.database = database or DatabaseOptions()
        self.url = url_of(where)
        self.path = where if isinstance(where, Path) else None
        self.engine = engine(self.url, self.database)
        self._lock = threading.Lock()
        self._ready = False
        self._purged = 0.0
        self._down_until = 0.0

    def close(self) -> None:
        self.engine.dispose()

    def prepare(self) -> bool:
        """Make the schema, or bring it up to date, now rather than on first use (True when it
        was behind). SchemaTooNew when a newer kqa has migrated it."""
        with self._reachable():
            return self._prepare()

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """A database that cannot be reached is DatabaseUnavailable; after that, calls fail at
        once for `retry_after_s` rather than each waiting for a connection that will not come."""
        if time.monotonic() < self._down_until:
            raise DatabaseUnavailable(DOWN)
        try:
            yield
        except UNREACHABLE as exc:
            if self.engine.dialect.name != "sqlite":  # a busy SQLite file is not a server gone away
                self._down_until = time.monotonic() + self.database.retry_after_s
            # the driver's words name the host: for the log, not for whoever sees the error (Slack shows it)
            log.warning("%s: %s: %s", DOWN, exc.__class__.__name__, str(exc).splitlines()[0])
            raise DatabaseUnavailable(DOWN) from exc

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        """One transaction, on a schema made or brought up to date on first use (so a command
        that never records anything, search or eval, leaves no database behind)."""
        with self._reachable():
            self._prepare()
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(**WRITE)
                with conn.begin():
                    yield conn

    def _prepare(self) -> bool:
        if self._ready:
            return False
        with self._lock:
            if self._ready:
                return False
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            migrated = prepare(self.engine)
            self._ready = True
            return migrated

    # conversations

    def last_terms(self, conversation_id: str, *, door: str) -> list[str]:
        """Key terms of the conversation's last turn; ConversationNotFound if unknown, expired or
        another door's (the same error: a door learns nothing of the others' conversations)."""
        with self._tx() as db:
            updated = db.scalar(select(conversations.c.updated).where(
                conversations.c.id == conversation_id, conversations.c.door == door))
            if updated is None or updated < self.clock() - self.options.ttl_s:
                raise ConversationNotFound(NO_CONVERSATION)
            terms = db.scalar(select(turns.c.terms).where(turns.c.conversation_id == conversation_id)
                              .order_by(turns.c.n.desc()).limit(1))
        return json.loads(terms) if terms else []

    def add_turn(self, conversation_id: str | None, message: str, terms: list[str], answer_id: str,
                 create: bool = False, *, door: str) -> str:
        """Append a turn through `door` and return the conversation id. `conversation_id` None
        starts a new conversation; `create` starts one under the given id when it is unknown or
        expired. A live conversation of another door is ConversationNotFound, even with `create`."""
        now = self.clock()
        self._purge(now)
        if conversation_id is None:
            conversation_id = new_id()
            create = True
        with self._tx(write=True) as db:
            # FOR UPDATE: two replicas adding a turn to one conversation at once take turns
            row = db.execute(select(conversations.c.turns, conversations.c.updated, conversations.c.door)
                             .where(conversations.c.id == conversation_id).with_for_update()).first()
            live = row is not None and row.updated >= now - self.options.ttl_s
            if (live and row is not None and row.door != door) or (not live and not create):
                raise ConversationNotFound(NO_CONVERSATION)
            n = row.turns + 1 if live and row is not None else 1
            if not live:
                # the upsert first: it holds the row, so a start racing this one waits, then sees our turns
                fresh = {"id": conversation_id, "created": now, "updated": now, "turns": 0, "door": door}
                db.execute(upsert(db, conversations, fresh, ["id"]))
                db.execute(delete(turns).where(turns.c.conversation_id == conversation_id))
            db.execute(insert(turns).values(conversation_id=conversation_id, n=n, message=message,
                                            terms=json.dumps(terms, ensure_ascii=False), answer_id=answer_id, at=now))
            db.execute(delete(turns).where(turns.c.conversation_id == conversation_id,
                                           turns.c.n <= n - self.options.max_turns))
            db.execute(update(conversations).where(conversations.c.id == conversation_id).values(updated=now, turns=n))
        return conversation_id

    def turns(self, conversation_id: str) -> list[tuple[str, list[str]]]:
        with self._tx() as db:
            rows = db.execute(select(turns.c.message, turns.c.terms)
                              .where(turns.c.conversation_id == conversation_id).order_by(turns.c.n)).all()
        return [(m, json.loads(t)) for m, t in rows]

    # the question log and feedback

    def log(self, answer_id: str, question: str, refused: bool, top_score: float, door: str,
            conversation_id: str | None = None, context_terms: list[str] | None = None) -> None:
        self._purge(self.clock())  # also here: a deployment may never hold a conversation
        with self._tx(write=True) as db:
            db.execute(insert(questions).values(
                answer_id=answer_id, question=question, asked=asked_form(question), refused=int(refused),
                top_score=float(top_score), door=door, conversation_id=conversation_id,
                context_terms=json.dumps(context_terms or [], ensure_ascii=False), at=self.clock()))

    def add_feedback(self, answer_id: str, rating: str, comment: str | None, amends: int | None = None, *,
                     voter: str) -> int:
        """Record `voter`'s vote on the answer and return its id. One vote per answer per voter:
        voting again replaces the vote (same id). `amends` names the vote to replace and must be
        the voter's own on this answer; any other id is AnswerNotFound, whoever's it is."""
        now = self.clock()
        with self._tx(write=True) as db:
            if db.scalar(select(questions.c.answer_id).where(questions.c.answer_id == answer_id)) is None:
                raise AnswerNotFound(f"no answer {answer_id!r} was given (or it is too old to rate)")
            vote = {"rating": rating, "comment": comment or None, "at": now}
            if amends is not None:
                if not db.execute(update(feedback).where(
                        feedback.c.id == amends, feedback.c.answer_id == answer_id, feedback.c.voter == voter)
                        .values(**vote)).rowcount:
                    raise AnswerNotFound(NO_VOTE)
                return amends
            row_id = db.scalar(upsert(db, feedback, {"answer_id": answer_id, "voter": voter, **vote},
                                      ["answer_id", "voter"]).returning(feedback.c.id))
            return int(row_id)

    def report(self, limit: int = 10, since_s: float | None = None) -> Report:
        """Totals and the top questions. Feedback rows are votes: one per answer and voter."""
        since = self.clock() - since_s if since_s else 0.0
        q, f = questions.c, feedback.c
        with self._tx() as db:
            total, refused = db.execute(select(func.count(), func.coalesce(func.sum(q.refused), 0))
                                        .where(q.at >= since)).one()
            by_rating = select(f.rating, func.count()).where(f.at >= since).group_by(f.rating)
            votes: dict[str, int] = dict(db.execute(by_rating).all())
            order = (func.count().desc(), func.max(q.at).desc())
            grouped = (select(func.max(q.question), func.count(), func.sum(q.refused), func.max(q.context_terms),
                              q.asked)
                       .where(q.at >= since).group_by(q.asked).order_by(*order).limit(limit))
            most = db.execute(grouped).all()
            most_refused = db.execute(grouped.where(q.refused == 1)).all()
            ups, downs = (func.sum(case((f.rating == r, 1), else_=0)) for r in ("up", "down"))
            down = db.execute(
                select(func.max(q.question), func.count(q.answer_id.distinct()), ups, downs,
                       func.aggregate_strings(f.comment, SEP), func.max(q.context_terms), q.asked)
                .select_from(feedback.join(questions, q.answer_id == f.answer_id))
                .where(f.at >= since).group_by(q.asked).having(downs > 0)
                .order_by(downs.desc(), func.max(f.at).desc()).limit(limit)).all()
            # the period's rows, plain: days and doors are counted here rather than in SQL dialects
            rows = [(float(at), int(was), str(door), str(form)) for at, was, door, form in
                    db.execute(select(q.at, q.refused, q.door, q.asked).where(q.at >= since)).all()]
        doors: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for _, _, door, form in rows:
            doors[form][door] += 1
        return Report(
            since=since, questions=total, refused=int(refused), up=votes.get("up", 0), down=votes.get("down", 0),
            most_asked=[Asked(q, n, int(r), context=json.loads(ctx), doors=dict(doors[a].most_common()))
                        for q, n, r, ctx, a in most],
            most_refused=[Asked(q, n, int(r), context=json.loads(ctx), doors=dict(doors[a].most_common()))
                          for q, n, r, ctx, a in most_refused],
            downvoted=[Asked(q, n, 0, int(up), int(dn), [c for c in (cs or "").split(SEP) if c][-5:],
                             json.loads(ctx), dict(doors[a].most_common())) for q, n, up, dn, cs, ctx, a in down],
            doors=dict(Counter(door for _, _, door, _ in rows).most_common()),
            days=count_days(rows, since, self.clock()),
        )

    def _purge(self, now: float) -> None:
        """Forget expired conversations and old log entries, at most once a minute (per process:
        with replicas, whichever comes first does it)."""
        if now - self._purged < PURGE_EVERY_S:
            return
        self._purged = now
        with self._tx(write=True) as db:
            expired = now - self.options.ttl_s
            gone = select(conversations.c.id).where(conversations.c.updated < expired)
            db.execute(delete(turns).where(turns.c.conversation_id.in_(gone)))
            db.execute(delete(conversations).where(conversations.c.updated < expired))
            old = now - self.options.keep_days * 86400
            db.execute(delete(questions).where(questions.c.at < old))
            db.execute(delete(feedback).where(feedback.c.at < old))


def upsert(db: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> Insert:
    """INSERT … ON CONFLICT (keys) DO UPDATE, in the connection's dialect (SQLite and PostgreSQL
    spell it alike, but SQLAlchemy builds it per dialect)."""
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values)
    return stmt.on_conflict_do_update(index_elements=keys,  # type: ignore[no-any-return]
                                      set_={k: stmt.excluded[k] for k in values if k not in keys})


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
