"""The channels behind one interface: each channel kind has a `Sender`, `await sender.send(target,
message)` → an Outcome, and the delivery worker picks it from a registry keyed by kind (built in
main.py). A new channel (Matrix, SMS) is one module here, its kind in domain.ChannelKind and its
entry in the registry.

A sender never raises for a failed send: it reports the failure (and whether retrying can help)
so the worker can log it and decide."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from services.notifications.domain import ChannelKind
from services.notifications.rendering import Message
from shared.redaction import mask_url, redact


@dataclass(frozen=True)
class Outcome:
    # deferred: not tried, the URL's rate is used up for now
    outcome: Literal["sent", "failed", "skipped", "deferred"]
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

    kind: ChannelKind
    address: str = field(repr=False)  # secrets: never in a printed Target
    signing_secret: str | None = field(repr=False)
    delivery_id: str
    event_id: str
    event_type: str
    data: dict[str, Any] = field(default_factory=dict, repr=False)  # the event's (generic webhooks carry it)


class Sender(Protocol):
    """One channel kind's way of sending a rendered message."""

    async def send(self, target: Target, message: Message) -> Outcome: ...


Registry = Mapping[ChannelKind, Sender]


def masked(address: str | None) -> str | None:
    """A webhook URL as the API may show it: enough to recognise, too little to use."""
    if address is None or "@" in address and "://" not in address:
        return address
    return mask_url(address)
