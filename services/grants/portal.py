"""Calls from the EU Funding & Tenders portal's search API (SEDIA): its response fetched
(`Portal.fetch`, from the portal's hosts only) and parsed (`parse`).

The response is `{"results": [{"metadata": {...}}, ...]}` where every metadata value is a list:
`identifier`, `title`, `callIdentifier`, `startDate`, `deadlineDate` (one per stage),
`deadlineModel`, `frameworkProgramme`, `keywords` (sometimes one JSON string holding the list), and
`actions` and `budgetOverview` as JSON strings inside a one-element list. A row the office cannot
use (no deadline yet, a programme it does not follow, a repeated identifier) is skipped with the
reason, never guessed at; a file that is not such a response is refused as a whole."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from services.grants import domain
from shared import outbound
from shared.bounds import EARLIEST, LATEST, UNSTORABLE_MESSAGE, unstorable_in
from shared.problems import FieldError

MAX_BYTES = 20_000_000
MAX_IDENTIFIER = 120  # the calls table's column
MAX_AMOUNT = 1e12
YIELD_ROWS = 10  # rows decoded between two hand-backs of the GIL to the event loop
TOPIC_URL = "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/topic-details/{}"


@dataclass(frozen=True)
class Portal:
    """Where an import may fetch the portal's answer from (setting PORTAL_HOSTS), through the
    outbound guard."""

    hosts: tuple[str, ...]
    timeout: float
    guard: outbound.Guard

    async def fetch(self, url: str) -> bytes:
        try:
            host = httpx.URL(url).host
        except httpx.InvalidURL as exc:
            raise FieldError("query.url", f"not a valid URL: {exc}") from None
        if host not in self.hosts:
            raise FieldError("query.url", f"{host} is not a portal host this office fetches from "
                                          f"({', '.join(self.hosts)}; setting PORTAL_HOSTS)")
        try:
            await self.guard.check_url(url)  # https, and a public address: checked again as it connects
            async with self.guard.client(timeout=self.timeout) as client:
                async with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        raise FieldError("query.url", f"the portal answered {response.status_code}", status=502)
                    return await gather(response.aiter_bytes(), "query.url", "fetch fewer results per page")
        except outbound.Refused as exc:
            raise FieldError("query.url", str(exc)) from None
        except FieldError as exc:
            if exc.status == 413:  # the portal's answer, not the request, is too large
                exc.status = 422
            raise
        except httpx.HTTPError as exc:
            raise FieldError("query.url", f"could not fetch it ({exc.__class__.__name__}: {exc}); upload the file "
                                          f"instead", status=502) from exc


async def gather(chunks: AsyncIterator[bytes], field: str, advice: str) -> bytes:
    """The whole answer, at most MAX_BYTES of it (413 beyond, before reading on)."""
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BYTES:
            raise FieldError(field, f"larger than {MAX_BYTES} bytes: {advice}", status=413)
        parts.append(chunk)
    return b"".join(parts)


@dataclass
class PortalCall:
    """One usable row, in our terms."""

    identifier: str
    programme: domain.Programme
    title: str
    topic: str | None
    opens_at: datetime | None
    deadlines: list[datetime]
    budget: float | None
    grant_min: float | None
    grant_max: float | None
    themes: list[str]
    url: str
    rules: domain.Rules | None


@dataclass
class Skipped:
    line: int  # the row's position in `results`, from 1
    identifier: str | None
    reason: str


@dataclass
class Parsed:
    calls: list[tuple[int, PortalCall]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def parse(body: bytes) -> Parsed:
    """The usable calls in a SEDIA response, and the rows skipped with their reasons. Runs in a
    worker thread: rows are decoded and turned into calls one at a time, handing the GIL back to the
    event loop every few rows (json.loads of 10 MB holds it for a third of a second in one go, and
    the whole document's objects make the collector stall the process again)."""
    parsed, seen = Parsed(), set[str]()
    try:
        for number, row in enumerate(_rows(body), start=1):
            if number % YIELD_ROWS == 0:
                time.sleep(0)  # the GIL back to the event loop now, not after the interpreter's 5 ms
            _take(parsed, seen, number, row)
    except UnicodeDecodeError as exc:
        raise FieldError("body", "not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise FieldError("body", f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                                 f"is the file complete?") from exc
    except RecursionError as exc:  # the parser's own limit, not ours: no portal response nests that deep
        raise FieldError("body", "nested too deeply to be a portal search response") from exc
    except ValueError as exc:  # e.g. a number of more digits than Python converts
        raise FieldError("body", f"not a portal search response: {exc}") from exc
    return parsed


def _take(parsed: Parsed, seen: set[str], number: int, row: Any) -> None:
    if where := unstorable_in(row):
        raise FieldError(f"results[{number - 1}]" + ("" if where == "body" else f".{where}"), UNSTORABLE_MESSAGE)
    metadata = row.get("metadata") if isinstance(row, dict) else None
    if not isinstance(metadata, dict):
        raise FieldError(f"results[{number - 1}].metadata", "missing or not an object")
    identifier = _first(metadata, "identifier")
    try:
        if not identifier:
            raise _Skip("no identifier")
        if len(identifier) > MAX_IDENTIFIER:
            identifier = identifier[:MAX_IDENTIFIER] + "…"
            raise _Skip(f"the identifier is longer than {MAX_IDENTIFIER} characters")
        if identifier in seen:
            raise _Skip("the identifier appears earlier in the file")
        seen.add(identifier)
        parsed.calls.append((number, _call(identifier, metadata)))
    except _Skip as skip:
        parsed.skipped.append(Skipped(number, identifier, str(skip)))


NOT_A_RESPONSE = "not a portal search response: expected an object with a 'results' list"
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _after_space(text: str, i: int) -> int:
    """Where the JSON whitespace from text[i] on ends."""
    space = _SPACE.match(text, i)
    if space is None:
        raise AssertionError("the whitespace pattern matches the empty string: it always matches")
    return space.end()


def _rows(body: bytes) -> Iterator[Any]:
    """The rows of the response's `results`, each decoded when it is reached; the document's other
    members are decoded, checked for what cannot be stored, and dropped. Errors are json.loads' own."""
    text = body.decode(json.detect_encoding(body))
    i = _after_space(text, 0)
    if not text.startswith("{", i):
        json.loads(text)  # its error, if it is not JSON at all
        raise FieldError("results", NOT_A_RESPONSE)
    results, i = False, _after_space(text, i + 1)
    if text.startswith("}", i):
        raise FieldError("results", NOT_A_RESPONSE)
    while True:
        if not text.startswith('"', i):
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, i)
        key, i = _DECODER.raw_decode(text, i)
        i = _after_space(text, i)
        if not text.startswith(":", i):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, i)
        i = _after_space(text, i + 1)
        if key == "results" and text.startswith("[", i):
            results = True
            i = yield from _items(text, i)
        else:
            value, i = _DECODER.raw_decode(text, i)
            if where := unstorable_in({key: value}):
                raise FieldError(where, UNSTORABLE_MESSAGE)
            if key == "results":  # there, but not a list
                raise FieldError("results", NOT_A_RESPONSE)
        i = _after_space(text, i)
        if text.startswith(",", i):
            i = _after_space(text, i + 1)
        elif text.startswith("}", i):
            break
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
    end = _after_space(text, i + 1)
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    if not results:
        raise FieldError("results", NOT_A_RESPONSE)


