"""a person's data is requested across services

Revision ID: c7a5b9c1e346
Revises: c6f4a8b0d235
Create Date: 2026-12-02 14:00:00.000000
"""
from typing import Sequence, Union

from shared import platform_migrations


revision: str = 'c7a5b9c1e346'
down_revision: Union[str, None] = 'c6f4a8b0d235'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v5()


def downgrade() -> None:
    platform_migrations.downgrade_v5()
