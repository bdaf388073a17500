"""The city profile every application reuses, rendered as English or German Markdown: the city (from
the gazetteer), the text blocks the OIA maintains, and the partnerships and network memberships the
partners service holds. A document's wording and layout (beside calendar.py's iCalendar), not a
rule: country names come from pycountry's translation catalogues, read from disk."""

from __future__ import annotations

import gettext
from datetime import date
from functools import lru_cache
from typing import Any

import pycountry

from services.grants.domain import Language
from services.grants.models import TextBlock
from shared.places import Place

WORDS: dict[Language, dict[str, str]] = {
    "en": {"profile": "City profile", "city": "The city", "partnerships": "International partnerships",
           "networks": "Networks", "none": "None recorded.", "since": "since", "inhabitants": "inhabitants",
           "city_line": "{city} is a city in {country} with about {population} {inhabitants}.",
           "count": "{city} has {n} active city partnerships.", "themes": "themes", "role": "role"},
    "de": {"profile": "Stadtprofil", "city": "Die Stadt", "partnerships": "Internationale Partnerschaften",
           "networks": "Netzwerke", "none": "Keine erfasst.", "since": "seit", "inhabitants": "Einwohnerinnen "
           "und Einwohnern", "city_line": "{city} ist eine Stadt in {country} mit rund {population} {inhabitants}.",
           "count": "{city} unterhält {n} aktive Städtepartnerschaften.", "themes": "Themen", "role": "Rolle"},
}


@lru_cache
def _translation(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])


def country_name(code: str, language: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return _translation(language).gettext(getattr(country, "common_name", None) or country.name)


def _number(value: int, language: str) -> str:
    text = f"{value:,}"
    return text.replace(",", ".") if language == "de" else text


def compose(language: Language, home: Place, blocks: list[TextBlock], partnerships: list[dict[str, Any]],
            networks: list[dict[str, Any]]) -> str:
    w = WORDS[language]
    lines = [f"# {home.name} — {w['profile']}", "", f"## {w['city']}", "",
             w["city_line"].format(city=home.name, country=country_name(home.country, language),
                                   population=_number(home.population, language), inhabitants=w["inhabitants"]), ""]
    for block in sorted(blocks, key=lambda b: (b.position, b.key)):
        lines += [f"## {block.title}", "", block.body.strip(), ""]
    lines += [f"## {w['partnerships']}", ""]
    if partnerships:
        lines += [w["count"].format(city=home.name, n=len(partnerships)), ""]
        for p in sorted(partnerships, key=lambda p: (p["formalised_on"], p["partner_city"])):
            since = date.fromisoformat(p["formalised_on"]).year
            themes = ", ".join(t.replace("_", " ") for t in p.get("themes") or [])
            themes = f"; {w['themes']}: {themes}" if themes else ""
            lines.append(f"- {p['partner_city']} ({country_name(p['partner_country'], language)}), "
                         f"{w['since']} {since}{themes}")
    else:
        lines.append(w["none"])
    lines += ["", f"## {w['networks']}", ""]
    if networks:
        for n in sorted(networks, key=lambda n: n["name"]):
            role = f" — {w['role']}: {n['role_held']}" if n.get("role_held") else ""
            lines.append(f"- {n['name']}{role}")
    else:
        lines.append(w["none"])
    return "\n".join(lines).rstrip() + "\n"
