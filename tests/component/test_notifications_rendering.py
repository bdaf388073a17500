"""Alert messages rendered from the Jinja2 templates: content, languages, channels, limits."""

from __future__ import annotations

import json
import re
from datetime import date

import pydantic
import pytest

from services.notifications.events import consumes
from services.notifications.rendering import Message, render, render_digest, supported
from shared.envelope import UnknownEventType

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
    assert slack["text"] == "Overlap: ECON and MAYOR in Köln at the same time"  # the notification's line
    header, facts, *sections = slack["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text",
                                                 "text": "Overlap: ECON and MAYOR in Köln at the same time"}}
    assert {"type": "mrkdwn", "text": "*Place*\nKöln (DE)"} in facts["fields"]
    assert all(s["type"] == "section" and s["text"]["type"] == "mrkdwn" for s in sections)


def assert_slack_limits(slack: dict) -> None:
    assert 0 < len(slack["text"]) <= 4_000  # with blocks, Slack wants the top-level text short
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
        # the email keeps everything; Slack's notification line is the subject
        assert "Traveller 299" in message.text and len(message.text) > 40_000
        assert message.slack["text"] == message.subject
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


# -- partnerships (partners.* events) ---------------------------------------------------------------

VISIT = "partners.visit.planned.v1"
ANNIVERSARY = "partners.anniversary.upcoming.v1"
DORMANT = "partners.partnership.dormant.v1"
RENEWAL = "partners.renewal.due.v1"
PARTNER_TYPES = (VISIT, ANNIVERSARY, DORMANT, RENEWAL)

DESK_OFFICER = "Piotr Nowak, p.nowak@city.example"
VISIT_TRIP_NEXT = {
    "en": "What to do next: Brief the travellers of ECON on the partnership with Kraków (history, current "
          "projects, contacts) and offer them contacts in the partner city. After the trip, log the outcomes in "
          "the partnership's timeline in Diplomacity.",
    "de": "Nächste Schritte: Informieren Sie die Reisenden von ECON über die Partnerschaft mit Kraków (Geschichte, "
          "laufende Projekte, Ansprechpersonen) und vermitteln Sie Kontakte in der Partnerstadt. Halten Sie nach "
          "der Reise die Ergebnisse in der Chronik der Partnerschaft in Diplomacity fest.",
}
VISIT_DELEGATION_NEXT = {
    "en": "What to do next: Brief MAYOR on the partnership with Kraków before the visit",
    "de": "Nächste Schritte: Informieren Sie MAYOR vor dem Besuch über die Partnerschaft mit Kraków",
}
JUBILEE_NEXT = {  # by lead time: a year ahead, about three months, about a month
    "budget": {"en": "What to do next: Plan the jubilee now and apply for its budget: the council approves "
                     "jubilee budgets a year ahead.",
               "de": "Nächste Schritte: Planen Sie das Jubiläum jetzt und beantragen Sie das Budget – der "
                     "Stadtrat beschließt Jubiläumsbudgets ein Jahr im Voraus."},
    "programme": {"en": "What to do next: Set the programme and send the invitations",
                  "de": "Nächste Schritte: Legen Sie das Programm fest und verschicken Sie die Einladungen"},
    "final": {"en": "What to do next: Make the final arrangements (programme, guests, venues, gifts) and prepare "
                    "the press work",
              "de": "Nächste Schritte: Treffen Sie die letzten Vorbereitungen (Programm, Gäste, Räume, Geschenke) "
                    "und bereiten Sie die Pressearbeit vor"},
}
DORMANT_NEXT = {
    "en": "What to do next: Plan a contact with Kraków – a visit, a call or a joint project – and log it in the "
          "partnership's timeline in Diplomacity. If the partnership is no longer alive, review it: suspend or end "
          "it in Diplomacity, with a reason.",
    "de": "Nächste Schritte: Planen Sie einen Kontakt mit Kraków – einen Besuch, ein Telefonat oder ein gemeinsames "
          "Projekt – und halten Sie ihn in der Chronik der Partnerschaft in Diplomacity fest. Wird die "
          "Partnerschaft nicht mehr gelebt, überprüfen Sie sie: Setzen Sie sie in Diplomacity aus oder beenden Sie "
          "sie, jeweils mit Begründung.",
}
RENEWAL_NEXT = {
    "en": "What to do next: Decide on renewal in time. To renew, agree the new term with Kraków",
    "de": "Nächste Schritte: Entscheiden Sie rechtzeitig über die Verlängerung. Soll die Partnerschaft verlängert "
          "werden, vereinbaren Sie die neue Laufzeit mit Kraków",
}


def partnership(data: dict, **changes) -> dict:
    common = {"partnership_id": "7d0c5a1e-7777-4a4a-8b8b-1a1a1a1a1a1a", "home_city": "Frankfurt am Main",
              "partner_city": "Kraków", "partner_country": "PL", "department": "OIA",
              "desk_officer": {"name": "Piotr Nowak", "email": "p.nowak@city.example"}}
    return {**common, **data, **changes}


def visit(**changes) -> dict:
    return partnership({"kind": "trip", "title": "Economic forum", "by_department": "ECON",
                        "start_date": "2027-05-12", "end_date": "2027-05-15", "source": "travel",
                        "planned_at": "2027-03-01T09:00:00Z"}, **changes)


def delegation_visit(**changes) -> dict:
    return visit(**{"kind": "delegation", "title": "Mayor's delegation", "by_department": "MAYOR",
                    "start_date": "2027-04-28", "end_date": "2027-05-02", **changes})


def anniversary(**changes) -> dict:
    return partnership({"years": 35, "on": "2026-05-12", "days_ahead": 90, "formalised_on": "1991-05-12",
                        "formalised_year_only": False, "as_of": "2026-02-11"}, **changes)


def year_only_anniversary(**changes) -> dict:
    return anniversary(on="2026-01-01", formalised_on="1991-01-01", formalised_year_only=True, **changes)


def dormant(**changes) -> dict:
    return partnership({"last_contact_on": "2024-10-03", "days_since_contact": 1100, "max_contact_days": 1095,
                        "as_of": "2027-10-08"}, **changes)


def renewal(**changes) -> dict:
    return partnership({"ends_on": "2027-12-31", "days_ahead": 90, "as_of": "2027-10-02"}, **changes)


def consumer_keeps(event_type: str, field: str) -> bool:
    """Whether the consumer view keeps a payload field (a type without a model keeps everything)."""
    try:
        return field in consumes.model_for(event_type).model_fields
    except UnknownEventType:
        return True


@pytest.fixture
def without_partner_models(monkeypatch):
    """As if the partners' consumer models were not registered: their payloads pass through raw."""
    model_for = consumes.model_for

    def lookup(event_type: str):
        if event_type.startswith("partners."):
            raise UnknownEventType(event_type)
        return model_for(event_type)

    monkeypatch.setattr(consumes, "model_for", lookup)


def partner_cases() -> list[tuple[str, dict]]:
    return [(VISIT, visit()), (VISIT, delegation_visit()), (ANNIVERSARY, anniversary()),
            (ANNIVERSARY, year_only_anniversary()), (DORMANT, dormant()), (RENEWAL, renewal())]


def assert_in_subject_and_text(message: Message, *needles: str) -> None:
    for needle in needles:
        assert needle in message.subject, f"{needle!r} missing from subject {message.subject!r}"
        assert needle in message.text, f"{needle!r} missing from text:\n{message.text}"


def test_partner_event_types_are_supported():
    assert all(supported(t) for t in PARTNER_TYPES)
    assert not supported("partners.partnership.ended.v1")


