"""The board's partners pages in Chromium, signed in through the form with `oia dev`'s demo coordinator key over
its demo register: each page looked at, checked by axe-core, and used once (search, log a contact, filter)."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.browser.harness import assert_accessible

COORDINATOR = ("coordinator", "OIA")


async def sign_in(page, key: str) -> None:
    await page.goto("/board/sign-in")
    await page.get_by_label("API key").fill(key)
    await submit(page, "Sign in")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def a_club_with_its_chair(oia_dev) -> None:
    """The demo register has no organisations or people: the office records one of each."""
    async with httpx.AsyncClient(base_url=oia_dev.url, headers={
            "Authorization": f"Bearer {oia_dev.keys[COORDINATOR]}"}) as api:
        club = await api.post("/partners/organizations", json={
            "kind": "club", "name": "Deutsch-Polnische Gesellschaft", "city": "Frankfurt am Main", "country": "DE"})
        assert club.status_code == 201, club.text
        chair = await api.post("/partners/people", json={
            "name": "Anna Kowalska", "role": "Chair", "organisation_id": club.json()["id"],
            "email": "anna.kowalska@example.org", "languages": ["pl", "de"]})
        assert chair.status_code == 201, chair.text


async def submit(page, button: str) -> None:
    """Presses a form's button and waits for the page it leads to, scripts and all."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=button, exact=True).click()
    await page.wait_for_load_state()


async def test_the_partners_pages_read_and_log_as_the_coordinator(page, oia_dev, problems, screenshot):
    await a_club_with_its_chair(oia_dev)
    await sign_in(page, oia_dev.keys[COORDINATOR])

    await page.goto("/board/partners")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Partnerships")
    await screenshot(page, "partners-register")
    await assert_accessible(page)
    await page.get_by_label("City name").fill("krak")
    await submit(page, "Filter")
    await expect(page.get_by_role("link", name="Kraków")).to_have_count(1)
    await expect(page.get_by_role("link", name="Lyon")).to_have_count(0)

    await page.get_by_role("link", name="Kraków").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Frankfurt am Main and Kraków")
    await page.get_by_label("Title").fill("Jugendaustausch planen")
    await submit(page, "Log the contact")
    timeline = page.locator("ol.contacts")
    await expect(timeline).to_contain_text("Jugendaustausch planen")
    # The coordinator reads who changed the partnership: here, the demo data that made it.
    changes = page.get_by_role("table", name="Who changed what")
    await expect(changes.get_by_role("row").nth(1)).to_contain_text("oia dev (demo data)")
    await screenshot(page, "partners-partnership")
    await assert_accessible(page)

    await page.goto("/board/partners/losing-touch")
    await page.get_by_label("Health").select_option("ok")
    await submit(page, "Filter")
    await expect(page.get_by_role("row").filter(has_text="Kraków")).to_contain_text("in touch")
    await screenshot(page, "partners-losing-touch")
    await assert_accessible(page)

    await page.goto("/board/partners/anniversaries")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Anniversaries of the next 12 months")
    jubilee = page.locator("tbody th a").first
    await expect(jubilee).to_be_visible()
    await screenshot(page, "partners-anniversaries")
    await assert_accessible(page)
    partner = (await jubilee.inner_text()).split(" – ")[-1]
    async with page.expect_navigation():
        await jubilee.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(partner)

    await page.goto("/board/partners/organisations")
    await page.get_by_label("Kind").select_option("club")
    await submit(page, "Filter")
    await expect(page.get_by_role("rowheader", name="Deutsch-Polnische Gesellschaft")).to_be_visible()
    await screenshot(page, "partners-organisations")
    await assert_accessible(page)

    await page.goto("/board/partners/people")
    await expect(page.get_by_role("row").filter(has_text="Anna Kowalska")).to_contain_text(
        "anna.kowalska@example.org")
    await screenshot(page, "partners-people")
    await assert_accessible(page)


async def test_a_department_reads_the_register_in_german_by_its_city_names(new_page, oia_dev, problems, screenshot):
    page = await new_page(locale="de-DE")
    await page.goto("/board/sign-in")
    await page.get_by_label("API-Schlüssel").fill(oia_dev.keys[("department", "ECON")])
    await submit(page, "Anmelden")

    await page.goto("/board/partners")
    await page.get_by_label("Stadtname").fill("Warschau")
    await submit(page, "Filtern")
    row = page.get_by_role("row").filter(has_text="Warschau")
    await expect(row).to_contain_text("Polen")
    await row.get_by_role("link", name="Warschau").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Düsseldorf und Warschau")
    await expect(page.get_by_label("Dezernat (wessen Kontakt)")).to_have_count(0)  # a department logs its own
    await screenshot(page, "partners-partnership-de")
    await assert_accessible(page)
