"""Secrets out of sight: URLs masked to where they point, tokens and keys cut out of free text.

A webhook URL is a credential (Slack's /services/T…/B…/<token>, a Teams workflow's `sig=`, a
`user:password@`); a calendar URL's last segment is its token; an API key is a bearer secret.
What people and logs see is enough to recognise a thing, never enough to use it."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>\\]+")
# A feed's address is /<svc>/calendar/<token>.ics; /calendar/tokens/<id> names no secret.
_CALENDAR = re.compile(r"(/calendar/)(?!tokens(?:[/?#\s\"']|$))[^/\s\"'?#]+")
_API_KEY = re.compile(r"\boia_[A-Za-z0-9_-]{8,}")
# A JWT (an identity provider's access or ID token): its header always starts `eyJ` ('{"').
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")  # a credential (token68), not "<api key>"
# Cheap first test: most log lines carry none of these, and skip the regular expressions.
_MARKERS = ("://", "/calendar/", "oia_", "earer", "eyJ")


def fingerprint(value: str) -> str:
    """Six hex digits that tell two secrets apart without revealing either."""
    return hashlib.sha256(value.encode()).hexdigest()[:6]


def mask_url(url: str) -> str:
    """`https://hooks.slack.com/services/T0/B0/xyz` → `https://hooks.slack.com/…[3f9a1c]`: scheme,
    host and port stay; user info, path, query and fragment go; the hint tells two URLs apart."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # an unparseable port or bracket: show nothing of it
        return f"…[{fingerprint(url)}]"
    if not parts.scheme or not host:
        return f"…[{fingerprint(url)}]"
    if ":" in host:
        host = f"[{host}]"
    where = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    if not (parts.username or parts.password or parts.path.strip("/") or parts.query or parts.fragment):
        return where  # nothing secret to hide
    return f"{where}/…[{fingerprint(url)}]"


def redact(text: str) -> str:
    """Free text (a log line, an error) with every URL masked, calendar tokens, API keys and
    bearer credentials cut out."""
    if not any(marker in text for marker in _MARKERS):
        return text
    text = _URL.sub(lambda m: mask_url(m.group(0)), text)
    text = _CALENDAR.sub(r"\1…", text)
    text = _API_KEY.sub("oia_…", text)
    text = _JWT.sub("eyJ…", text)
    return _BEARER.sub(r"\1…", text)


def redact_value(value: Any) -> Any:
    """`redact` through strings inside dicts, lists and tuples (a structured log event)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if type(value) in (list, tuple):  # not a named tuple: its fields are not the constructor's
        return type(value)(redact_value(v) for v in value)
    return value
