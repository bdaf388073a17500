"""Alert messages rendered from the Jinja2 templates: content, languages, channels, limits."""

from __future__ import annotations

import re
from datetime import date

import pytest

from services.notifications.rendering import Message, render, render_digest, supported

OVERLAP = "travel.overlap.detected.v1"
RESOLVED = "travel.overlap.resolved.v1"
CROSSING = "travel.crossing.detected.v1"
BOOKED = "travel.trip.booked.v1"


# -- payloads, as the JSON arrives ----------------------------------------------------------------

def econ_trip(**changes) -> dict:
    trip = {
        "trip_id": "5f551f04-a5a7-4af1-8f5f-a3c10572934c", "department": "ECON", "title": "Trade fair",
        "purpose": "trade_fair", "visibility": "normal",
        "travellers": [{"name": "Anna Schmidt", "email": "anna@city.example", "role": "Head of unit",
                        "elected_official": False}],
        "leg": {"city": "Köln", "country": "DE", "start_date": "2027-05-11", "end_date": "2027-05-15",
                "place_id": 2886242, "place_name": "Köln", "latitude": 50.93, "longitude": 6.95,
                "timezone": "Europe/Berlin"},
    }
    return {**trip, **changes}


def mayor_trip() -> dict:
    return {
        "trip_id": "9a1e2c3d-2222-4d4d-8b8b-7e7e7e7e7e7e", "department": "MAYOR", "title": "Partner city visit",
        "purpose": "partner_city_visit", "visibility": "normal",
        "travellers": [{"name": "Jana Berger", "email": "mayor@city.example", "role": "Mayor",
                        "elected_official": True}],
        "leg": {"city": "Düsseldorf", "country": "DE", "start_date": "2027-05-12", "end_date": "2027-05-16",
                "place_id": 2934246, "place_name": "Düsseldorf", "latitude": 51.22, "longitude": 6.78,
                "timezone": "Europe/Berlin"},
    }


def overlap(**changes) -> dict:
    data = {
        "overlap_id": "0b7f3d0c-1111-4c4c-9a9a-6f6f6f6f6f6f", "kind": "trips", "place_name": "Köln", "country": "DE",
        "distance_km": 34.2, "shared_start": "2027-05-12", "shared_end": "2027-05-15", "restricted": False,
        "trips": [econ_trip(), mayor_trip()], "delegations": [], "detected_at": "2027-03-01T09:00:01Z",
    }
    return {**data, **changes}


def delegation(**changes) -> dict:
    data = {
        "delegation_id": "c1d2e3f4-3333-4e4e-9c9c-8f8f8f8f8f8f", "host_department": "MAYOR",
        "origin_city": "Kattowitz", "origin_country": "PL", "origin_place_id": 3096472,
        "origin_place_name": "Katowice", "origin_latitude": 50.26, "origin_longitude": 19.03,
        "organisation": "City of Katowice", "visitors": 12, "arrival": "2027-06-02", "departure": "2027-06-05",
        "official_guest": True,
    }
    return {**data, **changes}


def delegation_overlap() -> dict:
    return overlap(
        overlap_id="1c8e4d1d-5555-4c4c-9a9a-6f6f6f6f6f6f", kind="delegations", place_name="Katowice", country="PL",
        distance_km=0.0, shared_start="2027-06-03", shared_end="2027-06-04", trips=[],
        delegations=[delegation(),
                     delegation(delegation_id="e5f6a7b8-6666-4e4e-9c9c-8f8f8f8f8f8f", host_department="ECON",
                                organisation="Silesian Chamber of Commerce", visitors=5, official_guest=False,
                                arrival="2027-06-03", departure="2027-06-04")])


def crossing() -> dict:
    leg = {**econ_trip()["leg"], "city": "Katowice", "country": "PL", "place_name": "Katowice",
           "start_date": "2027-06-03", "end_date": "2027-06-06"}
    return {"crossing_id": "d4e5f6a7-4444-4f4f-8d8d-9a9a9a9a9a9a", "place_name": "Katowice",
            "shared_start": "2027-06-03", "shared_end": "2027-06-04", "trip": econ_trip(leg=leg),
            "delegation": delegation(), "detected_at": "2027-04-01T08:00:01Z"}


