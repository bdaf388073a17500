"""Grants' use cases, each inside one unit of work (state change + events commit together)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlmodel import col, select

from services.grants import domain
from services.grants.events import (
    AffectedApplicationV1,
    ApplicationStageChangedV1,
    CallChangeV1,
    CallPublishedV1,
    CallRefV1,
    CallUpdatedV1,
    DeadlineApproachingV1,
    DeadlineV1,
    OwnerV1,
)
from services.grants.models import Application, Call, CallVersion, Reminder, StageChange
from services.grants.portal import PortalCall, Skipped
from shared.bounds import clamped
from shared.db import insert_new
from shared.places import Gazetteer, Place, resolve_field
from shared.problems import FieldError, Problem
from shared.uow import UnitOfWork, utcnow


@dataclass(frozen=True)
class GrantsContext:
    places: Gazetteer
    home: Place  # the city applying
    city_themes: tuple[str, ...]


def context_for(settings) -> GrantsContext:
    return _context(settings.home_city, settings.home_country, settings.gazetteer_path, tuple(settings.city_themes))


@lru_cache
def _context(city: str, country: str, gazetteer_path, themes: tuple[str, ...]) -> GrantsContext:
    places = Gazetteer(gazetteer_path)
    return GrantsContext(places=places, home=places.resolve(city, country),
                         city_themes=tuple(t.lower() for t in themes))


# -- calls ----------------------------------------------------------------------------------------

def deadlines_of(call: Call) -> list[tuple[int, datetime]]:
    # Held within the API's bounds: one stored before them (at the calendar's edge) must not break
    # the arithmetic of every read and reminder that follows.
    return [(d["stage"], clamped(datetime.fromisoformat(d["at"])).astimezone(domain.BRUSSELS))
            for d in call.deadlines]


def deadline_of(application: Application, call: Call) -> tuple[int, datetime] | None:
    """The call's (stage, deadline) the application works towards: the first stage's, or the
    second's once invited to it."""
    return domain.stage_deadline(deadlines_of(call), application.call_stage)


def internal_deadline(application: Application, call: Call) -> datetime | None:
    """The application's own deadline: its buffer before the call's (none without a buffer)."""
    deadline = deadline_of(application, call)
    if deadline is None or application.internal_buffer_days <= 0:
        return None
    return domain.days_before(deadline[1], application.internal_buffer_days)


def invitable(application: Application, call: Call) -> bool:
    """Submitted to the first stage of a two-stage call: it may be invited to the second."""
    return application.call_stage == 1 and domain.stage_deadline(deadlines_of(call), 2) is not None


def status_of(call: Call, now: datetime) -> str:
    return domain.call_status(call.opens_at, [at for _, at in deadlines_of(call)], now)


def rules_of(call: Call) -> domain.Rules:
    return domain.Rules(call.min_applicants or 1, call.min_countries or 1, call.min_eu_members or 0,
                        call.rules_source or f"the call {call.identifier}")


def check_call(opens_at: datetime | None, deadlines: list[datetime], budget: float | None,
               grant_min: float | None, grant_max: float | None) -> None:
    """The rules a call's dates and amounts keep, naming the field that breaks one."""
    if not deadlines:
        raise FieldError("deadlines", "give at least one deadline")
    if len(deadlines) > 2:
        raise FieldError("deadlines", "a call has one stage or two")
    if len(deadlines) == 2 and deadlines[1] <= deadlines[0]:
        raise FieldError("deadlines[1]", "the second stage's deadline is not after the first's")
    if opens_at is not None and deadlines[0] <= opens_at:
        raise FieldError("deadlines[0]", "is before the opening date (opens_at)")
    if grant_min is not None and grant_max is not None and grant_max < grant_min:
        raise FieldError("grant_max", "is below grant_min")
    if budget is not None and grant_max is not None and grant_max > budget:
        raise FieldError("grant_max", "is above the call's budget")


def _stored(deadlines: list[datetime]) -> list[dict]:
    return [{"stage": n, "at": at.astimezone(domain.BRUSSELS).isoformat()} for n, at in enumerate(deadlines, 1)]


def _call_ref(call: Call) -> dict[str, Any]:
    return dict(call_id=call.id, identifier=call.identifier, programme=call.programme, title=call.title,
                url=call.url, deadlines=[DeadlineV1(stage=s, at=at) for s, at in deadlines_of(call)])


