"""The board's deliveries and recipients through the embedded host: an overlap's deliveries per
recipient and channel, an admin sending a dead delivery again (a department may not), and a
recipient's quiet hours and channels changed through the forms, with the service's messages."""

from __future__ import annotations

import ipaddress
from datetime import date, timedelta

import pytest

from shared import outbound
from shared.testing import eventually
from tests.component.test_board import COORDINATOR, ECON, MAYOR, book, csrf_of, sign_in
from tests.component.test_outbound import PUBLIC
from tests.support.embedded import auth

ADMIN = ("admin", None)
SLACK_URL = "https://hooks.slack.com/services/T000/B000/very-secret-token-1234"
OVERLAP = "travel.overlap.detected.v1"


@pytest.fixture
def dns(monkeypatch) -> dict[str, list[str]]:
    """What names resolve to, for this test (the machine's own resolver is not asked)."""
    table: dict[str, list[str]] = {}

    async def resolve(host: str, port: int) -> list:
        if host not in table:
            raise OSError(f"{host}: name or service not known")
        return [ipaddress.ip_address(a) for a in table[host]]
    monkeypatch.setattr(outbound, "resolve", resolve)
    return table


async def add(client, host, body: dict) -> None:
    response = await client.post("/notifications/recipients", json=body, headers=auth(host, *COORDINATOR))
    assert response.status_code == 201, response.text


def desk(code: str, channels: list[dict]) -> dict:
    return {"id": code, "kind": "department", "name": f"{code} desk", "department": code, "channels": channels}


async def book_overlap(client, host) -> None:
    start = date.today() + timedelta(days=90)
    await book(client, host, ECON, "Trade fair", "Köln", start)
    await book(client, host, MAYOR, "Partner city visit", "Düsseldorf", start)


async def deliveries(client, host, who=ADMIN, **params) -> list[dict]:
    response = await client.get("/notifications/deliveries", params=params, headers=auth(host, *who))
    assert response.status_code == 200, response.text
    return response.json()


async def one(client, host, delivery_id: str) -> dict:
    return (await client.get(f"/notifications/deliveries/{delivery_id}", headers=auth(host, *ADMIN))).json()


async def stored(client, host, recipient_id: str) -> dict:
    return (await client.get(f"/notifications/recipients/{recipient_id}", headers=auth(host, *ADMIN))).json()


async def test_an_overlaps_deliveries_show_per_recipient_and_channel_and_a_department_sees_its_own(client, host):
    await add(client, host, desk("ECON", [{"kind": "email", "address": "econ@city.example"}]))
    await add(client, host, desk("MAYOR", [{"kind": "email", "address": "mayor@city.example"}]))
    await add(client, host, {"id": "OIA", "kind": "coordinators", "name": "OIA coordinators", "channels": [
        {"kind": "email", "address": "oia@city.example"}, {"kind": "slack"}]})  # Slack not set up: skipped
    await book_overlap(client, host)

    async def settled() -> bool:
        found = await deliveries(client, host)
        return len(found) == 4 and all(d["status"] in ("sent", "skipped") for d in found)
    await eventually(settled, message="the overlap's four deliveries sent or skipped")
    [event_id] = {d["event_id"] for d in await deliveries(client, host)}
    [item] = (await client.get("/notifications/feed", params={"recipient": "OIA", "event_id": event_id},
                               headers=auth(host, *COORDINATOR))).json()
    assert item["event_type"] == OVERLAP

    await sign_in(client, host, COORDINATOR)
    page = await client.get("/board/deliveries")
    assert page.status_code == 200
    html = page.text
    assert html.count(f'id="alert-{event_id}"') == 1 and item["title"] in html  # one alert, titled as told
    for recipient_id in ("ECON", "MAYOR", "OIA"):
        assert f'<a href="/board/recipients/{recipient_id}">{recipient_id}</a>' in html
    assert html.count("<td>Email</td>") == 3 and html.count("<td>Slack</td>") == 1
    assert html.count(">sent</a>") == 3 and html.count(">skipped</a>") == 1
    assert "no slack URL" in html  # the reason it was skipped, in the service's words

    skipped = (await client.get("/board/deliveries", params={"status": "skipped"})).text
    assert skipped.count("<td>Slack</td>") == 1 and "<td>Email</td>" not in skipped
    by_recipient = (await client.get("/board/deliveries", params={"recipient": "MAYOR"})).text
    assert by_recipient.count("<td>Email</td>") == 1 and "/board/recipients/ECON" not in by_recipient

    client.cookies.clear()
    await sign_in(client, host, ECON)
    own = (await client.get("/board/deliveries")).text
    assert '<a href="/board/recipients/ECON">ECON</a>' in own
    assert "/board/recipients/MAYOR" not in own and "/board/recipients/OIA" not in own


