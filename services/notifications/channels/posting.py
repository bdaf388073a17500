"""What the webhook channels (Slack, Teams, generic) share: a JSON POST with time-outs, paced per
URL, on a client that connects only to public addresses (shared/outbound.py: checked at every
connection, so also after DNS rebinding)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from services.notifications.channels import Outcome, Target
from services.notifications.rendering import Message
from shared import outbound


class JsonPoster:
    """A sender whose message is a JSON body: subclasses say which (`body`) and may add headers."""

    def __init__(self, client: httpx.AsyncClient, *, timeout: float, rate: float | None, max_wait: float) -> None:
        self.client = client
        self.timeout = timeout
        self.rate = rate  # messages a second per URL (None: unpaced)
        self.max_wait = max_wait  # longer waits give the delivery back (its claim must not lapse)
        self._next_slot: dict[str, float] = {}

    def body(self, target: Target, message: Message) -> dict[str, Any]:
        raise NotImplementedError

    def headers(self, target: Target, raw: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Diplomacity-Event-Id": target.event_id,
                "X-Diplomacity-Delivery-Id": target.delivery_id, "Idempotency-Key": target.delivery_id}

    async def send(self, target: Target, message: Message) -> Outcome:
        raw = json.dumps(self.body(target, message), separators=(",", ":"), default=str).encode()
        headers = self.headers(target, raw)
        wait = self._slot(target)
        if wait > self.max_wait:
            return Outcome("deferred", retry_after=wait)
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            response = await self.client.post(target.address, content=raw, headers=headers, timeout=self.timeout)
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

    def _slot(self, target: Target) -> float:
        """Seconds until this URL may take the next message, keeping to its rate (sends 1/rate
        apart, and after a 429 its Retry-After); the slot is taken unless the wait is too long."""
        now = time.monotonic()
        slot = max(now, self._next_slot.get(target.address, now))
        if slot - now <= self.max_wait:
            self._next_slot[target.address] = slot + (1.0 / self.rate if self.rate else 0.0)
        return slot - now


def _retry_after(response: httpx.Response) -> float | None:
    """The wait a 429 or 503 asks for: RFC 9110 gives it in seconds or as an HTTP date."""
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("Retry-After")
    if value is None:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0  # garbage: wait a moment rather than hammer
    if when.tzinfo is None:  # "-0000": RFC 5322's "UTC, but the zone is unknown"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
