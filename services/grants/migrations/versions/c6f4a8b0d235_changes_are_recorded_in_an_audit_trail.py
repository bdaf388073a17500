"""changes are recorded in an audit trail

Revision ID: c6f4a8b0d235
Revises: c5e3a7b9d123
Create Date: 2026-12-02 07:00:00.000000
"""
from typing import Sequence, Union

from shared import platform_migrations


revision: str = 'c6f4a8b0d235'
down_revision: Union[str, None] = 'c5e3a7b9d123'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v4()


def downgrade() -> None:
    platform_migrations.downgrade_v4()
