"""Who may do what in partners: the one table every route asks (and the authorization tests are
generated from, tests/component/test_partners_policy.py).

Ownership: a partnership is its `department`'s (who looks after it, OIA by default), a logged
contact its `department`'s, an organisation its `lead_department`'s; people belong to no department.
"""

from shared.policy import ANY, NONE, OWN, Policy, rule

POLICY = Policy("partners", {
    # The register of partnerships is the OIA's: coordinators keep it, everyone reads it.
    "partnership.read": rule("read partnerships, their timelines, health and anniversaries",
                             admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    "partnership.record": rule("record or change partnerships",
                               admin=ANY, coordinator=ANY, department=NONE, reader=NONE),
    "partnership.import": rule("import a register of partnerships",
                               admin=ANY, coordinator=ANY, department=NONE, reader=NONE),
    # A department logs the meetings it had itself; the OIA logs anyone's.
    "contact.log": rule("log contacts", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    # A restricted trip's visit shows in a timeline only to the coordinators and its own department.
    "contact.read_restricted": rule("read restricted trips' visits",
                                    admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "organisation.read": rule("read organisations", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    "organisation.record": rule("record, change or remove organisations",
                                admin=ANY, coordinator=ANY, department=NONE, reader=NONE),
    "person.read": rule("read people", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    # A person's name and office (a club's chair, an honorary consul) is what the city publishes anyway;
    # their e-mail and phone serve only those who work with them (GDPR art. 5(1)(c), minimisation): the
    # office and departments, not reader keys (dashboards, reports, scripts). Others get them blank.
    "person.contact": rule("read people's e-mail and phone",
                           admin=ANY, coordinator=ANY, department=ANY, reader=NONE),
    "person.record": rule("record, change or remove people",
                          admin=ANY, coordinator=ANY, department=NONE, reader=NONE),
    "partner.find": rule("search candidate partners", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    "jobs.run": rule("run the scheduled jobs", admin=ANY, coordinator=NONE, department=NONE, reader=NONE),
    # The gazetteer's suggestions for a typed place name: public reference data, for every key.
    "place.read": rule("look up places", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
})
