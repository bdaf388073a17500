"""Partners' personal data, masked in its audit trail (shared/audit.py) as `PERSONAL` says (main.py
hands it to the runtime).

People are people: a club's chair, an honorary consul, a desk officer abroad (name, role, email,
phone, languages). A partnership names the city's desk officer who looks after it. Organisations,
partnerships and contacts otherwise name institutions, cities, departments and dates.
"""

from shared.records import Holding

PERSONAL = {
    "person": frozenset({"name", "role", "email", "phone", "languages"}),
    "partnership": frozenset({"desk_officer_name", "desk_officer_email"}),
    "organisation": frozenset(),
    "contact": frozenset(),
}


REGISTER = "everyone with a key (the register is the city's)"
HOLDINGS = (
    Holding("partnership", ("desk_officer_name", "desk_officer_email"),
            "the city's partnerships, and the desk officer who looks after each (alerts of visits and jubilees)",
            "as long as the partnership is on the books", REGISTER),
    Holding("contact", (), "the partnership's contact history; a title is free text and may name someone "
            "(erasure scrubs a name from it)", "with its partnership",
            "everyone with a key; a restricted trip's contact only its department, coordinators and admins"),
    Holding("notice", (), "which jubilee and lapse alerts were said", "with its partnership", "nobody through the API"),
    Holding("organisation", ("notes",), "clubs, consular corps, networks around the partnerships; notes are "
            "free text", "until deleted", REGISTER),
    Holding("person", ("name", "role", "email", "phone", "languages"), "the people the office works with, "
            "in their roles", "until deleted or erased", REGISTER),
)
