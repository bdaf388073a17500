"""Who may do what in grants: the one table every route asks (and the authorization tests are
generated from, tests/component/test_grants_policy.py).

Ownership: an application is its `lead_department`'s; a calendar token its `department`'s (a token
of no department is the whole city's calendar). Calls and the city profile belong to no department.
"""

from shared.policy import ANY, NONE, OWN, Policy, rule

POLICY = Policy("grants", {
    "call.read": rule("read calls", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    # The office's EU funding manager follows the calls for the whole city.
    "call.record": rule("record or change calls, which coordinators do",
                        admin=ANY, coordinator=ANY, department=NONE, reader=NONE),
    "call.import": rule("import calls from the portal, which coordinators do",
                        admin=ANY, coordinator=ANY, department=NONE, reader=NONE),
    # Every view of applications asks this one row (a record, a list, stage history, eligibility,
    # the year's report), so none can show more than another. Departments see each other's: two
    # departments going for the same call is what the office wants everyone to notice.
    "application.read": rule("read applications", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    "application.start": rule("start applications", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    # Its fields and consortium, and its moves through the pipeline.
    "application.change": rule("change applications", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "application.move": rule("move applications through the pipeline",
                             admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    # Asks partners' finder with grants' own key: as readable as the application itself.
    "application.find_partners": rule("search partners for applications",
                                      admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    "boilerplate.read": rule("read the city profile", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    "boilerplate.write": rule("maintain the city profile, which coordinators do",
                              admin=ANY, coordinator=ANY, department=NONE, reader=NONE),
    # A department's deadline calendar is its own; the whole city's (no department) only the office's.
    "calendar.subscribe": rule("make or revoke calendar addresses",
                               admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "jobs.run": rule("run the scheduled jobs", admin=ANY, coordinator=NONE, department=NONE, reader=NONE),
    # The gazetteer's suggestions for a typed place name: public reference data, for every key.
    "place.read": rule("look up places", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
})
