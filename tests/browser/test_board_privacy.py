"""The admin's page for a person's data in Chromium: an export asked through the form, its result once
all four services have answered, both pages checked by axe-core."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import httpx
from playwright.async_api import expect

from tests.browser.harness import assert_accessible
from tests.browser.test_board_trips import sign_in

EMAIL = "lena.hoffmann@stadt.example"


async def test_an_admin_exports_a_person_and_reads_what_each_service_holds(page, oia_dev, screenshot, problems):
    start = date.today() + timedelta(days=400)
    async with httpx.AsyncClient(base_url=oia_dev.url, headers={
            "Authorization": f"Bearer {oia_dev.keys[('department', 'CULT')]}"}) as api:
        booked = await api.post("/travel/trips", json={
            "title": "Book fair", "travellers": [{"name": "Lena Hoffmann", "email": EMAIL}],
            "legs": [{"city": "Leipzig", "country": "DE", "start_date": start.isoformat(),
                      "end_date": (start + timedelta(days=2)).isoformat()}]})
        assert booked.status_code == 201, booked.text
    await sign_in(page, oia_dev, ("admin", None))
    await page.get_by_role("link", name="A person's data").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("A person's data")
    await screenshot(page, "privacy-form")
    await assert_accessible(page)

    await page.get_by_label("Email address").fill(EMAIL)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Ask", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Export of l***@stadt.example")
    download = page.get_by_role("link", name="Download the export (JSON)")
    deadline = asyncio.get_running_loop().time() + 60
    # Each service answers over the bus: look again until all have (as the page invites its reader to).
    while not await download.count() and asyncio.get_running_loop().time() < deadline:
        async with page.expect_navigation():
            await page.get_by_role("link", name="Look again").click()
    await expect(download).to_be_visible()
    held = page.get_by_role("table", name="What each service holds about them")
    await expect(held.get_by_role("row").filter(has_text="travel")).to_contain_text("trips: 1")
    await screenshot(page, "privacy-export")
    await assert_accessible(page)
    assert not problems.found, problems.found
