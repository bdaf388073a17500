"""Authentication shared by all services: API keys, and the identity provider's access tokens.

A key maps to a principal (role, and a department for the `department` role). Keys are stored
as HMAC-SHA256 digests under the deployment secret: a leaked table does not leak keys. A key is
named by its id (`key_` and the digest's first 12 hex digits: stable, the same in every service,
useless to an attacker) and its label, never by any part of the key itself.

A person signed in at the city's identity provider (the board) calls with its JWT access token:
checked against the provider's keys (shared/identity.py), it gives the same kind of principal, its
role and department read from configurable claims, named `oidc:<subject>` and the person's name.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypedDict

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import audit as audit_trail
from shared.audit import acting, changes
from shared.identity import OpenIdProvider, ProviderUnreachable, TokenRefused
from shared.tables import api_key, audit
from shared.uow import utcnow

Role = Literal["department", "coordinator", "reader", "admin"]
ROLES: tuple[str, ...] = ("department", "coordinator", "reader", "admin")
DEPARTMENT = re.compile(r"^[A-Z][A-Z0-9_]{1,19}$")
KEY_PREFIX = "oia_"
# A revoked key stops working within this long (the lookup is cached per process).
CACHE_SECONDS = 30.0


# The label of keys provisioned from the environment (OIA_API_KEYS).
ENV_LABEL = "OIA_API_KEYS"


@dataclass(frozen=True)
class Principal:
    role: Role
    department: str | None
    key_id: str
    label: str | None = None

    @property
    def who(self) -> str:
        """How records name the caller ("department ECON (ECON system)"): never the key."""
        name = f"{self.role} {self.department}" if self.department else self.role
        return f"{name} ({self.label or self.key_id})"[:60]


class InvalidKeySpec(ValueError):
    pass


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(secret: str, key: str) -> str:
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()


def key_id(key_hash: str) -> str:
    """A key's name in lists, records and `oia keys revoke`: derived from its digest, so it
    reveals nothing of the key and is the same wherever the key is stored."""
    return "key_" + key_hash[:12]


def validate_principal(role: str, department: str | None) -> tuple[str, str | None]:
    if role not in ROLES:
        raise InvalidKeySpec(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if department is not None and not DEPARTMENT.match(department):
        raise InvalidKeySpec(f"department must be a short upper-case code like ECON, not {department!r}")
    if role == "department" and department is None:
        raise InvalidKeySpec("a department key needs --department")
    return role, department


def parse_env_keys(spec: str) -> list[tuple[str, str, str | None]]:
    """`OIA_API_KEYS="key:role[:DEPT],…"` → [(key, role, department)]."""
    keys = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        fields = item.split(":")
        if len(fields) not in (2, 3) or not fields[0]:
            raise InvalidKeySpec(f"OIA_API_KEYS entry {item.split(':')[0][:4]}… must be key:role[:DEPT]")
        role, department = validate_principal(fields[1], fields[2] if len(fields) == 3 else None)
        keys.append((fields[0], role, department))
    return keys


async def store_key(engine: AsyncEngine, secret: str, key: str, role: str, department: str | None,
                    label: str | None = None) -> str:
    """Store a key's digest; returns the key's id."""
    role, department = validate_principal(role, department)
    digest = hash_key(secret, key)
    async with engine.begin() as conn:
        await conn.execute(
            insert(api_key).values(
                key_hash=digest, key_id=key_id(digest), role=role, department=department,
                label=label, created_at=utcnow(),
            )
        )
        # The label may name its holder: masked in the trail (shared/audit.py).
        await conn.execute(insert(audit).values(audit_trail.entry("api_key", key_id(digest), "created", changes(
            None, {"role": role, "department": department, "label": label}, personal={"label"}))))
    return key_id(digest)


class StoredKey(TypedDict):
    """A key as `oia keys list` shows it: never any part of the key itself."""

    id: str
    role: str
    department: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


async def list_keys(engine: AsyncEngine) -> list[StoredKey]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(api_key).order_by(api_key.c.created_at))).all()
    return [{"id": r.key_id, "role": r.role, "department": r.department, "label": r.label,
             "created_at": r.created_at, "revoked_at": r.revoked_at} for r in rows]


async def revoke_key(engine: AsyncEngine, id_: str) -> int:
    """Revoke the key with this id (as `oia keys list` shows it)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(api_key).where(api_key.c.key_id == id_, api_key.c.revoked_at.is_(None))
            .values(revoked_at=utcnow()))
        if result.rowcount:
            await conn.execute(insert(audit).values(audit_trail.entry("api_key", id_, "revoked", {})))
    return result.rowcount


