"""Applications: started for a call, changed while prepared, moved through the pipeline; their
consortium's eligibility, partner candidates from the partners service, and the year's report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, not_
from sqlmodel import col, or_, select

from services.grants import domain
from services.grants.events import ApplicationStageChangedV1, CallRefV1, OwnerV1
from services.grants.models import Application, Call, StageChange
from services.grants.service import GrantsContext
from services.grants.service.calls import call_ref, deadlines_of, rules_of
from shared.audit import fields_of
from shared.listing import Keyset, Page, where_given
from shared.places import item_field, resolve_field
from shared.problems import FieldError, Problem
from shared.subjects import ERASED
from shared.uow import UnitOfWork, utcnow


def resolve_consortium(ctx: GrantsContext, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each partner's city resolved offline (an unknown city or country is a 422 naming it)."""
    resolved = []
    for i, member in enumerate(members):
        place = resolve_field(ctx.places, member["city"], member["country"], member.get("place_id"),
                              item_field("consortium", i))
        if place.id == ctx.home.id:
            raise FieldError(f"consortium[{i}].city", f"{place.name} is our own city: it is in every consortium")
        resolved.append({"name": member["name"], "city": place.name, "country": place.country, "place_id": place.id,
                         "role": member["role"], "partnership_id": member.get("partnership_id")})
    return resolved


async def check_partnerships(ctx: GrantsContext, members: list[dict[str, Any]]) -> None:
    """A member's partnership must be one of ours in partners, with that member's city. Partners is
    asked only when a partnership is named: an application without one does not depend on it. Asked
    before a unit of work opens, so no database connection waits on the partners service."""
    linked = [(i, m) for i, m in enumerate(resolve_consortium(ctx, members)) if m["partnership_id"]]
    for i, member in linked:
        field, wanted = f"consortium[{i}].partnership_id", member["partnership_id"]
        partnership = await ctx.partners.partnership(wanted)
        if partnership is None:
            raise FieldError(field, f"partners has no partnership {wanted}")
        if (partnership["home_city"], partnership["home_country"]) != (ctx.home.name, ctx.home.country):
            raise FieldError(field, f"partnership {wanted} is {partnership['home_city']}'s, not ours")
        if partnership["partner_place_id"] != member["place_id"]:
            raise FieldError(field, f"partnership {wanted} is with {partnership['partner_city']} "
                                    f"({partnership['partner_country']}), not {member['city']}")


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
    uow.audit("application", application.id, "created", None, fields_of(application))
    await uow.commit()
    return application


_APPLICATION_FIELDS = ("title", "requested_amount", "cofinancing_amount", "city_role", "notes",
                       "internal_buffer_days")


async def update_application(uow: UnitOfWork, ctx: GrantsContext, application: Application,
                             changes: dict[str, Any]) -> Application:
    if application.stage not in domain.PREPARING and set(changes) - {"notes"}:
        raise Problem(409, f"an application in {application.stage} is no longer edited (notes only)")
    call = await call_of(uow, application)
    if "requested_amount" in changes:
        check_amount(call, changes["requested_amount"])
    before = fields_of(application)
    for name in _APPLICATION_FIELDS:
        if name in changes:
            setattr(application, name, changes[name])
    if "owner" in changes:
        application.owner_name, application.owner_email = changes["owner"]["name"], str(changes["owner"]["email"])
    if "consortium" in changes:
        application.consortium = resolve_consortium(ctx, changes["consortium"])
    application.updated_at = utcnow()
    uow.audit("application", application.id, "changed", before, fields_of(application))
    await uow.commit()
    return application


async def load_application(uow: UnitOfWork, application_id: str) -> Application:
    application = await uow.session.get(Application, application_id)
    if application is None:
        raise Problem(404, f"application {application_id} not found")
    return application


async def call_of(uow: UnitOfWork, application: Application) -> Call:
    call = await uow.session.get(Call, application.call_id)
    if call is None:  # a foreign key: the database keeps it there
        raise RuntimeError(f"application {application.id}'s call {application.call_id} is missing")
    return call


APPLICATION_ORDER = Keyset((col(Application.created_at), col(Application.id)))


async def list_applications(uow: UnitOfWork, *, department: str | None, readable_by: str | None,
                            stage: domain.Stage | None, call_id: str | None, programme: domain.Programme | None,
                            limit: int, cursor: str | None) -> Page[tuple[Application, Call]]:
    """A page of applications with their calls, newest first.
    `readable_by`: a department that may read only its own."""
    query = where_given(select(Application, Call).join(Call, col(Call.id) == Application.call_id),
                        {Application.stage: stage, Application.call_id: call_id, Call.programme: programme},
                        col(Application.lead_department) == department if department else None,
                        col(Application.lead_department) == readable_by if readable_by is not None else None)
    rows = list((await uow.session.exec(APPLICATION_ORDER.page(query, cursor, limit))).all())
    return Page(rows, APPLICATION_ORDER.next_cursor(rows, limit, row_of=lambda row: row[0]))


async def stage_history(uow: UnitOfWork, application_id: str) -> list[StageChange]:
    return list((await uow.session.exec(select(StageChange).where(StageChange.application_id == application_id)
                                        .order_by(col(StageChange.changed_at), col(StageChange.id)))).all())


