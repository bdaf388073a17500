"""A real OpenID provider for the tests (tests/support/oidc_provider.mjs, npm's oidc-provider), and a
person going through its pages as a browser would: its login form, its consent form, back to us."""

from __future__ import annotations

import html
import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from tests.support.node_tools import SUPPORT, _installed

AUDIENCE = "urn:oia:services"
CLIENT_SECRET = "the-boards-secret-at-the-test-provider"
# The provider's role values, as the services are told to map them (OIDC_ROLES).
ROLES = "Board.Department=department,Board.Coordinator=coordinator"


@dataclass
class RunningProvider:
    issuer: str

    def service_env(self) -> dict[str, str]:
        return {"OIDC_ISSUER": self.issuer, "OIDC_AUDIENCE": AUDIENCE, "OIDC_ROLES": ROLES}

    def board_env(self) -> dict[str, str]:
        return {"BOARD_OIDC_ISSUER": self.issuer, "BOARD_OIDC_NAME": "City Login",
                "BOARD_OIDC_CLIENT_SECRET": CLIENT_SECRET, "BOARD_OIDC_SCOPES": "openid profile email services"}


@contextmanager
def openid_provider(board_url: str) -> Iterator[RunningProvider]:
    """The provider on a free port, its one client the board at `board_url` (http://host:port)."""
    options = {"redirect_uri": f"{board_url}/board/oidc/callback",
               "post_logout_redirect_uri": f"{board_url}/board/sign-in",
               "audience": AUDIENCE, "client_secret": CLIENT_SECRET}
    process = subprocess.Popen([_installed(), str(SUPPORT / "oidc_provider.mjs"), json.dumps(options)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        started = process.stdout.readline()  # it prints its issuer once it listens
        assert started, f"the OpenID provider did not start (exit {process.poll()})"
        yield RunningProvider(json.loads(started)["issuer"])
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def through_the_provider(location: str, issuer: str, login: str | None) -> str:
    """Follow the provider's pages from its authorization URL, signing in as `login` (any password)
    and consenting, until it sends the browser back to the board: that URL. No login: the person
    cancels on the login page."""
    url, form = location, None
    async with httpx.AsyncClient(timeout=10) as browser:
        for _ in range(20):
            if not url.startswith(issuer):
                return url
            response = await (browser.post(url, data=form) if form is not None else browser.get(url))
            if response.is_redirect:
                url, form = urljoin(url, response.headers["location"]), None
                continue
            assert response.status_code == 200, response.text
            action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
            assert action, f"a page of the provider without a form: {response.text[:300]}"
            form = {name: html.unescape(value) for name, value in
                    re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', response.text)}
            if 'name="login"' in response.text and login is None:
                cancel = re.search(r'<a href="([^"]+)">\[ Cancel \]</a>', response.text)
                assert cancel, "the provider's login page offers no way to cancel"
                url, form = urljoin(url, html.unescape(cancel.group(1))), None
                continue
            if 'name="login"' in response.text:
                form.update(login=login, password="any password")
            url = urljoin(url, html.unescape(action.group(1)))
    raise AssertionError("the provider never sent the browser back")
