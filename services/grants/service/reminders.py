"""Deadlines: the reminders the scheduled jobs say (each once), and the calendar feed of them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from services.grants import calendar, domain
from services.grants.events import DeadlineApproachingV1
from services.grants.models import Application, Call, Reminder
from services.grants.schemas import JobReport
from services.grants.service.applications import application_ref, deadline_of
from services.grants.service.calls import status_of
from shared.db import insert_new, table_of
from shared.uow import UnitOfWork, utcnow


async def run_jobs(uow: UnitOfWork, now: datetime) -> JobReport:
    """Deadline reminders as of `now`: each said once, however often (or on however many replicas)
    this runs; none for an application submitted or withdrawn."""
    report = JobReport(as_of=now)
    rows = (await uow.session.exec(select(Application, Call).join(Call, col(Call.id) == Application.call_id).where(
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
        Application, col(Application.id) == Reminder.application_id).where(
        col(Application.stage).in_(domain.PREPARING)))).all())
    for said in await _say_once(uow, [k for k in due if k not in said_before]):
        application, call, reminder = due[said]
        uow.publish(DeadlineApproachingV1(
            **application_ref(application, call), kind=reminder.kind, stage=reminder.stage,
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
    table, said, now = table_of(Reminder), [], utcnow()
    for offset in range(0, len(reminders), batch):
        rows = [{"application_id": a, "key": k, "said_at": now} for a, k in reminders[offset:offset + batch]]
        result = await connection.execute(insert_new(connection.dialect.name, table).values(rows).returning(
            table.c.application_id, table.c.key))
        said += [(r.application_id, r.key) for r in result]
    return said


async def deadline_calendar(uow: UnitOfWork, department: str | None) -> bytes:
    """The iCalendar feed of the calls' deadlines and the applications' internal ones: a department's
    (the calls it is applying to), or the whole city's (every call not closed); in a fixed order,
    so an unchanged feed reads the same on every fetch."""
    now = utcnow()
    query = select(Application, Call).join(Call, col(Call.id) == Application.call_id).where(
        col(Application.stage).in_(domain.PREPARING)).order_by(col(Application.id))
    if department:
        query = query.where(Application.lead_department == department)
    applications = list((await uow.session.exec(query)).all())
    if department:
        calls = list({call.id: call for _, call in applications}.values())
    else:
        calls = [c for c in (await uow.session.exec(select(Call).order_by(col(Call.id)))).all()
                 if status_of(c, now) != "closed"]
    name = f"{department} grant deadlines" if department else "EU funding deadlines"
    return calendar.feed(name, calls, applications)