@pytest.mark.parametrize("language, subject, span, looked_after", [
    ("en", "Visit planned: ECON travels to Kraków (12–15 May 2027)", "12–15 May 2027",
     "Partnership: Frankfurt am Main – Kraków (PL), looked after by OIA"),
    ("de", "Besuch geplant: ECON reist nach Kraków (12.–15. Mai 2027)", "12.–15. Mai 2027",
     "Partnerschaft: Frankfurt am Main – Kraków (PL), betreut von OIA")])
def test_visit_trip_to_a_partner_city(language, subject, span, looked_after):
    message = render(VISIT, visit(), language)

    assert message.subject == subject
    assert_in_subject_and_text(message, "Kraków", span, "ECON")
    assert looked_after in message.text
    assert f"{'Desk officer' if language == 'en' else 'Ansprechperson'}: {DESK_OFFICER}" in message.text
    assert_everywhere(message, "Kraków (PL)", "Economic forum", span, "OIA", DESK_OFFICER, VISIT_TRIP_NEXT[language])
    assert message.feed_title == message.subject
    assert "Kraków (PL)" in message.feed_body and span in message.feed_body


@pytest.mark.parametrize("language, subject, span", [
    ("en", "Visit planned: Delegation from Kraków visits MAYOR (28 April – 2 May 2027)", "28 April – 2 May 2027"),
    ("de", "Besuch geplant: Delegation aus Kraków besucht MAYOR (28. April – 2. Mai 2027)",
     "28. April – 2. Mai 2027")])
def test_visit_of_a_delegation_from_a_partner_city(language, subject, span):
    message = render(VISIT, delegation_visit(), language)

    assert message.subject == subject
    assert_in_subject_and_text(message, "Kraków", span, "MAYOR")
    assert_everywhere(message, "Kraków (PL)", span, "OIA", DESK_OFFICER, VISIT_DELEGATION_NEXT[language])
    assert VISIT_TRIP_NEXT[language] not in message.text
    assert ("hosted by MAYOR" if language == "en" else "Gastgeber: MAYOR") in slack_text(message)


@pytest.mark.parametrize("start, end, en, de", [
    ("2027-05-12", "2027-05-12", "12 May 2027", "12. Mai 2027"),
    ("2027-12-28", "2028-01-03", "28 December 2027 – 3 January 2028", "28. Dezember 2027 – 3. Januar 2028")])
def test_visit_dates_on_one_day_and_across_the_year(start, end, en, de):
    assert render(VISIT, visit(start_date=start, end_date=end), "en").subject.endswith(f"({en})")
    assert render(VISIT, visit(start_date=start, end_date=end), "de").subject.endswith(f"({de})")


def test_each_form_is_rendered_when_first_asked_for_and_only_then():
    """Routing reads the feed's forms for every event; a channel reads its own. An alert to Slack
    must not pay for the email's HTML (the most expensive block)."""
    message = render(VISIT, visit(), "en")
    assert message.blocks.rendered == set()
    assert message.feed_title and message.feed_body
    assert message.blocks.rendered <= {"subject", "feed_title", "feed_body"}
    assert message.slack["blocks"]
    assert not message.blocks.rendered & {"html", "text"}
    assert "Economic forum" in message.text and "<" in message.html
    assert {"html", "text"} <= message.blocks.rendered


@pytest.mark.parametrize("view", ["consumer model", "raw"])
def test_dates_may_arrive_as_dates_or_iso_strings(view, request):
    if view == "raw":
        request.getfixturevalue("without_partner_models")
    as_dates = visit(start_date=date(2027, 5, 12), end_date=date(2027, 5, 15))
    for language in ("en", "de"):
        assert render(VISIT, as_dates, language) == render(VISIT, visit(), language)
        assert render(DORMANT, dormant(last_contact_on=date(2024, 10, 3)), language) == render(
            DORMANT, dormant(), language)


@pytest.mark.parametrize("language, subject, when, formalised", [
    ("en", "Anniversary: 35 years of partnership with Kraków on 12 May 2026 (in 90 days)",
     "On 12 May 2026 (in 90 days) Frankfurt am Main and Kraków (PL) celebrate 35 years of partnership",
     ("formalised on 12 May 1991.", "formalised in 1991.")),
    ("de", "Jubiläum: 35 Jahre Partnerschaft mit Kraków am 12. Mai 2026 (in 90 Tagen)",
     "Am 12. Mai 2026 (in 90 Tagen) feiern Frankfurt am Main und Kraków (PL) 35 Jahre Partnerschaft",
     ("Sie wurde am 12. Mai 1991 geschlossen.", "Sie wurde 1991 geschlossen."))])
def test_anniversary(language, subject, when, formalised):
    message = render(ANNIVERSARY, anniversary(), language)

    assert message.subject == subject
    assert when in message.text
    assert formalised[0 if consumer_keeps(ANNIVERSARY, "formalised_on") else 1] in message.text
    assert "OIA" in message.text
    assert_everywhere(message, "Kraków (PL)", "OIA", DESK_OFFICER, JUBILEE_NEXT["programme"][language])
    assert ("12. Mai 2026" if language == "de" else "12 May 2026") in message.feed_body


@pytest.mark.parametrize("language, subject, year_phrase, day", [
    ("en", "Anniversary: 35 years of partnership with Kraków in 2026", "In 2026 Frankfurt am Main and Kraków (PL) "
     "celebrate 35 years of partnership: it was formalised in 1991; the exact day is not recorded.", "1 January"),
    ("de", "Jubiläum: 35 Jahre Partnerschaft mit Kraków im Jahr 2026", "Im Jahr 2026 feiern Frankfurt am Main und "
     "Kraków (PL) 35 Jahre Partnerschaft: Sie wurde 1991 geschlossen, der genaue Tag ist nicht erfasst.",
     "1. Januar")])
@pytest.mark.parametrize("view", ["consumer model", "raw"])
def test_year_only_anniversary_says_the_year_not_a_day(language, subject, year_phrase, day, view, request):
    if view == "raw":  # formalised_on (1 January 1991) reaches the template
        request.getfixturevalue("without_partner_models")
    message = render(ANNIVERSARY, year_only_anniversary(), language)

    assert message.subject == subject
    assert year_phrase in message.text
    assert ("The jubilee year begins in 90 days." if language == "en"
            else "Das Jubiläumsjahr beginnt in 90 Tagen.") in message.text
    assert_everywhere(message, "2026", "1991", "Kraków (PL)", "OIA", DESK_OFFICER)
    for name, content in {**channels(message), "subject": message.subject, "feed": message.feed_body}.items():
        assert day not in content, f"{day!r} in {name}:\n{content}"
    assert "2026" in message.feed_body


@pytest.mark.parametrize("days_ahead, stage", [
    (365, "budget"), (200, "budget"), (90, "programme"), (60, "programme"), (30, "final"), (7, "final")])
@pytest.mark.parametrize("language", ["en", "de"])
def test_anniversary_next_steps_follow_the_lead_time(days_ahead, stage, language):
    message = render(ANNIVERSARY, anniversary(days_ahead=days_ahead), language)

    assert_everywhere(message, JUBILEE_NEXT[stage][language])
    for other in set(JUBILEE_NEXT) - {stage}:
        assert JUBILEE_NEXT[other][language] not in message.text
    assert (f"(in {days_ahead} days)" if language == "en" else f"(in {days_ahead} Tagen)") in message.subject


@pytest.mark.parametrize("days_ahead, en, de", [(0, "(today)", "(heute)"), (1, "(tomorrow)", "(morgen)")])
def test_lead_time_of_today_and_tomorrow(days_ahead, en, de):
    assert render(RENEWAL, renewal(days_ahead=days_ahead), "en").subject.endswith(f"{en}: decide on renewal")
    assert de in render(RENEWAL, renewal(days_ahead=days_ahead), "de").subject


