"""The council report through the embedded host: a year's trips, delegations, partnerships and grants,
made through the services' APIs, shown on the page with charts and tables, in German too, and as a PDF
with the same headings."""

from __future__ import annotations

import re
import subprocess
import tempfile
from datetime import date

from tests.component.test_board import COORDINATOR, ECON, MAYOR, book, sign_in
from tests.component.test_grants_api import application, create_call, move, twinning_call
from tests.support.embedded import auth

HEADINGS_EN = ("Council report", "Trips", "Delegations received", "Partnerships", "EU grants")
HEADINGS_DE = ("Bericht an den Rat", "Reisen", "Empfangene Delegationen", "Partnerschaften", "EU-Fördermittel")


async def a_year(client, host) -> int:
    """This year's trips (ECON twice, MAYOR once, one with a cost), a delegation, a partnership
    formalised this year, one with its 25th jubilee in it and one (its day unknown) with its 50th, and an ECON application won."""
    year = date.today().year
    await book(client, host, ECON, "Trade fair", "Köln", date(year, 6, 10))
    await book(client, host, MAYOR, "Partner city visit", "Düsseldorf", date(year, 6, 11))
    for title, purpose, city, country, extra in (
            ("Expo", "trade_fair", "München", "DE", {"estimated_cost": "1200.50", "currency": "EUR"}),
            ("Eurocities", "network_meeting", "Lyon", "FR", {})):
        made = await client.post("/travel/trips", headers=auth(host, *ECON), json={
            "title": title, "purpose": purpose, **extra, "legs": [
                {"city": city, "country": country, "start_date": date(year, 9, 1).isoformat(),
                 "end_date": date(year, 9, 3).isoformat()}]})
        assert made.status_code == 201, made.text
    delegation = await client.post("/travel/delegations", headers=auth(host, *MAYOR), json={
        "origin_city": "Krakau", "origin_country": "PL", "visitors": 6,
        "arrival": date(year, 5, 4).isoformat(), "departure": date(year, 5, 6).isoformat()})
    assert delegation.status_code == 201, delegation.text
    for city, country, on, year_only in (("Lille", "FR", date(year, 3, 1), False),
                                         ("Bologna", "IT", date(year - 25, 7, 14), False),
                                         ("Turku", "FI", date(year - 50, 1, 1), True)):
        made = await client.post("/partners/partnerships", headers=auth(host, *COORDINATOR), json={
            "partner_city": city, "partner_country": country, "formalised_on": on.isoformat(),
            "formalised_year_only": year_only})
        assert made.status_code == 201, made.text
    call = await create_call(client, host, twinning_call())
    won = await client.post("/grants/applications", headers=auth(host, *ECON), json=application(call["id"]))
    assert won.status_code == 201, won.text
    for stage in ("preparing", "drafting", "internal_review", "submitted"):
        assert (await move(client, host, won.json()["id"], stage, who=ECON)).status_code == 200
    assert (await move(client, host, won.json()["id"], "awarded", who=ECON, awarded_amount=24_000)).status_code == 200
    return year


def row(html: str, header: str, *cells: str) -> bool:
    """A table row headed `header` with these cells."""
    rows = re.findall(rf"<th scope=\"row\">{re.escape(header)}</th>((?:<td[^>]*>[^<]*</td>)+)", html)
    return any(re.findall(r"<td[^>]*>([^<]*)</td>", found) == list(cells) for found in rows)


