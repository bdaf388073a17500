"""What an audit entry says changed: only the fields that differ, personal values masked."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from shared import audit


def test_only_fields_that_differ_are_told_old_and_new():
    before = {"title": "Fair", "cost": Decimal("10.50"), "start": date(2027, 5, 12), "status": "planned"}
    after = {"title": "Fair", "cost": Decimal("12.00"), "start": date(2027, 5, 13), "status": "planned"}
    assert audit.changes(before, after) == {"cost": ["10.50", "12.00"], "start": ["2027-05-12", "2027-05-13"]}


def test_a_creation_and_a_removal_have_none_on_the_other_side():
    assert audit.changes(None, {"title": "Fair", "note": None}) == {"title": [None, "Fair"]}
    assert audit.changes({"title": "Fair"}, None) == {"title": ["Fair", None]}


def test_personal_values_are_masked_but_their_change_is_told():
    changed = audit.changes({"email": "a@example.org", "travellers": []},
                            {"email": "b@example.org", "travellers": [{"name": "Henriette Reker"}]},
                            personal={"email", "travellers"})
    assert changed == {"email": ["***", "***"], "travellers": [[], "***"]}
    assert "example.org" not in audit.encode(changed) and "Reker" not in audit.encode(changed)
    # Set for the first time, and removed: that there was a value is told, not what it was.
    assert audit.changes({"email": None}, {"email": "a@example.org"}, {"email"}) == {"email": [None, "***"]}


def test_the_actor_is_who_acts_now_and_system_otherwise():
    assert audit.current_actor() == "system"
    with audit.acting_as("job reminders"):
        assert audit.current_actor() == "job reminders"
    assert audit.current_actor() == "system"


def test_a_stored_entry_that_is_not_json_reads_as_nothing_changed():
    assert audit.decode("{not json") == {} and audit.decode("[1, 2]") == {} and audit.decode(None) == {}
