"""Signing in to the board through a real OpenID provider's pages in Chromium: the board's button, the
provider's login and consent, back on today's board as that person; signing out of the board and
then at the provider. `oia dev` runs here told about the provider (its own process: the shared one
knows none), and the pages may reach only the board and the provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.harness import Problems, assert_accessible, origin_of
from tests.support.openid_provider import openid_provider
from tests.support.processes import Process, free_port


class BoardAndProvider(Problems):
    """The harness's checks, with the provider as the one other host the pages may reach. The
    provider's development pages ask for a web font: refused, and not ours to fix."""

    def __init__(self, origin: str, provider: str) -> None:
        super().__init__(origin)
        self.provider = provider

    async def route(self, route) -> None:
        if origin_of(route.request.url) == self.provider:
            await route.continue_()
        elif origin_of(route.request.frame.url) == self.provider:
            await route.abort("blockedbyclient")
        else:
            await super().route(route)


@pytest.fixture(scope="module")
def dev_with_provider(tmp_path_factory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("oia-dev-oidc")
    port = free_port()
    board = f"http://127.0.0.1:{port}"
    with openid_provider(board) as provider:
        process = Process(["dev"], {"OIA_PORT": str(port), "OIA_DATA_DIR": str(folder / "data"),
                                    **provider.service_env(), **provider.board_env()}, folder / "dev.log")
        try:
            process.wait_healthy(f"{board}/board/health")
            process.wait_healthy(f"{board}/travel/health")
            yield board, provider.issuer
        finally:
            process.stop()


async def test_signing_in_and_out_through_the_providers_pages(browser, dev_with_provider, screenshot):
    board, issuer = dev_with_provider
    problems = BoardAndProvider(board, issuer)
    context = await browser.new_context(base_url=board)
    try:
        await context.route("**/*", problems.route)
        page = await context.new_page()
        problems.watch(page)

        await page.goto("/board/sign-in")
        await screenshot(page, "oidc-sign-in")
        await assert_accessible(page)
        await page.get_by_role("link", name="Sign in with City Login").click()

        await page.wait_for_url(f"{issuer}/**")
        await page.locator("input[name=login]").fill("erika.econ")
        await page.locator("input[name=password]").fill("any password")
        await screenshot(page, "oidc-provider-login")
        await page.get_by_role("button", name="Sign-in").click()
        await page.get_by_role("button", name="Continue").click()  # the provider's consent

        await page.wait_for_url(f"{board}/board/today**")
        await page.get_by_text("Signed in as department ECON").wait_for()
        await screenshot(page, "oidc-today")
        await assert_accessible(page)

        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(f"{board}/board/oidc/signed-out")
        await screenshot(page, "oidc-signed-out")
        await assert_accessible(page)
        await page.get_by_role("link", name="Sign out at City Login too").click()
        await page.wait_for_url(f"{issuer}/session/end**")
        await page.get_by_role("button", name="Yes, sign me out").click()
        await page.wait_for_url(f"{board}/board/sign-in")

        # Signed out at the provider too: signing in again asks for the login, not only a click.
        await page.get_by_role("link", name="Sign in with City Login").click()
        await page.locator("input[name=login]").wait_for()
    finally:
        await context.close()
    assert not problems.found, "the pages had problems:\n" + "\n".join(problems.found)
