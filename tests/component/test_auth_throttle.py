"""Failed authentication from one client address is slowed down (429 with Retry-After), without
locking valid keys out and without touching other addresses."""

from __future__ import annotations

import httpx
import pytest

from shared.auth import FailedAuthentications
from shared.problems import PROBLEM_JSON
from tests.support.embedded import auth

COORDINATOR = ("coordinator", "OIA")
ALLOWED, WINDOW = 5, 10.0
KRAKOW = {"partner_city": "Krakau", "partner_country": "PL", "formalised_on": "1991-05-20", "themes": ["culture"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(host) -> Clock:
    clock = Clock()
    host.runtimes["partners"].keyring.failures = FailedAuthentications(ALLOWED, WINDOW, clock=clock)
    return clock


def client_from(host, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=host, client=(address, 40000)),
                             base_url="http://oia")


async def bad_keys(client, n: int) -> list[httpx.Response]:
    return [await client.get("/partners/partnerships", headers={"Authorization": f"Bearer oia_wrong{i}"})
            for i in range(n)]


async def test_a_burst_of_bad_keys_is_answered_429_with_retry_after_past_the_limit(host, clock):
    async with client_from(host, "203.0.113.7") as client:
        answers = await bad_keys(client, ALLOWED + 3)
        missing = await client.get("/partners/partnerships")  # no key at all is a failure too
    assert [r.status_code for r in answers] == [401] * ALLOWED + [429] * 3
    assert missing.status_code == 429
    for refused in [*answers[ALLOWED:], missing]:
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert refused.json()["status"] == 429 and "failed authentications" in refused.json()["detail"]
    # A failure leaks away every WINDOW / ALLOWED = 2 s; the wait is until one more fits under the
    # limit, and each further failure makes it longer.
    assert [int(r.headers["retry-after"]) for r in [*answers[ALLOWED:], missing]] == [4, 6, 8, 10]


async def test_a_valid_key_from_the_same_address_still_works_during_the_burst(host, clock):
    async with client_from(host, "203.0.113.7") as client:
        await bad_keys(client, ALLOWED + 5)
        created = await client.post("/partners/partnerships", json=KRAKOW, headers=auth(host, *COORDINATOR))
        listed = await client.get("/partners/partnerships", headers=auth(host, *COORDINATOR))
        still_refused = await bad_keys(client, 1)
    assert created.status_code == 201, created.text
    assert [p["id"] for p in listed.json()] == [created.json()["id"]]
    assert still_refused[0].status_code == 429  # the valid key did not reset the count


async def test_another_address_is_unaffected(host, clock):
    async with client_from(host, "203.0.113.7") as noisy, client_from(host, "198.51.100.2") as other:
        await bad_keys(noisy, ALLOWED + 2)
        answers = await bad_keys(other, ALLOWED)
        listed = await other.get("/partners/partnerships", headers=auth(host, *COORDINATOR))
    assert [r.status_code for r in answers] == [401] * ALLOWED
    assert all("retry-after" not in r.headers for r in answers)
    assert listed.status_code == 200 and listed.json() == []


async def test_the_address_recovers_once_the_failures_have_leaked_away(host, clock):
    async with client_from(host, "203.0.113.7") as client:
        [*_, refused] = await bad_keys(client, ALLOWED + 1)
        assert refused.status_code == 429
        clock.now += int(refused.headers["retry-after"]) - 0.5
        assert (await bad_keys(client, 1))[0].status_code == 429  # not yet
        clock.now += 2 * WINDOW  # now everything has leaked away
        answers = await bad_keys(client, ALLOWED + 1)
    assert [r.status_code for r in answers] == [401] * ALLOWED + [429]


def test_memory_is_bounded_and_forgets_the_quiet_addresses_first():
    clock = Clock()
    failures = FailedAuthentications(allowed=3, window=30.0, capacity=100, clock=clock)
    for n in range(150):
        failures.failed(f"192.0.2.{n}")
        assert len(failures._buckets) <= 100
    assert "192.0.2.0" not in failures._buckets and "192.0.2.149" in failures._buckets  # oldest first
    clock.now += 30.0  # every bucket has leaked empty: the next address clears them out
    failures.failed("198.51.100.1")
    assert list(failures._buckets) == ["198.51.100.1"]


async def test_guessing_calendar_addresses_is_throttled_and_a_real_one_still_opens(host, clock):
    async with client_from(host, "203.0.113.9") as client:
        made = await client.post("/travel/calendar/tokens", json={}, headers=auth(host, *COORDINATOR))
        assert made.status_code == 201, made.text
        host.runtimes["travel"].keyring.failures = FailedAuthentications(ALLOWED, WINDOW, clock=clock)
        guesses = [await client.get(f"/travel/calendar/guess{i}.ics") for i in range(ALLOWED + 2)]
        real = await client.get(made.json()["url"])
    assert [r.status_code for r in guesses] == [404] * ALLOWED + [429] * 2
    assert all("retry-after" in r.headers for r in guesses[ALLOWED:])
    assert real.status_code == 200 and real.text.startswith("BEGIN:VCALENDAR")
