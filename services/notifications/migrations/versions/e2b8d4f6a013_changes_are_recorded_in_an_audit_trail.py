"""changes are recorded in an audit trail

Revision ID: e2b8d4f6a013
Revises: e1a7c3d5f902
Create Date: 2026-12-02 07:00:00.000000
"""
from typing import Sequence, Union

from shared import platform_migrations


revision: str = 'e2b8d4f6a013'
down_revision: Union[str, None] = 'e1a7c3d5f902'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v4()


def downgrade() -> None:
    platform_migrations.downgrade_v4()
