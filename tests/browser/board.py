"""Driving the board as a person does: through its sign-in form, with one of `oia dev`'s demo keys."""

from __future__ import annotations

from playwright.async_api import Page


async def sign_in(page: Page, key: str) -> None:
    await page.goto("/board/sign-in")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/board/today")
