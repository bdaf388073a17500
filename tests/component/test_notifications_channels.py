"""Webhook sending rules with httpx's mock transport: pacing per URL, Retry-After, what counts as
permanent, signatures, and masking URLs."""

import asyncio
import hashlib
import hmac
import json
import time

import httpx

from services.notifications.channels import Target, masked
from services.notifications.channels.posting import JsonPoster
from services.notifications.channels.slack import Slack
from services.notifications.channels.webhook import Webhook
from services.notifications.rendering import render
from tests.integration.test_notifications_delivery import overlap_event

EVENT = overlap_event()
MESSAGE = render(EVENT.type, EVENT.data, "en")


def target(kind: str = "slack", address: str = "https://hooks.example/a", secret: str | None = None) -> Target:
    return Target(kind=kind, address=address, signing_secret=secret, delivery_id="d-1", event_id=EVENT.id,
                  event_type=EVENT.type, data=EVENT.data)


def webhooks(answer, rate: float = 2.0, max_wait: float = 0.6, sender: type[JsonPoster] = Slack
             ) -> tuple[JsonPoster, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return sender(client, timeout=10.0, rate=rate, max_wait=max_wait), seen


async def test_a_url_keeps_its_rate_and_gives_back_what_would_wait_too_long():
    hooks, seen = webhooks(lambda r: httpx.Response(200, text="ok"))
    started = time.monotonic()
    first, second, third, other_url = await asyncio.gather(
        *(hooks.send(target(), MESSAGE) for _ in range(3)),
        hooks.send(target(address="https://hooks.example/b"), MESSAGE))
    took = time.monotonic() - started
    assert (first.outcome, second.outcome, other_url.outcome) == ("sent", "sent", "sent")
    assert 0.45 <= took < 0.6  # 2 a second: the second waited half a second, the other URL not at all
    assert third.outcome == "deferred" and 0.9 < third.retry_after <= 1.0  # not tried: a second away
    assert len(seen) == 3


async def test_a_429_holds_the_url_for_its_retry_after():
    answers = iter([httpx.Response(429, headers={"Retry-After": "5"}), httpx.Response(200)])
    hooks, seen = webhooks(lambda r: next(answers), rate=100)
    throttled = await hooks.send(target(), MESSAGE)
    assert throttled.outcome == "failed" and throttled.status_code == 429 and throttled.retry_after == 5
    assert not throttled.permanent
    held = await hooks.send(target(), MESSAGE)
    assert held.outcome == "deferred" and held.retry_after > 4.5
    assert len(seen) == 1


async def test_4xx_is_permanent_5xx_and_timeouts_are_not():
    for status, permanent in [(400, True), (404, True), (410, True), (408, False), (500, False), (503, False)]:
        hooks, _ = webhooks(lambda r, s=status: httpx.Response(s), rate=1000)
        outcome = await hooks.send(target(), MESSAGE)
        assert (outcome.outcome, outcome.permanent) == ("failed", permanent), status

    def time_out(request):
        raise httpx.ConnectTimeout("slow", request=request)
    hooks, _ = webhooks(time_out, rate=1000)
    outcome = await hooks.send(target(address="https://hooks.example/secret-token"), MESSAGE)
    assert outcome.outcome == "failed" and not outcome.permanent
    assert "secret-token" not in outcome.error  # the URL is a secret: never in the log


async def test_generic_webhooks_are_signed_over_the_exact_body_and_carry_ids():
    hooks, seen = webhooks(lambda r: httpx.Response(204), sender=Webhook)
    await hooks.send(target(kind="webhook", secret="k" * 20), MESSAGE)
    [request] = seen
    expected = hmac.new(b"k" * 20, request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Diplomacity-Signature"] == f"sha256={expected}"
    assert request.headers["Idempotency-Key"] == "d-1"
    body = json.loads(request.content)
    assert body["event_id"] == EVENT.id and body["data"]["place_name"] == "Köln" and body["subject"]
    hooks, seen = webhooks(lambda r: httpx.Response(200))
    await hooks.send(target(kind="slack"), MESSAGE)
    assert "X-Diplomacity-Signature" not in seen[0].headers
    assert json.loads(seen[0].content) == MESSAGE.slack


def test_webhook_urls_are_masked_and_email_addresses_are_not():
    shown = masked("https://hooks.slack.com/services/T0/B0/abcdefgh1234")
    assert shown.startswith("https://hooks.slack.com/…") and "1234" not in shown  # no piece of the token
    assert masked("anna@city.example") == "anna@city.example"
    assert masked(None) is None
