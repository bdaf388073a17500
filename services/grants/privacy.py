"""Grants' personal data, masked in its audit trail (shared/audit.py) as `PERSONAL` says (main.py
hands it to the runtime).

An application names its owner in the city (name and email): the person the deadline reminders go
to. Calls, consortium partners (institutions and cities), stage changes and the city profile's
text blocks name no one beyond the key or user that made a change.
"""

from shared.records import Holding

PERSONAL = {
    # Notes are free text that may name people: the trail says they changed, not what they say.
    "application": frozenset({"owner_name", "owner_email", "notes"}),
    "call": frozenset(),
    "text_block": frozenset(),
    "calendar_token": frozenset(),
}


HOLDINGS = (
    Holding("call", (), "EU funding calls", "as long as the pipeline keeps them", "everyone with a key"),
    Holding("callversion", (), "what changed in a call", "with its call", "everyone with a key"),
    Holding("application", ("owner_name", "owner_email", "notes"), "the city's applications and the person "
            "in the city who owns each (deadline reminders); notes are free text",
            "APPLICATION_OWNERS_RETENTION_DAYS after the application ended (rejected, withdrawn, closed): owner "
            "and notes removed", "its department; coordinators and admins; readers",
            "application_owners_retention_days"),
    Holding("stagechange", ("changed_by",), "each move through the pipeline, and who made it",
            "with its application; who made each move is cut to role and department when the application's owner "
            "is removed", "its department; coordinators and admins; readers"),
    Holding("reminder", (), "which deadline reminders were said", "with its application", "nobody through the API"),
    Holding("textblock", (), "the city profile's texts", "until deleted", "everyone with a key"),
    Holding("calendartoken", ("label",), "a secret calendar URL; its label may name who uses it",
            "until revoked", "its department; coordinators and admins"),
)
