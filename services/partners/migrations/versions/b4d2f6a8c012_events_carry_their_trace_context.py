"""events carry their trace context (outbox)

Revision ID: b4d2f6a8c012
Revises: 7d3f0b2c9e14
Create Date: 2026-12-01 03:00:00.000000
"""
from typing import Sequence, Union

from shared import platform_migrations


revision: str = 'b4d2f6a8c012'
down_revision: Union[str, None] = '7d3f0b2c9e14'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v3()


def downgrade() -> None:
    platform_migrations.downgrade_v3()