async def test_the_log_comes_in_pages(client, host):
    await add(client, host, desk("ECON", [{"kind": "slack"}, {"kind": "teams"}]))
    await add(client, host, desk("MAYOR", [{"kind": "slack"}, {"kind": "teams"}]))
    for week in range(13):  # 13 overlaps x 4 deliveries: more than one page of 50
        start = date.today() + timedelta(days=60 + 7 * week)
        await book(client, host, ECON, f"Fair {week}", "Köln", start)
        await book(client, host, MAYOR, f"Visit {week}", "Düsseldorf", start)

    async def all_there() -> bool:
        return len(await deliveries(client, host, limit=500)) == 52
    await eventually(all_there, message="52 deliveries")
    await sign_in(client, host, COORDINATOR)
    first = await client.get("/board/deliveries")
    assert first.text.count('<a href="/board/deliveries/') == 50 and "Next page" in first.text
    following = first.text.split('href="?')[-1].split('"')[0].replace("&amp;", "&")
    second = await client.get(f"/board/deliveries?{following}")
    assert second.text.count('<a href="/board/deliveries/') == 2 and "First page" in second.text
    spoiled = await client.get("/board/deliveries", params={"cursor": "not-a-cursor"})
    assert spoiled.status_code == 422 and "Not done" in spoiled.text  # the service's refusal, not a crash


