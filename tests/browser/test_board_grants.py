"""The board's grants pages in Chromium on `oia dev`'s demo data: a department signs in with its demo key, moves
its application through the pipeline (a stale move refused in plain words; on the pipeline and on the
application's own page), filters the calls and reads the city profile in German; every page screenshotted and
checked with axe-core."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from tests.browser.harness import assert_accessible

CULT = ("department", "CULT")
DEMO_APPLICATION = "Twinning for European remembrance"  # CULT's, in services/grants/demo.py




async def colleague_moves(oia_dev, title: str, *stages: str) -> None:
    """Moves the department's application `title` through `stages` with the API, as another open board would."""
    async with httpx.AsyncClient(base_url=oia_dev.url,
                                 headers={"Authorization": f"Bearer {oia_dev.keys[CULT]}"}) as api:
        [found] = [a for a in (await api.get("/grants/applications")).json() if a["title"] == title]
        for stage in stages:
            response = await api.post(f"/grants/applications/{found['id']}/stage", json={"stage": stage})
            assert response.status_code == 200, response.text


async def sign_in(page: Page, key: str) -> None:
    await page.goto("/board/sign-in")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/board/today")


async def test_a_department_works_its_application_through_the_grants_pages(page, oia_dev, problems, screenshot):
    await sign_in(page, oia_dev.keys[CULT])

    await page.goto("/board/grants")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Grants pipeline")
    card = page.locator("li.application", has=page.get_by_role("link", name=DEMO_APPLICATION))
    await expect(card).to_have_count(1)
    idea = page.locator('section[aria-labelledby="stage-idea"]')
    await expect(idea.get_by_role("link", name=DEMO_APPLICATION)).to_be_visible()
    await screenshot(page, "grants-pipeline")
    await assert_accessible(page)
    # Meanwhile a colleague moves it on through the API: the open page's form is stale, and its move is refused.
    await colleague_moves(oia_dev, DEMO_APPLICATION, "preparing", "drafting")
    await card.get_by_label("Move to").select_option("preparing")
    await card.get_by_role("button", name="Move").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "An application in stage “drafting” cannot move to “preparing”. From here it can go to: internal review, "
        "partner search, withdrawn.")
    problems.expect("status of 409")  # the refusal page is answered as what it is, a conflict
    await screenshot(page, "grants-pipeline-refused")
    await assert_accessible(page)
    # The card, now in its real column, offers the moves allowed from there.
    drafting = page.locator('section[aria-labelledby="stage-drafting"]')
    card = drafting.locator("li.application", has=page.get_by_role("link", name=DEMO_APPLICATION))
    await card.get_by_label("Move to").select_option("internal_review")
    await card.get_by_role("button", name="Move").click()
    review = page.locator('section[aria-labelledby="stage-internal_review"]')
    await expect(review.get_by_role("link", name=DEMO_APPLICATION)).to_be_visible()

    await review.get_by_role("link", name=DEMO_APPLICATION).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(DEMO_APPLICATION)
    await expect(page.get_by_role("heading", name="Consortium eligibility")).to_be_visible()
    await expect(page.get_by_role("table", name="Checks against the call's rules")).to_be_visible()
    await screenshot(page, "grants-application")
    await assert_accessible(page)
    # Sent back from its own page, with the reason: the history gains the move and its reason.
    await page.get_by_label("Move to").select_option("drafting")
    await page.get_by_label("Reason").fill("The budget table is missing")
    await page.get_by_role("button", name="Move").click()
    history = page.get_by_role("table", name="Moves through the pipeline, oldest first")
    await expect(history.get_by_role("row")).to_have_count(5)  # the header and four moves
    await expect(history.get_by_role("row").last).to_contain_text("The budget table is missing")
    await expect(page.locator("dl.facts")).to_contain_text("drafting")

    await page.goto("/board/grants/calls")
    await expect(page.get_by_role("table", name="Calls, the soonest deadline first")).to_be_visible()
    await screenshot(page, "grants-calls")
    await assert_accessible(page)
    await page.get_by_label("Programme").select_option("urbact")
    await page.get_by_role("button", name="Filter").click()
    calls = page.get_by_role("table", name="Calls, the soonest deadline first")
    await expect(calls).to_contain_text("URBACT-DEMO-APN")
    await expect(calls).not_to_contain_text("CERV-2027-CITIZENS-TOWN-TT")

    await page.goto("/board/grants/profile")
    await expect(page.get_by_role("heading", level=1)).to_have_text("City profile")
    await expect(page.locator("article.profile")).to_contain_text("The Office for International Affairs")
    await screenshot(page, "grants-profile")
    await assert_accessible(page)
    await page.get_by_label("Language of the profile").select_option("de")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator('article.profile[lang="de"]')).to_contain_text(
        "Das Büro für Internationale Angelegenheiten")
    await screenshot(page, "grants-profile-de")
    await assert_accessible(page)
