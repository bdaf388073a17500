"""Importing a partnership register from CSV: a report per row, country errors flagged (never
guessed), all-or-nothing on request, bad files refused whole."""

from __future__ import annotations

from sqlalchemy import func, select

from services.partners.models import Partnership
from tests.support.embedded import auth

COORDINATOR, ECON = ("coordinator", "OIA"), ("department", "ECON")
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


async def post(client, host, body, mode: str = "row_by_row", who=COORDINATOR):
    return await client.post("/partners/partnerships/import", params={"mode": mode}, content=body,
                             headers={**auth(host, *who), "content-type": "text/csv"})


async def stored(host) -> int:
    async with host.runtimes["partners"].engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(Partnership))).scalar_one()


async def test_row_by_row_imports_the_good_rows_and_says_why_not_the_others(client, host):
    response = await post(client, host, REGISTER.encode())
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["created"], report["duplicates"], report["rejected"]) == (8, 2, 1, 5)
    by_line = {r["line"]: r for r in report["report"]}
    assert by_line[2]["status"] == "created" and by_line[6]["status"] == "created"
    assert by_line[3]["status"] == "rejected" and "Budapest" in by_line[3]["reason"] and "HU" in by_line[3]["reason"]
    assert by_line[4]["status"] == "rejected" and "EG" in by_line[4]["reason"]
    assert by_line[5]["status"] == "duplicate" and by_line[5]["partnership_id"] == by_line[2]["partnership_id"]
    assert "Atlantis" in by_line[7]["reason"] and "marriage" in by_line[8]["reason"] and "year" in by_line[9]["reason"]
    assert await stored(host) == 2
    [krakow] = (await client.get("/partners/partnerships", params={"country": "PL"},
                                 headers=auth(host, *COORDINATOR))).json()
    assert (krakow["formalised_on"], krakow["formalised_year_only"], krakow["themes"]) == \
        ("1991-01-01", True, ["culture", "economy"])
    # Importing again: every good row is now a duplicate, nothing doubles.
    again = (await post(client, host, REGISTER.encode())).json()
    assert (again["created"], again["duplicates"]) == (0, 3)
    assert await stored(host) == 2


async def test_countries_as_registers_write_them_the_former_states_kept_as_a_note(client, host):
    register = HEADER + """Frankfurt am Main,DE,Leipzig,Germany (East),1962,,
Frankfurt am Main,DE,Istanbul,Turkey,1985,,
Frankfurt am Main,DE,Brno,Czech Republic,1994,,
Frankfurt am Main,DE,Belgrade,Yugoslavia,1970,,
"""
    report = (await post(client, host, register.encode())).json()
    assert [r["status"] for r in report["report"]] == ["created", "created", "created", "rejected"]
    assert "names more than one country today" in report["report"][3]["reason"]
    assert "RS (Serbia)" in report["report"][3]["reason"] and "HR (Croatia)" in report["report"][3]["reason"]
    leipzig, istanbul = report["report"][:2]
    assert "country given as 'Germany (East)': the German Democratic Republic" in leipzig["note"]
    assert istanbul["note"] is None
    listed = (await client.get("/partners/partnerships", headers=auth(host, *COORDINATOR))).json()
    assert {(p["partner_city"], p["partner_country"]) for p in listed} == {
        ("Leipzig", "DE"), ("Istanbul", "TR"), ("Brno", "CZ")}


async def test_a_name_several_places_share_is_picked_by_its_geonames_id(client, host):
    register = ("home_city,partner_city,partner_country,year,partner_place_id\n"
                "Köln,Treptow,DE,1990,\n"           # ambiguous: the choices are listed
                "Köln,Treptow,DE,1990,7290255\n"    # picked
                "Köln,Treptow,DE,1990,2950159\n"    # Berlin's id: not a place called Treptow
                "Köln,Lyon,FR,1960,three\n"
                "Köln,Lyon,FR,1960,2995469\n")      # Marseille's id for Lyon
    report = (await post(client, host, register.encode())).json()
    by_line = {r["line"]: r for r in report["report"]}
    assert by_line[2]["status"] == "rejected" and "7290255 Treptow" in by_line[2]["reason"] \
        and "2821292 Alt-Treptow" in by_line[2]["reason"]
    assert by_line[3]["status"] == "created"
    assert by_line[4]["status"] == "rejected" and "2950159" in by_line[4]["reason"]
    assert by_line[5]["status"] == "rejected" and "not a GeoNames id" in by_line[5]["reason"]
    assert by_line[6]["status"] == "rejected" and "not a place called 'Lyon'" in by_line[6]["reason"]
    [treptow] = (await client.get("/partners/partnerships", params={"country": "DE"},
                                  headers=auth(host, *COORDINATOR))).json()
    assert (treptow["partner_city"], treptow["partner_place_id"], treptow["home_city"]) == ("Treptow", 7290255, "Köln")
    assert await stored(host) == 1


async def test_all_or_nothing_stores_nothing_when_a_row_is_rejected(client, host):
    response = await post(client, host, REGISTER.encode(), mode="all_or_nothing")
    assert response.status_code == 422
    body = response.json()
    assert "nothing imported" in response.text and len(body["errors"][0]["report"]) == 5
    assert await stored(host) == 0
    clean = HEADER + "Frankfurt am Main,DE,Lyon,FR,1960,,\nFrankfurt am Main,DE,Milan,IT,1970,,\n"
    assert (await post(client, host, clean.encode(), mode="all_or_nothing")).json()["created"] == 2


async def test_bad_files_are_refused_whole_naming_what_is_wrong(client, host):
    wrong_columns = await post(client, host, b"city,country,since\nLyon,FR,1960\n")
    assert wrong_columns.status_code == 422 and "missing home_city" in wrong_columns.text \
        and "unknown city" in wrong_columns.text
    latin1 = (HEADER + "Frankfurt am Main,DE,Düsseldorf,DE,1990,,\n").encode("latin-1")
    encoding = await post(client, host, latin1)
    assert encoding.status_code == 422 and "not UTF-8 (line 2)" in encoding.text
    assert (await post(client, host, REGISTER.encode(), who=ECON)).status_code == 403
    assert await stored(host) == 0


async def test_ten_thousand_rows_are_streamed_and_reported(client, host):
    cities = ["Lyon,FR", "Milan,IT", "Krakau,PL", "Toronto,CA", "Birmingham,GB"]
    note = "entered from the 1990s card index; " * 3
    body = HEADER.replace("\n", ",note\n") + "".join(
        f"Frankfurt am Main,DE,{cities[i % 5]},{1950 + i % 70},,,{note}\n" for i in range(10_000))
    assert len(body.encode()) > 1_000_000  # over the limit of ordinary requests: this one streams

    async def chunks():  # sent in pieces, as a large upload arrives
        data = body.encode()
        for start in range(0, len(data), 64_000):
            yield data[start:start + 64_000]

    response = await client.post("/partners/partnerships/import", content=chunks(),
                                  headers={**auth(host, *COORDINATOR), "content-type": "text/csv"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["created"], report["duplicates"]) == (10_000, 5, 9_995)
    assert len(report["report"]) == 10_000 and await stored(host) == 5
