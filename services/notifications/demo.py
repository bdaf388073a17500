"""Demo data for the embedded default: a directory, so a newcomer sees every alert as an .eml file
in the data folder (and, for the Slack channel nobody set up yet, the reason it was skipped)."""

from __future__ import annotations

from services.notifications import directory
from services.notifications.models import Channel, Recipient
from shared.uow import utcnow

DESKS = [
    ("OIA", "coordinators", "Office for International Affairs — coordinators", "oia@city.example", "en"),
    ("MAYOR", "department", "Mayor's office", "mayors-office@city.example", "de"),
    ("ECON", "department", "Economic development", "econ@city.example", "en"),
    ("CULT", "department", "Culture", "culture@city.example", "de"),
    ("ENV", "department", "Environment", "environment@city.example", "en"),
]


async def seed(runtime) -> None:
    now = utcnow()
    async with runtime.uow() as uow:
        for code, kind, name, address, language in DESKS:
            uow.session.add(Recipient(id=code, kind=kind, name=name, department=code, language=language,
                                      created_at=now, updated_at=now))
            await uow.session.flush()
            uow.session.add(Channel(recipient_id=code, kind="email", address=address, created_at=now))
        uow.session.add(Channel(recipient_id="OIA", kind="slack", address=None, created_at=now))
        await directory.changed(await uow.session.connection())
        await uow.commit()
