"""The history's schema under Alembic, on a real PostgreSQL (a fresh database per test) and on
SQLite: made from nothing, taken over from the schema kqa used before migrations (data kept),
downgraded, and refused when a newer kqa has migrated it. `kqa db` drives the same."""

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from bot import database
from bot.database import DatabaseOptions, SchemaTooNew
from bot.history import History, HistoryOptions
from tests.api.test_cli import kqa

TABLES = {"conversations", "turns", "questions", "feedback"}
# The schema kqa 0.1 made in its SQLite file, before migrations (bot/history.py's SCHEMA then).
BEFORE_MIGRATIONS = """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL, turns INTEGER NOT NULL DEFAULT 0,
    door TEXT NOT NULL);
CREATE INDEX conversations_updated ON conversations(updated);
CREATE TABLE turns (
    conversation_id TEXT NOT NULL, n INTEGER NOT NULL, message TEXT NOT NULL, terms TEXT NOT NULL,
    answer_id TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (conversation_id, n));
CREATE TABLE questions (
    answer_id TEXT PRIMARY KEY, question TEXT NOT NULL, asked TEXT NOT NULL, refused INTEGER NOT NULL,
    top_score REAL NOT NULL, door TEXT NOT NULL, conversation_id TEXT, context_terms TEXT NOT NULL,
    at REAL NOT NULL);
CREATE INDEX questions_at ON questions(at);
CREATE INDEX questions_asked ON questions(asked);
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT NOT NULL, rating TEXT NOT NULL
    CHECK (rating IN ('up', 'down')), comment TEXT, at REAL NOT NULL, voter TEXT);
CREATE INDEX feedback_answer ON feedback(answer_id);
CREATE UNIQUE INDEX feedback_vote ON feedback(answer_id, voter);
"""
NOW = 1_000_000.0


def engine_at(where: str | Path) -> Engine:
    return database.engine(database.url_of(where), DatabaseOptions())


def tables(db: Engine) -> set[str]:
    return set(inspect(db).get_table_names()) & TABLES


def test_upgrade_from_an_empty_postgresql_and_downgrade_to_nothing(postgres: str) -> None:
    db = engine_at(postgres)
    assert database.current(db) is None and tables(db) == set()
    database.upgrade(db)
    assert database.current(db) == database.head() and tables(db) == TABLES
    columns = {c["name"]: c for c in inspect(db).get_columns("conversations")}
    assert str(columns["updated"]["type"]) == "DOUBLE PRECISION"  # epoch seconds need 8 bytes, not REAL's 4
    database.upgrade(db)  # at head already: nothing happens
    database.downgrade(db, "base")
    assert database.current(db) is None and tables(db) == set()
    database.upgrade(db)  # and up again
    assert tables(db) == TABLES
    db.dispose()


def test_a_sqlite_file_from_before_migrations_is_taken_over_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "kqa.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(BEFORE_MIGRATIONS)
        old.execute("INSERT INTO conversations VALUES ('c1', ?, ?, 1, 'widget')", (NOW, NOW))
        old.execute("INSERT INTO turns VALUES ('c1', 1, 'Pod 是什么', '[\"Pod\"]', 'a1', ?)", (NOW,))
        old.execute("INSERT INTO questions VALUES ('a1', 'Pod 是什么', 'pod 是什么', 0, 0.9, 'widget', 'c1', '[]', ?)",
                    (NOW,))
        old.execute("INSERT INTO feedback (answer_id, rating, comment, at, voter) "
                    "VALUES ('a1', 'down', '太短', ?, 'key:aaa')", (NOW,))
    history = History(path, HistoryOptions(ttl_s=600), clock=lambda: NOW + 1)
    assert history.prepare() is True  # behind: brought up to date
    assert history.last_terms("c1", door="widget") == ["Pod"]
    assert history.turns("c1") == [("Pod 是什么", ["Pod"])]
    report = history.report()
    assert (report.questions, report.down, report.downvoted[0].comments) == (1, 1, ["太短"])
    # the old vote is still the voter's one vote, with its id
    assert history.add_feedback("a1", "up", None, voter="key:aaa") == 1
    assert history.prepare() is False  # at head: nothing to do
    history.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(database.head(),)]


def test_a_schema_newer_than_the_code_is_a_clear_error(postgres: str, tmp_path: Path) -> None:
    db = engine_at(postgres)
    database.upgrade(db)
    with db.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    history = History(postgres, HistoryOptions())
    for attempt in (history.prepare, lambda: history.report(), lambda: database.upgrade(db)):
        with pytest.raises(SchemaTooNew, match=r"9999_from_the_future.*newer kqa"):
            attempt()
    assert tables(db) == TABLES  # and nothing was touched
    history.close()
    db.dispose()


def test_replicas_starting_together_migrate_once(postgres: str) -> None:
    histories = [History(postgres, HistoryOptions()) for _ in range(4)]
    results: list[bool] = []
    errors: list[BaseException] = []

    def start(h: History) -> None:
        try:
            results.append(h.prepare())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(h,)) for h in histories]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(results) == [False, False, False, True]
    for h in histories:
        h.close()


def test_kqa_db_upgrade_current_and_downgrade(postgres: str) -> None:
    env = {"KQA_DATABASE_URL": postgres}  # the name operators set, read as database.url
    r = kqa("db", "current", env=env)
    assert r.returncode == 0 and "schema at base" in r.stdout, r.stderr
    r = kqa("db", "upgrade", env=env)
    assert r.returncode == 0 and f"schema at {database.head()}" in r.stdout, r.stderr
    r = kqa("db", "downgrade", env=env)
    assert r.returncode == 2 and "downgrade to which revision" in r.stderr
    r = kqa("db", "downgrade", "base", env=env)
    assert r.returncode == 0 and "schema at base" in r.stdout, r.stderr


def test_kqa_db_names_an_unreachable_database_without_its_password() -> None:
    r = kqa("db", "upgrade", env={"KQA_DATABASE_URL": "postgresql://kqa:s3cret-pw@127.0.0.1:1/kqa",
                                  "KQA_DATABASE__CONNECT_TIMEOUT_S": "1"})
    assert r.returncode == 1 and "cannot be reached" in r.stderr and "127.0.0.1:1" in r.stderr
    assert "s3cret-pw" not in r.stderr + r.stdout
