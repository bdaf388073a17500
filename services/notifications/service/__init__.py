"""Notifications' service layer, the only place that writes (besides the delivery worker recording
its sends): the directory (recipients, their channels, subscriptions), routing events to rows, the
delivery log's re-drive and the feed.

Each use case takes the unit of work and the service's context and commits itself (routing runs
in the consumer's unit of work, which commits it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from services.notifications.directory import Directory
from shared.outbound import Guard


class FeedBell:
    """Rung after routing committed feed items in this process: the followers look at once instead
    of at their next poll."""

    def __init__(self) -> None:
        self._next = asyncio.Event()

    def ring(self) -> None:
        rung, self._next = self._next, asyncio.Event()
        rung.set()

    def next_ring(self) -> asyncio.Event:
        """The ring after this moment: taken before a look, so a ring during the look is not missed."""
        return self._next


@dataclass(frozen=True)
class NotificationsContext:
    """What the use cases need, built once at bootstrap (main.py)."""

    directory: Directory  # the directory as routing reads it, shared with the delivery worker
    outbound: Guard  # webhook URLs must lead to public addresses (checked when set up, and at every send)
    wake: Callable[[], None]  # the delivery worker: something is due now
    feed_bell: FeedBell  # the feed's live followers: routing committed new items
