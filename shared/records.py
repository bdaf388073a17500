"""Records of processing: for every table of every service, the personal data it holds, why, for how
long and who can see it. Each service declares its tables (`ServiceSpec.holdings`, from its
privacy.py); the platform's tables are declared here. `docs/privacy.md` is generated from these
declarations, the models' columns and the settings' defaults (`oia privacy-doc`), and a test keeps
all three in step: a table or column added without its record fails it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData


@dataclass(frozen=True)
class Holding:
    """One table: its columns that hold personal data (none: the table holds none), why it holds
    them, how long (a retention setting, or words), and who can see them."""

    table: str
    personal: tuple[str, ...]
    why: str
    kept: str
    who: str
    retention_setting: str | None = None  # the setting whose default (days) `kept` is measured in


PLATFORM = (
    Holding("outbox", ("payload",), "events on their way to the other services; an event can quote a person "
            "(a trip's travellers, an application's owner)", "7 days after publishing (the relay prunes it)",
            "nobody through the API; operators with database access"),
    Holding("inbox", (), "ids of the events already handled, so a redelivered one is not handled twice",
            "INBOX_RETENTION_DAYS", "nobody through the API", "inbox_retention_days"),
    Holding("api_key", ("label",), "who may call the service; a key's label may name its holder",
            "until revoked", "admins (`oia keys list`)"),
    Holding("audit", ("actor",), "who changed what, when; the actor may be a signed-in person; personal fields "
            "of the changed records are masked", "AUDIT_RETENTION_DAYS", "admins and coordinators",
            "audit_retention_days"),
    Holding("subject_request", ("email", "names", "result"), "an admin's request for a person's data across the "
            "services, or their erasure: the email and names while it runs, an export's result once done; an "
            "erasure keeps only the email masked and what each service erased",
            "SUBJECT_REQUEST_RETENTION_DAYS after it completes; an erasure of the person deletes their exports",
            "admins", "subject_request_retention_days"),
    Holding("subject_answer", ("answer",), "each service's answer to a request, until the request completes",
            "until the request completes", "nobody through the API"),
)


def check(service: str, metadata: MetaData, platform: MetaData, holdings: Sequence[Holding]) -> list[str]:
    """What the declarations miss or get wrong against the models: each a sentence."""
    problems = []
    tables = {**metadata.tables, **platform.tables}
    declared = {h.table: h for h in (*holdings, *PLATFORM)}
    for name in sorted(set(tables) - set(declared)):
        problems.append(f"{service}: table {name} has no record of processing")
    for name, holding in sorted(declared.items()):
        if name not in tables:
            problems.append(f"{service}: a record names table {name}, which it has not")
            continue
        for column in holding.personal:
            if column not in tables[name].columns:
                problems.append(f"{service}: {name}.{column} is no column")
    return problems


def document(services: Iterable[tuple[str, Sequence[Holding], Any]]) -> str:
    """docs/privacy.md from (service, holdings, settings) of each service."""
    lines = [
        "# Records of processing",
        "",
        "What personal data each service holds, why, for how long, and who can see it. Generated from the",
        "services' declarations (`services/<svc>/privacy.py`, `shared/records.py`), their models and the",
        "settings' defaults by `oia privacy-doc`; `tests/component/test_records.py` fails when it is out of date.",
        "Retention is described in the README (\"How long it is kept\"); a person's data is exported and erased",
        "across the services with one `POST /<svc>/admin/subjects/requests` (README, \"A person's data\").",
        "",
    ]
    for service, holdings, settings in services:
        lines += [f"## {service}", "", "| table | personal data | why | kept | who can see it |",
                  "|---|---|---|---|---|"]
        for h in (*holdings, *PLATFORM):
            kept = h.kept
            if h.retention_setting is not None:
                kept = f"{h.kept} (default: {getattr(settings, h.retention_setting)} days)"
            personal = ", ".join(f"`{c}`" for c in h.personal) or "none"
            lines.append(f"| `{h.table}` | {personal} | {h.why} | {kept} | {h.who} |")
        lines.append("")
    return "\n".join(lines)
