"""Import of an existing partnership register from CSV, with a report per row.

Columns: home_city, partner_city, partner_country, year (required); home_country (default: the
office's country), kind, themes (separated by ";"), partner_place_id (the GeoNames id, to pick one
of several places of the name), note (optional). Each row is created, a
duplicate (already registered, or repeated in the file), or rejected with the reason — an unknown
city, or a country that does not match the city (never silently corrected). `all_or_nothing`
stores nothing if any row is rejected; `row_by_row` stores the good rows and reports the rest."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import insert
from sqlmodel import col, select

from services.partners import domain
from services.partners.models import Partnership, new_id
from services.partners.service import PartnersContext
from shared.audit import fields_of
from shared.db import table_of
from shared.places import Place, UnknownCountry, UnresolvedPlace, country
from shared.problems import FieldError
from shared.uow import UnitOfWork, utcnow

REQUIRED = ("home_city", "partner_city", "partner_country", "year")
OPTIONAL = ("home_country", "kind", "themes", "partner_place_id", "note")
Mode = Literal["all_or_nothing", "row_by_row"]
MAX_BYTES = 20_000_000
# Rows read and checked in the worker thread per hop, and rows per INSERT: each INSERT's
# parameters are processed on the event loop, so a slice is kept well under a millisecond
# (bench/import_latency.py: 100 rows made a request's p99 during a 10 MB import 6 ms, 25 rows 1.3 ms).
ASSESS_SLICE, INSERT_SLICE = 200, 25
# Rows the worker checks between two hand-backs of the GIL to the event loop.
YIELD_ROWS = 10


class RowReport(NamedTuple):
    line: int
    status: Literal["created", "duplicate", "rejected", "valid"]
    home_city: str
    partner_city: str
    reason: str | None = None
    partnership_id: str | None = None
    note: str | None = None  # the country as the register wrote it, when that was a former state


@dataclass
class ImportReport:
    mode: str
    rows: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    # Each row's RowReport kept as a plain tuple: the garbage collector stops tracking a tuple of
    # plain values (not a subclass's), so a report of 200,000 rows does not make every full
    # collection, which stalls all requests, longer and longer.
    report: list[tuple] = field(default_factory=list)

    def rows_reported(self) -> Iterator[RowReport]:
        return map(RowReport._make, self.report)


async def spool(chunks: AsyncIterator[bytes]) -> io.StringIO:
    """The body decoded as UTF-8 as it arrives (a byte that is not UTF-8 is a 422 naming its
    line), at most MAX_BYTES."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    text, size, lines = io.StringIO(), 0, 1
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BYTES:
            raise FieldError("body", f"larger than {MAX_BYTES} bytes: split the register", status=413)
        try:
            decoded = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line = lines + chunk[:exc.start].count(b"\n")
            raise FieldError("body", f"not UTF-8 (line {line}): save the file as UTF-8 CSV") from exc
        lines += decoded.count("\n")
        text.write(decoded)
    try:
        text.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise FieldError("body", "not UTF-8 (it ends inside a character)") from exc
    text.seek(0)
    return text


async def import_register(uow: UnitOfWork, ctx: PartnersContext, text: io.StringIO, mode: Mode) -> ImportReport:
    """Reading, resolving and checking the rows is CPU work (seconds for a large register): it runs
    in a worker thread, a slice of rows at a time, so the service's other requests are answered
    meanwhile. Each slice is inserted (on the loop, awaited) before the next is read; all in one
    transaction, committed at the end."""
    known = {(home, partner): id_ for home, partner, id_ in (await uow.session.exec(
        select(col(Partnership.home_place_id), col(Partnership.partner_place_id), col(Partnership.id)))).all()}
    report = ImportReport(mode=mode)
    slices = _assess(text, report, ctx, known, utcnow())
    connection = await uow.session.connection()
    while rows := await asyncio.to_thread(next, slices, None):
        for start in range(0, len(rows), INSERT_SLICE):
            await connection.execute(insert(table_of(Partnership)), rows[start:start + INSERT_SLICE])
        for row in rows:
            uow.audit("partnership", row["id"], "imported", None, fields_of(row))
    await uow.commit()
    return report


