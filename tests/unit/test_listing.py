"""Keyset pages and optional filters, as every list endpoint uses them."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

from shared.listing import Keyset, where_given
from shared.problems import FieldError

metadata = MetaData()
things = Table("things", metadata, Column("id", String, primary_key=True), Column("kind", String),
               Column("created_at", DateTime(timezone=True)), Column("rank", Integer))
T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
async def connection():
    engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        # Three rows share one instant: the id breaks the tie, so none is lost between pages.
        rows = [{"id": f"t{i:02d}", "kind": "a" if i % 2 else "b", "created_at": T0 + timedelta(minutes=i // 3),
                 "rank": i % 4} for i in range(12)]
        await conn.execute(insert(things), rows)
        yield conn
    await engine.dispose()


async def walk(connection, keyset: Keyset, limit: int, query=None) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        rows = (await connection.execute(keyset.page(query if query is not None else select(things), cursor,
                                                     limit))).all()
        pages.append([r.id for r in rows])
        cursor = keyset.next_cursor(rows, limit)
        if cursor is None:
            return pages


async def test_pages_newest_first_cover_every_row_once_across_ties(connection):
    pages = await walk(connection, Keyset((things.c.created_at, things.c.id)), 5)
    flat = [i for page in pages for i in page]
    assert sorted(flat) == sorted(f"t{i:02d}" for i in range(12)) and len(flat) == 12
    assert flat == sorted(flat, key=lambda i: (T0 + timedelta(minutes=int(i[1:]) // 3), i), reverse=True)
    assert [len(p) for p in pages] == [5, 5, 2]


async def test_ascending_pages_on_an_integer_and_a_text_key(connection):
    pages = await walk(connection, Keyset((things.c.rank, things.c.id), descending=False), 4)
    flat = [i for page in pages for i in page]
    assert flat == sorted(flat, key=lambda i: (int(i[1:]) % 4, i))
    assert len(set(flat)) == 12


async def test_filters_apply_only_when_given(connection):
    query = where_given(select(things), {things.c.kind: "a", things.c.rank: None}, None,
                        things.c.created_at >= T0 + timedelta(minutes=2))
    ids = [r.id for r in (await connection.execute(query)).all()]
    assert sorted(ids) == ["t07", "t09", "t11"]
    assert len((await connection.execute(where_given(select(things)))).all()) == 12


@pytest.mark.parametrize("cursor", ["garbage", "2027-03-01T09:00:00+00:00", "99999-01-01|x", "|"])
def test_a_cursor_the_api_never_gave_out_is_a_422_naming_it(cursor):
    with pytest.raises(FieldError) as refused:
        Keyset((things.c.created_at, things.c.id)).page(select(things), cursor, 10)
    assert refused.value.field == "query.cursor"


def test_an_integer_cursor_must_be_an_integer():
    with pytest.raises(FieldError):
        Keyset((things.c.rank, things.c.id)).page(select(things), "x|t01", 10)