def _items(text: str, i: int) -> Generator[Any, None, int]:
    """Each element of the JSON array starting at text[i] ('['); returns where the array ends."""
    i = _after_space(text, i + 1)
    if text.startswith("]", i):
        return i + 1
    while True:
        item, i = _DECODER.raw_decode(text, i)
        yield item
        i = _after_space(text, i)
        if text.startswith(",", i):
            i = _after_space(text, i + 1)
        elif text.startswith("]", i):
            return i + 1
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, i)


class _Skip(Exception):
    pass


def _call(identifier: str, metadata: dict[str, Any]) -> PortalCall:
    programme = programme_of(identifier)
    if programme is None:
        raise _Skip(f"programme of {identifier} is not one the office follows")
    deadlines = sorted(_moment(v, "deadlineDate") for v in _values(metadata, "deadlineDate") if v)
    if not deadlines:
        raise _Skip("no deadline yet")
    model = (_first(metadata, "deadlineModel") or "").lower()
    if model == "two-stage" and len(deadlines) != 2:
        raise _Skip(f"a two-stage call with {len(deadlines)} deadline(s)")
    opens_at = _moment(_first(metadata, "startDate"), "startDate") if _first(metadata, "startDate") else None
    if opens_at is not None and opens_at >= deadlines[0]:
        raise _Skip("its deadline is before its opening date")
    budget, grant_min, grant_max = _budget(identifier, metadata)
    title = _first(metadata, "title") or identifier
    return PortalCall(identifier=identifier, programme=programme, title=title[:500],
                      topic=(_first(metadata, "callTitle") or "")[:500] or None, opens_at=opens_at, deadlines=deadlines,
                      budget=budget, grant_min=grant_min, grant_max=grant_max, themes=_keywords(metadata),
                      url=TOPIC_URL.format(identifier.lower()), rules=domain.known_rules(identifier))


