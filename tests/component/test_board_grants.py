"""The board's grants pages through the embedded host: the pipeline in columns by stage, moving an
application (and a refused move said in plain words, nothing changed), what each role may do there,
the calls paged by the service's cursor, an application's eligibility and history, the city profile."""

from __future__ import annotations

import re

from tests.component.test_board import csrf_of, sign_in
from tests.support.embedded import auth

COORDINATOR, CULT, ECON, READER = ("coordinator", "OIA"), ("department", "CULT"), ("department", "ECON"), \
    ("reader", None)


async def a_call(client, host, identifier: str = "CERV-2027-CITIZENS-TOWN-TT", deadline: str = "2099-03-31") -> dict:
    response = await client.post("/grants/calls", headers=auth(host, *COORDINATOR), json={
        "identifier": identifier, "programme": "cerv", "title": f"Call {identifier}", "opens_at": "2026-01-10",
        "deadlines": [deadline], "budget": 4_000_000, "grant_max": 60_000, "themes": ["town twinning"]})
    assert response.status_code == 201, response.text
    return response.json()


async def an_application(client, host, call_id: str, who=CULT, title: str = "Twinning for remembrance") -> dict:
    response = await client.post("/grants/applications", headers=auth(host, *who), json={
        "call_id": call_id, "title": title, "requested_amount": 28_000,
        "owner": {"name": "Clara Neumann", "email": "clara.neumann@city.example"},
        "consortium": [{"name": "City of Kraków", "city": "Krakau", "country": "PL", "role": "partner"}]})
    assert response.status_code == 201, response.text
    return response.json()


async def stage_of(client, host, application_id: str) -> str:
    response = await client.get(f"/grants/applications/{application_id}", headers=auth(host, *COORDINATOR))
    return response.json()["stage"]


def column(page: str, stage: str) -> str:
    """The HTML of one stage's column of the pipeline."""
    found = re.search(rf'<section class="stage" aria-labelledby="stage-{stage}">(.*?)</section>', page, re.S)
    assert found, f"the pipeline has a {stage} column"
    return found.group(1)


async def test_the_pipeline_shows_each_application_in_its_stages_column(client, host):
    call = await a_call(client, host)
    idea = await an_application(client, host, call["id"], title="Twinning for remembrance")
    moved = await an_application(client, host, call["id"], who=ECON, title="Trade links with Kraków")
    assert (await client.post(f"/grants/applications/{moved['id']}/stage", json={"stage": "preparing"},
                              headers=auth(host, *ECON))).status_code == 200
    await sign_in(client, host, COORDINATOR)

    page = await client.get("/board/grants")

    assert page.status_code == 200
    assert f'id="application-{idea["id"]}"' in column(page.text, "idea")
    assert "Trade links with Kraków" in column(page.text, "preparing")
    assert "Trade links" not in column(page.text, "idea")
    card = column(page.text, "idea")
    assert "CERV-2027-CITIZENS-TOWN-TT" in card and "CULT" in card and "28,000 €" in card and "31 Mar 2099" in card


async def test_moving_an_application_changes_its_stage_through_the_service(client, host):
    call = await a_call(client, host)
    application = await an_application(client, host, call["id"])
    await sign_in(client, host, CULT)
    page = await client.get("/board/grants")
    assert f'action="/board/grants/applications/{application["id"]}/stage"' in page.text

    moved = await client.post(f"/board/grants/applications/{application['id']}/stage",
                              data={"stage": "preparing", "csrf": csrf_of(page.text)})

    assert moved.status_code == 303
    assert moved.headers["location"] == f"/board/grants#application-{application['id']}"
    assert await stage_of(client, host, application["id"]) == "preparing"
    history = (await client.get(f"/grants/applications/{application['id']}/stages",
                                headers=auth(host, *COORDINATOR))).json()
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [("idea", "preparing")]
    assert application["title"] in column((await client.get("/board/grants")).text, "preparing")


