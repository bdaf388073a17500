"""The channels behind one interface: `await channel.send(target, message, ...)` → an Outcome.

Email goes over SMTP (aiosmtplib) or, with no server configured, to .eml files; Slack, Teams and
generic webhooks are HTTP POSTs (httpx) with time-outs, on a client that connects only to public
addresses (shared/outbound.py: checked at every connection, so also after DNS rebinding). A sender
never raises for a failed send: it reports the failure (and whether retrying can help) so the worker
can log it and decide."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import aiosmtplib
import httpx

from services.notifications.rendering import Message
from services.notifications.settings import NotificationsSettings
from shared import outbound
from shared.redaction import mask_url, redact


@dataclass(frozen=True)
class Outcome:
    outcome: str  # sent, failed, skipped, deferred (not tried: the URL's rate is used up for now)
    status_code: int | None = None
    error: str | None = None
    permanent: bool = False  # retrying cannot help (a 4xx, an SMTP 5xx)
    retry_after: float | None = None  # seconds the server asked us to wait

    @classmethod
    def failed(cls, error: str, *, status_code: int | None = None, permanent: bool = False,
               retry_after: float | None = None) -> Outcome:
        # Redacted: a receiver's error page may quote the URL it was posted to (a secret).
        return cls("failed", status_code, redact(error)[:1000], permanent, retry_after)


@dataclass(frozen=True)
class Target:
    """Where one delivery goes, and what identifies it to the receiver."""

    kind: str
    address: str = field(repr=False)  # secrets: never in a printed Target
    signing_secret: str | None = field(repr=False)
    delivery_id: str
    event_id: str
    event_type: str


def masked(address: str | None) -> str | None:
    """A webhook URL as the API may show it: enough to recognise, too little to use."""
    if address is None or "@" in address and "://" not in address:
        return address
    return mask_url(address)


class Mailer:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings

    async def send(self, target: Target, message: Message) -> Outcome:
        mail = self._compose(target, message)
        if self.settings.smtp_host:
            return await self._smtp(mail)
        if self.settings.mail_dir is not None:
            return await asyncio.to_thread(self._file, mail, target)
        return Outcome("skipped", error="no SMTP server configured (SMTP_HOST) and no mail folder")

    def _compose(self, target: Target, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.settings.smtp_from
        mail["To"] = target.address
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(datetime.now().astimezone())
        # One Message-ID per delivery: a resend after a crash is recognisably the same message.
        mail["Message-ID"] = make_msgid(idstring=target.delivery_id, domain="diplomacity")
        mail["X-Diplomacity-Event-Id"] = target.event_id
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        return mail

    async def _smtp(self, mail: EmailMessage) -> Outcome:
        s = self.settings
        try:
            await aiosmtplib.send(mail, hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
                                  password=s.smtp_password, start_tls=s.smtp_starttls, timeout=s.smtp_timeout_seconds)
        except aiosmtplib.SMTPResponseException as exc:
            return Outcome.failed(f"SMTP {exc.code} {exc.message}", status_code=exc.code, permanent=exc.code >= 500)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            return Outcome.failed(f"SMTP {type(exc).__name__}: {exc}")
        return Outcome("sent", status_code=250)

    def _file(self, mail: EmailMessage, target: Target) -> Outcome:
        folder = Path(self.settings.mail_dir)  # type: ignore[arg-type]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{target.delivery_id}.eml"
        # Written aside, then renamed: a reader of the folder never sees half a mail.
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(bytes(mail))
        partial.replace(path)
        return Outcome("sent", error=None)


class Webhooks:
    """Slack, Teams and generic webhooks: a JSON POST each, paced per URL."""

    def __init__(self, settings: NotificationsSettings, client: httpx.AsyncClient, rates: dict[str, float],
                 max_wait: float) -> None:
        self.settings = settings
        self.client = client
        self.rates = rates
        self.max_wait = max_wait  # longer waits give the delivery back (its claim must not lapse)
        self._next_slot: dict[str, float] = {}

    async def send(self, target: Target, message: Message, data: dict) -> Outcome:
        body = self._body(target, message, data)
        raw = json.dumps(body, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json", "X-Diplomacity-Event-Id": target.event_id,
                   "X-Diplomacity-Delivery-Id": target.delivery_id, "Idempotency-Key": target.delivery_id}
        if target.signing_secret:
            digest = hmac.new(target.signing_secret.encode(), raw, hashlib.sha256).hexdigest()
            headers["X-Diplomacity-Signature"] = f"sha256={digest}"
        wait = self._slot(target)
        if wait > self.max_wait:
            return Outcome("deferred", retry_after=wait)
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            response = await self.client.post(target.address, content=raw, headers=headers,
                                              timeout=self.settings.webhook_timeout_seconds)
        except outbound.Refused as exc:  # an internal address (perhaps by DNS rebinding): retrying cannot help
            return Outcome.failed(f"refused: {exc}", permanent=True)
        except httpx.HTTPError as exc:  # the URL itself never goes into the error: it is a secret
            return Outcome.failed(f"{type(exc).__name__} posting to the {target.kind} webhook")
        if response.is_success:
            return Outcome("sent", status_code=response.status_code)
        retry_after = _retry_after(response)
        if retry_after is not None:
            self._next_slot[target.address] = time.monotonic() + retry_after  # the whole URL waits
        code = response.status_code
        return Outcome.failed(f"HTTP {code}: {response.text[:200]}", status_code=code, retry_after=retry_after,
                              permanent=400 <= code < 500 and code not in (408, 409, 425, 429))

    def _body(self, target: Target, message: Message, data: dict) -> dict:
        if target.kind == "slack":
            return message.slack
        if target.kind == "teams":
            return message.teams
        return {"event_id": target.event_id, "event_type": target.event_type, "delivery_id": target.delivery_id,
                "subject": message.subject, "text": message.text, "data": data}

    def _slot(self, target: Target) -> float:
        """Seconds until this URL may take the next message, keeping to its rate (sends 1/rate
        apart, and after a 429 its Retry-After); the slot is taken unless the wait is too long."""
        now = time.monotonic()
        slot = max(now, self._next_slot.get(target.address, now))
        if slot - now <= self.max_wait:
            rate = self.rates.get(target.kind)
            self._next_slot[target.address] = slot + (1.0 / rate if rate else 0.0)
        return slot - now


def _retry_after(response: httpx.Response) -> float | None:
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0  # an HTTP date or garbage: wait a moment rather than hammer