def eligibility(ctx: GrantsContext, application: Application, call: Call) -> list[domain.Check]:
    return domain.eligibility(members_of(ctx, application), rules_of(call))


async def partner_candidates(ctx: GrantsContext, application: Application, *, country: str | None,
                             theme: str | None, eu_member: bool | None, limit: int) -> list[dict[str, Any]]:
    """Partners' finder's candidates not in the consortium yet, those adding a country or an EU member
    state first (each marked so), the finder's order next."""
    found = await ctx.partners.finder(country=country, theme=theme, eu_member=eu_member, limit=200)
    countries = {m.country for m in members_of(ctx, application) if m.role != "associated"}
    taken = {(m["city"], m["country"]) for m in application.consortium}
    candidates = [{**c, "adds_country": c["country"] not in countries,
                   "adds_eu_member_state": c["eu_member"] and c["country"] not in countries}
                  for c in found if (c["city"], c["country"]) not in taken]
    candidates.sort(key=lambda c: (not c["adds_eu_member_state"], not c["adds_country"]))  # stable
    return candidates[:limit]


async def year_report(uow: UnitOfWork, year: int, department: str | None) -> domain.YearReport:
    """An application counts in the year it was submitted, or, not yet submitted, the year it was
    started; `department`: only its applications."""
    start, end = datetime(year, 1, 1, tzinfo=domain.BRUSSELS), datetime(year + 1, 1, 1, tzinfo=domain.BRUSSELS)
    submitted_in = (col(Application.submitted_at) >= start) & (col(Application.submitted_at) < end)
    started_in = (col(Application.submitted_at).is_(None) & (col(Application.created_at) >= start)
                  & (col(Application.created_at) < end))
    query = (select(Application, Call.programme).join(Call, col(Call.id) == Application.call_id)
             .where(or_(submitted_in, started_in)))
    if department is not None:
        query = query.where(Application.lead_department == department)
    return domain.year_report(year, list((await uow.session.exec(query)).all()))


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


def members_of(ctx: GrantsContext, application: Application) -> list[domain.Member]:
    """The consortium as the rules count it: our city and its partners."""
    ours = domain.Member(ctx.home.name, ctx.home.country, application.city_role)
    return [ours, *(domain.Member(m["name"], m["country"], m["role"]) for m in application.consortium)]


def application_ref(application: Application, call: Call) -> dict[str, Any]:
    return dict(application_id=application.id, title=application.title, lead_department=application.lead_department,
                owner=OwnerV1(name=application.owner_name, email=application.owner_email),
                call=CallRefV1(**call_ref(call)))


async def move_stage(uow: UnitOfWork, application: Application, target: domain.Stage, reason: str | None,
                     awarded_amount: float | None, changed_by: str) -> Application:
    call = await call_of(uow, application)
    try:
        domain.check_move(application.stage, target, reason, invitable=invitable(application, call))
    except domain.StageMoveRefused as exc:
        raise Problem(409, str(exc)) from exc
    except domain.MissingReason as exc:
        raise FieldError("reason", str(exc)) from exc
    if awarded_amount is not None and target != "awarded":
        raise FieldError("awarded_amount", "is given only when the application is awarded")
    now = utcnow()
    source, before = application.stage, fields_of(application)
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
        **application_ref(application, call), from_stage=source, to_stage=target, reason=reason,
        requested_amount=application.requested_amount, awarded_amount=application.awarded_amount,
        changed_by=changed_by, changed_at=now), subject=f"applications/{application.id}")
    uow.audit("application", application.id, "stage_changed", before, fields_of(application))
    await uow.commit()
    return application


ENDED: tuple[domain.Stage, ...] = ("rejected", "withdrawn", "closed")
ANONYMISED = "(anonymised)"


async def anonymise_owners(uow: UnitOfWork, cutoff: datetime, _settings: Any) -> int:
    """Retention: an application that ended (rejected, withdrawn, or closed after its project) before
    `cutoff` loses its owner's name and email and its notes (free text that may name people), and
    its moves keep who made them only by role and department (`department CULT`, not the key's
    label or the user). The application, its amounts and its way through the pipeline stay: the
    pipeline's numbers are the city's. Each is in the audit trail. Returns the applications changed."""
    ended_at = (select(col(StageChange.application_id), func.max(StageChange.changed_at).label("at"))
                .group_by(col(StageChange.application_id)).subquery())
    ended = (await uow.session.exec(
        select(Application).join(ended_at, ended_at.c.application_id == col(Application.id))
        .where(col(Application.stage).in_(ENDED), ended_at.c.at < cutoff,
               col(Application.owner_name) != ANONYMISED, not_(col(Application.owner_name).startswith(ERASED)))
        # Another replica's run at the same time skips what this one holds: each is anonymised and said once.
        .with_for_update(skip_locked=True, of=Application))).all()
    for application in ended:
        before = fields_of(application)
        application.owner_name, application.owner_email, application.notes = ANONYMISED, "", None
        uow.audit("application", application.id, "anonymised", before, fields_of(application))
    moves = (await uow.session.exec(select(StageChange).where(
        col(StageChange.application_id).in_([a.id for a in ended])))).all() if ended else []
    for move in moves:
        move.changed_by = move.changed_by.split(" (", 1)[0]
    await uow.session.flush()
    return len(ended)
