"""An OpenID provider's signed tokens, checked: its metadata (discovery) and signing keys (JWKS),
fetched and cached, and a JWT verified against them — issuer, audience, expiry, signature.

Only asymmetric signatures count: a token saying `alg: none`, or HS256 "signed" with the public
key as a shared secret, is refused before any key is looked at."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt

# What a provider signs with; never `none` nor an HMAC (HS*), whose "key" would be public.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# Metadata and keys are re-read after this long; an unknown key id sooner (the provider rotated),
# but at most once per KEY_REFETCH_SECONDS, so made-up key ids cannot make us hammer the provider.
CACHE_SECONDS = 600.0
KEY_REFETCH_SECONDS = 30.0
# Clocks differ a little between the provider and us.
LEEWAY_SECONDS = 30


class TokenRefused(Exception):
    """The token is not one this provider signed for us, or no longer valid. The message names
    the reason, never the token."""


class ProviderUnreachable(Exception):
    """The provider's metadata or keys could not be read."""


class OpenIdProvider:
    def __init__(self, issuer: str, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 10.0) -> None:
        self.issuer = issuer.rstrip("/")
        self._transport, self._timeout = transport, timeout
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_read = -KEY_REFETCH_SECONDS
        self._lock = asyncio.Lock()

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._transport, timeout=self._timeout)

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (its endpoints), cached."""
        if self._metadata and time.monotonic() - self._metadata[0] < CACHE_SECONDS:
            return self._metadata[1]
        document = await self._read(f"{self.issuer}/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise ProviderUnreachable("the provider's metadata names another issuer")
        self._metadata = (time.monotonic(), document)
        return document

    async def verify(self, token: str, audience: str, nonce: str | None = None) -> dict[str, Any]:
        """The token's claims, once its signature, issuer, audience, expiry (and nonce, for an ID
        token) are checked; else TokenRefused."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenRefused("not a JWT") from exc
        algorithm = header.get("alg")
        if algorithm not in SIGNING_ALGORITHMS:
            raise TokenRefused(f"signature algorithm {str(algorithm)[:10]!r} is not accepted")
        key = await self._key(str(header.get("kid", "")))
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=[algorithm], audience=audience, issuer=self.issuer,
                leeway=LEEWAY_SECONDS, options={"require": ["iss", "aud", "exp", "sub"]})
        except jwt.InvalidTokenError as exc:
            raise TokenRefused(str(exc)) from exc
        if nonce is not None and claims.get("nonce") != nonce:
            raise TokenRefused("the nonce is not the one sent")
        return claims

    async def _key(self, key_id: str) -> jwt.PyJWK:
        async with self._lock:
            stale = time.monotonic() - self._keys_read > CACHE_SECONDS
            unknown = key_id not in self._keys and time.monotonic() - self._keys_read > KEY_REFETCH_SECONDS
            if stale or unknown:
                document = await self._read(str((await self.metadata())["jwks_uri"]))
                keys = jwt.PyJWKSet.from_dict(document).keys
                self._keys = {str(k.key_id or ""): k for k in keys if k.public_key_use in (None, "sig")}
                self._keys_read = time.monotonic()
        if key_id not in self._keys:
            raise TokenRefused("signed with a key the provider does not publish")
        return self._keys[key_id]

    async def _read(self, url: str) -> dict[str, Any]:
        try:
            async with self.client() as http:
                response = await http.get(url)
                response.raise_for_status()
                document: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnreachable(f"{url} could not be read ({type(exc).__name__})") from exc
        return document
