"""a person's data is requested across services

Revision ID: a5e3f7a9c124
Revises: a4d2e6f8b013
Create Date: 2026-12-02 14:00:00.000000
"""
from typing import Sequence, Union

from shared import platform_migrations


revision: str = 'a5e3f7a9c124'
down_revision: Union[str, None] = 'a4d2e6f8b013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v5()


def downgrade() -> None:
    platform_migrations.downgrade_v5()