def resolved() -> dict:
    return {"overlap_id": "0b7f3d0c-1111-4c4c-9a9a-6f6f6f6f6f6f", "kind": "trips",
            "trip_ids": ["5f551f04-a5a7-4af1-8f5f-a3c10572934c", "9a1e2c3d-2222-4d4d-8b8b-7e7e7e7e7e7e"],
            "delegation_ids": [], "departments": ["ECON", "MAYOR"],
            "reason": "trip 9a1e2c3d was cancelled", "restricted": False, "resolved_at": "2027-03-05T12:00:00Z"}


def booked() -> dict:
    trip = econ_trip()
    return {**{k: v for k, v in trip.items() if k != "leg"}, "status": "booked", "estimated_cost": "4200.00",
            "currency": "EUR", "legs": [trip["leg"]], "booked_at": "2027-03-01T09:00:00Z"}


# -- helpers --------------------------------------------------------------------------------------

def slack_text(message: Message) -> str:
    """Everything a Slack reader sees in the blocks."""
    parts = []
    for block in message.slack["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
        parts += [e["text"] for e in block.get("elements", [])]
    return "\n".join(parts)


def teams_text(message: Message) -> str:
    parts = []
    for element in message.teams["attachments"][0]["content"]["body"]:
        if element["type"] == "TextBlock":
            parts.append(element["text"])
        for fact in element.get("facts", []):
            parts += [fact["title"], fact["value"]]
    return "\n".join(parts)


def channels(message: Message) -> dict[str, str]:
    return {"text": message.text, "html": message.html, "slack": slack_text(message),
            "teams": teams_text(message)}


def assert_everywhere(message: Message, *needles: str) -> None:
    for name, content in channels(message).items():
        for needle in needles:
            assert needle in content, f"{needle!r} missing from {name}:\n{content}"


# -- overlaps -------------------------------------------------------------------------------------

def test_overlap_says_why_and_what_to_do_in_english():
    message = render(OVERLAP, overlap(), "en")

    assert message.subject == "Overlap: ECON and MAYOR in Köln at the same time"
    assert_everywhere(message, "Köln (DE)", "34 km apart", "12 May 2027 – 15 May 2027",
                      "ECON: Trade fair", "MAYOR: Partner city visit", "Partner city visit",
                      "Anna Schmidt, Head of unit, anna@city.example",
                      "Jana Berger, Mayor (elected official), mayor@city.example",
                      "Düsseldorf (DE), 12 May 2027 – 16 May 2027",
                      "Talk to each other before you finalise plans: combine the visit, coordinate meetings, "
                      "or agree who goes.",
                      "Coordinators can mark the overlap acknowledged, coordinated or not related in Diplomacity.")
    assert "Purpose: Trade fair" in message.text
    assert message.feed_title == message.subject
    assert "34 km apart" in message.feed_body and "ECON: Trade fair" in message.feed_body
    assert "MAYOR: Partner city visit" in message.feed_body


def test_overlap_in_german():
    message = render(OVERLAP, overlap(), "de")

    assert message.subject == "Überschneidung: ECON und MAYOR gleichzeitig in Köln"
    assert_everywhere(message, "34 km voneinander entfernt", "12. Mai 2027 – 15. Mai 2027",
                      "Zweck: Messe", "Zweck: Partnerstadtbesuch",
                      "Anna Schmidt, Head of unit, anna@city.example", "(gewählte Amtsperson)",
                      "Nächste Schritte: Sprechen Sie miteinander",
                      "in Diplomacity als „zur Kenntnis genommen“, „abgestimmt“ oder „kein Zusammenhang“ markieren")
    for english in ("What to do next", "elected official", "Purpose", "12 May 2027", "apart", "Trade fair,"):
        assert english not in message.text


@pytest.mark.parametrize("km", [0.0, 0.4])
def test_overlap_within_a_kilometre_is_the_same_city(km):
    assert "Where: Köln (DE), same city" in render(OVERLAP, overlap(distance_km=km), "en").text
    assert "Wo: Köln (DE), gleiche Stadt" in render(OVERLAP, overlap(distance_km=km), "de").text
    slack = slack_text(render(OVERLAP, overlap(distance_km=km), "en"))
    assert "*Distance*\nsame city" in slack


def test_restricted_overlap_says_it_is_for_coordinators_only():
    assert "goes to the coordinators only" in render(OVERLAP, overlap(restricted=True), "en").text
    assert "goes to the coordinators only" not in render(OVERLAP, overlap(), "en").text


def test_delegation_overlap_names_both_hosts_origin_organisation_visitors_and_dates():
    message = render(OVERLAP, delegation_overlap(), "en")

    assert message.subject == "Overlap: MAYOR and ECON host delegations from Katowice at the same time"
    assert_everywhere(message, "Katowice (PL)", "same city", "3 June 2027 – 4 June 2027",
                      "City of Katowice from Katowice (PL), hosted by MAYOR",
                      "Silesian Chamber of Commerce from Katowice (PL), hosted by ECON",
                      "Visitors: 12 (official guests); visit: 2 June 2027 – 5 June 2027",
                      "Visitors: 5; visit: 3 June 2027 – 4 June 2027",
                      "Coordinators can mark the overlap acknowledged, coordinated or not related")
    assert "From: Katowice (PL), same city" in message.text

    german = render(OVERLAP, delegation_overlap(), "de")
    assert german.subject == "Überschneidung: MAYOR und ECON empfangen gleichzeitig Delegationen aus Katowice"
    assert_everywhere(german, "Teilnehmende: 12 (offizielle Gäste); Besuch: 2. Juni 2027 – 5. Juni 2027",
                      "Gastgeber: ECON", "Nächste Schritte")


# -- crossing, resolution, booking ------------------------------------------------------------------

def test_crossing_names_trip_delegation_and_who_must_host():
    message = render(CROSSING, crossing(), "en")

    assert message.subject == ("Crossing: ECON travels to Katowice while a delegation from Katowice visits MAYOR")
    assert_everywhere(message, "ECON: Trade fair", "Anna Schmidt, Head of unit, anna@city.example",
                      "City of Katowice from Katowice (PL), hosted by MAYOR",
                      "Visitors: 12 (official guests); visit: 2 June 2027 – 5 June 2027",
                      "Someone must be home to host the delegation.")
    assert "When: 3 June 2027 – 4 June 2027" in message.text
    assert "Someone must be home to host" in message.feed_body

    german = render(CROSSING, crossing(), "de")
    assert german.subject.startswith("Überkreuzung: ECON reist nach Katowice, während eine Delegation")
    assert_everywhere(german, "Jemand muss vor Ort sein, um die Delegation zu empfangen.", "3. Juni 2027",
                      "Zweck: Messe", "Die besuchende Delegation")


def test_resolved_with_related_says_which_place_and_trips():
    message = render(RESOLVED, resolved(), "en", related=overlap())

    assert message.subject == "Resolved: overlap of ECON and MAYOR in Köln"
    assert_everywhere(message, "no longer applies", "trip 9a1e2c3d was cancelled",
                      "Köln (DE)", "12 May 2027 – 15 May 2027", "ECON: Trade fair", "MAYOR: Partner city visit")
    assert "Reason: trip 9a1e2c3d was cancelled" in message.text
    assert "It was about Köln (DE), 34 km apart, 12 May 2027 – 15 May 2027." in message.text
    assert "Reason: trip 9a1e2c3d was cancelled. Nothing needs to be done." in message.feed_body

    german = render(RESOLVED, resolved(), "de", related=overlap())
    assert german.subject == "Erledigt: Überschneidung von ECON und MAYOR in Köln"
    assert "Sie betraf Köln (DE), 34 km voneinander entfernt, 12. Mai 2027 – 15. Mai 2027." in german.text
    assert "Grund: trip 9a1e2c3d was cancelled" in german.text


def test_resolved_without_related_still_names_departments_and_reason():
    message = render(RESOLVED, resolved(), "en")

    assert message.subject == "Resolved: overlap of ECON and MAYOR"
    assert_everywhere(message, "The overlap of ECON and MAYOR no longer applies.", "trip 9a1e2c3d was cancelled")
    assert "Köln" not in message.text and "It was about" not in message.text
    assert render(RESOLVED, resolved(), "de").subject == "Erledigt: Überschneidung von ECON und MAYOR"


def test_trip_booked():
    message = render(BOOKED, booked(), "en")

    assert message.subject == "ECON booked a trip: Trade fair"
    assert_everywhere(message, "Trade fair", "Köln (DE), 11 May 2027 – 15 May 2027",
                      "Anna Schmidt, Head of unit, anna@city.example")
    assert message.feed_body == "ECON travels to Köln (DE), 11 May 2027 – 15 May 2027."

    german = render(BOOKED, booked(), "de")
    assert german.subject == "ECON hat eine Reise gebucht: Trade fair"
    assert german.feed_body == "ECON reist nach Köln (DE), 11. Mai 2027 – 15. Mai 2027."
    assert "Zweck: Messe" in german.text


@pytest.mark.parametrize("event_type, data, related", [
    (OVERLAP, overlap(), None), (OVERLAP, delegation_overlap(), None), (CROSSING, crossing(), None),
    (RESOLVED, resolved(), overlap()), (RESOLVED, resolved(), None), (BOOKED, booked(), None)])
def test_german_is_german_on_every_channel(event_type, data, related):
    english = render(event_type, data, "en", related)
    german = render(event_type, data, "de", related)

    for field in ("subject", "text", "html", "feed_title", "feed_body"):
        assert getattr(german, field) != getattr(english, field), field
    assert slack_text(german) != slack_text(english) and teams_text(german) != teams_text(english)
    assert re.search(r"\b(und|nach|Reise|Abteilung|Überschneidung|Erledigt|Grund|Zweck|Kontakt)\b", german.text)
    assert '<html lang="de">' in german.html and '<html lang="en">' in english.html


# -- safety and channel formats -----------------------------------------------------------------------

def test_payload_strings_are_escaped_in_html_and_slack():
    data = overlap(trips=[econ_trip(title="<script>alert(1)</script> & <!channel>"), mayor_trip()])
    message = render(OVERLAP, data, "en")

    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;" in message.html
    assert "<!channel>" not in message.slack["text"] and "<!channel>" not in slack_text(message)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;" in slack_text(message)
    # plain text and Teams (no HTML) carry the title as written
    assert "<script>alert(1)</script> & <!channel>" in message.text
    assert "<script>alert(1)</script> & <!channel>" in teams_text(message)


def test_payload_strings_cannot_forge_lines():
    data = overlap(trips=[econ_trip(title="Fair\nDistance: 0 km\n\nWhat to do next: nothing"), mayor_trip()])
    message = render(OVERLAP, data, "en")

    assert "ECON: Fair Distance: 0 km What to do next: nothing" in message.text
    facts = message.teams["attachments"][0]["content"]["body"][1]["facts"]
    assert [f["title"] for f in facts] == ["Place", "Distance", "Shared dates", "Departments"]


def test_teams_envelope():
    teams = render(OVERLAP, overlap(), "en").teams

    assert set(teams) == {"type", "attachments"} and teams["type"] == "message"
    assert len(teams["attachments"]) == 1
    attachment = teams["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "contentUrl" in attachment and attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, facts, *rest = card["body"]
    assert title == {"type": "TextBlock", "text": "Overlap: ECON and MAYOR in Köln at the same time",
                     "weight": "Bolder", "size": "Medium", "wrap": True}
    assert facts["type"] == "FactSet"
    assert {"title": "Distance", "value": "34 km apart"} in facts["facts"]
    assert {"title": "Shared dates", "value": "12 May 2027 – 15 May 2027"} in facts["facts"]
    assert rest and all(b["type"] == "TextBlock" and b["wrap"] is True for b in rest)


def test_slack_payload_shape():
    slack = render(OVERLAP, overlap(), "en").slack

    assert set(slack) == {"text", "blocks"}
    assert "Talk to each other" in slack["text"] and "34 km apart" in slack["text"]
    header, facts, *sections = slack["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text",
                                                 "text": "Overlap: ECON and MAYOR in Köln at the same time"}}
    assert {"type": "mrkdwn", "text": "*Place*\nKöln (DE)"} in facts["fields"]
    assert all(s["type"] == "section" and s["text"]["type"] == "mrkdwn" for s in sections)


def assert_slack_limits(slack: dict) -> None:
    assert len(slack["text"]) <= 40_000
    assert 1 <= len(slack["blocks"]) <= 50
    for block in slack["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))


def test_huge_title_and_300_travellers_stay_within_limits():
    travellers = [{"name": f"Traveller {i}", "email": f"traveller{i}@city.example",
                   "role": "Deputy head of the department for international economic cooperation " * 3,
                   "elected_official": i == 7} for i in range(300)]
    title = "T" * 1000
    data = overlap(trips=[econ_trip(title=title, travellers=travellers), mayor_trip()])

    for language in ("en", "de"):
        message = render(OVERLAP, data, language)
        assert_slack_limits(message.slack)
        assert len(message.subject) <= 150 and "\n" not in message.subject
        assert len(message.feed_title) <= 300
        # the email keeps everything; the fallback text is cut, and says so
        assert "Traveller 299" in message.text and len(message.text) > 40_000
        assert message.slack["text"].endswith("…")
        # chat lists ten travellers per trip and counts the rest
        chat = slack_text(message)
        assert "Traveller 9," in chat and "Traveller 10," not in chat
        assert ("… and 290 more" if language == "en" else "… und 290 weitere") in chat
        assert "Jana Berger" in chat  # the second trip is not crowded out
        assert "Traveller 299" not in teams_text(message)


def test_huge_title_alone():
    message = render(BOOKED, {**booked(), "title": "Very long title " * 70}, "en")

    assert len(message.subject) == 150 and message.subject.endswith("…")
    assert message.slack["blocks"][0]["text"]["text"] == message.subject
    assert_slack_limits(message.slack)


# -- errors -------------------------------------------------------------------------------------------

def test_supported_unknown_language_and_event_type():
    assert all(supported(t) for t in (OVERLAP, RESOLVED, CROSSING, BOOKED))
    assert not supported("travel.trip.cancelled.v1")
    with pytest.raises(ValueError):
        render(OVERLAP, overlap(), "fr")
    with pytest.raises(KeyError):
        render("travel.trip.cancelled.v1", booked(), "en")
    with pytest.raises(ValueError):
        render_digest([(OVERLAP, overlap(), None)], "fr", "ECON", date(2027, 5, 3))


# -- digest -------------------------------------------------------------------------------------------

def three_notices() -> list[tuple[str, dict, dict | None]]:
    return [(OVERLAP, overlap(), None), (CROSSING, crossing(), None), (RESOLVED, resolved(), overlap())]


def test_digest_combines_notices():
    message = render_digest(three_notices(), "en", "Anna Schmidt", date(2027, 5, 3))

    assert message.subject == "Diplomacity digest for Anna Schmidt: 3 notices"
    subjects = ["Overlap: ECON and MAYOR in Köln at the same time",
                "Crossing: ECON travels to Katowice while a delegation from Katowice visits MAYOR",
                "Resolved: overlap of ECON and MAYOR in Köln"]
    assert_everywhere(message, "3 May 2027", *subjects, "34 km apart", "Someone must be home to host",
                      "trip 9a1e2c3d was cancelled")
    positions = [message.text.index(s) for s in subjects]
    assert positions == sorted(positions)
    assert [b["text"]["text"].split("\n")[0] for b in message.slack["blocks"][2:]] == [f"*{s}*" for s in subjects]
    assert message.teams["attachments"][0]["content"]["version"] == "1.4"
    assert_slack_limits(message.slack)


def test_digest_in_german():
    message = render_digest(three_notices(), "de", "Anna Schmidt", date(2027, 5, 3))

    assert message.subject == "Diplomacity-Übersicht für Anna Schmidt: 3 Meldungen"
    assert_everywhere(message, "3. Mai 2027", "Überschneidung: ECON und MAYOR gleichzeitig in Köln",
                      "Erledigt: Überschneidung von ECON und MAYOR in Köln")
    assert "Diplomacity-Übersicht für ECON: 1 Meldung" == render_digest(
        three_notices()[:1], "de", "ECON", date(2027, 5, 3)).subject


def test_digest_of_80_notices_caps_slack_blocks_and_summarises_the_rest():
    notices = [(BOOKED, {**booked(), "title": f"Trip {i}"}, None) for i in range(80)]
    message = render_digest(notices, "en", "OIA", date(2027, 5, 3))

    assert message.subject == "Diplomacity digest for OIA: 80 notices"
    assert_slack_limits(message.slack)
    assert len(message.slack["blocks"]) == 50
    shown = [b for b in message.slack["blocks"] if b.get("text", {}).get("text", "").startswith("*ECON booked")]
    more = re.fullmatch(r"… and (\d+) more", message.slack["blocks"][-1]["text"]["text"])
    assert more and len(shown) + int(more.group(1)) == 80
    assert "*ECON booked a trip: Trip 0*" in slack_text(message)
    assert f"… and {more.group(1)} more" in teams_text(message)
    assert "Trip 79" in message.text and "Trip 79" in message.html  # the email lists every notice

    german = render_digest(notices, "de", "OIA", date(2027, 5, 3))
    assert len(german.slack["blocks"]) == 50
    assert re.fullmatch(r"… und \d+ weitere", german.slack["blocks"][-1]["text"]["text"])
