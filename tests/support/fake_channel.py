"""A channel for the unit tier: it records what it was sent and, told to, fails instead (the
delivery worker takes it in its registry in place of SMTP or a webhook)."""

from __future__ import annotations

from services.notifications.channels import Outcome, Target
from services.notifications.rendering import Message


class FakeChannel:
    def __init__(self) -> None:
        self.sent: list[tuple[Target, Message]] = []  # what went out
        self.tried = 0  # every send, failed or not
        self._failure: Outcome | None = None

    def fail(self, error: str = "HTTP 503: unavailable", *, status_code: int | None = 503,
             permanent: bool = False) -> None:
        """Every send from now on fails so (until `recover()`)."""
        self._failure = Outcome.failed(error, status_code=status_code, permanent=permanent)

    def recover(self) -> None:
        self._failure = None

    async def send(self, target: Target, message: Message) -> Outcome:
        self.tried += 1
        if self._failure is not None:
            return self._failure
        self.sent.append((target, message))
        return Outcome("sent", status_code=250)
