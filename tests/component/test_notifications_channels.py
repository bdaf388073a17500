"""Webhook sending rules with httpx's mock transport: pacing per URL, Retry-After, what counts as
permanent, signatures, and masking URLs."""

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.utils import format_datetime

import httpx
import pytest

from services.notifications.channels import Target, masked
from services.notifications.channels.email import Mailer
from services.notifications.channels.posting import JsonPoster
from services.notifications.channels.slack import Slack
from services.notifications.channels.webhook import Webhook
from services.notifications.rendering import render
from services.notifications.settings import NotificationsSettings
from tests.integration.test_notifications_delivery import overlap_event
from tests.support.standins import SmtpStandIn

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


async def test_a_retry_after_given_as_an_http_date_is_that_date_less_now():
    # RFC 9110 §10.2.3: delay-seconds or an HTTP-date.
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    hooks, _ = webhooks(lambda r: httpx.Response(503, headers={"Retry-After": when}), rate=100)
    throttled = await hooks.send(target(), MESSAGE)
    assert 110 < throttled.retry_after <= 120
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    hooks, _ = webhooks(lambda r: httpx.Response(429, headers={"Retry-After": past}), rate=100)
    assert (await hooks.send(target(), MESSAGE)).retry_after == 0


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


# -- mail, read back by Python's email package (the default policy: RFC 5322 and MIME) ------------

SUBJECTS = [
    "4 days to the internal deadline of Climate-neutral neighbourhoods network",  # fits a line of its own
    "New EU call: Positive Clean Energy Districts for climate-neutral cities (HORIZON-MISS-2027-CIT-01-01)",
    "Überschneidung: MAYOR und ECON gleichzeitig in Köln — Messe „Anuga“ und Städtepartnerschaftsbesuch",
    "4 days to the internal deadline of Climate-neutral neighbourhoods networkÜ",
    "ECON booked " + "T" * 138,
]


def mail_target(delivery_id: str = "0c75b56f-7cca-4cc0-a02d-4da9ab3a64a2") -> Target:
    return Target(kind="email", address="Anna Weber <anna@city.example>", signing_secret=None,
                  delivery_id=delivery_id, event_id="e-1", event_type=EVENT.type)


@pytest.mark.parametrize("subject", SUBJECTS)
async def test_a_mail_reads_back_with_its_exact_subject_and_a_message_id_in_the_senders_domain(tmp_path, subject):
    mailer = Mailer(NotificationsSettings(mail_dir=tmp_path, smtp_from="Diplomacity <alerts@city.example>"))
    outcome = await mailer.send(mail_target(), MESSAGE.replace(subject=subject))

    [path] = tmp_path.glob("*.eml")
    raw = path.read_bytes()
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert outcome.outcome == "sent" and not mail.defects
    assert mail["Subject"] == subject  # no leading space, no doubled one
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")) and raw.isascii()  # RFC 5322 §2.1.1, 7-bit
    message_id = mail["Message-ID"]
    assert message_id == "<0c75b56f-7cca-4cc0-a02d-4da9ab3a64a2@city.example>"  # the same on a resend
    assert "." in Address(addr_spec=message_id.strip("<>")).domain
    assert mail.get_body(("plain",)).get_content().splitlines() == MESSAGE.text.splitlines()


async def test_a_mail_over_smtp_arrives_with_its_exact_subject():
    with SmtpStandIn() as smtp:
        mailer = Mailer(NotificationsSettings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False,
                                              smtp_from="Diplomacity <alerts@city.example>"))
        outcome = await mailer.send(mail_target(), MESSAGE.replace(subject=SUBJECTS[0]))
        assert outcome.outcome == "sent", outcome.error
        [mail] = smtp.to("anna@city.example")
    assert mail["Subject"] == SUBJECTS[0] and mail["Message-ID"].endswith("@city.example>")
    assert mail.get_body(("html",)).get_content().splitlines() == MESSAGE.html.splitlines()


def test_a_sender_without_a_domain_is_refused_at_start():
    with pytest.raises(ValueError, match="SMTP_FROM"):
        Mailer(NotificationsSettings(smtp_from="Diplomacity <alerts>"))
