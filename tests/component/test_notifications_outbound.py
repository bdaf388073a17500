"""Webhooks reach public addresses only: an internal URL is refused at registration (422 naming
the channel, nothing stored), and a name that turns inward after registration (DNS rebinding) is
refused at send time — a dead delivery with the reason, and no connection made."""

from __future__ import annotations

import ipaddress

import pytest

from services.notifications.models import Channel, Delivery, DeliveryAttempt, Recipient
from shared import outbound
from shared.testing import eventually
from tests.component.test_notifications_api import COORDINATOR, add, book_overlap, count, recipient, rows
from tests.component.test_outbound import PUBLIC, Listener
from tests.support.embedded import auth

INTERNAL = ["https://10.0.0.1/hook/secret-token", "https://169.254.169.254/latest/meta-data/secret-token",
            "https://localhost/secret-token", "https://[::1]/secret-token", "https://0.0.0.0/secret-token",
            "https://2130706433/secret-token", "https://metadata.google.internal/secret-token",
            "https://0x7f.1/secret-token", "https://[::ffff:127.0.0.1]/secret-token", "https://100.64.0.1/secret-token",
            "https://localhost./secret-token", "https://hooks.example.com@10.0.0.1/secret-token"]


@pytest.fixture
def dns(monkeypatch) -> dict[str, list[str]]:
    """What names resolve to, for this test (the machine's own resolver is not asked)."""
    table: dict[str, list[str]] = {}

    async def resolve(host: str, port: int) -> list:
        if host not in table:
            raise OSError(f"{host}: name or service not known")
        return [ipaddress.ip_address(a) for a in table[host]]
    monkeypatch.setattr(outbound, "resolve", resolve)
    return table


@pytest.mark.parametrize("url", INTERNAL)
async def test_an_internal_webhook_url_is_422_naming_the_channel_and_nothing_is_stored(client, host, url, dns):
    body = recipient(channels=[{"kind": "email", "address": "econ@city.example"}, {"kind": "webhook", "address": url}])
    response = await client.post("/notifications/recipients", json=body, headers=auth(host, *COORDINATOR))
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "channels[1].address"
    assert "secret-token" not in response.text  # the URL is a secret: the reason names the host only
    assert await count(host, Recipient) == 0 and await count(host, Channel) == 0


async def test_a_name_resolving_inward_is_refused_and_a_change_to_it_keeps_the_old_channels(client, host, dns):
    dns["hooks.example.com"] = [PUBLIC, "10.1.2.3"]
    await add(client, host, recipient())
    changed = await client.patch("/notifications/recipients/ECON", headers=auth(host, *COORDINATOR), json={
        "channels": [{"kind": "slack", "address": "https://hooks.example.com/services/T0/B0/x"}]})
    assert changed.status_code == 422, changed.text
    assert changed.json()["errors"][0]["field"] == "channels[0].address"
    assert "resolves to 10.1.2.3, which is a private address" in changed.json()["detail"]
    assert [(c.kind, c.address) for c in await rows(host, Channel)] == [("email", "econ@city.example")]


async def test_a_name_that_turns_to_loopback_after_registration_is_refused_at_send_time(client, host, dns):
    async with Listener() as receiver:
        url = f"https://rebind.example.com:{receiver.port}/hook"
        dns["rebind.example.com"] = [PUBLIC]  # public when registered …
        await add(client, host, recipient(channels=[{"kind": "webhook", "address": url}]))
        dns["rebind.example.com"] = ["127.0.0.1"]  # … this machine when sent to
        await book_overlap(client, host)

        async def gone_dead() -> bool:
            return [d.status for d in await rows(host, Delivery, Delivery.recipient_id == "ECON")] == ["dead"]
        await eventually(gone_dead, message="the webhook delivery given up, not retried")
    [delivery] = await rows(host, Delivery, Delivery.recipient_id == "ECON")
    assert delivery.attempts == 1 and delivery.last_error.startswith("refused: rebind.example.com resolves to "
                                                                     "127.0.0.1, which is a loopback address")
    [attempt] = await rows(host, DeliveryAttempt, DeliveryAttempt.delivery_id == delivery.id)
    assert attempt.outcome == "failed"
    assert receiver.connections == 0  # nothing reached the local receiver
