"""Notifications' HTTP routes."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlmodel import select

from services.notifications.models import FeedItem
from shared.app import RuntimeDep
from shared.auth import CurrentPrincipal

router = APIRouter(tags=["feed"])


class FeedItemOut(BaseModel):
    id: str
    recipient: str
    event_id: str
    event_type: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


@router.get("/feed", response_model=list[FeedItemOut], summary="A recipient's in-app feed, newest first")
async def feed(principal: CurrentPrincipal, runtime: RuntimeDep,
               recipient: Annotated[str, Query(min_length=1, max_length=100)],
               event_id: Annotated[str | None, Query(max_length=36)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[FeedItem]:
    if principal.role == "department" and recipient != principal.department:
        raise HTTPException(403, detail=f"a {principal.department} key reads only the {principal.department} feed")
    query = select(FeedItem).where(FeedItem.recipient == recipient)
    if event_id:
        query = query.where(FeedItem.event_id == event_id)
    async with runtime.uow() as uow:
        return list((await uow.session.exec(query.order_by(FeedItem.created_at.desc()).limit(limit))).all())
