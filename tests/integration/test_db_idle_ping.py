"""A pooled connection is asked whether it answers only after sitting idle: under load a request
costs no extra round trip, and a connection the database dropped meanwhile is replaced unseen."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc, text

from shared import db
from shared.db import make_engine
from shared.outages import is_unreachable
from shared.testing import POSTGRES_URL, asyncpg_url, create_database, drop_database, eventually

pytestmark = pytest.mark.integration


class Clock:
    """The pool's idle clock, moved by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CLOCK = Clock()


@pytest.fixture
async def pool(monkeypatch):
    monkeypatch.setattr(db, "idle_clock", CLOCK)
    name = await create_database("oia_test_idle_ping")
    engine = make_engine(asyncpg_url(name), pool_size=1)
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection):
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        yield engine, pings
    finally:
        await engine.dispose()
        await drop_database(name)


async def backend(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def terminate(pid: int) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        async def gone() -> bool:
            return not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)

        await eventually(gone, message=f"backend {pid} to end")
    finally:
        await conn.close()


async def idle_past_the_threshold() -> None:
    CLOCK.now += db.PING_AFTER_IDLE_SECONDS + 0.1


async def test_a_connection_back_in_use_at_once_is_not_asked(pool):
    engine, pings = pool
    pids = {await backend(engine) for _ in range(20)}
    assert len(pids) == 1  # the one pooled connection, reused
    assert pings == []


async def test_a_connection_idle_for_a_while_is_asked_and_replaced_if_the_database_dropped_it(pool):
    engine, pings = pool
    first = await backend(engine)
    await terminate(first)  # a database restart, as the pool sees it
    await idle_past_the_threshold()
    second = await backend(engine)  # answered: the ping found the dead connection, a new one was made
    assert second != first
    assert len(pings) == 1
    await idle_past_the_threshold()
    assert await backend(engine) == second  # alive: asked, and kept
    assert len(pings) == 2


async def test_a_connection_dropped_within_the_idle_threshold_fails_one_use_then_the_pool_starts_afresh(pool):
    engine, pings = pool
    first = await backend(engine)
    await terminate(first)
    with pytest.raises(exc.DBAPIError) as failed:
        await backend(engine)  # used again at once: not asked, so the statement meets the dead connection
    assert is_unreachable(failed.value)  # answered 503 by the API, as any outage
    assert await backend(engine) != first
    assert pings == []
