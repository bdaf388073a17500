"""Signing in to the board at a real OpenID provider (npm's oidc-provider): the code flow with PKCE,
into the same session as a key, the services answering with the person's own rights read from the
provider's access token; state checked; sign-out at the board and at the provider."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from board.session import COOKIE
from tests.component.test_board import ECON, MAYOR, book, csrf_of, next_month
from tests.support.openid_provider import openid_provider, through_the_provider

BOARD = "http://oia"


@pytest.fixture
def op(monkeypatch):
    with openid_provider(BOARD) as running:
        for name, value in {**running.service_env(), **running.board_env()}.items():
            monkeypatch.setenv(name, value)
        yield running


@pytest.fixture
async def host(op, host):  # the embedded host, told about the provider before it starts
    return host


async def sign_in_at_provider(client, op, login: str | None):
    start = await client.get("/board/oidc/sign-in")
    assert start.status_code == 303 and start.headers["location"].startswith(f"{op.issuer}/auth?")
    asked = parse_qs(urlsplit(start.headers["location"]).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["state"] and asked["nonce"]
    back = await through_the_provider(start.headers["location"], op.issuer, login)
    assert back.startswith(f"{BOARD}/board/oidc/callback?")
    return back, await client.get(back)


async def test_a_department_officer_signs_in_at_the_provider_and_the_services_know_her_rights(client, host, op):
    start = next_month()
    await book(client, host, ECON, "Trade fair", "Köln", start)
    secret = await book(client, host, MAYOR, "Confidential talks", "Leipzig", start, visibility="restricted")

    page = await client.get("/board/sign-in")
    assert 'href="/board/oidc/sign-in"' in page.text and "Sign in with City Login" in page.text
    _, landed = await sign_in_at_provider(client, op, "erika.econ")
    assert landed.status_code == 303 and landed.headers["location"] == "/board/today", landed.text
    cookie = landed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "eyJ" not in cookie

    today = await client.get("/board/today", params={"month": start.strftime("%Y-%m")})
    assert today.status_code == 200 and "Signed in as department ECON" in today.text
    assert "Trade fair" in today.text and "Confidential talks" not in today.text
    assert "eyJ" not in today.text  # the token is never rendered

    # The session's bearer is the provider's access token; the services read the person from it.
    token = host.board.state.board.sessions.find(client.cookies[COOKIE]).key
    bearer = {"Authorization": f"Bearer {token}"}
    me = (await client.get("/partners/me", headers=bearer)).json()
    assert me == {"role": "department", "department": "ECON", "key_id": "oidc:erika.econ", "label": "Erika Econ"}
    assert (await client.get(f"/travel/trips/{secret['id']}", headers=bearer)).status_code == 404
    mine = await client.post("/travel/trips", headers=bearer, json={"title": "Booked as Erika", "legs": [
        {"city": "Köln", "country": "DE", "start_date": start.isoformat(), "end_date": start.isoformat()}]})
    assert mine.status_code == 201 and mine.json()["department"] == "ECON"

    signed_out = await client.post("/board/sign-out", data={"csrf": csrf_of(today.text)})
    assert signed_out.headers["location"] == "/board/oidc/signed-out"
    offer = await client.get("/board/oidc/signed-out")
    assert f'href="{op.issuer}/session/end?client_id=board' in offer.text
    german = await client.post("/board/language", data={"language": "de", "csrf": csrf_of(offer.text)})
    assert german.status_code == 303
    assert (await client.get("/board/today")).headers["location"] == "/board/sign-in"


async def test_a_coordinator_signs_in_with_the_coordinators_rights(client, host, op):
    _, landed = await sign_in_at_provider(client, op, "carla.coordinator")
    assert landed.headers["location"] == "/board/today"
    assert "Signed in as coordinator OIA" in (await client.get("/board/today")).text


async def test_a_callback_not_started_by_this_browser_or_replayed_signs_nobody_in(client, host, op):
    back, landed = await sign_in_at_provider(client, op, "erika.econ")
    assert landed.status_code == 303
    client.cookies.clear()
    replayed = await client.get(back)  # the same code and state again, from a browser that never started it
    assert replayed.status_code == 401 and f"{COOKIE}=" not in replayed.headers.get("set-cookie", "")

    start = await client.get("/board/oidc/sign-in")
    back = await through_the_provider(start.headers["location"], op.issuer, "erika.econ")
    forged = back.replace("state=", "state=x")
    assert (await client.get(forged)).status_code == 401
    assert (await client.get("/board/today")).headers["location"] == "/board/sign-in"
    # A refused answer ends the sign-in under way in this browser: the genuine one comes too late.
    assert (await client.get(back)).status_code == 401


async def test_someone_without_a_role_of_ours_or_who_cancels_is_not_signed_in(client, host, op):
    _, landed = await sign_in_at_provider(client, op, "vera.visitor")
    assert landed.status_code == 403 and "gives you no role on the board" in landed.text
    assert "oia_board=" not in landed.headers.get("set-cookie", "")

    back, cancelled = await sign_in_at_provider(client, op, None)
    assert "error=access_denied" in back
    assert cancelled.status_code == 401 and "did not succeed" in cancelled.text
    assert (await client.get("/board/today")).headers["location"] == "/board/sign-in"


async def test_the_access_token_is_renewed_before_it_expires_and_the_session_ends_when_it_cannot_be(client, host, op):
    await sign_in_at_provider(client, op, "erika.econ")
    session = host.board.state.board.sessions.find(client.cookies[COOKIE])
    first = session.key
    session.expires_at = time.time() + 10  # about to expire

    assert (await client.get("/board/today")).status_code == 200
    assert session.key != first and session.expires_at > time.time() + 300
    me = await client.get("/travel/me", headers={"Authorization": f"Bearer {session.key}"})
    assert me.json()["key_id"] == "oidc:erika.econ"

    session.refresh_token, session.expires_at = "not-a-refresh-token", time.time() - 1
    assert (await client.get("/board/today")).headers["location"] == "/board/sign-in"
    assert host.board.state.board.sessions.find(client.cookies[COOKIE]) is None