async def test_a_refused_move_is_said_in_plain_words_and_changes_nothing(client, host):
    call = await a_call(client, host)
    application = await an_application(client, host, call["id"])
    await sign_in(client, host, CULT)
    token = csrf_of((await client.get("/board/grants")).text)

    # A page left open while someone else moved it on: the form offered a move no longer allowed.
    refused = await client.post(f"/board/grants/applications/{application['id']}/stage",
                                data={"stage": "submitted", "csrf": token})

    assert refused.status_code == 409
    assert ("An application in stage “idea” cannot move to “submitted”. From here it can go to: preparing, "
            "withdrawn.") in refused.text
    assert f'<div class="alert" id="refusal-{application["id"]}">' in refused.text  # on the card itself too
    assert await stage_of(client, host, application["id"]) == "idea"

    # Rejected without a reason (the service's 422), from the application's own page.
    for stage in ("preparing", "drafting", "internal_review", "submitted"):
        assert (await client.post(f"/grants/applications/{application['id']}/stage", json={"stage": stage},
                                  headers=auth(host, *CULT))).status_code == 200
    no_reason = await client.post(f"/board/grants/applications/{application['id']}/stage",
                                  data={"stage": "rejected", "back": "application", "csrf": token})
    assert no_reason.status_code == 422 and "Say why the application was rejected." in no_reason.text
    assert "Consortium eligibility" in no_reason.text  # the application's page again, not the pipeline
    assert await stage_of(client, host, application["id"]) == "submitted"


async def test_a_refused_move_reads_in_german_for_a_german_reader(client, host):
    call = await a_call(client, host)
    application = await an_application(client, host, call["id"])
    await sign_in(client, host, CULT)
    page = await client.get("/board/grants")
    await client.post("/board/language", data={"language": "de", "csrf": csrf_of(page.text), "back": "/board/grants"})

    refused = await client.post(f"/board/grants/applications/{application['id']}/stage",
                                data={"stage": "awarded", "csrf": csrf_of(page.text)})

    assert refused.status_code == 409 and '<html lang="de">' in refused.text
    assert "kann nicht zu „bewilligt“ wechseln" in refused.text
    assert await stage_of(client, host, application["id"]) == "idea"


async def test_a_department_moves_only_its_own_and_a_reader_none(client, host):
    call = await a_call(client, host)
    theirs = await an_application(client, host, call["id"], who=ECON, title="Trade links with Kraków")
    ours = await an_application(client, host, call["id"], who=CULT)
    await sign_in(client, host, CULT)

    page = await client.get("/board/grants")
    # Departments see each other's applications (the API gives them), but a move form only on their own.
    assert "Trade links with Kraków" in page.text
    assert f"/board/grants/applications/{ours['id']}/stage" in page.text
    assert f"/board/grants/applications/{theirs['id']}/stage" not in page.text
    # A hand-made move of another department's application: the service refuses it, nothing changes.
    forged = await client.post(f"/board/grants/applications/{theirs['id']}/stage",
                               data={"stage": "preparing", "csrf": csrf_of(page.text)})
    assert forged.status_code == 403 and "only your own department" in forged.text
    assert await stage_of(client, host, theirs["id"]) == "idea"

    client.cookies.clear()
    await sign_in(client, host, READER)
    read_only = await client.get("/board/grants")
    assert "Trade links with Kraków" in read_only.text and "/stage" not in read_only.text
    forged = await client.post(f"/board/grants/applications/{ours['id']}/stage",
                               data={"stage": "preparing", "csrf": csrf_of(read_only.text)})
    assert forged.status_code == 403 and "may not move applications" in forged.text  # the service's own words
    assert await stage_of(client, host, ours["id"]) == "idea"


async def test_a_move_without_the_forms_token_changes_nothing(client, host):
    call = await a_call(client, host)
    application = await an_application(client, host, call["id"])
    await sign_in(client, host, CULT)

    forged = await client.post(f"/board/grants/applications/{application['id']}/stage", data={"stage": "preparing"})
    guessed = await client.post(f"/board/grants/applications/{application['id']}/stage",
                                data={"stage": "preparing", "csrf": "guessed"})

    assert forged.status_code == 403 and guessed.status_code == 403
    assert await stage_of(client, host, application["id"]) == "idea"


