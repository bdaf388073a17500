"""A person's data across the services: one admin request, every service's answer, one result.

An admin asks one service (`POST /<svc>/admin/subjects/requests`) for everything about a person, or
for their erasure. That service records the request and says `privacy.subject.requested.v1`; every
service (itself included) answers from its own data (shared/subjects.py) with
`privacy.subject.answered.v1`, and the asking service's job (`SubjectRequests`) collects the answers:
once every service in `SUBJECT_SERVICES` has answered, the request is complete and its result is one
JSON document. A service that is down is waited for: the request stays pending, naming it.

An export is one step. An erasure is two: `find` asks each service for the names it knows the person
by (a trip's traveller, a partnership's contact), then `erase` tells every service the email and all
those names, so free text anywhere that quotes the person by name is scrubbed too. Erasure answers
carry only counts; what the request held about the person (email, names, the answers of `find`) is
dropped when it completes, and the dead-letter queues are scrubbed of them before that.

The events are the platform's, like the routes beside each service's own: every service with
personal data (`ServiceSpec.subject`) publishes and reads them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, insert, select, update

from shared.consumer import Subscriptions
from shared.db import as_utc
from shared.envelope import Envelope, EventRegistry
from shared.listing import Keyset, Page
from shared.logging import get_logger
from shared.scheduled import Periodic
from shared.subjects import Erased, SubjectRights, erase_here, scrub_platform_rows, scrubbed_json
from shared.tables import subject_answer, subject_request
from shared.uow import UnitOfWork, utcnow

if TYPE_CHECKING:
    from shared.runtime import ServiceRuntime

log = get_logger("shared.subject_requests")

Kind = Literal["export", "erase"]
Step = Literal["export", "find", "erase"]
FIRST_STEP: Mapping[str, Step] = {"export": "export", "erase": "find"}

EVENTS = EventRegistry()

_EMAIL = "anna.weber@city.example"
_REQUEST = "0b6a8f1e-3c2d-4e5f-8a9b-1c2d3e4f5a6b"


@EVENTS.event("privacy.subject.requested.v1")
class SubjectRequestedV1(BaseModel):
    """An admin asked for a person's data, or its erasure: every service answers from its own data."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"request_id": _REQUEST, "requested_by": "travel", "step": "find", "email": _EMAIL, "names": []},
        {"request_id": _REQUEST, "requested_by": "travel", "step": "erase", "email": _EMAIL,
         "names": ["Anna Weber"]}]})
    request_id: str = Field(description="the request, in the database of the service that collects the answers")
    requested_by: str = Field(description="the service that collects the answers")
    step: Step = Field(description="`export`: every record; `find`: only the names the person goes by; "
                                   "`erase`: delete or anonymise, and answer with counts")
    email: str
    names: list[str] = Field(default_factory=list, description="the names the person goes by (erase)")


@EVENTS.event("privacy.subject.answered.v1")
class SubjectAnsweredV1(BaseModel):
    """One service's answer to a request for a person's data: what it holds, or what it erased."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"request_id": _REQUEST, "requested_by": "travel", "service": "grants", "step": "erase",
         "records": {}, "names": [], "erased": {"applications": 1, "events in the outbox": 2}}]})
    request_id: str
    requested_by: str
    service: str
    step: Step
    records: dict[str, list[dict[str, Any]]] = Field(default_factory=dict, description="export: by kind")
    names: list[str] = Field(default_factory=list, description="export and find: the names it knows them by")
    erased: dict[str, int] = Field(default_factory=dict, description="erase: rows changed, by kind")


def masked_email(email: str) -> str:
    """How a request names its person once it is done: `a***@city.example`."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def subscriptions(service: str, rights: SubjectRights) -> Subscriptions:
    """What every service with personal data does with the platform's privacy events."""
    subs = Subscriptions(EVENTS)

    @subs.on("privacy.subject.requested.v1")
    async def answer(event: SubjectRequestedV1, _envelope: Envelope, uow: UnitOfWork, _context: object) -> None:
        reply = SubjectAnsweredV1(request_id=event.request_id, requested_by=event.requested_by, service=service,
                                  step=event.step)
        if event.step == "erase":
            erased, _ = await erase_here(uow, rights, event.email, set(event.names))
            reply.erased = erased.changed
        else:
            found = await rights.export(uow, event.email)
            reply.names = sorted(found.names)
            if event.step == "export":
                reply.records = found.records
        uow.publish(reply, subject=event.request_id)

    @subs.on("privacy.subject.answered.v1")
    async def collect(event: SubjectAnsweredV1, _envelope: Envelope, uow: UnitOfWork, _context: object) -> None:
        if event.requested_by != service:
            return  # another service's request: its job collects the answers
        connection = await uow.session.connection()
        asked = (await connection.execute(select(subject_request.c.step).where(
            subject_request.c.id == event.request_id))).scalar_one_or_none()
        if asked != event.step:
            return  # forgotten (retention), or an answer to a step the request has left: it is not needed
        known = (await connection.execute(select(subject_answer.c.service).where(
            subject_answer.c.request_id == event.request_id, subject_answer.c.service == event.service,
            subject_answer.c.step == event.step))).first()
        if known is None:
            await connection.execute(insert(subject_answer).values(
                request_id=event.request_id, service=event.service, step=event.step, answered_at=utcnow(),
                answer=json.dumps(event.model_dump(include={"records", "names", "erased"}), separators=(",", ":"))))

    return subs


