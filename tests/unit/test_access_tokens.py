"""The identity provider's access tokens as the services check them: only a token the provider
signed, for our audience, unexpired, counts; its claims give the role and department."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.auth import AccessTokens, Principal, looks_like_jwt, parse_role_map
from shared.identity import OpenIdProvider, ProviderUnreachable
from shared.redaction import redact

ISSUER, AUDIENCE = "https://login.city.example/realms/city", "urn:oia:services"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def published(key: rsa.RSAPrivateKey, kid: str) -> dict:
    return {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig"}


class FakeProvider:
    """The provider's metadata and keys, counting how often they are read."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.reads += 1
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/certs"})
        return httpx.Response(200, json={"keys": [published(KEY, "k1")]})


def token(key=KEY, kid="k1", algorithm="RS256", **changes) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-123", "iat": now, "exp": now + 300,
              "name": "Erika Econ", "roles": ["Board.Department"], "department": "econ"}
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm,
                      headers={"kid": kid})


@pytest.fixture
def provider():
    return FakeProvider()


@pytest.fixture
def tokens(provider):
    return AccessTokens(OpenIdProvider(ISSUER, transport=httpx.MockTransport(provider)), AUDIENCE, "roles",
                        "department", "Board.Department=department,Board.Coordinator=coordinator")


async def test_a_token_the_provider_signed_for_us_names_the_person_with_its_role_and_department(tokens, provider):
    principal = await tokens.resolve(token())
    assert principal == Principal("department", "ECON", "oidc:u-123", "Erika Econ")
    assert principal.who == "department ECON (Erika Econ)"
    await tokens.resolve(token(sub="u-456"))
    assert provider.reads == 2  # metadata and keys once, then cached


@pytest.mark.parametrize("bad", [
    {"iss": "https://evil.example"}, {"aud": "urn:someone-else"}, {"exp": int(time.time()) - 120},
    {"exp": None}, {"roles": ["Board.Visitor"]}, {"roles": ["Board.Department"], "department": None},
])
async def test_a_wrong_issuer_audience_an_expired_token_or_no_role_of_ours_is_refused(tokens, bad):
    assert await tokens.resolve(token(**bad)) is None


async def test_a_signature_by_another_key_or_an_unknown_key_is_refused(tokens, provider):
    assert await tokens.resolve(token(key=OTHER_KEY)) is None
    assert await tokens.resolve(token(key=OTHER_KEY, kid="k9")) is None
    reads = provider.reads
    assert await tokens.resolve(token(key=OTHER_KEY, kid="k8")) is None
    assert provider.reads == reads  # unknown key ids do not make us fetch the keys again and again


async def test_alg_none_and_hmac_with_the_public_key_as_secret_are_refused(tokens):
    body = token().split(".")[1]
    assert await tokens.resolve(f"{b64({'alg': 'none', 'kid': 'k1'})}.{body}.") is None
    # HS256 "signed" with the published key as the shared secret: anyone could make it.
    public_pem = KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signed = f"{b64({'alg': 'HS256', 'kid': 'k1'})}.{body}"
    mac = hmac.new(public_pem, signed.encode(), hashlib.sha256).digest()
    assert await tokens.resolve(f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}") is None


def b64(header: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()


def test_claims_give_the_widest_role_mapped_values_and_nested_claims():
    keycloak = AccessTokens(OpenIdProvider(ISSUER), AUDIENCE, "realm_access.roles", "dept")
    claims = {"sub": "s", "preferred_username": "carla", "realm_access": {"roles": ["reader", "coordinator"]},
              "dept": "OIA"}
    assert keycloak.principal(claims) == Principal("coordinator", "OIA", "oidc:s", "carla")
    mapped = AccessTokens(OpenIdProvider(ISSUER), AUDIENCE, "groups", "department", "OIA-Admins=admin")
    assert mapped.principal({"sub": "s", "groups": "OIA-Admins"}) == Principal("admin", None, "oidc:s", None)
    assert mapped.principal({"sub": "s", "groups": ["admin"]}) is None  # with a map, only mapped values count
    with pytest.raises(ValueError):
        parse_role_map("OIA-Admins=superuser")


def test_tokens_are_told_from_keys_and_cut_out_of_logs():
    assert looks_like_jwt(token()) and not looks_like_jwt("oia_abc.def.ghi") and not looks_like_jwt("my.env.key")
    assert "eyJ" + token()[3:12] not in redact(f"token={token()} refused")


async def test_a_provider_that_cannot_be_reached_is_said_so_not_taken_for_a_bad_token():
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    tokens = AccessTokens(OpenIdProvider(ISSUER, transport=httpx.MockTransport(down)), AUDIENCE, "roles", "department")
    with pytest.raises(ProviderUnreachable):
        await tokens.resolve(token())
