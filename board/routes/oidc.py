"""Signing in at the city's identity provider (BOARD_OIDC_*), into the same session as a key: the
person's access token becomes the session's bearer, and the services say who it is (/me), reading
the role and department from the token's claims as they are configured to."""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from board.oidc import PENDING_SECONDS, STATE_COOKIE, SignInFailed, SignInWithProvider, signing_in
from board.services import ServiceProblem
from board.session import ANONYMOUS_CSRF_COOKIE, COOKIE, set_cookie
from board.web import Board, BoardDep, language_for, render
from shared.identity import ProviderUnreachable

router = APIRouter(prefix="/board/oidc")
log = logging.getLogger(__name__)


def provider_of(request: Request, board: Board) -> SignInWithProvider:
    if not board.settings.oidc_issuer:
        raise HTTPException(status_code=404)
    return signing_in(request)


def redirect_uri(request: Request, board: Board) -> str:
    return board.settings.oidc_redirect_uri or str(request.url_for("oidc_callback"))


@router.get("/sign-in")
async def sign_in(request: Request, board: BoardDep) -> Response:
    try:
        url, state = await provider_of(request, board).start(redirect_uri(request, board))
    except ProviderUnreachable as exc:
        log.warning("identity provider unreachable: %s", exc)
        return _failed(request, "unreachable", 503)
    response = RedirectResponse(url, status_code=303)
    set_cookie(response, request, STATE_COOKIE, state, board.settings.secure_cookies, max_age=int(PENDING_SECONDS))
    return response


@router.get("/callback", name="oidc_callback")
async def callback(request: Request, board: BoardDep, state: str = "", code: str = "", iss: str | None = None,
                   error: str | None = None) -> Response:
    flow = provider_of(request, board)
    if error is not None:  # the person cancelled, or the provider would not sign them in
        return _failed(request, "provider", 401)
    try:
        tokens = await flow.finish(state, request.cookies.get(STATE_COOKIE), code, iss)
        caller = await board.services.get("travel", "/me", tokens.access_token)
    except SignInFailed as exc:
        log.warning("sign-in at the identity provider refused: %s", exc)
        return _failed(request, "provider", 401)
    except ProviderUnreachable as exc:
        log.warning("identity provider unreachable: %s", exc)
        return _failed(request, "unreachable", 503)
    except ServiceProblem as problem:  # the services know no role of ours in the person's claims
        return _failed(request, "role" if problem.status in (401, 403) else "unreachable",
                       403 if problem.status in (401, 403) else problem.status)
    session = board.sessions.open(tokens.access_token, caller["role"], caller["department"], caller["label"],
                                  language_for(request, None), expires_at=tokens.expires_at,
                                  refresh_token=tokens.refresh_token)
    response = RedirectResponse("/board/today", status_code=303)
    set_cookie(response, request, COOKIE, session.id, board.settings.secure_cookies)
    response.delete_cookie(STATE_COOKIE, path="/board")
    return response


@router.get("/signed-out")
async def signed_out(request: Request, board: BoardDep) -> Response:
    """Signed out of the board; the provider's own sign-out offered as a link (a form's redirect to
    another site is refused by our Content-Security-Policy's form-action)."""
    try:
        at_provider = await provider_of(request, board).end_session_url(str(request.url_for("sign_in_form")))
    except ProviderUnreachable:
        at_provider = None
    return _page(request, "oidc/signed_out.html", 200, at_provider=at_provider)


def _failed(request: Request, reason: str, status: int) -> Response:
    response = _page(request, "oidc/failed.html", status, reason=reason)
    response.delete_cookie(STATE_COOKIE, path="/board")
    return response


def _page(request: Request, template: str, status: int, **context: str | None) -> Response:
    """A page for someone not signed in; its language form checked as the sign-in form's is."""
    board: Board = request.app.state.board
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, template, None, status=status, csrf=token, provider=board.settings.oidc_name,
                      **context)
    set_cookie(response, request, ANONYMOUS_CSRF_COOKIE, token, board.settings.secure_cookies)
    return response
