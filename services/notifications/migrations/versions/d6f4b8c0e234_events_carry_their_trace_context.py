"""events carry their trace context (outbox; notices)

Revision ID: d6f4b8c0e234
Revises: 4e0af9b32a73
Create Date: 2026-12-01 03:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from shared import platform_migrations


revision: str = 'd6f4b8c0e234'
down_revision: Union[str, None] = '4e0af9b32a73'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    platform_migrations.upgrade_v3()
    # A notice remembers the event's correlation id and the trace it was routed in: its deliveries
    # are sent, later and elsewhere, within that trace (delivery.py).
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('correlation_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('traceparent', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('tracestate', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_column('tracestate')
        batch_op.drop_column('traceparent')
        batch_op.drop_column('correlation_id')
    platform_migrations.downgrade_v3()
