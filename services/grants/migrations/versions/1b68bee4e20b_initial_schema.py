"""initial schema

Revision ID: 1b68bee4e20b
Revises: 
Create Date: 2026-11-28 19:20:20.192743
"""
from typing import Sequence, Union


from shared import platform_migrations


revision: str = '1b68bee4e20b'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v1()


def downgrade() -> None:
    platform_migrations.downgrade_v1()
