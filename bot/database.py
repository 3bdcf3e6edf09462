"""Where the history lives: one SQLAlchemy engine over the SQLite file under the data dir (the
embedded default, one host) or over PostgreSQL (`KQA_DATABASE_URL`, shared by every replica),
and the versions of its schema (Alembic migrations in bot/migrations/, configured here in code
so that they run from an installed package).

- `engine(url, options)`: pooled, with limits; SQLite in WAL mode, a write taking the file's
  write lock at BEGIN (`WRITE`), so that read-then-write transactions never fail half-way.
- `upgrade`, `downgrade`, `current`, `prepare`: the schema's revision. `prepare` brings a
  schema that is behind up to date and refuses one newer than this code (`SchemaTooNew`).
  Migrations run under a lock (PostgreSQL: an advisory lock; SQLite: the write lock), so
  replicas starting together migrate once.
- `DatabaseUnavailable`: the database cannot be reached (down, refused, pool exhausted).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import BaseModel, Field, SecretStr, field_validator
from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.engine import URL

from corpus.errors import KqaError

MIGRATIONS = Path(__file__).parent / "migrations"
WRITE = {"kqa_write": True}  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)
MIGRATION_LOCK = 0x6B7161  # PostgreSQL advisory lock key held while migrating ("kqa")
SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "sqlite")
# What a lost or refused connection looks like from SQLAlchemy (OperationalError, InterfaceError
# are DBAPIErrors; TimeoutError is a pool with no free connection in time).
UNREACHABLE = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)


class DatabaseUnavailable(KqaError):
    title = "conversations and feedback are unavailable"
    status = 503


class SchemaTooNew(KqaError):
    title = "database schema newer than this kqa"
    status = 503
    public = True  # names revisions only


class DatabaseOptions(BaseModel):
    url: SecretStr | None = Field(
        None, description="`postgresql://user:password@host:5432/db`: conversations, the question log and feedback "
        "in PostgreSQL, shared by every replica (also read as KQA_DATABASE_URL). Unset: the SQLite file "
        "(history.path).")
    pool_size: int = Field(5, ge=1, description="Connections each process keeps open.")
    max_overflow: int = Field(5, ge=0, description="Connections opened beyond pool_size under load, closed after.")
    pool_timeout_s: float = Field(3.0, gt=0, description="Wait this long for a free connection, then 503.")
    connect_timeout_s: int = Field(3, ge=1, description="Give up connecting to PostgreSQL after this long.")
    retry_after_s: float = Field(2.0, ge=0, description="After a failed connection, calls fail at once for this "
                                 "long (answers go on; their log lines are dropped) before trying again.")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().split("://", 1)[0].lower() not in SCHEMES:
            raise ValueError("the database URL must start with postgresql:// (or sqlite:///)")
        return value


def url_of(given: str | Path) -> URL:
    """A PostgreSQL URL with the psycopg 3 driver, or a SQLite file's URL."""
    if isinstance(given, Path):
        return URL.create("sqlite", database=str(given))
    url = make_url(given)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def engine(url: URL, options: DatabaseOptions) -> Engine:
    pool: dict[str, Any] = {"pool_size": options.pool_size, "max_overflow": options.max_overflow,
                            "pool_timeout": options.pool_timeout_s}
    if url.get_backend_name() == "postgresql":
        # pre-ping: a connection the server dropped (restart, failover) is replaced, not handed out
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": options.connect_timeout_s},
                             **pool)
    made = create_engine(url, connect_args={"timeout": 10.0}, **pool)
    event.listen(made, "connect", _sqlite_connect)
    event.listen(made, "begin", _sqlite_begin)
    return made


def _sqlite_connect(dbapi: Any, record: Any) -> None:
    dbapi.isolation_level = None  # sqlite3 issues no BEGIN of its own: _sqlite_begin does
    dbapi.execute("PRAGMA journal_mode=WAL")
    dbapi.execute("PRAGMA synchronous=NORMAL")


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("kqa_write") else "BEGIN")


def head() -> str:
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert found is not None, "bot/migrations has no revisions"
    return found


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration, in code: no alembic.ini to look for. bot/migrations/env.py
    migrates `conn`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def current(db: Engine) -> str | None:
    """The schema's revision (None: no kqa schema yet, or one from before migrations)."""
    with db.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def known(revision: str) -> bool:
    return any(s.revision == revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def upgrade(db: Engine, revision: str = "head") -> bool:
    """Upgrade to `revision`; True when the schema changed (False: it was there already, or
    another process got there first)."""
    with _migrating(db) as conn:
        before = _refuse_newer(conn)
        command.upgrade(alembic_config(conn), revision)
        return MigrationContext.configure(conn).get_current_revision() != before


def downgrade(db: Engine, revision: str) -> None:
    with _migrating(db) as conn:
        _refuse_newer(conn)
        command.downgrade(alembic_config(conn), revision)


def prepare(db: Engine) -> bool:
    """Bring the schema up to date when it is behind (True when it was); SchemaTooNew when a
    newer kqa has migrated it."""
    now = current(db)
    if now == head():
        return False
    if now is not None and not known(now):
        raise SchemaTooNew(_too_new(now))
    return upgrade(db)


def _refuse_newer(conn: Connection) -> str | None:
    now = MigrationContext.configure(conn).get_current_revision()
    if now is not None and not known(now):
        raise SchemaTooNew(_too_new(now))
    return now


def _too_new(revision: str) -> str:
    return (f"the database schema is at revision {revision}, which this kqa does not know (it knows up to "
            f"{head()}): a newer kqa migrated it. Run that kqa, or its `kqa db downgrade {head()}` first")


@contextmanager
def _migrating(db: Engine) -> Iterator[Connection]:
    """One transaction for the whole migration, under a lock only one process holds at a time."""
    with db.connect() as conn:
        conn.execution_options(**WRITE)
        with conn.begin():
            if db.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            yield conn