async def test_the_calls_are_paged_by_the_services_cursor_with_their_deadlines(client, host):
    for n in range(27):  # one more page than the board shows at once
        await a_call(client, host, identifier=f"CERV-2027-CALL-{n:02d}", deadline=f"2099-01-{n + 1:02d}")
    await sign_in(client, host, ECON)

    first = await client.get("/board/grants/calls")
    assert first.status_code == 200
    assert "CERV-2027-CALL-00" in first.text and "1 Jan 2099" in first.text
    assert "CERV-2027-CALL-26" not in first.text
    next_link = re.search(r'href="\?([^"]*cursor=[^"]+)">Next page', first.text)
    assert next_link, "a link to the next page"
    second = await client.get(f"/board/grants/calls?{next_link.group(1).replace('&amp;', '&')}")
    assert "CERV-2027-CALL-26" in second.text and "CERV-2027-CALL-00" not in second.text
    assert "Next page" not in second.text

    refused = await client.get("/board/grants/calls", params={"q": "C"})
    assert refused.status_code == 422 and "Search for at least two letters." in refused.text


async def test_an_applications_page_shows_its_eligibility_and_history(client, host):
    call = await a_call(client, host)
    application = await an_application(client, host, call["id"])
    assert (await client.post(f"/grants/applications/{application['id']}/stage", json={"stage": "preparing"},
                              headers=auth(host, *CULT))).status_code == 200
    await sign_in(client, host, READER)

    page = await client.get(f"/board/grants/applications/{application['id']}")

    assert page.status_code == 200
    assert "<h1>Twinning for remembrance</h1>" in page.text
    # The rules the service reports for this call, each check with its verdict in words, not colour alone.
    assert "Checks against the call" in page.text and "City of Kraków" in page.text
    eligible = application["eligibility"]["eligible"]
    assert ("meets the call" if eligible else "does not meet the call") in page.text
    assert "Stage history" in page.text and re.search(r"<td>idea</td><td>preparing</td>", page.text)
    assert "Partner candidates" in page.text
    assert "/stage" not in page.text  # a reader moves nothing
    missing = await client.get("/board/grants/applications/no-such-application")
    assert missing.status_code == 404


async def test_the_city_profile_reads_in_either_language(client, host):
    for language, title, body in (("en", "The Office", "It coordinates **partnerships**."),
                                  ("de", "Das Büro", "Es koordiniert <script>alert(1)</script> Partnerschaften.")):
        response = await client.put("/grants/boilerplate/blocks/oia", params={"lang": language},
                                    json={"title": title, "body": body}, headers=auth(host, *COORDINATOR))
        assert response.status_code == 200, response.text
    await sign_in(client, host, ECON)

    english = await client.get("/board/grants/profile")
    assert english.status_code == 200
    assert "<h1>City profile</h1>" in english.text and "<h2>" in english.text and english.text.count("<h1") == 1
    assert "<h3>The Office</h3>" in english.text and "<strong>partnerships</strong>" in english.text

    german = await client.get("/board/grants/profile", params={"lang": "de"})
    assert '<article class="card profile" lang="de">' in german.text and "<h3>Das Büro</h3>" in german.text
    assert "<script>alert" not in german.text  # the text blocks' HTML is shown as text, never run


async def test_the_pipeline_filters_by_department_and_says_when_a_filter_is_no_department(client, host):
    call = await a_call(client, host)
    await an_application(client, host, call["id"], who=ECON, title="Trade links with Kraków")
    await an_application(client, host, call["id"], who=CULT)
    await sign_in(client, host, COORDINATOR)

    econ = await client.get("/board/grants", params={"department": "econ"})
    assert econ.status_code == 200 and "Trade links with Kraków" in econ.text and "Twinning" not in econ.text

    refused = await client.get("/board/grants", params={"department": "E-C"})
    assert refused.status_code == 422 and "A department is its code in capital letters" in refused.text
