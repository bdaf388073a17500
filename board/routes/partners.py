"""Partners: the register of partnerships (filtered, searched, paged), a partnership's page with its
timeline of contacts and the form to log one, the losing-touch list, the next twelve months'
anniversaries, organisations and people — all as the partners API answers the signed-in person."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from babel import Locale
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from board.i18n import LOCALES
from board.services import ServiceProblem
from board.session import Session
from board.web import BoardDep, SessionDep, check_csrf, render
from shared.places import local_name, normalize

router = APIRouter(prefix="/board")

# The partners API's vocabularies (services/partners/domain.py), offered as the filters' choices.
STATUSES = ("active", "dormant", "suspended", "ended")
KINDS = ("twin", "sister", "friendship", "project", "time_limited")
THEMES = ("culture", "sports", "youth", "education", "science", "economy", "startups", "tourism", "climate",
          "environment", "mobility", "urban_development", "digital", "health", "social", "migration",
          "development_cooperation", "governance", "security", "peace")
HEALTHS = ("ok", "due", "overdue")
ORGANISATION_KINDS = ("club", "area_association", "consulate", "honorary_consul", "network", "ambassador",
                      "office_abroad", "school", "university", "hospital", "other")
CONTACT_KINDS = ("meeting", "event")  # what staff log; trips and delegations come from travel
PAGE = 50
# The API has no text search: a search asks for this many (its largest page) and keeps the matches.
SEARCHED = 1000


def _names(session: Session) -> dict[str, Any]:
    """Cities and countries as the reader knows them: "Warschau" and "Polen" in German."""
    territories = Locale.parse(LOCALES[session.language]).territories
    return {"city": lambda name, country: local_name(name, country, session.language),
            "country_name": lambda code: territories.get(code, code)}


def _more(filters: dict[str, str], cursor: str | None) -> str | None:
    """The next page's link: the same filters, and the API's cursor."""
    return None if cursor is None else "?" + urlencode({**{k: v for k, v in filters.items() if v},
                                                        "cursor": cursor})


def _refused(request: Request, session: Session, problem: ServiceProblem) -> Response:
    """What the API said no with (a 404 for a partnership nobody may see, a bad cursor), plainly."""
    return render(request, "problem.html", session, status=problem.status, problem=problem, back="/board/partners")


def _matches(partnership: dict[str, Any], text: str, language: str) -> bool:
    wanted = normalize(text)
    names = [partnership["partner_city"], partnership["home_city"],
             local_name(partnership["partner_city"], partnership["partner_country"], language),
             local_name(partnership["home_city"], partnership["home_country"], language)]
    return any(wanted in normalize(name) for name in names)


@router.get("/partners")
async def register(request: Request, board: BoardDep, session: SessionDep,
                   country: Annotated[str, Query(max_length=2)] = "",
                   status: Annotated[str, Query(max_length=20)] = "",
                   kind: Annotated[str, Query(max_length=20)] = "",
                   theme: Annotated[str, Query(max_length=30)] = "",
                   home_city: Annotated[str, Query(max_length=200)] = "",
                   q: Annotated[str, Query(max_length=100)] = "",
                   cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    filters = {"country": country.strip().upper(), "status": status, "kind": kind, "theme": theme,
               "home_city": home_city.strip(), "q": q.strip()}
    asked = {k: v for k, v in filters.items() if k != "q"}
    problem: ServiceProblem | None = None
    partnerships: list[dict[str, Any]] = []
    cursor_next: str | None = None
    try:
        partnerships, cursor_next = await board.services.page(
            "partners", "/partnerships", session.key,
            {**asked, "limit": SEARCHED if filters["q"] else PAGE, "cursor": cursor})
    except ServiceProblem as refused:
        problem = refused  # e.g. a filter the API does not take: said above the list
    if filters["q"]:
        partnerships = [p for p in partnerships if _matches(p, filters["q"], session.language)]
    return render(request, "partners/register.html", session, status=problem.status if problem else 200,
                  partnerships=partnerships, filters=filters, problem=problem, more=_more(filters, cursor_next),
                  statuses=STATUSES, kinds=KINDS, themes=THEMES, searched=SEARCHED, **_names(session))


@router.get("/partners/losing-touch")
async def losing_touch(request: Request, board: BoardDep, session: SessionDep,
                       state: Annotated[str, Query(max_length=10)] = "") -> Response:
    # The API sorts by urgency (days since contact / the longest allowed interval), worst first.
    try:
        health = await board.services.get("partners", "/relationship-health", session.key, {"state": state})
    except ServiceProblem as problem:
        return _refused(request, session, problem)
    return render(request, "partners/losing_touch.html", session, health=health, state=state, healths=HEALTHS,
                  **_names(session))


@router.get("/partners/anniversaries")
async def anniversaries(request: Request, board: BoardDep, session: SessionDep) -> Response:
    try:
        coming, register = await asyncio.gather(
            board.services.get("partners", "/anniversaries", session.key, {"within_days": 365}),
            board.services.get("partners", "/partnerships", session.key, {"limit": SEARCHED}))
    except ServiceProblem as problem:
        return _refused(request, session, problem)
    # A partnership known only by its year has its jubilee on 1 January: said as the year, not that day.
    year_only = {p["id"] for p in register if p["formalised_year_only"]}
    return render(request, "partners/anniversaries.html", session, anniversaries=coming, year_only=year_only,
                  **_names(session))


@router.get("/partners/organisations")
async def organisations(request: Request, board: BoardDep, session: SessionDep,
                        kind: Annotated[str, Query(max_length=30)] = "",
                        cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    try:
        found, cursor_next = await board.services.page("partners", "/organizations", session.key,
                                                       {"kind": kind, "limit": PAGE, "cursor": cursor})
    except ServiceProblem as problem:
        return _refused(request, session, problem)
    return render(request, "partners/organisations.html", session, organisations=found, kind=kind,
                  kinds=ORGANISATION_KINDS, more=_more({"kind": kind}, cursor_next), **_names(session))


@router.get("/partners/people")
async def people(request: Request, board: BoardDep, session: SessionDep,
                 cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    try:
        (found, cursor_next), organisations = await asyncio.gather(
            board.services.page("partners", "/people", session.key, {"limit": PAGE, "cursor": cursor}),
            board.services.get("partners", "/organizations", session.key, {"limit": SEARCHED}))
    except ServiceProblem as problem:
        return _refused(request, session, problem)
    return render(request, "partners/people.html", session, people=found, more=_more({}, cursor_next),
                  organisation_names={o["id"]: o["name"] for o in organisations})


@router.get("/partners/{partnership_id}")
async def partnership(partnership_id: str, request: Request, board: BoardDep, session: SessionDep) -> Response:
    return await _partnership_page(request, board, session, partnership_id)


@router.post("/partners/{partnership_id}/contacts")
async def log_contact(partnership_id: str, request: Request, board: BoardDep, session: SessionDep,
                      kind: Annotated[str, Form(max_length=20)], on: Annotated[str, Form(max_length=10)],
                      title: Annotated[str, Form(max_length=300)], until: Annotated[str, Form(max_length=10)] = "",
                      department: Annotated[str, Form(max_length=20)] = "",
                      csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_csrf(session, csrf)
    form = {"kind": kind, "on": on, "until": until, "title": title.strip(), "department": department.strip()}
    try:
        await board.services.post("partners", f"/partnerships/{partnership_id}/contacts", session.key,
                                  {k: v for k, v in form.items() if v})
    except ServiceProblem as problem:
        return await _partnership_page(request, board, session, partnership_id, form=form, problem=problem)
    return RedirectResponse(f"/board/partners/{partnership_id}#timeline", status_code=303)


async def _partnership_page(request: Request, board: BoardDep, session: Session, partnership_id: str,
                            form: dict[str, str] | None = None, problem: ServiceProblem | None = None) -> Response:
    ask = board.services
    try:
        found, timeline, health, people_there, organisations_there, changes = await asyncio.gather(
            ask.get("partners", f"/partnerships/{partnership_id}", session.key),
            ask.get("partners", f"/partnerships/{partnership_id}/timeline", session.key),
            ask.get("partners", "/relationship-health", session.key),
            ask.get("partners", "/people", session.key, {"partnership_id": partnership_id}),
            ask.get("partners", "/organizations", session.key, {"partnership_id": partnership_id}),
            ask.changes("partners", f"partnership/{partnership_id}", session.key, session.coordinates))
    except ServiceProblem as refused:
        return _refused(request, session, refused)
    return render(request, "partners/partnership.html", session, status=problem.status if problem else 200,
                  p=found, timeline=timeline,
                  health=next((h for h in health if h["partnership_id"] == partnership_id), None),
                  people=people_there, organisations=organisations_there, contact_kinds=CONTACT_KINDS,
                  # Readers log nothing (the API would say 403); everyone else gets the form.
                  may_log=session.role != "reader", problem=problem,
                  form=form or {"kind": "meeting", "on": date.today().isoformat(), "until": "", "title": "",
                                "department": session.department or ""},
                  changes=changes, zone=board.settings.timezone, **_names(session))
