"""Booking a trip from the board: the form a department without a system of its own uses, with
place suggestions as one types (the travel service's gazetteer), the overlap check before saving,
and the service's refusals shown next to the fields they name."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from board.routes.today import PURPOSES
from board.services import ServiceProblem
from board.session import Session
from board.web import BoardDep, SessionDep, check_csrf, render

router = APIRouter(prefix="/board")

VISIBILITIES = ("normal", "restricted")
STATUSES = ("planned", "booked")
TRAVELLER_FIELDS = ("name", "email", "role")
LEG_FIELDS = ("city", "country", "start_date", "end_date")
# As many rows as the travel API takes at most for legs; travellers beyond this are a list upload's job.
MAX_ROWS = 20
# Fields the form shows a message next to; a service error naming another lands in the summary only.
FORM_FIELDS = ("title", "purpose", "visibility", "status", "department", "estimated_cost", "currency",
               "travellers", "legs")


@dataclass
class TripForm:
    """The form as the person filled it in: strings as typed, rows in the order shown."""

    title: str = ""
    purpose: str = "other"
    visibility: str = "normal"
    status: str = "planned"
    department: str = ""
    estimated_cost: str = ""
    currency: str = "EUR"
    travellers: list[dict[str, Any]] = field(default_factory=lambda: [_traveller({})])
    legs: list[dict[str, str]] = field(default_factory=lambda: [_leg({})])
    # The field the cursor goes to: the row just added, or the dates after a place was picked.
    focus: str | None = None


def _traveller(values: dict[str, Any]) -> dict[str, Any]:
    return {"name": "", "email": "", "role": "", "elected_official": False, **values}


def _leg(values: dict[str, str]) -> dict[str, str]:
    return {"city": "", "country": "", "start_date": "", "end_date": "", "place_id": "", "picked": "", **values}


def _rows(data: FormData, prefix: str) -> int:
    """How many rows of `prefix` the form posted (`legs-3-city` makes four)."""
    found = [int(m.group(1)) for key in data.keys() if (m := re.fullmatch(rf"{prefix}-(\d+)-\w+", key))]
    return min(max(found, default=0) + 1, MAX_ROWS)


def _read(data: FormData) -> TripForm:
    def text(name: str) -> str:
        return str(data.get(name) or "").strip()

    return TripForm(
        title=text("title"), purpose=text("purpose") or "other", visibility=text("visibility") or "normal",
        status=text("status") or "planned", department=text("department").upper(),
        estimated_cost=text("estimated_cost"), currency=text("currency").upper(),
        travellers=[_traveller({**{k: text(f"travellers-{i}-{k}") for k in TRAVELLER_FIELDS},
                                "elected_official": bool(data.get(f"travellers-{i}-elected_official"))})
                    for i in range(_rows(data, "travellers"))],
        legs=[_leg({k: text(f"legs-{i}-{k}") for k in (*LEG_FIELDS, "place_id", "picked")})
              for i in range(_rows(data, "legs"))])


@dataclass
class TripBody:
    """What the travel API is sent, and which form row each item of its lists came from (blank rows
    are left out, so `legs[1]` of the body may be the form's third row)."""

    body: dict[str, Any]
    traveller_rows: list[int]
    leg_rows: list[int]


def _body(form: TripForm, coordinates: bool) -> TripBody:
    travellers = [(i, t) for i, t in enumerate(form.travellers) if any(t[k] for k in TRAVELLER_FIELDS)]
    legs = [(i, leg) for i, leg in enumerate(form.legs) if any(leg[k] for k in LEG_FIELDS)]
    body: dict[str, Any] = {
        "title": form.title, "purpose": form.purpose, "visibility": form.visibility, "status": form.status,
        "travellers": [{"name": t["name"], "email": t["email"] or None, "role": t["role"] or None,
                        "elected_official": t["elected_official"]} for _, t in travellers],
        "legs": [_leg_body(leg) for _, leg in legs]}
    if form.estimated_cost:
        body["estimated_cost"] = form.estimated_cost
        body["currency"] = form.currency or None
    if coordinates and form.department:
        body["department"] = form.department
    return TripBody(body, [i for i, _ in travellers], [i for i, _ in legs])


def _leg_body(leg: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {k: leg[k] for k in LEG_FIELDS}
    # A place picked from the suggestions counts while the city still reads as picked: typing
    # another city afterwards means that one.
    if leg["place_id"].isdigit() and leg["picked"] == leg["city"]:
        body["place_id"] = int(leg["place_id"])
    return body


@dataclass
class Refusal:
    """A service's refusal laid onto the form: messages by form field, candidates by leg row."""

    detail: str
    status: int
    fields: dict[str, str] = field(default_factory=dict)
    places: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)


def _refusal(problem: ServiceProblem, sent: TripBody) -> Refusal:
    refusal = Refusal(problem.detail, problem.status)
    for error in problem.errors:
        name, message = str(error.get("field", "")), str(error.get("message", ""))
        row = re.fullmatch(r"(travellers|legs)\[(\d+)\]\.(\w+)", name)
        if row:
            items, index, part = row.group(1), int(row.group(2)), row.group(3)
            rows = sent.traveller_rows if items == "travellers" else sent.leg_rows
            if index >= len(rows):
                refusal.others.append(f"{name}: {message}")
                continue
            part = "city" if part == "place_id" else part
            target = f"{items}-{rows[index]}-{part}"
            refusal.fields[target] = message
            candidates = error.get("candidates") or []
            if items == "legs" and part == "city" and candidates:
                refusal.places[rows[index]] = candidates
            elif candidates:  # an ambiguous country: the countries it may mean, in words
                refusal.fields[target] += " (" + ", ".join(
                    f"{c.get('country')}: {c.get('name')}" for c in candidates) + ")"
        elif name in FORM_FIELDS:
            refusal.fields[name] = message
        else:
            refusal.others.append(f"{name}: {message}" if name else message)
    if not problem.errors:
        refusal.others.append(problem.detail)
    return refusal


@router.get("/trips/new")
async def new_trip(request: Request, session: SessionDep) -> Response:
    return _page(request, session, TripForm())


@router.post("/trips/new")
async def submit_trip(request: Request, board: BoardDep, session: SessionDep) -> Response:
    """One form, several buttons: add a row, take a suggested place, check for overlaps, book."""
    data = await request.form()
    check_csrf(session, str(data.get("csrf") or ""))
    form = _read(data)
    action = str(data.get("action") or "")
    if action == "add-traveller" and len(form.travellers) < MAX_ROWS:
        form.travellers.append(_traveller({}))
        form.focus = f"travellers-{len(form.travellers) - 1}-name"
    elif action == "add-leg" and len(form.legs) < MAX_ROWS:
        form.legs.append(_leg({}))
        form.focus = f"legs-{len(form.legs) - 1}-city"
    elif action.startswith("pick:"):
        _pick(form, action)
    elif action in ("check", "book"):
        sent = _body(form, session.coordinates)
        try:
            if action == "book":
                trip = await board.services.post("travel", "/trips", session.key, sent.body)
                return RedirectResponse(f"/board/trips/{trip['id']}", status_code=303)
            found = await board.services.post("travel", "/trips/check", session.key, sent.body)
        except ServiceProblem as problem:
            refusal = _refusal(problem, sent)
            return _page(request, session, form, refusal=refusal, status=problem.status)
        return _page(request, session, form, found=found)
    return _page(request, session, form)


def _pick(form: TripForm, action: str) -> None:
    """`pick:<row>:<country>:<place id>:<name>`: the leg's city becomes the suggested place."""
    parts = action.split(":", 4)
    if len(parts) != 5 or not parts[1].isdigit() or int(parts[1]) >= len(form.legs):
        return
    leg = form.legs[int(parts[1])]
    leg.update(country=parts[2], place_id=parts[3], city=parts[4], picked=parts[4])
    form.focus = f"legs-{parts[1]}-start_date"


@router.get("/trips/legs/{row}/places")
async def suggest_places(row: int, request: Request, board: BoardDep, session: SessionDep) -> Response:
    """The places a leg's city may mean, as typed so far: a fragment htmx puts under the field."""
    city = (request.query_params.get(f"legs-{row}-city") or "").strip()[:100]
    country = (request.query_params.get(f"legs-{row}-country") or "").strip()[:60]
    places: list[dict[str, Any]] = []
    problem = None
    if len(city) >= 2:
        try:
            places = await board.services.get("travel", "/places", session.key,
                                              {"q": city, "country": country if len(country) >= 2 else None,
                                               "limit": 6})
        except ServiceProblem as refused:  # e.g. a country not known: said under the field
            problem = refused.field("country") or refused.detail
    return render(request, "trips/_places.html", session, row=row, places=places, typed=city, problem=problem)


@router.get("/trips/{trip_id}")
async def booked_trip(trip_id: str, request: Request, board: BoardDep, session: SessionDep) -> Response:
    """A trip just booked: what was stored, and the overlaps and crossings booking found; for the
    coordinators (who may read the audit trail), its history: who changed what, when."""
    ask = board.services
    history = ask.changes("travel", f"trip/{trip_id}", session.key, session.coordinates)
    try:
        trip, overlaps, crossings, changes = await asyncio.gather(
            ask.get("travel", f"/trips/{trip_id}", session.key),
            ask.get("travel", "/overlaps", session.key, {"limit": 500}),
            ask.get("travel", "/crossings", session.key, {"limit": 500}), history)
    except ServiceProblem as problem:
        return render(request, "problem.html", session, status=problem.status, problem=problem,
                      back="/board/trips/new")
    return render(request, "trips/booked.html", session, trip=trip,
                  overlaps=[o for o in overlaps if trip_id in o["trip_ids"]],
                  crossings=[c for c in crossings if c["trip_id"] == trip_id],
                  month=trip["legs"][0]["start_date"][:7], history=changes,
                  zone=board.settings.timezone)


def _page(request: Request, session: Session, form: TripForm, refusal: Refusal | None = None,
          found: dict[str, Any] | None = None, status: int = 200) -> Response:
    return render(request, "trips/new.html", session, status=status, form=form, refusal=refusal,
                  errors=refusal.fields if refusal else {}, places=refusal.places if refusal else {},
                  found=found, purposes=PURPOSES, visibilities=VISIBILITIES, statuses=STATUSES,
                  max_rows=MAX_ROWS)
