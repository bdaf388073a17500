"""restricted notices and feed items

Revision ID: 5c2e9a41d7b3
Revises: 1937d201b4c6
Create Date: 2026-11-30 21:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '5c2e9a41d7b3'
down_revision: Union[str, None] = '1937d201b4c6'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

notice = sa.table('notice', sa.column('event_id', sa.String), sa.column('data', sa.JSON),
                  sa.column('restricted', sa.Boolean))
feed_item = sa.table('feeditem', sa.column('event_id', sa.String), sa.column('restricted', sa.Boolean))


def _restricted(data: dict) -> bool:
    """What domain.is_restricted says of the events stored so far, from their payloads as kept."""
    trips = [*data.get('trips', []), data.get('trip') or {}, data]
    return data.get('restricted') is True or any(t.get('visibility', 'normal') != 'normal' for t in trips)


def upgrade() -> None:
    for table in ('notice', 'feeditem'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('restricted', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Items already routed about a restricted trip stay hidden from those who may not see them.
    connection = op.get_bind()
    secret = [row.event_id for row in connection.execute(sa.select(notice.c.event_id, notice.c.data))
              if isinstance(row.data, dict) and _restricted(row.data)]
    for start in range(0, len(secret), 500):
        chunk = secret[start:start + 500]
        connection.execute(notice.update().where(notice.c.event_id.in_(chunk)).values(restricted=True))
        connection.execute(feed_item.update().where(feed_item.c.event_id.in_(chunk)).values(restricted=True))


def downgrade() -> None:
    for table in ('feeditem', 'notice'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('restricted')
