"""The audit trail: who changed what, and when, in every service's own database.

A use case says what it did (`uow.audit("trip", trip.id, "changed", before, after)`); the unit of work
writes the entry with the change itself, in the same transaction, so a change and its record are
stored together or not at all. The entry names its actor as the request, event or job that made
the change is known (`acting_as`, bound by authentication, the consumer and the scheduler): a
key's label or a signed-in user, never a secret. Personal fields are named by each service
(`ServiceSpec.personal`, from its privacy.py): the entry says that they changed, never what they held.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.contextvars import bind_contextvars, bound_contextvars, get_contextvars

from shared.listing import Keyset, Page, where_given
from shared.problems import FieldError
from shared.tables import audit

ACTOR_KEY = "actor"
UNKNOWN_ACTOR = "system"
MASK = "***"

Changes = dict[str, list[Any]]  # field → [old, new]; [None, value] for a creation, [value, None] for a removal


def current_actor() -> str:
    """Who is acting now: the caller of the request, the event being handled, the job that runs."""
    actor = get_contextvars().get(ACTOR_KEY)
    return str(actor) if actor else UNKNOWN_ACTOR


def acting(actor: str) -> None:
    """From now on in this request, changes (and log lines) name `actor`; the request's end forgets it."""
    bind_contextvars(**{ACTOR_KEY: actor[:120]})


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """The changes made inside (and the log lines written) name `actor`."""
    with bound_contextvars(**{ACTOR_KEY: actor[:120]}):
        yield


BOOKKEEPING = frozenset({"id", "created_at", "updated_at"})  # the entry's resource and time say these


def fields_of(row: Any) -> dict[str, Any]:
    """A stored row (a model, or the dict an INSERT was given) as its audit entries compare it."""
    values = row if isinstance(row, Mapping) else {c.key: getattr(row, c.key) for c in row.__table__.columns}
    return {name: value for name, value in values.items() if name not in BOOKKEEPING}


def plain(value: Any) -> Any:
    """A field's value as JSON holds it (dates and amounts as text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
            personal: Iterable[str] = ()) -> Changes:
    """The fields whose values differ between two snapshots of a resource (None: it did not exist /
    no longer exists), personal fields masked: that an email changed is told, not the addresses."""
    before, after, hidden = before or {}, after or {}, set(personal)
    found: Changes = {}
    for field in sorted(set(before) | set(after)):
        old, new = plain(before.get(field)), plain(after.get(field))
        if old == new:
            continue
        if field in hidden:
            old, new = masked(old), masked(new)
        found[field] = [old, new]
    return found


def masked(value: Any) -> Any:
    """A personal value's place in a record: whether there was one, never what it was."""
    if value is None or value == [] or value == "":
        return value
    return MASK


def entry(resource_type: str, resource_id: str, action: str, found: Changes,
          correlation_id: str | None = None) -> dict[str, Any]:
    """An audit row, as the current actor's (what `UnitOfWork.audit` and the key commands write)."""
    return {"at": datetime.now(UTC), "actor": current_actor(), "resource_type": resource_type,
            "resource_id": str(resource_id), "action": action, "changes": encode(found),
            "correlation_id": correlation_id}


def encode(found: Changes) -> str:
    return json.dumps(found, separators=(",", ":"), sort_keys=True, default=str)


def decode(text: str | None) -> Changes:
    """What an entry says changed; a row that is not JSON (written by hand) reads as nothing changed."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- reading the trail ---------------------------------------------------------------------------

RESOURCE = re.compile(r"^(?P<type>[a-z_]{1,40})(?:/(?P<id>[^/\x00]{1,64}))?$")
NEWEST_FIRST = Keyset((audit.c.seq,))


async def entries(session: AsyncSession, *, resource: str | None = None, actor: str | None = None,
                  since: datetime | None = None, limit: int = 100, cursor: str | None = None) -> Page[Entry]:
    """The trail, newest first: of one resource ("trip/<id>") or one kind ("trip"), by one actor,
    from an instant on; any of them, or all."""
    query = select(audit)
    if resource is not None:
        found = RESOURCE.match(resource)
        if found is None:
            raise FieldError("query.resource", "a kind of resource (trip) or one resource (trip/<id>)")
        query = query.where(audit.c.resource_type == found["type"])
        if found["id"] is not None:
            query = query.where(audit.c.resource_id == found["id"])
    query = where_given(query, {audit.c.actor: actor}, audit.c.at >= since if since is not None else None)
    rows = (await (await session.connection()).execute(NEWEST_FIRST.page(query, cursor, limit))).all()
    return Page([Entry.of(row) for row in rows], NEWEST_FIRST.next_cursor(rows, limit))


@dataclass(frozen=True)
class Entry:
    seq: int
    at: datetime
    actor: str
    resource: str
    action: str
    changes: Changes
    correlation_id: str | None

    @classmethod
    def of(cls, row: Any) -> Entry:
        at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC)  # SQLite drops the offset
        return cls(row.seq, at, row.actor, f"{row.resource_type}/{row.resource_id}", row.action,
                   decode(row.changes), row.correlation_id)
