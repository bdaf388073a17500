"""Signing in (with an API key; at the identity provider: oidc.py), signing out, the language."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from board.i18n import LANGUAGES
from board.services import ServiceProblem
from board.session import ANONYMOUS_CSRF_COOKIE, COOKIE, csrf_matches, set_cookie
from board.web import BoardDep, check_csrf, language_for, render

router = APIRouter(prefix="/board")


@router.get("/", include_in_schema=False)
async def home(request: Request, board: BoardDep) -> Response:
    signed_in = board.sessions.find(request.cookies.get(COOKIE)) is not None
    return RedirectResponse("/board/today" if signed_in else "/board/sign-in", status_code=303)


@router.get("/sign-in")
async def sign_in_form(request: Request, board: BoardDep) -> Response:
    return _form(request, board, error=None, status=200)


@router.post("/sign-in")
async def sign_in(request: Request, board: BoardDep, key: Annotated[str, Form(max_length=200)] = "",
                  csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    if not csrf_matches(request.cookies.get(ANONYMOUS_CSRF_COOKIE), csrf):
        return _form(request, board, error="csrf", status=403)
    try:
        caller = await board.services.get("travel", "/me", key.strip())
    except ServiceProblem as problem:
        return _form(request, board, error="key" if problem.status in (401, 403, 429) else "unreachable",
                     status=401 if problem.status in (401, 403) else problem.status)
    session = board.sessions.open(key.strip(), caller["role"], caller["department"], caller["label"],
                                  language_for(request, None))
    response = RedirectResponse("/board/today", status_code=303)
    set_cookie(response, request, COOKIE, session.id, board.settings.secure_cookies)
    response.delete_cookie(ANONYMOUS_CSRF_COOKIE, path="/board")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, board: BoardDep, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    session = board.sessions.find(request.cookies.get(COOKIE))
    then = "/board/sign-in"
    if session is not None:
        check_csrf(session, csrf)
        board.sessions.close(session.id)
        if session.expires_at is not None:  # signed in at the identity provider: offer its sign-out too
            then = "/board/oidc/signed-out"
    response = RedirectResponse(then, status_code=303)
    response.delete_cookie(COOKIE, path="/board")
    return response


@router.post("/language")
async def choose_language(request: Request, board: BoardDep, language: Annotated[str, Form(max_length=5)],
                          csrf: Annotated[str, Form(max_length=100)] = "",
                          back: Annotated[str, Form(max_length=300)] = "/board/") -> Response:
    if language not in LANGUAGES:
        language = board.settings.default_language
    session = board.sessions.find(request.cookies.get(COOKIE))
    if session is not None:
        check_csrf(session, csrf)
        session.language = language
    elif not csrf_matches(request.cookies.get(ANONYMOUS_CSRF_COOKIE), csrf):
        return _form(request, board, error="csrf", status=403)
    # Back to the page it was chosen on (a path of ours only: never another site).
    target = back if back.startswith("/board/") and "//" not in back and "\\" not in back else "/board/"
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, "oia_board_lang", language, board.settings.secure_cookies, max_age=365 * 86400)
    return response


def _form(request: Request, board: BoardDep, error: str | None, status: int) -> Response:
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE) or secrets.token_urlsafe(32)
    provider = board.settings.oidc_name if board.settings.oidc_issuer else None
    response = render(request, "sign_in.html", None, status=status, error=error, csrf=token, provider=provider)
    set_cookie(response, request, ANONYMOUS_CSRF_COOKIE, token, board.settings.secure_cookies)
    return response
