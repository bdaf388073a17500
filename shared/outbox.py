"""Outbox relay: publishes committed outbox rows until the broker confirms them.

Woken right after a commit that wrote events; polls as a fallback (other replicas' commits,
rows left by a crash). Several relays can run: on PostgreSQL each claims rows with
`FOR UPDATE SKIP LOCKED` and keeps the lock until its publish is confirmed and recorded.
For the same reason one relay runs two lanes on PostgreSQL: one claims and publishes while the
other waits for the broker's confirms (SQLite has one writer at a time, so one lane).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, timedelta
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import Row, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import ReturningUpdate

from shared.bus.base import Bus
from shared.db import is_postgres
from shared.envelope import Envelope
from shared.logging import get_logger
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from shared.outages import is_unreachable
from shared.tables import outbox
from shared.tracing import context_of, start_span, traceparent_of
from shared.uow import utcnow

log = get_logger("shared.outbox")

RETENTION = timedelta(days=7)
PRUNE_EVERY_SECONDS = 3600.0
MAX_BACKOFF_SECONDS = 30.0
PROBE_SECONDS = 0.5  # while backing off, how often the relay asks whether the broker and database answer
PROBE_TIMEOUT_SECONDS = 2.0


class OutboxRelay:
    def __init__(self, service: str, engine: AsyncEngine, bus: Bus, *, batch: int = 500,
                 poll_seconds: float = 1.0, lanes: int | None = None) -> None:
        self.service = service
        self.engine = engine
        self.bus = bus
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.lanes = lanes or (2 if is_postgres(engine) else 1)
        # A wake-up goes to one idle lane; with none idle it is remembered for the next lane that
        # finishes. (Waking every lane would make all but one claim nothing, at a cost each.)
        self._idle: list[asyncio.Future[None]] = []
        self._woken = False
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._last_prune = 0.0
        self._claim = _claim(batch, is_postgres(engine))

    def wake(self) -> None:
        while self._idle:
            lane = self._idle.pop()
            if not lane.done():
                lane.set_result(None)
                return
        self._woken = True

    async def _sleep(self) -> None:
        """Until woken, or the poll interval passes."""
        if self._woken or self._stopping:
            return
        lane = asyncio.get_running_loop().create_future()
        self._idle.append(lane)
        try:
            await asyncio.wait_for(lane, timeout=self.poll_seconds)
        except TimeoutError:
            pass  # the poll tick: look again
        finally:
            if lane in self._idle:
                self._idle.remove(lane)

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(lane), name=f"outbox-relay:{self.service}:{lane}")
                           for lane in range(self.lanes)]

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Let each lane finish the batch in hand, then end. Cancelling alone is not enough: the
        database driver can turn a cancellation into an ordinary error, which a lane retries."""
        tasks, self._tasks = self._tasks, []
        self._stopping = True
        for lane in self._idle:
            if not lane.done():
                lane.set_result(None)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)  # they end with CancelledError
        self._stopping = False

    async def _run(self, lane: int) -> None:
        backoff = 0.1
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._woken = False  # every reset is followed by a claim, so no wake-up is lost
            try:
                published = await self.publish_pending()
                backoff = 0.1
                if lane == 0 and loop.time() - self._last_prune > PRUNE_EVERY_SECONDS:
                    await self.prune()
                    self._last_prune = loop.time()
            except Exception as exc:
                if self._stopping:
                    return  # the batch is rolled back and stays pending for the next start
                log.exception("outbox relay could not publish; will retry", service=self.service,
                              retry_in_seconds=backoff)
                if await self._back_off(backoff, outage=is_unreachable(exc)):
                    backoff = 0.1  # the broker or database is back: no reason left to wait
                else:
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if published >= self.batch:
                continue  # more are waiting
            await self._sleep()

    async def _back_off(self, seconds: float, *, outage: bool) -> bool:
        """Wait up to `seconds` before the next try, looking every PROBE_SECONDS whether the broker
        and the database answer: once one of them was seen away and both are back, stop waiting
        (True). Sleeping blind, a doubled back-off would hold alerts up to 30 s after a broker's return."""
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0 and not self._stopping:
            await asyncio.sleep(min(PROBE_SECONDS, left))
            if await self._reachable():
                if outage:
                    return True
            else:
                outage = True
        return False

    async def _reachable(self) -> bool:
        if not await self.bus.is_ready():
            return False
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), self.engine.connect() as conn:
                await conn.execute(select(1))
        except Exception as exc:  # the probe's question is only whether it answers
            if not is_unreachable(exc):
                log.exception("outbox relay's probe of the database failed", service=self.service)
            return False
        return True

    async def publish_pending(self) -> int:
        """Claim, publish and mark one batch; returns how many were published.

        The claim is an UPDATE inside the transaction that lasts until the broker confirmed, so
        another relay cannot take the same rows: on PostgreSQL it skips the locked rows, on
        SQLite it waits for the write lock and then finds them published. A failed publish rolls
        the marks back and the rows are pending again.
        """
        async with self.engine.begin() as conn:
            rows = sorted((await conn.execute(self._claim, {"claimed_at": utcnow()})).all(), key=lambda row: row.seq)
            if not rows:
                return 0
            # One PRODUCER span per event, child of the context it was written in; the event
            # carries the span on, so its consumers are children of this publish.
            spans = [start_span(f"publish {row.type}", self.service, kind=SpanKind.PRODUCER,
                                parent=context_of(row.traceparent, row.tracestate),
                                attributes={"messaging.system": "rabbitmq", "messaging.message.id": row.event_id})
                     for row in rows]
            envelopes = [_envelope(row, *traceparent_of(span)) for row, span in zip(rows, spans, strict=True)]
            try:
                await self.bus.publish(envelopes)
            except Exception as exc:
                for span in spans:
                    span.record_exception(exc)
                    span.set_status(StatusCode.ERROR)
                raise
            finally:
                for span in spans:
                    span.end()
        for envelope, span in zip(envelopes, spans, strict=True):
            EVENTS_PUBLISHED.labels(self.service, envelope.type).inc()
            # One line per event, confirmed and recorded: where a trace crosses to its consumers.
            context = span.get_span_context()
            log.info("event published", service=self.service, event_id=envelope.id, event_type=envelope.type,
                     correlation_id=envelope.correlation_id, trace_id=format(context.trace_id, "032x"),
                     span_id=format(context.span_id, "016x"))
        return len(rows)

    async def drain(self) -> int:
        """Publish everything pending now; returns how many this relay published."""
        total = 0
        while published := await self.publish_pending():
            total += published
        return total

    async def refresh_gauges(self) -> None:
        """The backlog and the age of its oldest row, in one query (the pending rows are indexed)."""
        pending = outbox.c.published_at.is_(None)
        async with self.engine.connect() as conn:
            count, oldest = (await conn.execute(
                select(func.count(), func.min(outbox.c.occurred_at)).select_from(outbox).where(pending))).one()
        OUTBOX_BACKLOG.labels(self.service).set(count or 0)
        if oldest is not None and oldest.tzinfo is None:  # SQLite drops the offset; we only ever store UTC
            oldest = oldest.replace(tzinfo=UTC)
        OUTBOX_OLDEST_AGE.labels(self.service).set(
            max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0)

    async def prune(self) -> int:
        """Forget rows published longer ago than the retention (consumers dedupe on their own inbox)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(outbox).where(outbox.c.published_at < utcnow() - RETENTION))
        return result.rowcount


def _claim(batch: int, postgres: bool) -> ReturningUpdate[*tuple[Any, ...]]:
    """The oldest pending rows, at most `batch`, marked published (built once per relay: it runs
    after every commit)."""
    pending = select(outbox.c.seq).where(outbox.c.published_at.is_(None)).order_by(outbox.c.seq).limit(batch)
    if postgres:
        pending = pending.with_for_update(skip_locked=True)
    return (update(outbox).where(outbox.c.seq.in_(pending.scalar_subquery()))
            .values(published_at=bindparam("claimed_at")).returning(*outbox.c))


def _envelope(row: Row[*tuple[Any, ...]], traceparent: str | None, tracestate: str | None) -> Envelope:
    occurred = row.occurred_at
    if occurred.tzinfo is None:  # SQLite drops the offset; we only ever store UTC
        occurred = occurred.replace(tzinfo=UTC)
    return Envelope(
        type=row.type,
        source=row.source,
        data=json.loads(row.payload),
        body=row.payload.encode(),
        subject=row.subject,
        id=row.event_id,
        time=occurred,
        correlation_id=row.correlation_id,
        traceparent=traceparent,
        tracestate=tracestate,
    )