async def test_a_dead_delivery_is_sent_again_by_an_admin_and_not_by_a_department(client, host, dns):
    dns["hooks.example.com"] = [PUBLIC]  # public when registered …
    await add(client, host, desk("ECON", [{"kind": "webhook", "address": "https://hooks.example.com/hook"}]))
    dns["hooks.example.com"] = ["127.0.0.1"]  # … this machine when sent to: refused, dead at once
    await book_overlap(client, host)

    async def dead() -> list[dict]:
        return await deliveries(client, host, status="dead")
    await eventually(dead, message="the webhook delivery dead")
    [delivery] = await dead()
    assert delivery["attempts"] == 1 and delivery["attempt_limit"] == 6  # refused: no use retrying
    path = f"/board/deliveries/{delivery['id']}"

    await sign_in(client, host, ECON)
    page = await client.get(path)
    assert page.status_code == 200 and "Every attempt" in page.text
    # What went wrong, as the API shows it to a department: the status, not the answer's text.
    assert "failed (the receiver&#39;s answer is kept for admins)" in page.text and "refused:" not in page.text
    assert "Send again" not in page.text  # admins only
    refused = await client.post(f"{path}/retry", data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 403 and "Only admins may send a delivery again." in refused.text
    assert (await one(client, host, delivery["id"]))["status"] == "dead"

    client.cookies.clear()
    await sign_in(client, host, ADMIN)
    page = await client.get(path)
    assert "Send again" in page.text and "refused: hooks.example.com resolves to 127.0.0.1" in page.text
    forged = await client.post(f"{path}/retry", data={"csrf": "guessed"})
    assert forged.status_code == 403 and (await one(client, host, delivery["id"]))["status"] == "dead"

    del dns["hooks.example.com"]  # the name gone: a failure worth retrying, so the delivery stays pending
    sent = await client.post(f"{path}/retry", data={"csrf": csrf_of(page.text)})
    assert sent.status_code == 303 and sent.headers["location"] == f"{path}?redriven=1"

    async def pending() -> bool:
        now = await one(client, host, delivery["id"])
        return now["status"] == "pending" and now["attempt_limit"] == 7  # a fresh set of six attempts
    await eventually(pending, message="the re-driven delivery pending")
    shown = (await client.get(sent.headers["location"])).text
    assert "Sent again" in shown

    again = await client.post(f"{path}/retry", data={"csrf": csrf_of(shown)})
    assert again.status_code == 409
    assert "Only dead or skipped deliveries can be sent again; this one is" in again.text


async def test_quiet_hours_changed_through_the_form_are_stored_and_a_bad_time_is_named(client, host):
    await add(client, host, {"id": "ECON-fairs", "kind": "team", "name": "Trade fair team", "department": "ECON",
                             "channels": [{"kind": "email", "address": "fairs@city.example"}]})
    await sign_in(client, host, ECON)
    page = await client.get("/board/recipients/ECON-fairs")
    assert page.status_code == 200 and 'name="quiet_start"' in page.text
    form = {"language": "de", "timezone": "Europe/Berlin", "quiet_start": "22:00", "quiet_end": "07:00",
            "digest_hour": "7", "csrf": csrf_of(page.text)}

    forged = await client.post("/board/recipients/ECON-fairs/settings", data={**form, "csrf": "guessed"})
    assert forged.status_code == 403 and (await stored(client, host, "ECON-fairs"))["quiet_start"] is None

    saved = await client.post("/board/recipients/ECON-fairs/settings", data=form)
    assert saved.status_code == 303 and saved.headers["location"] == "/board/recipients/ECON-fairs?saved=1"
    after = await stored(client, host, "ECON-fairs")
    assert (after["quiet_start"], after["quiet_end"], after["language"], after["digest_hour"]) == (
        "22:00:00", "07:00:00", "de", 7)
    shown = (await client.get(saved.headers["location"])).text
    assert 'value="22:00"' in shown and "Saved." in shown

    bad = await client.post("/board/recipients/ECON-fairs/settings",
                            data={**form, "quiet_start": "25:99", "timezone": "Europe/Atlantis"})
    assert bad.status_code == 422
    assert 'id="quiet_start-error">a local time in the recipient&#39;s time zone' in bad.text
    assert 'id="timezone-error">unknown time zone' in bad.text
    assert 'value="25:99"' in bad.text  # what was typed stays in the form
    assert (await stored(client, host, "ECON-fairs"))["quiet_start"] == "22:00:00"  # nothing changed


async def test_a_department_sees_its_desks_settings_but_only_the_coordinators_change_them(client, host):
    await add(client, host, desk("ECON", [{"kind": "email", "address": "econ@city.example"}]))
    await add(client, host, desk("MAYOR", [{"kind": "email", "address": "mayor@city.example"}]))
    await sign_in(client, host, ECON)
    directory = (await client.get("/board/recipients")).text
    assert "/board/recipients/ECON" in directory and "/board/recipients/MAYOR" not in directory
    page = await client.get("/board/recipients/ECON")
    assert page.status_code == 200 and "econ@city.example" in page.text and 'name="quiet_start"' not in page.text
    assert (await client.get("/board/recipients/MAYOR")).status_code == 404
    refused = await client.post("/board/recipients/ECON/settings", data={
        "language": "de", "timezone": "UTC", "csrf": csrf_of(page.text)})
    assert refused.status_code == 403 and "You may not change this recipient." in refused.text
    assert (await stored(client, host, "ECON"))["language"] == "en"


async def test_channels_added_through_the_form_are_masked_and_a_kept_webhook_needs_its_url(client, host, dns):
    dns["hooks.slack.com"] = [PUBLIC]
    await add(client, host, desk("ECON", [{"kind": "email", "address": "econ@city.example"}]))
    await sign_in(client, host, COORDINATOR)
    page = await client.get("/board/recipients/ECON")
    token = csrf_of(page.text)
    bad = await client.post("/board/recipients/ECON/channels", data={
        "csrf": token, "new-kind": "email", "new-address": "not-an-address"})
    assert bad.status_code == 422 and "not a valid email address" in bad.text
    added = await client.post("/board/recipients/ECON/channels", data={
        "csrf": token, "new-kind": "slack", "new-address": SLACK_URL})
    assert added.status_code == 303
    channels = (await stored(client, host, "ECON"))["channels"]
    assert [c["kind"] for c in channels] == ["email", "slack"]
    shown = (await client.get("/board/recipients/ECON")).text
    assert "very-secret-token" not in shown and channels[1]["address"] in shown  # masked, as the API shows it

    email, slack = channels
    kept_blind = await client.post("/board/recipients/ECON/channels", data={
        "csrf": token, f"remove-{email['id']}": "1"})
    assert kept_blind.status_code == 422 and "Enter the full URL again, or remove this channel." in kept_blind.text
    assert len((await stored(client, host, "ECON"))["channels"]) == 2
    removed = await client.post("/board/recipients/ECON/channels", data={
        "csrf": token, f"remove-{email['id']}": "1", f"url-{slack['id']}": SLACK_URL})
    assert removed.status_code == 303
    assert [c["kind"] for c in (await stored(client, host, "ECON"))["channels"]] == ["slack"]


async def test_the_pages_speak_german_and_an_unknown_delivery_or_recipient_is_not_found(client, host):
    await add(client, host, desk("ECON", [{"kind": "email", "address": "econ@city.example"}]))
    await sign_in(client, host, ECON)
    page = await client.get("/board/deliveries")
    await client.post("/board/language", data={"language": "de", "csrf": csrf_of(page.text),
                                               "back": "/board/deliveries"})
    german = (await client.get("/board/deliveries")).text
    assert '<html lang="de">' in german and "<h1>Zustellungen</h1>" in german and "Keine Zustellungen." in german
    desk_page = (await client.get("/board/recipients/ECON")).text
    assert "Sprache der Nachrichten" in desk_page and "Kanäle" in desk_page
    assert (await client.get("/board/deliveries/no-such-delivery")).status_code == 404
    assert (await client.get("/board/recipients/NOBODY")).status_code == 404
