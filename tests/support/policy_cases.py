"""Authorization tests generated from a service's policy table.

Each service's test module maps every action of its `POLICY` to a probe: a coroutine that sets up a
record owned by the `mine` or the `theirs` department, tries the action with the given key, checks the
effect (a refused write changed nothing; a refused read showed nothing), and returns whether the action
was allowed. `cases(POLICY)` yields one case per action × role × ownership with the answer the table
gives, so the table and the tests cannot drift apart; `check_probes` fails when an action has no probe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import pytest

from shared.auth import ROLES
from shared.policy import ANY, OWN, Policy

MINE, THEIRS = "ECON", "CULT"  # the probing key's department, and another one
# One key per role, each of department MINE (so OWN can be told from ANY for every role); the unit
# tests' host provisions them.
KEYS = {role: f"policy-{role}-key" for role in ROLES}
POLICY_KEYS = [f"{key}:{role}:{MINE}" for role, key in KEYS.items()]

Probe = Callable[..., Awaitable[bool]]


def cases(policy: Policy) -> list:
    return [pytest.param(action, role, whose, _allowed(rule.reach[role], whose), id=f"{action}-{role}-{whose}")
            for action, rule in policy.rules.items() for role in ROLES for whose in ("mine", "theirs")]


def _allowed(reach, whose: str) -> bool:
    return reach is ANY or (reach is OWN and whose == "mine")


def check_probes(policy: Policy, probes: Mapping[str, Probe]) -> None:
    assert set(probes) == set(policy.rules), (
        f"actions without a probe: {sorted(set(policy.rules) - set(probes))}; "
        f"probes for no action: {sorted(set(probes) - set(policy.rules))}")


def owner(whose: str) -> str:
    return MINE if whose == "mine" else THEIRS


# Probes' helpers.

def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def one_answer(**seen: bool) -> bool:
    """Every view of one thing agrees: all show it (allowed) or none does."""
    assert len(set(seen.values())) == 1, f"the views disagree: {seen}"
    return next(iter(seen.values()))


def went_through(response, refusal: int = 403) -> bool:
    """True when the request succeeded, False when it was refused with `refusal` (anything else fails)."""
    if response.status_code == refusal:
        return False
    assert response.status_code < 300, response.text
    return True


async def refusal(client, key: str, path: str, record_id: str | None = None) -> int:
    """How a change of a record must be refused: 403 when the caller may see it, 404 when it may not.
    `path` reads the record (or, with `record_id`, lists the records it must be among)."""
    seen = await client.get(path, headers=bearer(key))
    assert seen.status_code in (200, 404), seen.text
    visible = seen.status_code == 200 and (record_id is None or record_id in {r["id"] for r in seen.json()})
    return 403 if visible else 404


async def suggests_places(client, service: str, key: str) -> bool:
    """The `place.read` probe, alike in every service that resolves places: whether the key gets the
    gazetteer's suggestions for a misspelt city."""
    response = await client.get(f"/{service}/places", params={"q": "Kolnn", "country": "DE"}, headers=bearer(key))
    if not went_through(response):
        return False
    assert response.json()[0]["name"] == "Köln"
    return True
