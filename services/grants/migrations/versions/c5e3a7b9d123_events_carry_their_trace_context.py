"""events carry their trace context (outbox)

Revision ID: c5e3a7b9d123
Revises: 1f94abaafbe5
Create Date: 2026-12-01 03:00:00.000000
"""
from typing import Sequence, Union

from shared import platform_migrations


revision: str = 'c5e3a7b9d123'
down_revision: Union[str, None] = '1f94abaafbe5'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v3()


def downgrade() -> None:
    platform_migrations.downgrade_v3()
