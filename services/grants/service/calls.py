"""Calls: recorded by hand or imported from the portal; a change of deadline, status or budget is a
new version, said to the applications for the call."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, or_, select

from services.grants import domain, portal
from services.grants.events import (
    AffectedApplicationV1,
    CallChangeV1,
    CallPublishedV1,
    CallUpdatedV1,
    DeadlineV1,
    OwnerV1,
)
from services.grants.models import Application, Call, CallVersion
from services.grants.portal import PortalCall, Skipped
from services.grants.schemas import ImportedRow, ImportReport
from services.grants.service import GrantsContext
from shared.audit import fields_of
from shared.bounds import clamped
from shared.problems import FieldError, Problem
from shared.uow import UnitOfWork, utcnow


def deadlines_of(call: Call) -> list[tuple[int, datetime]]:
    # Held within the API's bounds: one stored before them (at the calendar's edge) must not break
    # the arithmetic of every read and reminder that follows.
    return [(d["stage"], clamped(datetime.fromisoformat(d["at"])).astimezone(domain.BRUSSELS))
            for d in call.deadlines]


def status_of(call: Call, now: datetime) -> domain.CallStatus:
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


def call_ref(call: Call) -> dict[str, Any]:
    return dict(call_id=call.id, identifier=call.identifier, programme=call.programme, title=call.title,
                url=call.url, deadlines=[DeadlineV1(stage=s, at=at) for s, at in deadlines_of(call)])


def matched_themes(ctx: GrantsContext, call: Call) -> list[str]:
    """The city's themes a call speaks of, in its keywords, title or topic."""
    text = " ".join([*call.themes, call.title, call.topic or ""]).lower().replace("-", " ")
    return [theme for theme in ctx.city_themes if theme in text]


async def create_call(uow: UnitOfWork, ctx: GrantsContext, data: dict[str, Any],
                      source: domain.CallSource = "manual") -> Call:
    """`data`: the validated call fields (schemas.CallIn), `deadlines` as aware datetimes in stage order."""
    check_call(data.get("opens_at"), data["deadlines"], data.get("budget"), data.get("grant_min"),
               data.get("grant_max"))
    if await call_by_identifier(uow, data["identifier"]) is not None:
        raise FieldError("identifier", f"a call {data['identifier']} exists already", status=409)
    call, announcement = _new_call(ctx, data, source)
    _record(uow, call, announcement)
    await uow.commit()
    return call


def _new_call(ctx: GrantsContext, data: dict[str, Any],
              source: domain.CallSource) -> tuple[Call, CallPublishedV1 | None]:
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
    return call, CallPublishedV1(**call_ref(call), topic=call.topic, opens_at=call.opens_at,
                                 status=status_of(call, now), budget=call.budget, grant_min=call.grant_min,
                                 grant_max=call.grant_max, themes=call.themes, matched_themes=themes,
                                 published_at=now)


def _record(uow: UnitOfWork, call: Call, announcement: CallPublishedV1 | None) -> None:
    uow.session.add(call)
    uow.audit("call", call.id, "created", None, fields_of(call))
    if announcement is not None:
        uow.publish(announcement, subject=f"calls/{call.id}")


_CALL_FIELDS = ("identifier", "programme", "title", "topic", "opens_at", "budget", "grant_min", "grant_max",
                "cofinancing_rate", "min_applicants", "min_countries", "min_eu_members", "rules_source", "themes",
                "url")


async def update_call(uow: UnitOfWork, call_id: str, changes: dict[str, Any]) -> Call:
    """`changes`: the fields given (schemas.CallPatch)."""
    call = await load_call(uow, call_id)
    await _change(uow, call, changes)
    await uow.commit()
    return call