def _assess(text: io.StringIO, report: ImportReport, ctx: PartnersContext, known: dict, now: datetime,
            ) -> Iterator[list[dict[str, Any]]]:
    """The partnerships to insert, a slice at a time, filling in `report`; run in a worker
    thread (the gazetteer gives each thread its own connection)."""
    reader = csv.DictReader(text)
    try:
        columns = [c.strip() for c in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise _unreadable(reader, exc) from exc
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        raise FieldError("columns", "; ".join(filter(None, [
            f"missing {', '.join(missing)}" if missing else "", f"unknown {', '.join(unknown)}" if unknown else ""]))
            + f" (expected {', '.join(REQUIRED)}; optional {', '.join(OPTIONAL)})")
    reader.fieldnames = columns
    places: dict[tuple[str, str], Place | str] = {}
    rows: list[dict[str, Any]] = []
    today = ctx.today(now)
    for number, record in enumerate(_records(reader), start=2):  # line 1 is the header
        if number % YIELD_ROWS == 0:
            time.sleep(0)  # the GIL back to the event loop now, not after the interpreter's 5 ms
        report.rows += 1
        row = {k: (v or "").strip() for k, v in record.items() if k is not None}
        outcome = _check(row, number, ctx, places, known, today)
        if isinstance(outcome, RowReport):
            report.report.append(tuple(outcome))
            report.duplicates += outcome.status == "duplicate"
            report.rejected += outcome.status == "rejected"
            continue
        known[(outcome["home_place_id"], outcome["partner_place_id"])] = outcome["id"]
        report.report.append(tuple(RowReport(number, "valid", outcome["home_city"], outcome["partner_city"],
                                             partnership_id=outcome["id"],
                                             note=country(row["partner_country"]).note)))
        if report.mode == "all_or_nothing" and report.rejected:
            continue  # nothing will be stored: no need to hand over more rows
        rows.append({**outcome, "created_at": now, "updated_at": now, "last_contact_on": today})
        if len(rows) == ASSESS_SLICE:
            yield rows
            rows = []
    if report.mode == "all_or_nothing" and report.rejected:
        raise FieldError("body", f"{report.rejected} of {report.rows} rows rejected: nothing imported",
                         report=[r._asdict() for r in report.rows_reported() if r.status == "rejected"])
    if rows:
        yield rows
    # Resumed only once the last slice is inserted.
    report.report = [tuple(r._replace(status="created")) if r.status == "valid" else tuple(r)
                     for r in report.rows_reported()]
    report.created = sum(r.status == "created" for r in report.rows_reported())


def _records(reader: csv.DictReader):
    """The rows, or a 422 naming the line the csv module cannot read (a field over its size limit,
    a carriage return alone inside an unquoted field): the rest of the file cannot be trusted."""
    try:
        yield from reader
    except csv.Error as exc:
        raise _unreadable(reader, exc) from exc


def _unreadable(reader: csv.DictReader, exc: csv.Error) -> FieldError:
    return FieldError("body", f"line {reader.line_num + 1}: not readable as CSV ({exc}); quote fields that hold "
                              f"line breaks, and keep each field under {csv.field_size_limit() // 1024} KiB")


def _check(row: dict[str, str], line: int, ctx: PartnersContext, places: dict, known: dict,
           today: date) -> dict[str, Any] | RowReport:
    """A row as a partnership to insert, or its report (duplicate, rejected)."""
    home_name, partner_name = row.get("home_city", ""), row.get("partner_city", "")

    def rejected(reason: str) -> RowReport:
        return RowReport(line, "rejected", home_name, partner_name, reason)

    for column in REQUIRED:
        if not row.get(column):
            return rejected(f"{column} is empty")
    try:
        year = int(row["year"])
    except ValueError:
        return rejected(f"year {row['year']!r} is not a year")
    if not 1900 <= year <= today.year:
        return rejected(f"year {year} is not between 1900 and {today.year}")
    kind = row.get("kind") or "twin"
    if kind not in domain.KINDS:
        return rejected(f"kind {kind!r} is not one of {', '.join(domain.KINDS)}")
    themes = [t.strip() for t in (row.get("themes") or "").split(";") if t.strip()]
    if bad := [t for t in themes if t not in domain.THEMES]:
        return rejected(f"unknown theme {bad[0]!r}")
    if kind == "time_limited":
        return rejected("a time-limited partnership needs its end date: add it through the API")
    home = _place(places, ctx, home_name, row.get("home_country") or ctx.home.country)
    if isinstance(home, str):
        return rejected(f"home city: {home}")
    partner = _place(places, ctx, partner_name, row["partner_country"], row.get("partner_place_id"))
    if isinstance(partner, str):
        return rejected(f"partner city: {partner}")
    if home.id == partner.id:
        return rejected(f"{partner.name} is the home city itself")
    if (home.id, partner.id) in known:
        return RowReport(line, "duplicate", home_name, partner_name,
                         f"{home.name} and {partner.name} are partners already",
                         partnership_id=known[(home.id, partner.id)])
    return dict(id=new_id(), home_city=home.name, home_country=home.country, home_place_id=home.id,
                partner_city=partner.name, partner_country=partner.country, partner_place_id=partner.id,
                partner_latitude=partner.latitude, partner_longitude=partner.longitude,
                partner_timezone=partner.timezone, formalised_on=date(year, 1, 1), formalised_year_only=True,
                kind=kind, status="active", status_reason=None, ends_on=None, themes=themes, annual_themes={},
                mou_areas=[], desk_officer_name=None, desk_officer_email=None, department="OIA",
                ideal_contact_days=domain.DEFAULT_IDEAL_DAYS, max_contact_days=domain.DEFAULT_MAX_DAYS)


def _place(cache: dict, ctx: PartnersContext, city: str, country: str, place_id: str | None = None) -> Place | str:
    """The place, or why not (cached: a register names its home city on every row). A GeoNames id
    picks one of the places the name matches; it must be one of them."""
    key = (city.casefold(), country.casefold(), place_id or "")
    if key not in cache:
        cache[key] = _resolve(ctx, city, country, place_id)
    return cache[key]


def _resolve(ctx: PartnersContext, city: str, country: str, place_id: str | None) -> Place | str:
    try:
        named = [ctx.places.resolve(city, country)]
    except UnknownCountry as exc:
        return str(exc)
    except UnresolvedPlace as exc:
        named = exc.candidates
        if not place_id:
            choices = ", ".join(f"{p.id} {p.name}" for p in named)
            return f"{exc}: {choices}" if choices else str(exc)
    if not place_id:
        return named[0]
    try:
        chosen = int(place_id)
    except ValueError:
        return f"partner_place_id {place_id!r} is not a GeoNames id"
    for place in named:
        if place.id == chosen:
            return place
    return f"place {chosen} is not a place called {city!r} in {country}"