async def request(uow: UnitOfWork, service: str, kind: Kind, email: str, names: list[str], requested_by: str) -> str:
    """Record the request and say its first step; returns its id."""
    request_id = str(uuid.uuid4())
    step = FIRST_STEP[kind]
    connection = await uow.session.connection()
    await connection.execute(insert(subject_request).values(
        id=request_id, kind=kind, step=step, status="pending", email=email, names=json.dumps(names),
        subject=masked_email(email), requested_by=requested_by, requested_at=utcnow()))
    uow.audit("subject_request", request_id, "requested", None, {"kind": kind, "subject": masked_email(email)})
    uow.publish(SubjectRequestedV1(request_id=request_id, requested_by=service, step=step, email=email, names=names),
                subject=request_id)
    return request_id


class Status(BaseModel):
    id: str
    kind: Kind
    status: Literal["pending", "complete"]
    subject: str = Field(description="the person's email, masked")
    requested_by: str = Field(description="who asked (a role and a key's label or a signed-in user)")
    requested_at: datetime
    completed_at: datetime | None
    answered: list[str] = Field(description="the services that answered the current step")
    waiting_for: list[str] = Field(description="the services whose answer is still missing")
    result: dict[str, Any] | None = Field(
        description="once complete, each service's answer: `records` and `names` (export), `erased` (erase)")


NEWEST_FIRST = Keyset((subject_request.c.requested_at, subject_request.c.id))


async def status(uow: UnitOfWork, request_id: str, expected: list[str]) -> Status | None:
    connection = await uow.session.connection()
    row = (await connection.execute(select(subject_request).where(subject_request.c.id == request_id))).first()
    return None if row is None else await _status(connection, row, expected)


async def recent(uow: UnitOfWork, expected: list[str], limit: int, cursor: str | None) -> Page[Status]:
    """The requests asked of this service, newest first, without their results (each on its own page)."""
    connection = await uow.session.connection()
    rows = (await connection.execute(NEWEST_FIRST.page(select(subject_request), cursor, limit))).all()
    found = [(await _status(connection, row, expected)).model_copy(update={"result": None}) for row in rows]
    return Page(found, NEWEST_FIRST.next_cursor(rows, limit))


async def _status(connection: Any, row: Any, expected: list[str]) -> Status:
    request_id = row.id
    answered = sorted((await connection.execute(select(subject_answer.c.service).where(
        subject_answer.c.request_id == request_id, subject_answer.c.step == row.step))).scalars())
    done = row.status == "complete"
    return Status(id=row.id, kind=row.kind, status=row.status, subject=row.subject, requested_by=row.requested_by,
                  requested_at=as_utc(row.requested_at), completed_at=row.completed_at and as_utc(row.completed_at),
                  answered=sorted(json.loads(row.result)) if done else answered,
                  waiting_for=[] if done else sorted(set(expected) - set(answered)),
                  result=json.loads(row.result) if done else None)


