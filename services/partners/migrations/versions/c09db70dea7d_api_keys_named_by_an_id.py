"""api keys named by an id, not by their first characters

Revision ID: c09db70dea7d
Revises: c8b465ee7666
Create Date: 2026-11-30 21:00:00.000000
"""
from typing import Sequence, Union


from shared import platform_migrations


revision: str = 'c09db70dea7d'
down_revision: Union[str, None] = 'c8b465ee7666'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v2()


def downgrade() -> None:
    platform_migrations.downgrade_v2()