async def _change(uow: UnitOfWork, call: Call, changes: dict[str, Any]) -> list[str]:
    """Changes a call and says which fields changed; a change of its deadlines, status or budget
    is a new version, said to the owners of the applications for it."""
    now = utcnow()
    before, fields_before = _versioned(call, now), fields_of(call)
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
    after = _versioned(call, now)
    changed = [CallChangeV1(field=name, before=before[name], after=after[name])
               for name in before if before[name] != after[name]]
    if not touched:
        return []
    call.updated_at = now
    uow.audit("call", call.id, "changed", fields_before, fields_of(call))
    if changed:
        call.version += 1
        uow.session.add(CallVersion(call_id=call.id, version=call.version,
                                    changes=[c.model_dump() for c in changed], recorded_at=now))
        applications = (await uow.session.exec(select(Application).where(
            Application.call_id == call.id, col(Application.stage).in_(domain.PREPARING + ("submitted",))))).all()
        uow.publish(CallUpdatedV1(**call_ref(call), version=call.version, status=status_of(call, now), changes=changed,
                                  applications=[AffectedApplicationV1(
                                      application_id=a.id, title=a.title, lead_department=a.lead_department,
                                      owner=OwnerV1(name=a.owner_name, email=a.owner_email), stage=a.stage)
                                      for a in applications], updated_at=now), subject=f"calls/{call.id}")
    return list(dict.fromkeys([c.field for c in changed] + touched))


def _versioned(call: Call, now: datetime) -> dict[domain.VersionedField, str | None]:
    """The call's fields whose change is a new version, as text."""
    return {"deadlines": _deadline_text(call), "status": status_of(call, now), "budget": _amount_text(call.budget)}


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


async def call_versions(uow: UnitOfWork, call_id: str) -> list[CallVersion]:
    await load_call(uow, call_id)
    return list((await uow.session.exec(select(CallVersion).where(CallVersion.call_id == call_id)
                                        .order_by(col(CallVersion.version)))).all())


async def list_calls(uow: UnitOfWork, now: datetime, *, programme: domain.Programme | None,
                     status: domain.CallStatus | None, theme: str | None, q: str | None, limit: int,
                     cursor: str | None) -> tuple[list[Call], str | None]:
    """A page of calls, soonest coming deadline first, then closed ones; and the next page's cursor."""
    query = select(Call)
    if programme:
        query = query.where(Call.programme == programme)
    if q:
        query = query.where(or_(col(Call.title).ilike(f"%{q}%"), col(Call.identifier).ilike(f"%{q}%")))
    calls = (await uow.session.exec(query)).all()
    # The order and the status derive from the dates, and themes are a JSON list: all done here.
    found = [c for c in calls if (theme is None or theme.lower() in c.themes)
             and (status is None or status_of(c, now) == status)]

    def place(c: Call) -> str:
        """Where a call stands in the list, as text that sorts: coming deadlines first, soonest first."""
        deadlines = deadlines_of(c)
        upcoming = domain.next_deadline(deadlines, now)
        closing = upcoming[1] if upcoming else deadlines[-1][1]
        return f"{0 if upcoming else 1}|{closing.astimezone(UTC).isoformat()}|{c.id}"

    ranked = sorted(((place(c), c) for c in found), key=lambda ranked: ranked[0])
    if cursor:
        ranked = [(key, c) for key, c in ranked if key > cursor]
    page = ranked[:limit]
    return [c for _, c in page], page[-1][0] if len(ranked) > limit else None


# Calls made ready in a worker thread, then added and flushed on the loop, per slice of an import.
IMPORT_SLICE = 10


async def import_answer(uow: UnitOfWork, ctx: GrantsContext, answer: bytes) -> ImportReport:
    """Imports a portal search response (SEDIA JSON)."""
    parsed = await asyncio.to_thread(portal.parse, answer)  # seconds of CPU for a large answer: off the loop
    return await import_calls(uow, ctx, parsed.calls, parsed.skipped)


async def import_from_portal(uow: UnitOfWork, ctx: GrantsContext, url: str) -> ImportReport:
    """Fetches the portal's response from `url` (before the transaction needs a connection) and imports it."""
    return await import_answer(uow, ctx, await ctx.portal.fetch(url))


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
                changed = await _change(uow, existing, data)  # checks before it changes anything
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


