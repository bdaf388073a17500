"""Grants' rules, pure: programmes, deadlines in Brussels time, a call's status, the pipeline's
stage machine, consortium eligibility, when a deadline reminder is due and the year's report."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, Protocol, get_args
from zoneinfo import ZoneInfo

from shared.places import EU_MEMBER_STATES

BRUSSELS = ZoneInfo("Europe/Brussels")
# EU calls close at 17:00 Brussels time unless they say otherwise.
DEADLINE_TIME = time(17, 0)

Programme = Literal[
    "horizon_europe", "interreg",
    "cerv",  # Citizens, Equality, Rights and Values
    "life", "erasmus_plus", "urbact",
    "eui",  # European Urban Initiative
    "digital_europe", "national", "regional",
]
PROGRAMMES: tuple[Programme, ...] = get_args(Programme)
# The portal's call identifiers start with the programme's abbreviation.
IDENTIFIER_PREFIXES: dict[str, Programme] = {
    "HORIZON": "horizon_europe", "CERV": "cerv", "LIFE": "life", "ERASMUS": "erasmus_plus", "EAC": "erasmus_plus",
    "DIGITAL": "digital_europe", "INTERREG": "interreg", "URBACT": "urbact", "EUI": "eui",
}

Stage = Literal["idea", "preparing", "partner_search", "drafting", "internal_review", "submitted", "invited",
                "awarded", "rejected", "withdrawn", "implementing", "reporting", "closed"]
STAGES: tuple[Stage, ...] = get_args(Stage)
# Where an application may go from each stage. Preparation may step back (a review sends a draft
# back; a partner drops out) and may be abandoned; after submission the EU decides. In a two-stage
# call the first decision may be an invitation to the second stage: the full proposal is drafted,
# reviewed and submitted again, for the second deadline.
TRANSITIONS: dict[Stage, tuple[Stage, ...]] = {
    "idea": ("preparing", "withdrawn"),
    "preparing": ("partner_search", "drafting", "withdrawn"),
    "partner_search": ("drafting", "preparing", "withdrawn"),
    "drafting": ("internal_review", "partner_search", "withdrawn"),
    "internal_review": ("submitted", "drafting", "withdrawn"),
    "submitted": ("awarded", "rejected", "withdrawn", "invited"),
    "invited": ("drafting", "withdrawn"),
    "awarded": ("implementing",),
    "implementing": ("reporting",),
    "reporting": ("closed",),
    "rejected": (),
    "withdrawn": (),
    "closed": (),
}
# Applications still being prepared: their deadlines get reminders.
PREPARING: tuple[Stage, ...] = ("idea", "preparing", "partner_search", "drafting", "internal_review", "invited")
DECIDED: tuple[Stage, ...] = ("awarded", "implementing", "reporting", "closed")  # won: counts towards funds won
# A consortium member's role; associated partners take part but are not applicants.
Role = Literal["coordinator", "partner", "associated"]
ROLES: tuple[Role, ...] = get_args(Role)
CityRole = Literal["coordinator", "partner"]  # ours: the city applies, so it is never only associated
CallStatus = Literal["forthcoming", "open", "closed"]
VersionedField = Literal["deadlines", "status", "budget"]  # a change of one is a new version of the call
CallSource = Literal["manual", "portal"]  # recorded by hand, or imported from the portal
ReminderKind = Literal["call", "internal"]  # the call's stage deadline, or the application's own before it
Language = Literal["en", "de"]  # the city profile's
LANGUAGES: tuple[Language, ...] = get_args(Language)
# Reminders this many days before each deadline; the last one before the call's deadline is critical.
REMINDER_LEADS = (30, 14, 7, 3, 1)
DEFAULT_INTERNAL_BUFFER_DAYS = 5


class StageMoveRefused(ValueError):
    pass


class MissingReason(ValueError):
    pass


def deadline_at(day: date) -> datetime:
    """A deadline given as a date: 17:00 in Brussels that day (CET or CEST as the date has it)."""
    return datetime.combine(day, DEADLINE_TIME, tzinfo=BRUSSELS)


def days_before(moment: datetime, days: int) -> datetime:
    """`days` calendar days before `moment`, at the same Brussels wall-clock time: a reminder
    7 days before a 17:00 deadline is at 17:00, across a change of summer time too."""
    local = moment.astimezone(BRUSSELS)
    return datetime.combine(local.date() - timedelta(days=days), local.time(), tzinfo=BRUSSELS)


def days_until(moment: datetime, now: datetime) -> int:
    """Calendar days from `now` to `moment`, in Brussels: what a reminder says ("in 2 days"),
    also when it goes out later than planned."""
    return (moment.astimezone(BRUSSELS).date() - now.astimezone(BRUSSELS).date()).days


def call_status(opens_at: datetime | None, deadlines: list[datetime], now: datetime) -> CallStatus:
    """forthcoming until it opens, open until its last deadline, then closed (the portal's own
    status field lags, so the dates decide)."""
    if opens_at is not None and now < opens_at:
        return "forthcoming"
    if deadlines and now >= max(deadlines):
        return "closed"
    return "open"


def next_deadline(deadlines: list[tuple[int, datetime]], now: datetime) -> tuple[int, datetime] | None:
    """The first (stage, deadline) still ahead."""
    ahead = sorted((d for d in deadlines if d[1] > now), key=lambda d: d[1])
    return ahead[0] if ahead else None


def stage_deadline(deadlines: list[tuple[int, datetime]], call_stage: int) -> tuple[int, datetime] | None:
    """The (stage, deadline) an application prepared for `call_stage` works towards."""
    return next((d for d in deadlines if d[0] == call_stage), None)


def moves(current: Stage, invitable: bool) -> tuple[Stage, ...]:
    """Where an application may go now; `invitable`: it was submitted to the first stage of a
    two-stage call, so it may be invited to the second."""
    return tuple(s for s in TRANSITIONS.get(current, ()) if s != "invited" or invitable)


def check_move(current: Stage, target: Stage, reason: str | None, *, invitable: bool = False) -> None:
    allowed = moves(current, invitable)
    if target not in allowed:
        if target == "invited" and target in TRANSITIONS.get(current, ()):
            raise StageMoveRefused("only an application submitted to the first stage of a two-stage call "
                                   "can be invited to the second")
        raise StageMoveRefused(f"an application in {current} cannot move to {target} "
                               f"(allowed: {', '.join(allowed) or 'none: it is final'})")
    if target == "rejected" and not (reason and reason.strip()):
        raise MissingReason("say why the application was rejected")


# -- eligibility ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    """A call's consortium rules, and where they come from."""

    min_applicants: int = 1
    min_countries: int = 1
    min_eu_members: int = 0
    source: str = "the call"


