"""A person's data in one service: found by their email, exported, or erased.

Each service says how (`ServiceSpec.subject`, from its service layer): `export` answers with every
record it holds about the person, by kind; `erase` deletes or anonymises them in its own data and
says how many of each kind it changed. Beside the service's own records, the platform's rows that
can quote a person are scrubbed here: events in the outbox, and the audit trail's entries (by the
email and the names the service found, or was told). The names matter because free text (a trip's
title, an alert's body) may carry a name where no email is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select, update

from shared.tables import audit, outbox, subject_answer, subject_request
from shared.uow import UnitOfWork

ERASED = "(erased)"


@dataclass
class Found:
    """What a service holds about a person: records by kind (plain JSON values), and the names it
    knows them by (to find them in free text)."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)


@dataclass
class Erased:
    """What an erasure changed, by kind of record (rows deleted or anonymised)."""

    changed: dict[str, int] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def add(self, kind: str, count: int) -> None:
        if count:
            self.changed[kind] = self.changed.get(kind, 0) + count


@dataclass(frozen=True)
class SubjectRights:
    export: Callable[[UnitOfWork, str], Awaitable[Found]]
    # With the email and the names the person is known by elsewhere (the other services' answers).
    erase: Callable[[UnitOfWork, str, set[str]], Awaitable[Erased]]


def same_email(column: Any, email: str) -> Any:
    """`column` holds this email, whatever its case."""
    return func.lower(column) == email.strip().lower()


def scrubbed(text: str, needles: Iterable[str]) -> str:
    """`text` with each needle (an email, a name) replaced wherever it stands as a whole word, in any
    case: "Ann" goes from "Call with Ann", not from "Annual report"."""
    for needle in sorted({n for n in needles if n and len(n) >= 3}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(needle)}(?!\w)", ERASED, text, flags=re.IGNORECASE)
    return text


def scrubbed_json(value: Any, needles: Iterable[str]) -> Any:
    """A JSON value with every string that quotes a needle scrubbed (keys kept)."""
    needles = list(needles)
    if isinstance(value, str):
        return scrubbed(value, needles)
    if isinstance(value, list):
        return [scrubbed_json(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: scrubbed_json(v, needles) for k, v in value.items()}
    return value


async def scrub_platform_rows(uow: UnitOfWork, needles: Iterable[str], erased: Erased) -> None:
    """Events in the outbox (published or not: a replay of the outbox must not bring the person
    back) and audit entries that quote the person: their texts scrubbed."""
    needles = [n for n in needles if n and len(n) >= 3]
    if not needles:
        return
    connection = await uow.session.connection()
    for table, key, column in ((outbox, outbox.c.seq, outbox.c.payload), (audit, audit.c.seq, audit.c.changes)):
        # As stored: JSON text escapes what is not ASCII ("Weiß" is "Wei\\u00df"), so both forms are looked for.
        forms = {form for n in needles for form in (n, json.dumps(n)[1:-1])}
        quoting = or_(*(cast(column, String).ilike(f"%{_like(form)}%", escape="\\") for form in forms))
        changed = 0
        for row_key, text in (await connection.execute(select(key, column).where(quoting))).all():
            stored = json.loads(text)
            if (clean := scrubbed_json(stored, needles)) != stored:  # a whole-word mention, not a substring
                await connection.execute(update(table).where(key == row_key).values(
                    {column.key: json.dumps(clean, separators=(",", ":"))}))
                changed += 1
        erased.add("events in the outbox" if table is outbox else "audit entries", changed)


async def erase_here(uow: UnitOfWork, rights: SubjectRights, email: str, names: set[str]) -> tuple[Erased, list[str]]:
    """The person erased in this service's data, and scrubbed from its platform rows, in the unit of
    work: what changed, and what to scrub the dead letters of once it commits (email and names)."""
    erased = await rights.erase(uow, email, names)
    needles = [email, *erased.names]
    await scrub_platform_rows(uow, needles, erased)
    # Exports of the person this service collected (shared/subject_requests.py) hold what was just erased.
    connection = await uow.session.connection()
    exports = list((await connection.execute(select(subject_request.c.id).where(
        subject_request.c.kind == "export", same_email(subject_request.c.email, email)))).scalars())
    if exports:
        await connection.execute(delete(subject_answer).where(subject_answer.c.request_id.in_(exports)))
        await connection.execute(delete(subject_request).where(subject_request.c.id.in_(exports)))
    erased.add("exports of the person", len(exports))
    return erased, needles


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
