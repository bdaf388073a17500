"""Gettext catalogs read from their .po files as they stand: nothing compiled is kept, so what a
translator edits is what runs (fuzzy entries are left out, as gettext does)."""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations


@cache
def catalog(locale_dir: Path, language: str, source_language: str = "en") -> gettext.NullTranslations:
    """`locale_dir/<language>/LC_MESSAGES/messages.po`, or no translation for the source language."""
    if language == source_language:
        return NullTranslations()
    with (locale_dir / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        messages = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    return Translations(compiled)
