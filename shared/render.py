"""Large JSON answers (an import's report of 100,000 rows) rendered off the event loop.

Validating and serialising such a report is seconds of CPU, and pydantic holds the GIL for the
whole of one call, so a worker thread alone would still stall the loop: the rows go a slice
at a time, each call short, and the loop gets the GIL back between slices."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, get_type_hints

from fastapi import Response
from pydantic import TypeAdapter

SLICE = 500


async def json_response(shape: type[object], value: object, rows: str = "report",
                        row: Callable[[Any], object] | None = None) -> Response:
    """`value` (a dataclass) as JSON the way `shape` (the route's response model, whose last
    field is the list `rows`) gives it; `row` turns a stored row into an object with its fields."""
    body = await asyncio.to_thread(render, shape, value, rows, row)
    return Response(body, media_type="application/json")


def render(shape: type[object], value: object, rows: str = "report",
           row: Callable[[Any], object] | None = None) -> bytes:
    whole = TypeAdapter(shape)
    head = whole.dump_json(whole.validate_python({**vars(value), rows: []}))
    if not head.endswith(b"[]}"):
        raise ValueError(f"{shape.__name__}.{rows} must be its last field")
    row_list: TypeAdapter[list[Any]] = TypeAdapter(get_type_hints(shape)[rows])  # the field's list[...]
    items = getattr(value, rows)
    parts = []
    for start in range(0, len(items), SLICE):
        piece = items[start:start + SLICE] if row is None else [row(item) for item in items[start:start + SLICE]]
        parts.append(row_list.dump_json(row_list.validate_python(piece, from_attributes=True))[1:-1])
    return head[:-3] + b"[" + b",".join(parts) + b"]}"
