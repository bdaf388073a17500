"""Today and this month: trips and visiting delegations by destination, the overlaps and crossings
between them with their reasons spelled out, and the coordinators' triage of overlaps."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from board.services import ServiceProblem
from board.session import Session
from board.web import Board, BoardDep, SessionDep, check_csrf, render

router = APIRouter(prefix="/board")

MARKS = ("acknowledged", "coordinated", "not_related")
PURPOSES = ("partner_city_visit", "trade_fair", "network_meeting", "eu_project_meeting", "conference",
            "anniversary", "other")


@router.get("/today")
async def today(request: Request, board: BoardDep, session: SessionDep,
                month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
                department: Annotated[str | None, Query(max_length=20)] = None,
                country: Annotated[str | None, Query(max_length=2)] = None,
                purpose: Annotated[str | None, Query(max_length=40)] = None,
                partner: Annotated[str | None, Query(max_length=210, description="a partner city: `<name>|<country>`")]
                = None) -> Response:
    opened = datetime.now(UTC).isoformat()  # what the live stream reports is what comes after this
    first, last = _month(month)
    window = {"from": first.isoformat(), "to": last.isoformat()}
    city, _, partner_country = (partner or "").partition("|")
    ask = board.services
    trips, overlaps, crossings, delegations, partner_cities, away = await asyncio.gather(
        ask.get("travel", "/trips", session.key, {**window, "department": department,
                                                 "country": partner_country or country, "city": city,
                                                 "purpose": purpose, "limit": 500}),
        ask.get("travel", "/overlaps", session.key, {"limit": 500}),
        ask.get("travel", "/crossings", session.key, {"limit": 500}),
        ask.get("travel", "/delegations", session.key, {**window, "limit": 500}),
        _partner_cities(board, session),
        _busy(board, session, first, last))
    crossings = [c for c in crossings if _meets(c, first, last)]
    by_id = {t["id"]: t for t in trips}
    overlaps = _triage_order(overlaps, first, last)
    return render(request, "today.html", session, opened=opened, first=first, last=last, trips=trips,
                  destinations=_by_destination(trips, first, last), overlaps=overlaps, by_id=by_id,
                  crossings=crossings, delegations=delegations, marks=MARKS, purposes=PURPOSES,
                  partner_cities=partner_cities, away=away,
                  filters={"department": department or "", "country": country or "", "purpose": purpose or "",
                           "partner": partner or ""},
                  previous=(first - timedelta(days=1)).strftime("%Y-%m"),
                  next=(last + timedelta(days=1)).strftime("%Y-%m"))


@router.get("/today/overlaps")
async def today_overlaps(request: Request, board: BoardDep, session: SessionDep,
                         month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None) -> Response:
    """The overlaps section alone: what an open Today page swaps in when the live feed says an
    overlap came or changed."""
    first, last = _month(month)
    trips, overlaps = await asyncio.gather(
        board.services.get("travel", "/trips", session.key, {"from": first.isoformat(), "to": last.isoformat(),
                                                             "limit": 500}),
        board.services.get("travel", "/overlaps", session.key, {"limit": 500}))
    overlaps = _triage_order(overlaps, first, last)
    return render(request, "_overlaps_refresh.html", session, first=first, overlaps=overlaps,
                  by_id={t["id"]: t for t in trips}, marks=MARKS)


@router.post("/overlaps/{overlap_id}/status")
async def triage(overlap_id: str, request: Request, board: BoardDep, session: SessionDep,
                 status: Annotated[str, Form(max_length=20)], note: Annotated[str, Form(max_length=1000)] = "",
                 csrf: Annotated[str, Form(max_length=100)] = "",
                 month: Annotated[str, Form(pattern=r"^(\d{4}-\d{2})?$")] = "") -> Response:
    check_csrf(session, csrf)
    body: dict[str, Any] = {"status": status}
    if note.strip():
        body["note"] = note.strip()
    try:
        await board.services.post("travel", f"/overlaps/{overlap_id}/status", session.key, body)
    except ServiceProblem as problem:
        return render(request, "problem.html", session, status=problem.status, problem=problem,
                      back="/board/today")
    back = f"/board/today?month={month}" if month else "/board/today"
    return RedirectResponse(f"{back}#overlap-{overlap_id}", status_code=303)


async def _partner_cities(board: Board, session: Session) -> list[tuple[str, str]]:
    """The partner cities this person may read of (name, country), for the filter."""
    try:
        partnerships = await board.services.get("partners", "/partnerships", session.key, {"limit": 1000})
    except ServiceProblem:
        return []  # partners away or not for this key: the filter offers none, the page still shows
    return sorted({(p["partner_city"], p["partner_country"]) for p in partnerships})


async def _busy(board: Board, session: Session, first: date, last: date) -> list[dict[str, Any]]:
    """Other departments away on restricted trips this month: their dates only (travel's policy)."""
    try:
        away: list[dict[str, Any]] = await board.services.get(
            "travel", "/busy", session.key, {"from": first.isoformat(), "to": last.isoformat()})
    except ServiceProblem as problem:
        if problem.status != 403:
            raise
        return []  # a reader is not told
    return away


def _meets(item: dict[str, Any], first: date, last: date) -> bool:
    """Whether an overlap or crossing shares a day with the month."""
    return date.fromisoformat(item["shared_start"]) <= last and date.fromisoformat(item["shared_end"]) >= first


def _month(month: str | None) -> tuple[date, date]:
    """The first and last day of `month` (YYYY-MM), or of this one."""
    first = date.fromisoformat(f"{month}-01") if month else date.today().replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _triage_order(overlaps: list[dict[str, Any]], first: date, last: date) -> list[dict[str, Any]]:
    """The month's overlaps (sharing a day with it): open ones first, then the ones worked on;
    resolved ones (the trips no longer meet) last."""
    rank = {"open": 0, "acknowledged": 1, "coordinated": 2, "not_related": 3, "resolved": 4}
    return sorted([o for o in overlaps if _meets(o, first, last)],
                  key=lambda o: (rank.get(o["status"], 5), o["shared_start"]))


def _by_destination(trips: list[dict[str, Any]], first: date, last: date) -> list[dict[str, Any]]:
    """Each destination of the month with the legs there, as offsets on the month's days."""
    days = (last - first).days + 1
    places: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for trip in trips:
        for leg in trip["legs"]:
            start, end = date.fromisoformat(leg["start_date"]), date.fromisoformat(leg["end_date"])
            if end < first or start > last:
                continue
            shown_start, shown_end = max(start, first), min(end, last)
            places[(leg["place_name"], leg["country"])].append({
                "trip": trip, "leg": leg, "offset": (shown_start - first).days * 100 / days,
                "width": ((shown_end - shown_start).days + 1) * 100 / days})
    return [{"place": place, "country": country, "legs": legs}
            for (place, country), legs in sorted(places.items())]