class SubjectRequests(Periodic):
    """Collects the answers to this service's pending requests: moves an erasure from `find` to `erase`
    once every service has said the names it knows, and completes a request once every service has
    answered its last step. Woken by each answer the consumer commits; runs every interval besides."""

    name = "subject_requests"
    interval_setting = "subject_requests_interval_seconds"

    def __init__(self, runtime: ServiceRuntime) -> None:
        super().__init__(runtime)
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def _pause(self) -> None:
        woken = asyncio.create_task(self._woken.wait())
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait([woken, stopping], timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            stopping.cancel()
        self._woken.clear()

    async def run(self, runtime: ServiceRuntime) -> int:
        expected = set(runtime.settings.subject_services)
        async with runtime.reads() as uow:
            connection = await uow.session.connection()
            pending = (await connection.execute(select(subject_request.c.id, subject_request.c.step).where(
                subject_request.c.status == "pending").order_by(subject_request.c.requested_at))).all()
            answers = {}
            for request_id, step in pending:
                answers[request_id] = {service: json.loads(text) for service, text in (await connection.execute(
                    select(subject_answer.c.service, subject_answer.c.answer).where(
                        subject_answer.c.request_id == request_id, subject_answer.c.step == step))).all()}
        said = 0
        for request_id, step in pending:
            got = answers[request_id]
            if not expected <= set(got):
                continue
            scrubbed = await self._scrub_dead_letters(runtime, request_id) if step == "erase" else {}
            async with runtime.uow() as uow:
                said += await _advance(uow, runtime.name, request_id, step, got, scrubbed)
                await uow.commit()
        return said

    async def _scrub_dead_letters(self, runtime: ServiceRuntime, request_id: str) -> dict[str, int]:
        """Before the request forgets the person: every service's dead letters, scrubbed of them (a
        letter that failed before the erasure must not bring them back when it is re-driven)."""
        async with runtime.reads() as uow:
            connection = await uow.session.connection()
            row = (await connection.execute(select(subject_request.c.email, subject_request.c.names).where(
                subject_request.c.id == request_id))).one()
        needles = [row.email, *json.loads(row.names)]
        return {service: await runtime.bus.scrub_dead_letters(f"{runtime.settings.queue_prefix}{service}",
                                                              lambda value: scrubbed_json(value, needles))
                for service in runtime.settings.subject_services}


async def _advance(uow: UnitOfWork, service: str, request_id: str, step: str, got: dict[str, Any],
                   scrubbed: dict[str, int]) -> int:
    """The request moved on, if no other replica's job is moving it: returns the events it said."""
    connection = await uow.session.connection()
    row = (await connection.execute(select(subject_request).where(
        subject_request.c.id == request_id, subject_request.c.status == "pending",
        subject_request.c.step == step).with_for_update(skip_locked=True))).first()
    if row is None:
        return 0  # another replica's job moved it on
    if step == "find":
        names = sorted({*json.loads(row.names), *(n for answer in got.values() for n in answer["names"])})
        await connection.execute(update(subject_request).where(subject_request.c.id == request_id).values(
            step="erase", names=json.dumps(names)))
        uow.publish(SubjectRequestedV1(request_id=request_id, requested_by=service, step="erase", email=row.email,
                                       names=names), subject=request_id)
        return 1  # the erase step, asked of every service
    if step == "export":
        result = {svc: {"records": answer["records"], "names": answer["names"]} for svc, answer in got.items()}
        values: dict[str, Any] = {}
    else:
        dead = {svc: {"dead letters": count} for svc, count in scrubbed.items() if count}
        result = {svc: {"erased": {**answer["erased"], **dead.get(svc, {})}} for svc, answer in got.items()}
        # The person's email and names are forgotten here too: in this request, in this service's
        # outbox (the events that asked) and in its audit trail.
        values = {"email": None, "names": None}
        await scrub_platform_rows(uow, [row.email, *json.loads(row.names)], Erased())
    await connection.execute(update(subject_request).where(subject_request.c.id == request_id).values(
        status="complete", completed_at=utcnow(), result=json.dumps(result, separators=(",", ":")), **values))
    await connection.execute(delete(subject_answer).where(subject_answer.c.request_id == request_id))
    uow.audit("subject_request", request_id, "completed", None, {
        "kind": row.kind, "services": sorted(got),
        **({"erased": {svc: sum(a["erased"].values()) for svc, a in got.items()}} if row.kind == "erase" else {})})
    log.info("a person's data request completed", request_id=request_id, kind=row.kind, services=sorted(got))
    return 0

