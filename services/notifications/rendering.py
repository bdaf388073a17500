"""Alert messages from Jinja2 templates, for every channel, in English and German.

One template per event type in templates/<event type>.j2, worded in English and translated with
gettext (Jinja2's i18n extension: `_()`, `ngettext()`, `pgettext()`) from the catalog
locale/<language>/LC_MESSAGES/messages.po, read as it is (no .mo on disk). Its blocks are rendered
one by one: `subject`, `text`, `html`, `chat` (lines for Slack and Teams, paragraphs separated by a
blank line), `facts` ("Label: value" lines) and `feed_body`; `feed_title` is optional (default: the
subject). Shared phrases live in templates/_macros.j2 (available to every template as `m`). Dates,
numbers and amounts are formatted by Babel in the reader's locale, places named in the reader's
language where the gazetteer knows the name; the Slack and Teams JSON is built here from the pieces.
"""

from __future__ import annotations

import copy
import json
import re
from collections import OrderedDict
from datetime import UTC, date, datetime
from functools import cache, cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_interval, format_skeleton, format_time
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.notifications.events import consumes
from shared.envelope import UnknownEventType
from shared.places import local_name
from shared.translations import catalog

LANGUAGES = ("en", "de")
EVENT_TYPES = (
    "travel.overlap.detected.v1",
    "travel.overlap.resolved.v1",
    "travel.crossing.detected.v1",
    "travel.trip.booked.v1",
    "partners.visit.planned.v1",
    "partners.anniversary.upcoming.v1",
    "partners.partnership.dormant.v1",
    "partners.renewal.due.v1",
    "grants.call.published.v1",
    "grants.call.updated.v1",
    "grants.application.stage_changed.v1",
    "grants.deadline.approaching.v1",
)
TEMPLATES = Path(__file__).parent / "templates"

SUBJECT_MAX = 150
FEED_TITLE_MAX = 300
# Slack's documented limits for incoming webhooks and Block Kit; with blocks, the top-level `text`
# is only the notification's line and should stay within 4,000 characters.
SLACK_TEXT_MAX = 4_000
SLACK_BLOCKS_MAX = 50
SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
SLACK_FIELDS_MAX = 10
SLACK_FIELD_MAX = 2000

# The reader's language -> the locale its dates, numbers and amounts follow (British English:
# "12 May 2027", "€30,000").
LOCALES = {"en": "en_GB", "de": "de_DE"}
# English is the source language: the templates' msgids; other languages have a catalog here.
LOCALE_DIR = Path(__file__).parent / "locale"
# EU deadlines are set in Brussels time: they are shown there, whoever reads them.
BRUSSELS = ZoneInfo("Europe/Brussels")

TEAMS_CARD_MAX = 27_000  # bytes of card body: Teams' ~28 KB message limit, less the envelope and "…"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


class Blocks:
    """A template's blocks for one context, each rendered the first time it is read: routing needs
    only the feed's, and a channel only its own (an alert for Slack never renders the email's HTML)."""

    def __init__(self, language: str, name: str, context: dict[str, Any]) -> None:
        self.language, self.name, self.context = language, name, context
        self._rendered: dict[str, str | None] = {}

    def get(self, block: str) -> str | None:
        """The block's text, tidied; None if the template has no such block."""
        if block not in self._rendered:
            template = _environment(self.language, block == "html").get_template(f"{self.name}.j2")
            self._rendered[block] = (_tidy("".join(template.blocks[block](template.new_context(self.context))))
                                     if block in template.blocks else None)
        return self._rendered[block]

    @property
    def rendered(self) -> set[str]:
        """The blocks rendered so far."""
        return set(self._rendered)

    def __getitem__(self, block: str) -> str:
        text = self.get(block)
        if text is None:
            raise KeyError(f"{self.name}.j2 has no block {block!r}")
        return text


