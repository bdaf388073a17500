"""api keys named by an id, not by their first characters

Revision ID: 1f94abaafbe5
Revises: 404dfd44ab91
Create Date: 2026-11-30 21:00:00.000000
"""
import re
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from shared import platform_migrations

# Frozen here as they were when this ran: the label of environment keys, a department code.
ENV_LABEL = "OIA_API_KEYS"
DEPARTMENT = re.compile(r"^[A-Z][A-Z0-9_]{1,19}$")


revision: str = '1f94abaafbe5'
down_revision: Union[str, None] = '404dfd44ab91'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Calendar tokens and stage changes recorded the first characters of the key that made them.
    _rewrite_created_by("calendartoken")
    _rewrite_changed_by()
    platform_migrations.upgrade_v2()


def downgrade() -> None:
    platform_migrations.downgrade_v2()


def _rewrite_created_by(table: str) -> None:
    ids = platform_migrations.key_ids_for_prefixes()
    bind = op.get_bind()
    for row_id, created_by in bind.execute(sa.text(f"SELECT id, created_by FROM {table}")).all():
        bind.execute(sa.text(f"UPDATE {table} SET created_by = :who WHERE id = :id"),
                     {"who": ids.get(created_by, ENV_LABEL), "id": row_id})


def _rewrite_changed_by() -> None:
    """`admin oia_AbCdEfGh` becomes `admin (<the key's label, or its id>)`, as new changes say it;
    `department ECON` names no key and stays."""
    bind = op.get_bind()
    names = {prefix: label or "key_" + key_hash[:12]
           for prefix, key_hash, label in bind.execute(sa.text("SELECT prefix, key_hash, label FROM api_key"))}
    for row_id, changed_by in bind.execute(sa.text("SELECT id, changed_by FROM stagechange")).all():
        role, _, rest = changed_by.partition(" ")
        if rest and not DEPARTMENT.match(rest):
            bind.execute(sa.text("UPDATE stagechange SET changed_by = :who WHERE id = :id"),
                         {"who": f"{role} ({names.get(rest, ENV_LABEL)})"[:60], "id": row_id})