# The rules the issue and the CERV work programme give for the two citizens' strands.
TOWN_TWINNING = Rules(1, 2, 1, "CERV town twinning: municipalities from at least 2 eligible countries, "
                               "at least 1 of them an EU member state")
NETWORKS_OF_TOWNS = Rules(4, 4, 2, "CERV networks of towns: at least 4 applicants from at least 4 eligible "
                                   "countries, at least 2 of them EU member states")


def known_rules(identifier: str) -> Rules | None:
    """Rules a call's identifier implies (…-TOWN-TT twinning, …-TOWN-NT networks), when known."""
    parts = identifier.upper().split("-")
    if parts[0] == "CERV" and "TOWN" in parts:
        if parts[-1] == "TT":
            return TOWN_TWINNING
        if parts[-1] == "NT":
            return NETWORKS_OF_TOWNS
    return None


@dataclass(frozen=True)
class Member:
    name: str
    country: str
    role: Role


@dataclass(frozen=True)
class Check:
    rule: str  # applicants, countries, eu_member_states
    required: int
    actual: int
    passed: bool
    source: str
    counted: list[str]


def eligibility(members: list[Member], rules: Rules) -> list[Check]:
    """The consortium (our city included) against the call's rules. Associated partners take part
    but are not applicants, so they count towards none of the minimums."""
    applicants = [m for m in members if m.role != "associated"]
    countries = sorted({m.country for m in applicants})
    eu = [c for c in countries if c in EU_MEMBER_STATES]
    return [
        Check("applicants", rules.min_applicants, len(applicants), len(applicants) >= rules.min_applicants,
              rules.source, [m.name for m in applicants]),
        Check("countries", rules.min_countries, len(countries), len(countries) >= rules.min_countries,
              rules.source, countries),
        Check("eu_member_states", rules.min_eu_members, len(eu), len(eu) >= rules.min_eu_members, rules.source, eu),
    ]


# -- reminders ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reminder:
    kind: ReminderKind
    stage: int
    deadline: datetime
    lead: int  # days before the deadline
    critical: bool

    @property
    def key(self) -> str:
        """What makes it one reminder: a moved deadline is a new key, so reminders are re-planned."""
        return f"{self.kind}/{self.stage}/{self.deadline.astimezone(BRUSSELS).isoformat()}/{self.lead}d"


def due_reminders(deadline: tuple[int, datetime], buffer_days: int, now: datetime) -> list[Reminder]:
    """The reminders due at `now` for the next stage deadline and the internal deadline before it:
    for each, the nearest lead already reached (a lead missed while nobody ran the jobs is not said
    late, once a nearer one is due)."""
    stage, at = deadline
    found = []
    targets: list[tuple[ReminderKind, datetime]] = [("call", at)]
    if buffer_days > 0:
        targets.append(("internal", days_before(at, buffer_days)))
    for kind, moment in targets:
        if now >= moment:
            continue
        reached = [lead for lead in REMINDER_LEADS if days_before(moment, lead) <= now]
        if reached:
            lead = min(reached)
            found.append(Reminder(kind, stage, moment, lead, critical=kind == "call" and lead == REMINDER_LEADS[-1]))
    return found


# -- the year's report ----------------------------------------------------------------------------

class Counted(Protocol):
    """An application as the year's report counts it."""

    stage: Stage
    lead_department: str
    requested_amount: float
    awarded_amount: float | None


@dataclass(frozen=True)
class YearReport:
    year: int
    applications: int
    by_stage: dict[str, int]
    by_programme: dict[str, int]
    requested: float
    awarded: float
    decided: int  # won or rejected
    won: int
    win_rate: float | None  # won / decided; none before any decision
    won_by_department: dict[str, float]


def year_report(year: int, applications: Sequence[tuple[Counted, str]]) -> YearReport:
    """The pipeline of a year's applications, each with its call's programme."""
    won = [a for a, _ in applications if a.stage in DECIDED]
    decided = len(won) + sum(1 for a, _ in applications if a.stage == "rejected")
    by_department: dict[str, float] = defaultdict(float)
    for a in won:
        by_department[a.lead_department] += a.awarded_amount or 0.0
    return YearReport(year=year, applications=len(applications),
                      by_stage=dict(Counter(a.stage for a, _ in applications)),
                      by_programme=dict(Counter(p for _, p in applications)),
                      requested=sum(a.requested_amount for a, _ in applications),
                      awarded=sum(a.awarded_amount or 0.0 for a in won), decided=decided, won=len(won),
                      win_rate=round(len(won) / decided, 4) if decided else None,
                      won_by_department=dict(sorted(by_department.items())))
