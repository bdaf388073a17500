"""What every list endpoint does the same way: optional filters, and keyset pages.

A page ends where the previous one stopped (its last row's sort key, given out as the
`X-Next-Cursor` header), so a page never repeats or skips a row when rows are added meanwhile, and
page 50 costs what page 1 does — an offset would do neither.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Response
from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.sql import Select

from shared.bounds import cursor_instant
from shared.problems import FieldError

S = TypeVar("S", bound=Select[*tuple[Any, ...]])  # a select of any number of columns
R = TypeVar("R")

NEXT_CURSOR = "X-Next-Cursor"
Cursor = Annotated[str | None, Query(max_length=200, description=f"the {NEXT_CURSOR} header of the previous page")]


def where_given(query: S, equal: Mapping[Any, object] = {}, *conditions: ColumnElement[bool] | None) -> S:
    """`query` narrowed by each filter the caller gave: `column == value` for every value that is
    not None, and every condition that is not None (`Leg.end_date >= start if start else None`)."""
    clauses = [column == value for column, value in equal.items() if value is not None]
    clauses += [c for c in conditions if c is not None]
    return query.where(*clauses) if clauses else query


@dataclass(frozen=True)
class Keyset:
    """Pages ordered by `columns` (a unique key last, e.g. `(Trip.created_at, Trip.id)`),
    newest first unless `descending` is False."""

    columns: tuple[Any, ...]
    descending: bool = True

    def page(self, query: S, cursor: str | None, limit: int) -> S:
        """`query` ordered, limited, and starting after `cursor` (a 422 naming `query.cursor`
        if this API never gave it out)."""
        query = query.order_by(*(c.desc() if self.descending else c.asc() for c in self.columns)).limit(limit)
        if cursor:
            query = query.where(self._after(self._decode(cursor)))
        return query

    def next_cursor(self, rows: Sequence[R], limit: int, row_of: Callable[[R], Any] = lambda r: r) -> str | None:
        """The cursor of the page after `rows`, or None when this page was the last (shorter than
        `limit`)."""
        if len(rows) < limit or not rows:
            return None
        last = row_of(rows[-1])
        return "|".join(_encode(getattr(last, c.key)) for c in self.columns)

    def _after(self, values: list[Any]) -> ColumnElement[bool]:
        # (a, b) after (x, y) in descending order: a < x, or a = x and b < y; and so on for more columns.
        column: ColumnElement[Any] = self.columns[0]
        value = values[0]
        beyond: ColumnElement[bool] = column < value if self.descending else column > value
        if len(self.columns) == 1:
            return beyond
        rest = Keyset(self.columns[1:], self.descending)._after(values[1:])
        return or_(beyond, and_(column == value, rest))

    def _decode(self, cursor: str) -> list[Any]:
        parts = cursor.split("|", len(self.columns) - 1)
        if len(parts) != len(self.columns):
            raise FieldError("query.cursor", "not a cursor this API gave out")
        return [_decode(c, text) for c, text in zip(self.columns, parts, strict=True)]


@dataclass
class Page(Generic[R]):
    """What a list use case returns: one page, and the cursor of the next (None: this was the last)."""

    items: list[R]
    next_cursor: str | None = None

    def send(self, response: Response) -> list[R]:
        """The items, with the next page's cursor set on the response (for the route to return)."""
        if self.next_cursor is not None:
            response.headers[NEXT_CURSOR] = self.next_cursor
        return self.items


def _encode(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _decode(column: Any, text: str) -> Any:
    kind = _python_type(column)
    if kind is datetime:
        return cursor_instant(text)
    if kind is int:
        if not text.lstrip("-").isdigit() or len(text) > 19:
            raise FieldError("query.cursor", "not a cursor this API gave out")
        return int(text)
    return text



def _python_type(column: ColumnElement[Any]) -> type:
    """What a column holds in Python; a decorated type (UTC timestamps, say) asks its implementation."""
    for kind in (column.type, getattr(column.type, "impl_instance", None)):
        try:
            found: type = kind.python_type if kind is not None else object
        except NotImplementedError:
            continue
        if found is not object:
            return found
    return str
