"""changes are recorded in an audit trail

Revision ID: a4d2e6f8b013
Revises: a3c1e5f7b901
Create Date: 2026-12-02 07:00:00.000000
"""
from typing import Sequence, Union

from shared import platform_migrations


revision: str = 'a4d2e6f8b013'
down_revision: Union[str, None] = 'a3c1e5f7b901'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v4()


def downgrade() -> None:
    platform_migrations.downgrade_v4()