class Message:
    """One message in every form a channel takes; each form is built the first time it is asked for
    (and kept), so what no recipient's channel reads costs nothing."""

    def __init__(self, blocks: Blocks) -> None:
        self.blocks = blocks

    @cached_property
    def subject(self) -> str:
        """Email subject; title in Slack/Teams/feed. One line, <= 150 chars."""
        return _one_line(self.blocks["subject"], SUBJECT_MAX)

    @cached_property
    def text(self) -> str:
        """The plain text body (email text part)."""
        return self.blocks["text"]

    @cached_property
    def html(self) -> str:
        """The email HTML body, autoescaped."""
        return self.blocks["html"]

    @cached_property
    def slack(self) -> dict:
        """The JSON body for a Slack incoming webhook."""
        return _slack(self.subject, self._facts, [c for p in _paragraphs(self.blocks["chat"]) for c in _chunks(p)])

    @cached_property
    def teams(self) -> dict:
        """The JSON body for a Teams Workflows webhook."""
        return _teams(self.subject, self._facts,
                      [_text_block(_teams_lines(p)) for p in _paragraphs(self.blocks["chat"])])

    @cached_property
    def feed_title(self) -> str:
        """<= 300 chars."""
        return _one_line(self.blocks.get("feed_title") or self.subject, FEED_TITLE_MAX)

    @cached_property
    def feed_body(self) -> str:
        return " ".join(self.blocks["feed_body"].split())  # a feed entry is one short paragraph

    @property
    def _facts(self) -> list[tuple[str, str]]:
        return _facts(self.blocks.get("facts") or "")

    FORMS = ("subject", "text", "html", "slack", "teams", "feed_title", "feed_body")

    def __eq__(self, other: object) -> bool:
        """The same message: every form the same."""
        if not isinstance(other, Message):
            return NotImplemented
        return all(getattr(self, form) == getattr(other, form) for form in self.FORMS)

    __hash__ = None  # type: ignore[assignment]  # equal by content, which is built lazily

    def replace(self, **forms: Any) -> Message:
        """A copy with some forms given instead of rendered (`subject="…"`)."""
        changed = copy.copy(self)
        for name, value in forms.items():
            if not isinstance(getattr(type(self), name, None), cached_property):
                raise AttributeError(f"a message has no form {name!r}")
            changed.__dict__[name] = value
        return changed


def supported(event_type: str) -> bool:
    return event_type in EVENT_TYPES


def render(event_type: str, data: dict, language: str, related: dict | None = None) -> Message:
    """One event's message. `related`: the earlier overlap.detected data for a resolution."""
    _check_language(language)
    if not supported(event_type):
        raise KeyError(event_type)
    context = {"d": _payload(event_type, data),
               "related": _payload("travel.overlap.detected.v1", related) if related else None}
    return Message(Blocks(language, event_type, context))