def matched_themes(ctx: GrantsContext, call: Call) -> list[str]:
    """The city's themes a call speaks of, in its keywords, title or topic."""
    text = " ".join([*call.themes, call.title, call.topic or ""]).lower().replace("-", " ")
    return [theme for theme in ctx.city_themes if theme in text]


async def create_call(uow: UnitOfWork, ctx: GrantsContext, data: dict[str, Any], source: str = "manual") -> Call:
    """`data`: the validated call fields, `deadlines` as aware datetimes in stage order."""
    check_call(data.get("opens_at"), data["deadlines"], data.get("budget"), data.get("grant_min"),
               data.get("grant_max"))
    if await call_by_identifier(uow, data["identifier"]) is not None:
        raise FieldError("identifier", f"a call {data['identifier']} exists already", status=409)
    return _add_call(uow, ctx, data, source)


def _add_call(uow: UnitOfWork, ctx: GrantsContext, data: dict[str, Any], source: str) -> Call:
    call, announcement = _new_call(ctx, data, source)
    _record(uow, call, announcement)
    return call


def _new_call(ctx: GrantsContext, data: dict[str, Any], source: str) -> tuple[Call, CallPublishedV1 | None]:
    """The call and, when it speaks of the city's themes, its announcement (no session needed:
    an import makes these in a worker thread)."""
    now = utcnow()
    rules = domain.known_rules(data["identifier"])
    fields = {k: v for k, v in data.items() if k in _CALL_FIELDS}
    if rules is not None:
        fields = {"min_applicants": rules.min_applicants, "min_countries": rules.min_countries,
                  "min_eu_members": rules.min_eu_members, "rules_source": rules.source, **fields}
    call = Call(**fields, deadlines=_stored(data["deadlines"]), source=source, created_at=now, updated_at=now)
    themes = matched_themes(ctx, call)
    if not themes:
        return call, None
    return call, CallPublishedV1(**_call_ref(call), topic=call.topic, opens_at=call.opens_at,
                                 status=status_of(call, now), budget=call.budget, grant_min=call.grant_min,
                                 grant_max=call.grant_max, themes=call.themes, matched_themes=themes,
                                 published_at=now)


def _record(uow: UnitOfWork, call: Call, announcement: CallPublishedV1 | None) -> None:
    uow.session.add(call)
    if announcement is not None:
        uow.publish(announcement, subject=f"calls/{call.id}")


_CALL_FIELDS = ("identifier", "programme", "title", "topic", "opens_at", "budget", "grant_min", "grant_max",
                "cofinancing_rate", "min_applicants", "min_countries", "min_eu_members", "rules_source", "themes",
                "url")


async def update_call(uow: UnitOfWork, call: Call, changes: dict[str, Any]) -> list[str]:
    """Changes a call and says which fields changed; a change of its deadlines, status or budget
    is a new version, said to the owners of the applications for it."""
    now = utcnow()
    before = {"deadlines": _deadline_text(call), "status": status_of(call, now), "budget": _amount_text(call.budget)}
    deadlines = changes.pop("deadlines", None)
    merged = {"opens_at": call.opens_at, "budget": call.budget, "grant_min": call.grant_min,
              "grant_max": call.grant_max, **{k: v for k, v in changes.items() if k in _CALL_FIELDS}}
    check_call(merged["opens_at"], deadlines or [at for _, at in deadlines_of(call)], merged["budget"],
               merged["grant_min"], merged["grant_max"])
    touched = []
    for name, value in changes.items():
        if name in _CALL_FIELDS and name != "identifier" and getattr(call, name) != value:
            setattr(call, name, value)
            touched.append(name)
    if deadlines is not None and _stored(deadlines) != call.deadlines:
        call.deadlines = _stored(deadlines)
        touched.append("deadlines")
    after = {"deadlines": _deadline_text(call), "status": status_of(call, now), "budget": _amount_text(call.budget)}
    changed = [CallChangeV1(field=name, before=before[name], after=after[name])
               for name in before if before[name] != after[name]]
    if not touched:
        return []
    call.updated_at = now
    if changed:
        call.version += 1
        uow.session.add(CallVersion(call_id=call.id, version=call.version,
                                    changes=[c.model_dump() for c in changed], recorded_at=now))
        applications = (await uow.session.exec(select(Application).where(
            Application.call_id == call.id, col(Application.stage).in_(domain.PREPARING + ("submitted",))))).all()
        uow.publish(CallUpdatedV1(**_call_ref(call), version=call.version, status=after["status"], changes=changed,
                                  applications=[AffectedApplicationV1(
                                      application_id=a.id, title=a.title, lead_department=a.lead_department,
                                      owner=OwnerV1(name=a.owner_name, email=a.owner_email), stage=a.stage)
                                      for a in applications], updated_at=now), subject=f"calls/{call.id}")
    return list(dict.fromkeys([c.field for c in changed] + touched))


