"""Organisations and people around the partnerships, and the partner finder for grant consortia."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.support.embedded import auth

COORDINATOR, READER, ECON = ("coordinator", "OIA"), ("reader", None), ("department", "ECON")


async def post(client, host, path: str, body: dict, who=COORDINATOR):
    return await client.post(f"/partners/{path}", json=body, headers=auth(host, *who))


async def partnership(client, host, city: str, country: str, themes: list[str], days_ago: int) -> dict:
    response = await post(client, host, "partnerships", {
        "partner_city": city, "partner_country": country, "formalised_on": "1990-01-01", "themes": themes,
        "last_contact_on": (date.today() - timedelta(days=days_ago)).isoformat()})
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_network_with_the_citys_membership_and_a_club_with_its_people(client, host):
    krakow = await partnership(client, host, "Krakau", "PL", ["culture"], 10)
    eurocities = await post(client, host, "organizations", {
        "kind": "network", "name": "Eurocities", "lead_department": "OIA", "dues_amount": 16000, "dues_currency": "EUR",
        "role_held": "Treasurer of the Executive Committee", "themes": ["mobility", "climate"],
        "members": [{"city": "Gent", "country": "BE"}, {"city": "Malmö", "country": "SE"}]})
    assert eurocities.status_code == 201, eurocities.text
    assert [m["city"] for m in eurocities.json()["members"]] == ["Gent", "Malmö"]
    club = await post(client, host, "organizations", {
        "kind": "club", "name": "Frankfurt/Krakow Friendship Club", "city": "Frankfurt", "country": "DE",
        "partnership_id": krakow["id"]})
    assert club.status_code == 201 and club.json()["city"] == "Frankfurt am Main"
    chair = await post(client, host, "people", {"name": "Marta Wiśniewska", "role": "Chair",
                                                "organisation_id": club.json()["id"], "email": "marta@club.example"})
    assert chair.status_code == 201
    listed = (await client.get("/partners/people", params={"organisation_id": club.json()["id"]},
                               headers=auth(host, *READER))).json()
    assert [p["name"] for p in listed] == ["Marta Wiśniewska"]
    refused = await client.delete(f"/partners/organizations/{club.json()['id']}", headers=auth(host, *COORDINATOR))
    assert refused.status_code == 409


@pytest.mark.parametrize("path, body, field", [
    ("organizations", {"kind": "guild", "name": "X"}, "kind"),
    ("organizations", {"kind": "club", "name": "X", "city": "Frankfurt"}, "country"),
    ("organizations", {"kind": "network", "name": "X", "members": [{"city": "Atlantis", "country": "GR"}]},
     "members[0].city"),
    ("organizations", {"kind": "club", "name": "X", "partnership_id": "nope"}, "partnership_id"),
    ("organizations", {"kind": "network", "name": "X", "dues_amount": -5}, "dues_amount"),
    ("people", {"name": "X", "email": "not-mail"}, "email"),
    ("people", {"name": "X", "organisation_id": "nope"}, "organisation_id"),
    ("people", {"name": "", "role": "Chair"}, "name"),
])
async def test_bad_organisations_and_people_are_422_naming_the_field(client, host, path, body, field):
    response = await post(client, host, path, body)
    assert response.status_code == 422 and field in response.text, response.text
    assert (await client.get(f"/partners/{path}", headers=auth(host, *READER))).json() == []


async def test_only_coordinators_edit_the_register(client, host):
    response = await post(client, host, "organizations", {"kind": "club", "name": "X"}, who=ECON)
    assert response.status_code == 403
    person = await post(client, host, "people", {"name": "X"}, who=ECON)
    assert person.status_code == 403
    assert (await client.get("/partners/organizations", headers=auth(host, *READER))).json() == []
    assert (await client.get("/partners/people", headers=auth(host, *READER))).json() == []


async def test_the_finder_puts_recently_active_partners_first_and_filters_by_eu_and_theme(client, host):
    await partnership(client, host, "Lyon", "FR", ["mobility"], 400)
    await partnership(client, host, "Krakau", "PL", ["mobility", "culture"], 20)
    await partnership(client, host, "Toronto", "CA", ["mobility"], 5)
    await partnership(client, host, "Milan", "IT", ["culture"], 1)
    await post(client, host, "organizations", {"kind": "network", "name": "Polis", "themes": ["mobility"],
                                               "members": [{"city": "Gent", "country": "BE"},
                                                           {"city": "Lyon", "country": "FR"}]})
    found = (await client.get("/partners/finder", headers=auth(host, *ECON), params={
        "eu_member": "true", "exclude_country": "DE", "theme": "mobility"})).json()
    assert [(c["city"], c["source"]) for c in found] == [
        ("Kraków", "partnership"), ("Lyon", "partnership"), ("Gent", "network")]
    assert found[2]["network"] == "Polis" and found[0]["eu_member"] is True
    outside = (await client.get("/partners/finder", headers=auth(host, *ECON), params={"eu_member": "false"})).json()
    assert [c["city"] for c in outside] == ["Toronto"]


async def test_organisations_and_people_are_changed_and_removed(client, host):
    network = (await post(client, host, "organizations", {"kind": "network", "name": "Eurocities"})).json()
    changed = await client.patch(f"/partners/organizations/{network['id']}", headers=auth(host, *COORDINATOR),
                                 json={"role_held": "Vice-chair", "members": [{"city": "Wien", "country": "AT"}],
                                       "themes": []})
    assert changed.status_code == 200, changed.text
    assert changed.json()["members"] == [{"city": "Vienna", "country": "AT", "place_id": 2761369}]
    bad = await client.patch(f"/partners/organizations/{network['id']}", headers=auth(host, *COORDINATOR),
                             json={"members": [{"city": "Wien", "country": "DE"}]})
    assert bad.status_code == 422 and "members[0].city" in bad.text
    person = (await post(client, host, "people", {"name": "Jana Koch", "organisation_id": network["id"]})).json()
    assert (await client.patch(f"/partners/people/{person['id']}", headers=auth(host, *ECON),
                               json={"role": "x"})).status_code == 403
    renamed = await client.patch(f"/partners/people/{person['id']}", headers=auth(host, *COORDINATOR),
                                 json={"role": "Delegate", "email": "jana@city.example"})
    assert renamed.json()["role"] == "Delegate" and renamed.json()["email"] == "jana@city.example"
    assert (await client.delete(f"/partners/people/{person['id']}", headers=auth(host, *COORDINATOR))).status_code == 204
    assert (await client.delete(f"/partners/organizations/{network['id']}",
                                headers=auth(host, *COORDINATOR))).status_code == 204
    assert (await client.get("/partners/organizations", headers=auth(host, *READER))).json() == []
