"""A request that only reads runs no transaction (no BEGIN and ROLLBACK round trips), and cannot
write: publishing, committing or flushing a change through it raises, and nothing is stored."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from pydantic import BaseModel
from sqlalchemy import delete, insert, text, update
from sqlmodel import Field, SQLModel

from shared.db import ReadOnly, make_engine, make_reading_sessionmaker, make_sessionmaker
from shared.testing import asyncpg_url, create_database, drop_database
from shared.uow import UnitOfWork

pytestmark = pytest.mark.integration


class Note(SQLModel, table=True):
    __tablename__ = "read_only_note"
    id: int = Field(primary_key=True)
    text: str


class NoteWritten(BaseModel):
    id: int


@asynccontextmanager
async def database(kind: str, tmp_path):
    name = None
    if kind == "postgresql":
        name = await create_database("oia_test_reads")
        url = asyncpg_url(name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}"
    engine = make_engine(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.run_sync(Note.metadata.create_all, tables=[Note.__table__])
        await conn.execute(text("INSERT INTO read_only_note (id, text) VALUES (1, 'kept')"))
    try:
        yield engine
    finally:
        await engine.dispose()
        if name:
            await drop_database(name)


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(request, tmp_path):
    async with database(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
async def postgresql(tmp_path):
    async with database("postgresql", tmp_path) as engine:
        yield engine


def reads(engine) -> UnitOfWork:
    return UnitOfWork(make_reading_sessionmaker(engine), "test", read_only=True)


async def notes(engine) -> list[tuple[int, str]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(text("SELECT id, text FROM read_only_note ORDER BY id")))]


async def test_each_statement_of_a_read_is_its_own_transaction(postgresql):
    """now() is when the statement's transaction began."""
    engine = postgresql
    started = text("SELECT now()")
    async with reads(engine) as uow:
        first, second = [(await (await uow.session.connection()).execute(started)).scalar_one() for _ in range(2)]
    assert second > first, "each statement a transaction of its own: no BEGIN held them in one"
    async with UnitOfWork(make_sessionmaker(engine), "test") as uow:
        first, second = [(await (await uow.session.connection()).execute(started)).scalar_one() for _ in range(2)]
    assert second == first, "a unit of work that may write holds one transaction"


async def test_a_read_sees_what_is_committed(engine):
    async with reads(engine) as uow:
        assert (await uow.session.get(Note, 1)).text == "kept"


async def test_publishing_or_committing_through_a_read_raises(engine):
    async with reads(engine) as uow:
        with pytest.raises(ReadOnly):
            uow.publish(NoteWritten(id=2))
        with pytest.raises(ReadOnly):
            await uow.commit()


@pytest.mark.parametrize("change", ["add", "change", "delete"])
async def test_a_change_flushed_through_a_read_raises_and_stores_nothing(engine, change):
    async with reads(engine) as uow:
        note = await uow.session.get(Note, 1)
        if change == "add":
            uow.session.add(Note(id=2, text="sneaked in"))
        elif change == "change":
            note.text = "changed"
        else:
            await uow.session.delete(note)
        with pytest.raises(ReadOnly):
            await uow.session.flush()
    assert await notes(engine) == [(1, "kept")]


@pytest.mark.parametrize("statement", [
    insert(Note).values(id=2, text="sneaked in"),
    update(Note).values(text="changed"),
    delete(Note),
    text("DELETE FROM read_only_note"),
    text("WITH gone AS (DELETE FROM read_only_note RETURNING id) SELECT id FROM gone"),
], ids=["insert", "update", "delete", "text", "text-with"])
async def test_a_statement_that_writes_is_refused_before_it_is_sent(engine, statement):
    """Not only the session's flush: a Core or text statement on a read's connection would commit at once."""
    async with reads(engine) as uow:
        with pytest.raises(ReadOnly):
            await (await uow.session.connection()).execute(statement)
    assert await notes(engine) == [(1, "kept")]


async def test_the_engine_that_writes_is_not_restricted(engine):
    make_reading_sessionmaker(engine)
    async with UnitOfWork(make_sessionmaker(engine), "test") as uow:
        await (await uow.session.connection()).execute(insert(Note).values(id=2, text="written"))
        await uow.commit()
    assert await notes(engine) == [(1, "kept"), (2, "written")]
