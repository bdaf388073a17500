"""A partnership's, an application's and a recipient's page show coordinators the record's audit trail
(who changed what, when; personal values masked) and departments and readers no such section."""

from __future__ import annotations

import re

from tests.component.test_board import COORDINATOR, ECON, csrf_of, sign_in
from tests.component.test_board_grants import CULT, READER, a_call, an_application
from tests.component.test_board_partners import create
from tests.component.test_notifications_api import add
from tests.support.embedded import auth


def changes_of(page: str) -> list[tuple[str, str, str]]:
    """(who, what, changes) of each row of the page's changes section, newest first."""
    assert 'id="changes-heading"' in page, "no changes section"
    section = page[page.index('id="changes-heading"'):]
    section = section[:section.index("</section>")]
    return [(who, what, re.sub(r"\s+", " ", changes)) for who, what, changes in
            re.findall(r"<tr><td>.*?</td><td>(.*?)</td><td>(.*?)</td>\s*<td>(.*?)</td></tr>", section, re.S)]


async def test_a_partnerships_page_shows_coordinators_its_changes_with_the_desk_officer_masked(client, host):
    krakow = await create(client, host, partner_city="Krakau", desk_officer_name="Eva Nowak",
                          desk_officer_email="eva.nowak@city.example")
    changed = await client.patch(f"/partners/partnerships/{krakow['id']}", headers=auth(host, *COORDINATOR),
                                 json={"status": "dormant", "status_reason": "No contact since 2019",
                                       "desk_officer_name": "Jan Kowalski"})
    assert changed.status_code == 200, changed.text

    await sign_in(client, host, ECON)
    assert 'id="changes-heading"' not in (await client.get(f"/board/partners/{krakow['id']}")).text
    await sign_in(client, host, COORDINATOR)
    page = (await client.get(f"/board/partners/{krakow['id']}")).text
    rows = changes_of(page)
    assert [what for _, what, _ in rows] == ["changed", "created"]
    assert all(who.startswith("coordinator OIA (") for who, _, _ in rows)
    assert "status: active → dormant" in rows[0][2] and "desk_officer_name: *** → ***" in rows[0][2]
    section = page[page.index('id="changes-heading"'):]
    assert "Jan Kowalski" not in section and "Eva Nowak" not in section


async def test_an_applications_page_shows_coordinators_its_changes_and_a_reader_none(client, host):
    call = await a_call(client, host)
    application = await an_application(client, host, call["id"])
    moved = await client.post(f"/grants/applications/{application['id']}/stage", json={"stage": "preparing"},
                              headers=auth(host, *CULT))
    assert moved.status_code == 200, moved.text

    await sign_in(client, host, READER)
    assert 'id="changes-heading"' not in (await client.get(f"/board/grants/applications/{application['id']}")).text
    await sign_in(client, host, COORDINATOR)
    page = (await client.get(f"/board/grants/applications/{application['id']}")).text
    rows = changes_of(page)
    assert [what for _, what, _ in rows] == ["stage_changed", "created"]
    assert rows[0][0].startswith("department CULT (") and "stage: idea → preparing" in rows[0][2]
    assert "Clara Neumann" not in page[page.index('id="changes-heading"'):]


async def test_a_recipients_page_shows_coordinators_its_changes_and_its_own_department_none(client, host):
    await add(client, host, {"id": "ECON-fairs", "kind": "team", "name": "Trade fair team", "department": "ECON",
                             "channels": [{"kind": "email", "address": "fairs@city.example"}]})
    await sign_in(client, host, ECON)
    page = await client.get("/board/recipients/ECON-fairs")
    assert 'id="changes-heading"' not in page.text
    saved = await client.post("/board/recipients/ECON-fairs/settings", data={
        "language": "de", "timezone": "Europe/Berlin", "quiet_start": "22:00", "quiet_end": "07:00",
        "csrf": csrf_of(page.text)})
    assert saved.status_code == 303, saved.text

    await sign_in(client, host, COORDINATOR)
    page = (await client.get("/board/recipients/ECON-fairs")).text
    rows = changes_of(page)
    assert [what for _, what, _ in rows] == ["changed", "created"]
    assert rows[0][0].startswith("department ECON (") and "language: en → de" in rows[0][2]
    assert "fairs@city.example" not in page[page.index('id="changes-heading"'):]
