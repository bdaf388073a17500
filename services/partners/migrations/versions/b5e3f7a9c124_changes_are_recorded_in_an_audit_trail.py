"""changes are recorded in an audit trail

Revision ID: b5e3f7a9c124
Revises: b4d2f6a8c012
Create Date: 2026-12-02 07:00:00.000000
"""
from typing import Sequence, Union

from shared import platform_migrations


revision: str = 'b5e3f7a9c124'
down_revision: Union[str, None] = 'b4d2f6a8c012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v4()


def downgrade() -> None:
    platform_migrations.downgrade_v4()
