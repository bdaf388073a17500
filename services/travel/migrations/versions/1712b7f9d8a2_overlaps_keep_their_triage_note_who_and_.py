"""overlaps keep their triage note, who and when

Revision ID: 1712b7f9d8a2
Revises: 79778359a870
Create Date: 2026-12-01 00:32:59.165355
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes column types as sqlmodel.sql.sqltypes.X


revision: str = '1712b7f9d8a2'
down_revision: Union[str, None] = '79778359a870'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('overlap', schema=None) as batch_op:
        batch_op.add_column(sa.Column('triage_note', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True))
        batch_op.add_column(sa.Column('triaged_by', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))
        batch_op.add_column(sa.Column('triaged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('overlap', schema=None) as batch_op:
        batch_op.drop_column('triaged_at')
        batch_op.drop_column('triaged_by')
        batch_op.drop_column('triage_note')
