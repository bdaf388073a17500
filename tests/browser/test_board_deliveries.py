"""The deliveries pages in Chromium on `oia dev`'s demo data: the log filtered to what was skipped, a
skipped delivery sent again by an admin, the directory, and a desk's quiet hours set, refused when
the time is not one, and cleared again. Each page: a screenshot and axe-core."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.harness import assert_accessible


async def sign_in(page, key: str) -> None:
    await page.goto("/board/sign-in")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/board/today")


async def test_deliveries_and_a_recipients_settings(page, oia_dev, problems, screenshot):
    await sign_in(page, oia_dev.keys[("admin", None)])

    await page.goto("/board/deliveries")
    await expect(page.get_by_role("heading", level=1, name="Deliveries")).to_be_visible()
    # The demo overlap reaches the desks by mail (.eml files) and the coordinators' Slack, not set up yet.
    await expect(page.locator("table.log tbody tr").first).to_be_visible(timeout=30_000)
    await screenshot(page, "deliveries-list")
    await assert_accessible(page)
    await page.get_by_label("Status").select_option("skipped")
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url(re.compile(r"status=skipped"))
    await expect(page.locator("table.log tbody tr").first).to_contain_text("no slack URL")

    await page.locator("table.log tbody tr a.state-skipped").first.click()
    await expect(page.get_by_role("table", name="Every attempt")).to_be_visible()
    await screenshot(page, "deliveries-delivery")
    await assert_accessible(page)
    await page.get_by_role("button", name="Send again").click()
    await expect(page.get_by_role("status")).to_contain_text("Sent again")

    await page.goto("/board/recipients")
    await expect(page.get_by_role("table", name="Who hears of alerts, and how")).to_contain_text("econ@city.example")
    await screenshot(page, "deliveries-recipients")
    await assert_accessible(page)

    await page.get_by_role("link", name="Economic development").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Economic development")
    quiet_start, quiet_end = page.get_by_label("From (HH:MM)"), page.get_by_label("Until (HH:MM)")
    await quiet_start.fill("25:00")
    await quiet_end.fill("07:00")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#quiet_start-error")).to_contain_text("HH:MM without an offset")
    await expect(quiet_start).to_have_attribute("aria-invalid", "true")
    await screenshot(page, "deliveries-recipient-refused")
    await assert_accessible(page)
    problems.expect("status of 422")  # the refused form comes back as a 422 page, as it should

    await quiet_start.fill("22:00")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await expect(quiet_start).to_have_value("22:00")
    await screenshot(page, "deliveries-recipient")
    await assert_accessible(page)
    # Quiet hours cleared again: the other tests on this `oia dev` see the desk as the demo made it.
    await quiet_start.fill("")
    await quiet_end.fill("")
    await page.get_by_role("button", name="Save settings").click()
    await expect(quiet_start).to_have_value("")
