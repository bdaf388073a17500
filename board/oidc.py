"""Signing in at the city's identity provider: OpenID Connect's authorization code flow with PKCE.

The board sends the person to the provider with a fresh state, nonce and PKCE challenge, kept here
(server-side) under the state, which the browser also holds in a short-lived cookie: a callback that
does not come back to the browser that started it, or comes twice, signs nobody in. The code is
exchanged for an ID token (checked: signature, issuer, audience, nonce) and an access token for the
services, which the session then forwards as its bearer, exactly as a signed-in key; renewed with
the refresh token shortly before it expires, or the session ends with it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import Request

from board.session import Session
from board.settings import BoardSettings
from shared.identity import OpenIdProvider, ProviderUnreachable, TokenRefused

# An access token is renewed this long before it expires, so no request goes out with one about to lapse.
REFRESH_AHEAD_SECONDS = 60.0
# Cookie holding the state of a sign-in under way (HttpOnly, SameSite=Lax: it comes back with the
# provider's top-level redirect), and how long a person has at the provider.
STATE_COOKIE = "oia_board_oidc"
PENDING_SECONDS = 600.0
MAX_PENDING = 10_000

log = logging.getLogger(__name__)


class SignInFailed(Exception):
    """The provider's answer does not sign anyone in. The message names why, never a token."""


@dataclass
class Pending:
    nonce: str
    verifier: str
    redirect_uri: str
    started: float = field(default_factory=time.monotonic)


@dataclass
class Tokens:
    access_token: str
    expires_at: float  # wall clock: when the services stop accepting the access token
    refresh_token: str | None  # for a new access token before that, if the provider gives one
    claims: dict[str, Any]  # the ID token's, checked


class SignInWithProvider:
    def __init__(self, settings: BoardSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.provider = OpenIdProvider(settings.oidc_issuer, transport, settings.timeout_seconds)
        self._pending: dict[str, Pending] = {}
        # A lock lives while a request holds or awaits it.
        self._refreshing: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def start(self, redirect_uri: str) -> tuple[str, str]:
        """The provider's authorization URL to send the person to, and the state it carries."""
        metadata = await self.provider.metadata()
        self._forget_stale()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        self._pending[state] = Pending(nonce, verifier, redirect_uri)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({
            "response_type": "code", "client_id": self.settings.oidc_client_id, "redirect_uri": redirect_uri,
            "scope": self.settings.oidc_scopes, "state": state, "nonce": nonce,
            "code_challenge": challenge, "code_challenge_method": "S256"})
        return f"{metadata['authorization_endpoint']}?{query}", state

    async def finish(self, state: str, expected_state: str | None, code: str, issuer: str | None) -> Tokens:
        """The tokens for the code the provider sent back, once the state is the one this browser
        started with (and used once)."""
        if not expected_state or not secrets.compare_digest(state, expected_state):
            raise SignInFailed("the state is not the one this browser started with")
        pending = self._pending.pop(state, None)
        if pending is None or time.monotonic() - pending.started > PENDING_SECONDS:
            raise SignInFailed("the sign-in is unknown or expired")
        # RFC 9207: a provider naming itself in the answer must be ours (a mix-up attack otherwise).
        if issuer is not None and issuer.rstrip("/") != self.provider.issuer:
            raise SignInFailed("the answer comes from another issuer")
        return await self._tokens({"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": pending.redirect_uri, "code_verifier": pending.verifier},
                                  nonce=pending.nonce)

    async def refresh(self, refresh_token: str) -> Tokens:
        """A new access token for the same person (the provider may rotate the refresh token too)."""
        tokens = await self._tokens({"grant_type": "refresh_token", "refresh_token": refresh_token}, nonce=None)
        tokens.refresh_token = tokens.refresh_token or refresh_token
        return tokens

    async def _tokens(self, body: dict[str, str], nonce: str | None) -> Tokens:
        metadata = await self.provider.metadata()
        auth: httpx.Auth | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
        if self.settings.oidc_client_secret:
            auth = httpx.BasicAuth(self.settings.oidc_client_id, self.settings.oidc_client_secret)
        else:  # a public client names itself; PKCE is its proof
            body["client_id"] = self.settings.oidc_client_id
        try:
            async with self.provider.client() as http:
                response = await http.post(str(metadata["token_endpoint"]), data=body, auth=auth)
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"the token endpoint could not be reached ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise SignInFailed(f"the provider refused the {body['grant_type']} ({response.status_code})")
        answer = response.json()
        if str(answer.get("token_type", "")).lower() != "bearer" or not answer.get("access_token"):
            raise SignInFailed("the provider sent no bearer access token")
        claims: dict[str, Any] = {}
        # Signing in needs the ID token (its nonce ties it to this sign-in); a refresh may bring one.
        if nonce is not None or answer.get("id_token"):
            try:
                claims = await self.provider.verify(str(answer.get("id_token", "")), self.settings.oidc_client_id,
                                                    nonce=nonce)
            except TokenRefused as exc:
                raise SignInFailed(f"the ID token is not valid: {exc}") from exc
        expires_in = float(answer.get("expires_in") or 300)
        refresh_token = answer.get("refresh_token")
        return Tokens(str(answer["access_token"]), time.time() + expires_in,
                      str(refresh_token) if refresh_token else None, claims)

    async def end_session_url(self, post_logout_redirect_uri: str) -> str | None:
        """Where the person signs out at the provider too, if it offers that (RP-initiated logout)."""
        endpoint = (await self.provider.metadata()).get("end_session_endpoint")
        if not endpoint:
            return None
        query = urlencode({"client_id": self.settings.oidc_client_id,
                           "post_logout_redirect_uri": post_logout_redirect_uri})
        return f"{endpoint}?{query}"

    async def keep_fresh(self, session: Session) -> bool:
        """Renews the session's access token when it is about to expire; False when it cannot be
        (no refresh token, or the provider said no) and has expired: the session is over."""
        if session.expires_at is None or time.time() < session.expires_at - REFRESH_AHEAD_SECONDS:
            return True
        if session.refresh_token is None:
            return not session.expired
        # One refresh per session at a time: a rotated refresh token works only once.
        async with self._refreshing.setdefault(session.id, asyncio.Lock()):
            if time.time() < session.expires_at - REFRESH_AHEAD_SECONDS:
                return True  # another request renewed it meanwhile
            try:
                tokens = await self.refresh(session.refresh_token)
            except (SignInFailed, ProviderUnreachable) as exc:
                log.warning("the session's access token could not be renewed: %s", exc)
                return not session.expired
            session.key, session.expires_at = tokens.access_token, tokens.expires_at
            session.refresh_token = tokens.refresh_token
        return True

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for state in [s for s, p in self._pending.items() if now - p.started > PENDING_SECONDS]:
            del self._pending[state]
        while len(self._pending) >= MAX_PENDING:  # a flood of started sign-ins: the oldest go
            del self._pending[next(iter(self._pending))]


def signing_in(request: Request) -> SignInWithProvider:
    """The app's one SignInWithProvider (its sign-ins under way, the provider's cached keys)."""
    settings: BoardSettings = request.app.state.board.settings
    found: SignInWithProvider | None = getattr(request.app.state, "oidc", None)
    if found is None:
        found = request.app.state.oidc = SignInWithProvider(settings)
    return found
