"""Live updates: a server-sent event stream telling an open page that something it shows changed,
fed by the notifications feed of the person's desk (a department's own, or the coordinators').

The board reads the feed through the notifications API as anyone would (so it sees what the person
may see), every couple of seconds, and tells the page only that something came, and of which kind:
the page then asks for its fresh section as it would on a reload."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime

from board.services import ServiceProblem
from board.session import Session
from board.web import Board, BoardDep, SessionDep

router = APIRouter(prefix="/board")

POLL_SECONDS = 2.0
KEEP_ALIVE_SECONDS = 15.0
COORDINATORS = "OIA"  # the coordinators' desk in the notifications directory


@router.get("/live")
async def live(request: Request, board: BoardDep, session: SessionDep,
               since: Annotated[AwareDatetime | None,
                                Query(description="the page's time: what came after is news")] = None,
               ) -> Response:
    return StreamingResponse(_events(request, board, session, since), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def desk_of(session: Session) -> str | None:
    """Whose feed tells this person what is new: their department's desk, the coordinators' for
    coordinators and admins; a reader has none."""
    if session.role == "department":
        return session.department
    return COORDINATORS if session.role in ("coordinator", "admin") else None


async def _events(request: Request, board: Board, session: Session,
                  since: datetime | None = None) -> AsyncIterator[str]:
    """What came to the desk after `since` (the page's own time; without it, after the first look)."""
    desk = desk_of(session)
    seen: set[str] | None = None if since is None else set()
    quiet = 0.0
    while not await request.is_disconnected():
        if desk is not None:
            try:
                items = await board.services.get("notifications", "/feed", session.key,
                                                  {"recipient": desk, "limit": 50})
            except ServiceProblem as problem:
                if problem.status in (401, 403, 404):
                    return  # signed out, or no feed to follow: the page stays as it is
                items = None  # notifications is away: try again at the next look
            if items is not None:
                ids = {item["id"] for item in items}
                fresh = [] if seen is None else [
                    item for item in items if item["id"] not in seen
                    and (since is None or datetime.fromisoformat(item["created_at"]) > since)]
                seen = ids if seen is None else seen | ids
                for item in reversed(fresh):  # oldest first
                    kind = "overlap" if item["event_type"].startswith("travel.overlap.") else "feed"
                    yield f"id: {item['id']}\nevent: {kind}\ndata: {item['event_type']}\n\n"
                    quiet = 0.0
        if quiet >= KEEP_ALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS
