"""Async database access: one engine per service database, SQLite (embedded) or PostgreSQL."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, Table, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import TextClause
from sqlmodel import Session, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# A pooled connection idle this long is asked whether it still answers before it is used.
PING_AFTER_IDLE_SECONDS = 1.0
idle_clock = time.monotonic  # what measures that idleness (tests move it)


def make_engine(url: str, pool_size: int = 10, pre_ping: bool = True) -> AsyncEngine:
    """`pre_ping` checks a pooled connection that sat idle (PING_AFTER_IDLE_SECONDS) before use:
    right for HTTP requests, which would otherwise fail once after a database restart; consumers
    skip it, a retry covers them. Statement errors never quote their values (a webhook URL, a
    signing secret): `hide_parameters`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers run beside the writer; the busy timeout queues writers instead of failing.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True)
    if pre_ping:
        _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's pool_pre_ping asks before every checkout: a round trip on every request, about
    a tenth of a booking's. Under load a connection comes back within milliseconds and was just
    seen working, so only one idle for a while is asked. A database restarted in the second after a
    connection's last use fails that one request (503); the failure invalidates the whole pool, so
    the next requests connect afresh."""
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_conn: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = idle_clock()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry, _proxy: object) -> None:
        since = record.info.get("checked_in_at")  # none on a new connection: nothing to ask
        if since is None or idle_clock() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_conn, None):
                # The pool drops every connection made before now and hands out a new one.
                raise InvalidatePoolError() from exc
            raise


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


class ReadOnly(Exception):
    """A write through a session meant for reading: a bug in the caller, never the user's input."""


class _ReadingSession(Session):
    """A session whose statements each commit on their own (autocommit): a flush would write at once,
    outside any transaction, so it is refused."""


@event.listens_for(_ReadingSession, "before_flush")
def _refuse_flush(session: Session, _context: object, _instances: object) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnly("a session for reading cannot write: use a unit of work that commits")


class ReadingSession(AsyncSession):
    sync_session_class = _ReadingSession


def make_reading_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read, without BEGIN and ROLLBACK: two round trips of a one-row
    read's three. Under READ COMMITTED (PostgreSQL's default, and ours) each statement sees its own
    snapshot inside a transaction too, so the reads see what they saw before; on SQLite each statement
    reads the last commit. The connections come from the engine's one pool; a statement that would
    write through them (it would commit at once) is refused before it is sent."""
    reading = engine.execution_options(isolation_level="AUTOCOMMIT")
    # Listeners on this option engine are its own: the engine's writing connections are not asked.
    event.listen(reading.sync_engine, "before_execute", _refuse_writes)
    return async_sessionmaker(reading, class_=ReadingSession, expire_on_commit=False)


def _refuse_writes(_conn: object, statement: object, *_args: object) -> None:
    if isinstance(statement, UpdateBase) or (
            isinstance(statement, TextClause) and not _READ_TEXT.match(statement.text)):
        raise ReadOnly("a session for reading cannot write: use a unit of work that commits")


_READ_TEXT = re.compile(r"\s*SELECT\b", re.IGNORECASE)  # text() that reads; WITH may hide an INSERT


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel table class, for bulk statements on a connection (SQLModel's
    metaclass sets `__table__` but does not declare it, so the type checker cannot see it)."""
    table = inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a single table")
    return table


def relation(attribute: object) -> QueryableAttribute[Any]:
    """A relationship of a SQLModel class as the attribute it is (`selectinload(relation(Trip.legs))`):
    SQLModel types `Trip.legs` as the list it holds, as it does columns (`sqlmodel.col`)."""
    if not isinstance(attribute, QueryableAttribute):
        raise TypeError(f"not a mapped attribute: {attribute!r}")
    return attribute


def insert_new(dialect_name: str, table: Table) -> Insert:
    """INSERT that skips rows whose key is there already (also one a concurrent transaction is
    committing: PostgreSQL waits for it, then skips). How "exactly once" is written down."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing()


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def as_utc(moment: datetime) -> datetime:
    """A stored instant with its offset: SQLite gives it back without one (it is stored in UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
