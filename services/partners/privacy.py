"""Partners' personal data, masked in its audit trail (shared/audit.py) as `PERSONAL` says (main.py
hands it to the runtime).

People are people: a club's chair, an honorary consul, a desk officer abroad (name, role, email,
phone, languages). A partnership names the city's desk officer who looks after it. Organisations,
partnerships and contacts otherwise name institutions, cities, departments and dates.
"""

PERSONAL = {
    "person": frozenset({"name", "role", "email", "phone", "languages"}),
    "partnership": frozenset({"desk_officer_name", "desk_officer_email"}),
    "organisation": frozenset(),
    "contact": frozenset(),
}
