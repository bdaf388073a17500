"""Grants' personal data, masked in its audit trail (shared/audit.py) as `PERSONAL` says (main.py
hands it to the runtime).

An application names its owner in the city (name and email): the person the deadline reminders go
to. Calls, consortium partners (institutions and cities), stage changes and the city profile's
text blocks name no one beyond the key or user that made a change.
"""

PERSONAL = {
    "application": frozenset({"owner_name", "owner_email"}),
    "call": frozenset(),
    "text_block": frozenset(),
    "calendar_token": frozenset(),
}
