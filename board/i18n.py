"""The board in the reader's language: English (the source) or German, from a gettext catalog;
dates and numbers formatted by Babel for that language."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.translations import catalog

LANGUAGES = ("en", "de")
LOCALES = {"en": "en_GB", "de": "de_DE"}
NAMES = {"en": "English", "de": "Deutsch"}
HERE = Path(__file__).parent
LOCALE_DIR = HERE / "locale"


def language_of(accept_language: str | None, chosen: str | None, default: str) -> str:
    """The language chosen on the board, else the browser's preferred one we have, else the default."""
    if chosen in LANGUAGES:
        return chosen
    wanted = [part.split(";")[0].strip().replace("-", "_") for part in (accept_language or "").split(",")]
    return negotiate_locale([w for w in wanted if w], list(LANGUAGES), sep="_") or default


@cache
def environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(catalog(LOCALE_DIR, language), newstyle=True)  # type: ignore[attr-defined]
    locale = LOCALES[language]
    env.filters["date"] = lambda value, form="medium": format_date(_day(value), form, locale=locale)
    env.filters["number"] = lambda value: format_decimal(value, locale=locale)
    # An instant, in the office's time zone (BOARD_TIMEZONE: the board's users work there).
    env.filters["moment"] = lambda value, zone: format_datetime(datetime.fromisoformat(value), "medium",
                                                                tzinfo=ZoneInfo(zone), locale=locale)
    env.globals.update(language=language, languages=NAMES,
                       language_name=Locale.parse(locale).get_display_name(locale))
    return env


def _day(value: date | datetime | str) -> date:
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    return value.date() if isinstance(value, datetime) else value