@pytest.mark.parametrize("language, subject, since, next_steps", [
    ("en", "Losing touch with Kraków: no contact for 1,100 days (maximum 1,095)",
     "Frankfurt am Main has had no recorded contact with its partner city Kraków (PL) since 3 October 2024: "
     "1,100 days", DORMANT_NEXT["en"]),
    ("de", "Kontakt droht abzureißen: seit 1.100 Tagen kein Kontakt mit Kraków (höchstens 1.095)",
     "Seit dem 3. Oktober 2024 gab es keinen erfassten Kontakt zwischen Frankfurt am Main und der Partnerstadt "
     "Kraków (PL): 1.100 Tage", DORMANT_NEXT["de"])])
def test_dormant_partnership(language, subject, since, next_steps):
    message = render(DORMANT, dormant(), language)

    assert message.subject == subject
    assert since in message.text and "OIA" in message.text
    assert_everywhere(message, "Kraków (PL)", "1,100" if language == "en" else "1.100",
                      "1,095" if language == "en" else "1.095",
                      "3 October 2024" if language == "en" else "3. Oktober 2024", "OIA", DESK_OFFICER, next_steps)
    assert ("1,100 days ago" if language == "en" else "vor 1.100 Tagen") in message.feed_body


@pytest.mark.parametrize("language, subject, intro", [
    ("en", "Partnership with Kraków ends on 31 December 2027 (in 90 days): decide on renewal",
     "The partnership of Frankfurt am Main with Kraków (PL) is time-limited: it ends on 31 December 2027 "
     "(in 90 days) unless it is renewed."),
    ("de", "Partnerschaft mit Kraków endet am 31. Dezember 2027 (in 90 Tagen): über Verlängerung entscheiden",
     "Die Partnerschaft von Frankfurt am Main mit Kraków (PL) ist befristet: Sie endet am 31. Dezember 2027 "
     "(in 90 Tagen), wenn sie nicht verlängert wird.")])
def test_renewal_due(language, subject, intro):
    message = render(RENEWAL, renewal(), language)

    assert message.subject == subject
    assert intro in message.text and "OIA" in message.text
    assert_everywhere(message, "Kraków (PL)", "31 December 2027" if language == "en" else "31. Dezember 2027",
                      "OIA", DESK_OFFICER, RENEWAL_NEXT[language])


@pytest.mark.parametrize("officer, en, de", [
    ({"name": None, "email": None}, "none named", "nicht benannt"),
    ({"name": None, "email": "desk@city.example"}, "desk@city.example", "desk@city.example"),
    ({"name": "Piotr Nowak", "email": None}, "Piotr Nowak", "Piotr Nowak")])
@pytest.mark.parametrize("event_type, data", [(VISIT, visit), (ANNIVERSARY, anniversary), (DORMANT, dormant),
                                              (RENEWAL, renewal)])
def test_desk_officer_named_when_known(officer, en, de, event_type, data):
    english = render(event_type, data(desk_officer=officer), "en")
    german = render(event_type, data(desk_officer=officer), "de")

    assert f"Desk officer: {en}\n" in english.text and f"Ansprechperson: {de}\n" in german.text
    assert {"title": "Desk officer", "value": en} in english.teams["attachments"][0]["content"]["body"][1]["facts"]
    assert {"type": "mrkdwn", "text": f"*Ansprechperson*\n{de}"} in german.slack["blocks"][1]["fields"]
    assert "None" not in english.text and "None" not in german.text


@pytest.mark.parametrize("event_type, data", partner_cases())
def test_partner_messages_in_german_are_german(event_type, data):
    english = render(event_type, data, "en")
    german = render(event_type, data, "de")

    for field in ("subject", "text", "html", "feed_title", "feed_body"):
        assert getattr(german, field) != getattr(english, field), field
    assert slack_text(german) != slack_text(english) and teams_text(german) != teams_text(english)
    assert "Nächste Schritte:" in german.text and "What to do next:" in english.text
    for word in ("What to do next", "Desk officer", "Partnership:", "looked after", "days", "years", "As of",
                 "January", "May", "December", "October", "none named"):
        assert not re.search(rf"\b{word}\b", german.text), word
    assert '<html lang="de">' in german.html and '<html lang="en">' in english.html


UNTRUSTED = "<script>alert(1)</script> & <!channel>"
UNTRUSTED_HTML = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;"


@pytest.mark.parametrize("event_type, data", [
    (VISIT, visit(title=UNTRUSTED, by_department=UNTRUSTED)),
    (VISIT, delegation_visit(title=UNTRUSTED)),
    (ANNIVERSARY, anniversary(partner_city=UNTRUSTED)), (ANNIVERSARY, year_only_anniversary(home_city=UNTRUSTED)),
    (DORMANT, dormant(partner_city=UNTRUSTED)),
    (RENEWAL, renewal(department=UNTRUSTED)),
    (RENEWAL, renewal(desk_officer={"name": UNTRUSTED, "email": "<b>x@city.example</b>"}))])
@pytest.mark.parametrize("language", ["en", "de"])
def test_partner_payload_strings_are_escaped_in_html_and_slack(event_type, data, language):
    message = render(event_type, data, language)

    assert "<script>" not in message.html and "<!channel>" not in message.html and "<b>" not in message.html
    assert UNTRUSTED_HTML in message.html
    # mrkdwn (fallback text, fields, sections) is escaped; the header is plain_text, which Slack does not parse
    header, *blocks = message.slack["blocks"]
    mrkdwn = [message.slack["text"]] + [f["text"] for b in blocks for f in b.get("fields", [])] + [
        b["text"]["text"] for b in blocks if "text" in b]
    assert not any("<!channel>" in text for text in mrkdwn)
    assert any(UNTRUSTED_HTML in text for text in mrkdwn[1:])
    assert header["text"]["type"] == "plain_text"
    assert UNTRUSTED in message.text and UNTRUSTED in teams_text(message)


def test_partner_payload_strings_cannot_forge_lines():
    message = render(DORMANT, dormant(partner_city="Kraków\nLast contact: yesterday\n\nWhat to do next: nothing"),
                     "en")

    facts = message.teams["attachments"][0]["content"]["body"][1]["facts"]
    assert [f["title"] for f in facts] == ["Last contact", "Without contact", "Partnership", "Looked after by",
                                           "Desk officer"]
    assert "\nLast contact: yesterday" not in message.text
    assert "Kraków Last contact: yesterday What to do next: nothing (PL)" in message.text


