"""Who is signed in: server-side sessions behind an opaque cookie, and CSRF tokens for every form.

The cookie holds only a random session id (HttpOnly, SameSite=Lax, Secure on https); the API key a
person signed in with, or the identity provider's access token, stays in this process and goes only
to the services, as their bearer. A form
posted without its session's CSRF token changes nothing."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from fastapi import Request, Response

COOKIE = "oia_board"
# Before sign-in there is no session: the sign-in form's token is checked against this cookie.
ANONYMOUS_CSRF_COOKIE = "oia_board_csrf"


@dataclass
class Session:
    id: str
    key: str  # the credential the services are asked with; never rendered
    role: str
    department: str | None
    label: str | None
    language: str
    # Signed in at the identity provider: `key` is its access token, which the services accept
    # until `expires_at` (wall clock); renewed before then with the refresh token, else the
    # session ends.
    expires_at: float | None = None
    refresh_token: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    seen: float = field(default_factory=time.monotonic)

    @property
    def who(self) -> str:
        return f"{self.role} {self.department}" if self.department else self.role

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at

    @property
    def over(self) -> bool:
        """Its credential expired with no way to renew it."""
        return self.expired and self.refresh_token is None

    @property
    def coordinates(self) -> bool:
        return self.role in ("coordinator", "admin")


class Sessions:
    """The signed-in people of this process (a restart signs everyone out)."""

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._by_id: dict[str, Session] = {}

    def open(self, key: str, role: str, department: str | None, label: str | None, language: str,
             expires_at: float | None = None, refresh_token: str | None = None) -> Session:
        self._expire()
        session = Session(id=secrets.token_urlsafe(32), key=key, role=role, department=department, label=label,
                          language=language, expires_at=expires_at, refresh_token=refresh_token)
        self._by_id[session.id] = session
        return session

    def find(self, session_id: str | None) -> Session | None:
        session = self._by_id.get(session_id or "")
        if session is None:
            return None
        if time.monotonic() - session.seen > self.idle_seconds or session.over:
            self._by_id.pop(session.id, None)
            return None
        session.seen = time.monotonic()
        return session

    def close(self, session_id: str | None) -> None:
        self._by_id.pop(session_id or "", None)

    def _expire(self) -> None:
        now = time.monotonic()
        for stale in [s.id for s in self._by_id.values() if now - s.seen > self.idle_seconds or s.over]:
            self._by_id.pop(stale, None)


def set_cookie(response: Response, request: Request, name: str, value: str, secure_always: bool,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, httponly=True, samesite="lax", path="/board",
                        secure=secure_always or request.url.scheme == "https", max_age=max_age)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and secrets.compare_digest(str(expected), str(given))
