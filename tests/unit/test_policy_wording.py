"""How a refusal names the key: with the article its code or role is read with."""

from services.travel.policy import POLICY
from shared.auth import Principal


def test_a_refusal_says_an_econ_key_and_a_mayor_key():
    econ = POLICY.refusal(Principal("department", "ECON", "key_1"), "overlap.mark")
    mayor = POLICY.refusal(Principal("department", "MAYOR", "key_2"), "overlap.mark")
    reader = POLICY.refusal(Principal("reader", None, "key_3"), "trip.book")
    assert econ.startswith("an ECON key may not") and mayor.startswith("a MAYOR key may not")
    assert reader.startswith("a reader key may not")