PARTNER_FACTS = {  # (event type, language): the facts in order, as Slack fields and a Teams FactSet
    (VISIT, "en"): [("Trip", "ECON: Economic forum"), ("When", "12–15 May 2027"),
                    ("Partnership", "Frankfurt am Main – Kraków (PL)"), ("Looked after by", "OIA"),
                    ("Desk officer", DESK_OFFICER)],
    (VISIT, "de"): [("Reise", "ECON: Economic forum"), ("Wann", "12.–15. Mai 2027"),
                    ("Partnerschaft", "Frankfurt am Main – Kraków (PL)"), ("Betreut von", "OIA"),
                    ("Ansprechperson", DESK_OFFICER)],
    (ANNIVERSARY, "en"): [("Anniversary", "35 years, 12 May 2026 (in 90 days)"),
                          ("Formalised", "12 May 1991" if consumer_keeps(ANNIVERSARY, "formalised_on") else "1991"),
                          ("Partnership", "Frankfurt am Main – Kraków (PL)"), ("Looked after by", "OIA"),
                          ("Desk officer", DESK_OFFICER)],
    (ANNIVERSARY, "de"): [("Jubiläum", "35 Jahre, 12. Mai 2026 (in 90 Tagen)"),
                          ("Geschlossen", "12. Mai 1991" if consumer_keeps(ANNIVERSARY, "formalised_on") else "1991"),
                          ("Partnerschaft", "Frankfurt am Main – Kraków (PL)"), ("Betreut von", "OIA"),
                          ("Ansprechperson", DESK_OFFICER)],
    (DORMANT, "en"): [("Last contact", "3 October 2024"), ("Without contact", "1,100 days (maximum 1,095)"),
                      ("Partnership", "Frankfurt am Main – Kraków (PL)"), ("Looked after by", "OIA"),
                      ("Desk officer", DESK_OFFICER)],
    (DORMANT, "de"): [("Letzter Kontakt", "3. Oktober 2024"), ("Ohne Kontakt", "1.100 Tage (höchstens 1.095)"),
                      ("Partnerschaft", "Frankfurt am Main – Kraków (PL)"), ("Betreut von", "OIA"),
                      ("Ansprechperson", DESK_OFFICER)],
    (RENEWAL, "en"): [("Ends on", "31 December 2027 (in 90 days)"),
                      ("Partnership", "Frankfurt am Main – Kraków (PL)"), ("Looked after by", "OIA"),
                      ("Desk officer", DESK_OFFICER)],
    (RENEWAL, "de"): [("Endet am", "31. Dezember 2027 (in 90 Tagen)"),
                      ("Partnerschaft", "Frankfurt am Main – Kraków (PL)"), ("Betreut von", "OIA"),
                      ("Ansprechperson", DESK_OFFICER)],
}
PARTNER_DATA = {VISIT: visit, ANNIVERSARY: anniversary, DORMANT: dormant, RENEWAL: renewal}


@pytest.mark.parametrize("event_type, language", sorted(PARTNER_FACTS))
def test_partner_slack_payload_shape(event_type, language):
    message = render(event_type, PARTNER_DATA[event_type](), language)
    slack = message.slack

    assert set(slack) == {"text", "blocks"}
    assert slack["text"] == message.subject  # the notification's line; the blocks carry the message
    header, facts, *sections = slack["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": message.subject}}
    assert facts["type"] == "section"
    assert facts["fields"] == [{"type": "mrkdwn", "text": f"*{k}*\n{v}"}
                               for k, v in PARTNER_FACTS[event_type, language]]
    assert len(sections) == 2  # what happens, then what to do next
    assert all(s["type"] == "section" and s["text"]["type"] == "mrkdwn" for s in sections)
    assert sections[-1]["text"]["text"].startswith("What to do next:" if language == "en" else "Nächste Schritte:")
    assert_slack_limits(slack)


