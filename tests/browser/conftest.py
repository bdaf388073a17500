"""Browser tests: one `oia dev` and one Chromium for the whole run, a fresh browser context for every test.

A test takes `page` (or `new_page(locale="de-DE")` for more), drives it with Playwright's async API, and may call
`await screenshot(page, "name")` and `await assert_accessible(page)` (tests.browser.harness). When it ends, the
console errors, failed requests and requests to any host other than the server are asserted empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright
from pytest_asyncio import is_async_test

from tests.browser.harness import SCREENSHOTS, Problems, launch
from tests.support.processes import Process, free_port

HERE = Path(__file__).parent
SERVICES = ("partners", "travel", "grants", "notifications")
SCREENSHOT = "screenshot"  # a test's user property: the path of a screenshot it saved


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The browser and its Playwright connection live on one event loop for the run: these tests run on it too.
    for item in items:
        if is_async_test(item) and item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


def pytest_terminal_summary(terminalreporter) -> None:
    # From the tests' reports: pytest-xdist carries them from the worker that ran the test.
    saved = [value for reports in terminalreporter.stats.values() for r in reports
             if getattr(r, "when", None) == "call" for name, value in getattr(r, "user_properties", ())
             if name == SCREENSHOT]
    if saved:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in saved:
            terminalreporter.write_line(str(path))


@dataclass
class DevServer:
    url: str
    data_dir: Path
    keys: dict[tuple[str, str | None], str]  # (role, department) -> the demo API key
    process: Process


@pytest.fixture(scope="session")
def oia_dev(tmp_path_factory) -> Iterator[DevServer]:
    """`oia dev` as a user runs it: the embedded host on a free port, demo data in a fresh data dir."""
    folder = tmp_path_factory.mktemp("oia-dev")
    port = free_port()
    process = Process(["dev"], {"OIA_PORT": str(port), "OIA_DATA_DIR": str(folder / "data")}, folder / "dev.log")
    try:
        url = f"http://127.0.0.1:{port}"
        for service in (*SERVICES, "board"):
            process.wait_healthy(f"{url}/{service}/health")
        process.wait_healthy(f"{url}/board/health")
        keys = {(k["role"], k["department"]): k["key"]
                for k in json.loads((folder / "data" / "demo-keys.json").read_text())}
        yield DevServer(url, folder / "data", keys, process)
    finally:
        process.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        yield browser
        await browser.close()


@pytest.fixture
def problems(oia_dev) -> Problems:
    return Problems(oia_dev.url)


@pytest_asyncio.fixture(loop_scope="session")
async def new_page(browser, oia_dev, problems) -> AsyncIterator[Callable[..., Awaitable[Page]]]:
    """`await new_page(**context_options)`: a page in a browser context of its own (own cookies, so its own
    user), with relative URLs resolved against the server; e.g. `new_page(locale="de-DE")`."""
    contexts = []

    async def open_page(**options) -> Page:
        context = await browser.new_context(base_url=oia_dev.url, **options)
        contexts.append(context)
        await context.route("**/*", problems.route)
        page = await context.new_page()
        problems.watch(page)
        return page

    yield open_page
    for context in contexts:
        await context.close()
    assert not problems.found, "the pages had problems:\n" + "\n".join(problems.found)


@pytest_asyncio.fixture(loop_scope="session")
async def page(new_page) -> Page:
    return await new_page()


@pytest.fixture
def screenshot(request) -> Callable[[Page, str], Awaitable[Path]]:
    """`await screenshot(page, "name")` saves the whole page as test-output/screenshots/<test>--<name>.png."""
    test = re.sub(r"[^\w.-]+", "_", request.node.name)

    async def take(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{test}--{name}.png"
        await page.screenshot(path=path, full_page=True)
        request.node.user_properties.append((SCREENSHOT, str(path)))
        return path

    return take
