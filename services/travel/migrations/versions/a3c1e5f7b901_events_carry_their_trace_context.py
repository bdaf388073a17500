"""events carry their trace context (outbox)

Revision ID: a3c1e5f7b901
Revises: 1712b7f9d8a2
Create Date: 2026-12-01 03:00:00.000000
"""
from typing import Sequence, Union

from shared import platform_migrations


revision: str = 'a3c1e5f7b901'
down_revision: Union[str, None] = '1712b7f9d8a2'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v3()


def downgrade() -> None:
    platform_migrations.downgrade_v3()