def _deadline_text(call: Call) -> str:
    return "; ".join(f"{stage}: {at.astimezone(domain.BRUSSELS).isoformat()}" for stage, at in deadlines_of(call))


def _amount_text(amount: float | None) -> str | None:
    return None if amount is None else f"{amount:.2f}"


async def call_by_identifier(uow: UnitOfWork, identifier: str) -> Call | None:
    return (await uow.session.exec(select(Call).where(Call.identifier == identifier))).first()


async def load_call(uow: UnitOfWork, call_id: str) -> Call:
    call = await uow.session.get(Call, call_id)
    if call is None:
        raise Problem(404, f"call {call_id} not found")
    return call


@dataclass
class ImportedRow:
    line: int
    identifier: str | None
    status: str  # created, updated, unchanged, skipped
    call_id: str | None = None
    reason: str | None = None
    changes: list[str] = field(default_factory=list)


# Calls made ready in a worker thread, then added and flushed on the loop, per slice of an import.
IMPORT_SLICE = 10


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    report: list[ImportedRow] = field(default_factory=list)


async def import_calls(uow: UnitOfWork, ctx: GrantsContext, calls: list[tuple[int, PortalCall]],
                       skipped: list[Skipped]) -> ImportReport:
    """Upserts the portal's calls by identifier, in one transaction: all of it or none."""
    report, skipped = ImportReport(rows=len(calls) + len(skipped)), list(skipped)
    identifiers = [found.identifier for _, found in calls]
    known: dict[str, Call] = {}
    for offset in range(0, len(identifiers), 1000):  # the calls there already, in a few queries
        known.update((c.identifier, c) for c in (await uow.session.exec(
            select(Call).where(col(Call.identifier).in_(identifiers[offset:offset + 1000])))).all())
    for start in range(0, len(calls), IMPORT_SLICE):
        piece = calls[start:start + IMPORT_SLICE]
        # New calls are checked and made (the CPU part) in a worker thread; the session stays on
        # the loop, and each slice is flushed (awaited) before the next.
        fresh = await asyncio.to_thread(_new_calls, ctx, [found for _, found in piece if found.identifier not in known])
        for line, found in piece:
            existing = known.get(found.identifier)
            if existing is None:
                made = fresh[found.identifier]
                if isinstance(made, FieldError):  # a row the portal got wrong (a grant above the budget)
                    skipped.append(Skipped(line, found.identifier, f"{made.field}: {made.message}"))
                    continue
                _record(uow, *made)
                report.created += 1
                report.report.append(ImportedRow(line, found.identifier, "created", made[0].id))
                continue
            data = _call_data(found)
            data.pop("identifier")
            try:
                changed = await update_call(uow, existing, data)  # checks before it changes anything
            except FieldError as exc:
                skipped.append(Skipped(line, found.identifier, f"{exc.field}: {exc.message}"))
                continue
            if changed:
                report.updated += 1
                report.report.append(ImportedRow(line, found.identifier, "updated", existing.id, changes=changed))
            else:
                report.unchanged += 1
                report.report.append(ImportedRow(line, found.identifier, "unchanged", existing.id))
        await uow.session.flush()
        await uow.write_events()
    for skip in skipped:  # the parser's, and the rows refused above
        report.skipped += 1
        report.report.append(ImportedRow(skip.line, skip.identifier, "skipped", reason=skip.reason))
    report.report.sort(key=lambda r: r.line)
    await uow.commit()
    return report


_Made = tuple[Call, CallPublishedV1 | None]


def _call_data(found: PortalCall) -> dict[str, Any]:
    return dict(identifier=found.identifier, programme=found.programme, title=found.title, topic=found.topic,
                opens_at=found.opens_at, deadlines=found.deadlines, budget=found.budget,
                grant_min=found.grant_min, grant_max=found.grant_max, themes=found.themes, url=found.url)


