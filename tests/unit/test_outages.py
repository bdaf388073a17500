"""Which failures are outages (waited out, answered 503) and which are bugs (retried, dead-lettered, 500)."""

from __future__ import annotations

import asyncpg
import pytest
from aiormq.exceptions import ChannelInvalidStateError, ConnectionClosed
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.outages import is_unreachable


def _raised_from(outer: type[Exception], inner: BaseException) -> Exception:
    """`outer` raised while handling `inner`, as SQLAlchemy's adapters wrap asyncpg's errors."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer("wrapped", {}, exc) from exc  # type: ignore[call-arg]
    except Exception as wrapped:
        return wrapped


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    ConnectionResetError(104, "Connection reset by peer"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed, [Errno 99] Cannot assign"),
    TimeoutError(),
    PoolTimeout("QueuePool limit of size 10 overflow 10 reached, connection timed out"),
    _raised_from(InterfaceError, asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")),
    _raised_from(OperationalError, asyncpg.exceptions.AdminShutdownError("terminating connection")),
    _raised_from(OperationalError, asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
    _raised_from(InterfaceError, asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed")),
    ConnectionClosed(320, "CONNECTION_FORCED"),
    ChannelInvalidStateError("No active transport in channel"),
], ids=lambda exc: type(exc).__name__)
def test_outages_are_recognised(exc):
    assert is_unreachable(exc)


@pytest.mark.parametrize("exc", [
    RuntimeError("handler refuses"),
    FileNotFoundError(2, "No such file or directory"),
    PermissionError(13, "Permission denied"),
    _raised_from(ProgrammingError, asyncpg.exceptions.UndefinedTableError('relation "trip" does not exist')),
    _raised_from(IntegrityError, asyncpg.exceptions.UniqueViolationError("duplicate key value")),
    ValueError("bad input"),
], ids=lambda exc: type(exc).__name__)
def test_bugs_are_not_outages(exc):
    assert not is_unreachable(exc)


def test_an_invalidated_connection_is_an_outage():
    exc = OperationalError("SELECT 1", {}, RuntimeError("server closed the connection"), connection_invalidated=True)
    assert is_unreachable(exc)
