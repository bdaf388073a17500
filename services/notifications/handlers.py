"""Reactions to other services' events. Each runs inside the consumer's unit of work."""

from pydantic import BaseModel

from services.notifications.service import NotificationsContext, routing
from shared.envelope import Envelope
from shared.uow import UnitOfWork


async def notify(event: BaseModel, envelope: Envelope, uow: UnitOfWork, ctx: NotificationsContext) -> None:
    """Every event people must hear of: its notice, feed entries and deliveries (sent by the
    delivery worker once this commits)."""
    await routing.route(event, envelope, uow, ctx)
