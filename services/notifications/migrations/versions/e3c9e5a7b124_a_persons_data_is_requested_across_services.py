"""a person's data is requested across services

Revision ID: e3c9e5a7b124
Revises: e2b8d4f6a013
Create Date: 2026-12-02 14:00:00.000000
"""
from typing import Sequence, Union

from shared import platform_migrations


revision: str = 'e3c9e5a7b124'
down_revision: Union[str, None] = 'e2b8d4f6a013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v5()


def downgrade() -> None:
    platform_migrations.downgrade_v5()
