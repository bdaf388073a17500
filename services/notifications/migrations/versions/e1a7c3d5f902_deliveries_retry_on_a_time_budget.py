"""deliveries retry on a time budget (retry_until)

Revision ID: e1a7c3d5f902
Revises: d6f4b8c0e234
Create Date: 2026-12-01 03:45:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes column types as sqlmodel.sql.sqltypes.X


revision: str = 'e1a7c3d5f902'
down_revision: Union[str, None] = 'd6f4b8c0e234'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Set at a delivery's first failure: failing past it, it is dead (not after a count of attempts).
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retry_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('retry_until')
