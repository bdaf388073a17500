"""The portal fetch (POST /grants/calls/import?url=…) goes over https to public addresses only,
also when a portal host's name resolves inward, and also when it turns inward between the check
and the connection."""

from __future__ import annotations

import ipaddress

import pytest

from services.grants.models import Call
from shared import outbound
from tests.component.test_grants_api import COORDINATOR, count, reconfigure
from tests.component.test_outbound import PUBLIC, Listener
from tests.support.embedded import auth


def portal_hosts(host, *names: str) -> None:
    reconfigure(host, portal_hosts=list(names))


async def fetch(client, host, url: str):
    return await client.post("/grants/calls/import", params={"url": url}, headers=auth(host, *COORDINATOR))


@pytest.mark.parametrize("portal, url, why", [
    ("api.tech.ec.europa.eu", "http://api.tech.ec.europa.eu/search-api/prod/rest/search", "must be https"),
    ("169.254.169.254", "https://169.254.169.254/latest/meta-data/", "a cloud metadata service"),
    ("2130706433", "https://2130706433/search", "stands for 127.0.0.1, which is a loopback address"),
    ("portal.example.com", "https://portal.example.com/search", "resolves to 10.0.0.5, which is a private address"),
])
async def test_a_portal_url_that_is_not_https_or_leads_inward_is_422(client, host, monkeypatch, portal, url, why):
    async def resolve(name: str, port: int) -> list:
        if name != "portal.example.com":
            raise OSError(f"{name}: name or service not known")
        return [ipaddress.ip_address("10.0.0.5")]
    monkeypatch.setattr(outbound, "resolve", resolve)
    portal_hosts(host, portal)  # even a misconfigured PORTAL_HOSTS does not lead inward
    response = await fetch(client, host, url)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.url" and why in response.json()["detail"]
    assert await count(host, Call) == 0


async def test_a_portal_name_turning_to_loopback_between_check_and_connection_is_refused(client, host, monkeypatch):
    answers = iter([PUBLIC, "127.0.0.1"])  # the check sees a public address; the connection would not

    async def resolve(name: str, port: int) -> list:
        return [ipaddress.ip_address(next(answers))]
    monkeypatch.setattr(outbound, "resolve", resolve)
    portal_hosts(host, "portal.example.com")
    async with Listener() as receiver:
        response = await fetch(client, host, f"https://portal.example.com:{receiver.port}/search")
    assert response.status_code == 422, response.text
    assert "resolves to 127.0.0.1, which is a loopback address" in response.json()["detail"]
    assert receiver.connections == 0 and await count(host, Call) == 0
