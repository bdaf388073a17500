"""The delivery worker: claims due deliveries, renders and sends them, and records every attempt
(what it writes, and how claims keep replicas apart: service/sending.py).

A worker that dies mid-send leaves its claims to be taken over when the lease ends. The one window
left is a crash between a receiver accepting a message and that write: the message then goes again,
with the same Message-ID / Idempotency-Key so the receiver can tell."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.contextvars import bound_contextvars

from services.notifications import rendering
from services.notifications.channels import Outcome, Registry, Target
from services.notifications.directory import Directory
from services.notifications.models import Channel, Notice
from services.notifications.service.sending import DIGEST, SINGLE, Batch, batch_of, claim_due, record_outcome
from services.notifications.settings import NotificationsSettings
from shared.db import make_sessionmaker
from shared.logging import get_logger
from shared.metrics import DELIVERY_SEND_DURATION
from shared.tracing import context_of, span
from shared.uow import UnitOfWork, utcnow

log = get_logger("notifications.delivery")


@contextmanager
def _traced(row: Any, notice: Notice, digest_of: int = 0) -> Iterator[None]:
    """A send within the trace of the event that caused it (a child of the span that routed it),
    every line it logs naming the delivery, the event, its correlation id and the trace. A digest
    goes in the trace of its first event."""
    with bound_contextvars(delivery_id=row.id, event_id=row.event_id, event_type=notice.event_type,
                           correlation_id=notice.correlation_id or notice.event_id, channel=row.channel_kind), \
            span(f"deliver {row.channel_kind}", "notifications", kind=SpanKind.CLIENT,
                 parent=context_of(notice.traceparent, notice.tracestate),
                 attributes={"oia.delivery.id": row.id, "oia.event.id": row.event_id,
                             "oia.channel": row.channel_kind, "oia.digest_of": digest_of}):
        yield


class DeliveryWorker:
    def __init__(self, settings: NotificationsSettings, engine: AsyncEngine, uow: Callable[[], UnitOfWork],
                 channels: Registry, directory: Directory,
                 release: Callable[[], Awaitable[None]] | None = None) -> None:
        """`engine`: claims are made on it (its own, so sending never waits behind HTTP requests
        for a pooled connection; disposed on stop); `uow`: outcomes are written in one;
        `channels`: the sender of each channel kind; `release`: closes what the senders hold."""
        self.settings = settings
        self.engine = engine
        self.sessions = make_sessionmaker(engine)
        self.uow = uow
        self.channels = channels
        self.directory = directory
        self.release = release
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._sending: set[asyncio.Task] = set()
        self._full = False
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifications-delivery")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Claim nothing more and let the sends in flight finish and record their outcomes (within
        the grace; None: the shutdown grace): a send cut off after the receiver took it would be sent again."""
        self._stopping = True
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds)
        if self._task is not None:
            # A round under way may still start sends: wait for it before gathering them.
            await asyncio.wait([self._task], timeout=max(0.0, deadline - loop.time()))
        pending = [t for t in (self._task, *self._sending) if t is not None and not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
            for task in late:
                task.cancel()  # a send hanging past the grace; its claim lapses and is retaken
            await asyncio.gather(*late, return_exceptions=True)
        if self.release is not None:
            await self.release()
        await self.engine.dispose()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                started, _ = await self._start_round()
            except Exception:  # logged with its traceback; the next round tries again
                log.exception("delivery round failed")
                started = 0
            if started == 0 and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.settings.delivery_poll_seconds)
                except TimeoutError:
                    pass  # nobody woke us: poll (another replica's events, held messages coming due)
                self._wake.clear()

    # -- one round ------------------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> int:
        """Claim and send what is due at `now`, and wait for the sends; returns how many
        deliveries it handled. (What the loop does, for tests and back-fills driving the clock.)"""
        count, tasks = await self._start_round(now)
        await asyncio.gather(*tasks)
        return count

    async def _start_round(self, now: datetime | None = None) -> tuple[int, list[asyncio.Task]]:
        """Claim what is due, no more than there are free sending slots, and start sending it
        without waiting: what comes due meanwhile need not queue behind a slow webhook."""
        now = now or utcnow()
        free = self.settings.delivery_concurrency - len(self._sending)
        if free <= 0:
            self._full = True  # a finishing send wakes the loop
            return 0, []
        lease = self.settings.delivery_lease_seconds
        singles = await claim_due(self.engine, now, SINGLE, min(free, self.settings.delivery_batch), lease)
        digests = await claim_due(self.engine, now, DIGEST, 1000, lease)
        if not singles and not digests:
            return 0, []
        context = await batch_of(self.sessions, self.directory, singles + digests)
        groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for row in digests:
            groups[(row.recipient_id, row.channel_id)].append(row)
        tasks = [asyncio.create_task(self._send_one(row, context)) for row in singles]
        tasks += [asyncio.create_task(self._send_digest(rows, context, now)) for rows in groups.values()]
        for task in tasks:
            self._sending.add(task)
            task.add_done_callback(self._sent)
        return len(singles) + len(digests), tasks

    def _sent(self, task: asyncio.Task) -> None:
        self._sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The claim stays until its lease ends; then the delivery is taken up again.
            log.error("delivery send failed before its outcome was written", exc_info=task.exception())
        if self._full:
            self._full = False
            self.wake()

    # -- sending --------------------------------------------------------------------------------

    async def _send_one(self, row: Any, context: Batch) -> None:
        started = utcnow()
        notice, recipient, channel = context.of(row)
        with _traced(row, notice):
            if recipient is None or channel is None or not channel.address:
                outcome = Outcome("skipped", error="the recipient or channel was removed, or has no address")
            else:
                message = context.message(notice, recipient.language)
                outcome = await self._send(channel, channel.address, row, notice, message)
            await self._record([row], context, outcome, started)

    async def _send_digest(self, rows: list[Any], context: Batch, now: datetime) -> None:
        with _traced(rows[0], context.notices[rows[0].event_id], digest_of=len(rows)):
            await self._send_digest_traced(rows, context, now)

    async def _send_digest_traced(self, rows: list[Any], context: Batch, now: datetime) -> None:
        started = utcnow()
        notice, recipient, channel = context.of(rows[0])
        if recipient is None or channel is None or not channel.address:
            outcome = Outcome("skipped", error="the recipient or channel was removed, or has no address")
        else:
            notices = [context.notices[r.event_id] for r in rows]
            message = rendering.render_digest(
                [(n.event_type, n.data, context.related.get(n.topic)) for n in notices], recipient.language,
                recipient.name, now.astimezone(ZoneInfo(recipient.timezone)).date())
            outcome = await self._send(channel, channel.address, rows[0], notices[0], message, digest_of=len(rows))
        await self._record(rows, context, outcome, started, digest_id=str(uuid.uuid4()))

    async def _send(self, channel: Channel, address: str, row: Any, notice: Notice, message: rendering.Message,
                    digest_of: int = 0) -> Outcome:
        sender = self.channels.get(channel.kind)
        if sender is None:
            return Outcome("skipped", error=f"no {channel.kind} sender in this deployment")
        target = Target(kind=channel.kind, address=address, signing_secret=channel.signing_secret,
                        delivery_id=row.id, event_id=notice.event_id,
                        event_type="notifications.digest" if digest_of else notice.event_type,
                        data={} if digest_of else notice.data)
        started = time.perf_counter()
        try:
            return await sender.send(target, message)
        finally:
            DELIVERY_SEND_DURATION.labels("notifications", channel.kind).observe(time.perf_counter() - started)

    async def _record(self, rows: list[Any], batch: Batch, outcome: Outcome, started: datetime,
                      digest_id: str | None = None) -> None:
        async with self.uow() as uow:
            await record_outcome(uow, rows, batch, outcome, started, self.settings.retry_base_seconds, digest_id)