def programme_of(identifier: str) -> domain.Programme | None:
    return domain.IDENTIFIER_PREFIXES.get(identifier.split("-", 1)[0].upper())


def _values(metadata: dict[str, Any], name: str) -> list[Any]:
    value = metadata.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _first(metadata: dict[str, Any], name: str) -> str | None:
    values = _values(metadata, name)
    return str(values[0]).strip() if values and values[0] is not None else None


def _moment(text: Any, name: str) -> datetime:
    """The portal writes `2025-09-18T00:00:00.000+0000`; midnight means the date alone was given,
    so the deadline is that day's 17:00 in Brussels."""
    if not isinstance(text, str):
        raise _Skip(f"{name} {str(text)[:60]!r} is not a date")
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise _Skip(f"{name} {text[:60]!r} is not a date") from exc
    if not EARLIEST <= moment.date() <= LATEST:
        raise _Skip(f"{name} {text[:60]!r} is not between {EARLIEST} and {LATEST}")
    date_only = moment.tzinfo is None or moment.time() == datetime.min.time()
    if date_only and name == "deadlineDate":
        return domain.deadline_at(moment.date())
    return moment if moment.tzinfo else moment.replace(tzinfo=domain.BRUSSELS)


def _keywords(metadata: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for value in _values(metadata, "keywords"):
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError) as exc:
                raise _Skip(f"keywords {value[:60]!r} is not a JSON list") from exc
        for word in value if isinstance(value, list) else [value]:
            if isinstance(word, str) and word.strip():
                found.append(word.strip().lower()[:60])
    return list(dict.fromkeys(found))[:50]


def _budget(identifier: str, metadata: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """The topic's budget (all years) and grant range from `budgetOverview`, when it says."""
    raw = _first(metadata, "budgetOverview")
    if not raw:
        return None, None, None
    try:
        overview = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _Skip("budgetOverview is not JSON") from exc
    by_topic = overview.get("budgetTopicActionMap") if isinstance(overview, dict) else None
    budget = grant_min = grant_max = None
    for actions in (by_topic.values() if isinstance(by_topic, dict) else []):
        for action in actions if isinstance(actions, list) else []:
            if not isinstance(action, dict) or not str(action.get("action", "")).startswith(identifier):
                continue
            years = action.get("budgetYearMap")
            amounts = [_amount(v, None) for v in years.values()] if isinstance(years, dict) else []
            budget = (budget or 0.0) + sum(a for a in amounts if a is not None)
            grant_min = _amount(action.get("minContribution"), grant_min)
            grant_max = _amount(action.get("maxContribution"), grant_max)
    return budget, grant_min, grant_max


def _amount(value: Any, current: float | None) -> float | None:
    """A plausible amount in euros (a number, not negative, below a trillion), else `current`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return current
    amount = float(value) if abs(value) < MAX_AMOUNT else math.inf  # a huge int does not fit a float
    return amount if math.isfinite(amount) and 0 <= amount < MAX_AMOUNT else current