@pytest.mark.parametrize("event_type, language", sorted(PARTNER_FACTS))
def test_partner_teams_envelope(event_type, language):
    message = render(event_type, PARTNER_DATA[event_type](), language)
    teams = message.teams

    assert set(teams) == {"type", "attachments"} and teams["type"] == "message"
    assert len(teams["attachments"]) == 1
    attachment = teams["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "contentUrl" in attachment and attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, facts, *rest = card["body"]
    assert title == {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium", "wrap": True}
    assert facts == {"type": "FactSet",
                     "facts": [{"title": k, "value": v} for k, v in PARTNER_FACTS[event_type, language]]}
    assert len(rest) == 2 and all(b["type"] == "TextBlock" and b["wrap"] is True for b in rest)
    assert rest[-1]["text"].startswith("What to do next:" if language == "en" else "Nächste Schritte:")


def test_partner_huge_strings_stay_within_limits():
    huge = "Kraków " * 400
    for event_type, data in [(VISIT, visit(title=huge)), (DORMANT, dormant(partner_city=huge)),
                             (RENEWAL, renewal(desk_officer={"name": huge, "email": None}))]:
        for language in ("en", "de"):
            message = render(event_type, data, language)
            assert_slack_limits(message.slack)
            assert len(message.subject) <= 150 and len(message.feed_title) <= 300


def test_digest_with_partner_notices():
    notices = [(VISIT, visit(), None), (ANNIVERSARY, year_only_anniversary(), None), (DORMANT, dormant(), None),
               (RENEWAL, renewal(), None)]
    message = render_digest(notices, "de", "OIA", date(2027, 10, 8))

    assert message.subject == "Diplomacity-Übersicht für OIA: 4 Meldungen"
    assert_everywhere(message, "Besuch geplant: ECON reist nach Kraków (12.–15. Mai 2027)",
                      "Jubiläum: 35 Jahre Partnerschaft mit Kraków im Jahr 2026",
                      "Kontakt droht abzureißen: seit 1.100 Tagen kein Kontakt mit Kraków (höchstens 1.095)",
                      "Partnerschaft mit Kraków endet am 31. Dezember 2027 (in 90 Tagen)")
    assert_slack_limits(message.slack)


def test_event_type_without_a_consumer_model_passes_its_payload_through():
    from services.notifications.rendering import _payload

    data = {"when": "2027-05-12", "nested": {"name": "Piotr\nNowak"}, "n": 3}
    assert _payload("partners.example.unmodelled.v1", data) == {"when": "2027-05-12",
                                                                "nested": {"name": "Piotr Nowak"}, "n": 3}
    assert data["nested"]["name"] == "Piotr\nNowak"  # the caller's dict is left alone
    with pytest.raises(pydantic.ValidationError):  # a modelled type still validates
        _payload(OVERLAP, {"overlap_id": "x"})


@pytest.mark.parametrize("language, formalised, fact, as_of", [
    ("en", "it was formalised on 12 May 1991.", "*Formalised*\n12 May 1991", "As of: 11 February 2026"),
    ("de", "Sie wurde am 12. Mai 1991 geschlossen.", "*Geschlossen*\n12. Mai 1991", "Stand: 11. Februar 2026")])
def test_raw_anniversary_names_the_day_formalised_and_as_of(without_partner_models, language, formalised, fact,
                                                             as_of):
    message = render(ANNIVERSARY, anniversary(), language)

    assert formalised in message.text and fact in slack_text(message)
    assert as_of in message.text
    assert as_of.replace(": ", ":</strong> ") in message.html


@pytest.mark.parametrize("language, formalised, fact, as_of", [
    ("en", "it was formalised in 1991.", "*Formalised*\n1991", "As of"),
    ("de", "Sie wurde 1991 geschlossen.", "*Geschlossen*\n1991", "Stand")])
def test_without_formalised_on_and_as_of_the_year_is_derived(without_partner_models, language, formalised, fact,
                                                              as_of):
    data = {k: v for k, v in anniversary(years=36, on="2027-05-12").items() if k not in ("formalised_on", "as_of")}
    message = render(ANNIVERSARY, data, language)

    assert formalised in message.text and fact in slack_text(message)
    assert as_of not in message.text and as_of not in message.html
    for event_type, data in [(DORMANT, dormant()), (RENEWAL, renewal())]:
        rendered = render(event_type, {k: v for k, v in data.items() if k != "as_of"}, language)
        assert as_of not in rendered.text and as_of not in rendered.html
        assert "Kraków (PL)" in rendered.text


@pytest.mark.parametrize("event_type, data", partner_cases())
@pytest.mark.parametrize("language", ["en", "de"])
def test_raw_payloads_render_like_the_consumer_view_where_it_keeps_the_fields(event_type, data, language, request):
    through_model = render(event_type, data, language)
    request.getfixturevalue("without_partner_models")
    raw = render(event_type, data, language)

    assert raw.subject == through_model.subject and raw.feed_title == through_model.feed_title
    assert raw.slack["blocks"][-1] == through_model.slack["blocks"][-1]  # the next steps


def test_a_teams_card_stays_under_the_message_size_limit():
    from services.notifications.rendering import TEAMS_CARD_MAX, _teams, _text_block
    card = _teams("Title", [("Where", "Köln")], [_text_block("x" * 1000) for _ in range(100)])
    body = card["attachments"][0]["content"]["body"]
    assert len(json.dumps(card, ensure_ascii=False).encode()) < 28_000
    assert len(json.dumps(body, ensure_ascii=False).encode()) <= TEAMS_CARD_MAX + 100
    assert body[-1]["text"] == "…" and body[0]["text"] == "Title" and 20 < len(body) < 30
    small = _teams("Title", [], [_text_block("short")])
    assert small["attachments"][0]["content"]["body"][-1]["text"] == "short"


# -- EU funding (grants.* events) -----------------------------------------------------------------

PUBLISHED = "grants.call.published.v1"
UPDATED = "grants.call.updated.v1"
STAGE_CHANGED = "grants.application.stage_changed.v1"
DEADLINE = "grants.deadline.approaching.v1"
GRANT_TYPES = (PUBLISHED, UPDATED, STAGE_CHANGED, DEADLINE)

CALL_URL = ("https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/topic-details/"
            "CERV-2027-CITIZENS-TOWN-TT")
OWNER = "Jana Weber, jana.weber@city.example"
BRUSSELS = {"en": "16 September 2027, 17:00 (Brussels time)", "de": "16. September 2027, 17:00 Uhr (Brüsseler Zeit)"}
MOVED = {"en": "23 September 2027, 17:00 (Brussels time)", "de": "23. September 2027, 17:00 Uhr (Brüsseler Zeit)"}
NEXT = {"en": "What to do next:", "de": "Nächste Schritte:"}


def call_ref(**changes) -> dict:
    """A call as grants sends it (deadlines in UTC: 17:00 in Brussels, summer time)."""
    return {"call_id": "0b9f6c1e-2f44-4a51-9a3c-5c1f2d0e7a10", "identifier": "CERV-2027-CITIZENS-TOWN-TT",
            "programme": "cerv", "title": "Town-Twinning", "url": CALL_URL,
            "deadlines": [{"stage": 1, "at": "2027-09-16T15:00:00Z"}], **changes}


def application_ref(data: dict, **changes) -> dict:
    common = {"application_id": "6a0f5e1c-3b2d-4e8f-9a7c-1d2e3f4a5b6c", "title": "Twinning for climate action",
              "lead_department": "ENV", "owner": {"name": "Jana Weber", "email": "jana.weber@city.example"},
              "call": call_ref()}
    return {**common, **data, **changes}


def call_published(**changes) -> dict:
    return {**call_ref(), "topic": "Town-Twinning", "opens_at": "2027-03-01T00:00:00Z", "status": "forthcoming",
            "budget": 4_000_000, "grant_min": None, "grant_max": 30_000, "themes": ["citizens", "democracy"],
            "matched_themes": ["citizens"], "published_at": "2027-02-01T09:00:00Z", **changes}


def affected(**changes) -> dict:
    return {"application_id": "6a0f5e1c-3b2d-4e8f-9a7c-1d2e3f4a5b6c", "title": "Twinning for climate action",
            "lead_department": "ENV", "owner": {"name": "Jana Weber", "email": "jana.weber@city.example"},
            "stage": "drafting", **changes}


def call_updated(**changes) -> dict:
    return {**call_ref(deadlines=[{"stage": 1, "at": "2027-09-23T15:00:00Z"}]), "version": 2, "status": "open",
            "changes": [{"field": "deadlines", "before": "1: 2027-09-16T17:00:00+02:00",
                         "after": "1: 2027-09-23T17:00:00+02:00"}],
            "applications": [affected()], "updated_at": "2027-05-02T08:00:00Z", **changes}


def stage_changed(**changes) -> dict:
    return application_ref({"from_stage": "submitted", "to_stage": "rejected",
                            "reason": "Consortium too small for the networks strand", "requested_amount": 30_000,
                            "awarded_amount": None, "changed_by": "coordinator OIA",
                            "changed_at": "2027-11-20T10:00:00Z"}, **changes)


def deadline_approaching(**changes) -> dict:
    return application_ref({"kind": "call", "stage": 1, "deadline": "2027-09-16T17:00:00+02:00", "days_ahead": 7,
                            "internal_buffer_days": 5, "application_stage": "drafting", "critical": False,
                            "as_of": "2027-09-09T17:05:00+02:00"}, **changes)


def grant_cases() -> list[tuple[str, dict]]:
    return [(PUBLISHED, call_published()), (UPDATED, call_updated()), (STAGE_CHANGED, stage_changed()),
            (STAGE_CHANGED, stage_changed(to_stage="awarded", reason=None, awarded_amount=28_000)),
            (STAGE_CHANGED, stage_changed(from_stage="partner_search", to_stage="drafting", reason=None)),
            (DEADLINE, deadline_approaching()), (DEADLINE, deadline_approaching(critical=True, days_ahead=1)),
            (DEADLINE, deadline_approaching(kind="internal", deadline="2027-09-11T17:00:00+02:00"))]


def facts_of(message: Message) -> list[tuple[str, str]]:
    """The facts as Slack shows them, checked against the Teams FactSet."""
    fields = [f["text"].split("\n", 1) for f in message.slack["blocks"][1]["fields"]]
    slack = [(label.strip("*"), value) for label, value in fields]
    teams = [(f["title"], f["value"]) for f in message.teams["attachments"][0]["content"]["body"][1]["facts"]]
    assert slack == teams
    return slack


def test_grant_event_types_are_supported_and_consumed():
    assert all(supported(t) for t in GRANT_TYPES)
    assert all(t in consumes.types for t in GRANT_TYPES)
    assert not supported("grants.call.withdrawn.v1")


@pytest.mark.parametrize("event_type, data", grant_cases())
def test_grant_messages_render_on_every_channel_in_both_languages(event_type, data):
    english = render(event_type, data, "en")
    german = render(event_type, data, "de")

    for field in ("subject", "text", "html", "feed_title", "feed_body"):
        assert getattr(german, field) != getattr(english, field), field
        for message in (english, german):
            assert getattr(message, field).strip(), field
            assert "None" not in getattr(message, field) and "{{" not in getattr(message, field), field
    assert NEXT["en"] in english.text and NEXT["de"] in german.text
    assert slack_text(german) != slack_text(english) and teams_text(german) != teams_text(english)
    for message, language in ((english, "en"), (german, "de")):
        assert f'<html lang="{language}">' in message.html
        assert message.slack["blocks"][-1]["text"]["text"].startswith(NEXT[language])
        assert teams_text(message).rstrip().splitlines()[-1].startswith(NEXT[language])
        assert len(facts_of(message)) >= 4
        assert_slack_limits(message.slack)
        assert "Twinning" in message.feed_body
    for word in ("What to do next", "Application", "Deadline", "Call", "deadline", "Brussels", "Owner",
                 "January", "March", "October", "days", "stage", "drafting", "rejected", "awarded",
                 "Requested", "none named"):
        assert not re.search(rf"\b{word}\b", german.text), word
    assert re.search(r"\b(Frist|Einreichungsfrist|Antrag|Aufruf)\b", german.text)


@pytest.mark.parametrize("language, subject, intro, facts", [
    ("en", "New EU call: Town-Twinning (CERV-2027-CITIZENS-TOWN-TT)",
     "A new call matches the city's themes (citizens): Town-Twinning (CERV-2027-CITIZENS-TOWN-TT), "
     "CERV (Citizens, Equality, Rights and Values). Deadline: 16 September 2027, 17:00 (Brussels time).",
     [("Call", "Town-Twinning (CERV-2027-CITIZENS-TOWN-TT)"),
      ("Programme", "CERV (Citizens, Equality, Rights and Values)"),
      ("Deadline", "16 September 2027, 17:00 (Brussels time)"), ("Opens", "1 March 2027"),
      ("Status", "forthcoming"), ("Budget", "€4,000,000"), ("Grant per project", "up to €30,000"),
      ("Matched themes", "citizens"), ("Call page", CALL_URL)]),
    ("de", "Neuer EU-Aufruf: Town-Twinning (CERV-2027-CITIZENS-TOWN-TT)",
     "Ein neuer Aufruf passt zu den Themen der Stadt (citizens): Town-Twinning (CERV-2027-CITIZENS-TOWN-TT), "
     "CERV (Bürgerinnen und Bürger, Gleichstellung, Rechte und Werte). Frist: 16. September 2027, "
     "17:00 Uhr (Brüsseler Zeit).",
     [("Aufruf", "Town-Twinning (CERV-2027-CITIZENS-TOWN-TT)"),
      ("Programm", "CERV (Bürgerinnen und Bürger, Gleichstellung, Rechte und Werte)"),
      ("Frist", "16. September 2027, 17:00 Uhr (Brüsseler Zeit)"), ("Öffnet", "1. März 2027"),
      ("Status", "angekündigt"), ("Budget", "4.000.000\u00a0€"), ("Förderung je Projekt", "bis zu 30.000\u00a0€"),
      ("Passende Themen", "citizens"), ("Seite des Aufrufs", CALL_URL)])])
def test_call_published(language, subject, intro, facts):
    message = render(PUBLISHED, call_published(), language)

    assert message.subject == subject
    assert message.text.startswith(intro)
    assert facts_of(message) == facts
    assert_everywhere(message, BRUSSELS[language], "CERV-2027-CITIZENS-TOWN-TT")
    next_steps = {"en": "What to do next: Check whether the city is eligible",
                  "de": "Nächste Schritte: Prüfen Sie die Antragsberechtigung der Stadt"}[language]
    assert_everywhere(message, next_steps, "OIA")
    assert f'<a href="{CALL_URL}">' in message.html
    assert ("€4,000,000" if language == "en" else "4.000.000\u00a0€") in message.text


@pytest.mark.parametrize("grant_min, grant_max, en, de", [
    (10_000, 30_000, "€10,000 – €30,000", "10.000\u00a0€ – 30.000\u00a0€"),
    (10_000, None, "from €10,000", "ab 10.000\u00a0€"),
    (None, 1_234.5, "up to €1,234.50", "bis zu 1.234,50\u00a0€")])
def test_call_published_grant_range(grant_min, grant_max, en, de):
    data = call_published(grant_min=grant_min, grant_max=grant_max)
    assert f"Grant per project: {en}\n" in render(PUBLISHED, data, "en").text
    assert f"Förderung je Projekt: {de}\n" in render(PUBLISHED, data, "de").text


@pytest.mark.parametrize("at, en, de", [
    ("2027-03-30T15:00:00Z", "30 March 2027, 17:00 (Brussels time)", "30. März 2027, 17:00 Uhr (Brüsseler Zeit)"),
    ("2027-01-15T16:00:00Z", "15 January 2027, 17:00 (Brussels time)",
     "15. Januar 2027, 17:00 Uhr (Brüsseler Zeit)"),
    ("2027-10-31T22:30:00Z", "31 October 2027, 23:30 (Brussels time)",  # the day summer time ends
     "31. Oktober 2027, 23:30 Uhr (Brüsseler Zeit)"),
    ("2027-03-30T22:30:00Z", "31 March 2027, 00:30 (Brussels time)", "31. März 2027, 00:30 Uhr (Brüsseler Zeit)")])
def test_deadlines_are_shown_in_brussels_time_across_summer_time(at, en, de):
    """17:00 in Brussels is 15:00 UTC in summer and 16:00 UTC in winter; the day is Brussels' too."""
    for language, shown in (("en", en), ("de", de)):
        published = render(PUBLISHED, call_published(deadlines=[{"stage": 1, "at": at}]), language)
        assert_everywhere(published, shown)
        reminder = render(DEADLINE, deadline_approaching(deadline=at), language)
        assert_everywhere(reminder, shown)
        assert shown in reminder.feed_body


def test_a_two_stage_call_names_each_stage_deadline():
    deadlines = [{"stage": 1, "at": "2027-01-15T16:00:00Z"}, {"stage": 2, "at": "2027-09-16T15:00:00Z"}]
    english = render(PUBLISHED, call_published(deadlines=deadlines), "en")
    german = render(PUBLISHED, call_published(deadlines=deadlines), "de")

    assert ("Deadlines", "stage 1: 15 January 2027, 17:00 (Brussels time); "
                         "stage 2: 16 September 2027, 17:00 (Brussels time)") in facts_of(english)
    assert ("Fristen", "Stufe 1: 15. Januar 2027, 17:00 Uhr (Brüsseler Zeit); "
                       "Stufe 2: 16. September 2027, 17:00 Uhr (Brüsseler Zeit)") in facts_of(german)
    reminder = render(DEADLINE, deadline_approaching(stage=2, call=call_ref(deadlines=deadlines)), "en")
    assert "The stage 2 deadline of the call Town-Twinning" in reminder.text


@pytest.mark.parametrize("language, subject, change, now, applications, next_steps", [
    ("en", "EU call changed: Town-Twinning (CERV-2027-CITIZENS-TOWN-TT) – deadline",
     f"Deadline: {BRUSSELS['en']} → {MOVED['en']}", f"Deadline now: {MOVED['en']}",
     "- Twinning for climate action (ENV; owner: Jana Weber, jana.weber@city.example), stage: drafting",
     "What to do next: Re-plan the internal timetable of each application for the call to the new deadline"),
    ("de", "EU-Aufruf geändert: Town-Twinning (CERV-2027-CITIZENS-TOWN-TT) – Frist",
     f"Frist: {BRUSSELS['de']} → {MOVED['de']}", f"Frist jetzt: {MOVED['de']}",
     "- Twinning for climate action (ENV; verantwortlich: Jana Weber, jana.weber@city.example), "
     "Phase: Ausarbeitung",
     "Nächste Schritte: Passen Sie den internen Zeitplan jedes Antrags zu diesem Aufruf an die neue Frist an")])
def test_call_updated_shows_each_change_before_and_after(language, subject, change, now, applications,
                                                         next_steps):
    message = render(UPDATED, call_updated(), language)

    assert message.subject == subject
    assert_everywhere(message, change, next_steps, "Twinning for climate action")
    assert f"- {change}\n{now}\n" in message.text
    assert applications in message.text and applications[2:] in slack_text(message)
    assert f"<li>{change}</li>" in message.html
    assert change in message.feed_body
    label, _, value = change.partition(": ")
    assert (label, value) in facts_of(message)


def test_call_updated_budget_status_and_what_cannot_be_parsed():
    changes = [{"field": "budget", "before": "4000000", "after": "3500000.5"},
               {"field": "status", "before": "open", "after": "closed"},
               {"field": "deadlines", "before": None, "after": "sometime in autumn"}]
    english = render(UPDATED, call_updated(changes=changes), "en")
    german = render(UPDATED, call_updated(changes=changes), "de")

    assert_everywhere(english, "Budget: €4,000,000 → €3,500,000.50", "Status: open → closed",
                      "Deadline: – → sometime in autumn")
    assert_everywhere(german, "Budget: 4.000.000\u00a0€ → 3.500.000,50\u00a0€", "Status: offen → geschlossen")
    assert english.subject.endswith("– budget, status, deadline")
    # closed: the applications not yet submitted cannot be any more
    assert "The call is closed: nothing more can be submitted to it. Withdraw the applications not submitted" \
        in english.text
    submitted = render(UPDATED, call_updated(changes=changes, applications=[affected(stage="submitted")]), "en")
    assert "The applications submitted await the evaluation." in submitted.text


def test_call_updated_without_applications_of_the_city():
    message = render(UPDATED, call_updated(applications=[]), "en")

    assert "The city has no application for this call yet." in message.text
    assert "any application you plan for the call" in message.text
    assert "Applications" not in [label for label, _ in facts_of(message)]
    assert "Die Stadt hat noch keinen Antrag zu diesem Aufruf." in render(UPDATED, call_updated(applications=[]),
                                                                         "de").text


@pytest.mark.parametrize("language, subject, intro, stage, reason", [
    ("en", "Application rejected: Twinning for climate action",
     "The application “Twinning for climate action” of ENV for the call Town-Twinning (CERV-2027-CITIZENS-TOWN-TT) "
     "was rejected: Consortium too small for the networks strand.",
     "submitted → rejected", ("Reason", "Consortium too small for the networks strand")),
    ("de", "Antrag abgelehnt: Twinning for climate action",
     "Der Antrag „Twinning for climate action“ von ENV zum Aufruf Town-Twinning (CERV-2027-CITIZENS-TOWN-TT) "
     "wurde abgelehnt. Begründung: Consortium too small for the networks strand.",
     "eingereicht → abgelehnt", ("Begründung", "Consortium too small for the networks strand"))])
def test_a_rejection_says_why_and_what_to_learn(language, subject, intro, stage, reason):
    message = render(STAGE_CHANGED, stage_changed(), language)

    assert message.subject == subject
    assert message.text.startswith(intro)
    assert_everywhere(message, "Consortium too small for the networks strand", stage, OWNER)
    assert reason in facts_of(message)
    assert "Consortium too small for the networks strand" in message.feed_body and stage in message.feed_body
    lessons = {"en": "What to do next: Record the lessons from the evaluation",
               "de": "Nächste Schritte: Halten Sie die Erkenntnisse aus der Bewertung"}[language]
    resubmit = {"en": "consider resubmitting to the next call", "de": "prüfen Sie eine erneute Einreichung"}[language]
    assert_everywhere(message, lessons, resubmit)


def test_an_award_names_the_amount():
    data = stage_changed(to_stage="awarded", reason=None, awarded_amount=28_000)
    english = render(STAGE_CHANGED, data, "en")
    german = render(STAGE_CHANGED, data, "de")

    assert english.subject == "Application awarded: Twinning for climate action"
    assert "was awarded a grant of €28,000 (€30,000 requested)." in english.text
    assert ("Awarded", "€28,000") in facts_of(english) and ("Bewilligt", "28.000\u00a0€") in facts_of(german)
    assert_everywhere(english, "submitted → awarded", "What to do next: Start the implementation",
                      "reporting plan")
    assert_everywhere(german, "eingereicht → bewilligt", "Nächste Schritte: Beginnen Sie mit der Umsetzung",
                      "Berichtsplan")
    assert "Reason" not in english.text and "Begründung" not in german.text


@pytest.mark.parametrize("from_stage, to_stage, subject, stage, next_steps", [
    ("internal_review", "submitted", "Application submitted: Twinning for climate action",
     "internal review → submitted", "What to do next: Nothing to do until the evaluation"),
    ("drafting", "internal_review", "Application moved to internal review: Twinning for climate action",
     "drafting → internal review", "What to do next: Review the draft"),
    ("preparing", "partner_search", "Application moved to partner search: Twinning for climate action",
     "preparation → partner search", "What to do next: Find the partners the call requires"),
    ("partner_search", "drafting", "Application moved to drafting: Twinning for climate action",
     "partner search → drafting", "What to do next: Write the proposal"),
    ("drafting", "withdrawn", "Application withdrawn: Twinning for climate action", "drafting → withdrawn",
     "What to do next: Tell the partners"),
    ("submitted", "invited", "Application invited to the second stage: Twinning for climate action",
     "submitted → invited to the second stage", "What to do next: Draft the full proposal")])
def test_next_steps_depend_on_the_stage_reached(from_stage, to_stage, subject, stage, next_steps):
    message = render(STAGE_CHANGED, stage_changed(from_stage=from_stage, to_stage=to_stage, reason=None), "en")

    assert message.subject == subject
    assert_everywhere(message, stage, next_steps)
    assert ("Stage", stage) in facts_of(message)


@pytest.mark.parametrize("language, subject, intro", [
    ("en", "7 days to the call deadline of Twinning for climate action",
     "The deadline of the call Town-Twinning (CERV-2027-CITIZENS-TOWN-TT) is in 7 days, 16 September 2027, 17:00 "
     "(Brussels time): the application “Twinning for climate action” of ENV must be submitted by then. It is at "
     "the drafting stage."),
    ("de", "Noch 7 Tage bis zur Einreichungsfrist: Twinning for climate action",
     "Die Einreichungsfrist des Aufrufs Town-Twinning (CERV-2027-CITIZENS-TOWN-TT) endet in 7 Tagen, am "
     "16. September 2027, 17:00 Uhr (Brüsseler Zeit): Bis dahin muss der Antrag „Twinning for climate action“ "
     "von ENV eingereicht sein. Er ist in der Phase „Ausarbeitung“.")])
def test_call_deadline_approaching(language, subject, intro):
    message = render(DEADLINE, deadline_approaching(), language)

    assert message.subject == subject
    assert message.text.startswith(intro)
    assert_everywhere(message, BRUSSELS[language], "CERV-2027-CITIZENS-TOWN-TT", CALL_URL, OWNER,
                      "drafting" if language == "en" else "Ausarbeitung")
    assert facts_of(message)[0] == (("Call deadline", f"{BRUSSELS['en']}, in 7 days") if language == "en" else
                                    ("Einreichungsfrist", f"{BRUSSELS['de']}, in 7 Tagen"))


def test_internal_deadline_is_the_buffer_before_the_calls():
    data = deadline_approaching(kind="internal", deadline="2027-09-11T17:00:00+02:00")
    english = render(DEADLINE, data, "en")
    german = render(DEADLINE, data, "de")

    assert english.subject == "7 days to the internal deadline of Twinning for climate action"
    assert german.subject == "Noch 7 Tage bis zur internen Frist: Twinning for climate action"
    assert_everywhere(english, "11 September 2027, 17:00 (Brussels time)", "5 days before the deadline of the call",
                      BRUSSELS["en"], "What to do next: Have the application complete by then")
    assert_everywhere(german, "11. September 2027, 17:00 Uhr (Brüsseler Zeit)",
                      "5 Tage vor der Einreichungsfrist des Aufrufs", BRUSSELS["de"])
    assert ("Internal deadline", "11 September 2027, 17:00 (Brussels time), in 7 days") in facts_of(english)
    assert ("Call deadline", BRUSSELS["en"]) in facts_of(english)


def test_a_critical_reminder_says_tomorrow_plainly():
    data = deadline_approaching(critical=True, days_ahead=1)
    english = render(DEADLINE, data, "en")
    german = render(DEADLINE, data, "de")

    assert english.subject == "Call deadline tomorrow: Twinning for climate action"
    assert german.subject == "Einreichungsfrist morgen: Twinning for climate action"
    assert_everywhere(english, "Last reminder: the application “Twinning for climate action” of ENV must be "
                               "submitted tomorrow", "What to do next: Submit the application now")
    assert_everywhere(german, "Letzte Erinnerung: Der Antrag „Twinning for climate action“ von ENV muss morgen "
                              "eingereicht werden", "Nächste Schritte: Reichen Sie den Antrag jetzt ein")
    assert "<strong>Last reminder:" in english.html
    assert "Last reminder" in english.feed_body and "tomorrow" in english.feed_body
    assert "Last reminder" not in render(DEADLINE, deadline_approaching(days_ahead=3), "en").text


def test_grant_payloads_with_only_what_the_consumer_needs():
    call = {k: v for k, v in call_ref(url=None, deadlines=[]).items()}
    owner = {"name": None, "email": None}
    cases = [
        (PUBLISHED, {**call, "status": "open"}),
        (UPDATED, {**call, "changes": [], "applications": [affected(owner=owner)]}),
        (STAGE_CHANGED, {**application_ref({"from_stage": "idea", "to_stage": "preparing"}, owner=owner, call=call)}),
        (DEADLINE, {**application_ref({"kind": "internal", "deadline": "2027-09-11T15:00:00Z", "days_ahead": 3},
                                      owner=owner, call=call)})]
    for event_type, data in cases:
        for language in ("en", "de"):
            message = render(event_type, data, language)
            for field in ("subject", "text", "html", "feed_body"):
                assert "None" not in getattr(message, field), (event_type, field)
            assert "Call page" not in message.text and "<a href" not in message.html
            assert_slack_limits(message.slack)
    assert "Owner: none named\n" in render(*cases[2][:1], cases[2][1], "en").text
    assert "Deadline: not announced yet" in render(PUBLISHED, cases[0][1], "en").text


UNTRUSTED_URL = "javascript:alert(1)"


@pytest.mark.parametrize("event_type, data", [
    (PUBLISHED, call_published(title=UNTRUSTED, url=UNTRUSTED_URL)),
    (UPDATED, call_updated(applications=[affected(title=UNTRUSTED)])),
    (STAGE_CHANGED, stage_changed(reason=UNTRUSTED)),
    (DEADLINE, deadline_approaching(owner={"name": UNTRUSTED, "email": "x@city.example"}))])
@pytest.mark.parametrize("language", ["en", "de"])
def test_grant_payload_strings_are_escaped_in_html_and_slack(event_type, data, language):
    message = render(event_type, data, language)

    assert "<script>" not in message.html and "<!channel>" not in message.html
    assert UNTRUSTED_HTML in message.html
    assert 'href="javascript:' not in message.html
    header, *blocks = message.slack["blocks"]
    mrkdwn = [message.slack["text"]] + [f["text"] for b in blocks for f in b.get("fields", [])] + [
        b["text"]["text"] for b in blocks if "text" in b]
    assert not any("<!channel>" in text for text in mrkdwn)
    assert any(UNTRUSTED_HTML in text for text in mrkdwn[1:])
    assert UNTRUSTED in message.text and UNTRUSTED in teams_text(message)


def test_grant_payload_strings_cannot_forge_lines():
    message = render(STAGE_CHANGED, stage_changed(reason="Too small\nAwarded: €1,000,000\n\nWhat to do next: party"),
                     "en")

    assert "\nAwarded: €1,000,000" not in message.text
    assert "Reason: Too small Awarded: €1,000,000 What to do next: party\n" in message.text
    assert "Awarded" not in [label for label, _ in facts_of(message)]


def test_digest_with_grant_notices():
    notices = [(case, data, None) for case, data in grant_cases()[:4]]
    message = render_digest(notices, "en", "OIA", date(2027, 11, 20))

    assert message.subject == "Diplomacity digest for OIA: 4 notices"
    assert_everywhere(message, "New EU call: Town-Twinning (CERV-2027-CITIZENS-TOWN-TT)",
                      "EU call changed: Town-Twinning (CERV-2027-CITIZENS-TOWN-TT) – deadline",
                      "Application rejected: Twinning for climate action",
                      "Application awarded: Twinning for climate action")
    assert_slack_limits(message.slack)


def test_moment_and_amount_formatting():
    """Babel's formats in the reader's locale; German amounts have a no-break space before the
    euro sign (CLDR's pattern), so the amount is never split from it at a line end."""
    from services.notifications.rendering import _format_amount, _format_moment

    assert _format_moment("2027-07-01T08:05:00+00:00", "en") == "1 July 2027, 10:05 (Brussels time)"
    assert _format_moment("2027-07-01T08:05:00", "de") == "1. Juli 2027, 10:05 Uhr (Brüsseler Zeit)"  # naive: UTC
    assert _format_moment("2027-02-28T23:00:00Z", "en", time=False) == "1 March 2027"  # the Brussels day
    assert (_format_amount(1_100, "en"), _format_amount(1_100, "de")) == ("€1,100", "1.100\u00a0€")
    assert (_format_amount(0.5, "en"), _format_amount(1234567.891, "de")) == ("€0.50", "1.234.567,89\u00a0€")


# -- every message, read by the channel's own tool ----------------------------------------------------

def every_message() -> list[Message]:
    """Each event type's messages in both languages, digests, and the cases cut to the limits."""
    travellers = [{"name": f"Traveller {i}", "email": None, "role": "Head of department " * 10,
                   "elected_official": False} for i in range(300)]
    cases = [(OVERLAP, overlap(), None), (OVERLAP, delegation_overlap(), None), (CROSSING, crossing(), None),
             (RESOLVED, resolved(), overlap()), (RESOLVED, resolved(), None), (BOOKED, booked(), None),
             (OVERLAP, overlap(trips=[econ_trip(title="T" * 1000, travellers=travellers), mayor_trip()]), None),
             (OVERLAP, overlap(trips=[econ_trip(title=UNTRUSTED), mayor_trip()]), None),
             *((event_type, data, None) for event_type, data in partner_cases() + grant_cases())]
    notices = [(BOOKED, {**booked(), "title": f"Trip {i}"}, None) for i in range(80)]
    return [message for language in ("en", "de") for message in (
        *(render(event_type, data, language, related) for event_type, data, related in cases),
        render_digest(three_notices(), language, "Anna Schmidt", date(2027, 5, 3)),
        render_digest(notices, language, "OIA", date(2027, 5, 3)))]


def test_every_teams_card_is_valid_for_the_adaptive_cards_sdk():
    from tests.support.node_tools import run_script

    messages = every_message()
    seen = run_script("adaptive_cards.mjs", stdin=json.dumps([m.teams for m in messages]))

    assert len(seen) == len(messages)
    for message, [card] in zip(messages, seen, strict=True):
        assert card["problems"] == [], message.subject  # no parse or validation event from the SDK
        assert card["version"] == "1.4" and card["elements"] >= 2


def test_every_slack_message_type_checks_against_slacks_own_block_kit_types(tmp_path):
    from tests.support.node_tools import type_check

    payloads = json.dumps([m.slack for m in every_message()], ensure_ascii=False, indent=1)
    type_check(tmp_path, 'import type { KnownBlock } from "@slack/types";\n'
                         f"export const payloads: {{ text: string; blocks: KnownBlock[] }}[] = {payloads};\n")


def test_every_slack_message_keeps_to_block_kit_limits_with_a_short_notification_line():
    # Lengths are not in Slack's types: these are its documented limits (SLACK_*_MAX in rendering).
    for message in every_message():
        assert_slack_limits(message.slack)
        assert message.slack["text"] == message.subject.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