class KeyRing:
    """Resolves a presented key: environment-provisioned keys first, then the service's table."""

    def __init__(self, engine: AsyncEngine, secret: str, env_spec: str = "") -> None:
        self.engine = engine
        self.secret = secret
        self._env: dict[str, Principal] = {}
        for key, role, dept in parse_env_keys(env_spec):
            digest = hash_key(secret, key)
            self._env[digest] = Principal(role, dept, key_id(digest), ENV_LABEL)  # type: ignore[arg-type]
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self.failures = FailedAuthentications()

    async def resolve(self, key: str) -> Principal | None:
        digest = hash_key(self.secret, key)
        if digest in self._env:
            return self._env[digest]
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(api_key).where(api_key.c.key_hash == digest, api_key.c.revoked_at.is_(None))
                )
            ).first()
        principal = Principal(row.role, row.department, row.key_id, row.label) if row else None
        if len(self._cache) > 10_000:  # a flood of made-up keys must not grow memory without bound
            self._cache.clear()
        self._cache[digest] = (now, principal)
        return principal


# When a person holds several of our roles, the widest is theirs.
ROLE_PRECEDENCE = ("admin", "coordinator", "department", "reader")


def parse_role_map(spec: str) -> dict[str, str]:
    """`OIDC_ROLES="OIA-Coordinators=coordinator,…"` → {provider's value: our role}."""
    mapping = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        value, _, role = item.rpartition("=")
        if not value or role not in ROLES:
            raise InvalidKeySpec(f"OIDC_ROLES entry {item!r} must be <provider value>=<{'|'.join(ROLES)}>")
        mapping[value] = role
    return mapping


def claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (`realm_access.roles`)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class AccessTokens:
    """Turns the identity provider's access tokens for our audience into principals."""

    def __init__(self, provider: OpenIdProvider, audience: str, role_claim: str, department_claim: str,
                 role_map: str = "") -> None:
        self.provider, self.audience = provider, audience
        self.role_claim, self.department_claim = role_claim, department_claim
        self.role_map = parse_role_map(role_map)

    async def resolve(self, token: str) -> Principal | None:
        """The token's principal; None for a token that is not valid (or carries no role of ours)."""
        try:
            claims = await self.provider.verify(token, self.audience)
        except TokenRefused:
            return None
        return self.principal(claims)

    def principal(self, claims: dict[str, Any]) -> Principal | None:
        values = claim(claims, self.role_claim)
        values = values if isinstance(values, list) else [values]
        roles = {self.role_map.get(str(v), str(v) if not self.role_map else "") for v in values if v is not None}
        role = next((r for r in ROLE_PRECEDENCE if r in roles), None)
        department = claim(claims, self.department_claim)
        if isinstance(department, list):  # one department, or none we could choose
            department = department[0] if len(department) == 1 else None
        if role is None:
            return None
        try:
            role, department = validate_principal(role, str(department).upper() if department else None)
        except InvalidKeySpec:
            return None
        name = claims.get("name") or claims.get("email") or claims.get("preferred_username")
        return Principal(role, department, f"oidc:{claims['sub']}"[:60],  # type: ignore[arg-type]
                         str(name)[:60] if name else None)


