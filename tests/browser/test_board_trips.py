"""Booking a trip on the board in a real browser: a misspelt city typed, Köln picked from the suggestions htmx
shows, the overlap check, the booking, and the trip on Today; axe-core on every page on the way."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
from playwright.async_api import expect

from tests.browser.harness import assert_accessible

# Two years ahead: a month no other test (nor the demo data) books into, so the overlap made here is the only one.
START = date(date.today().year + 2, 5, 11)


async def sign_in(page, oia_dev, who) -> None:
    await page.goto("/board/sign-in")
    await page.get_by_label("API key").fill(oia_dev.keys[who])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/board/today")


async def test_a_department_books_a_trip_picking_a_suggested_place_and_checking_for_overlaps(
        page, oia_dev, screenshot, problems):
    # Another department's trip nearby on the same dates, booked by its own system.
    async with httpx.AsyncClient(base_url=oia_dev.url) as api:
        other = await api.post("/travel/trips", headers={"Authorization": f"Bearer {oia_dev.keys[('department', 'CULT')]}"},
                               json={"title": "Theatre festival", "legs": [
                                   {"city": "Düsseldorf", "country": "DE", "start_date": START.isoformat(),
                                    "end_date": (START + timedelta(days=3)).isoformat()}]})
        assert other.status_code == 201, other.text
    await sign_in(page, oia_dev, ("department", "ENV"))

    await page.get_by_role("link", name="Book a trip").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Book a trip")
    await screenshot(page, "trips-new")
    await assert_accessible(page)

    await page.get_by_label("Title", exact=True).fill("Climate summit Köln")
    await page.get_by_label("Name", exact=True).fill("Lea Braun")
    await page.get_by_label("Country", exact=True).fill("DE")
    await page.get_by_label("City", exact=True).press_sequentially("Kolnn", delay=50)
    koeln = page.get_by_role("button", name="Köln (DE")
    await expect(koeln).to_be_visible()
    await screenshot(page, "trips-suggestions")
    await assert_accessible(page)
    await koeln.click()
    await expect(page.get_by_label("City", exact=True)).to_have_value("Köln")
    await expect(page.get_by_text("Köln (DE) picked.")).to_be_visible()
    await expect(page.get_by_label("Title", exact=True)).to_have_value("Climate summit Köln")  # only the leg was redrawn
    await page.get_by_label("From", exact=True).fill(START.isoformat())
    await page.get_by_label("To", exact=True).fill((START + timedelta(days=2)).isoformat())

    await page.get_by_label("Title", exact=True).press("Enter")  # Enter checks (it books nothing)
    result = page.get_by_role("status")
    await expect(result).to_contain_text("CULT is within")
    await expect(result).to_contain_text("Düsseldorf")
    await expect(page.get_by_label("City", exact=True)).to_have_value("Köln")  # the form as it was
    await screenshot(page, "trips-checked")
    await assert_accessible(page)

    await page.get_by_role("button", name="Book", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Trip booked: Climate summit Köln")
    await expect(page.get_by_text("are both within")).to_be_visible()
    await screenshot(page, "trips-booked")
    await assert_accessible(page)
    assert not problems.found, problems.found  # the trips pages are clean

    await page.get_by_role("link", name="See it on Today").click()
    await expect(page.get_by_role("cell", name="Climate summit Köln")).to_be_visible()
    await screenshot(page, "trips-today")


async def test_a_coordinator_reads_a_trips_history_on_its_page(page, oia_dev, screenshot, problems):
    culture = {"Authorization": f"Bearer {oia_dev.keys[('department', 'CULT')]}"}
    async with httpx.AsyncClient(base_url=oia_dev.url) as api:
        booked = await api.post("/travel/trips", headers=culture, json={
            "title": "Jazz festival", "travellers": [{"name": "Mara Klein"}], "legs": [
                {"city": "Leipzig", "country": "DE", "start_date": (START + timedelta(days=60)).isoformat(),
                 "end_date": (START + timedelta(days=62)).isoformat()}]})
        assert booked.status_code == 201, booked.text
        trip_id = booked.json()["id"]
        moved = await api.patch(f"/travel/trips/{trip_id}", headers=culture, json={"title": "Jazz festival Leipzig"})
        assert moved.status_code == 200, moved.text
    await sign_in(page, oia_dev, ("coordinator", "OIA"))
    await page.goto(f"/board/trips/{trip_id}")
    history = page.get_by_role("table", name="Who changed what")
    await expect(history).to_be_visible()
    await expect(history.get_by_role("row")).to_have_count(3)  # the header, the change, the booking
    await expect(history.get_by_role("cell", name="title: Jazz festival → Jazz festival Leipzig")).to_be_visible()
    await expect(history).not_to_contain_text("Mara Klein")
    await screenshot(page, "trips-history")
    await assert_accessible(page)
    assert not problems.found, problems.found
