"""The delivery worker: claims due deliveries, renders and sends them, and records every attempt.

A claim is an UPDATE that marks rows `sending` with a lease and a token (FOR UPDATE SKIP LOCKED
on PostgreSQL), so several replicas never take the same delivery; a worker that dies mid-send
leaves its claims to be taken over when the lease ends. Each outcome is written in its own
transaction right after its send, guarded by the token, so a finished send is never redone.
The one window left is a crash between a receiver accepting a message and that write: the
message then goes again, with the same Message-ID / Idempotency-Key so the receiver can tell."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from services.notifications import domain, rendering
from services.notifications.channels import Outcome, Registry, Target
from services.notifications.directory import Directory
from services.notifications.events import DeliveryFailedV1
from services.notifications.models import Channel, Delivery, DeliveryAttempt, Notice, Recipient
from services.notifications.settings import NotificationsSettings
from shared.db import make_sessionmaker, table_of
from shared.logging import get_logger
from shared.uow import UnitOfWork, utcnow

log = get_logger("notifications.delivery")

DELIVERY = table_of(Delivery)
SINGLE, DIGEST = ("pending", "sending"), ("digest", "sending-digest")  # (waiting, claimed)


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

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        pending = [t for t in (self._task, *self._sending) if t is not None]
        if pending:
            _, late = await asyncio.wait(pending, timeout=10)
            for task in late:
                task.cancel()  # a send hanging past its time-out; its claim lapses and is retaken
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
        singles = await self._claim(now, SINGLE, min(free, self.settings.delivery_batch))
        digests = await self._claim(now, DIGEST, 1000)
        if not singles and not digests:
            return 0, []
        context = await self._context(singles + digests)
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

    async def _claim(self, now: datetime, states: tuple[str, str], limit: int) -> list[Any]:
        waiting, claimed = states
        token = str(uuid.uuid4())
        due = (select(DELIVERY.c.id).where(or_(
            and_(DELIVERY.c.status == waiting, DELIVERY.c.due_at <= now),
            and_(DELIVERY.c.status == claimed, DELIVERY.c.lease_until < now)))
            .order_by(DELIVERY.c.due_at).limit(limit).with_for_update(skip_locked=True))
        async with self.engine.begin() as connection:
            rows = (await connection.execute(
                update(DELIVERY).where(DELIVERY.c.id.in_(due.scalar_subquery())).values(
                    status=claimed, claim_token=token,
                    lease_until=now + timedelta(seconds=self.settings.delivery_lease_seconds))
                .returning(*DELIVERY.c))).all()
        return sorted(rows, key=lambda r: r.due_at)

    async def _context(self, rows: list[Any]) -> Context:
        """The notices the claimed deliveries carry (and what resolutions resolve), read together;
        recipients and channels from the directory snapshot."""
        async with self.sessions() as session:
            book = await self.directory.current(await session.connection())
            notices = {n.event_id: n for n in (await session.exec(select(Notice).where(
                col(Notice.event_id).in_({r.event_id for r in rows})))).all()}
            topics = {n.topic for n in notices.values() if n.topic and n.event_type.endswith(".resolved.v1")}
            related = {}
            if topics:
                for n in (await session.exec(select(Notice).where(col(Notice.topic).in_(topics)).order_by(
                        col(Notice.received_at)))).all():
                    if n.event_type.endswith(".detected.v1"):
                        related[n.topic] = n.data
        return Context(notices, book.recipients, book.channel_by_id, related)

    # -- sending --------------------------------------------------------------------------------

    async def _send_one(self, row: Any, context: Context) -> None:
        started = utcnow()
        notice, recipient, channel = context.of(row)
        if recipient is None or channel is None or not channel.address:
            outcome = Outcome("skipped", error="the recipient or channel was removed, or has no address")
        else:
            message = context.message(notice, recipient.language)
            outcome = await self._send(channel, channel.address, row, notice, message)
        await self._record([row], context, outcome, started)

    async def _send_digest(self, rows: list[Any], context: Context, now: datetime) -> None:
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
        return await sender.send(target, message)

    async def _record(self, rows: list[Any], context: Context, outcome: Outcome, started: datetime,
                      digest_id: str | None = None) -> None:
        """The outcome of one send for the deliveries it carried, each guarded by its claim."""
        finished = utcnow()
        async with self.uow() as uow:
            connection = await uow.session.connection()
            for row in rows:
                if outcome.outcome == "deferred":  # not an attempt: back in line for its slot
                    await connection.execute(update(DELIVERY).where(
                        DELIVERY.c.id == row.id, DELIVERY.c.claim_token == row.claim_token).values(
                        status=DIGEST[0] if row.status == DIGEST[1] else SINGLE[0], lease_until=None,
                        claim_token=None, due_at=finished + timedelta(seconds=outcome.retry_after or 0)))
                    continue
                attempts = row.attempts + 1
                values: dict[str, Any] = dict(attempts=attempts, lease_until=None, claim_token=None,
                                              last_error=outcome.error)
                if outcome.outcome == "sent":
                    values.update(status="sent", sent_at=finished, held_reason=None, digest_id=digest_id)
                elif outcome.outcome == "skipped":
                    values.update(status="skipped")
                elif outcome.permanent or attempts >= row.attempt_limit:
                    values.update(status="dead")
                else:
                    waiting = DIGEST[0] if row.status == DIGEST[1] else SINGLE[0]
                    values.update(status=waiting, due_at=finished + timedelta(
                        seconds=domain.backoff(attempts, retry_after=outcome.retry_after,
                                               base=self.settings.retry_base_seconds)))
                result = await connection.execute(update(DELIVERY).where(
                    DELIVERY.c.id == row.id, DELIVERY.c.claim_token == row.claim_token).values(values))
                if result.rowcount == 0:
                    log.warning("delivery claim lost before its outcome was written", delivery_id=row.id)
                    continue
                await connection.execute(insert(table_of(DeliveryAttempt)).values(
                    delivery_id=row.id, number=attempts, started_at=started, finished_at=finished,
                    outcome=outcome.outcome, status_code=outcome.status_code, error=outcome.error))
                log.info("delivery attempt", delivery_id=row.id, event_id=row.event_id, recipient=row.recipient_id,
                         channel=row.channel_kind, outcome=outcome.outcome, status=values["status"],
                         status_code=outcome.status_code, error=outcome.error)
                if values["status"] == "dead":
                    uow.publish(DeliveryFailedV1(
                        delivery_id=row.id, event_id=row.event_id, event_type=context.notices[row.event_id].event_type,
                        recipient=row.recipient_id, channel=row.channel_kind,
                        reason=outcome.error or "failed", attempts=attempts, failed_at=finished),
                        subject=f"deliveries/{row.id}")
            await uow.commit()


class Context:
    """What sending needs besides the delivery rows: notices by event id, recipients and channels
    by id, and what each resolution resolves (by topic)."""

    def __init__(self, notices: dict, recipients: dict, channels: dict, related: dict) -> None:
        self.notices, self.recipients, self.channels, self.related = notices, recipients, channels, related

    def of(self, row: Any) -> tuple[Notice, Recipient | None, Channel | None]:
        return self.notices[row.event_id], self.recipients.get(row.recipient_id), self.channels.get(row.channel_id)

    def message(self, notice: Notice, language: str) -> rendering.Message:
        """Rendered once per event and language, however many recipients read it."""
        return rendering.recent.render(notice.event_id, notice.event_type, notice.data, language,
                                       self.related.get(notice.topic))
