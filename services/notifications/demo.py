"""Demo data for the embedded default: a directory, so a newcomer sees every alert as an .eml file
in the data folder (and, for the Slack channel nobody set up yet, the reason it was skipped)."""

from __future__ import annotations

from services.notifications.domain import Language, RecipientKind
from services.notifications.schemas import ChannelIn, RecipientIn
from services.notifications.service import directory
from shared.auth import Principal

DESKS: list[tuple[str, RecipientKind, str, str, Language]] = [
    ("OIA", "coordinators", "Office for International Affairs — coordinators", "oia@city.example", "en"),
    ("MAYOR", "department", "Mayor's office", "mayors-office@city.example", "de"),
    ("ECON", "department", "Economic development", "econ@city.example", "en"),
    ("CULT", "department", "Culture", "culture@city.example", "de"),
    ("ENV", "department", "Environment", "environment@city.example", "en"),
]
SEEDER = Principal("admin", None, "demo", "demo data")


async def seed(runtime) -> None:
    for code, kind, name, address, language in DESKS:
        channels = [ChannelIn(kind="email", address=address)]
        if code == "OIA":
            channels.append(ChannelIn(kind="slack", address=None))
        async with runtime.uow() as uow:
            await directory.create_recipient(uow, runtime.context, RecipientIn(
                id=code, kind=kind, name=name, department=code, language=language, channels=channels), SEEDER)
