"""The board's page for a person's data, for admins: an export asked through the form is collected from
all four services and downloaded as one JSON file; an erasure needs its confirmation and then erases
the person everywhere; other roles get no such page."""

from __future__ import annotations

import json
import re

import pytest

from shared.testing import eventually
from tests.component.test_board import COORDINATOR, ECON, csrf_of, sign_in
from tests.component.test_subjects import EMAIL, NAME, SERVICES, everything_stored, person_everywhere

ADMIN = ("admin", None)


async def complete(client, location: str) -> str:
    """The request's page, once it says complete."""
    seen = {}

    async def done() -> bool:
        seen["page"] = (await client.get(location)).text
        return "waiting for" not in seen["page"] and "Look again" not in seen["page"]
    await eventually(done, timeout=30, message=f"{location} complete")
    return seen["page"]


async def test_an_admin_exports_a_person_through_the_board_and_downloads_one_json_file(client, host):
    await person_everywhere(client, host)
    await sign_in(client, host, ADMIN)
    page = await client.get("/board/privacy")
    assert page.status_code == 200 and 'href="/board/privacy" aria-current="page"' in page.text
    asked = await client.post("/board/privacy", data={"kind": "export", "email": EMAIL, "csrf": csrf_of(page.text)})
    assert asked.status_code == 303, asked.text
    shown = await complete(client, asked.headers["location"])
    assert "h***@stadt.example" in shown and "Download the export (JSON)" in shown
    assert re.search(r"<th scope=\"row\">travel</th>\s*<td>trips: 1</td>", shown)
    download = await client.get(asked.headers["location"] + "/export.json")
    assert download.status_code == 200 and download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["cache-control"] == "no-store"
    document = json.loads(download.text)
    assert sorted(document["services"]) == sorted(SERVICES)
    assert document["services"]["grants"]["records"]["applications owned"][0]["owner_email"] == EMAIL
    listed = (await client.get("/board/privacy")).text
    assert asked.headers["location"].removeprefix("/board/privacy/") in listed and EMAIL.lower() not in listed.lower()


async def test_an_erasure_needs_its_confirmation_then_erases_the_person_in_every_service(client, host):
    await person_everywhere(client, host)
    await sign_in(client, host, ADMIN)
    token = csrf_of((await client.get("/board/privacy")).text)
    unconfirmed = await client.post("/board/privacy", data={"kind": "erase", "email": EMAIL, "csrf": token})
    assert unconfirmed.status_code == 422 and 'id="confirm-error"' in unconfirmed.text
    assert f'value="{EMAIL}"' in unconfirmed.text  # what was typed stays
    assert "No requests yet." in unconfirmed.text
    asked = await client.post("/board/privacy", data={"kind": "erase", "email": EMAIL, "confirm": "yes",
                                                      "csrf": token})
    assert asked.status_code == 303, asked.text
    shown = await complete(client, asked.headers["location"])
    assert "What each service erased or anonymised" in shown and "travellers: 1" in shown
    assert (await client.get(asked.headers["location"] + "/export.json")).status_code == 409
    for service in SERVICES:
        stored = await everything_stored(host, service)
        assert EMAIL.lower() not in stored and NAME.lower() not in stored, service


async def test_a_bad_address_is_named_under_its_field_and_asks_nobody(client, host):
    await sign_in(client, host, ADMIN)
    token = csrf_of((await client.get("/board/privacy")).text)
    refused = await client.post("/board/privacy", data={"kind": "export", "email": "hanna", "csrf": token})
    assert refused.status_code == 422 and 'id="email-error"' in refused.text and "@-sign" in refused.text
    forged = await client.post("/board/privacy", data={"kind": "export", "email": EMAIL, "csrf": "guessed"})
    assert forged.status_code == 403
    assert "No requests yet." in (await client.get("/board/privacy")).text


@pytest.mark.parametrize("who", [COORDINATOR, ECON])
async def test_only_admins_have_the_page(client, host, who):
    await sign_in(client, host, who)
    home = (await client.get("/board/today")).text
    assert 'href="/board/privacy"' not in home
    page = await client.get("/board/privacy")
    assert page.status_code == 403
    asked = await client.post("/board/privacy", data={"kind": "export", "email": EMAIL, "csrf": csrf_of(home)})
    assert asked.status_code == 403 and "Not done" in asked.text
    await sign_in(client, host, ADMIN)
    assert "No requests yet." in (await client.get("/board/privacy")).text  # nothing was asked


async def test_an_unknown_request_is_not_found_and_another_roles_key_may_not_open_one(client, host):
    await sign_in(client, host, ADMIN)
    token = csrf_of((await client.get("/board/privacy")).text)
    asked = await client.post("/board/privacy", data={"kind": "export", "email": EMAIL, "csrf": token})
    assert asked.status_code == 303
    missing = await client.get("/board/privacy/0b6a8f1e-3c2d-4e5f-8a9b-1c2d3e4f5a6b")
    assert missing.status_code == 404
    await sign_in(client, host, COORDINATOR)
    for path in (asked.headers["location"], asked.headers["location"] + "/export.json"):
        refused = await client.get(path)
        assert refused.status_code == 403 and EMAIL.lower() not in refused.text.lower(), path
