"""The delivery worker: claims due deliveries, renders and sends them, and records every attempt
(what it writes, and how claims keep replicas apart: service/sending.py).

A worker that dies mid-send leaves its claims to be taken over when the lease ends. What closes the
window between a receiver accepting a message and the outcome's commit: the outcome goes first to
a local journal (journal.py, replayed before the first claim), and an outcome the database would not
take is held and written again (with back-off) before anything else is claimed, never re-sent. What
is left (a crash between the receiver's answer and the journal's fsync, or another replica claiming
a held delivery first) sends again with the same Message-ID / Idempotency-Key, so the receiver can
tell; see the README's "Delivery guarantees".

A receiver's outage is ridden out: failures are retried on a time budget (settings), and an
endpoint failing again and again is left alone for a while (breakers.py)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.contextvars import bound_contextvars

from services.notifications import rendering
from services.notifications.breakers import Breakers
from services.notifications.channels import Outcome, Registry, Target
from services.notifications.directory import Directory
from services.notifications.journal import Journal
from services.notifications.models import Channel, Notice
from services.notifications.service.sending import (
    DIGEST,
    SINGLE,
    Batch,
    batch_of,
    claim_due,
    record_outcome,
    unfinished,
)
from services.notifications.settings import NotificationsSettings
from shared.db import make_sessionmaker
from shared.logging import get_logger
from shared.metrics import DELIVERY_SEND_DURATION
from shared.tracing import context_of, span
from shared.uow import UnitOfWork, utcnow

log = get_logger("notifications.delivery")
DIGEST_IDS = uuid.UUID("5b0e4f3c-9a1d-4c55-8d2e-6f7a8b9c0d1e")  # the namespace of digests' ids (uuid5)


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


@dataclass(frozen=True)
class Written:
    """One send's outcome as the journal keeps it, and as it is held while the database is away:
    enough to write it later, by delivery id and the attempt count it was sent at."""

    sent: list[tuple[str, int]]  # (delivery id, attempts before this one)
    outcome: Outcome
    started: datetime
    finished: datetime
    digest_id: str | None

    def entry(self) -> dict[str, Any]:
        o = self.outcome
        return {"sent": self.sent, "outcome": [o.outcome, o.status_code, o.error, o.permanent, o.retry_after],
                "started": self.started.isoformat(), "finished": self.finished.isoformat(),
                "digest_id": self.digest_id}

    @classmethod
    def of(cls, entry: dict[str, Any]) -> Written:
        return cls([(i, n) for i, n in entry["sent"]], Outcome(*entry["outcome"]),
                   datetime.fromisoformat(entry["started"]), datetime.fromisoformat(entry["finished"]),
                   entry["digest_id"])


class DeliveryWorker:
    def __init__(self, settings: NotificationsSettings, engine: AsyncEngine, uow: Callable[[], UnitOfWork],
                 channels: Registry, directory: Directory,
                 release: Callable[[], Awaitable[None]] | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """`engine`: claims are made on it (its own, so sending never waits behind HTTP requests
        for a pooled connection; disposed on stop); `uow`: outcomes are written in one;
        `channels`: the sender of each channel kind; `release`: closes what the senders hold;
        `clock`: now (tests move it)."""
        self.settings = settings
        self.clock = clock
        self.breakers = Breakers(settings.breaker_failures, settings.breaker_cooldown_seconds, clock)
        self.journal = Journal(settings.delivery_journal_dir) if settings.delivery_journal_dir else None
        self._replayed = self.journal is None
        self._held: list[Written] = []  # outcomes the database would not take yet (oldest first)
        self._failures = 0  # rounds failed in a row (the database away): the loop backs off
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
        if self._held:
            try:
                await self._write_held()
            except Exception:  # the database still away: the journal (if any) has them for the next start
                log.exception("held delivery outcomes not written at shutdown", held=len(self._held),
                              journal=str(self.journal.path) if self.journal else None)
        if self.release is not None:
            await self.release()
        await self.engine.dispose()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                started, _ = await self._start_round()
                self._failures = 0
            except Exception:  # logged with its traceback; the next round tries again, backing off
                self._failures += 1
                log.exception("delivery round failed", failures=self._failures, held=len(self._held))
                started = 0
            if started == 0 and not self._stopping:
                wait = self.settings.delivery_poll_seconds
                if self._failures:  # the database away: capped exponential back-off with jitter
                    wait = random.uniform(0.5, 1.0) * min(10.0, wait * 2 ** min(self._failures - 1, 10))
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
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
        # Outcomes first: a delivery whose outcome is journaled or held is written, never sent again.
        if not self._replayed:
            await self._replay()
        await self._write_held()
        now = now or self.clock()
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
        started = self.clock()
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
        started = self.clock()
        notice, recipient, channel = context.of(rows[0])
        # The digest's id (its Message-ID / Idempotency-Key) follows from the deliveries it carries:
        # the same digest sent again is recognisably the same message.
        digest = str(uuid.uuid5(DIGEST_IDS, ",".join(sorted(r.id for r in rows))))
        if recipient is None or channel is None or not channel.address:
            outcome = Outcome("skipped", error="the recipient or channel was removed, or has no address")
        else:
            notices = [context.notices[r.event_id] for r in rows]
            message = rendering.render_digest(
                [(n.event_type, n.data, context.related.get(n.topic)) for n in notices], recipient.language,
                recipient.name, now.astimezone(ZoneInfo(recipient.timezone)).date())
            outcome = await self._send(channel, channel.address, rows[0], notices[0], message, digest_of=len(rows),
                                       message_id=digest)
        await self._record(rows, context, outcome, started, digest_id=digest)

    async def _send(self, channel: Channel, address: str, row: Any, notice: Notice, message: rendering.Message,
                    digest_of: int = 0, message_id: str | None = None) -> Outcome:
        sender = self.channels.get(channel.kind)
        if sender is None:
            return Outcome("skipped", error=f"no {channel.kind} sender in this deployment")
        endpoint = self._endpoint(channel.kind, address)
        postpone = self.breakers.admit(endpoint)
        if postpone is not None:  # the receiver is out: not attempted, not failed
            return Outcome("deferred", error="circuit open", retry_after=postpone)
        target = Target(kind=channel.kind, address=address, signing_secret=channel.signing_secret,
                        delivery_id=message_id or row.id, event_id=notice.event_id,
                        event_type="notifications.digest" if digest_of else notice.event_type,
                        data={} if digest_of else notice.data)
        started = time.perf_counter()
        try:
            outcome = await sender.send(target, message)
        except BaseException:
            self.breakers.release(endpoint)
            raise
        finally:
            DELIVERY_SEND_DURATION.labels("notifications", channel.kind).observe(time.perf_counter() - started)
        if outcome.outcome in ("sent", "failed"):
            # The endpoint is up if it took the message, refused this one for good, or asked us to
            # slow down (429: its Retry-After is kept anyway).
            self.breakers.record(endpoint, ok=outcome.outcome == "sent" or outcome.permanent
                                 or outcome.status_code == 429)
        else:
            self.breakers.release(endpoint)
        return outcome

    def _endpoint(self, kind: str, address: str) -> str | None:
        """What fails together: a webhook URL's host, or the SMTP server (mail to files: nothing)."""
        if kind == "email":
            return f"smtp://{self.settings.smtp_host}:{self.settings.smtp_port}" if self.settings.smtp_host else None
        return urlsplit(address).netloc.lower() or None

    # -- outcomes -------------------------------------------------------------------------------

    async def _record(self, rows: list[Any], batch: Batch, outcome: Outcome, started: datetime,
                      digest_id: str | None = None) -> None:
        """Written right after the send: journaled first (when something went out), then committed;
        a commit that fails leaves the outcome held, to be written before the next claim."""
        written = Written([(r.id, r.attempts) for r in rows], outcome, started, self.clock(), digest_id)
        journaled = self.journal is not None and outcome.outcome in ("sent", "failed")
        if journaled:
            assert self.journal is not None
            await self.journal.append(written.entry())
        try:
            async with self.uow() as uow:
                await record_outcome(uow, rows, batch, outcome, started, self.settings, digest_id,
                                     finished=written.finished)
        except Exception:
            if outcome.outcome == "deferred":
                raise  # nothing was sent: the claim lapses and it is simply taken up again
            log.exception("delivery outcome not written: held, to be written again before any claim",
                          delivery_ids=[r.id for r in rows], outcome=outcome.outcome)
            self._held.append(written)
            return
        if journaled:
            assert self.journal is not None
            await self.journal.settle()

    async def _write(self, written: Written) -> None:
        """An outcome written late: only to the deliveries still at the attempt it was sent at."""
        rows = await unfinished(self.sessions, written.sent)
        if rows:
            batch = await batch_of(self.sessions, self.directory, rows)
            async with self.uow() as uow:
                await record_outcome(uow, rows, batch, written.outcome, written.started, self.settings,
                                     written.digest_id, finished=written.finished, replayed=True)

    async def _write_held(self) -> None:
        while self._held:
            await self._write(self._held[0])  # raises while the database is away: the loop backs off
            written = self._held.pop(0)
            log.info("held delivery outcome written", delivery_ids=[i for i, _ in written.sent],
                     outcome=written.outcome.outcome)
            if self.journal is not None:
                await self.journal.settle()

    async def _replay(self) -> None:
        """What the journal holds from a previous process, written before anything is claimed."""
        assert self.journal is not None
        entries = self.journal.entries()
        for entry in entries:
            try:
                written = Written.of(entry)
            except (KeyError, TypeError, ValueError):  # not ours to guess at: told, and left out
                log.exception("delivery journal: an entry not understood, left out", entry=entry)
                continue
            await self._write(written)
        if entries:
            log.info("delivery journal replayed", outcomes=len(entries), path=str(self.journal.path))
        await self.journal.clear()
        self._replayed = True
