"""Alerts are worded once, in English, and translated from gettext catalogs: every phrase the
templates (and rendering.py) use is in each catalog, translated; dates, numbers and amounts follow
the reader's locale (Babel); places carry the reader's name for them where the gazetteer has one."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.notifications import rendering
from services.notifications.rendering import render
from shared.places import local_name
from tests.support.catalogs import catalog_problems, template_problems

NOTIFICATIONS = Path(rendering.__file__).parent
LOCALE = NOTIFICATIONS / "locale"
TRANSLATED = [language for language in rendering.LANGUAGES if language != "en"]


def test_the_catalog_template_is_what_the_sources_say():
    assert template_problems(NOTIFICATIONS) == [], "run `make messages`"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_none_fuzzy_none_obsolete(language):
    assert catalog_problems(NOTIFICATIONS, language) == []


def test_no_compiled_catalogs_lie_around():
    assert list(LOCALE.rglob("*.mo")) == []  # the .po is read as it is: nothing generated to go stale


def munich_trip() -> dict:
    leg = {"city": "München", "country": "DE", "place_id": 2867714, "place_name": "Munich",
           "start_date": "2027-05-12", "end_date": "2027-05-15"}
    return {"trip_id": "5f551f04-a5a7-4af1-8f5f-a3c10572934c", "department": "ECON", "title": "Trade fair",
            "purpose": "trade_fair", "visibility": "normal", "status": "booked", "legs": [leg],
            "travellers": [{"name": "Anna Schmidt", "email": "anna@city.example", "role": "Head of unit"}],
            "booked_at": "2027-03-01T09:00:00Z"}


def munich_overlap() -> dict:
    trip = {**{k: v for k, v in munich_trip().items() if k not in ("legs", "status", "booked_at")},
            "leg": munich_trip()["legs"][0]}
    mayor = {**trip, "trip_id": "9a1e2c3d-2222-4d4d-8b8b-7e7e7e7e7e7e", "department": "MAYOR",
             "title": "Partner city visit", "purpose": "partner_city_visit"}
    return {"overlap_id": "0b7f3d0c-1111-4c4c-9a9a-6f6f6f6f6f6f", "kind": "trips", "place_name": "Munich",
            "country": "DE", "distance_km": 1100.4, "shared_start": "2027-05-12", "shared_end": "2027-05-15",
            "restricted": False, "trips": [trip, mayor], "detected_at": "2027-03-01T09:00:01Z"}


def test_a_german_alert_for_a_trip_to_munich_says_muenchen():
    message = render("travel.trip.booked.v1", munich_trip(), "de")

    assert message.subject == "ECON hat eine Reise gebucht: Trade fair"
    assert "- München (DE), 12. Mai 2027 – 15. Mai 2027" in message.text
    assert "<li>München (DE), 12. Mai 2027 – 15. Mai 2027</li>" in message.html
    assert "Zweck: Messe" in message.text
    assert message.feed_body == "ECON reist nach München (DE), 12. Mai 2027 – 15. Mai 2027."
    assert "Munich" not in message.text + message.html + message.feed_body


@pytest.mark.parametrize("status,language,subject", [
    ("booked", "en", "ECON booked a trip: Trade fair"),
    ("planned", "en", "ECON is planning a trip: Trade fair"),
    ("booked", "de", "ECON hat eine Reise gebucht: Trade fair"),
    ("planned", "de", "ECON plant eine Reise: Trade fair"),
])
def test_the_news_of_a_trip_says_booked_only_for_a_booked_one(status, language, subject):
    message = render("travel.trip.booked.v1", {**munich_trip(), "status": status}, language)

    assert message.subject == subject
    assert subject in message.text and subject in message.html


def test_an_english_alert_for_the_same_trip_says_munich():
    message = render("travel.trip.booked.v1", munich_trip(), "en")

    assert message.subject == "ECON booked a trip: Trade fair"
    assert "- Munich (DE), 12 May 2027 – 15 May 2027" in message.text
    assert "Purpose: Trade fair" in message.text
    assert '<html lang="en">' in message.html
    assert message.feed_body == "ECON travels to Munich (DE), 12 May 2027 – 15 May 2027."


def test_a_german_overlap_names_the_place_in_german_in_subject_and_numbers_in_german_format():
    german = render("travel.overlap.detected.v1", munich_overlap(), "de")
    english = render("travel.overlap.detected.v1", munich_overlap(), "en")

    assert german.subject == "Überschneidung: ECON und MAYOR gleichzeitig in München"
    assert "Wo: München (DE), 1100 km voneinander entfernt" in german.text
    assert '<html lang="de">' in german.html
    assert english.subject == "Overlap: ECON and MAYOR in Munich at the same time"


def test_amounts_dates_and_counts_in_german_format():
    application = {"application_id": "6a0f5e1c-3b2d-4e8f-9a7c-1d2e3f4a5b6c", "title": "Twinning",
                   "lead_department": "ENV", "owner": {"name": "Jana Weber"},
                   "call": {"call_id": "c", "identifier": "CERV-2027", "programme": "cerv", "title": "Town-Twinning",
                            "deadlines": [{"stage": 1, "at": "2027-09-16T15:00:00Z"}]},
                   "from_stage": "submitted", "to_stage": "awarded", "requested_amount": 1_234_567.5,
                   "awarded_amount": 1_000_000}

    german = render("grants.application.stage_changed.v1", application, "de")
    english = render("grants.application.stage_changed.v1", application, "en")

    assert ("wurde bewilligt: Fördermittel von 1.000.000\u00a0€ (beantragt: 1.234.567,50\u00a0€)."
            in german.text)
    assert "Frist: 16. September 2027, 17:00 Uhr (Brüsseler Zeit)" in german.text
    assert "CERV (Bürgerinnen und Bürger, Gleichstellung, Rechte und Werte)" in german.text
    assert "was awarded a grant of €1,000,000 (€1,234,567.50 requested)." in english.text
    assert "Deadline: 16 September 2027, 17:00 (Brussels time)" in english.text


@pytest.mark.parametrize("days, german, english", [
    (1, "seit 1 Tag kein Kontakt mit Warschau", "no contact for 1 day"),
    (1_100, "seit 1.100 Tagen kein Kontakt mit Warschau", "no contact for 1,100 days")])
def test_plurals_follow_the_count(days, german, english):
    dormant = {"partnership_id": "p", "home_city": "Frankfurt am Main", "partner_city": "Warsaw",
               "partner_country": "PL", "department": "OIA", "desk_officer": {}, "last_contact_on": "2024-10-03",
               "days_since_contact": days, "max_contact_days": 1_095}

    assert german in render("partners.partnership.dormant.v1", dormant, "de").subject
    assert english in render("partners.partnership.dormant.v1", dormant, "en").subject
    assert "Losing touch with Warsaw" in render("partners.partnership.dormant.v1", dormant, "en").subject


def test_local_names_come_from_the_table_and_leave_other_places_alone():
    assert local_name("Munich", "DE", "de") == "München"
    assert local_name("WARSAW", "pl", "de") == "Warschau"  # the gazetteer's folding: case, accents
    assert local_name("Munich", "DE", "en") == "Munich"
    assert local_name("Köln", "DE", "de") == "Köln"  # GeoNames already says it the German way
    assert local_name("Munich", "US", "de") == "Munich"  # another Munich keeps its name
