"""A person's data, for admins (the data-protection officer's requests): one request exports
everything the four services hold about a person, or erases them, and its page shows who has
answered and the result (ADR 0007). The board asks one service, which asks the others over the bus."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from board.services import ServiceProblem
from board.session import Session
from board.web import Board, BoardDep, SessionDep, check_csrf, render

router = APIRouter(prefix="/board")

# Any service collects the answers; the board asks this one, so its requests are listed in one place.
ASKED = "partners"
KINDS = ("export", "erase")
PAGE = 20


@router.get("/privacy")
async def requests(request: Request, board: BoardDep, session: SessionDep,
                   cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    return await _page(request, board, session, cursor=cursor)


@router.post("/privacy")
async def ask(request: Request, board: BoardDep, session: SessionDep,
              kind: Annotated[str, Form(max_length=10)] = "", email: Annotated[str, Form(max_length=320)] = "",
              names: Annotated[str, Form(max_length=4_000)] = "", confirm: Annotated[str, Form(max_length=5)] = "",
              csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_csrf(session, csrf)
    form = {"kind": kind, "email": email.strip(), "names": names}
    if kind == "erase" and confirm != "yes":
        return await _page(request, board, session, form=form, errors={"confirm": "confirm"}, status=422)
    body: dict[str, Any] = {"kind": kind, "email": form["email"],
                            "names": [line.strip() for line in names.splitlines() if line.strip()]}
    try:
        asked = await board.services.post(ASKED, "/admin/subjects/requests", session.key, body)
    except ServiceProblem as problem:
        if problem.status != 422:  # not an admin (403), or the service is away: said as it worded it
            return render(request, "problem.html", session, status=problem.status, problem=problem,
                          back="/board/privacy")
        # Said under its field: `names[2]` is the names' box.
        errors = {e["field"].split("[")[0]: e["message"] for e in reversed(problem.errors) if "field" in e}
        return await _page(request, board, session, form=form, errors=errors, problem=problem, status=422)
    return RedirectResponse(f"/board/privacy/{asked['id']}", status_code=303)


@router.get("/privacy/{request_id}")
async def asked(request_id: str, request: Request, board: BoardDep, session: SessionDep) -> Response:
    found = await _request(request, board, session, request_id)
    if isinstance(found, Response):
        return found
    kinds_found = {service: {kind: len(records) for kind, records in answer.get("records", {}).items()}
                   for service, answer in (found["result"] or {}).items()}
    return render(request, "privacy/request.html", session, asked=found, kinds_found=kinds_found,
                  zone=board.settings.timezone)


@router.get("/privacy/{request_id}/export.json")
async def export(request_id: str, request: Request, board: BoardDep, session: SessionDep) -> Response:
    """The export as one JSON file, each service's records by kind: what the person is given."""
    found = await _request(request, board, session, request_id)
    if isinstance(found, Response):
        return found
    if found["kind"] != "export" or found["status"] != "complete":
        return render(request, "problem.html", session, status=409, back=f"/board/privacy/{request_id}",
                      problem=ServiceProblem(409, "Only a complete export can be downloaded."))
    document = {"requested_at": found["requested_at"], "completed_at": found["completed_at"],
                "services": found["result"]}
    return Response(json.dumps(document, indent=2, ensure_ascii=False), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="personal-data-{request_id}.json"',
                             "Cache-Control": "no-store"})


async def _request(request: Request, board: Board, session: Session, request_id: str) -> dict[str, Any] | Response:
    """The request as the service answers it, or the page saying why not (not an admin, no such request)."""
    try:
        found: dict[str, Any] = await board.services.get(ASKED, f"/admin/subjects/requests/{request_id}",
                                                         session.key)
    except ServiceProblem as problem:
        return render(request, "problem.html", session, status=problem.status, problem=problem, back="/board/privacy")
    return found


async def _page(request: Request, board: Board, session: Session, *, cursor: str | None = None,
                form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                problem: ServiceProblem | None = None, status: int = 200) -> Response:
    try:
        listed, next_cursor = await board.services.page(ASKED, "/admin/subjects/requests", session.key,
                                                        {"limit": PAGE, "cursor": cursor})
    except ServiceProblem as refused:  # not an admin: the service says so
        return render(request, "problem.html", session, status=refused.status, problem=refused, back="/board/")
    return render(request, "privacy/requests.html", session, status=status, listed=listed, cursor=cursor,
                  next_cursor=next_cursor, form=form or {"kind": "export", "email": "", "names": ""},
                  errors=errors or {}, problem=problem, kinds=KINDS, zone=board.settings.timezone)
