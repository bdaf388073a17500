"""What the platform can represent, enforced at the API edge: a value outside it is a 422 naming the
field, never an overflow deep inside (date arithmetic, an integer column, PostgreSQL text)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import parse_qsl

from pydantic import AfterValidator, AwareDatetime, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.problems import FieldError, problem, replaying

# Dates the services accept: wide enough for any partnership's founding and any plan, narrow enough
# that date arithmetic (a year ahead, the day after, an offset) can never leave what Python represents.
EARLIEST = date(1900, 1, 1)
LATEST = date(2200, 12, 31)


def _within_dates(value: date) -> date:
    day = value.date() if isinstance(value, datetime) else value  # a moment's own (local) date
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


Day = Annotated[date, AfterValidator(_within_dates)]
Moment = Annotated[datetime, AfterValidator(_within_dates)]  # naive ones allowed (the field says how read)
Instant = Annotated[AwareDatetime, AfterValidator(_within_dates)]

def cursor_instant(text: str) -> datetime:
    """The instant in a list's cursor (`<created_at>|<id>`, as the API gave it out), or a 422 naming
    `query.cursor`: one at the calendar's edge would overflow when the database compares it."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or not EARLIEST <= moment.date() <= LATEST:
        raise FieldError("query.cursor", "not a cursor this API gave out")
    return moment


FIRST_INSTANT = datetime.combine(EARLIEST, time.min, tzinfo=UTC)
LAST_INSTANT = datetime.combine(LATEST, time.max, tzinfo=UTC)


def clamped(moment: datetime) -> datetime:
    """A stored instant held within the bounds (a naive one read as UTC), for read paths that do
    arithmetic on it (time zones, days before): one stored before the bounds must not break them."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return min(max(aware, FIRST_INSTANT), LAST_INSTANT)


def shifted(value: date, delta: timedelta) -> date:
    """`value + delta`, held at the calendar's edge instead of overflowing: for read paths, where a
    value stored before the bounds above (or by other means) must still be shown, never break the read."""
    try:
        return value + delta
    except OverflowError:
        if isinstance(value, datetime):
            moment = type(value).max if delta > timedelta(0) else type(value).min
            return moment.replace(tzinfo=value.tzinfo)
        return type(value).max if delta > timedelta(0) else type(value).min


# A GeoNames id: a positive 32-bit integer (INTEGER in PostgreSQL).
PlaceId = Annotated[int, Field(ge=1, le=2_147_483_647, description="GeoNames id")]

NUL = "\x00"
# NUL, which PostgreSQL text cannot hold, and lone UTF-16 surrogates (json.loads lets "\ud800" through),
# which no database or response can encode as UTF-8.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "must not contain the NUL character (U+0000) or a lone surrogate (U+D800–U+DFFF)"


def unstorable_in(value: object) -> str | None:
    """The path ('legs[0].city') of the first string in a JSON value that no database can store, or None.
    Walks without recursion: a document nested as deep as the parser allows is still walked."""
    pending: list[tuple[str, object]] = [("", value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return where or "body"
        elif isinstance(item, dict):
            for key, inner in reversed(item.items()):
                name = f"{where}.{key}" if where else str(key)
                if UNSTORABLE.search(key):
                    return UNSTORABLE.sub("?", name)
                pending.append((name, inner))
        elif isinstance(item, list):
            pending.extend((f"{where}[{i}]", inner) for i, inner in reversed(list(enumerate(item))))
    return None


class RefuseNul:
    """PostgreSQL text cannot hold U+0000 (asyncpg fails on it, in a write and in a query alike), so a
    request with one in its path, query or JSON body is a 422 naming where, before any route sees it.
    Routes in `streamed` (path → limit) check their own bodies while parsing them."""

    def __init__(self, app: ASGIApp, streamed: dict[str, int] | None = None) -> None:
        self.app = app
        self.streamed = streamed or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if NUL in scope.get("path", ""):
            return await self._refuse("path", scope, receive, send)
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if NUL in name or NUL in value:
                    return await self._refuse(f"query.{name.replace(NUL, '')}", scope, receive, send)
        # Every body, whatever its content type says (FastAPI's reading of that is its own business).
        if scope.get("path") in self.streamed or scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return await self.app(scope, receive, send)
        # The body is read here (BodySizeLimit outside has bounded it) and handed on unchanged.
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, receive, send)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        # Cheap: only then parse to name the field (it may be an escaped backslash). A NUL byte means
        # UTF-16 or UTF-32, which the JSON parser also reads.
        if b"\\u0000" in body or b"\x00" in body:
            try:
                field = unstorable_in(json.loads(body))
            except (ValueError, RecursionError):
                field = None  # not JSON (or nested past the parser's limit): the route's own parsing answers that
            if field:
                return await self._refuse(field, scope, receive, send)
        await self.app(scope, replaying(body, receive), send)

    @staticmethod
    async def _refuse(field: str, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(422, f"{field}: {UNSTORABLE_MESSAGE}",
                           errors=[{"field": field, "message": UNSTORABLE_MESSAGE}],
                           instance=scope.get("path", "").replace(NUL, "\\u0000"))
        await response(scope, receive, send)
