"""The council report in Chromium: the year's page with its charts (images the CSP allows, each with its
table), accessible; another year chosen through the form; the PDF downloaded from the link, turned into
images, with the page's headings in it; the report in German."""

from __future__ import annotations

from datetime import date

from tests.browser.harness import assert_accessible, pdf_pages_as_png, pdf_text

HEADINGS = ["Trips", "Delegations received", "Partnerships", "EU grants"]


async def demo_year(page, oia_dev) -> int:
    """The year of `oia dev`'s demo trips (they start some weeks from today)."""
    answer = await page.request.get(f"{oia_dev.url}/travel/trips", headers={
        "Authorization": f"Bearer {oia_dev.keys[('coordinator', 'OIA')]}"})
    assert answer.ok
    return min(int(leg["start_date"][:4]) for trip in await answer.json() for leg in trip["legs"])


async def sign_in(page, oia_dev, who=("coordinator", "OIA")) -> None:
    await page.goto("/board/sign-in")
    await page.get_by_label("API key").fill(oia_dev.keys[who])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/board/today**")


async def test_the_council_report_and_its_pdf(page, oia_dev, problems, screenshot):
    year = await demo_year(page, oia_dev)
    await sign_in(page, oia_dev)
    await page.get_by_role("link", name="Council report").click()
    await page.get_by_role("heading", level=1, name=f"Council report {date.today().year}").wait_for()

    await page.get_by_role("spinbutton", name="Year").fill(str(year))
    await page.get_by_role("button", name="Show").click()

    await page.get_by_role("heading", level=1, name=f"Council report {year}").wait_for()
    assert await page.get_by_role("heading", level=2).all_inner_texts() == HEADINGS
    charts = page.locator("img.chart")
    assert await charts.count() >= 2, "the demo year's trips by department and by purpose"
    for chart in await charts.all():  # drawn: the CSP let the SVG in, and it has a size
        assert await chart.evaluate("img => img.complete && img.naturalWidth > 0")
        assert "The figures are in the table beside it." in await chart.get_attribute("alt")
    assert await page.get_by_role("table", name="Trips by department").count() == 1
    await screenshot(page, "report-page")
    await assert_accessible(page)

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download as PDF").click()
    download = await downloading.value
    assert download.suggested_filename == f"council-report-{year}.pdf"
    pdf = (await download.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for heading in (f"Council report {year}", *HEADINGS, "Trips by department"):
        assert heading in text, heading
    pages = pdf_pages_as_png(pdf, "council-report")
    assert pages and all(p.stat().st_size > 5_000 for p in pages), "pages with something drawn on them"

    await page.get_by_role("spinbutton", name="Year").fill(str(year - 5))
    await page.get_by_role("button", name="Show").click()
    await page.get_by_role("heading", level=1, name=f"Council report {year - 5}").wait_for()
    assert "No trips this year." in await page.locator("main").inner_text()
    assert await page.locator("img.chart").count() == 0


async def test_the_council_report_in_german(new_page, oia_dev, problems, screenshot):
    page = await new_page(locale="de-DE")
    year = await demo_year(page, oia_dev)
    await page.goto("/board/sign-in")
    await page.get_by_label("API-Schlüssel").fill(oia_dev.keys[("coordinator", "OIA")])
    await page.get_by_role("button", name="Anmelden").click()
    await page.wait_for_url("**/board/today**")

    await page.goto(f"/board/report?year={year}")

    await page.get_by_role("heading", level=1, name=f"Bericht an den Rat {year}").wait_for()
    assert await page.get_by_role("heading", level=2).all_inner_texts() == [
        "Reisen", "Empfangene Delegationen", "Partnerschaften", "EU-Fördermittel"]
    assert "Balkendiagramm: Reisen nach Amt." in await page.locator("img.chart").first.get_attribute("alt")
    await screenshot(page, "report-page-de")
    await assert_accessible(page)
