"""Erasure's scrubbing of free text: a person's email or name wherever it stands as a whole word, in any
case; the words around it, and words that merely contain it, stay."""

from shared.subjects import ERASED, scrubbed, scrubbed_json


def test_a_name_and_an_email_are_scrubbed_as_whole_words_in_any_case():
    text = "Call with ANN about the annual report; mail ann@stadt.example or Ann Weiß."
    assert scrubbed(text, ["Ann", "ann@stadt.example", "Ann Weiß"]) == (
        f"Call with {ERASED} about the annual report; mail {ERASED} or {ERASED}.")


def test_a_needle_shorter_than_three_letters_scrubs_nothing():
    assert scrubbed("Al and Bo", ["Al", "Bo", ""]) == "Al and Bo"


def test_json_values_are_scrubbed_and_keys_kept():
    value = {"travellers": [{"name": "Hanna Vogel", "email": "hanna@stadt.example"}], "Hanna Vogel": 1}
    assert scrubbed_json(value, ["Hanna Vogel", "hanna@stadt.example"]) == {
        "travellers": [{"name": ERASED, "email": ERASED}], "Hanna Vogel": 1}
