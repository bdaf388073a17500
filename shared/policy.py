"""Who may do what: each service states its authorization policy as one table, and every route,
list query and handler asks it instead of deciding on its own.

A row of the table is an action (`trip.change`, `trip.read_restricted`) and, per role, how far it
reaches: `ANY` record, only the caller's `OWN` department's records, or `NONE`. Admins are written
into each table like any role, so the table is the whole truth. The authorization tests are
generated from the same table (tests/support/policy_cases.py): a row without a test fails them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from shared.auth import ROLES, Principal
from shared.problems import Problem


class Reach(StrEnum):
    ANY = "any"    # every record
    OWN = "own"    # the records of the caller's own department
    NONE = "none"  # none


ANY, OWN, NONE = Reach.ANY, Reach.OWN, Reach.NONE


@dataclass(frozen=True)
class Rule:
    """One action: what it means in words (for error messages and docs) and each role's reach."""

    says: str
    reach: Mapping[str, Reach]

    def __post_init__(self) -> None:
        missing = set(ROLES) - set(self.reach)
        if missing:
            raise ValueError(f"rule {self.says!r} does not say what {', '.join(sorted(missing))} may do")


def rule(says: str, *, admin: Reach, coordinator: Reach, department: Reach, reader: Reach) -> Rule:
    return Rule(says, {"admin": admin, "coordinator": coordinator, "department": department, "reader": reader})


class Policy:
    def __init__(self, service: str, rules: Mapping[str, Rule]) -> None:
        self.service = service
        self.rules = dict(rules)

    def reach(self, principal: Principal, action: str) -> Reach:
        return self.rules[action].reach[principal.role]

    def allows(self, principal: Principal, action: str, owner: str | None = None) -> bool:
        """May `principal` do `action` on a record of department `owner` (None: a record nobody owns)?"""
        reach = self.reach(principal, action)
        return reach is ANY or (reach is OWN and owner is not None and owner == principal.department)

    def require(self, principal: Principal, action: str, owner: str | None = None) -> None:
        """403 unless allowed; for use where the caller may know the record exists."""
        if not self.allows(principal, action, owner):
            raise Problem(403, self.refusal(principal, action, owner))

    def refusal(self, principal: Principal, action: str, owner: str | None = None) -> str:
        rule_ = self.rules[action]
        who = key_of(principal.department if principal.role == "department" and principal.department
                     else principal.role)
        if self.reach(principal, action) is OWN:
            whose = f"{owner}'s records" if owner else "records of no department"
            return f"{who} may not {rule_.says} for {whose}; only for {principal.department}'s own"
        return f"{who} may not {rule_.says}"

    def own_only(self, principal: Principal, action: str) -> str | None:
        """For list queries: None when the caller reaches every record; else the one department whose
        records it reaches ('' when it reaches none, which matches no department code)."""
        reach = self.reach(principal, action)
        if reach is ANY:
            return None
        return (principal.department or "") if reach is OWN else ""


def key_of(holder: str) -> str:
    """"an ECON key", "a MAYOR key", "an admin key": the article by the first letter, as the codes
    and roles are read out."""
    return f"{'an' if holder[:1].upper() in 'AEIOU' else 'a'} {holder} key"
