"""api keys named by an id, not by their first characters

Revision ID: 79778359a870
Revises: 775bbc0cbf47
Create Date: 2026-11-30 21:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from shared import platform_migrations

ENV_LABEL = "OIA_API_KEYS"  # the label of environment keys, frozen as it was when this ran


revision: str = '79778359a870'
down_revision: Union[str, None] = '775bbc0cbf47'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Calendar tokens recorded the first characters of the key that made them.
    _rewrite_created_by("calendartoken")
    platform_migrations.upgrade_v2()


def downgrade() -> None:
    platform_migrations.downgrade_v2()


def _rewrite_created_by(table: str) -> None:
    ids = platform_migrations.key_ids_for_prefixes()
    bind = op.get_bind()
    for row_id, created_by in bind.execute(sa.text(f"SELECT id, created_by FROM {table}")).all():
        bind.execute(sa.text(f"UPDATE {table} SET created_by = :who WHERE id = :id"),
                     {"who": ids.get(created_by, ENV_LABEL), "id": row_id})
