"""A circuit breaker per receiving endpoint (a webhook URL's host, the SMTP server): after a run of
failures the endpoint is left alone for a cool-down, its due deliveries postponed rather than
attempted (no attempt burnt, nothing made dead by an outage); then one delivery goes through as a
probe, and its outcome closes the breaker or opens it again. In memory, per worker: each replica
learns an outage on its own within a few failures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.logging import get_logger

log = get_logger("notifications.delivery")


@dataclass
class _State:
    failures: int = 0
    open_until: datetime | None = None
    probing: bool = False  # half-open: one delivery is being tried


class Breakers:
    def __init__(self, failures: int, cooldown_seconds: float, clock: Callable[[], datetime]) -> None:
        self.failures = failures
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self.clock = clock
        self._states: dict[str, _State] = {}

    def admit(self, endpoint: str | None) -> float | None:
        """None: send now; else seconds to postpone this delivery by (the endpoint is open, or
        half-open with its probe in flight)."""
        if endpoint is None:
            return None
        state = self._states.get(endpoint)
        if state is None or state.open_until is None:
            return None
        now = self.clock()
        if now < state.open_until:
            return (state.open_until - now).total_seconds()
        if state.probing:
            return self.cooldown.total_seconds() / 4  # after the probe has (probably) told
        state.probing = True
        log.info("circuit half-open: one delivery goes through", endpoint=endpoint)
        return None

    def record(self, endpoint: str | None, ok: bool) -> None:
        """The outcome of an admitted send: `ok` when the endpoint answered (a success, or a
        permanent refusal of this one message); not ok when it failed in a way retrying may mend."""
        if endpoint is None:
            return
        state = self._states.setdefault(endpoint, _State())
        was_open = state.open_until is not None
        state.probing = False
        if ok:
            if was_open:
                log.info("circuit closed: the endpoint answers again", endpoint=endpoint)
            self._states.pop(endpoint, None)
            return
        state.failures += 1
        if was_open or state.failures >= self.failures:
            state.open_until = self.clock() + self.cooldown
            log.warning("circuit open: deliveries to the endpoint are postponed", endpoint=endpoint,
                        failures=state.failures, cooldown_seconds=self.cooldown.total_seconds())

    def release(self, endpoint: str | None) -> None:
        """An admitted delivery that was not tried after all (deferred, skipped): another may probe."""
        state = self._states.get(endpoint) if endpoint else None
        if state is not None:
            state.probing = False

    def is_open(self, endpoint: str) -> bool:
        state = self._states.get(endpoint)
        return state is not None and state.open_until is not None
