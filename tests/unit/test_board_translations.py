"""The board is worded once, in English, and translated from its gettext catalog."""

from pathlib import Path

import pytest

import board
from board.i18n import LANGUAGES
from tests.support.catalogs import catalog_problems, template_problems

BOARD = Path(board.__file__).parent


def test_the_catalog_template_is_what_the_sources_say():
    assert template_problems(BOARD) == [], "run `make messages`"


@pytest.mark.parametrize("language", [language for language in LANGUAGES if language != "en"])
def test_every_message_is_translated_none_fuzzy_none_obsolete(language):
    assert catalog_problems(BOARD, language) == []


def test_no_compiled_catalogs_lie_around():
    assert list((BOARD / "locale").rglob("*.mo")) == []