def looks_like_jwt(credential: str) -> bool:
    """A signed JWT: three parts, the first a JSON object in base64url (`{"` is always `eyJ`)."""
    return credential.startswith("eyJ") and credential.count(".") == 2


class FailedAuthentications:
    """Failed authentications per client address, a leaky bucket: each failure adds one, and
    `allowed` of them leak away over `window` seconds. Past `allowed` in the bucket, a failure
    is answered 429 with the seconds until the bucket is below the limit again.

    Only failures are counted and a valid key always passes, so one noisy client (or every
    client behind one proxy address) never locks out a valid key. Memory is bounded: at most
    `capacity` addresses, the least recently failing ones forgotten first."""

    def __init__(self, allowed: int = 20, window: float = 60.0, capacity: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed, self.capacity, self.clock = allowed, capacity, clock
        self.rate = allowed / window  # failures leaking away per second
        self._buckets: dict[str, tuple[float, float]] = {}  # address → (level, when), oldest first

    def failed(self, address: str) -> int | None:
        """Count a failure from `address`; the seconds it must wait (Retry-After) when it is
        over the limit, else None."""
        now = self.clock()
        level = self._level(address, now)
        # Capped, so a client that keeps hammering waits at most about one window.
        level = min(level + 1, 2 * self.allowed)
        self._buckets.pop(address, None)
        self._buckets[address] = (level, now)
        if len(self._buckets) > self.capacity:
            self._forget(now)
        if level <= self.allowed:
            return None
        # Long enough for the bucket to take one more failure without going over.
        return max(1, math.ceil((level - self.allowed + 1) / self.rate))

    def _level(self, address: str, now: float) -> float:
        level, when = self._buckets.get(address, (0.0, now))
        return max(0.0, level - (now - when) * self.rate)

    def _forget(self, now: float) -> None:
        for address in [a for a in self._buckets if self._level(a, now) == 0.0]:
            del self._buckets[address]
        while len(self._buckets) > self.capacity:  # all still full: the oldest go
            del self._buckets[next(iter(self._buckets))]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def client_address(request: Request) -> str:
    """The peer as the ASGI server gives it. Behind a reverse proxy that is the proxy, unless
    the server is told to trust its X-Forwarded-For (uvicorn: FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


# How a key is sent, as the OpenAPI document declares it (Swagger's "Authorize", generated clients): every
# operation that depends on `current_principal` lists it. It only reads the header; the checks are below.
BEARER = HTTPBearer(
    auto_error=False, scheme_name="apiKey", bearerFormat=f"API key ({KEY_PREFIX}…)",
    description=f"An API key `{KEY_PREFIX}…` as `oia keys create` or `make run` gives it: "
                f"`Authorization: Bearer {KEY_PREFIX}…`. A key acts for a role (and a department).")


async def current_principal(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Principal:
    runtime = request.app.state.runtime
    keyring: KeyRing = runtime.keyring
    tokens: AccessTokens | None = runtime.access_tokens
    key = bearer.credentials.strip() if bearer else ""
    presented = bool(key)
    principal = None
    if tokens is not None and looks_like_jwt(key):
        try:
            principal = await tokens.resolve(key)
        except ProviderUnreachable as exc:
            raise HTTPException(status_code=503, detail="the identity provider cannot be reached to check "
                                                        "the token; retry in a moment") from exc
    elif presented:
        principal = await keyring.resolve(key)
    if principal is not None:
        acting(principal.who)  # this request's changes are recorded as its caller's (shared/audit.py)
        return principal
    wait = keyring.failures.failed(client_address(request))
    if wait is not None:
        raise HTTPException(status_code=429, headers={"Retry-After": str(wait)},
                            detail=f"too many failed authentications from this address; retry in {wait} s")
    if not presented:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <api key>'")
    raise _unauthorized("unknown or revoked API key, or an access token that is not valid here")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
