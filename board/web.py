"""What every board page needs: the board's parts, the signed-in person, CSRF checks, rendering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from board import i18n, oidc
from board.services import Services
from board.session import COOKIE, Session, Sessions, csrf_matches
from board.settings import BoardSettings


@dataclass
class Board:
    settings: BoardSettings
    services: Services
    sessions: Sessions


class SignInNeeded(Exception):
    """Raised by a page for someone not signed in: they are sent to the sign-in page."""


class CsrfRefused(Exception):
    """A form posted without its session's token: nothing is changed."""


def board_of(request: Request) -> Board:
    board: Board = request.app.state.board
    return board


async def session_of(request: Request) -> Session:
    session = board_of(request).sessions.find(request.cookies.get(COOKIE))
    if session is None:
        raise SignInNeeded
    # Signed in at the identity provider: its access token renewed before it lapses.
    if session.expires_at is not None and not await oidc.signing_in(request).keep_fresh(session):
        board_of(request).sessions.close(session.id)
        raise SignInNeeded
    return session


BoardDep = Annotated[Board, Depends(board_of)]
SessionDep = Annotated[Session, Depends(session_of)]


def check_csrf(session: Session, token: str | None) -> None:
    if not csrf_matches(session.csrf, token):
        raise CsrfRefused


def language_for(request: Request, session: Session | None) -> str:
    if session is not None:
        return session.language
    return i18n.language_of(request.headers.get("accept-language"), request.cookies.get("oia_board_lang"),
                            board_of(request).settings.default_language)


def render(request: Request, template: str, session: Session | None, status: int = 200,
           language: str | None = None, **context: Any) -> HTMLResponse:
    env = i18n.environment(language or language_for(request, session))
    html = env.get_template(template).render(request=request, session=session, path=request.url.path,
                                             **context)
    return HTMLResponse(html, status_code=status)
