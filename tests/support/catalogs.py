"""Checks of a gettext catalog against the sources it was extracted from, as `make messages` does
(Babel, with the folder's babel.cfg): used for every folder that has one (alerts, the board)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

Key = tuple[str | None, str | tuple[str, ...]]


def extracted(root: Path) -> set[Key]:
    """(context, msgid) of every message in the sources under `root`; a plural as its forms."""
    with (root / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: set[Key] = set()
    for _, _, message, _, context in extract_from_dir(str(root), method_map, options_map):
        msgid = message if isinstance(message, str) else tuple(part for part in message if part)
        found.add((context, msgid))
    return found


def catalog_ids(path: Path) -> tuple[set[Key], Any]:
    with path.open("rb") as po:
        catalog = read_po(po)
    ids: set[Key] = set()
    for message in catalog:
        if message.id:
            msgid = message.id if isinstance(message.id, str) else tuple(part for part in message.id if part)
            ids.add((message.context, msgid))
    return ids, catalog


def template_problems(root: Path) -> list[str]:
    """What differs between the sources and locale/messages.pot (empty: up to date)."""
    in_sources = extracted(root)
    in_template, _ = catalog_ids(root / "locale" / "messages.pot")
    return ([f"not in messages.pot: {key}" for key in sorted(in_sources - in_template, key=str)]
            + [f"only in messages.pot: {key}" for key in sorted(in_template - in_sources, key=str)])


def catalog_problems(root: Path, language: str) -> list[str]:
    """Missing, obsolete, untranslated or fuzzy messages, and placeholders that disagree."""
    in_sources = extracted(root)
    ids, catalog = catalog_ids(root / "locale" / language / "LC_MESSAGES" / "messages.po")
    problems = [f"missing: {key}" for key in sorted(in_sources - ids, key=str)]
    problems += [f"obsolete: {key}" for key in sorted(ids - in_sources, key=str)]
    problems += [f"obsolete entry: {m.id}" for m in catalog.obsolete.values()]
    problems += [f"untranslated: {m.id}" for m in catalog if m.id and (not m.string or not all(
        m.string if isinstance(m.string, tuple) else [m.string]))]
    problems += [f"fuzzy: {m.id}" for m in catalog if m.id and m.fuzzy]
    problems += [f"placeholders: {m.id}: {errors}" for m, errors in catalog.check()]
    return problems
