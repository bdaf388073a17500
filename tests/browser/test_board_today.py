"""The board in a real browser: sign-in by key, the demo's overlap on Today, triage, an overlap
appearing live on an open page, the German board, and what a department does not see. Every page is
checked by axe-core and photographed."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
from playwright.async_api import expect

from tests.browser.board import sign_in
from tests.browser.harness import assert_accessible

COORDINATOR, ECON, MAYOR = ("coordinator", "OIA"), ("department", "ECON"), ("department", "MAYOR")


def book(oia_dev, who, title: str, city: str, start: date, visibility: str = "normal") -> dict:
    response = httpx.post(f"{oia_dev.url}/travel/trips", headers={"Authorization": f"Bearer {oia_dev.keys[who]}"},
                          json={"title": title, "visibility": visibility, "legs": [
                              {"city": city, "country": "DE", "start_date": start.isoformat(),
                               "end_date": (start + timedelta(days=2)).isoformat()}]}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def a_month_ahead(months: int) -> date:
    day = date.today().replace(day=1)
    for _ in range(months):
        day = (day + timedelta(days=32)).replace(day=1)
    return day.replace(day=10)


async def test_a_coordinator_signs_in_sees_the_demo_overlap_and_triages_it(page, oia_dev, screenshot):
    await page.goto("/board/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    await assert_accessible(page)
    await screenshot(page, "sign-in")
    await sign_in(page, oia_dev.keys[COORDINATOR])

    # The demo's overlap is in the coming months: walk forward, as a person would, until one shows.
    for _ in range(12):
        if await page.locator("li.overlap").count():
            break
        async with page.expect_navigation():
            await page.get_by_role("link", name="Next month").click()
    card = page.locator("li.overlap").first
    await expect(card.locator(".reason")).to_contain_text("are both within")
    await assert_accessible(page)
    await screenshot(page, "today")

    await card.get_by_label("coordinated").check()
    await card.get_by_label("Note").fill("Both delegations travel together")
    await card.get_by_role("button", name="Save").click()
    await expect(page.locator("li.overlap .badge").first).to_have_text("coordinated")
    await screenshot(page, "today-triaged")


async def test_a_new_overlap_appears_on_an_open_page_without_a_reload(new_page, oia_dev, screenshot):
    watching = await new_page()
    await sign_in(watching, oia_dev.keys[COORDINATOR])
    start = a_month_ahead(5)
    await watching.goto(f"/board/today?month={start.strftime('%Y-%m')}")
    await expect(watching.locator("li.overlap")).to_have_count(0)

    book(oia_dev, ECON, "Live fair", "Köln", start)
    book(oia_dev, MAYOR, "Live visit", "Düsseldorf", start)
    await expect(watching.locator("li.overlap")).to_have_count(1, timeout=30_000)
    await expect(watching.locator("li.overlap")).to_contain_text("Live fair")
    await assert_accessible(watching)
    await screenshot(watching, "today-live")


async def test_the_board_in_german_and_a_departments_view(new_page, oia_dev, screenshot):
    start = a_month_ahead(7)
    book(oia_dev, MAYOR, "Vertrauliche Gespräche", "Leipzig", start, visibility="restricted")
    book(oia_dev, ECON, "Messe", "Köln", start)
    page = await new_page(locale="de-DE", extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"})
    await page.goto("/board/sign-in")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    await page.get_by_label("API-Schlüssel").fill(oia_dev.keys[ECON])
    await page.get_by_role("button", name="Anmelden").click()
    await page.wait_for_url("**/board/today")
    await page.goto(f"/board/today?month={start.strftime('%Y-%m')}")
    await expect(page.get_by_role("heading", name="Überschneidungen")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("Messe")
    await expect(page.locator("main")).not_to_contain_text("Vertrauliche Gespräche")
    await assert_accessible(page)
    await screenshot(page, "heute-econ")


async def test_a_trip_booked_from_the_form_shows_its_overlap_live_on_the_coordinators_open_page(
        new_page, oia_dev, screenshot):
    start = a_month_ahead(9)
    book(oia_dev, MAYOR, "Partner visit", "Düsseldorf", start)
    watching = await new_page()
    await sign_in(watching, oia_dev.keys[COORDINATOR])
    await watching.goto(f"/board/today?month={start.strftime('%Y-%m')}")
    await expect(watching.locator("li.overlap")).to_have_count(0)

    booking = await new_page()
    await sign_in(booking, oia_dev.keys[("department", "ENV")])
    await booking.get_by_role("link", name="Book a trip").click()
    await booking.get_by_label("Title", exact=True).fill("Energy fair")
    await booking.get_by_label("Name", exact=True).fill("Lea Braun")
    await booking.get_by_label("Country", exact=True).fill("DE")
    await booking.get_by_label("City", exact=True).fill("Köln")
    await booking.get_by_label("From", exact=True).fill(start.isoformat())
    await booking.get_by_label("To", exact=True).fill((start + timedelta(days=2)).isoformat())
    await booking.get_by_role("button", name="Book", exact=True).click()
    await expect(booking.get_by_role("heading", level=1)).to_have_text("Trip booked: Energy fair")

    # The coordinator's page, never reloaded, shows the new overlap with its reason.
    await expect(watching.locator("li.overlap")).to_have_count(1, timeout=30_000)
    await expect(watching.locator("li.overlap .reason")).to_contain_text("are both within")
    await expect(watching.locator("li.overlap")).to_contain_text("Energy fair")
    await screenshot(watching, "today-live-from-the-form")


async def test_today_on_a_tablet(new_page, oia_dev, screenshot):
    page = await new_page(viewport={"width": 768, "height": 1024}, has_touch=True)
    await sign_in(page, oia_dev.keys[COORDINATOR])
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    await assert_accessible(page)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768, "nothing runs off the side of a tablet's screen"
    await screenshot(page, "today-tablet")
