"""api keys named by an id, not by their first characters

Revision ID: 4e0af9b32a73
Revises: 5c2e9a41d7b3
Create Date: 2026-11-30 21:00:00.000000
"""
import json
import re
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from shared import platform_migrations

# Frozen here as they were when this ran: the label of environment keys, a department code.
ENV_LABEL = "OIA_API_KEYS"
DEPARTMENT = re.compile(r"^[A-Z][A-Z0-9_]{1,19}$")
STAGE_CHANGED = "grants.application.stage_changed.v1"


revision: str = '4e0af9b32a73'
down_revision: Union[str, None] = '5c2e9a41d7b3'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Stage changes heard from grants named the key by its first characters.
    _rewrite_stage_changes()
    platform_migrations.upgrade_v2()


def downgrade() -> None:
    platform_migrations.downgrade_v2()


def _rewrite_stage_changes() -> None:
    """A notice's `changed_by` of `admin oia_AbCdEfGh` becomes `admin (<the key's label, or its id>)`,
    as grants now says it (its own upgrade rewrites its history alike), and so does the feed's text."""
    bind = op.get_bind()
    names = {prefix: label or "key_" + key_hash[:12]
             for prefix, key_hash, label in bind.execute(sa.text("SELECT prefix, key_hash, label FROM api_key"))}
    notices = bind.execute(sa.text("SELECT event_id, data FROM notice WHERE event_type = :t"), {"t": STAGE_CHANGED})
    for event_id, data in notices.all():
        data = json.loads(data) if isinstance(data, str) else data
        old = data.get("changed_by") or ""
        role, _, rest = old.partition(" ")
        if not rest or DEPARTMENT.match(rest):
            continue  # `department ECON` names no key
        data["changed_by"] = f"{role} ({names.get(rest, ENV_LABEL)})"[:60]
        bind.execute(sa.text("UPDATE notice SET data = :data WHERE event_id = :id").bindparams(
            sa.bindparam("data", type_=sa.JSON)), {"data": data, "id": event_id})
        bind.execute(sa.text("UPDATE feeditem SET body = replace(body, :old, :new) WHERE event_id = :id"),
                     {"old": old, "new": data["changed_by"], "id": event_id})
