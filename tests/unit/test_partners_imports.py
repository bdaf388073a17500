"""A register imported through the service layer: good rows become partnerships, the others are
reported with the reason (never guessed), and `all_or_nothing` stores nothing if any row is rejected."""

from __future__ import annotations

import io

import pytest
from sqlmodel import select

from services.partners.models import Partnership, PartnersTable
from services.partners.service import PartnersContext, imports
from shared.places import Gazetteer
from shared.problems import FieldError
from tests.support.fakes import fake_database

places = Gazetteer()
CTX = PartnersContext(places=places, home=places.resolve("Frankfurt am Main", "DE"))
HEADER = "home_city,home_country,partner_city,partner_country,year,kind,themes\n"
# Two rows as the paper printed them: Budapest "in Romania" and Cairo "in Nicaragua".
REGISTER = HEADER + """Frankfurt am Main,DE,Krakau,PL,1991,twin,culture;economy
Frankfurt am Main,DE,Budapest,Romania,1990,,
Frankfurt am Main,DE,Cairo,Nicaragua,1979,,
Frankfurt,DE,Kraków,PL,1991,,
Frankfurt am Main,DE,Lyon,FR,1960,twin,
Frankfurt am Main,DE,Atlantis,GR,1960,,
Frankfurt am Main,DE,Milan,IT,1970,marriage,
Frankfurt am Main,DE,Toronto,CA,next year,,
"""


@pytest.fixture
async def db():
    async with fake_database(PartnersTable.metadata, "partners") as database:
        yield database


async def stored(db) -> list[Partnership]:
    async with db.uow() as uow:
        return list((await uow.session.exec(select(Partnership).order_by(Partnership.partner_city))).all())


async def test_row_by_row_stores_the_good_rows_and_reports_the_others(db):
    async with db.uow() as uow:
        report = await imports.import_register(uow, CTX, io.StringIO(REGISTER), "row_by_row")

    assert (report.rows, report.created, report.duplicates, report.rejected) == (8, 2, 1, 5)
    by_line = {r.line: r for r in report.rows_reported()}
    assert {line: r.status for line, r in by_line.items()} == {
        2: "created", 3: "rejected", 4: "rejected", 5: "duplicate", 6: "created", 7: "rejected", 8: "rejected",
        9: "rejected"}
    assert "HU" in by_line[3].reason and "EG" in by_line[4].reason
    assert "Atlantis" in by_line[7].reason and "marriage" in by_line[8].reason and "year" in by_line[9].reason
    krakow, lyon = await stored(db)
    assert by_line[5].partnership_id == by_line[2].partnership_id == krakow.id and by_line[6].partnership_id == lyon.id
    assert (krakow.partner_city, krakow.formalised_on.isoformat(), krakow.formalised_year_only, krakow.themes) == (
        "Kraków", "1991-01-01", True, ["culture", "economy"])
    assert db.commits == 1 and db.published == []


async def test_all_or_nothing_stores_nothing_and_names_the_rejected_rows(db):
    with pytest.raises(FieldError) as refused:
        async with db.uow() as uow:
            await imports.import_register(uow, CTX, io.StringIO(REGISTER), "all_or_nothing")

    assert [r["line"] for r in refused.value.extra["report"]] == [3, 4, 7, 8, 9]
    assert await stored(db) == [] and db.commits == 0


async def test_a_second_import_of_the_same_register_creates_nothing_new(db):
    for _ in range(2):
        async with db.uow() as uow:
            report = await imports.import_register(uow, CTX, io.StringIO(REGISTER), "row_by_row")
    assert (report.created, report.duplicates, report.rejected) == (0, 3, 5)
    assert len(await stored(db)) == 2
