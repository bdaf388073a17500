"""Infrastructure outages told apart from bugs, in one place.

A request, a handler or the relay that fails because the database (or the broker) cannot be
reached is not broken: it would succeed unchanged once the other side answers. Such failures are
waited out (consumers pause, the relay probes) or answered with a 503 and `Retry-After`, never
counted as a handler's attempt nor reported as an internal error.
"""

from __future__ import annotations

import errno
import socket

import aiormq
import asyncpg
from sqlalchemy import exc as sa

# What a client is told to wait (seconds) when the database is away: PostgreSQL restarts in a few.
RETRY_AFTER_SECONDS = 5

# SQLSTATEs of a server that cannot serve us now, not of a statement that is wrong: class 08
# (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now), 53300 (too many
# connections).
_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
_NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH,
                   errno.ENETUNREACH, errno.ENETDOWN, errno.ETIMEDOUT, errno.EPIPE, errno.ENOTCONN}


def is_unreachable(exc: BaseException) -> bool:
    """True if `exc`, or an exception it was raised from, says the database or broker is out of reach.

    Walks the chain because drivers wrap: SQLAlchemy's DBAPIError holds its adapter's error, which
    was raised from asyncpg's, which may have been raised from an OSError."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _says_unreachable(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _says_unreachable(exc: BaseException) -> bool:
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True  # SQLAlchemy saw the connection die under the statement
    if isinstance(exc, sa.TimeoutError):
        return True  # no pooled connection came free in time: the database is not keeping up
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    if type(exc) is OSError:  # not its file-system subclasses; asyncpg's "Multiple exceptions" has no errno
        return exc.errno is None or exc.errno in _NETWORK_ERRNOS
    if isinstance(exc, (asyncpg.PostgresConnectionError, aiormq.exceptions.ChannelInvalidStateError)):
        return True  # (aiormq's connection errors are ConnectionErrors, above)
    if isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_SQLSTATES)