def _new_calls(ctx: GrantsContext, found: list[PortalCall]) -> dict[str, _Made | FieldError]:
    """Each new call made, or why the portal's row is not taken (in a worker thread)."""
    made: dict[str, _Made | FieldError] = {}
    for call in found:
        time.sleep(0)  # the GIL back to the event loop now, not after the interpreter's 5 ms
        try:
            check_call(call.opens_at, call.deadlines, call.budget, call.grant_min, call.grant_max)
        except FieldError as exc:
            made[call.identifier] = exc
            continue
        made[call.identifier] = _new_call(ctx, _call_data(call), "portal")
    return made


# -- applications ---------------------------------------------------------------------------------

def resolve_consortium(ctx: GrantsContext, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each partner's city resolved offline (an unknown city or country is a 422 naming it)."""
    resolved = []
    for i, member in enumerate(members):
        place = resolve_field(ctx.places, member["city"], member["country"], member.get("place_id"),
                              lambda name, i=i: f"consortium[{i}].{name}")
        if place.id == ctx.home.id:
            raise FieldError(f"consortium[{i}].city", f"{place.name} is our own city: it is in every consortium")
        resolved.append({"name": member["name"], "city": place.name, "country": place.country, "place_id": place.id,
                         "role": member["role"], "partnership_id": member.get("partnership_id")})
    return resolved


def check_amount(call: Call, requested: float) -> None:
    if call.grant_max is not None and requested > call.grant_max:
        raise FieldError("requested_amount", f"is above the call's maximum grant of €{call.grant_max:,.0f}")


async def create_application(uow: UnitOfWork, ctx: GrantsContext, data: dict[str, Any]) -> Application:
    call = await uow.session.get(Call, data["call_id"])
    if call is None:
        raise FieldError("call_id", f"no call {data['call_id']}")
    check_amount(call, data["requested_amount"])
    now = utcnow()
    application = Application(
        call_id=call.id, lead_department=data["lead_department"], title=data["title"],
        owner_name=data["owner"]["name"], owner_email=str(data["owner"]["email"]),
        requested_amount=data["requested_amount"], cofinancing_amount=data.get("cofinancing_amount") or 0.0,
        city_role=data.get("city_role", "coordinator"), consortium=resolve_consortium(ctx, data.get("consortium", [])),
        notes=data.get("notes"), internal_buffer_days=data.get("internal_buffer_days",
                                                               domain.DEFAULT_INTERNAL_BUFFER_DAYS),
        created_at=now, updated_at=now)
    uow.session.add(application)
    await uow.commit()
    return application


_APPLICATION_FIELDS = ("title", "requested_amount", "cofinancing_amount", "city_role", "notes",
                       "internal_buffer_days")


async def update_application(uow: UnitOfWork, ctx: GrantsContext, application: Application,
                             changes: dict[str, Any]) -> Application:
    if application.stage not in domain.PREPARING and set(changes) - {"notes"}:
        raise Problem(409, f"an application in {application.stage} is no longer edited (notes only)")
    call = await uow.session.get(Call, application.call_id)
    if "requested_amount" in changes:
        check_amount(call, changes["requested_amount"])
    for name in _APPLICATION_FIELDS:
        if name in changes:
            setattr(application, name, changes[name])
    if "owner" in changes:
        application.owner_name, application.owner_email = changes["owner"]["name"], str(changes["owner"]["email"])
    if "consortium" in changes:
        application.consortium = resolve_consortium(ctx, changes["consortium"])
    application.updated_at = utcnow()
    await uow.commit()
    return application


async def load_application(uow: UnitOfWork, application_id: str) -> Application:
    application = await uow.session.get(Application, application_id)
    if application is None:
        raise Problem(404, f"application {application_id} not found")
    return application


def members_of(ctx: GrantsContext, application: Application) -> list[domain.Member]:
    """The consortium as the rules count it: our city and its partners."""
    ours = domain.Member(ctx.home.name, ctx.home.country, application.city_role)
    return [ours, *(domain.Member(m["name"], m["country"], m["role"]) for m in application.consortium)]


def _application_ref(application: Application, call: Call) -> dict[str, Any]:
    return dict(application_id=application.id, title=application.title, lead_department=application.lead_department,
                owner=OwnerV1(name=application.owner_name, email=application.owner_email),
                call=CallRefV1(**_call_ref(call)))


async def move_stage(uow: UnitOfWork, application: Application, target: str, reason: str | None,
                     awarded_amount: float | None, changed_by: str) -> Application:
    call = await uow.session.get(Call, application.call_id)
    try:
        domain.check_move(application.stage, target, reason, invitable=invitable(application, call))
    except domain.StageMoveRefused as exc:
        raise Problem(409, str(exc)) from exc
    except domain.MissingReason as exc:
        raise FieldError("reason", str(exc)) from exc
    if awarded_amount is not None and target != "awarded":
        raise FieldError("awarded_amount", "is given only when the application is awarded")
    now = utcnow()
    source = application.stage
    uow.session.add(StageChange(application_id=application.id, from_stage=source, to_stage=target, reason=reason,
                                changed_by=changed_by, changed_at=now))
    application.stage = target
    application.stage_reason = reason
    if target == "submitted":
        application.submitted_at = now
    if target in ("awarded", "rejected"):
        application.decided_at = now
    if target == "awarded":
        application.awarded_amount = application.requested_amount if awarded_amount is None else awarded_amount
    if target == "invited":
        application.call_stage = 2
    application.updated_at = now
    uow.publish(ApplicationStageChangedV1(
        **_application_ref(application, call), from_stage=source, to_stage=target, reason=reason,
        requested_amount=application.requested_amount, awarded_amount=application.awarded_amount,
        changed_by=changed_by, changed_at=now), subject=f"applications/{application.id}")
    await uow.commit()
    return application


# -- scheduled jobs -------------------------------------------------------------------------------

@dataclass
class JobReport:
    as_of: datetime
    applications: int = 0
    reminders: int = 0


async def run_jobs(uow: UnitOfWork, now: datetime) -> JobReport:
    """Deadline reminders as of `now`: each said once, however often (or on however many replicas)
    this runs; none for an application submitted or withdrawn."""
    report = JobReport(as_of=now)
    rows = (await uow.session.exec(select(Application, Call).join(Call, Call.id == Application.call_id).where(
        col(Application.stage).in_(domain.PREPARING)))).all()
    due: dict[tuple[str, str], tuple[Application, Call, domain.Reminder]] = {}
    planned: dict[tuple[str, int, int], list[domain.Reminder]] = {}  # the same for a call's applications
    for application, call in rows:
        report.applications += 1
        plan = (call.id, application.call_stage, application.internal_buffer_days)
        if plan not in planned:
            deadline = deadline_of(application, call)
            planned[plan] = domain.due_reminders(deadline, application.internal_buffer_days, now) if deadline else []
        for reminder in planned[plan]:
            due[(application.id, reminder.key)] = (application, call, reminder)
    # Most runs find everything due said already: read that first, and write only what is new.
    said_before = set((await uow.session.exec(select(Reminder.application_id, Reminder.key).join(
        Application, Application.id == Reminder.application_id).where(
        col(Application.stage).in_(domain.PREPARING)))).all())
    for said in await _say_once(uow, [k for k in due if k not in said_before]):
        application, call, reminder = due[said]
        uow.publish(DeadlineApproachingV1(
            **_application_ref(application, call), kind=reminder.kind, stage=reminder.stage,
            deadline=reminder.deadline, days_ahead=domain.days_until(reminder.deadline, now),
            internal_buffer_days=application.internal_buffer_days, application_stage=application.stage,
            critical=reminder.critical, as_of=now), subject=f"applications/{application.id}")
        report.reminders += 1
    await uow.commit()
    return report


async def _say_once(uow: UnitOfWork, reminders: list[tuple[str, str]], batch: int = 1000) -> list[tuple[str, str]]:
    """Record that these (application, key) reminders are said; returns those that were not said
    already (by an earlier run, or a replica: PostgreSQL waits for its transaction, then skips)."""
    connection = await uow.session.connection()
    table, said, now = Reminder.__table__, [], utcnow()
    for offset in range(0, len(reminders), batch):
        rows = [{"application_id": a, "key": k, "said_at": now} for a, k in reminders[offset:offset + batch]]
        result = await connection.execute(insert_new(connection.dialect.name, table).values(rows).returning(
            table.c.application_id, table.c.key))
        said += [(r.application_id, r.key) for r in result]
    return said