class RecentMessages:
    """Messages rendered lately, by (event id, language). Routing renders an alert for its feed
    entries and the delivery worker for its channels moments later, in the same process: the
    template work is done once (rendering is deterministic, so a miss only costs time)."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._kept: OrderedDict[tuple[str, str], Message] = OrderedDict()

    def render(self, event_id: str, event_type: str, data: dict, language: str,
               related: dict | None = None) -> Message:
        key = (event_id, language)
        message = self._kept.get(key)
        if message is None:
            message = self._kept[key] = render(event_type, data, language, related)
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return message


recent = RecentMessages()


def render_digest(notices: list[tuple[str, dict, dict | None]], language: str, recipient_name: str,
                  day: date) -> Message:
    """One message for several notices: (event_type, data, related) each, in order."""
    _check_language(language)
    items = [render(event_type, data, language, related) for event_type, data, related in notices]
    return Digest(Blocks(language, "digest", {"items": items, "count": len(items), "recipient": recipient_name,
                                              "day": day}), items)


class Digest(Message):
    """Several notices in one message: the chat forms carry one section per notice."""

    def __init__(self, blocks: Blocks, items: list[Message]) -> None:
        super().__init__(blocks)
        self.items = items

    def _shown(self) -> tuple[list[str], list[Message], list[str]]:
        """The intro's paragraphs, the notices shown, and the line summarising the rest. One Slack
        section per notice; what does not fit in the block cap is summarised in one line (header +
        intro + shown notices + that line <= 50). Teams gets the same, to stay small."""
        intro = _paragraphs(self.blocks["chat"])
        room = SLACK_BLOCKS_MAX - 1 - len(intro)
        shown = self.items if len(self.items) <= room else self.items[:room - 1]
        rest = len(self.items) - len(shown)
        return intro, shown, [_macros(self.blocks.language).and_more(rest)] if rest else []

    @cached_property
    def slack(self) -> dict:
        intro, shown, more = self._shown()
        return _slack(self.subject, [], [_slack_escape(p) for p in intro]
                      + [f"*{_slack_escape(i.subject)}*\n{_slack_escape(i.feed_body)}" for i in shown]
                      + [_slack_escape(line) for line in more])

    @cached_property
    def teams(self) -> dict:
        intro, shown, more = self._shown()
        body = [_text_block(_teams_lines(p)) for p in intro]
        for item in shown:
            body += [_text_block(item.subject, weight="Bolder"), _text_block(item.feed_body, spacing="None")]
        return _teams(self.subject, [], body + [_text_block(line) for line in more])

# -- templates ----------------------------------------------------------------------------------

def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; supported: {', '.join(LANGUAGES)}")


@cache
def _environment(language: str, html: bool) -> Environment:
    """One environment per language (its catalog; its date, moment, amount and place filters) and
    output: the html block is rendered from an autoescaping environment, the plain-text blocks from
    one that is not."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=html,
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(catalog(LOCALE_DIR, language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["date"] = lambda value: _format_date(value, language)
    env.filters["span"] = lambda start, end: _format_span(start, end, language)
    env.filters["year"] = lambda value: _as_date(value).year
    env.filters["number"] = lambda value: format_decimal(value, locale=LOCALES[language])
    env.filters["moment"] = lambda value, time=True: _format_moment(value, language, time)
    env.filters["amount"] = lambda value: _format_amount(value, language)
    env.filters["change"] = lambda value, field: _format_change(value, field, language)
    env.filters["place"] = lambda name, country: local_name(name, country, language)
    env.globals["language"] = language
    # Blocks rendered on their own do not run a template's top-level imports, so the shared
    # phrases are a global instead.
    env.globals["m"] = env.get_template("_macros.j2").module
    return env


def _macros(language: str) -> Any:
    return _environment(language, False).globals["m"]


def _payload(event_type: str, data: dict) -> dict[str, Any]:
    """The stored dict through the consumer view (defaults, real dates), with every string on one
    line: payload strings are untrusted and must not forge lines in the text or facts. An event
    type without a consumer model yet passes as it came (dates stay ISO strings, which the date
    filters accept)."""
    try:
        model = consumes.model_for(event_type)
    except UnknownEventType:
        return _one_line_strings(dict(data))
    return _one_line_strings(model.model_validate(data).model_dump())


def _one_line_strings(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, dict):
        return {k: _one_line_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_one_line_strings(v) for v in value]
    return value


def _as_date(value: date | str) -> date:
    """A date from a date, a datetime or an ISO string ("2027-05-12", "2027-05-12T09:00:00Z")."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return value


def _format_date(value: date | str, language: str) -> str:
    """ "12 May 2027", German "12. Mai 2027"."""
    return format_date(_as_date(value), "long", locale=LOCALES[language])


def _format_span(start: date | str, end: date | str, language: str) -> str:
    """A date range that does not repeat what both ends share: "12–15 May 2027",
    "28 April – 3 May 2027"; German "12.–15. Mai 2027", "28. April – 3. Mai 2027"."""
    start, end = _as_date(start), _as_date(end)
    locale = LOCALES[language]
    if start == end:
        return _format_date(start, language)
    if start > end or start.year != end.year:
        return f"{_format_date(start, language)} – {_format_date(end, language)}"
    if start.month == end.month:
        return format_interval(start, end, "yMMMMd", locale=locale)
    return f"{format_skeleton('MMMMd', start, locale=locale)} – {_format_date(end, language)}"


def _as_moment(value: datetime | str) -> datetime:
    """An aware datetime from a datetime or an ISO string; a naive one is taken as UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _format_moment(value: datetime | str, language: str, time: bool = True) -> str:
    """A moment in Brussels time, as EU deadlines are set: "16 September 2027, 17:00 (Brussels
    time)", German "16. September 2027, 17:00 Uhr (Brüsseler Zeit)"; `time` False: the day only."""
    local = _as_moment(value).astimezone(BRUSSELS)
    day = _format_date(local.date(), language)
    if not time:
        return day
    gettext = catalog(LOCALE_DIR, language).gettext
    clock = format_time(local, "short", locale=LOCALES[language])
    return gettext("%(day)s, %(time)s (Brussels time)") % {"day": day, "time": clock}


def _format_amount(value: float | int | str, language: str) -> str:
    """Euros in the reader's locale, whole ones without cents: "€30,000" and "€1,234.50" in
    English, "30.000 €" and "1.234,50 €" in German (a no-break space before the sign)."""
    value = float(value)
    locale = Locale.parse(LOCALES[language])
    if value != int(value):
        return format_currency(value, "EUR", locale=locale)
    pattern = re.sub(r"\.0+", "", locale.currency_formats["standard"].pattern)
    return format_currency(value, "EUR", format=pattern, currency_digits=False, locale=locale)


def _format_change(value: str, field: str, language: str) -> str:
    """A call change's before or after value, which grants sends as text: deadlines as
    "1: <ISO>; 2: <ISO>", amounts in euros. What does not parse is shown as sent."""
    try:
        if field == "deadlines":
            stages = [part.partition(":") for part in value.split(";") if part.strip()]
            if len(stages) == 1:
                return _format_moment(stages[0][2].strip(), language)
            gettext = catalog(LOCALE_DIR, language).gettext
            return "; ".join(gettext("stage %(stage)s: %(at)s") % {"stage": n.strip(),
                                                                    "at": _format_moment(at.strip(), language)}
                             for n, _, at in stages)
        if field == "budget":
            return _format_amount(value, language)
    except ValueError:
        return value
    return value


# -- text helpers -------------------------------------------------------------------------------

def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _one_line(text: str, limit: int) -> str:
    return _cut(" ".join(text.split()), limit)


def _tidy(text: str) -> str:
    """Template output without trailing spaces and with at most one blank line in a row."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _paragraphs(chat: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", chat) if p.strip()]


def _facts(block: str) -> list[tuple[str, str]]:
    facts = []
    for line in block.splitlines():
        label, sep, value = line.partition(": ")
        if sep and value.strip():
            facts.append((label.strip(), value.strip()))
    return facts


# -- Slack --------------------------------------------------------------------------------------

def _slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup (<!channel>, <url|label>); payload text must not be."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_cut(text: str, limit: int) -> str:
    """Escaped text within `limit`, never ending in half an entity."""
    if len(text) <= limit:
        return text
    return re.sub(r"&[a-z]{0,3}$", "", text[:limit - 1]) + "…"


def _chunks(paragraph: str) -> list[str]:
    """A long paragraph as several sections (split between lines), each within Slack's limit."""
    chunks: list[str] = []
    for line in _slack_escape(paragraph).split("\n"):
        line = _slack_cut(line, SLACK_SECTION_MAX)
        if chunks and len(chunks[-1]) + 1 + len(line) <= SLACK_SECTION_MAX:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks


def _slack(title: str, facts: list[tuple[str, str]], sections: list[str]) -> dict:
    """Header, facts as section fields, then one section per item of `sections` (already escaped
    mrkdwn); cut to Slack's limits. The title is also the `text` notifications and screen readers
    show (the blocks carry the message)."""
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": _cut(title, SLACK_HEADER_MAX)}}]
    if facts:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn",
             "text": _slack_cut(f"*{_slack_escape(label)}*\n{_slack_escape(value)}", SLACK_FIELD_MAX)}
            for label, value in facts[:SLACK_FIELDS_MAX]]})
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": _slack_cut(s, SLACK_SECTION_MAX)}}
               for s in sections]
    if len(blocks) > SLACK_BLOCKS_MAX:
        blocks = blocks[:SLACK_BLOCKS_MAX - 1] + [{"type": "context", "elements": [{"type": "mrkdwn", "text": "…"}]}]
    return {"text": _slack_cut(_slack_escape(title), SLACK_TEXT_MAX), "blocks": blocks}


# -- Teams --------------------------------------------------------------------------------------

def _text_block(text: str, **extra: str) -> dict:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def _teams_lines(paragraph: str) -> str:
    """Teams clients differ on single newlines in a TextBlock; a blank line breaks everywhere."""
    return "\n\n".join(line.strip() for line in paragraph.splitlines())


def _teams(title: str, facts: list[tuple[str, str]], body: list[dict]) -> dict:
    """An Adaptive Card in the envelope a Teams Workflows ("post to a channel when a webhook
    request is received") webhook expects."""
    card_body = [{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True}]
    if facts:
        card_body.append({"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]})
    card_body += body
    # Teams refuses messages over about 28 KB: drop text blocks from the end, and say so.
    cut = False
    while len(card_body) > 2 and len(json.dumps(card_body, ensure_ascii=False).encode()) > TEAMS_CARD_MAX:
        card_body.pop()
        cut = True
    if cut:
        card_body.append(_text_block("…"))
    return {"type": "message", "attachments": [{
        "contentType": ADAPTIVE_CARD,
        "contentUrl": None,
        "content": {"$schema": ADAPTIVE_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": card_body},
    }]}
