"""What browser tests call: Debian's Chromium launched by Playwright, axe-core's accessibility checks, what a
page did wrong (console errors, failed requests, requests leaving the server), and PDFs read back with poppler."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, ConsoleMessage, Page, Playwright, Request, Route

ROOT = Path(__file__).resolve().parents[2]
# Screenshots and rendered PDF pages land here, one run overwriting the last (git-ignored).
OUTPUT = ROOT / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"

# Debian's package, not a Playwright download: `playwright install` is never run.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = ("serious", "critical")


async def launch(playwright: Playwright) -> Browser:
    """Chromium with a fresh profile (Playwright gives every launch its own temporary user-data dir)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    return await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@dataclass
class Problems:
    """Everything a page did wrong while a test drove it; empty at the end of a test unless the test says why."""

    origin: str
    found: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.found.append(f"uncaught exception: {error}"))
        page.on("requestfailed", self._request_failed)

    async def route(self, route: Route) -> None:
        """Requests to the server go through; any other host is refused: the pages must work offline."""
        url = route.request.url
        if origin_of(url) == self.origin:
            await route.continue_()
            return
        self.found.append(f"request to another host: {route.request.method} {url}")
        await route.abort("blockedbyclient")

    def expect(self, fragment: str) -> list[str]:
        """Takes the problems mentioning `fragment` (a test that provokes them on purpose); there must be some."""
        taken = [p for p in self.found if fragment in p]
        assert taken, f"no problem mentions {fragment!r}; found: {self.found}"
        self.found = [p for p in self.found if fragment not in p]
        return taken

    def _console(self, message: ConsoleMessage) -> None:
        source = message.location.get("url", "")
        if message.type != "error" or (message.text.startswith("Failed to load resource")
                                       and source.startswith("http") and origin_of(source) != self.origin):
            return  # a refused request to another host is recorded once, by route()
        self.found.append(f"console error: {message.text} ({source})")

    def _request_failed(self, request: Request) -> None:
        if request.failure == "net::ERR_ABORTED":
            # The browser itself cancelled it: the page went on (a form sent, a link followed, the page
            # closed) while a file or a live stream was still coming. Nothing failed on the server's side.
            return
        if origin_of(request.url) == self.origin:  # a refused foreign request is already recorded by route()
            self.found.append(f"request failed: {request.method} {request.url}: {request.failure}")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def axe(page: Page, tags: list[str] = WCAG_21_AA) -> list[dict[str, Any]]:
    """axe-core's violations of the WCAG 2.1 AA rules on the page as it is now."""
    # Evaluated through the DevTools protocol, so a page's Content-Security-Policy does not block the injection.
    await page.evaluate(AXE_JS.read_text() + "\n;undefined")
    results = await page.evaluate(
        "options => axe.run(document, options)",
        {"runOnly": {"type": "tag", "values": tags}, "resultTypes": ["violations"]})
    return results["violations"]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(f"- {v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
                     for v in violations)


async def assert_accessible(page: Page) -> None:
    """Fails listing every serious or critical WCAG 2.1 AA violation axe-core finds on the page."""
    blocking = [v for v in await axe(page) if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"{len(blocking)} serious or critical accessibility violations on {page.url}:\n" \
                         + describe(blocking)


def pdf_pages_as_png(pdf_bytes: bytes, name: str | None = None, dpi: int = 96) -> list[Path]:
    """Each page of the PDF as a PNG (poppler's pdftoppm), in page order, under test-output/pdf/<name>/
    (by default a digest of the PDF: Chromium stamps the time in, so name a PDF to find it again)."""
    folder = OUTPUT / "pdf" / (name or hashlib.sha256(pdf_bytes).hexdigest()[:12])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "document.pdf").write_bytes(pdf_bytes)
    for old in folder.glob("page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(folder / "document.pdf"), str(folder / "page")],
                   check=True, capture_output=True, timeout=60)
    # pdftoppm pads the page number to the width of the last one (page-01.png … page-12.png)
    return sorted(folder.glob("page-*.png"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))


def pdf_text(pdf_bytes: bytes) -> str:
    """The PDF's text (poppler's pdftotext, reading order kept as laid out); pages are separated by form feeds."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as pdf:
        pdf.write(pdf_bytes)
        pdf.flush()
        done = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", pdf.name, "-"],
                              check=True, capture_output=True, timeout=60)
    return done.stdout.decode()
