"""Grants: the pipeline as columns by stage (moving an application, the service's refusals in plain
words), the calls with their deadlines, an application's eligibility and partner candidates, and the
city profile the service composes."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from markdown_it import MarkdownIt

from board.services import ServiceProblem
from board.web import BoardDep, SessionDep, check_csrf, render

router = APIRouter(prefix="/board")

# The pipeline's columns, in the order an application goes through them (services/grants/domain.py).
STAGES = ("idea", "preparing", "partner_search", "drafting", "internal_review", "submitted", "invited",
          "awarded", "implementing", "reporting", "closed", "rejected", "withdrawn")
PROGRAMMES = ("horizon_europe", "interreg", "cerv", "life", "erasmus_plus", "urbact", "eui", "digital_europe",
              "national", "regional")
CALL_STATUSES = ("forthcoming", "open", "closed")
PROFILE_LANGUAGES = ("en", "de")
CALLS_PER_PAGE = 25
PIPELINE_LIMIT = 1000

# The refusals grants words itself (services/grants/domain.py), recognised so they can be said in the
# reader's language; any other refusal is shown as the service worded it.
_CANNOT_MOVE = re.compile(r"an application in (\w+) cannot move to (\w+) \(allowed: (.*)\)")
_NOT_INVITABLE = "only an application submitted to the first stage of a two-stage call"
_FIELD_REFUSALS = {("reason", "say why the application was rejected"): "reason_needed",
                   ("awarded_amount", "is given only when the application is awarded"): "amount_only_when_awarded"}


@router.get("/grants")
async def pipeline(request: Request, board: BoardDep, session: SessionDep,
                   department: Annotated[str | None, Query(max_length=20)] = None,
                   programme: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    return await _pipeline(request, board, session, (department or "").strip().upper() or None, programme)


@router.post("/grants/applications/{application_id}/stage")
async def move(application_id: str, request: Request, board: BoardDep, session: SessionDep,
               stage: Annotated[str, Form(max_length=40)], reason: Annotated[str, Form(max_length=1000)] = "",
               awarded_amount: Annotated[str, Form(max_length=20)] = "",
               back: Annotated[str, Form(pattern=r"^(pipeline|application)$")] = "pipeline",
               csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_csrf(session, csrf)
    body: dict[str, Any] = {"stage": stage}
    if reason.strip():
        body["reason"] = reason.strip()
    if awarded_amount.strip():
        body["awarded_amount"] = awarded_amount.strip()  # the service says whether it is an amount
    try:
        await board.services.post("grants", f"/applications/{application_id}/stage", session.key, body)
    except ServiceProblem as problem:
        refusal = {"application_id": application_id, "stage": stage, **_refusal(problem)}
        if back == "application":
            return await _application(request, board, session, application_id, refusal, problem.status)
        return await _pipeline(request, board, session, None, None, refusal, problem.status)
    if back == "application":
        return RedirectResponse(f"/board/grants/applications/{application_id}", status_code=303)
    return RedirectResponse(f"/board/grants#application-{application_id}", status_code=303)


@router.get("/grants/calls")
async def calls(request: Request, board: BoardDep, session: SessionDep,
                status: Annotated[str | None, Query(max_length=20)] = None,
                programme: Annotated[str | None, Query(max_length=40)] = None,
                q: Annotated[str | None, Query(max_length=100)] = None,
                cursor: Annotated[str | None, Query(max_length=120)] = None) -> Response:
    filters = {"status": status or "", "programme": programme or "", "q": (q or "").strip()}
    try:
        found, next_cursor = await board.services.page("grants", "/calls", session.key,
                                                       {**filters, "limit": CALLS_PER_PAGE, "cursor": cursor})
    except ServiceProblem as problem:
        if problem.status != 422:
            return render(request, "problem.html", session, status=problem.status, problem=problem,
                          back="/board/grants")
        # A filter the service refused (a one-letter search): the form again, with its words.
        return render(request, "grants/calls.html", session, status=422, calls=[], next_cursor=None,
                      filters=filters, programmes=PROGRAMMES, statuses=CALL_STATUSES, problem=problem,
                      paged=bool(cursor))
    return render(request, "grants/calls.html", session, calls=found, next_cursor=next_cursor, filters=filters,
                  programmes=PROGRAMMES, statuses=CALL_STATUSES, problem=None, paged=bool(cursor))


@router.get("/grants/applications/{application_id}")
async def application(application_id: str, request: Request, board: BoardDep, session: SessionDep) -> Response:
    return await _application(request, board, session, application_id)


@router.get("/grants/profile")
async def profile(request: Request, board: BoardDep, session: SessionDep,
                  lang: Annotated[str | None, Query(pattern=r"^(en|de)$")] = None) -> Response:
    language = lang or (session.language if session.language in PROFILE_LANGUAGES else "en")
    try:
        text = await board.services.text("grants", "/boilerplate", session.key, {"lang": language})
    except ServiceProblem as problem:  # grants composes it with what partners knows: 503 when partners is away
        return render(request, "problem.html", session, status=problem.status, problem=problem,
                      back="/board/grants")
    return render(request, "grants/profile.html", session, profile_language=language,
                  profile_languages=PROFILE_LANGUAGES, profile_html=_markdown(text))


async def _pipeline(request: Request, board: BoardDep, session: SessionDep, department: str | None,
                    programme: str | None, refusal: dict[str, Any] | None = None, status: int = 200) -> Response:
    filter_problem: ServiceProblem | None = None
    try:
        found, more = await board.services.page("grants", "/applications", session.key,
                                                {"department": department, "programme": programme,
                                                 "limit": PIPELINE_LIMIT})
    except ServiceProblem as problem:
        if problem.status != 422:
            return render(request, "problem.html", session, status=problem.status, problem=problem,
                          back="/board/grants")
        # A filter the service refused (a department code is upper-case letters): the form again, with its words.
        found, more, status, filter_problem = [], None, 422, problem
    columns: dict[str, list[dict[str, Any]]] = {stage: [] for stage in STAGES}
    for item in found:
        columns.setdefault(item["stage"], []).append(item)
    return render(request, "grants/pipeline.html", session, status=status, columns=columns, more=more is not None,
                  filters={"department": department or "", "programme": programme or ""}, programmes=PROGRAMMES,
                  refusal=refusal, filter_problem=filter_problem, may_move=lambda a: _may_move(session, a))


async def _application(request: Request, board: BoardDep, session: SessionDep, application_id: str,
                       refusal: dict[str, Any] | None = None, status: int = 200) -> Response:
    ask = board.services
    try:
        found, history, changes = await asyncio.gather(
            ask.get("grants", f"/applications/{application_id}", session.key),
            ask.get("grants", f"/applications/{application_id}/stages", session.key),
            ask.changes("grants", f"application/{application_id}", session.key, session.coordinates))
    except ServiceProblem as problem:
        return render(request, "problem.html", session, status=problem.status, problem=problem,
                      back="/board/grants")
    try:
        candidates, unavailable = await ask.get("grants", f"/applications/{application_id}/partner-candidates",
                                                session.key), None
    except ServiceProblem as problem:
        # The candidates come from the partners service through grants: the rest of the page stands without them.
        candidates, unavailable = None, problem
    return render(request, "grants/application.html", session, status=status, application=found,
                  history=history, changes=changes, zone=board.settings.timezone, candidates=candidates,
                  unavailable=unavailable, refusal=refusal,
                  may_move=_may_move(session, found))


def _may_move(session: SessionDep, application: dict[str, Any]) -> bool:
    """Whether to offer the move form: a hint only, the service decides (and its refusal is shown)."""
    if not application["next_stages"] or session.role == "reader":
        return False
    return session.coordinates or application["lead_department"] == session.department


def _refusal(problem: ServiceProblem) -> dict[str, Any]:
    """What the service refused, as a kind the page words (with its parts), or its own words."""
    cannot = _CANNOT_MOVE.fullmatch(problem.detail)
    if problem.status == 409 and cannot:
        allowed = [] if cannot.group(3).startswith("none") else cannot.group(3).split(", ")
        return {"kind": "cannot_move", "current": cannot.group(1), "target": cannot.group(2), "allowed": allowed}
    if problem.status == 409 and problem.detail.startswith(_NOT_INVITABLE):
        return {"kind": "not_invitable"}
    if problem.status == 403 and "; only for " in problem.detail:  # shared/policy.py's refusal of another's record
        return {"kind": "not_yours"}
    if problem.status == 404:
        return {"kind": "gone"}
    if problem.status == 422 and problem.errors:
        kinds = [_FIELD_REFUSALS.get((str(e.get("field")), str(e.get("message")))) for e in problem.errors]
        if all(kinds):
            return {"kind": "fields", "fields": kinds}
    return {"kind": "service", "detail": problem.detail, "errors": problem.errors}


_MARKDOWN = MarkdownIt("js-default")  # no raw HTML: the profile's text blocks are shown, never run


def _markdown(text: str) -> str:
    """The profile's Markdown as HTML, each heading a level lower: the page's own title is the one h1."""
    tokens = _MARKDOWN.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    html: str = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    return html
