"""The fault suite's count of copies: the one a kill may leave is named, no other copy is excused."""

from __future__ import annotations

import pytest

from tests.support.faults import Receivers, tally

KILL = 100.0


class Heard(Receivers):
    """Arrivals given, not received: (identifier, booking, when) by channel."""

    def __init__(self, **arrivals: list[tuple[str, int | None, float]]) -> None:
        self.given = {"email": [], "slack": [], **arrivals}

    def timed_arrivals(self) -> dict[str, list[tuple[str, int | None, float]]]:
        return self.given


def counted(heard: Heard) -> tuple[int, int]:
    """(duplicated, resent_at_kill) of bookings 1 and 2 alerted on both channels."""
    result = tally("t", {1, 2}, set(), heard.arrivals(), 1.0, resent_at_kill=heard.resent_at([KILL]))
    return result.duplicated, result.resent_at_kill


def test_no_copy_is_no_duplicate():
    heard = Heard(email=[("m1", 1, 90.0), ("m2", 2, 99.9)], slack=[("k1", 1, 90.0), ("k2", 2, 99.9)])
    assert counted(heard) == (0, 0)


@pytest.mark.parametrize("first", [KILL - 0.4, KILL - 0.01, KILL + 0.05])
def test_a_message_taken_as_the_sender_died_and_resent_with_its_identifier_is_the_allowed_copy(first):
    heard = Heard(email=[("m1", 1, 90.0), ("m2", 2, first), ("m2", 2, KILL + 30.6)],
                  slack=[("k1", 1, 90.0), ("k2", 2, 99.0)])
    assert counted(heard) == (1, 1)


@pytest.mark.parametrize("heard", [
    # Taken seconds before the kill: its outcome had time to be journaled.
    Heard(email=[("m1", 1, KILL - 3.0), ("m1", 1, KILL + 31.0), ("m2", 2, 99.0)]),
    # Resent twice.
    Heard(email=[("m1", 1, KILL - 0.01), ("m1", 1, KILL + 31.0), ("m1", 1, KILL + 62.0), ("m2", 2, 99.0)]),
    # Resent with another identifier: no receiver could drop it.
    Heard(email=[("m1", 1, KILL - 0.01), ("other", 1, KILL + 31.0), ("m2", 2, 99.0)]),
], ids=["taken-long-before", "resent-twice", "new-identifier"])
def test_any_other_copy_is_not_excused(heard):
    duplicated, allowed = counted(heard)
    assert duplicated >= 1 and allowed < duplicated