async def test_the_report_shows_the_years_figures_with_charts_and_their_tables(client, host):
    year = await a_year(client, host)
    await sign_in(client, host, COORDINATOR)

    page = await client.get("/board/report", params={"year": year})

    assert page.status_code == 200, page.text
    html = page.text
    assert f"<h1>Council report {year}</h1>" in html
    for heading in HEADINGS_EN[1:]:
        assert f">{heading}</h2>" in html
    assert row(html, "ECON", "3") and row(html, "MAYOR", "1")  # trips by department
    assert row(html, "trade fair", "1") and row(html, "network meeting", "1") and row(html, "other", "2")  # by purpose
    assert row(html, "DE", "3") and row(html, "FR", "1")  # by destination
    assert row(html, "ECON", "EUR", "1,200.50")  # estimated cost
    assert row(html, "PL", "1", "6")  # a delegation of six from Poland
    assert "Lille (FR)" in html
    assert re.search(rf"25 years [^<]+ – Bologna \(IT\) on 14 Jul {year}<", html)
    assert re.search(r"50 years [^<]+ – Turku \(FI\) this year<", html)
    assert row(html, "awarded", "1") and row(html, "ECON", "24,000 €")  # funds won
    # Three charts from the charting library, each an image the CSP allows, with the table as its alternative.
    charts = re.findall(r'<img class="chart" src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]+" alt="([^"]+)"', html)
    assert charts == ["Bar chart: Trips by department. The figures are in the table beside it.",
                      "Bar chart: Trips by purpose. The figures are in the table beside it.",
                      "Bar chart: Funds won by department. The figures are in the table beside it."]
    assert "img-src 'self' data:" in page.headers["content-security-policy"]

    other_year = await client.get("/board/report", params={"year": year - 3})
    assert other_year.status_code == 200 and "No trips this year." in other_year.text
    assert '<img class="chart"' not in other_year.text  # no figures, no charts


async def test_a_department_reads_its_own_restricted_trip_in_the_report_and_no_one_elses(client, host):
    year = date.today().year
    await book(client, host, MAYOR, "Quiet talks", "Köln", date(year, 6, 10), visibility="restricted")
    await book(client, host, ECON, "Trade fair", "Bonn", date(year, 6, 10))
    await sign_in(client, host, ECON)

    html = (await client.get("/board/report", params={"year": year})).text

    assert row(html, "ECON", "1") and "MAYOR" not in html


async def test_the_report_in_german(client, host):
    year = await a_year(client, host)
    await sign_in(client, host, COORDINATOR)
    form = await client.get("/board/report")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    await client.post("/board/language", data={"language": "de", "back": "/board/report", "csrf": csrf})

    html = (await client.get("/board/report", params={"year": year})).text

    assert f"<h1>{HEADINGS_DE[0]} {year}</h1>" in html
    for heading in HEADINGS_DE[1:]:
        assert f">{heading}</h2>" in html
    assert row(html, "Messe", "1") and row(html, "ECON", "EUR", "1.200,50") and row(html, "ECON", "24.000 €")
    assert "Balkendiagramm: Reisen nach Amt." in html


def text_of(pdf: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        return subprocess.run(["pdftotext", "-enc", "UTF-8", file.name, "-"], check=True, capture_output=True,
                              text=True).stdout


async def test_the_pdf_has_the_pages_headings_and_figures(client, host):
    year = await a_year(client, host)
    await sign_in(client, host, COORDINATOR)

    response = await client.get("/board/report.pdf", params={"year": year})

    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert f'filename="council-report-{year}.pdf"' in response.headers["content-disposition"]
    assert response.content.startswith(b"%PDF-")
    text = text_of(response.content)
    for heading in (f"{HEADINGS_EN[0]} {year}", *HEADINGS_EN[1:], "Trips by department", "Funds won by department"):
        assert heading in text, heading
    assert "Lille" in text and "24,000 €" in text


async def test_the_pdf_in_german_and_only_for_the_signed_in(client, host):
    assert (await client.get("/board/report.pdf")).headers["location"] == "/board/sign-in"
    year = await a_year(client, host)
    await sign_in(client, host, COORDINATOR)
    form = await client.get("/board/report")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    await client.post("/board/language", data={"language": "de", "back": "/board/report", "csrf": csrf})

    text = text_of((await client.get("/board/report.pdf", params={"year": year})).content)

    for heading in (f"{HEADINGS_DE[0]} {year}", *HEADINGS_DE[1:]):
        assert heading in text, heading


async def test_a_year_out_of_range_is_refused(client, host):
    await sign_in(client, host, COORDINATOR)
    for path in ("/board/report", "/board/report.pdf"):
        assert (await client.get(path, params={"year": 1850})).status_code == 422
