"""restricted contacts: a restricted trip's visit is shown to the coordinators and its department only

Revision ID: 7d3f0b2c9e14
Revises: c09db70dea7d
Create Date: 2026-11-30 21:30:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '7d3f0b2c9e14'
down_revision: Union[str, None] = 'c09db70dea7d'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

contact = sa.table('contact', sa.column('title', sa.String), sa.column('source', sa.String),
                   sa.column('restricted', sa.Boolean))


def upgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('restricted', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Visits recorded before: a restricted trip's was stored under this title (service.record_trip).
    op.execute(contact.update().where(contact.c.source.like('travel:trip/%'),
                                      contact.c.title == 'A restricted trip').values(restricted=True))


def downgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('restricted')
